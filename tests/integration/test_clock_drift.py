"""Clock drift (issue 15, item 8): the agent compares its clock with the ``Date`` of the answers
to its deliveries and warns beyond 60 s: a rate-limited log line, a gauge, a ``/health`` detail
that is a warning, never a failure.

The sandbox stamps ``Date`` from the real clock; the skew is injected on the agent's side (its
clock is injectable, as every time-dependent part of pagerbridge is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagerbridge.agent.clock import ClockDrift, parse_http_date
from pagerbridge.agent.testing import get, post, running_agent
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

SKEW = 150.0


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def _event(pd: SandboxHandle, key: str) -> dict[str, object]:
    return {
        "routing_key": pd.routing_key,
        "event_action": "trigger",
        "dedup_key": key,
        "payload": {"summary": f"drift {key}", "source": "clock-test", "severity": "info"},
    }


def _gauge(metrics: str) -> float:
    for line in metrics.splitlines():
        if line.startswith("pagerbridge_agent_clock_drift_seconds "):
            return float(line.split()[1])
    raise AssertionError("no pagerbridge_agent_clock_drift_seconds in /metrics")


def test_a_skewed_clock_is_a_warning_in_health_metrics_and_log(
    pd: SandboxHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pagerbridge.agent.clock")
    url = f"sqlite:///{tmp_path}/skewed.db"
    with running_agent(
        database_url=url, events_url=pd.url, clock=lambda: time.time() + SKEW
    ) as agent:
        assert get(agent.url + "/health").json()["clock"]["drift_seconds"] is None  # no answer yet
        for n in range(3):
            assert post(agent.enqueue_url, _event(pd, f"skew-{n}")).status == 202
        wait_for(lambda: len(pd.arrivals()) >= 3, "three deliveries")
        answer = wait_for(
            lambda: (h := get(agent.url + "/health")).json()["clock"]["drift_seconds"] and h,
            "a drift measurement",
        )
        body = answer.json()
        assert answer.status == 200 and body["ok"] is True  # a warning, not unhealthy
        clock = body["clock"]
        assert SKEW - 5 < clock["drift_seconds"] < SKEW + 5, clock
        assert clock["ok"] is False and "ahead of PagerDuty's" in clock["warning"]
        assert body["warnings"] == [clock["warning"]]
        assert SKEW - 5 < _gauge(get(agent.url + "/metrics").body.decode()) < SKEW + 5
    warnings = [r for r in caplog.records if "clock is" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]  # three answers, one line
    assert "ahead of PagerDuty's" in warnings[0].getMessage()


def test_a_good_clock_reports_its_small_drift_without_warning(
    pd: SandboxHandle, tmp_path: Path
) -> None:
    with running_agent(database_url=f"sqlite:///{tmp_path}/good.db", events_url=pd.url) as agent:
        assert post(agent.enqueue_url, _event(pd, "good")).status == 202
        answer = wait_for(
            lambda: (h := get(agent.url + "/health")).json()["clock"]["measured_at"] and h,
            "a drift measurement",
        )
        clock = answer.json()["clock"]
        assert abs(clock["drift_seconds"]) < 5 and clock["ok"] is True
        assert answer.json()["warnings"] == [] and "warning" not in clock


def test_the_log_is_rate_limited_and_says_when_the_clock_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="pagerbridge.agent.clock")
    now = [1_000_000.0]
    tick = [0.0]
    drift = ClockDrift(clock=lambda: now[0], monotonic=lambda: tick[0], log_interval=600)
    date = "Mon, 12 Jan 1970 13:46:40 GMT"  # 1,000,000 s after the epoch
    assert parse_http_date(date) == 1_000_000.0
    now[0] += 90
    for _ in range(5):
        drift.observe({"Date": date})
    tick[0] = 601.0
    drift.observe({"Date": date})  # the interval passed: one more line
    now[0] -= 200  # now 110 s behind
    drift.observe({"Date": date})  # within the interval: counted, not logged
    assert drift.drift == -110.0 and drift.drifting
    now[0] += 100
    drift.observe({"Date": date})  # 10 s behind: back within the threshold
    for bad in ({"Date": "yesterday"}, {}, {"Date": ""}):
        drift.observe(bad)  # ignored, never raised
    assert drift.drift == -10.0
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "90 s ahead of" in messages[0] and "90 s ahead of" in messages[1]
    assert "back within 60 s" in messages[2]
