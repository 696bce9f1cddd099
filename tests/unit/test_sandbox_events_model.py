"""Events semantics against a reference model: any sequence of trigger/acknowledge/resolve on a
few dedup keys leaves the sandbox's incidents exactly where PagerDuty's rules say."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.sandbox.events_api import apply_event
from pagerbridge.sandbox.seed import load_seed
from pagerbridge.sandbox.state import SandboxState

ROUTING_KEY = "deadbeefdeadbeefdeadbeefdeadbeef"
steps = st.lists(
    st.tuples(st.sampled_from(["trigger", "acknowledge", "resolve"]), st.sampled_from("abc")),
    max_size=30,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_incidents_follow_the_reference_model(sequence: list[tuple[str, str]]) -> None:
    state = SandboxState()
    load_seed(state)
    integration = state.integrations[ROUTING_KEY]
    # reference: per key, the status of its open incident (None when there is none)
    open_status: dict[str, str | None] = {}
    expected: list[tuple[str, str]] = []  # (key, final status) per incident, in creation order
    index_of_open: dict[str, int] = {}
    for action, key in sequence:
        event = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": key}
        if action == "trigger":
            event["payload"] = {"summary": key, "source": "s", "severity": "error"}
        _, outcome = apply_event(state, event, integration)
        current = open_status.get(key)
        if action == "trigger":
            if current is None:
                open_status[key] = "triggered"
                index_of_open[key] = len(expected)
                expected.append((key, "triggered"))
                assert outcome == "created"
            else:
                assert outcome == "deduplicated"
        elif current is None:
            assert outcome == "dropped"
        elif action == "acknowledge":
            open_status[key] = "acknowledged"
            expected[index_of_open[key]] = (key, "acknowledged")
        else:
            open_status[key] = None
            expected[index_of_open[key]] = (key, "resolved")
            assert outcome == "resolved"
    incidents = sorted(state.incidents.values(), key=lambda i: i["incident_number"])
    assert [(i["incident_key"], i["status"]) for i in incidents] == expected
    for incident in incidents:
        counts = incident["alert_counts"]
        assert counts["all"] == 1
        assert counts["resolved"] == (1 if incident["status"] == "resolved" else 0)
    assert set(state.open_alerts) == {
        f"PDEMO01\x00{k}" for k, status in open_status.items() if status is not None
    }
