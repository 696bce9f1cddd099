"""Properties of the agent's intake, on SQLite and PostgreSQL side by side.

For any body (NaN and Infinity literals, huge integers, NUL bytes, deep nesting, long strings,
wrong types, non-object payloads), posted to ``/v2/enqueue`` or ``/v2/change/enqueue``:

- the answer is 202 or a PagerDuty-style 400, never a 5xx;
- both backends give the same answer to the same body;
- a 202 stored exactly one row, which reads back through ``Outbox.list_rows`` and ``get`` (what
  ``pd-queue list --json`` and ``show`` use) and re-encodes as strict JSON (no NaN, valid UTF-8),
  and both backends stored the same payload; a 400 stored nothing.

``test_agent_fuzz.py`` fuzzes one backend with well-formed JSON; this file adds the raw-text
oddities and the comparison between backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.agent.testing import AgentHandle, HttpAnswer, post, running_agent
from pagerbridge.outbox import Outbox, OutboxRow, open_outbox
from servers.raw_json import Raw, render

KEY = "0123456789abcdef0123456789abcdef"
T0 = 1_800_000_000.0  # both agents' clock: filled-in timestamps are equal


def nested(depth: int, *, objects: bool) -> Raw:
    if objects:
        return Raw('{"a":' * depth + "1" + "}" * depth)
    return Raw("[" * depth + "]" * depth)


raw_literals = st.sampled_from(
    [
        Raw("NaN"),
        Raw("Infinity"),
        Raw("-Infinity"),
        Raw("1e999"),
        Raw("-0.0"),
        Raw("1" + "0" * 400),  # a huge integer
        Raw("9" * 5000),  # past Python's int-parsing digit limit
        Raw('"\\u0000"'),
        Raw('"nul\\u0000inside"'),
        Raw('"\\ud800"'),  # a lone surrogate: not encodable as UTF-8
        Raw('"\\udbff\\udfff"'),  # a valid pair, U+10FFFF
        Raw('"tab\\tnew\\nline"'),
        Raw('""'),
        Raw("[]"),
        Raw("{}"),
        Raw("null"),
        Raw("true"),
        nested(50, objects=True),
        nested(900, objects=True),
        nested(5000, objects=False),
    ]
)
strings = st.text(max_size=40) | st.text(alphabet="a\x00\u00e9\u4e2d\U0001f4df", max_size=40)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | strings | raw_literals
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
long_strings = st.sampled_from(["x" * 1025, "é" * 2000, "y" * 300_000, "z" * 600_000])


def mostly(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``common`` nine times in ten, else ``rare``: most bodies get far enough to be stored."""
    return st.integers(0, 9).flatmap(lambda n: rare if n == 9 else common)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``strategy``; sometimes any value at all (a wrong type, an odd literal)."""
    return mostly(strategy, values)


short_text = st.text(min_size=1, max_size=60) | strings.filter(bool)
# NUL in routing_key / dedup_key: see test_a_nul_in_a_key_gets_the_same_answer_on_both_backends.
routing_keys = mostly(
    st.just(KEY), st.sampled_from([KEY.upper(), "é" * 32, KEY[:-1], "", " " * 32])
)
payloads = st.fixed_dictionaries(
    {
        "summary": maybe(mostly(short_text, long_strings)),
        "source": maybe(short_text),
        "severity": maybe(st.sampled_from(["critical", "error", "warning", "info"])),
    },
    optional={
        "timestamp": maybe(st.sampled_from(["2026-11-23T02:00:00Z", "2026-11-23T02:00:00"])),
        "component": maybe(short_text),
        "group": maybe(short_text),
        "class": maybe(short_text),
        "custom_details": mostly(
            st.dictionaries(st.text(max_size=8), values, max_size=4),
            values | long_strings.map(lambda s: {"blob": s}),
        ),
    },
)
events = st.fixed_dictionaries(
    {
        "routing_key": maybe(routing_keys),
        "payload": maybe(payloads),
        "event_action": maybe(st.sampled_from(["trigger", "trigger", "acknowledge", "resolve"])),
    },
    optional={
        "dedup_key": maybe(st.text(alphabet="ab-/\u00e9 ", min_size=1, max_size=300)),
        "links": maybe(
            st.lists(st.fixed_dictionaries({"href": values}, optional={"text": values}))
        ),
        "images": maybe(st.lists(st.fixed_dictionaries({"src": values}, optional={"alt": values}))),
        "client": maybe(short_text),
        "client_url": maybe(short_text),
        "extra": values,
    },
)


def utf8(text: str) -> bytes:
    """The body's bytes; a lone surrogate written raw stays as its (invalid) UTF-8 bytes."""
    return text.encode("utf-8", "surrogatepass")


@st.composite
def with_raw_nul(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> bytes:
    """A body with a raw NUL byte somewhere (invalid JSON, unless inside nothing)."""
    body = utf8(draw(texts))
    at = draw(st.integers(0, len(body)))
    return body[:at] + b"\x00" + body[at:]


event_texts = events.map(render)
odd_bodies = st.one_of(
    values.map(render).map(utf8),  # often not an object
    with_raw_nul(event_texts),
    st.binary(max_size=64),
)
#: Seven in ten bodies are event-shaped, the rest anything at all.
bodies = st.integers(0, 9).flatmap(lambda n: odd_bodies if n >= 7 else event_texts.map(utf8))


@pytest.fixture
def agents(tmp_path: Path, postgres_url: str) -> Iterator[list[tuple[AgentHandle, Outbox]]]:
    """A SQLite agent and a PostgreSQL agent, each with a second handle on its database (as
    ``pd-queue`` would open it); no delivery, one fixed clock."""
    sqlite_url = f"sqlite:///{tmp_path / 'agent.db'}"
    with (
        running_agent(database_url=sqlite_url, deliver=False, clock=lambda: T0) as lite,
        running_agent(database_url=postgres_url, deliver=False, clock=lambda: T0) as pg,
    ):
        readers = [open_outbox(sqlite_url), open_outbox(postgres_url)]
        try:
            yield [(lite, readers[0]), (pg, readers[1])]
        finally:
            for reader in readers:
                reader.close()


def send(agent: AgentHandle, body: bytes, change: bool) -> HttpAnswer:
    return post(agent.change_url if change else agent.enqueue_url, body, timeout=30)


def read_back(reader: Outbox, after_id: int, answer: HttpAnswer) -> OutboxRow | None:
    """The row a 202 stored (None after a 400), checked the way pd-queue would use it."""
    rows = reader.list_rows(after_id=after_id, limit=5)
    if answer.status != 202:
        assert rows == [], "a refused event left a row behind"
        return None
    assert len(rows) == 1, rows
    (row,) = rows
    assert reader.get(row.id) == row
    listing = json.dumps(row.as_dict(), allow_nan=False, ensure_ascii=False).encode("utf-8")
    shown = json.loads(listing)
    assert shown["payload"] == json.loads(row.payload)
    assert shown["payload"].get("routing_key") == row.routing_key
    dedup_key = answer.json().get("dedup_key")
    if dedup_key is not None:
        assert row.dedup_key == dedup_key
    return row


def answer_shape(answer: HttpAnswer) -> None:
    assert answer.status in (202, 400), (answer.status, answer.body[:300])
    data = answer.json()
    if answer.status == 202:
        assert data["status"] == "success"
    else:
        assert isinstance(data["status"], str) and isinstance(data["message"], str)
        assert data["errors"] and all(isinstance(e, str) for e in data["errors"])


@pytest.mark.postgres
def test_intake_properties_hold_on_both_backends(
    agents: list[tuple[AgentHandle, Outbox]],
) -> None:
    last_ids = [0, 0]
    seen: set[int] = set()
    stored = [0]

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies, change=st.booleans())
    def run(body: bytes, change: bool) -> None:
        answers = [send(agent, body, change) for agent, _ in agents]
        for answer in answers:
            answer_shape(answer)
        assert answers[0].status == answers[1].status, [a.body[:300] for a in answers]
        rows = []
        for i, ((_, reader), answer) in enumerate(zip(agents, answers, strict=True)):
            row = read_back(reader, last_ids[i], answer)
            if row is not None:
                last_ids[i] = row.id
            rows.append(row)
        seen.add(answers[0].status)
        if answers[0].status == 400:
            assert answers[0].json() == answers[1].json()
        lite, pg = rows
        if lite is not None and pg is not None:
            stored[0] += 1
            lite_payload, pg_payload = json.loads(lite.payload), json.loads(pg.payload)
            if "dedup_key" in lite_payload and lite.dedup_key != pg.dedup_key:
                pg_payload["dedup_key"] = lite_payload["dedup_key"]  # generated: random
            assert lite_payload == pg_payload
            assert (lite.kind, lite.routing_key, lite.state) == (pg.kind, pg.routing_key, pg.state)

    run()
    assert seen == {202, 400}  # both paths were exercised
    assert stored[0] >= 5, stored  # and rows were read back, not only refused


NUL_BODIES = [
    '{"routing_key":"' + KEY + '","event_action":"trigger","dedup_key":"a\\u0000b",'
    '"payload":{"summary":"s","source":"h","severity":"info"}}',
    '{"routing_key":"0123456789abcdef0123456789abcd\\u0000f","event_action":"trigger",'
    '"payload":{"summary":"s","source":"h","severity":"info"}}',
]


@pytest.mark.postgres
@pytest.mark.parametrize("body", NUL_BODIES, ids=["dedup_key", "routing_key"])
def test_a_nul_in_a_key_gets_the_same_answer_on_both_backends(
    agents: list[tuple[AgentHandle, Outbox]], body: str
) -> None:
    """Keys are stored as text: a NUL (PostgreSQL text cannot hold it) is a 400 on both, and
    nothing is stored."""
    answers = [send(agent, body.encode(), False) for agent, _ in agents]
    assert [a.status for a in answers] == [400, 400]
    assert all("NUL" in a.body.decode() for a in answers)
    assert [reader.list_rows() for _, reader in agents] == [[], []]
