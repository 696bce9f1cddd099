"""What a change to an incident tells the code that listens: the transactional-outbox seam.

The incident domain does not know about connectors (the arrows point the other way). It calls a
:class:`ChangeListener` inside the very transaction that records the change, so a connector can
queue "tell PagerDuty" rows that commit (or roll back) with the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection


@dataclass(frozen=True)
class IncidentChange:
    """One recorded change: the incident, the timeline entry that records it, and its origin.

    ``kind`` is the timeline kind (``declared``, ``status``, ``note``, ``assigned``); ``action``
    the lifecycle action of a status change (``ack``, ``resolve``, ``close``, ``reopen``).
    """

    incident_id: int
    kind: str
    entry_id: int
    origin: str
    action: str | None = None


class ChangeListener(Protocol):
    def after_change(self, conn: Connection, change: IncidentChange) -> None:
        """Called inside the change's transaction; raising aborts the change."""
        ...
