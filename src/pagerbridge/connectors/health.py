"""``im connector health NAME``: is the connector working right now, line by line as the
reference prints it (API connectivity with its response time, authentication, service access,
webhook last received, sync lag, error rate over 24 h).

Two halves: what PagerDuty answers now (GET requests only — a health check must never page
anyone) and what the database says the connector did (:func:`local_state`). A ✗ line says why
and how to fix it; any ✗ makes the connector Unhealthy (``im`` exits 1).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors.checks import MARK, State
from pagerbridge.connectors.metrics import DAY
from pagerbridge.connectors.models import (
    connector_activity_table,
    connector_logs_table,
    connector_subscriptions_table,
    connector_webhook_events_table,
)
from pagerbridge.connectors.outbound import budget_key
from pagerbridge.connectors.records import ACTIVE, ConnectorRecord
from pagerbridge.connectors.views import ago
from pagerbridge.errors import (
    APIError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    PagerDutyError,
    TransportError,
)
from pagerbridge.outbox.tables import outbox_table
from pagerbridge.outbox.types import ACTIVE_STATES, REST_KIND
from pagerbridge.pagerduty.rest import RestClient

#: A change waiting longer than this means the sender is not running or cannot send.
SYNC_LAG_LIMIT: Final = 120.0
#: Above this share of failed syncs and events (24 h) the connector is unhealthy.
ERROR_RATE_LIMIT: Final = 0.05
RECEIVING: Final = ("inbound", "bidirectional")
SENDING: Final = ("outbound", "bidirectional")
TROUBLESHOOTING: Final = "docs/connector.md, Monitoring and troubleshooting"


@dataclass(frozen=True)
class Line:
    """One line: ``{label}: {mark} {message}`` (``fix`` under it when it failed)."""

    check: str
    label: str
    state: State
    message: str
    fix: str | None = None

    @property
    def text(self) -> str:
        if self.check == "error_rate" and self.state == "ok":
            return f"{self.label}: {self.message}"  # the reference prints no mark here
        return f"{self.label}: {MARK[self.state]} {self.message}"


@dataclass(frozen=True)
class LocalState:
    """What the database says (no PagerDuty call)."""

    subscriptions: int
    verified: bool
    last_webhook_at: float | None
    refused_1h: int
    last_sync_at: float | None
    pending: int
    oldest_pending_at: float | None
    synced_24h: int
    sync_errors_24h: int
    events_24h: int
    event_errors_24h: int
    last_error: str | None


@dataclass
class Health:
    connector: str
    lines: list[Line] = field(default_factory=list)
    response_ms: float | None = None
    local: LocalState | None = None

    @property
    def healthy(self) -> bool:
        return not any(line.state == "failed" for line in self.lines)

    def text(self) -> list[str]:
        out = [f"Health: {'Healthy' if self.healthy else 'Unhealthy'}"]
        for line in self.lines:
            out.append(line.text)
            if line.fix and line.state == "failed":
                out.append(f"  fix: {line.fix}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "healthy": self.healthy,
            "health": "Healthy" if self.healthy else "Unhealthy",
            "response_ms": self.response_ms,
            "checks": [asdict(line) for line in self.lines],
            "state": asdict(self.local) if self.local else None,
        }


def _count(conn: sa.Connection, stmt: Any) -> int:
    return int(conn.execute(stmt).scalar_one() or 0)


def local_state(conn: sa.Connection, record: ConnectorRecord, now: float) -> LocalState:
    s, a, w, lg, o = (
        connector_subscriptions_table,
        connector_activity_table,
        connector_webhook_events_table,
        connector_logs_table,
        outbox_table,
    )
    cid = record.id
    subs = conn.execute(
        sa.select(s.c.last_received_at, s.c.first_verified_at).where(
            s.c.connector_id == cid, s.c.state.in_(("active", "retiring"))
        )
    ).all()
    since = now - DAY
    kinds: dict[str, int] = dict(
        conn.execute(
            sa.select(a.c.kind, sa.func.count())
            .where(a.c.connector_id == cid, a.c.at >= since)
            .group_by(a.c.kind)
        ).all()
    )
    last_sync = conn.execute(
        sa.select(sa.func.max(a.c.at)).where(a.c.connector_id == cid, a.c.kind == "synced")
    ).scalar()
    last_error = conn.execute(
        sa.select(a.c.message)
        .where(a.c.connector_id == cid, a.c.kind == "error", a.c.at >= since)
        .order_by(a.c.id.desc())
        .limit(1)
    ).scalar()
    pending = conn.execute(
        sa.select(sa.func.count(), sa.func.min(o.c.created_at)).where(
            o.c.routing_key == budget_key(cid),
            o.c.kind == REST_KIND,
            o.c.state.in_(ACTIVE_STATES),
        )
    ).one()
    events: dict[str, int] = dict(
        conn.execute(
            sa.select(w.c.state, sa.func.count())
            .where(w.c.connector_id == cid, w.c.received_at >= since)
            .group_by(w.c.state)
        ).all()
    )
    refused = _count(
        conn,
        sa.select(sa.func.count()).where(
            lg.c.connector == record.name,
            lg.c.component == "webhook",
            lg.c.level.in_(("warning", "error")),
            lg.c.at >= now - 3600,
        ),
    )
    received = [r.last_received_at for r in subs if r.last_received_at is not None]
    return LocalState(
        subscriptions=len(subs),
        verified=any(r.first_verified_at is not None for r in subs),
        last_webhook_at=max(received, default=None),
        refused_1h=refused,
        last_sync_at=float(last_sync) if last_sync is not None else record.last_sync_at,
        pending=int(pending[0] or 0),
        oldest_pending_at=float(pending[1]) if pending[1] is not None else None,
        synced_24h=int(kinds.get("synced", 0)),
        sync_errors_24h=int(kinds.get("error", 0)),
        events_24h=sum(events.values()),
        event_errors_24h=int(events.get("error", 0)),
        last_error=str(last_error) if last_error else None,
    )


class _Checker:
    def __init__(self, record: ConnectorRecord, client: RestClient | None) -> None:
        self.record = record
        self.client = client
        self.name = record.name
        self.health = Health(record.name)

    def add(
        self, check: str, label: str, state: State, message: str, fix: str | None = None
    ) -> None:
        self.health.lines.append(Line(check, label, state, message, fix))

    def _what(self) -> str:
        return "API key" if self.record.settings.auth_type == "api_key" else "OAuth token"

    def _key_fix(self) -> str:
        if self.record.settings.auth_type == "api_key":
            return (
                "check the key (PagerDuty: Integrations → API Access Keys), then: "
                f"im connector update {self.name} --api-key NEW_KEY"
            )
        return f"check the OAuth app: im connector update {self.name} --client-secret SECRET"

    async def connect(self) -> bool:
        """API Connectivity and Authentication, from one timed GET."""
        assert self.client is not None
        base = self.record.settings.base_url
        started = time.perf_counter()
        try:
            await self.client.get_page("/incidents", limit=1)
        except TransportError as exc:
            self.add(
                "api",
                "API Connectivity",
                "failed",
                f"Cannot reach PagerDuty API at {base}: {exc}",
                f"check the address and the network: im connector update {self.name} --base-url "
                "URL (EU accounts: https://api.eu.pagerduty.com)",
            )
            self.add("auth", "Authentication", "unknown", "Not checked (no answer)")
            return False
        except APIError as exc:
            ms = self._timed(started)
            if isinstance(exc, AuthenticationError):
                self.add("api", "API Connectivity", "ok", f"Connected ({ms:.0f}ms response time)")
                self.add(
                    "auth",
                    "Authentication",
                    "failed",
                    f"PagerDuty refused the {self._what()} (HTTP 401: {exc.message})",
                    self._key_fix(),
                )
                return False
            if isinstance(exc, ForbiddenError):
                self.add("api", "API Connectivity", "ok", f"Connected ({ms:.0f}ms response time)")
                self.add(
                    "auth",
                    "Authentication",
                    "failed",
                    f"Valid {self._what()}, but it may not read incidents (HTTP 403: "
                    f"{exc.message})",
                    "use a key of a user with at least the Responder role",
                )
                return False
            self.add(
                "api",
                "API Connectivity",
                "failed",
                f"PagerDuty API answered with an error: {exc}",
                "PagerDuty may be degraded (status.pagerduty.com); try again shortly",
            )
            self.add("auth", "Authentication", "unknown", "Not checked (no usable answer)")
            return False
        except PagerDutyError as exc:
            self.add("api", "API Connectivity", "failed", f"PagerDuty API error: {exc}")
            return False
        ms = self._timed(started)
        self.add("api", "API Connectivity", "ok", f"Connected ({ms:.0f}ms response time)")
        self.add("auth", "Authentication", "ok", f"Valid {self._what()}")
        return True

    def _timed(self, started: float) -> float:
        ms = (time.perf_counter() - started) * 1000
        self.health.response_ms = round(ms, 1)
        return ms

    async def services(self) -> None:
        assert self.client is not None
        record = self.record
        wanted = [record.settings.custom.service_id, *record.service_mappings.values()]
        ids = list(dict.fromkeys(s for s in wanted if s))
        if not ids:
            state: State = "failed" if record.settings.sync_direction in SENDING else "info"
            self.add(
                "services",
                "Service Access",
                state,
                "No PagerDuty service configured",
                f"im connector config {self.name} --service-id PXXXXXX (or map-service)",
            )
            return
        good: list[str] = []
        for service_id in ids:
            try:
                found = await self.client.get_service(service_id)
            except NotFoundError:
                self.add(
                    "services",
                    "Service Access",
                    "failed",
                    f"{service_id} not found (HTTP 404)",
                    f"list the services this key sees: im connector import-services {self.name};"
                    f" then: im connector config {self.name} --service-id CORRECT_SERVICE_ID",
                )
            except APIError as exc:
                self.add(
                    "services",
                    "Service Access",
                    "failed",
                    f"{service_id} not accessible (HTTP {exc.status}: {exc.message})",
                    "give the key access to the service's team, or map another service",
                )
            else:
                if found.status == "disabled":
                    self.add(
                        "services",
                        "Service Access",
                        "failed",
                        f"{service_id} is disabled in PagerDuty: it opens no incident",
                        "enable it in PagerDuty, or map another service",
                    )
                else:
                    good.append(service_id)
        if good:
            self.add("services", "Service Access", "ok", f"{', '.join(good)} accessible")

    def webhook(self, local: LocalState, now: float) -> None:
        label = "Webhook"
        s = self.record.settings
        if s.sync_direction not in RECEIVING:
            self.add("webhook", label, "info", f"Not used (sync direction is {s.sync_direction})")
            return
        if not s.enable_webhook:
            self.add("webhook", label, "info", "Disabled (enable_webhook is false)")
            return
        refused = f"; {local.refused_1h} refused in 1h: im logs --component webhook"
        refused = refused if local.refused_1h else ""
        if not local.subscriptions:
            self.add(
                "webhook",
                label,
                "failed",
                "Not subscribed: PagerDuty's changes arrive only through reconcile",
                f"im connector webhook {self.name} --enable --public-url https://HUB",
            )
        elif local.last_webhook_at is None:
            self.add(
                "webhook",
                label,
                "failed",
                f"Subscribed, but no verified event received yet{refused}",
                f"im connector webhook {self.name} --test; check the public URL and the IP "
                f"allowlist ({TROUBLESHOOTING})",
            )
        else:
            self.add(
                "webhook",
                label,
                "ok",
                f"Receiving events (last: {ago(local.last_webhook_at, now)}){refused}",
            )

    def sync(self, local: LocalState, now: float) -> None:
        label = "Sync Status"
        last = f"last sync: {ago(local.last_sync_at, now)}"
        if self.record.status != ACTIVE:
            self.add(
                "sync",
                label,
                "failed",
                f"Connector is {self.record.status}: nothing is sent or received ({last})",
                f"im connector update {self.name} --status active",
            )
            return
        lag = now - local.oldest_pending_at if local.oldest_pending_at is not None else 0.0
        if local.pending and lag > SYNC_LAG_LIMIT:
            self.add(
                "sync",
                label,
                "failed",
                f"Behind: {local.pending} change(s) waiting, the oldest for "
                f"{ago(local.oldest_pending_at, now).removesuffix(' ago')} ({last})",
                "is a hub running (im serve, or pagerbridge up)? Or send them now: "
                f"im connector sync {self.name}",
            )
        elif local.pending:
            self.add("sync", label, "ok", f"Sending {local.pending} change(s) ({last})")
        else:
            self.add("sync", label, "ok", f"Up to date ({last})")

    def errors(self, local: LocalState) -> None:
        errors = local.sync_errors_24h + local.event_errors_24h
        total = local.synced_24h + local.sync_errors_24h + local.events_24h
        rate = errors / total if total else 0.0
        text = f"{rate * 100:.0f}% ({errors} error{'s' if errors != 1 else ''} in 24h)"
        if rate > ERROR_RATE_LIMIT:
            why = f"; last: {local.last_error}" if local.last_error else ""
            self.add(
                "error_rate",
                "Error Rate",
                "failed",
                text[:-1] + why + ")",
                f"im logs --connector {self.name} --level error --since 24h; {TROUBLESHOOTING}",
            )
        else:
            self.add("error_rate", "Error Rate", "ok", text)


async def check(
    record: ConnectorRecord, client: RestClient | None, local: LocalState, now: float
) -> Health:
    """Every line, in the reference's order. ``client`` is None for a routing-key connector
    (nothing can be read without sending an event)."""
    checker = _Checker(record, client)
    checker.health.local = local
    if client is None:
        checker.add("api", "API Connectivity", "info", "Not used (routing key: Events API only)")
        checker.add(
            "auth",
            "Authentication",
            "unknown",
            "Routing key cannot be verified without sending an event",
        )
    elif await checker.connect():
        await checker.services()
    else:
        checker.add("services", "Service Access", "unknown", "Not checked until the API answers")
    checker.webhook(local, now)
    checker.sync(local, now)
    checker.errors(local)
    return checker.health
