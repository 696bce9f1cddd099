"""Hostile values never break the sandbox (issue 11, item 5).

Hypothesis sends dates in years 1 and 9999, NaN and infinities, NUL bytes, huge integers and
wrong types to the maintenance-window, schedule, webhook-subscription and incident-update
endpoints. None may answer 500, and after each one the Events API still accepts events and GETs
of those resources answer non-500 bodies that validate against PagerDuty's OpenAPI document.
The sandbox is shared by a module, so whatever one example stored is there for the next.
"""

from __future__ import annotations

import math
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.sandbox.state import iso
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.openapi_check import Op, conforms, load_openapi

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
#: Seconds any one answer may take: the work behind every endpoint is bounded.
PROMPT = 3.0

EDGE_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "0001-04-01T00:00:00Z",
    "1-04-01T00:00:00Z",
    "0639-12-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    "9999-12-30T00:00:00Z",
    "2024-01-01T00:00:00\x00",
    "2024-13-01T00:00:00Z",
]
dates = st.sampled_from(EDGE_DATES) | st.builds(
    lambda moment, zone: moment.isoformat() + zone,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from(["Z", "+00:00", "+14:00", "-12:00", ""]),
)
hostile = st.one_of(
    st.sampled_from(
        [None, True, False, 0, -1, 10**30, -(2**63), math.nan, math.inf, -math.inf, 1e308]
    ),
    st.sampled_from(["", "\x00", "a\x00b", "\r\nX-Injected: 1", "NaN", "null", [], {}]),
    st.integers(),
    st.floats(),
    st.text(max_size=6),
    dates,
)
values = st.recursive(
    hostile,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
SERVICE = {"id": "PDEMO01", "type": "service_reference"}
services = st.just([SERVICE]) | st.lists(st.fixed_dictionaries({"id": values}), max_size=2) | values
window_bodies = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("maintenance_window") | values,
        "start_time": dates | values,
        "end_time": dates | values,
        "services": services,
        "description": values,
    },
)
EVENT_TYPES = ["incident.triggered", "incident.resolved", "service.updated"]
delivery_methods = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("http_delivery_method") | values,
        "url": st.sampled_from(["http://127.0.0.1:9/h", "https://x/\x00", "ftp://x"]) | values,
        "custom_headers": st.lists(
            st.fixed_dictionaries({"name": st.just("X-A") | values, "value": values}), max_size=2
        )
        | values,
    },
)
subscription_bodies = st.fixed_dictionaries(
    {},
    optional={
        "type": st.just("webhook_subscription") | values,
        "delivery_method": delivery_methods | values,
        "events": st.lists(st.sampled_from(EVENT_TYPES) | values, max_size=3) | values,
        "filter": st.fixed_dictionaries(
            {"type": st.sampled_from(["account_reference", "service_reference"]) | values},
            optional={"id": st.just("PDEMO01") | values},
        )
        | values,
        "description": values,
        "active": st.booleans() | values,
    },
)
incident_bodies = st.fixed_dictionaries(
    {},
    optional={
        "title": values,
        "urgency": st.sampled_from(["high", "low"]) | values,
        "priority": st.just({"id": "PDEMOP1"}) | values,
        "escalation_level": st.integers(0, 3) | values,
        "conference_bridge": st.fixed_dictionaries(
            {}, optional={"conference_number": values, "conference_url": values}
        )
        | values,
        "status": st.sampled_from(["acknowledged", "triggered"]) | values,
        "resolution": values,
    },
)


class Fuzzed:
    """What every example works on; its short repr keeps the 2.7 MB document out of
    Hypothesis' reports of a failing example."""

    def __init__(self, sb: SandboxHandle, ids: dict[str, str], document: dict[str, Any]) -> None:
        self.sb = sb
        self.ids = ids
        self.document = document

    def __repr__(self) -> str:
        return f"Fuzzed({self.sb.url}, {self.ids})"


@pytest.fixture(scope="module")
def fuzzed(contract_dir: Path) -> Iterator[Fuzzed]:
    """One sandbox for the module, with an incident, a subscription and a future window."""
    openapi = load_openapi(contract_dir)
    with running_sandbox(rate_limits=False) as sb:
        sb.send_event("trigger", dedup_key="target")
        now = sb.runtime.state.now()
        _, sub = sb.rest(
            "POST",
            "/webhook_subscriptions",
            {
                "webhook_subscription": {
                    "delivery_method": {"url": "http://127.0.0.1:9/h"},
                    "events": EVENT_TYPES,
                    "filter": {"type": "account_reference"},
                }
            },
        )
        window = {
            "start_time": iso(now + timedelta(days=1)),
            "end_time": iso(now + timedelta(days=2)),
            "services": [SERVICE],
        }
        _, created = sb.rest(
            "POST",
            "/maintenance_windows",
            {"maintenance_window": window},
            from_email=sb.user_email,
        )
        ids = {
            "incident": next(iter(sb.runtime.state.incidents)),
            "subscription": sub["webhook_subscription"]["id"],
            "window": created["maintenance_window"]["id"],
        }
        yield Fuzzed(sb, ids, openapi)


def call(sb: SandboxHandle, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request: never a 5xx, answered promptly, errors in PagerDuty's shape."""
    started = time.monotonic()
    status, answer = sb.rest(method, path, body, from_email=sb.user_email)
    assert status < 500, (method, path, body, answer)
    assert time.monotonic() - started < PROMPT, (method, path, body)
    if status >= 400:
        assert isinstance(answer["error"]["message"], str), answer
    return status, answer


def readable(
    sb: SandboxHandle, document: dict[str, Any], template: str, path: str
) -> dict[str, Any]:
    """A GET that answers 200 with a body valid under PagerDuty's schema."""
    status, answer = call(sb, "GET", path)
    assert status == 200, (path, answer)
    conforms(document, Op("GET", template, 200), answer)
    body: dict[str, Any] = answer
    return body


def events_still_work(sb: SandboxHandle) -> None:
    for action in ("trigger", "acknowledge", "resolve"):
        status, answer = sb.send_event(action, dedup_key="probe")
        assert status == 202, (action, answer)


@given(body=window_bodies, update=st.booleans())
@FUZZ
def test_maintenance_windows_survive_hostile_values(
    fuzzed: Fuzzed,
    body: dict[str, Any],
    update: bool,
) -> None:
    sb, ids, document = fuzzed.sb, fuzzed.ids, fuzzed.document
    if update:
        status, answer = call(
            sb, "PUT", f"/maintenance_windows/{ids['window']}", {"maintenance_window": body}
        )
    else:
        status, answer = call(sb, "POST", "/maintenance_windows", {"maintenance_window": body})
    events_still_work(sb)
    readable(sb, document, "/maintenance_windows/{id}", f"/maintenance_windows/{ids['window']}")
    readable(sb, document, "/maintenance_windows", "/maintenance_windows?filter=all&limit=100")
    if status in (200, 201):
        window = answer["maintenance_window"]
        readable(sb, document, "/maintenance_windows/{id}", f"/maintenance_windows/{window['id']}")
        for field in ("start_time", "end_time"):
            assert window[field] == iso(datetime.fromisoformat(window[field]).astimezone(UTC))


@given(since=st.none() | dates | values, until=st.none() | dates | values)
@FUZZ
def test_schedules_and_oncalls_survive_hostile_ranges(
    fuzzed: Fuzzed, since: Any, until: Any
) -> None:
    sb, document = fuzzed.sb, fuzzed.document
    query = urllib.parse.urlencode(
        {k: str(v) for k, v in (("since", since), ("until", until)) if v is not None}
    )
    status, answer = call(sb, "GET", f"/schedules/PDEMOS1?{query}")
    if status == 200:
        conforms(document, Op("GET", "/schedules/{id}", 200), answer)
    status, answer = call(sb, "GET", f"/oncalls?{query}")
    if status == 200:
        conforms(document, Op("GET", "/oncalls", 200), answer)
    events_still_work(sb)
    readable(sb, document, "/schedules/{id}", "/schedules/PDEMOS1")


@given(body=subscription_bodies, update=st.booleans())
@FUZZ
def test_webhook_subscriptions_survive_hostile_values(
    fuzzed: Fuzzed,
    body: dict[str, Any],
    update: bool,
) -> None:
    sb, ids, document = fuzzed.sb, fuzzed.ids, fuzzed.document
    path = f"/webhook_subscriptions/{ids['subscription']}"
    if update:
        status, answer = call(sb, "PUT", path, {"webhook_subscription": body})
    else:
        status, answer = call(sb, "POST", "/webhook_subscriptions", {"webhook_subscription": body})
    events_still_work(sb)
    readable(sb, document, "/webhook_subscriptions/{id}", path)
    readable(sb, document, "/webhook_subscriptions", "/webhook_subscriptions?limit=100")
    if status == 200 and not update:
        sid = answer["webhook_subscription"]["id"]
        readable(sb, document, "/webhook_subscriptions/{id}", f"/webhook_subscriptions/{sid}")
        assert call(sb, "DELETE", f"/webhook_subscriptions/{sid}")[0] == 204


@given(body=incident_bodies)
@FUZZ
def test_incident_updates_survive_hostile_values(fuzzed: Fuzzed, body: dict[str, Any]) -> None:
    sb, ids, document = fuzzed.sb, fuzzed.ids, fuzzed.document
    path = f"/incidents/{ids['incident']}"
    status, answer = call(sb, "PUT", path, {"incident": body})
    if status == 200:
        conforms(document, Op("PUT", "/incidents/{id}", 200), answer)
    events_still_work(sb)
    readable(sb, document, "/incidents/{id}", path)
    readable(sb, document, "/incidents", "/incidents?date_range=all&include[]=acknowledgers")
    readable(sb, document, "/incidents/{id}/alerts", f"{path}/alerts")
