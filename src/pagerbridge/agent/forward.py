"""Edge → hub: deliver events to another pagerbridge agent instead of PagerDuty.

A :data:`~pagerbridge.outbox.worker.Sender` for the delivery worker. The hub speaks the same
Events API and answers 202 only once the event is durable there, so forwarding keeps the
end-to-end promise. The shared token travels as ``Authorization: Bearer``. A hub that refuses
our token (401/403) is a configuration problem, not a bad event: those rows are retried (and the
log says what to fix) instead of being dead-lettered. A row meant for a particular Events API
carries it in ``X-Pagerbridge-Destination``, so the hub's agent stamps the row with it and holds
it unless it delivers there itself.
"""

from __future__ import annotations

import logging

import aiohttp

from pagerbridge.pagerduty.event_rules import events_url
from pagerbridge.pagerduty.outcome import Outcome, Retry, classify

log = logging.getLogger("pagerbridge.agent")

#: Seconds to wait before retrying after the hub refused our token.
AUTH_RETRY_DELAY = 60.0
#: The header that carries a forwarded row's destination (an Events API base URL).
DESTINATION_HEADER = "X-Pagerbridge-Destination"


class ForwardSender:
    """POSTs stored event bodies to another agent's ``/v2/enqueue`` (or ``/v2/change/enqueue``)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        proxy: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url
        self._url = events_url(base_url)
        self._change_url = events_url(base_url, change=True)
        self._headers = {"Content-Type": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._proxy = proxy
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"ForwardSender({self.base_url!r}, token=***)"

    async def __call__(self, body: bytes, change: bool, destination: str | None = None) -> Outcome:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        url = self._change_url if change else self._url
        extra = {DESTINATION_HEADER: destination} if destination else None
        try:
            async with self._session.post(
                url, data=body, proxy=self._proxy, headers=extra
            ) as response:
                content = await response.read()
                status = response.status
                headers = dict(response.headers)
        except TimeoutError:
            return Retry(reason="timeout talking to the hub agent")
        except aiohttp.ClientError as exc:
            return Retry(reason=f"connection to the hub agent failed: {type(exc).__name__}")
        if status in (401, 403):
            log.error(
                "the hub agent at %s refused our token (HTTP %s): check forward.token",
                self.base_url,
                status,
            )
            return Retry(
                reason=f"hub refused the shared token (HTTP {status})",
                delay=AUTH_RETRY_DELAY,
                status=status,
            )
        return classify(status, content, headers)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
