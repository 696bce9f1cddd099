"""RestClient over real loopback HTTP: headers, From, 429 handling, errors, transport failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from pagerbridge.errors import (
    APIError,
    AuthenticationError,
    ConfigError,
    ForbiddenError,
    NotFoundError,
    PagerDutyError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from pagerbridge.pagerduty.rest import ACCEPT, RestClient, encode_params
from pagerbridge.pagerduty.rest_models import Incident
from servers.rest_recorder import RestRecorder


class Sleeps:
    """An injected sleep that records waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_api_key_headers_on_a_read_and_no_from() -> None:
    async with (
        RestRecorder() as rec,
        RestClient("k3y", base_url=rec.url, from_email="ops@example.com") as client,
    ):
        incident = await client.get_incident("PINC001")
    sent = rec.last
    assert sent.header("Authorization") == "Token token=k3y"
    assert sent.header("Accept") == ACCEPT == "application/vnd.pagerduty+json;version=2"
    assert sent.header("Content-Type") == "application/json"
    assert sent.header("From") is None  # reads carry no From
    assert isinstance(incident, Incident) and incident.id == "PINC001"  # unwrapped


async def test_oauth_bearer_and_from_on_every_write() -> None:
    async with (
        RestRecorder() as rec,
        RestClient(oauth_token="pdus+abc", base_url=rec.url, from_email="ops@example.com") as c,
    ):
        await c.create_note("PINC001", "on it")
        await c.delete_webhook_subscription("PWHS001")
    note, delete = rec.requests
    assert note.header("Authorization") == "Bearer pdus+abc"
    assert note.header("From") == "ops@example.com"
    assert note.json == {"note": {"content": "on it"}}  # wrapped on the wire
    assert delete.header("From") == "ops@example.com"


async def test_per_call_from_overrides_and_missing_from_fails_before_sending() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        with pytest.raises(ConfigError, match="creating an incident needs a From header"):
            await client.create_incident(title="x", service_id="PSVC001")
        assert rec.requests == []
        await client.update_incident("PINC001", status="acknowledged", from_email="me@ex.com")
    assert rec.last.header("From") == "me@ex.com"
    assert rec.last.json == {"incident": {"type": "incident_reference", "status": "acknowledged"}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of token"),
        ({"token": "a", "oauth_token": "b"}, "exactly one of token"),
        ({"token": "a", "region": "mars"}, "unknown PagerDuty region 'mars'"),
    ],
)
def test_constructor_says_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RestClient(**kwargs)


def test_region_picks_the_base_url_and_repr_hides_the_token() -> None:
    assert RestClient("t").base_url == "https://api.pagerduty.com"
    eu = RestClient("supersecret", region="eu")
    assert eu.base_url == "https://api.eu.pagerduty.com"
    assert "supersecret" not in repr(eu)


def test_encode_params_follows_pagerduty_styles() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    pairs = encode_params(
        {
            "statuses[]": ["triggered", "acknowledged"],
            "sort_by": ["created_at:desc", "incident_number:asc"],
            "total": True,
            "since": when,
            "incident_key": None,
            "service_ids[]": [],
        }
    )
    assert pairs == [
        ("statuses[]", "triggered"),
        ("statuses[]", "acknowledged"),
        ("sort_by", "created_at:desc,incident_number:asc"),
        ("total", "true"),
        ("since", "2026-01-02T03:04:05+00:00"),
    ]


async def test_list_filters_go_out_as_repeated_set_filters() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        found = [i async for i in client.list_incidents(statuses=["triggered", "acknowledged"])]
    assert [i.id for i in found] == ["PINC001"]
    assert rec.last.params("statuses[]") == ["triggered", "acknowledged"]
    assert rec.last.params("limit") == ["100"] and rec.last.params("offset") == ["0"]


async def test_bad_filter_values_fail_locally() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        with pytest.raises(ValueError, match="statuses: 'open' not allowed"):
            [i async for i in client.list_incidents(statuses=["open"])]
        with pytest.raises(ValueError, match="nothing to update"):
            await client.update_incident("PINC001", from_email="a@b.c")
        with pytest.raises(ValueError, match="resolution is only used"):
            await client.update_incident(
                "P1", status="acknowledged", resolution="x", from_email="a"
            )
    assert rec.requests == []


async def test_429_waits_for_ratelimit_reset_then_succeeds() -> None:
    sleeps = Sleeps()
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url, sleep=sleeps) as client:
        rec.script(
            429,
            {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
            {"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "7"},
        )
        rec.script(
            200,
            {"incident": {"id": "PX"}},
            {"ratelimit-limit": "960", "ratelimit-remaining": "959", "ratelimit-reset": "60"},
        )
        incident = await client.get_incident("PX")
    assert incident.id == "PX"
    assert sleeps.waits == [7.0]
    assert len(rec.requests) == 2
    assert client.rate_limit is not None
    assert (client.rate_limit.limit, client.rate_limit.remaining) == (960, 959)


async def test_429_uses_retry_after_http_date_with_the_injected_clock() -> None:
    sleeps = Sleeps()
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    async with (
        RestRecorder() as rec,
        RestClient("k", base_url=rec.url, sleep=sleeps, clock=lambda: now) as client,
    ):
        rec.script(429, None, {"Retry-After": "Thu, 01 Jan 2026 12:00:03 GMT"})
        await client.list_abilities()
    assert sleeps.waits == [3.0]


async def test_429_is_retried_a_bounded_number_of_times_then_raised() -> None:
    sleeps = Sleeps()
    async with (
        RestRecorder() as rec,
        RestClient("k", base_url=rec.url, sleep=sleeps, max_rate_limit_retries=2) as client,
    ):
        for _ in range(5):
            rec.script(429, {"error": {"message": "Rate Limit Exceeded", "code": 2020}})
        with pytest.raises(RateLimitedError) as info:
            await client.list_abilities()
    assert len(rec.requests) == 3  # first try + 2 retries, never a hot loop
    assert sleeps.waits == [1.0, 2.0]  # no header: doubling default wait
    assert info.value.code == 2020 and info.value.status == 429


async def test_429_asking_for_too_long_a_wait_is_raised_at_once() -> None:
    sleeps = Sleeps()
    async with (
        RestRecorder() as rec,
        RestClient("k", base_url=rec.url, sleep=sleeps, max_rate_limit_wait=30) as client,
    ):
        rec.script(429, {"error": {"message": "Rate Limit Exceeded"}}, {"ratelimit-reset": "45"})
        with pytest.raises(RateLimitedError) as info:
            await client.list_abilities()
    assert info.value.retry_after == 45.0
    assert sleeps.waits == []
    assert len(rec.requests) == 1


async def test_zero_reset_still_waits_a_little() -> None:
    sleeps = Sleeps()
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url, sleep=sleeps) as client:
        rec.script(429, None, {"ratelimit-reset": "0"})
        await client.list_abilities()
    assert sleeps.waits and sleeps.waits[0] > 0


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, APIError),
        (401, AuthenticationError),
        (402, ForbiddenError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_error_statuses_raise_the_matching_class_with_pagerduty_details(
    status: int, cls: type[APIError]
) -> None:
    body = {
        "error": {"message": "Invalid Input Provided", "code": 2001, "errors": ["Title is blank"]}
    }
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(status, body)
        with pytest.raises(cls) as info:
            await client.get_service("PSVC001")
    err = info.value
    assert type(err) is cls
    assert (err.status, err.code, err.errors) == (status, 2001, ["Title is blank"])
    assert "GET /services/PSVC001: Invalid Input Provided" in str(err)
    assert "Title is blank" in str(err)
    assert len(rec.requests) == 1  # only 429 is retried here; the outbox owns other retries


async def test_an_html_error_page_becomes_a_readable_error() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(502, b"<html><body>Bad Gateway</body></html>")
        with pytest.raises(ServerError, match="Bad Gateway") as info:
            await client.list_abilities()
    assert info.value.code is None


async def test_connection_refused_is_a_transport_error_from_aiohttp() -> None:
    async with RestRecorder() as rec:
        url = rec.url
    async with RestClient("k", base_url=url) as client:  # the server is gone now
        with pytest.raises(TransportError, match="GET /abilities") as info:
            await client.list_abilities()
    assert isinstance(info.value.__cause__, aiohttp.ClientError)


async def test_a_silent_server_times_out_as_a_transport_error() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RestClient("k", base_url=f"http://127.0.0.1:{port}", timeout=0.3) as client:
            with pytest.raises(TransportError, match=r"no answer within 0\.3s"):
                await client.list_abilities()
    finally:
        server.close()


class CountingProvider:
    def __init__(self) -> None:
        self.handed_out = 0
        self.invalidated = 0

    async def access_token(self) -> str:
        self.handed_out += 1
        return f"tok{self.handed_out}"

    def invalidate(self) -> None:
        self.invalidated += 1


async def test_token_provider_is_asked_again_after_a_401() -> None:
    provider = CountingProvider()
    async with RestRecorder() as rec, RestClient(oauth_token=provider, base_url=rec.url) as c:
        rec.script(401, {"error": {"message": "Unauthorized", "code": 2006}})
        assert await c.list_abilities() == ["teams", "urgencies"]
    assert [r.header("Authorization") for r in rec.requests] == ["Bearer tok1", "Bearer tok2"]
    assert provider.invalidated == 1


async def test_a_second_401_is_raised() -> None:
    provider = CountingProvider()
    async with RestRecorder() as rec, RestClient(oauth_token=provider, base_url=rec.url) as c:
        rec.script(401, {"error": {"message": "Unauthorized"}})
        rec.script(401, {"error": {"message": "Unauthorized"}})
        with pytest.raises(AuthenticationError):
            await c.list_abilities()
    assert len(rec.requests) == 2


async def test_borrowed_session_stays_open() -> None:
    async with RestRecorder() as rec, aiohttp.ClientSession() as session:
        client = RestClient("k", base_url=rec.url, session=session)
        await client.list_abilities()
        await client.aclose()
        assert not session.closed


async def test_has_ability_reads_204_and_402() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        assert await client.has_ability("teams") is True
        rec.script(402, {"error": {"message": "Account does not have the ability", "code": 2014}})
        assert await client.has_ability("urgencies") is False


async def test_ids_are_percent_encoded_into_one_path_segment() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(200, {"user": {"id": "../incidents"}})
        await client.get_user("../incidents")
    assert rec.last.raw_path == "/users/..%2Fincidents"  # the id stayed one segment


async def test_an_answer_without_the_entity_is_a_clear_error() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(200, {"something": {}})
        with pytest.raises(PagerDutyError, match="the answer has no 'incident' entity"):
            await client.get_incident("PINC001")


async def test_requests_go_through_the_proxy() -> None:
    async with (
        RestRecorder() as proxy,
        RestClient("k", base_url="http://api.pagerduty.invalid", proxy=proxy.url) as client,
    ):
        await client.list_abilities()
    assert proxy.last.path == "/abilities"
    assert proxy.last.header("Host") == "api.pagerduty.invalid"
    assert proxy.last.header("Authorization") == "Token token=k"


async def test_self_links_are_followed_but_never_to_another_host() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        answer = await client.request("GET", rec.url + "/incidents/PINC001")
        assert answer["incident"]["id"] == "PINC001"
        with pytest.raises(ValueError, match="refusing to send the token"):
            await client.request("GET", "https://evil.example.com/incidents")
    assert [r.path for r in rec.requests] == ["/incidents/PINC001"]


async def test_rate_limit_waits_are_logged_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleeps = Sleeps()
    async with RestRecorder() as rec, RestClient("t0ken", base_url=rec.url, sleep=sleeps) as c:
        rec.script(429, None, {"ratelimit-reset": "3"})
        with caplog.at_level("WARNING", logger="pagerbridge.pagerduty.rest"):
            await c.list_abilities()
    assert "waiting 3.0s (retry 1 of 3)" in caplog.text
    assert "t0ken" not in caplog.text
