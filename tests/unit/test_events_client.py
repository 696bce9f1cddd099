"""EventsClient over real loopback HTTP: every answer and failure becomes the right Outcome."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from conftest import free_port
from pagerbridge import __version__
from pagerbridge.errors import ConfigError, EventValidationError
from pagerbridge.pagerduty.event_rules import encode_event
from pagerbridge.pagerduty.events import ChangeEvent, ChangePayload, Event, EventsClient, Payload
from pagerbridge.pagerduty.outcome import Accepted, Rejected, Retry
from servers.events_server import Answer, EventsServer, ForwardProxy

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def alert(**kw: object) -> Event:
    return Event(
        routing_key=KEY,
        dedup_key="db1/disk",
        payload=Payload(summary="disk full on db1", source="db1", severity="critical"),
        **kw,  # type: ignore[arg-type]
    )


async def test_trigger_is_accepted_and_sent_exactly() -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        event = alert()
        outcome = await client.send(event)
        assert outcome == Accepted("db1/disk", 202, "Event processed")
        [req] = server.received
        assert (req.method, req.path) == ("POST", "/v2/enqueue")
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["User-Agent"] == f"pagerbridge/{__version__}"
        assert req.body == encode_event(event.to_dict())


async def test_mapping_and_change_event_and_url_suffix() -> None:
    async with EventsServer() as server, EventsClient(f"{server.url}/v2/enqueue") as client:
        raw = {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k1"}
        assert isinstance(await client.send(raw), Accepted)
        change = ChangeEvent(routing_key=KEY, payload=ChangePayload(summary="deployed v2"))
        assert isinstance(await client.send(change), Accepted)
        assert isinstance(
            await client.send({"routing_key": KEY, "payload": {"summary": "x"}}, change=True),
            Accepted,
        )
        assert [r.path for r in server.received] == [
            "/v2/enqueue",
            "/v2/change/enqueue",
            "/v2/change/enqueue",
        ]
        assert server.received[0].json() == raw


async def test_invalid_event_raises_and_sends_nothing() -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        with pytest.raises(EventValidationError, match="'dedup_key' is missing"):
            await client.send({"routing_key": KEY, "event_action": "acknowledge"})
        assert server.received == []


async def test_send_raw_sends_the_bytes_unchanged() -> None:
    body = b'{"routing_key":"' + KEY.encode() + b'","event_action":"trigger"}'
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(
            Answer(
                400,
                {
                    "status": "invalid event",
                    "message": "Event object is invalid",
                    "errors": ["'payload' is missing or blank"],
                },
            )
        )
        outcome = await client.send_raw(body)
        assert outcome == Rejected(
            400, "Event object is invalid", ["'payload' is missing or blank"]
        )
        assert server.received[0].body == body


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            Answer(
                429, {"status": "throttle", "message": "Requests throttled"}, {"Retry-After": "30"}
            ),
            Retry("HTTP 429: Requests throttled", 30.0, 429),
        ),
        (
            Answer(429, b"", {"ratelimit-reset": "7"}),
            Retry("HTTP 429 with an empty body", 7.0, 429),
        ),
        (
            Answer(500, b"<html>Internal Server Error</html>"),
            Retry("HTTP 500: <html>Internal Server Error</html>", None, 500),
        ),
        (Answer(502, b"Bad Gateway"), Retry("HTTP 502: Bad Gateway", None, 502)),
        (Answer(408, b""), Retry("HTTP 408 with an empty body", None, 408)),
        (
            Answer(413, b"too big"),
            Rejected(
                413, "HTTP 413: too big (the event is too large; PagerDuty accepts at most 512 KB)"
            ),
        ),
        (Answer(404, b"Not Found"), Rejected(404, "HTTP 404: Not Found")),
        (Answer(403, {"message": "Forbidden"}), Rejected(403, "Forbidden")),
    ],
)
async def test_statuses_are_classified(answer: Answer, expected: object) -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(answer)
        assert await client.send(alert()) == expected


async def test_retry_after_http_date_over_the_wire() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(Answer(503, b"", {"Retry-After": when}))
        outcome = await client.send(alert())
        assert isinstance(outcome, Retry) and outcome.status == 503
        assert outcome.delay is not None and 110 <= outcome.delay <= 121


async def test_redirect_is_not_followed() -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(Answer(307, b"", {"Location": f"{server.url}/elsewhere"}))
        outcome = await client.send(alert())
        assert isinstance(outcome, Rejected) and "/elsewhere" in outcome.message
        assert len(server.received) == 1


async def test_slow_answer_becomes_retry_after_timeout() -> None:
    async with EventsServer() as server, EventsClient(server.url, timeout=0.3) as client:
        server.play(Answer(delay=3.0))
        started = asyncio.get_running_loop().time()
        outcome = await client.send(alert())
        assert asyncio.get_running_loop().time() - started < 2.0
        assert isinstance(outcome, Retry) and outcome.status is None
        assert "within 0.3 s" in outcome.reason


async def test_dropped_connection_becomes_retry() -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(Answer(drop=True))
        outcome = await client.send(alert())
        assert isinstance(outcome, Retry) and outcome.status is None
        assert outcome.reason.startswith(f"could not reach {server.url}/v2/enqueue")
        # the client recovers on the next request
        assert isinstance(await client.send(alert()), Accepted)


async def test_refused_connection_becomes_retry() -> None:
    async with EventsClient(f"http://127.0.0.1:{free_port()}") as client:
        outcome = await client.send(alert())
        assert isinstance(outcome, Retry) and "could not reach" in outcome.reason


async def test_never_raises_for_any_status() -> None:
    statuses = [200, 201, 204, 301, 400, 401, 404, 409, 418, 422, 429, 500, 503, 504, 599]
    async with EventsServer() as server, EventsClient(server.url) as client:
        server.play(*(Answer(s, b"x") for s in statuses))
        outcomes = [await client.send(alert()) for _ in statuses]
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds[:3] == ["Accepted"] * 3
    assert kinds[3:10] == ["Rejected"] * 7
    assert kinds[10:] == ["Retry"] * 5


async def test_through_a_forward_proxy() -> None:
    async with EventsServer() as server, ForwardProxy() as proxy:
        async with EventsClient(server.url, proxy=proxy.url) as client:
            assert isinstance(await client.send(alert()), Accepted)
        assert proxy.relayed == [f"{server.url}/v2/enqueue"]
        assert server.received[0].headers["Via"] == "1.1 test-proxy"
        assert server.received[0].json()["dedup_key"] == "db1/disk"


async def test_proxy_down_becomes_retry() -> None:
    async with EventsServer() as server:
        dead = f"http://127.0.0.1:{free_port()}"
        async with EventsClient(server.url, proxy=dead) as client:
            outcome = await client.send(alert())
        assert isinstance(outcome, Retry)
        assert server.received == []


async def test_shared_session_is_left_open() -> None:
    async with EventsServer() as server, aiohttp.ClientSession() as session:
        client = EventsClient(server.url, session=session)
        assert isinstance(await client.send(alert()), Accepted)
        await client.aclose()
        assert not session.closed


async def test_many_concurrent_sends_share_one_client() -> None:
    async with EventsServer() as server, EventsClient(server.url) as client:
        events = [
            Event(
                routing_key=KEY,
                dedup_key=f"k{i}",
                payload=Payload(summary=f"s{i}", source="h", severity="info"),
            )
            for i in range(50)
        ]
        outcomes = await asyncio.gather(*(client.send(e) for e in events))
    assert sorted(o.dedup_key for o in outcomes if isinstance(o, Accepted)) == sorted(
        f"k{i}" for i in range(50)
    )
    assert len(server.received) == 50


def test_regions_and_bad_configuration() -> None:
    assert EventsClient().enqueue_url == "https://events.pagerduty.com/v2/enqueue"
    eu = EventsClient(region="eu")
    assert eu.enqueue_url == "https://events.eu.pagerduty.com/v2/enqueue"
    assert eu.change_url == "https://events.eu.pagerduty.com/v2/change/enqueue"
    assert EventsClient("http://x/v2/enqueue", region="eu").enqueue_url == "http://x/v2/enqueue"
    with pytest.raises(ConfigError, match="unknown PagerDuty region 'mars'"):
        EventsClient(region="mars")
    with pytest.raises(ConfigError, match="proxy URL"):
        EventsClient(proxy="socks5://x")
    with pytest.raises(ConfigError, match="timeout"):
        EventsClient(timeout=0)
    with pytest.raises(ConfigError, match="events URL"):
        EventsClient("events.pagerduty.com")


def test_wire_json_of_models() -> None:
    event = alert(links=[{"href": "https://x", "text": "runbook"}])
    assert json.loads(encode_event(event.to_dict())) == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "db1/disk",
        "payload": {"summary": "disk full on db1", "source": "db1", "severity": "critical"},
        "links": [{"href": "https://x", "text": "runbook"}],
    }
