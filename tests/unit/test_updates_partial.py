"""A partial report (``run --only TYPE`` leaving an enabled watcher out) says so wherever a person
reads it: the apprise notifiers' title and body, the CLI's text and JSON, the log file (which
prints report_text). ``--only`` naming every enabled watcher type is a full run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pagerbridge.updates.config import load_watcher_config
from pagerbridge.updates.models import CheckResult, RunReport, Update
from pagerbridge.updates.notifiers.apprise_notify import message
from pagerbridge.updates.runner import report_json, report_text, run_checks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_updates_replay import ReplayRunner

NOTE = (
    "Partial run (--only npm): only npm was checked; not checked: apt, pip. "
    "This is not the host's full update state."
)


def partial(*results: CheckResult, not_checked: tuple[str, ...] = ("apt", "pip")) -> RunReport:
    return RunReport("h", list(results), not_checked=list(not_checked))


def test_a_clean_partial_run_is_not_told_as_everything_up_to_date() -> None:
    r = partial(CheckResult("npm"))
    assert message(r, []) == (
        "Update Watcher (partial run: npm only): No updates available on h",
        f"{NOTE}\nNo updates found by npm.",
    )


def test_a_partial_run_lists_its_updates_and_failures_after_the_note() -> None:
    up = Update("npm", "corepack", "0.29.4", "0.34.0")
    r = partial(CheckResult("npm", [up]), CheckResult("npm", error="boom"))
    title, body = message(r, r.updates)
    assert (
        title == "Update Watcher (partial run: npm only): 1 update available on h; 1 checker failed"
    )
    assert body.splitlines() == [NOTE, "- npm: corepack 0.29.4 -> 0.34.0", "! npm failed: boom"]


def test_a_report_that_left_nothing_out_is_not_partial() -> None:
    r = RunReport("h", [CheckResult("npm")], not_checked=[])
    assert not r.partial and r.partial_note() is None
    assert message(r, []) == (
        "Update Watcher: No updates available on h",
        "Everything is up to date.",
    )


def _config(tmp_path: Path, watchers: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(f"hostname: h\nwatchers:\n{watchers}")
    return path


NPM_ONLY = "  - type: npm\n"
TWO_PIPS = (
    "  - type: pip\n    options: {python: /a/python}\n"
    "  - type: pip\n    options: {python: /b/python}\n"
)


@pytest.mark.parametrize(
    ("watchers", "only", "not_checked"),
    [
        (NPM_ONLY, "npm", []),  # the host's one watcher: the whole host
        (NPM_ONLY + "  - type: apt\n    enabled: false\n", "npm", []),  # disabled ones don't count
        (TWO_PIPS, "pip", []),  # --only runs every entry of that type
        (NPM_ONLY + "  - type: apt\n  - type: pip\n", "npm", ["apt", "pip"]),
        (NPM_ONLY + TWO_PIPS, "pip", ["npm"]),
        (NPM_ONLY + "  - type: apt\n", None, []),  # no --only: a full run
    ],
)
def test_partial_is_decided_by_what_the_run_covered(
    tmp_path: Path, watchers: str, only: str | None, not_checked: list[str]
) -> None:
    cfg = load_watcher_config(_config(tmp_path, watchers), environ={})
    r = run_checks(cfg, ReplayRunner(), only=only)
    assert r.not_checked == not_checked
    assert r.partial is bool(not_checked)
    assert report_json(r, None)["partial"] is bool(not_checked)


def test_a_full_run_reads_as_before() -> None:
    r = RunReport("h", [CheckResult("apt")])
    assert r.partial_note() is None
    assert message(r, []) == (
        "Update Watcher: No updates available on h",
        "Everything is up to date.",
    )
    assert report_text(r) == ["apt: 0 update(s)"]
    assert report_json(r, None)["partial"] is False and "not_checked" not in report_json(r, None)


def test_cli_text_and_json_mark_a_partial_run() -> None:
    r = partial(CheckResult("npm"))
    assert report_text(r)[0] == NOTE
    data = report_json(r, None)
    assert data["partial"] is True and data["not_checked"] == ["apt", "pip"]
