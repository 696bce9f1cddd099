"""Hostile input on the agent's Events API v1 endpoint, on SQLite and PostgreSQL side by side.

For any body (v1-shaped with wrong types, NaN and huge literals, NUL bytes, lone surrogates, odd
``details`` and ``contexts``, or not JSON at all): the answer is v1's 200 or 400, never a 5xx;
both backends answer alike; a 200 stored exactly one row that reads back (``list_rows``/``get``,
as ``pd-queue`` does) and re-encodes as strict JSON, with the answer's incident key; a 400
stored nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.agent.events_v1 import V1_PATH
from pagerbridge.agent.testing import AgentHandle, HttpAnswer, post, running_agent
from pagerbridge.outbox import Outbox, open_outbox
from servers.raw_json import Raw, render

KEY = "0123456789abcdef0123456789abcdef"
T0 = 1_800_000_000.0


literals = st.sampled_from(
    [Raw(t) for t in ("NaN", "-Infinity", "1e999", "1" + "0" * 400, '"\\u0000"', '"\\ud800"')]
    + [Raw('{"a":' * 900 + "1" + "}" * 900), Raw("[" * 3000 + "]" * 3000)]
)
strings = st.text(max_size=30) | st.text(alphabet="a\x00\u00e9\U0001f4df :/", max_size=30)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | strings | literals,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6), kids, max_size=3)
    ),
    max_leaves=10,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine times in ten ``strategy``, else any value at all."""
    return st.integers(0, 9).flatmap(lambda n: values if n == 9 else strategy)


contexts = st.lists(
    st.fixed_dictionaries(
        {"type": maybe(st.sampled_from(["link", "image"]))},
        optional={
            "href": maybe(st.just("https://example.com/x")),
            "src": maybe(st.just("https://example.com/i.png")),
            "text": values,
        },
    ),
    max_size=3,
)
events = st.fixed_dictionaries(
    {
        "service_key": maybe(st.just(KEY)),
        "event_type": maybe(st.sampled_from(["trigger", "trigger", "acknowledge", "resolve"])),
        "incident_key": maybe(st.text(alphabet="ab/=;\u00e9 ", min_size=1, max_size=300)),
        "description": maybe(st.text(min_size=1, max_size=40) | st.just("d" * 1500)),
    },
    optional={
        "client": maybe(st.text(max_size=20)),
        "client_url": maybe(st.just("https://monitoring.example.com")),
        "details": maybe(st.dictionaries(st.text(max_size=8), values, max_size=4)),
        "contexts": maybe(contexts),
        "extra": values,
    },
)
bodies = st.integers(0, 9).flatmap(
    lambda n: (
        st.binary(max_size=40) | values.map(render).map(str.encode)
        if n >= 8
        else events.map(render).map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
)


@pytest.fixture
def agents(tmp_path: Path, postgres_url: str) -> Iterator[list[tuple[AgentHandle, Outbox]]]:
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


def check_answer(answer: HttpAnswer) -> dict[str, Any]:
    assert answer.status in (200, 400), (answer.status, answer.body[:300])
    data: dict[str, Any] = answer.json()
    if answer.status == 200:
        assert data["status"] == "success" and data["message"] == "Event processed"
        assert isinstance(data["incident_key"], str) and data["incident_key"]
    else:
        assert (data["status"], data["message"]) == ("invalid event", "Event object is invalid")
        assert data["errors"] and all(isinstance(e, str) for e in data["errors"])
        assert not any("'routing_key'" in e or "'dedup_key'" in e for e in data["errors"])
    return data


@pytest.mark.postgres
def test_v1_intake_properties_hold_on_both_backends(
    agents: list[tuple[AgentHandle, Outbox]],
) -> None:
    last_ids = [0, 0]
    seen: set[int] = set()
    stored = [0]

    @settings(
        max_examples=80,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies)
    def run(body: bytes) -> None:
        answers = [post(agent.url + V1_PATH, body, timeout=30) for agent, _ in agents]
        datas = [check_answer(a) for a in answers]
        assert answers[0].status == answers[1].status, [a.body[:300] for a in answers]
        seen.add(answers[0].status)
        for i, ((_, reader), answer, data) in enumerate(zip(agents, answers, datas, strict=True)):
            rows = reader.list_rows(after_id=last_ids[i], limit=5)
            if answer.status != 200:
                assert rows == [], "a refused event left a row behind"
                continue
            (row,) = rows
            last_ids[i] = row.id
            assert reader.get(row.id) == row
            shown = json.loads(json.dumps(row.as_dict(), allow_nan=False, ensure_ascii=False))
            assert shown["payload"] == json.loads(row.payload)
            assert row.dedup_key == data["incident_key"]
            assert row.routing_key == shown["payload"]["routing_key"]
            stored[0] += 1

    run()
    assert seen == {200, 400}
    assert stored[0] >= 10, stored  # rows were read back, not only refused
