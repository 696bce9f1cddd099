"""``GET /health`` and ``GET /metrics``: what load balancers and Prometheus poll.

Why here: both look at the database off the event loop and within a deadline (a database that
hangs must turn ``/health`` into a 503, not hang it), and both must say what is wrong without the
database's own words (``/health`` needs no token). The database's account goes to the log, once
when the database stops answering and once when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from pagerbridge import __version__
from pagerbridge.connectors.metrics import Snapshot
from pagerbridge.incidents import dberrors
from pagerbridge.incidents.service import count_by_status
from pagerbridge.server.auth import principal_of
from pagerbridge.server.errors import RETRY_AFTER
from pagerbridge.server.metrics import CONTENT_TYPE, DatabaseState, HubMetrics

log = logging.getLogger("pagerbridge.server")

T = TypeVar("T")

#: Seconds the database has to answer a health check or a metrics query.
CHECK_TIMEOUT: Final = 5.0
#: Incident counts are read at most this often, however often Prometheus scrapes.
STATE_CACHE_SECONDS: Final = 2.0

#: What /health says, by the cause of the failure (pagerbridge.incidents.dberrors).
REASONS: Final = {
    dberrors.UNAVAILABLE: "the database cannot be reached or is busy (connection refused, lost "
    "or timed out)",
    dberrors.INVALID: "the database refused the check",
    dberrors.CONFLICT: "the database refused the check",
    dberrors.INTERNAL: "the database answered the check with an error (is the schema current?)",
}


class DatabaseProbe:
    """Looks at the hub's database within :data:`CHECK_TIMEOUT` seconds."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        timeout: float = CHECK_TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.timeout = timeout
        self.monotonic = monotonic
        self.state: DatabaseState | None = None
        self._down = False

    def _ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return count_by_status(session=session)

    async def _run(self, work: Callable[[], T]) -> tuple[T | None, str | None]:
        """``work()``'s result, or None and the reason it failed (logged on a change)."""
        try:
            result = await asyncio.wait_for(asyncio.to_thread(work), self.timeout)
        except TimeoutError:
            reason = f"the database did not answer within {self.timeout:g} s"
            self._went_down(reason)
            return None, reason
        except Exception as exc:
            self._went_down(dberrors.describe(exc))
            return None, REASONS[dberrors.cause(exc)]
        if self._down:
            self._down = False
            log.warning("database check: the database answers again")
        return result, None

    def _went_down(self, detail: str) -> None:
        if not self._down:
            self._down = True
            log.error("database check failed: %s", detail)
        else:
            log.debug("database check still failing: %s", detail)

    async def check(self) -> str | None:
        """None if the database answers ``SELECT 1`` in time, else why not."""
        _, reason = await self._run(self._ping)
        return reason

    async def refresh(self) -> DatabaseState:
        """The incidents by status and whether the database answered (cached briefly)."""
        now = self.monotonic()
        if self.state is not None and now - self.state.checked_at < STATE_CACHE_SECONDS:
            return self.state
        counts, reason = await self._run(self._counts)
        self.state = DatabaseState(up=reason is None, incidents=counts or {}, checked_at=now)
        return self.state


def build_router(probe: DatabaseProbe, metrics: HubMetrics) -> APIRouter:
    """``/health`` (no token) and ``/metrics`` (the API token, as every other call)."""
    r = APIRouter(tags=["health"])
    metrics.watch_database(lambda: probe.state)
    connectors = Snapshot(probe.engine)  # issue 14 item 8: pagerbridge_connector_*
    metrics.watch_connectors(connectors)

    @r.get("/health", summary="Liveness and database check (no token needed)")
    async def health() -> JSONResponse:
        reason = await probe.check()
        if reason is not None:
            return JSONResponse(
                {"status": "unavailable", "database": "error", "reason": reason},
                status_code=503,
                headers={"Retry-After": RETRY_AFTER},
            )
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    @r.get(
        "/metrics",
        summary="Prometheus metrics: requests, incidents by status, database health",
        response_class=Response,
    )
    async def get_metrics(request: Request) -> Response:
        await principal_of(request)
        await probe.refresh()
        intake = getattr(request.app.state, "webhook_intake", None)
        await connectors.refresh(intake.counts if intake is not None else None)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return r
