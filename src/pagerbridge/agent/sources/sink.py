"""The agent's :class:`~.base.SourceSink`: rules → event → validation → outbox, durable or a reason.

One sink serves every source of an agent. It never raises for a message: every outcome is a
:class:`~.base.Submitted` and a counter (:mod:`.metrics`); unexpected failures are logged with a
traceback and counted, and the listener goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pagerbridge.agent.sources.base import Fields, Outcome, Reason, Submitted
from pagerbridge.agent.sources.metrics import SourceMetrics
from pagerbridge.agent.sources.ratelog import RateLimitedLog
from pagerbridge.agent.sources.rules import RuleSet
from pagerbridge.errors import EventValidationError, QueueFullError, StorageError
from pagerbridge.outbox.core import prepare_event
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import EnqueuedRow

log = logging.getLogger("pagerbridge.agent.sources")

Enqueue = Callable[[NewRow], Awaitable[EnqueuedRow]]
#: True once the outbox supports folding (``NewRow.fold``); until then rows are never folded.
CAN_FOLD = "fold" in NewRow._fields
#: Reasons that are a normal part of filtering, logged at debug rather than warned about.
_QUIET = (Reason.NO_RULE, Reason.DROP_RULE)


class _Counters:
    """The label children of one source, looked up once (label lookup is not free)."""

    def __init__(self, metrics: SourceMetrics, source: str) -> None:
        self.received = metrics.received.labels(source)
        self.stored = metrics.stored.labels(source)
        self.folded = metrics.folded.labels(source)
        self.malformed = metrics.malformed.labels(source)
        self._metrics = metrics
        self._source = source

    def dropped(self, reason: Reason) -> None:
        self._metrics.dropped.labels(self._source, reason.value).inc()

    def error(self, reason: str) -> None:
        self._metrics.errors.labels(self._source, reason).inc()


class AgentSink:
    """Applies each source's :class:`RuleSet` and stores through the outbox's group commit."""

    def __init__(
        self,
        enqueue: Enqueue,
        *,
        metrics: SourceMetrics,
        clock: Callable[[], float] = time.time,
        destination: str | None = None,
        rules: Mapping[str, RuleSet] | None = None,
    ) -> None:
        self._enqueue = enqueue
        self.metrics = metrics
        self._clock = clock
        self.destination = destination
        self._rules: dict[str, RuleSet] = dict(rules or {})
        self._counters: dict[str, _Counters] = {}
        self._warn = RateLimitedLog(log)

    def set_rules(self, rules: Mapping[str, RuleSet]) -> None:
        """Swap every source's rules at once (reload); messages in flight keep the old ones."""
        self._rules = dict(rules)

    def rules(self, source_name: str) -> RuleSet | None:
        return self._rules.get(source_name)

    def counters(self, source_name: str) -> _Counters:
        found = self._counters.get(source_name)
        if found is None:
            found = self._counters[source_name] = _Counters(self.metrics, source_name)
        return found

    def malformed(self, source_name: str, detail: str, *, peer: str | None = None) -> None:
        self.counters(source_name).malformed.inc()
        where = f" from {peer}" if peer else ""
        self._warn.warn(
            f"{source_name} malformed", "%s: malformed input%s: %s", source_name, where, detail
        )

    def listener_error(self, source_name: str, detail: str) -> None:
        self.counters(source_name).error("transport")
        self._warn.warn(f"{source_name} transport", "%s: %s", source_name, detail)

    def _not_stored(
        self,
        source: str,
        counters: _Counters,
        outcome: Outcome,
        reason: Reason,
        detail: str,
        rule: str | None,
    ) -> Submitted:
        if outcome is Outcome.ERROR:
            counters.error(reason.value)
        else:
            counters.dropped(reason)
        if reason in _QUIET:
            log.debug("%s: not sent (%s): %s", source, reason.value, detail)
        else:
            self._warn.warn(
                f"{source} {reason.value}",
                "%s: message not sent (%s, rule %s): %s",
                source,
                reason.value,
                rule or "-",
                detail,
            )
        return Submitted(outcome, rule=rule, reason=reason, detail=detail)

    async def submit(self, source_name: str, fields: Fields) -> Submitted:
        counters = self.counters(source_name)
        counters.received.inc()
        ruleset = self._rules.get(source_name)
        if ruleset is None:
            return self._not_stored(
                source_name,
                counters,
                Outcome.DROPPED,
                Reason.UNKNOWN_SOURCE,
                "no rules are configured for this source",
                None,
            )
        try:
            decision = ruleset.decide(fields)
        except Exception as exc:  # a bug in a rule's code path: count it, never kill a listener
            log.exception("%s: rules failed on a message", source_name)
            return self._not_stored(
                source_name, counters, Outcome.DROPPED, Reason.TEMPLATE, type(exc).__name__, None
            )
        if decision.event is None:
            outcome = Outcome.NO_RULE if decision.reason is Reason.NO_RULE else Outcome.DROPPED
            return self._not_stored(
                source_name,
                counters,
                outcome,
                decision.reason or Reason.TEMPLATE,
                decision.detail or "",
                decision.rule,
            )
        return await self._store(source_name, counters, ruleset, decision.rule, decision.event)

    async def _store(
        self,
        source: str,
        counters: _Counters,
        ruleset: RuleSet,
        rule: str | None,
        event: dict[str, Any],
    ) -> Submitted:
        try:
            row = prepare_event(event, now=self._clock(), destination=self.destination)
        except EventValidationError as exc:
            detail = "; ".join(exc.errors) or "invalid event"
            return self._not_stored(source, counters, Outcome.DROPPED, Reason.INVALID, detail, rule)
        except (RecursionError, ValueError, TypeError) as exc:
            return self._not_stored(
                source, counters, Outcome.DROPPED, Reason.INVALID, type(exc).__name__, rule
            )
        if CAN_FOLD and ruleset.fold and event["event_action"] == "trigger":
            row = row._replace(fold=True)
        try:
            stored = await self._enqueue(row)
        except QueueFullError as exc:
            return self._not_stored(
                source, counters, Outcome.ERROR, Reason.QUEUE_FULL, str(exc), rule
            )
        except StorageError as exc:
            return self._not_stored(source, counters, Outcome.ERROR, Reason.STORAGE, str(exc), rule)
        except Exception as exc:  # not durable, whatever it was: say so, keep listening
            log.exception("%s: unexpected failure while storing", source)
            return self._not_stored(
                source, counters, Outcome.ERROR, Reason.STORAGE, type(exc).__name__, rule
            )
        if getattr(stored, "folded_into", None) is not None:  # folded into a pending trigger
            counters.folded.inc()
            outcome = Outcome.FOLDED
        else:
            counters.stored.inc()
            outcome = Outcome.STORED
        return Submitted(outcome, rule=rule, dedup_key=stored.dedup_key, row_id=stored.id)


__all__ = ["CAN_FOLD", "AgentSink"]
