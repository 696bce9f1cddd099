"""Who is on call: schedule layers rendered at a moment, escalation rules resolved to users.

Simpler than PagerDuty (documented in docs/sandbox.md): layer ``restrictions`` and schedule
overrides are ignored, and when several layers have someone on call the one LATER in
``schedule_layers`` wins (PagerDuty's higher layer number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pagerbridge.sandbox.state import LATEST, Resource, SandboxState, iso, parse_time, shifted


@dataclass(frozen=True)
class Shift:
    """One user's turn in a layer: ``[start, end)``."""

    user_id: str
    start: datetime
    end: datetime | None


def layer_shift(layer: Resource, at: datetime, *, merge: bool = False) -> Shift | None:
    """The turn of ``layer`` that covers ``at``, or None if the layer is not active then.

    With ``merge``, the following turns of the same user are part of the shift (in a one-user
    layer, up to the layer's end), computed arithmetically, so rendering a long range costs one
    step per change of user rather than one per turn. A turn that would end after year 9999
    has no end.
    """
    users = [u["user"]["id"] for u in layer.get("users", []) if u.get("user")]
    if not users:
        return None
    start = parse_time(layer["start"])
    end = parse_time(layer["end"]) if layer.get("end") else None
    if at < start or (end is not None and at >= end):
        return None
    virtual = parse_time(layer.get("rotation_virtual_start") or layer["start"])
    turn = max(1, int(layer.get("rotation_turn_length_seconds") or 86400))
    index = int((at - virtual).total_seconds() // turn)
    user = users[index % len(users)]
    turns = 1
    while merge and turns < len(users) and users[(index + turns) % len(users)] == user:
        turns += 1
    turn_start = shifted(virtual, timedelta(seconds=index * turn))
    turn_end: datetime | None = None
    if not merge or turns < len(users):  # else the same user for as long as the layer lasts
        turn_end = shifted(turn_start, timedelta(seconds=turns * turn))
        if turn_end == LATEST:
            turn_end = None
    if end is not None and (turn_end is None or turn_end > end):
        turn_end = end
    return Shift(user_id=user, start=max(turn_start, start), end=turn_end)


def layer_boundaries(schedule: Resource) -> list[datetime]:
    """Every moment a layer starts or ends, sorted: between two of them no layer comes or goes."""
    found: set[datetime] = set()
    for layer in schedule.get("schedule_layers", []):
        found.add(parse_time(layer["start"]))
        if layer.get("end"):
            found.add(parse_time(layer["end"]))
    return sorted(found)


def schedule_shift(schedule: Resource, at: datetime, *, merge: bool = False) -> Shift | None:
    """The final schedule at ``at``: the last layer in the list with someone on call wins."""
    chosen: Shift | None = None
    for layer in schedule.get("schedule_layers", []):
        shift = layer_shift(layer, at, merge=merge)
        if shift is not None:
            chosen = shift
    return chosen


def rule_users(state: SandboxState, rule: Resource, at: datetime) -> list[str]:
    """The user ids an escalation rule reaches at ``at`` (direct users and schedules' on-calls)."""
    found: list[str] = []
    for target in rule.get("targets", []):
        kind = str(target.get("type", "")).removesuffix("_reference")
        if kind == "user" and target["id"] in state.users:
            found.append(target["id"])
        elif kind == "schedule" and target["id"] in state.schedules:
            shift = schedule_shift(state.schedules[target["id"]], at)
            if shift is not None:
                found.append(shift.user_id)
    return list(dict.fromkeys(found))


def first_responders(state: SandboxState, policy_id: str, at: datetime) -> list[str]:
    """Users to assign a new incident to: the first escalation rule that reaches anyone."""
    policy = state.escalation_policies.get(policy_id)
    if policy is None:
        return []
    for rule in policy.get("escalation_rules", []):
        users = rule_users(state, rule, at)
        if users:
            return users
    return []


def oncalls(state: SandboxState, at: datetime) -> list[dict[str, Any]]:
    """Every on-call entry at ``at``, in PagerDuty's ``/oncalls`` shape."""
    entries: list[dict[str, Any]] = []
    for policy_id, policy in state.escalation_policies.items():
        for level, rule in enumerate(policy.get("escalation_rules", []), start=1):
            for target in rule.get("targets", []):
                kind = str(target.get("type", "")).removesuffix("_reference")
                entry: dict[str, Any] = {
                    "escalation_policy": state.ref("escalation_policy", policy_id),
                    "escalation_level": level,
                    "start": None,
                    "end": None,
                }
                if kind == "user" and target["id"] in state.users:
                    entry["user"] = state.ref("user", target["id"])
                elif kind == "schedule" and target["id"] in state.schedules:
                    shift = schedule_shift(state.schedules[target["id"]], at)
                    if shift is None:
                        continue
                    entry["user"] = state.ref("user", shift.user_id)
                    entry["schedule"] = state.ref("schedule", target["id"])
                    entry["start"] = iso(shift.start)
                    entry["end"] = iso(shift.end) if shift.end else None
                else:
                    continue
                entries.append(entry)
    return entries
