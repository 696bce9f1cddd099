"""PagerDuty's two pagination styles, as plain functions over a "fetch one page" callable.

Classic pagination (``limit``/``offset``/``more``/``total``) stops at offset + limit = 10,000;
past that PagerDuty answers 400, so we refuse before sending and say how to narrow the query.
Cursor pagination (``cursor``/``next_cursor``) has no such cap.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pagerbridge.errors import PagerDutyError, PaginationLimitError

#: Largest page PagerDuty serves (classic pagination).
MAX_LIMIT = 100
#: PagerDuty's default page size when no ``limit`` is sent.
DEFAULT_LIMIT = 25
#: Classic pagination cannot reach past this many records (offset + limit).
CLASSIC_MAX_RECORDS = 10_000

Params = Mapping[str, Any]
FetchPage = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Page:
    """One page of a collection, already unwrapped from its root key."""

    items: list[Any]
    more: bool = False
    total: int | None = None
    offset: int = 0
    limit: int | None = None
    next_cursor: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def collection_key(path: str) -> str:
    """A collection answer's root key: the path's last segment (``/audit/records``: records)."""
    segment = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if not segment or "{" in segment:
        raise ValueError(f"cannot tell the collection key of {path!r}; pass key=")
    return segment


def check_classic(offset: int, limit: int) -> None:
    """Refuse a classic-pagination request PagerDuty would reject, with a message that says why."""
    if limit < 1 or limit > MAX_LIMIT:
        raise PaginationLimitError(
            f"limit={limit} is out of range: PagerDuty serves 1 to {MAX_LIMIT}"
        )
    if offset < 0:
        raise PaginationLimitError(f"offset={offset} is negative")
    if offset + limit > CLASSIC_MAX_RECORDS:
        raise PaginationLimitError(
            f"offset {offset} + limit {limit} = {offset + limit} passes PagerDuty's cap of "
            f"{CLASSIC_MAX_RECORDS:,} records for classic pagination: narrow the query with "
            "filters (e.g. since/until, service_ids[], statuses[]) and page through each part"
        )


def _int(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def page_from_body(body: Any, key: str, *, offset: int = 0) -> Page:
    """Read one page answer; a missing root key is a protocol error, not an empty page."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise PagerDutyError(f"unexpected answer: no {key!r} list in the collection response")
    cursor = body.get("next_cursor")
    return Page(
        items=list(body[key]),
        more=body.get("more") is True,
        total=_int(body.get("total"), None),
        offset=_int(body.get("offset"), offset) or 0,
        limit=_int(body.get("limit"), None),
        next_cursor=cursor if isinstance(cursor, str) and cursor else None,
        raw=body,
    )


async def iter_classic(
    fetch: FetchPage, params: Params, key: str, *, limit: int = MAX_LIMIT
) -> AsyncIterator[Any]:
    """Every item, page by page, until ``more`` is false.

    Pages shrink to end exactly at the 10,000-record cap; if PagerDuty still says ``more`` there,
    ``PaginationLimitError`` is raised after the reachable records were yielded, never silently.
    """
    query = dict(params)
    offset = int(query.pop("offset", 0))
    limit = int(query.pop("limit", limit))
    if offset >= CLASSIC_MAX_RECORDS:
        raise PaginationLimitError(
            f"offset {offset} is at or past PagerDuty's cap of {CLASSIC_MAX_RECORDS:,} records "
            "for classic pagination: narrow the query with filters (e.g. since/until)"
        )
    check_classic(offset, min(limit, CLASSIC_MAX_RECORDS - offset))  # limit range, offset sign
    while True:
        page_limit = min(limit, CLASSIC_MAX_RECORDS - offset)
        check_classic(offset, page_limit)
        page = page_from_body(await fetch({**query, "offset": offset, "limit": page_limit}), key)
        for item in page.items:
            yield item
        if not page.more or not page.items:  # an empty page with more=true must not spin
            return
        offset += len(page.items)
        if offset >= CLASSIC_MAX_RECORDS:
            raise PaginationLimitError(
                f"PagerDuty has more than {CLASSIC_MAX_RECORDS:,} matching {key}; classic "
                "pagination stops there: narrow the query with filters (e.g. since/until) and "
                "list each part"
            )


async def iter_cursor(
    fetch: FetchPage, params: Params, key: str, *, limit: int = MAX_LIMIT
) -> AsyncIterator[Any]:
    """Every item of a cursor-paginated collection, following ``next_cursor`` until it is null."""
    query = dict(params)
    query.setdefault("limit", limit)
    seen: set[str] = set()
    while True:
        page = page_from_body(await fetch(dict(query)), key)
        for item in page.items:
            yield item
        cursor = page.next_cursor
        if cursor is None or cursor in seen:  # a repeated cursor would loop forever
            return
        seen.add(cursor)
        query["cursor"] = cursor
