"""How ``im`` prints: Rich tables for people, JSON (``--json``) for scripts.

Rich loads only when a table is printed, so one-line answers stay fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def _table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(highlight=False, soft_wrap=False).print(table)


def age(value: str | None, now: datetime | None = None) -> str:
    """``2026-01-01T12:00:00Z`` -> ``3h ago``; short enough for a table cell."""
    if not value:
        return "-"
    then = datetime.fromisoformat(value.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 0:
        return value
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def short_time(value: str | None) -> str:
    """``2026-01-01T12:00:00.123456Z`` -> ``2026-01-01 12:00:00Z`` for table cells."""
    if not value:
        return "-"
    return value.replace("T", " ").split(".")[0].rstrip("Z") + "Z"


def incident_line(inc: dict[str, Any]) -> str:
    services = ", ".join(inc["services"]) or "no service"
    return f"{inc['id']} [{inc['severity']}, {inc['status']}] {inc['title']} ({services})"


def incidents(page: dict[str, Any]) -> None:
    items = page["incidents"]
    if not items:
        print("no incidents match" if page["offset"] == 0 else "no more incidents")
        return
    rows = [
        (
            i["id"],
            i["severity"],
            i["status"],
            i["title"],
            ", ".join(i["services"]),
            i["assignee"] or "-",
            age(i["created_at"]),
        )
        for i in items
    ]
    _table(None, ("ID", "SEV", "STATUS", "TITLE", "SERVICES", "ASSIGNEE", "DECLARED"), rows)
    if page["more"]:
        print(f"more: --offset {page['offset'] + page['limit']}")


def incident(answer: dict[str, Any]) -> None:
    """``im show``: the answer ``{"incident": {...}}`` (the API's shape, also ``--json``'s)."""
    inc = answer["incident"]
    print(incident_line(inc))
    fields = [
        ("description", inc["description"] or "-"),
        ("assignee", inc["assignee"] or "-"),
        ("correlation id", inc["correlation_id"] or "-"),
        ("declared", f"{inc['created_at']} by {inc['created_by']} ({inc['origin']})"),
        ("mitigated", inc["mitigated_at"] or "-"),
        ("resolved", inc["resolved_at"] or "-"),
        ("closed", inc["closed_at"] or "-"),
        ("reopened", inc["reopened_at"] or "-"),
        ("version", str(inc["version"])),
    ]
    for key, value in inc["custom_fields"].items():
        fields.append((f"field {key}", json.dumps(value) if not isinstance(value, str) else value))
    sla = inc.get("sla")
    if sla:
        fields.append(("ack due", _due(sla["ack_due_at"], sla["ack_breached_at"])))
        fields.append(("resolve due", _due(sla["resolve_due_at"], sla["resolve_breached_at"])))
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        print(f"  {key.ljust(width)}  {value}")


def _due(due: str | None, breached: str | None) -> str:
    return f"{due} (BREACHED at {breached})" if breached else str(due)


def timeline(entries: list[dict[str, Any]]) -> None:
    rows = [(short_time(e["at"]), e["kind"], e["actor"], e["origin"], e["body"]) for e in entries]
    _table(None, ("TIME", "KIND", "ACTOR", "ORIGIN", "ENTRY"), rows)


def services(items: list[dict[str, Any]]) -> None:
    if not items:
        print("no services yet (im service add NAME)")
        return
    rows = [
        (
            s["name"],
            s["default_severity"],
            s["owner_team"] or "-",
            str(s.get("incidents", "-")),
            s["description"],
        )
        for s in items
    ]
    _table(None, ("NAME", "DEFAULT SEV", "OWNER TEAM", "INCIDENTS", "DESCRIPTION"), rows)


def service(s: dict[str, Any]) -> None:
    print(s["name"])
    for key in ("description", "owner_team", "default_severity", "incidents", "created_at"):
        print(
            f"  {key.replace('_', ' ').ljust(16)}  {s.get(key) if s.get(key) is not None else '-'}"
        )


def sla(policies: list[dict[str, Any]]) -> None:
    rows = [
        (p["severity"], p["ack"], p["resolve"], "custom" if p["custom"] else "default")
        for p in policies
    ]
    _table(None, ("SEVERITY", "ACKNOWLEDGE WITHIN", "RESOLVE WITHIN", "SOURCE"), rows)


def tokens(items: list[dict[str, Any]]) -> None:
    if not items:
        print("no API tokens (im token create NAME)")
        return
    _table(
        None,
        ("NAME", "PREFIX", "CREATED"),
        [(t["name"], t["prefix"], t["created_at"]) for t in items],
    )
