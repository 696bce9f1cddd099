"""Which updates a notifier sees and whether it sends at all (``send_policy``, ``min_priority``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pagerbridge.updates.config import Entry, Settings
from pagerbridge.updates.models import Update


@dataclass(frozen=True)
class Policy:
    send_policy: str
    min_priority: str

    @classmethod
    def for_entry(cls, entry: Entry, settings: Settings) -> Policy:
        return cls(
            entry.send_policy or settings.send_policy,
            entry.min_priority or settings.min_priority,
        )


def summary_line(hostname: str, updates: list[Update], failed: int = 0) -> str:
    """ "12 updates available on web-prod-01 (3 security)"; "No updates available on ..."."""
    count = len(updates)
    security = sum(1 for u in updates if u.security)
    if count == 0:
        text = f"No updates available on {hostname}"
    else:
        noun = "update" if count == 1 else "updates"
        text = f"{count} {noun} available on {hostname}"
        if security:
            text += f" ({security} security)"
    if failed:
        text += f"; {failed} checker{'s' if failed != 1 else ''} failed"
    return text


def cut_short(updates: Sequence[Update], limit: int) -> tuple[list[Update], list[Update]]:
    """(listed, not listed) for one checker's updates shown in at most ``limit`` entries. A list
    that fits keeps run order; a cut one lists security updates first (each group in run order),
    so an on-call reader sees them rather than whichever packages sort first."""
    if len(updates) <= limit:
        return list(updates), []
    ordered = sorted(updates, key=lambda u: not u.security)  # stable: run order within each group
    return ordered[:limit], ordered[limit:]
