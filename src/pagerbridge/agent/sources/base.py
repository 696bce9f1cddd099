"""The contract every event source codes against: fields in, a durable outbox row (or a reason) out.

An *event source* turns something that is not an Events API call (a syslog line, an SNMP trap, an
Alertmanager webhook, a JSON hook) into PagerDuty events. Every source does the same three things,
and only the first is its own:

1. **Decode** its input into a plain mapping of *fields* (``str`` → JSON-able value: str, int,
   float, bool, None, lists and dicts of those). Each source documents its fields in
   ``docs/sources/<source>.md`` and declares their names on its rule class (``FIELDS``, see
   :mod:`pagerbridge.agent.sources.settings`), so a template that names a field the source can
   never produce is a config error at load. Never raise on bad input: decode what you can, and
   report the rest with :meth:`SourceSink.malformed` (counted, logged rate-limited).
   Syslog's fields: ``host, facility, severity, app, procid, msgid, message, structured_data,
   timestamp, format, peer, transport`` and a few more (``syslog_parse``). Others document theirs.
2. **Submit** the fields: ``await sink.submit(source_name, fields)``. The sink applies the
   source's rules (:mod:`pagerbridge.agent.sources.rules`: first matching rule wins), renders the
   event from the rule's templates, validates it with :mod:`pagerbridge.pagerduty.event_rules`
   like every other event, stamps the agent's destination, folds a repeated trigger when the
   source's ``fold`` setting is on (default on), and stores it through the outbox's group commit
   (``Outbox.enqueue_row_async``). It returns a :class:`Submitted` **only once the row is durable**
   (fsynced / committed) or once it is known that nothing will be stored (dropped, no rule, error,
   each with a reason). ``submit`` never raises for a bad message, a template failure or a full
   queue: read ``Submitted.outcome``. Counters per source (received, stored, folded, dropped by
   reason, errors by reason, malformed) are kept by the sink and exposed on the agent's
   ``/metrics``; a source keeps no counters of its own for these.
3. **Live** as a :class:`Source`: ``start(sink)`` binds its sockets / registers its handlers and
   returns once it accepts input (raise :class:`pagerbridge.agent.serving.CannotListen` or
   :class:`pagerbridge.errors.ConfigError` if it cannot: start-up fails loudly, nothing is
   swallowed); ``stop()`` stops accepting and waits for the messages already read to be
   submitted; ``reload(settings)`` applies new settings of the same source without losing a
   message (rebind a listener only when its address changed; rules are swapped by the sink).
   ``reload`` is called on every SIGHUP, even with unchanged settings: re-read files such as
   certificates or MIBs there, and make the rest cheap when nothing changed.

Throughput: ``submit`` awaits one group commit, so a source that awaits each message in turn gets
one fsync per message. Submit concurrently instead (one task per message, with a bound on those
in flight: syslog stops reading a connection beyond 1,024): tasks created in order reach the group
commit in order, so per-key order (a trigger before its resolve) is kept.

A minimal source::

    class EchoSource:
        name = "echo"

        async def start(self, sink: SourceSink) -> None:
            self._sink = sink

        async def handle(self, text: str) -> Submitted:
            return await self._sink.submit(self.name, {"message": text})

        async def stop(self) -> None: ...
        async def reload(self, settings: SourceSettings) -> None: ...

HTTP sources (Alertmanager, hooks) have no listener of their own: their ``start`` keeps the sink,
and the agent's route calls the source (``agent.sources.get(name)``) to decode and submit, then
answers from ``Submitted`` (e.g. 202 when ``durable``, 503 on ``queue_full``, 400 on ``invalid``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from pagerbridge.agent.sources.settings import SourceSettings

#: A decoded message: field name → JSON-able value.
Fields = Mapping[str, Any]


class Outcome(enum.StrEnum):
    """What became of one submitted message."""

    STORED = "stored"  # a new durable outbox row
    FOLDED = "folded"  # durable, folded into the pending trigger of the same routing + dedup key
    DROPPED = "dropped"  # a rule said drop, or a template / the event failed (see reason)
    NO_RULE = "no_rule"  # no rule matched: nothing stored
    ERROR = "error"  # could not be stored (queue full, storage): the sender may retry


class Reason(enum.StrEnum):
    """Why a message was not stored (a bounded label: the ``reason`` of the drop/error counters)."""

    DROP_RULE = "drop_rule"  # a rule with ``action: drop`` matched
    NO_RULE = "no_rule"  # no rule matched
    TEMPLATE = "template"  # a template failed (missing field, bad value)
    INVALID = "invalid"  # the rendered event breaks the Events API rules
    NO_ROUTING_KEY = "no_routing_key"  # neither the rule nor the source names a routing key
    UNKNOWN_SOURCE = "unknown_source"  # submit() named a source the sink has no rules for
    QUEUE_FULL = "queue_full"  # the outbox holds its maximum
    STORAGE = "storage"  # the database could not be written


@dataclass(frozen=True, slots=True)
class Submitted:
    """The answer to one ``submit``: durable or not, which rule, which key, and why not."""

    outcome: Outcome
    rule: str | None = None  # the matching rule's name (or "#<index>")
    dedup_key: str | None = None
    row_id: int | None = None
    reason: Reason | None = None
    detail: str | None = None  # human-readable; never holds a routing key

    @property
    def durable(self) -> bool:
        """True when the message is on disk as a row (stored or folded)."""
        return self.outcome in (Outcome.STORED, Outcome.FOLDED)


class SourceSink(Protocol):
    """What a source hands its decoded messages to (the agent's :class:`SourceSinkImpl`)."""

    async def submit(self, source_name: str, fields: Fields) -> Submitted:
        """Apply ``source_name``'s rules to ``fields`` and store the event durably; never raises
        for bad input (read ``Submitted.outcome``)."""
        ...

    def malformed(self, source_name: str, detail: str, *, peer: str | None = None) -> None:
        """Count a malformed or rejected input (logged rate-limited). Call it in addition to
        ``submit`` when what could be parsed is still submitted."""
        ...

    def listener_error(self, source_name: str, detail: str) -> None:
        """Count an error of the transport (a connection reset, a TLS handshake failure, too
        many connections); logged rate-limited. Never stops the listener."""
        ...


@runtime_checkable
class Source(Protocol):
    """One configured source instance, started and stopped by the agent runtime."""

    #: The instance's name: the key under ``sources:`` (``syslog``), or ``kind/name`` for sources
    #: configured by name (``hooks/grafana``). It is what ``submit`` is called with.
    name: str

    async def start(self, sink: SourceSink) -> None:
        """Bind and accept input; return once accepting. Raise if that is impossible."""
        ...

    async def stop(self) -> None:
        """Stop accepting; wait until every message already read has been submitted."""
        ...

    async def reload(self, settings: SourceSettings) -> None:
        """Apply new settings (same kind) without losing a message."""
        ...


__all__ = [
    "Fields",
    "Outcome",
    "Reason",
    "Source",
    "SourceSink",
    "Submitted",
]
