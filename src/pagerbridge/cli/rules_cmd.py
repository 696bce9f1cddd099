"""``pagerbridge rules test``: which rule a message matches and the exact event it would send.

Nothing is sent or stored. Exit 0 when a rule matched (even ``action: drop``), 1 when no rule
matched or the matching rule could not build a valid event (the reason is printed), 4 for a
configuration error (file, line and key). The routing key is shown shortened unless
``--show-routing-key``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail, run_guarded

app = typer.Typer(help="Check event-source rules without sending anything.", no_args_is_help=True)


def _short(key: str) -> str:
    return key[:4] + "…" if len(key) > 4 else key


def _fields(settings: Any, source: str, message: str | None, fields_json: str | None) -> Any:
    if (message is None) == (fields_json is None):
        fail("give exactly one of --message and --fields", exits.USAGE)
    if fields_json is not None:
        try:
            fields = json.loads(fields_json)
        except ValueError as exc:
            fail(f"--fields is not JSON: {exc}", exits.USAGE)
        if not isinstance(fields, dict):
            fail("--fields must be a JSON object (field name -> value)", exits.USAGE)
        return fields
    assert message is not None
    decoded = settings.decode_text(message)
    if decoded is None:
        fail(
            f"source {source} has no text form to parse",
            exits.USAGE,
            hint='give the decoded fields with --fields \'{"name": "value"}\'',
        )
    return dict(decoded)


def _test(
    config: Path,
    source: str,
    message: str | None,
    fields_json: str | None,
    as_json: bool,
    reveal: bool,
) -> int:
    from pagerbridge.agent.config import load_agent_config
    from pagerbridge.agent.sources.rules import compile_rules
    from pagerbridge.errors import EventValidationError
    from pagerbridge.outbox.core import prepare_event

    instances = load_agent_config(config).sources.instances()
    settings = instances.get(source)
    if settings is None:
        known = ", ".join(sorted(instances)) or "none"
        fail(f"{config} configures no source {source!r} (configured: {known})", exits.NOT_FOUND)
    fields = _fields(settings, source, message, fields_json)
    decision = compile_rules(source, settings).decide(fields)
    event: dict[str, Any] | None = None
    reason = decision.reason.value if decision.reason else None
    detail = decision.detail
    if decision.event is not None:
        try:
            row = prepare_event(decision.event, now=time.time())
            event = json.loads(row.payload)
        except EventValidationError as exc:
            reason, detail = "invalid", "; ".join(exc.errors)
    if event is not None and not reveal:
        event["routing_key"] = _short(str(event.get("routing_key", "")))
    matched = decision.rule is not None and (event is not None or decision.action == "drop")
    report = {
        "source": source,
        "fields": fields,
        "rule": decision.rule,
        "action": decision.action,
        "sent": event is not None,
        "event": event,
        "reason": None if event is not None else reason,
        "detail": None if event is not None else detail,
    }
    if as_json:
        json.dump(report, sys.stdout, indent=2, ensure_ascii=False, default=str)
        print()
    else:
        _print(report, fields)
    return exits.OK if matched else exits.ERROR


def _print(report: dict[str, Any], fields: dict[str, Any]) -> None:
    shown = {k: v for k, v in fields.items() if v not in ("", {}, None)}
    print("fields: " + json.dumps(shown, ensure_ascii=False, default=str))
    if report["rule"] is None:
        print(f"no rule matched ({report['reason']}): nothing would be sent")
        return
    print(f"rule: {report['rule']} (action: {report['action']})")
    if report["event"] is None:
        print(f"nothing would be sent ({report['reason']}): {report['detail']}")
        return
    print("event it would send:")
    print(json.dumps(report["event"], indent=2, ensure_ascii=False))


@app.command("test")
def test_command(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The agent's configuration file (YAML).")
    ],
    source: Annotated[str, typer.Option("--source", "-s", help="The source's name, e.g. syslog.")],
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="One raw message (e.g. a syslog line).")
    ] = None,
    fields_json: Annotated[
        str | None, typer.Option("--fields", help="The decoded fields as a JSON object.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    reveal: Annotated[
        bool, typer.Option("--show-routing-key", help="Print the routing key in full.")
    ] = False,
) -> None:
    """Show which rule a message matches and the event it would send (nothing is sent)."""
    code = run_guarded(lambda: _test(config, source, message, fields_json, as_json, reveal))
    raise typer.Exit(code)


__all__ = ["app"]
