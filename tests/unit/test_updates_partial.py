"""A partial report (``run --only TYPE``) says so wherever a person reads it: the apprise
notifiers' title and body, the CLI's text and JSON, the log file (which prints report_text)."""

from __future__ import annotations

from pagerbridge.updates.models import CheckResult, RunReport, Update
from pagerbridge.updates.notifiers.apprise_notify import message
from pagerbridge.updates.runner import report_json, report_text

NOTE = (
    "Partial run (--only npm): only npm was checked; not checked: apt, pip. "
    "This is not the host's full update state."
)


def partial(*results: CheckResult, not_checked: tuple[str, ...] = ("apt", "pip")) -> RunReport:
    return RunReport("h", list(results), partial=True, not_checked=list(not_checked))


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


def test_only_naming_the_one_enabled_checker_still_says_partial() -> None:
    r = partial(CheckResult("npm"), not_checked=())
    assert r.partial_note() == (
        "Partial run (--only npm): only npm was checked. This is not the host's full update state."
    )


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
