"""snap: ``snap refresh --list`` (the store's new version and revision) joined with ``snap list``
(the installed version)."""

from __future__ import annotations

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update


def parse_snap_table(text: str) -> dict[str, tuple[str, str]]:
    """``Name Version Rev ...`` tables as {name: (version, revision)}; other lines are ignored."""
    rows: dict[str, tuple[str, str]] = {}
    seen_header = False
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "Name" and "Version" in fields:
            seen_header = True
            continue
        if seen_header and len(fields) >= 3:
            rows[fields[0]] = (fields[1], fields[2])
    return rows


def merge(
    refresh: dict[str, tuple[str, str]], installed: dict[str, tuple[str, str]]
) -> list[Update]:
    return [
        Update(
            checker="snap",
            package=name,
            current_version=installed.get(name, ("", ""))[0],
            available_version=version,
            detail=f"revision {rev}",
        )
        for name, (version, rev) in refresh.items()
    ]


class SnapChecker(Checker):
    name = "snap"
    options_model = CheckerOptions

    def find_updates(self) -> list[Update]:
        # "All snaps up to date." goes to stderr with an empty stdout.
        refresh = parse_snap_table(require(self.runner.run(["snap", "refresh", "--list"])).stdout)
        if not refresh:
            return []
        installed = parse_snap_table(require(self.runner.run(["snap", "list"])).stdout)
        return merge(refresh, installed)
