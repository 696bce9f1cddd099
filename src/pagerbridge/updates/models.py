"""The values checkers produce and notifiers consume: updates, per-checker results, a run report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Update-Watcher's priorities, lowest first; ``min_priority`` filters on this order.
PRIORITIES = ("low", "normal", "high", "critical")


def priority_rank(priority: str) -> int:
    """Position of ``priority`` in :data:`PRIORITIES` (unknown values rank as ``normal``)."""
    try:
        return PRIORITIES.index(priority)
    except ValueError:
        return PRIORITIES.index("normal")


@dataclass(frozen=True)
class Update:
    """One pending update: a package, plugin, theme, image or release."""

    checker: str
    package: str
    current_version: str
    available_version: str
    security: bool = False
    priority: str = "normal"
    kind: str = "package"
    source: str = ""
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in ("", None) or k.endswith("version")}


@dataclass
class CheckResult:
    """What one checker found, or why it could not tell."""

    checker: str
    updates: list[Update] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def security_count(self) -> int:
        return sum(1 for u in self.updates if u.security)


@dataclass
class RunReport:
    """The outcome of one run over every enabled checker."""

    hostname: str
    results: list[CheckResult] = field(default_factory=list)
    #: The enabled checker types this run left out (``--only TYPE`` on a host with other
    #: watchers), so a reader of the report knows what it does not cover.
    not_checked: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """Whether the report leaves out an enabled checker. Decided by what the run covered,
        not by how it was asked: ``--only`` naming the host's one watcher type covers the whole
        host, so it pages PagerDuty and reads like any full run."""
        return bool(self.not_checked)

    @property
    def updates(self) -> list[Update]:
        return [u for r in self.results for u in r.updates]

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    @property
    def security_count(self) -> int:
        return sum(r.security_count for r in self.results)

    @property
    def checked(self) -> list[str]:
        """The checker types this report covers, in run order, each once."""
        return list(dict.fromkeys(r.checker for r in self.results))

    def partial_note(self) -> str | None:
        """One sentence saying what a partial report leaves out, so nobody reading it (a chat
        message, a mail, the log) takes it for the whole host's state; None for a full run."""
        if not self.partial:
            return None
        checked = ", ".join(self.checked) or "no checker"
        return (
            f"Partial run (--only {checked}): only {checked} was checked; "
            f"not checked: {', '.join(self.not_checked)}. This is not the host's full update state."
        )

    def filtered(self, min_priority: str) -> list[Update]:
        """Updates at or above ``min_priority``."""
        floor = priority_rank(min_priority)
        return [u for u in self.updates if priority_rank(u.priority) >= floor]
