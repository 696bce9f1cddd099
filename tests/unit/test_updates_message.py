"""The chat/mail body (apprise notifiers): every checker is visible however long another's list
is: a summary line names each one (failed ones too) and the listed lines are shared fairly."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pagerbridge.updates.checkers.apt import AptChecker
from pagerbridge.updates.checkers.npm import NpmChecker
from pagerbridge.updates.models import CheckResult, RunReport, Update
from pagerbridge.updates.notifiers.apprise_notify import MAX_LISTED, fair_shares, message

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_updates_replay import ReplayRunner


def ups(checker: str, n: int, security_every: int = 0) -> list[Update]:
    return [
        Update(
            checker,
            f"{checker}{i}",
            "1",
            "2",
            security=bool(security_every) and i % security_every == 0,
        )
        for i in range(n)
    ]


def body_of(*results: CheckResult) -> list[str]:
    r = RunReport("h", list(results))
    return message(r, r.updates)[1].splitlines()


def recorded_apt_and_npm(tmp_path: Path) -> RunReport:
    """The real apt (124 updates, 69 security) and npm (2) outputs of the Debian 12 fixtures."""
    (tmp_path / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    runner = ReplayRunner().add(["apt", "list", "--upgradable"], "apt_list_upgradable_debian12.txt")
    runner.add(["npm", "outdated"], "npm_outdated_global_debian12.json", status=1)
    apt = AptChecker.from_options({"lists_dir": str(tmp_path)}, runner).check()
    npm = NpmChecker.from_options({}, runner).check()
    return RunReport("web-prod-01", [CheckResult("apt", apt), CheckResult("npm", npm)])


def test_a_small_checker_is_not_hidden_by_a_large_one(tmp_path: Path) -> None:
    r = recorded_apt_and_npm(tmp_path)
    assert (len(r.results[0].updates), r.results[0].security_count) == (124, 69)
    npm = r.results[1].updates
    assert len(npm) == 2
    title, body = message(r, r.updates)
    assert title == "Update Watcher: 126 updates available on web-prod-01 (69 security)"
    lines = body.splitlines()
    assert lines[0] == "apt: 124 (69 security), npm: 2"
    for u in npm:  # npm's updates are listed, not just counted
        assert f"- npm: {u.package} {u.current_version} -> {u.available_version}" in lines
    listed = [line for line in lines if line.startswith("- ")]
    assert len(listed) == MAX_LISTED
    assert sum(line.startswith("- apt: ") for line in listed) == MAX_LISTED - 2
    (more,) = [line for line in lines if line.startswith("... and")]
    hidden_security = sum(u.security for u in r.results[0].updates[MAX_LISTED - 2 :])
    assert more == f"... and {124 - (MAX_LISTED - 2)} more from apt ({hidden_security} security)"
    # apt's lines, then its count, then npm's: each "more" sits under its own checker.
    assert lines.index(more) == 1 + MAX_LISTED - 2
    assert "partial" not in body.lower()


def test_one_checker_reads_as_before_but_says_whose_rest_is_counted() -> None:
    lines = body_of(CheckResult("apt", ups("apt", MAX_LISTED + 3)))
    assert lines[0] == "- apt: apt0 1 -> 2"  # no summary line: the title already says it all
    assert len(lines) == MAX_LISTED + 1
    assert lines[-1] == "... and 3 more from apt"
    assert body_of(CheckResult("apt", ups("apt", 2))) == [
        "- apt: apt0 1 -> 2",
        "- apt: apt1 1 -> 2",
    ]


def test_the_summary_names_failed_and_clean_checkers() -> None:
    lines = body_of(
        CheckResult("apt", ups("apt", 3, security_every=2)),
        CheckResult("dnf", error="dnf is not installed"),
        CheckResult("npm"),
    )
    assert lines == [
        "apt: 3 (2 security), dnf: failed, npm: 0",
        "- apt: apt0 1 -> 2 [security]",
        "- apt: apt1 1 -> 2",
        "- apt: apt2 1 -> 2 [security]",
        "! dnf failed: dnf is not installed",
    ]


def test_a_type_run_twice_with_one_run_failing_says_so() -> None:
    lines = body_of(
        CheckResult("pip", ups("pip", 1)), CheckResult("pip", error="x"), CheckResult("npm")
    )
    assert lines[0] == "pip: 1 (1 of 2 runs failed), npm: 0"


def test_a_clean_multi_checker_run() -> None:
    assert body_of(CheckResult("apt"), CheckResult("npm")) == [
        "apt: 0, npm: 0",
        "Everything is up to date.",
    ]


def test_many_large_checkers_share_the_budget_and_stay_bounded() -> None:
    results = [CheckResult(c, ups(c, 40)) for c in ("apt", "snap", "flatpak", "pip")]
    lines = body_of(*results)
    listed = [line for line in lines if line.startswith("- ")]
    assert len(listed) == MAX_LISTED
    for c in ("apt", "snap", "flatpak", "pip"):
        mine = sum(line.startswith(f"- {c}: ") for line in listed)
        assert mine in (MAX_LISTED // 4, MAX_LISTED // 4 + 1)
        assert f"... and {40 - mine} more from {c}" in lines
    assert len(lines) == 1 + MAX_LISTED + 4


def test_fair_shares_examples() -> None:
    assert fair_shares([124, 2], 50) == [48, 2]
    assert fair_shares([2, 124], 50) == [2, 48]
    assert fair_shares([10, 20], 50) == [10, 20]
    assert fair_shares([30, 30, 30], 50) == [17, 17, 16]
    assert fair_shares([100, 5, 100, 0], 50) == [23, 5, 22, 0]
    assert fair_shares([], 50) == []


@given(st.lists(st.integers(0, 500), max_size=20), st.integers(0, 200))
def test_fair_shares_properties(counts: list[int], budget: int) -> None:
    shares = fair_shares(counts, budget)
    assert all(0 <= s <= c for s, c in zip(shares, counts, strict=True))
    assert sum(shares) == min(sum(counts), budget)
    # max-min fair: a checker cut short got at least as much as any other checker.
    for s, c in zip(shares, counts, strict=True):
        if s < c:
            assert all(s >= other - 1 for other in shares)
