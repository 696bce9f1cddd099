"""Hypothesis against the live endpoints: whatever arrives, the agent answers 202 or a
PagerDuty-style 400, never a 5xx, and a 202 always means a stored row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.agent.testing import AgentHandle, post, running_agent

KEY = "0123456789abcdef0123456789abcdef"

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
maybe = lambda s: st.one_of(s, json_values)  # noqa: E731

payloads = st.fixed_dictionaries(
    {},
    optional={
        "summary": maybe(st.text(max_size=1200)),
        "source": maybe(st.text(max_size=30)),
        "severity": maybe(st.sampled_from(["critical", "error", "warning", "info", "fatal"])),
        "timestamp": maybe(st.sampled_from(["2026-11-23T02:00:00Z", "yesterday", ""])),
        "component": json_values,
        "custom_details": json_values,
    },
)
events = st.fixed_dictionaries(
    {},
    optional={
        "routing_key": maybe(st.sampled_from([KEY, "", "R" + KEY[1:], KEY[:-1]])),
        "event_action": maybe(st.sampled_from(["trigger", "acknowledge", "resolve", "nope"])),
        "dedup_key": maybe(st.text(max_size=300)),
        "payload": maybe(payloads),
        "links": maybe(st.lists(st.dictionaries(st.sampled_from(["href", "text"]), json_values))),
        "images": maybe(
            st.lists(st.dictionaries(st.sampled_from(["src", "href", "alt"]), json_values))
        ),
        "client": json_values,
        "client_url": json_values,
    },
)


VALID = {
    "routing_key": KEY,
    "event_action": "trigger",
    "payload": {"summary": "s", "source": "h", "severity": "info"},
}


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one top-level or payload field replaced (or removed)."""
    event = json.loads(json.dumps(VALID))
    target = event if draw(st.booleans()) else event["payload"]
    name = draw(st.sampled_from([*target.keys(), "dedup_key", "custom_details", "links"]))
    if draw(st.booleans()):
        target.pop(name, None)
    else:
        target[name] = draw(json_values)
    return event


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # allows NaN/Infinity, as sloppy clients send


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(encode),
    events.map(encode),
    mutated().map(encode),
    st.just(encode(VALID)),
)


def check(agent: AgentHandle, body: bytes, change: bool) -> int:
    before = agent.call(lambda: agent.agent.outbox.storage.pending_count())
    answer = post(agent.change_url if change else agent.enqueue_url, body)
    assert answer.status in (202, 400), (answer.status, answer.body[:300])
    data = answer.json()
    after = agent.call(lambda: agent.agent.outbox.storage.pending_count())
    if answer.status == 202:
        assert data["status"] == "success"
        assert after == before + 1
    else:
        assert isinstance(data["status"], str) and isinstance(data["errors"], list)
        assert data["errors"] and all(isinstance(e, str) for e in data["errors"])
        assert after == before
    return answer.status


def test_no_5xx_under_fuzz(tmp_path: Path) -> None:
    with running_agent(database_url=f"sqlite:///{tmp_path / 'db'}", deliver=False) as agent:

        @settings(
            max_examples=250,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(body=bodies, change=st.booleans())
        def run(body: bytes, change: bool) -> None:
            seen.add(check(agent, body, change))

        seen: set[int] = set()
        run()
        assert seen == {202, 400}  # both paths were exercised
