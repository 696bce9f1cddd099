"""The PagerDuty notifier's decisions and event, and the runner's failing-alone rule."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pagerbridge.pagerduty.event_rules import normalise_event
from pagerbridge.updates.checkers.base import Checker
from pagerbridge.updates.config import load_watcher_config
from pagerbridge.updates.models import CheckResult, RunReport, Update
from pagerbridge.updates.notifiers.pagerduty import (
    MAX_LISTED_PER_CHECKER,
    PagerDutyOptions,
    build_event,
    decide,
    severity_for,
)
from pagerbridge.updates.notifiers.policy import Policy, summary_line
from pagerbridge.updates.runner import exit_code, run_checks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_updates_replay import ReplayRunner

KEY = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
ONLY = Policy("only-on-updates", "low")
ALWAYS = Policy("always", "low")


def report(*results: CheckResult) -> RunReport:
    return RunReport("web-prod-01", list(results))


def pkg(name: str, security: bool = False, priority: str = "normal") -> Update:
    return Update("apt", name, "1.0", "1.1", security=security, priority=priority)


def options(**kw: object) -> PagerDutyOptions:
    return PagerDutyOptions.model_validate({"routing_key": KEY, **kw})


def test_summary_reads_like_the_issue() -> None:
    updates = [pkg(f"p{i}", security=i < 3) for i in range(12)]
    assert (
        summary_line("web-prod-01", updates) == "12 updates available on web-prod-01 (3 security)"
    )
    assert summary_line("h", [pkg("a")]) == "1 update available on h"
    assert summary_line("h", []) == "No updates available on h"
    assert summary_line("h", [], failed=2) == "No updates available on h; 2 checkers failed"


@pytest.mark.parametrize(
    ("results", "policy", "alert_open", "expected"),
    [
        ((CheckResult("apt", [pkg("a")]),), ONLY, False, "trigger"),
        ((CheckResult("apt", [pkg("a")]),), ONLY, True, "trigger"),  # keeps the alert current
        ((CheckResult("apt", []),), ONLY, True, "resolve"),
        ((CheckResult("apt", []),), ALWAYS, True, "resolve"),  # whatever the send_policy
        ((CheckResult("apt", []),), ONLY, False, None),  # clean host: no trigger
        ((CheckResult("apt", []),), ALWAYS, False, "trigger"),  # the documented test
        ((CheckResult("apt", error="boom"),), ONLY, True, None),  # unknown: keep the alert
        ((CheckResult("apt", [pkg("a")]), CheckResult("dnf", error="x")), ONLY, False, "trigger"),
        (
            (CheckResult("apt", [pkg("a", priority="low")]),),
            Policy("only-on-updates", "high"),
            True,
            "resolve",
        ),  # below min_priority counts as nothing pending
    ],
)
def test_decide(
    results: tuple[CheckResult, ...], policy: Policy, alert_open: bool, expected: str | None
) -> None:
    assert decide(report(*results), policy, alert_open=alert_open) == expected


def test_severity_is_raised_for_security_updates_never_lowered() -> None:
    plain, sec = [pkg("a")], [pkg("a"), pkg("b", security=True)]
    assert severity_for(plain, options()) == "warning"
    assert severity_for(sec, options()) == "error"
    assert severity_for(sec, options(security_severity="critical")) == "critical"
    assert severity_for(sec, options(severity="critical")) == "critical"
    assert severity_for(sec, options(security_severity=None)) == "warning"
    assert severity_for([], options()) == "info"


def test_trigger_event_is_valid_and_structured_by_checker() -> None:
    r = report(
        CheckResult("apt", [pkg("openssl", security=True), pkg("bash")]),
        CheckResult("npm", [Update("npm", "npm", "11.19.1", "11.21.2")]),
        CheckResult("dnf", error="dnf is not installed (not found on PATH)"),
    )
    event = build_event("trigger", r, ONLY, options(), now=NOW)
    assert normalise_event(event) is not None  # passes the Events API v2 rules
    assert event["dedup_key"] == "update-watcher/web-prod-01"
    payload = event["payload"]
    assert payload["summary"] == "3 updates available on web-prod-01 (1 security); 1 checker failed"
    assert (payload["source"], payload["component"], payload["severity"]) == (
        "web-prod-01",
        "Update Watcher",
        "error",
    )
    details = payload["custom_details"]
    assert details["checkers"]["apt"]["updates"][0] == {
        "package": "openssl",
        "current_version": "1.0",
        "available_version": "1.1",
        "security": True,
    }
    assert details["checkers"]["npm"]["count"] == 1
    assert details["failed_checkers"] == {"dnf": "dnf is not installed (not found on PATH)"}
    resolve = build_event("resolve", r, ONLY, options(), now=NOW)
    assert resolve == {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": "update-watcher/web-prod-01",
    }


def test_dedup_key_is_stable_and_overridable() -> None:
    r = report(CheckResult("apt", [pkg("a")]))
    one = build_event("trigger", r, ONLY, options(), now=NOW)
    two = build_event("trigger", r, ONLY, options(), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert one["dedup_key"] == two["dedup_key"]
    assert build_event("trigger", r, ONLY, options(dedup_key="x"), now=NOW)["dedup_key"] == "x"


def test_huge_lists_are_counted_not_dropped() -> None:
    many = [pkg(f"p{i}") for i in range(MAX_LISTED_PER_CHECKER + 7)]
    event = build_event("trigger", report(CheckResult("apt", many)), ONLY, options(), now=NOW)
    apt = event["payload"]["custom_details"]["checkers"]["apt"]
    assert apt["count"] == MAX_LISTED_PER_CHECKER + 7 and apt["not_listed"] == 7


def test_a_failing_checker_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "x_Packages").write_text("")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(
        "hostname: h\nwatchers:\n"
        f"  - type: apt\n    options: {{lists_dir: {tmp_path}}}\n"
        "  - type: dnf\n  - type: npm\n"
    )
    cfg = load_watcher_config(cfg_path, environ={})
    runner = ReplayRunner().add(["apt", "list"], "apt_list_upgradable_debian12.txt")
    runner.add(["npm", "outdated"], "npm_outdated_global_debian12.json", status=1)
    r = run_checks(cfg, runner)
    assert [(x.checker, x.failed) for x in r.results] == [
        ("apt", False),
        ("dnf", True),
        ("npm", False),
    ]
    assert "dnf is not installed" in (r.results[1].error or "")
    assert len(r.updates) == 126
    assert exit_code(r) == 2  # some failed, even though others found updates
    assert exit_code(run_checks(cfg, ReplayRunner())) == 3
    assert exit_code(run_checks(cfg, runner, only="npm")) == 1


def test_a_crashing_parser_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pagerbridge.updates.checkers.npm import NpmChecker

    def boom(self: Checker) -> list[Update]:
        raise KeyError("current")

    monkeypatch.setattr(NpmChecker, "find_updates", boom)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("hostname: h\nwatchers:\n  - type: npm\n")
    r = run_checks(load_watcher_config(cfg_path, environ={}), ReplayRunner())
    assert r.results[0].error == "unexpected KeyError: 'current'"
    assert exit_code(r) == 3
