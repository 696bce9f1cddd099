"""The issue's acceptance cycle against the sandbox, over real loopback HTTP and a real outbox:
pending updates open ONE incident for the host, a second run updates the same alert, a clean run
resolves it. Checkers replay real tool outputs (tests/unit/fixtures/updates)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.updates.config import WatcherConfig, load_watcher_config
from pagerbridge.updates.runner import PAGERDUTY_PARTIAL_NOTICE, exit_code, notify_all, run_checks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
from test_updates_replay import ReplayRunner

CONFIG = """\
hostname: web-prod-01
watchers:
  - type: apt
    options:
      lists_dir: {lists}
  - type: npm
notifiers:
  - type: pagerduty
    routing_key: ${{UPDATE_WATCHER_PAGERDUTY_KEY}}
    severity: "warning"
    events_url: {events_url}
settings:
  database: {database}
  state_file: {tmp}/state.json
  delivery_timeout: 15
"""


@pytest.fixture
def sandbox_handle() -> Iterator[Any]:
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle


def make_config(tmp_path: Path, handle: Any, database: str | None = None) -> WatcherConfig:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    path = tmp_path / "config.yaml"
    database = database or f"sqlite:///{tmp_path}/pagerbridge.db"
    path.write_text(
        CONFIG.format(lists=lists, events_url=handle.url, tmp=tmp_path, database=database)
    )
    return load_watcher_config(path, environ={"UPDATE_WATCHER_PAGERDUTY_KEY": handle.routing_key})


def pending() -> ReplayRunner:
    return (
        ReplayRunner()
        .add(["apt", "list", "--upgradable"], "apt_list_upgradable_debian12.txt")
        .add(["npm", "outdated"], "npm_outdated_global_debian12.json", status=1)
    )


def patched() -> ReplayRunner:
    return (
        ReplayRunner()
        .add(["apt", "list", "--upgradable"], "apt_list_upgradable_none_debian12.txt")
        .add(["npm", "outdated"], "npm_outdated_none_debian12.json")
    )


def incidents(handle: Any) -> list[dict[str, Any]]:
    status, body = handle.rest(
        "GET", "/incidents?statuses[]=triggered&statuses[]=acknowledged&statuses[]=resolved"
    )
    assert status == 200, body
    return [
        i
        for i in body["incidents"]
        if i.get("incident_key") == "update-watcher/web-prod-01"
        or "web-prod-01" in i.get("title", "")
    ]


@pytest.mark.slow
def test_trigger_update_resolve_cycle(
    tmp_path: Path, sandbox_handle: Any, database_url: str
) -> None:
    """Runs on SQLite and on PostgreSQL (the outbox lives in either)."""
    handle = sandbox_handle
    cfg = make_config(tmp_path, handle, database_url)

    first = run_checks(cfg, pending())
    assert exit_code(first) == 1
    outcome = notify_all(cfg, first)
    assert [d.action for d in outcome.pagerduty] == ["trigger"]
    assert outcome.pagerduty[0].delivered, outcome.lines
    arrivals = handle.arrivals(handle.routing_key)
    assert [(a["event_action"], a["dedup_key"]) for a in arrivals] == [
        ("trigger", "update-watcher/web-prod-01")
    ]
    opened = incidents(handle)
    assert len(opened) == 1 and opened[0]["status"] == "triggered"
    assert "126 updates available on web-prod-01 (69 security)" in opened[0]["title"]

    second = run_checks(cfg, pending())
    notify_all(cfg, second)
    assert [a["event_action"] for a in handle.arrivals(handle.routing_key)] == [
        "trigger",
        "trigger",
    ]
    assert len(incidents(handle)) == 1  # the same alert, still one incident

    clean = run_checks(cfg, patched())
    assert exit_code(clean) == 0
    outcome = notify_all(cfg, clean)
    assert [d.action for d in outcome.pagerduty] == ["resolve"]
    final = incidents(handle)
    assert len(final) == 1 and final[0]["status"] == "resolved"

    # A further clean run has nothing open: only-on-updates sends nothing.
    assert notify_all(cfg, run_checks(cfg, patched())).pagerduty == []
    assert len(handle.arrivals(handle.routing_key)) == 3


def test_an_unreachable_pagerduty_leaves_the_event_queued_for_the_next_run(
    tmp_path: Path, sandbox_handle: Any
) -> None:
    from conftest import free_port

    handle = sandbox_handle
    cfg = make_config(tmp_path, handle)
    (notifier,) = cfg.enabled_notifiers()
    notifier.options["events_url"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    notifier.options["delivery_timeout"] = 1
    outcome = notify_all(cfg, run_checks(cfg, pending()))
    assert outcome.pagerduty[0].state == "pending"
    assert "queued (the next run or the agent delivers it)" in outcome.lines[0]
    assert handle.arrivals(handle.routing_key) == []

    # The configuration now names the sandbox, but the first row was written for the dead URL:
    # it is never sent anywhere else on its own, and this run's row waits behind it (same alert).
    dead_url = notifier.options["events_url"]
    notifier.options["events_url"] = handle.url
    notifier.options["delivery_timeout"] = 2
    outcome = notify_all(cfg, run_checks(cfg, pending()))
    assert outcome.pagerduty[0].state == "pending", outcome.lines
    assert handle.arrivals(handle.routing_key) == []

    # The operator re-addresses the held row (pd-queue retry --held --from OLD --to NEW) ...
    from pagerbridge.outbox import open_outbox

    outbox = open_outbox(f"sqlite:///{tmp_path}/pagerbridge.db")
    try:
        # no agent recorded a destination here: every addressed row waits for its own worker
        assert {h.destination for h in outbox.held()} == {dead_url, handle.url}
        assert outbox.retry(held=True, held_for=dead_url, to=handle.url) == 1
    finally:
        outbox.close()
    # ... and the next run delivers every row, in order, to the sandbox: still one incident.
    notifier.options["delivery_timeout"] = 20
    outcome = notify_all(cfg, run_checks(cfg, pending()))
    assert outcome.pagerduty[0].delivered, outcome.lines
    assert len(incidents(handle)) == 1
    assert len(handle.arrivals(handle.routing_key)) == 3  # the three runs' triggers, in order


def test_a_rejected_event_is_reported_with_pagerdutys_message(
    tmp_path: Path, sandbox_handle: Any
) -> None:
    handle = sandbox_handle
    cfg = make_config(tmp_path, handle)
    (notifier,) = cfg.enabled_notifiers()
    notifier.options["routing_key"] = "0" * 32  # no such integration on the sandbox
    outcome = notify_all(cfg, run_checks(cfg, pending()))
    assert outcome.pagerduty[0].state == "dead", outcome.lines
    assert "rejected by PagerDuty" in outcome.lines[0] and outcome.failed == 1


def apt_pending_npm_clean() -> ReplayRunner:
    return (
        ReplayRunner()
        .add(["apt", "list", "--upgradable"], "apt_list_upgradable_debian12.txt")
        .add(["npm", "outdated"], "npm_outdated_none_debian12.json")
    )


def test_only_runs_neither_resolve_nor_overwrite_the_hosts_alert(
    tmp_path: Path, sandbox_handle: Any
) -> None:
    """apt pending opens the host's alert; `--only npm` (npm clean) and `--only apt` on a patched
    apt see part of the host, so PagerDuty hears nothing: no resolve, no summary replaced."""
    handle = sandbox_handle
    cfg = make_config(tmp_path, handle)
    notify_all(cfg, run_checks(cfg, apt_pending_npm_clean()))
    assert [a["event_action"] for a in handle.arrivals(handle.routing_key)] == ["trigger"]
    title = incidents(handle)[0]["title"]

    for only, runner in (("npm", apt_pending_npm_clean()), ("apt", patched())):
        report = run_checks(cfg, runner, only=only)
        assert report.partial and not report.updates
        outcome = notify_all(cfg, report)
        assert outcome.pagerduty == []
        assert outcome.lines == [PAGERDUTY_PARTIAL_NOTICE]

    assert [a["event_action"] for a in handle.arrivals(handle.routing_key)] == ["trigger"]
    (incident,) = incidents(handle)
    assert incident["status"] == "triggered" and incident["title"] == title


def test_a_full_run_with_a_failed_checker_never_resolves(
    tmp_path: Path, sandbox_handle: Any
) -> None:
    """apt clean but npm failed: npm's state is unknown, so the open alert stays open."""
    handle = sandbox_handle
    cfg = make_config(tmp_path, handle)
    notify_all(cfg, run_checks(cfg, pending()))
    apt_clean_npm_broken = ReplayRunner().add(
        ["apt", "list", "--upgradable"], "apt_list_upgradable_none_debian12.txt"
    )
    report = run_checks(cfg, apt_clean_npm_broken)
    assert not report.partial and not report.updates
    assert [r.checker for r in report.failures] == ["npm"]
    outcome = notify_all(cfg, report)
    assert outcome.pagerduty == [] and outcome.lines == ["pagerduty: nothing to send"]
    assert [a["event_action"] for a in handle.arrivals(handle.routing_key)] == ["trigger"]
    (incident,) = incidents(handle)
    assert incident["status"] == "triggered"
    # Once every checker answers and the host is clean, the alert resolves.
    assert [d.action for d in notify_all(cfg, run_checks(cfg, patched())).pagerduty] == ["resolve"]


def test_a_sandbox_agent_on_the_same_database_never_sends_update_watchers_event(
    tmp_path: Path, sandbox_handle: Any
) -> None:
    """Issue 11's reproduction: `pagerbridge up` (sandbox mode) runs on the default database
    while update-watcher is configured for another PagerDuty. The agent used to deliver the
    event to its own sandbox and mark it delivered."""
    from pagerbridge.agent.testing import post, running_agent
    from pagerbridge.sandbox.testing import running_sandbox
    from servers.waiting import wait_for

    real = sandbox_handle  # stands in for the real PagerDuty that update-watcher names
    cfg = make_config(tmp_path, real)
    (notifier,) = cfg.enabled_notifiers()
    notifier.options["delivery_timeout"] = 0  # queue only: the agent gets its chance first
    database = f"sqlite:///{tmp_path}/pagerbridge.db"
    with (
        running_sandbox() as up_sandbox,
        running_agent(database_url=database, events_url=up_sandbox.url) as agent,
    ):
        outcome = notify_all(cfg, run_checks(cfg, pending()))
        assert outcome.pagerduty[0].state == "pending"
        marker = {"routing_key": real.routing_key, "event_action": "trigger",
                  "dedup_key": "marker",
                  "payload": {"summary": "m", "source": "up", "severity": "info"}}  # fmt: skip
        assert post(agent.enqueue_url, marker).status == 202
        wait_for(
            lambda: any(a["dedup_key"] == "marker" for a in up_sandbox.arrivals()),
            "the agent's delivery of the marker",
        )
        assert [a["dedup_key"] for a in up_sandbox.arrivals()] == ["marker"]
        held = agent.agent.outbox.get(outcome.pagerduty[0].row_id)
        assert held is not None and held.state == "pending"

        notifier.options["delivery_timeout"] = 20  # update-watcher's next run drains its own
        outcome = notify_all(cfg, run_checks(cfg, pending()))
        assert outcome.pagerduty[0].delivered, outcome.lines
        assert [a["dedup_key"] for a in up_sandbox.arrivals()] == ["marker"]
    assert [a["dedup_key"] for a in real.arrivals()] == ["update-watcher/web-prod-01"] * 2
