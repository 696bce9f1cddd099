"""The chat/mail body (apprise notifiers): every checker is visible however long another's list
is: a summary line names each one (failed ones too) and the listed lines are shared fairly; a list
cut short shows its security updates first (PagerDuty's custom_details too)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pagerbridge.updates.checkers.apt import AptChecker
from pagerbridge.updates.checkers.npm import NpmChecker
from pagerbridge.updates.models import CheckResult, RunReport, Update
from pagerbridge.updates.notifiers.apprise_notify import MAX_LISTED, fair_shares, message
from pagerbridge.updates.notifiers.pagerduty import MAX_LISTED_PER_CHECKER, custom_details
from pagerbridge.updates.notifiers.policy import cut_short

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


def flagged(checker: str, n: int, security_at: Iterable[int]) -> list[Update]:
    """n updates in run order, the ones at ``security_at`` marked security."""
    marked = set(security_at)
    return [Update(checker, f"{checker}{i}", "1", "2", security=i in marked) for i in range(n)]


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
    # apt is cut short, so its security updates come first: 48 listed, 69 - 48 counted.
    assert (
        more == f"... and {124 - (MAX_LISTED - 2)} more from apt ({69 - (MAX_LISTED - 2)} security)"
    )
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


def listed_packages(lines: list[str], checker: str) -> list[str]:
    return [line.split()[2] for line in lines if line.startswith(f"- {checker}: ")]


def test_a_cut_short_recorded_apt_list_shows_its_security_updates_first(tmp_path: Path) -> None:
    r = recorded_apt_and_npm(tmp_path)
    apt = r.results[0].updates
    security = [u.package for u in apt if u.security]
    # Run order is alphabetical: its first 48 hold only 21 security updates, so the old order
    # hid most of them behind "... and 76 more".
    assert sum(u.security for u in apt[: MAX_LISTED - 2]) < MAX_LISTED - 2 <= len(security)
    lines = message(r, r.updates)[1].splitlines()
    apt_lines = [line for line in lines if line.startswith("- apt: ")]
    assert len(apt_lines) == MAX_LISTED - 2
    assert all(line.endswith(" [security]") for line in apt_lines)
    # ... and they are the first 48 security updates, still in run order.
    assert listed_packages(lines, "apt") == security[: MAX_LISTED - 2]
    # npm is not cut, so its lines keep run order.
    assert listed_packages(lines, "npm") == [u.package for u in r.results[1].updates]


def test_an_uncut_list_keeps_run_order() -> None:
    # Exactly MAX_LISTED with the security update last: nothing is cut, nothing moves.
    updates = flagged("apt", MAX_LISTED, [MAX_LISTED - 1])
    lines = body_of(CheckResult("apt", updates))
    assert listed_packages(lines, "apt") == [u.package for u in updates]
    assert not any(line.startswith("... and") for line in lines)


def test_a_cut_list_with_few_security_updates_fills_up_in_run_order() -> None:
    updates = flagged("apt", MAX_LISTED + 5, (3, MAX_LISTED + 1, MAX_LISTED + 4))
    lines = body_of(CheckResult("apt", updates))
    names = [u.package for u in updates]
    rest = [n for i, n in enumerate(names) if i not in (3, MAX_LISTED + 1, MAX_LISTED + 4)]
    assert listed_packages(lines, "apt") == ["apt3", "apt51", "apt54", *rest[: MAX_LISTED - 3]]
    assert lines[-1] == "... and 5 more from apt"  # none of the 5 is a security update


def test_more_security_updates_than_lines_counts_the_hidden_ones() -> None:
    lines = body_of(CheckResult("apt", ups("apt", 2 * MAX_LISTED, security_every=1)))
    assert listed_packages(lines, "apt") == [f"apt{i}" for i in range(MAX_LISTED)]
    assert lines[-1] == f"... and {MAX_LISTED} more from apt ({MAX_LISTED} security)"


@given(st.lists(st.booleans(), max_size=30), st.integers(0, 40))
def test_cut_short_properties(flags: list[bool], limit: int) -> None:
    updates = [Update("apt", f"p{i}", "1", "2", security=s) for i, s in enumerate(flags)]
    listed, rest = cut_short(updates, limit)
    assert len(listed) == min(limit, len(updates))
    assert sorted(u.package for u in listed + rest) == sorted(u.package for u in updates)
    if len(updates) <= limit:
        assert listed == updates
        return
    # security first, as many as fit; each group keeps run order.
    security = [u for u in updates if u.security]
    others = [u for u in updates if not u.security]
    assert listed == (security + others)[:limit]
    assert sum(u.security for u in rest) == max(0, len(security) - limit)


def pd_listed(updates: list[Update]) -> tuple[list[str], dict[str, object]]:
    r = RunReport("h", [CheckResult("apt", updates)])
    entry = custom_details(r, r.updates)["checkers"]["apt"]
    return [item["package"] for item in entry["updates"]], entry


def test_pagerduty_details_list_security_updates_first_when_cut() -> None:
    late = range(MAX_LISTED_PER_CHECKER - 3, MAX_LISTED_PER_CHECKER + 7)
    updates = flagged("apt", MAX_LISTED_PER_CHECKER + 7, late)  # 10 security, 7 past the old cut
    names, entry = pd_listed(updates)
    assert (entry["count"], entry["security"], entry["not_listed"]) == (
        MAX_LISTED_PER_CHECKER + 7,
        10,
        7,
    )
    assert names[:10] == [f"apt{i}" for i in late]
    # then the others in run order, as many as fit (the old order listed only 3 security ones).
    assert names[10:] == [f"apt{i}" for i in range(MAX_LISTED_PER_CHECKER - 10)]


def test_pagerduty_details_keep_run_order_when_not_cut(tmp_path: Path) -> None:
    r = recorded_apt_and_npm(tmp_path)  # 124 apt updates: under the per-checker cap
    apt = custom_details(r, r.updates)["checkers"]["apt"]
    assert [item["package"] for item in apt["updates"]] == [u.package for u in r.results[0].updates]
    assert "not_listed" not in apt
