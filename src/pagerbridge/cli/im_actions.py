"""What the hot ``im`` commands do once their arguments are parsed: one body per command, called
by the Typer app (:mod:`im_app`) and by the lean parser (:mod:`im_fast`) alike, so both give the
same output, messages and exit codes. Standard library only at import time.
"""

from __future__ import annotations

from pagerbridge.cli.im_common import (
    EXIT_USAGE,
    backend,
    fail,
    guard,
    notice,
    pick_ref,
    printer,
    run_call,
)


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--field {pair!r} must look like key=value", EXIT_USAGE)
        out[key.strip()] = value
    return out


def declare(
    *,
    title: str,
    sev: str | None,
    service: str | None,
    description: str,
    assignee: str | None,
    field: list[str],
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    def go() -> None:
        from pagerbridge.incidents.lifecycle import parse_severity, split_services

        names = split_services(service)
        severity = parse_severity(sev) if sev else None
        result = backend(db, server, token).declare(
            title=title,
            severity=severity,
            services=names,
            description=description,
            assignee=assignee,
            custom_fields=_fields(field),
        )
        for name in result["created_services"]:
            notice(f"service {name!r} did not exist and was created (see `im service show {name}`)")
        if as_json:
            from pagerbridge.cli.im_output import emit_json

            emit_json(result)
        else:
            from pagerbridge.cli.im_output import incident_line

            print("declared " + incident_line(result["incident"]))

    guard(go)


def transition(
    action: str,
    *,
    ref: str | None,
    incident: str | None,
    note: str | None,
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    name = pick_ref(ref, incident)
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.transition(name, action, note=note),
        lambda r: print(f"{r['incident']['id']} is now {r['incident']['status']}"),
    )


def list_incidents(
    *,
    status: str | None,
    service: str | None,
    sev: str | None,
    limit: int,
    offset: int,
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.list_incidents(
            status=status, service_name=service, severity=sev, limit=limit, offset=offset
        ),
        printer("incidents"),
    )


def show(
    *,
    ref: str | None,
    incident: str | None,
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    name = pick_ref(ref, incident)
    run_call(db, server, token, as_json, lambda c: c.show(name), printer("incident"))


def timeline(
    *,
    ref: str | None,
    incident: str | None,
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
) -> None:
    name = pick_ref(ref, incident)
    run_call(db, server, token, as_json, lambda c: c.timeline(name), printer("timeline"))
