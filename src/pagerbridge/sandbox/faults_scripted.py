"""Scripted faults: "the next N requests to this path do X", for tests that need exact failures.

The rate-based faults (``error_rate``, ``drop_rate``) are for soak tests; a connector test needs
to say *which* call fails: the next ``POST /incidents`` creates the incident but answers too late
for the client (``slow_after_write``), the next two ``PUT /incidents/P1`` answer 500, the next
outgoing ``incident.acknowledged`` webhook is lost. Each rule is used up after ``times`` matches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Answer at once with ``status`` (PagerDuty-shaped body; a 429 carries ``Retry-After: 1``).
STATUS = "status"
#: Close the connection at once, with no answer (nothing happens).
DROP = "drop"
#: Run the request (the change happens), then wait ``seconds`` before answering.
SLOW_AFTER_WRITE = "slow_after_write"
#: Run the request (the change happens), then close the connection with no answer.
DROP_AFTER_WRITE = "drop_after_write"
#: Do not send the next matching outgoing webhook (recorded as dropped on purpose).
DROP_WEBHOOK = "drop_webhook"

BEFORE_HANDLER = frozenset({STATUS, DROP})
AFTER_HANDLER = frozenset({SLOW_AFTER_WRITE, DROP_AFTER_WRITE})
ACTIONS = (STATUS, DROP, SLOW_AFTER_WRITE, DROP_AFTER_WRITE, DROP_WEBHOOK)
FIELDS = ("do", "times", "method", "path", "status", "seconds", "event_type")
#: Longest ``slow_after_write`` delay (a test that waits longer is stuck, not testing).
MAX_SECONDS = 300.0


def _matches(pattern: str | None, value: str) -> bool:
    """None matches anything; a trailing ``*`` makes the pattern a prefix; else exact."""
    if pattern is None:
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


@dataclass(eq=False)
class ScriptedFault:
    """One rule; ``times`` counts down as requests (or webhooks) match it (on the live copy
    :class:`~pagerbridge.sandbox.limits_faults.Faults` keeps, never on the ``FaultSpec``'s)."""

    do: str
    times: int = 1
    #: HTTP method to match (None: any).
    method: str | None = None
    #: Path to match exactly, or a prefix ending in ``*`` (None: any path).
    path: str | None = None
    status: int = 500
    seconds: float = 0.0
    #: ``drop_webhook`` only: the event type to drop (``*`` suffix for a prefix; None: any).
    event_type: str | None = None

    def matches_request(self, method: str, path: str) -> bool:
        if self.do == DROP_WEBHOOK:
            return False
        return (self.method is None or self.method == method) and _matches(self.path, path)

    def matches_webhook(self, event_type: str) -> bool:
        return self.do == DROP_WEBHOOK and _matches(self.event_type, event_type)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_scripted(item: Any) -> ScriptedFault:
    """A rule from JSON; ``ValueError`` says which part is wrong."""
    if not isinstance(item, dict):
        raise ValueError("each scripted fault must be an object with 'do'")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown scripted fault field(s): {', '.join(unknown)}")
    do = item.get("do")
    if do not in ACTIONS:
        raise ValueError(f"scripted fault 'do' must be one of {', '.join(ACTIONS)}, got {do!r}")
    times = item.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ValueError("scripted fault 'times' must be a positive integer")
    for name in ("method", "path", "event_type"):
        value = item.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ValueError(f"scripted fault {name!r} must be a non-empty string")
    path = item.get("path")
    if path is not None and not path.startswith("/"):
        raise ValueError("scripted fault 'path' must start with '/'")
    status = item.get("status", 500)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise ValueError("scripted fault 'status' must be an HTTP error status (400-599)")
    seconds = item.get("seconds", 0.0)
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_SECONDS
    ):
        raise ValueError(f"scripted fault 'seconds' must be between 0 and {MAX_SECONDS:g}")
    if do == SLOW_AFTER_WRITE and not seconds:
        raise ValueError("slow_after_write needs 'seconds' (how long to hold the answer)")
    if do == DROP_WEBHOOK and (path is not None or item.get("method") is not None):
        raise ValueError("drop_webhook matches 'event_type', not 'method' or 'path'")
    if do != DROP_WEBHOOK and item.get("event_type") is not None:
        raise ValueError("'event_type' is only for drop_webhook")
    method = item.get("method")
    return ScriptedFault(
        do=do,
        times=times,
        method=method.upper() if method else None,
        path=path,
        status=status,
        seconds=float(seconds),
        event_type=item.get("event_type"),
    )


def take(
    rules: list[ScriptedFault], method: str, path: str, actions: frozenset[str]
) -> ScriptedFault | None:
    """Use up one match of the first rule (of ``actions``) matching this request."""
    for rule in rules:
        if rule.do in actions and rule.matches_request(method, path):
            return _use(rules, rule)
    return None


def take_webhook(rules: list[ScriptedFault], event_type: str) -> ScriptedFault | None:
    """Use up one match of the first ``drop_webhook`` rule matching this event type."""
    for rule in rules:
        if rule.matches_webhook(event_type):
            return _use(rules, rule)
    return None


def _use(rules: list[ScriptedFault], rule: ScriptedFault) -> ScriptedFault:
    rule.times -= 1
    if rule.times <= 0:
        rules.remove(rule)
    return rule
