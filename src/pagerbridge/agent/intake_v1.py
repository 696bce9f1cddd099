"""The agent's Events API v1 endpoint (``POST /generic/2010-04-15/create_event.json``).

Why: pdagent, old scripts and monitoring plugins still post PagerDuty's v1 events. A v1 body is
converted to v2 (:func:`pagerbridge.agent.events_v1.to_v2`) and handed to the same
:class:`~pagerbridge.agent.intake.Intake` as ``/v2/enqueue``: same size limit, rules,
maintenance windows, destination and group commit, and the answer goes out only once the event
is durable. Only the answer is v1's: 200 ``{"status": "success", "message": "Event processed",
"incident_key": …}``, and 400 ``{"status": "invalid event", "message": "Event object is
invalid", "errors": […]}`` with the fields named as the sender wrote them. Other answers (401,
503 queue full, 507 storage) are the v2 endpoint's.
"""

from __future__ import annotations

import json
import socket

from pagerbridge.agent.events_v1 import to_v2, v1_errors
from pagerbridge.agent.intake import SUCCESS_MESSAGE, Intake, Verdict, invalid, too_large
from pagerbridge.pagerduty.event_rules import encode_event
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES


def as_v1(verdict: Verdict) -> Verdict:
    """The v2 endpoint's answer as PagerDuty's v1 gave it."""
    if verdict.status == 202:
        key = verdict.body.get("dedup_key")
        return Verdict(200, {"status": "success", "message": SUCCESS_MESSAGE, "incident_key": key})
    if verdict.status == 400:
        errors = verdict.body.get("errors")
        named = (
            v1_errors(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else []
        )
        return invalid(named or ["Event object is invalid"])
    return verdict


class V1Intake:
    """:class:`Intake`'s ``accept`` and ``refuse`` for v1 bodies (for ``EnqueueEndpoint``)."""

    def __init__(self, intake: Intake, *, default_source: str | None = None) -> None:
        self._intake = intake
        #: The source of a trigger whose details and client name none: this agent's host.
        self._default_source = default_source or socket.gethostname()

    def refuse(self, reason: str, verdict: Verdict) -> Verdict:
        return as_v1(self._intake.refuse(reason, verdict))

    async def accept(
        self, body: bytes, *, change: bool = False, destination: str | None = None
    ) -> Verdict:
        """Convert ``body`` and store it through the v2 intake (``change`` is always False)."""
        if len(body) > EVENT_MAX_BYTES:
            return self.refuse("too_large", too_large(len(body)))
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return self.refuse("invalid", invalid(["Could not parse the JSON body"]))
        if not isinstance(data, dict):
            return self.refuse("invalid", invalid(["The event must be a JSON object"]))
        try:
            v2 = encode_event(to_v2(data, default_source=self._default_source))
        except (ValueError, TypeError, RecursionError):  # NaN, Infinity: not valid JSON to send
            return self.refuse("invalid", invalid(["The event cannot be encoded as JSON"]))
        return as_v1(await self._intake.accept(v2, change=False, destination=destination))
