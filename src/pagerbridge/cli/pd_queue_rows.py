"""How ``pd-queue`` shows outbox rows: shortened keys, times, ages, why a row is held, JSON.

Routing keys are secrets of a sort (anyone holding one can page): shown as ``…beef`` unless
``--show-keys``. A connector's REST row (kind ``pd_rest``) is sent by the hub; its routing key
names a rate budget, not a secret.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from pagerbridge.outbox import OutboxRow


def short_key(key: str, show: bool) -> str:
    """``…beef``: enough to tell keys apart, too little to page with."""
    if show or len(key) <= 4:
        return key
    return "…" + key[-4:]


def when(ts: float | None, *, short: bool = False) -> str:
    if ts is None:
        return "-"
    if ts >= 1e14:
        return "after earlier" if short else "after the earlier row of its key"
    return datetime.fromtimestamp(ts, UTC).strftime(
        "%m-%d %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S"
    )


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def is_rest(row: OutboxRow) -> bool:
    """A connector's REST row: the hub sends it, never an agent."""
    from pagerbridge.outbox import EVENT_KINDS

    return row.kind not in EVENT_KINDS


def held_reason(row: OutboxRow, recorded: str | None) -> str | None:
    """Why an active row waits for another worker, or None when the agent here may send it."""
    if row.state not in ("pending", "in_flight") or row.destination is None or is_rest(row):
        return None
    if recorded is None:
        return f"meant for {row.destination}; waits for a worker configured for it"
    if row.destination == recorded:
        return None
    return f"meant for {row.destination}; the agent on this database delivers to {recorded}"


def row_json(row: OutboxRow, show: bool, recorded: str | None = None) -> dict[str, Any]:
    data = row.as_dict()
    data["held"] = held_reason(row, recorded)
    data["sent_by"] = "hub" if is_rest(row) else "agent"
    if data["next_attempt_at"] >= 1e14:
        data["next_attempt_at"] = None  # waiting for an earlier row of its key
    if is_rest(row):  # its routing key names a rate budget (rest:<credential>), no secret
        return data
    data["routing_key"] = short_key(row.routing_key, show)
    data["ordering_key"] = short_key(row.routing_key, show) + "/" + (row.dedup_key or "")
    if isinstance(data["payload"], dict) and "routing_key" in data["payload"]:
        data["payload"]["routing_key"] = short_key(str(data["payload"]["routing_key"]), show)
    return data


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def parse_since(value: str, now: float) -> float:
    """``30m``, ``2h``, ``1d`` ago, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    match = _RELATIVE.match(value.strip())
    if match:
        return now - float(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r}: use e.g. 30m, 2h, 1d or 2026-11-23T10:00:00Z", param_hint="--since"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def status_key(key: str, show: bool) -> str:
    """A routing key as status shows it: a REST budget's name (``rest:…``) is no secret."""
    from pagerbridge.outbox import REST_KEY_PREFIX

    return key if key.startswith(REST_KEY_PREFIX) else short_key(key, show)


def rest_counts(by_kind: dict[str, dict[str, int]]) -> dict[str, int]:
    """Rows by state over every kind that is not an Events API kind (the hub's REST rows)."""
    from pagerbridge.outbox import EVENT_KINDS

    out: dict[str, int] = {}
    for kind, states in by_kind.items():
        if kind not in EVENT_KINDS:
            for state, count in states.items():
                out[state] = out.get(state, 0) + count
    return out


def action(row: OutboxRow) -> str:
    """What a row does: the event action, ``change``, or a REST row's kind and action."""
    payload = row.payload_json()
    if is_rest(row):
        action = payload.get("action") if isinstance(payload, dict) else None
        return f"{row.kind}: {action}" if action else row.kind
    if row.change:
        return "change"
    return str(payload.get("event_action", "")) if isinstance(payload, dict) else ""
