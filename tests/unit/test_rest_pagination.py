"""Classic and cursor pagination against a loopback server that really paginates."""

from __future__ import annotations

import pytest

from pagerbridge.errors import PagerDutyError, PaginationLimitError
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_pagination import (
    CLASSIC_MAX_RECORDS,
    check_classic,
    collection_key,
)
from servers.rest_recorder import RestRecorder


def _items(n: int, prefix: str = "P") -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i:05d}", "type": "incident"} for i in range(n)]


async def test_iter_all_walks_every_page_with_limit_100() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/incidents", _items(250), key="incidents")
        ids = [i["id"] async for i in client.iter_all("/incidents", {"statuses[]": ["triggered"]})]
    assert ids == [f"P{i:05d}" for i in range(250)]
    assert [(r.params("offset"), r.params("limit")) for r in rec.requests] == [
        (["0"], ["100"]),
        (["100"], ["100"]),
        (["200"], ["100"]),
    ]
    assert all(r.params("statuses[]") == ["triggered"] for r in rec.requests)


async def test_typed_list_yields_models_across_pages() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/incidents", _items(130), key="incidents")
        found = [i async for i in client.list_incidents()]
    assert len(found) == 130 and found[-1].id == "P00129"


async def test_get_page_reports_total_and_more() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/services", _items(44), key="services")
        page = await client.get_page("/services", limit=25, total=True)
    assert (len(page.items), page.more, page.total, page.offset) == (25, True, 44, 0)
    assert rec.last.params("total") == ["true"]


@pytest.mark.parametrize(
    ("offset", "limit", "message"),
    [
        (9_950, 100, "offset 9950 \\+ limit 100 = 10050 passes PagerDuty's cap of 10,000"),
        (0, 101, "limit=101 is out of range"),
        (0, 0, "limit=0 is out of range"),
        (-1, 10, "offset=-1 is negative"),
    ],
)
async def test_impossible_classic_pages_are_refused_before_sending(
    offset: int, limit: int, message: str
) -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        with pytest.raises(PaginationLimitError, match=message):
            await client.get_page("/incidents", offset=offset, limit=limit)
    assert rec.requests == []


@pytest.mark.parametrize(
    ("offset", "limit", "message"),
    [
        (10_000, 100, "offset 10000 is at or past PagerDuty's cap"),
        (0, 101, "limit=101 is out of range"),
        (-1, 10, "offset=-1 is negative"),
    ],
)
async def test_iter_all_refuses_impossible_starts_before_sending(
    offset: int, limit: int, message: str
) -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        with pytest.raises(PaginationLimitError, match=message):
            [i async for i in client.iter_all("/incidents", {"offset": offset, "limit": limit})]
    assert rec.requests == []


def test_the_cap_itself_is_allowed() -> None:
    check_classic(9_900, 100)
    check_classic(0, 100)


async def test_iter_all_stops_at_10000_with_a_clear_error_after_yielding_them() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/log_entries", _items(CLASSIC_MAX_RECORDS + 50), key="log_entries")
        seen = 0
        with pytest.raises(PaginationLimitError, match="more than 10,000 matching log_entries"):
            async for _ in client.iter_all("/log_entries", {"offset": 9_850}):
                seen += 1
    assert seen == 150  # every reachable record was delivered first
    last = rec.requests[-1]
    assert int(last.params("offset")[0]) + int(last.params("limit")[0]) <= CLASSIC_MAX_RECORDS


async def test_last_page_shrinks_to_end_exactly_at_the_cap() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/incidents", _items(9_980), key="incidents")
        got = [i async for i in client.iter_all("/incidents", {"offset": 9_930})]
    assert len(got) == 50
    assert rec.requests[-1].params("limit") == ["70"]  # 9,930 + 70 = 10,000


async def test_empty_page_claiming_more_does_not_loop() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(200, {"incidents": [], "more": True, "offset": 0, "limit": 100})
        got = [i async for i in client.iter_all("/incidents")]
    assert got == [] and len(rec.requests) == 1


async def test_cursor_pagination_follows_next_cursor() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/audit/records", _items(7, "R"), key="records", cursor=True)
        ids = [r["id"] async for r in client.iter_all("/audit/records", cursor=True, limit=3)]
    assert ids == [f"R{i:05d}" for i in range(7)]
    assert [r.params("cursor") for r in rec.requests] == [[], ["3"], ["6"]]
    assert all(r.params("offset") == [] for r in rec.requests)


async def test_typed_audit_records_use_cursor_pagination() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.collection("/audit/records", _items(150, "R"), key="records", cursor=True)
        records = [r async for r in client.list_audit_records()]
    assert len(records) == 150 and len(rec.requests) == 2


async def test_a_repeated_cursor_ends_the_walk() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(200, {"records": [{"id": "A"}], "next_cursor": "same"})
        rec.script(200, {"records": [{"id": "B"}], "next_cursor": "same"})
        ids = [r["id"] async for r in client.iter_all("/audit/records", cursor=True)]
    assert ids == ["A", "B"] and len(rec.requests) == 2


async def test_an_answer_without_the_collection_key_is_an_error() -> None:
    async with RestRecorder() as rec, RestClient("k", base_url=rec.url) as client:
        rec.script(200, {"data": []})
        with pytest.raises(PagerDutyError, match="no 'incidents' list"):
            [i async for i in client.iter_all("/incidents")]


def test_collection_key_comes_from_the_path() -> None:
    assert collection_key("/incidents/PX/log_entries") == "log_entries"
    assert collection_key("/audit/records") == "records"
    with pytest.raises(ValueError, match="pass key="):
        collection_key("/incidents/{id}")
