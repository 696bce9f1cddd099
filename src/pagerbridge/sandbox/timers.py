"""Time passing for incidents: escalation, acknowledgement timeout, auto-resolve.

PagerDuty escalates a triggered incident to the next rule of its escalation policy when nobody
acknowledges it within the rule's ``escalation_delay_in_minutes`` (looping back to the first rule
``num_loops`` times); an acknowledged incident returns to triggered after the service's
``acknowledgement_timeout`` seconds; an open incident resolves after ``auto_resolve_timeout``.

Deadlines live in a heap keyed by the state's clock. :func:`advance` applies those that are due;
the app calls it before every request and once a second, so a test that moves the injected clock
sees the effects on its next request. A status change bumps the incident's epoch, which voids
every deadline set before it.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from pagerbridge.sandbox import incident_ops as ops
from pagerbridge.sandbox.state import Resource, SandboxState, parse_time

TIMER_CHANNEL = {"type": "timeout", "summary": "The escalation policy or a service timeout"}


@dataclass(order=True)
class Deadline:
    due: float
    seq: int
    incident_id: str = field(compare=False)
    kind: str = field(compare=False)  # "escalate", "unacknowledge", "resolve"
    epoch: int = field(compare=False)


@dataclass
class Timers:
    heap: list[Deadline] = field(default_factory=list)
    epochs: dict[str, int] = field(default_factory=dict)
    #: incident id -> (escalation level, loops done)
    levels: dict[str, tuple[int, int]] = field(default_factory=dict)
    seq: int = 0
    #: While a deadline is applied: its due time, so the next one counts from it, not from now.
    applying_at: float | None = None

    def push(self, due: float, incident_id: str, kind: str) -> None:
        self.seq += 1
        epoch = self.epochs.get(incident_id, 0)
        heapq.heappush(self.heap, Deadline(due, self.seq, incident_id, kind, epoch))


def timers_of(state: SandboxState) -> Timers:
    found = state.extensions.get("timers")
    if not isinstance(found, Timers):
        found = state.extensions["timers"] = Timers()
    return found


def install(state: SandboxState) -> None:
    """Make ``state`` keep time for its incidents (``incident_ops`` reports every change)."""

    def hook(incident: Resource, **kwargs: Any) -> None:
        on_change(state, incident, **kwargs)

    state.change_hooks.append(hook)


def _delay_seconds(state: SandboxState, incident: Resource, level: int) -> float | None:
    policy = state.escalation_policies.get(incident["escalation_policy"]["id"])
    rules = (policy or {}).get("escalation_rules", [])
    if not 1 <= level <= len(rules):
        return None
    return float(rules[level - 1].get("escalation_delay_in_minutes") or 0) * 60.0


def on_change(
    state: SandboxState, incident: Resource, *, level: int | None = None, restart: bool = False
) -> None:
    """Called after any status or escalation change: void old deadlines, set the new ones.

    ``level``: the incident now sits at this escalation rule; ``restart``: back to the first
    rule with no loops done (a new or reopened incident, a new escalation policy).
    """
    timers = timers_of(state)
    iid = incident["id"]
    timers.epochs[iid] = timers.epochs.get(iid, 0) + 1
    if restart:
        timers.levels[iid] = (1, 0)
    elif level is not None:
        timers.levels[iid] = (level, timers.levels.get(iid, (1, 0))[1])
    now = timers.applying_at if timers.applying_at is not None else state.now().timestamp()
    service = state.services.get(incident["service"]["id"], {})
    status = incident["status"]
    if status == "resolved":
        return
    if status == "triggered":
        current = timers.levels.setdefault(iid, (1, 0))[0]
        delay = _delay_seconds(state, incident, current)
        if delay:
            timers.push(now + delay, iid, "escalate")
    if status == "acknowledged" and service.get("acknowledgement_timeout"):
        timers.push(now + float(service["acknowledgement_timeout"]), iid, "unacknowledge")
    if service.get("auto_resolve_timeout"):
        created = parse_time(incident["created_at"]).timestamp()
        timers.push(created + float(service["auto_resolve_timeout"]), iid, "resolve")


def advance(state: SandboxState) -> int:
    """Apply every deadline due by the state's clock; returns how many took effect."""
    timers = timers_of(state)
    now = state.now().timestamp()
    applied = 0
    while timers.heap and timers.heap[0].due <= now:
        deadline = heapq.heappop(timers.heap)
        incident = state.incidents.get(deadline.incident_id)
        if incident is None or deadline.epoch != timers.epochs.get(deadline.incident_id, 0):
            continue
        timers.applying_at = deadline.due
        try:
            if _apply(state, incident, deadline.kind):
                applied += 1
        finally:
            timers.applying_at = None
    return applied


def _apply(state: SandboxState, incident: Resource, kind: str) -> bool:
    agent = state.ref("service", incident["service"]["id"])
    if kind == "resolve" and incident["status"] != "resolved":
        ops.set_status(state, incident, "resolved", agent=agent, channel=TIMER_CHANNEL)
        return True
    if kind == "unacknowledge" and incident["status"] == "acknowledged":
        ops.set_status(state, incident, "triggered", agent=agent, channel=TIMER_CHANNEL)
        return True
    if kind == "escalate" and incident["status"] == "triggered":
        timers = timers_of(state)
        level, loops = timers.levels.get(incident["id"], (1, 0))
        policy = state.escalation_policies[incident["escalation_policy"]["id"]]
        rules = len(policy.get("escalation_rules", []))
        if level < rules:
            level += 1
        elif loops < int(policy.get("num_loops") or 0):
            level, loops = 1, loops + 1
        else:
            return False  # the path is exhausted: the incident stays where it is
        timers.levels[incident["id"]] = (level, loops)
        ops.escalate(state, incident, level, agent=agent, channel=TIMER_CHANNEL)
        return True
    return False


def rebuild(state: SandboxState) -> None:
    """After loading a saved state: deadlines for every open incident, counted from now."""
    state.extensions["timers"] = Timers()
    for incident in state.incidents.values():
        if incident["status"] != "resolved":
            on_change(state, incident)
