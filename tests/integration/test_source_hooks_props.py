"""Hostile input on ``POST /alertmanager/<name>`` and ``POST /hooks/<name>``, SQLite and PostgreSQL.

For any body (Alertmanager-shaped with odd values, any JSON, NaN literals, lone surrogates, NUL,
raw bytes), on both backends: the answer is never a 5xx and is the same on both; whatever was
stored reads back the way ``pd-queue`` reads it and re-encodes as strict JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.agent.testing import AgentHandle, HttpAnswer, post, running_agent
from pagerbridge.outbox import Outbox, OutboxRow, open_outbox

KEY = "0123456789abcdef0123456789abcdef"
SECRET = "props-secret-123"
T0 = 1_800_000_000.0
SOURCES = {
    "alertmanager": {"am": {"routing_key": KEY}, "grouped": {"routing_key": KEY, "per": "group"}},
    "hooks": {
        "signed": {
            "routing_key": KEY,
            "auth": {"hmac": {"secret": SECRET}},
            "rules": [
                {"match": {"kind": "resolve"}, "action": "resolve", "dedup_key": "{{ id }}"},
                {"dedup_key": "{{ id }}", "summary": "{{ title }}", "severity": "{{ level }}"},
            ],
        },
        "items": {
            "routing_key": KEY,
            "each": "items",
            "rules": [{"summary": "{{ name | default('item') }} {{ parent.x | default('') }}"}],
        },
    },
}

text = st.text(max_size=30) | st.sampled_from(["\x00", "\ud800", "é\u2028", "x" * 2000, ""])
scalar = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(
    scalar,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3),
    max_leaves=10,
)
labels = st.dictionaries(st.sampled_from(["alertname", "severity", "instance", "job", "x"]), scalar)
alerts = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["firing", "resolved"]) | scalar,
        "labels": labels | json_values,
        "annotations": labels | json_values,
        "fingerprint": st.sampled_from(["0123456789abcdef", ""]) | scalar,
        "startsAt": scalar,
    },
)
alertmanager_bodies = st.fixed_dictionaries(
    {"alerts": st.lists(alerts, max_size=3) | json_values},
    optional={
        "version": st.just("4") | scalar,
        "status": st.sampled_from(["firing", "resolved"]) | scalar,
        "groupKey": text,
        "commonLabels": labels | json_values,
        "truncatedAlerts": scalar,
    },
)
hook_bodies = st.fixed_dictionaries(
    {},
    optional={
        "id": text,
        "title": text,
        "level": st.sampled_from(["critical", "info", "bogus"]) | scalar,
        "kind": st.just("resolve") | scalar,
        "items": st.lists(st.dictionaries(st.sampled_from(["name", "x"]), scalar)) | json_values,
        "x": json_values,
    },
)


def encode(value: Any, literal_nan: bool) -> bytes:
    body = json.dumps(value, allow_nan=True)
    if literal_nan:
        body = body.replace("null", "NaN", 1)
    return body.encode("utf-8", "surrogatepass")


requests = st.one_of(
    st.tuples(st.sampled_from(["/alertmanager/am", "/alertmanager/grouped"]), alertmanager_bodies),
    st.tuples(st.sampled_from(["/hooks/signed", "/hooks/items"]), hook_bodies),
    st.tuples(st.sampled_from(["/alertmanager/am", "/hooks/items"]), json_values),
).flatmap(
    lambda pair: st.tuples(
        st.just(pair[0]),
        st.one_of(st.booleans().map(lambda nan: encode(pair[1], nan)), st.binary(max_size=40)),
    )
)


@pytest.fixture
def agents(tmp_path: Path, postgres_url: str) -> Iterator[list[tuple[AgentHandle, Outbox]]]:
    sqlite_url = f"sqlite:///{tmp_path / 'agent.db'}"
    config = {"listen": "127.0.0.1:0", "sources": SOURCES}
    with (
        running_agent(database_url=sqlite_url, config=config, deliver=False, clock=lambda: T0) as a,
        running_agent(
            database_url=postgres_url, config=config, deliver=False, clock=lambda: T0
        ) as b,
    ):
        readers = [open_outbox(sqlite_url), open_outbox(postgres_url)]
        LAST_ROW.clear()
        try:
            yield [(a, readers[0]), (b, readers[1])]
            for reader in readers:  # folded rows too, as they are now
                for row in reader.list_rows(limit=100_000):
                    read_back(reader, row)
        finally:
            for reader in readers:
                reader.close()


#: The last row id seen per backend (the fixture lives across the examples of one test).
LAST_ROW: dict[int, int] = {}


def send(agent: AgentHandle, path: str, body: bytes) -> HttpAnswer:
    headers = {}
    if path == "/hooks/signed":
        headers["X-Signature"] = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return post(agent.url + path, body, headers=headers, timeout=30)


def check_rows(reader: Outbox, after: int, answer: HttpAnswer) -> int:
    """Every new row reads back as pd-queue reads it; returns the last row id."""
    rows = reader.list_rows(after_id=after, limit=50)
    if answer.status != 202:
        assert rows == [], (answer.status, answer.body)
    elif answer.json().get("stored"):
        assert rows, answer.body  # (a fold replaces a pending row's payload: no new row)
    for row in rows:
        read_back(reader, row)
        after = row.id
    return after


def read_back(reader: Outbox, row: OutboxRow) -> None:
    assert reader.get(row.id) == row
    shown = json.loads(json.dumps(row.as_dict(), allow_nan=False, ensure_ascii=False))
    payload = json.loads(row.payload)
    assert shown["payload"] == payload and payload["routing_key"] == KEY


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests)
def test_no_5xx_and_every_stored_row_reads_back(
    agents: list[tuple[AgentHandle, Outbox]], request: tuple[str, bytes]
) -> None:
    path, body = request
    answers = []
    for index, (agent, reader) in enumerate(agents):
        answer = send(agent, path, body)
        assert answer.status in (200, 202, 400), (path, body[:200], answer.status, answer.body)
        LAST_ROW[index] = check_rows(reader, LAST_ROW.get(index, 0), answer)
        answers.append((answer.status, answer.json().get("messages")))
    assert answers[0] == answers[1], (path, body[:200], answers)
