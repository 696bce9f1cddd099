"""Bad input never breaks the sandbox: arbitrary JSON to every write operation gets a 4xx (or a
success), never a 5xx, and the answer is PagerDuty-shaped JSON."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox

scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8)
ids = st.sampled_from(["PDEMO01", "PDEMOU1", "PDEMOEP", "PDEMOP1", "PDEMOT1", "NOPE"])
json_values = st.recursive(
    scalars | ids,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        | st.fixed_dictionaries({"id": inner}, optional={"type": scalars, "assignee": inner})
    ),
    max_leaves=8,
)
FIELDS = {
    "incident": ["type", "title", "service", "urgency", "incident_key", "status", "priority",
                 "assignments", "escalation_policy", "escalation_level", "body", "resolution",
                 "conference_bridge"],
    "note": ["content"],
    "service": ["name", "escalation_policy", "status", "description"],
    "maintenance_window": ["start_time", "end_time", "services", "description"],
    "webhook_subscription": ["delivery_method", "events", "filter", "active", "description"],
    "alert": ["status", "incident"],
}  # fmt: skip


def wrapped_bodies(wrapper: str) -> st.SearchStrategy[Any]:
    inner = st.fixed_dictionaries({}, optional={f: json_values for f in FIELDS[wrapper]})
    return st.one_of(json_values, st.fixed_dictionaries({wrapper: inner | json_values}))


@pytest.fixture(scope="module")
def fuzz_sandbox() -> Iterator[tuple[SandboxHandle, dict[str, str]]]:
    with running_sandbox(rate_limits=False) as sb:
        sb.send_event("trigger", dedup_key="fuzz")
        state = sb.runtime.state
        incident = next(iter(state.incidents))
        alert = next(iter(state.alerts))
        yield sb, {"incident": incident, "alert": alert}


def check(sb: SandboxHandle, method: str, path: str, body: Any) -> None:
    status, answer = sb.rest(method, path, body, from_email=sb.user_email)
    assert status < 500, (method, path, body, answer)
    if status >= 400:
        assert isinstance(answer["error"]["message"], str)


OPERATIONS = [
    ("POST", "/incidents", "incident"),
    ("PUT", "/incidents/{incident}", "incident"),
    ("POST", "/incidents/{incident}/notes", "note"),
    ("PUT", "/incidents/{incident}/alerts/{alert}", "alert"),
    ("POST", "/services", "service"),
    ("PUT", "/services/PDEMO01", "service"),
    ("POST", "/maintenance_windows", "maintenance_window"),
    ("POST", "/webhook_subscriptions", "webhook_subscription"),
]


@pytest.mark.parametrize(("method", "template", "wrapper"), OPERATIONS)
def test_write_operations_never_fail_with_5xx(
    fuzz_sandbox: tuple[SandboxHandle, dict[str, str]], method: str, template: str, wrapper: str
) -> None:
    sb, ids = fuzz_sandbox
    path = template.format(**ids)

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(wrapped_bodies(wrapper))
    def run(body: Any) -> None:
        check(sb, method, path, body)

    run()


@given(
    st.dictionaries(
        st.sampled_from(
            ["limit", "offset", "statuses[]", "since", "until", "sort_by", "include[]", "total",
             "urgencies[]", "date_range", "incident_key", "cursor"]
        ),
        st.text(max_size=12),
        max_size=4,
    )
)  # fmt: skip
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_list_queries_never_fail_with_5xx(
    fuzz_sandbox: tuple[SandboxHandle, dict[str, str]], query: dict[str, str]
) -> None:
    import urllib.parse

    sb, _ = fuzz_sandbox
    text = urllib.parse.urlencode(query)
    for path in ("/incidents", "/log_entries", "/oncalls", "/audit/records", "/schedules/PDEMOS1"):
        status, answer = sb.rest("GET", f"{path}?{text}")
        assert status < 500, (path, query, answer)


@given(json_values)
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_events_never_fail_with_5xx(
    fuzz_sandbox: tuple[SandboxHandle, dict[str, str]], body: Any
) -> None:
    sb, _ = fuzz_sandbox
    for path in ("/v2/enqueue", "/v2/change/enqueue"):
        if isinstance(body, dict):
            body = {"routing_key": sb.routing_key, **body}
        status, answer = sb.request("POST", path, body)
        assert status in (202, 400), (path, body, answer)
