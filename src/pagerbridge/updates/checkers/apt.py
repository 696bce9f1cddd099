"""apt (Debian, Ubuntu): ``apt list --upgradable``; security = the candidate comes from a
``*-security`` suite (``bookworm-security``, ``oldstable-security``, ``jammy-security``)."""

from __future__ import annotations

import re
from pathlib import Path

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_LINE = re.compile(
    r"^(?P<name>[^/\s]+)/(?P<suites>\S+)\s+(?P<new>\S+)\s+(?P<arch>\S+)"
    r"(?:\s+\[upgradable from: (?P<old>[^\]]+)\])?"
)


class AptOptions(CheckerOptions):
    lists_dir: str = "/var/lib/apt/lists"
    update_lists: bool = False


def parse_apt_list_upgradable(text: str) -> list[Update]:
    """``apt list --upgradable``: ``name/suite[,suite] new arch [upgradable from: old]`` lines."""
    updates = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue  # "Listing...", warnings, blank lines
        suites = match["suites"].split(",")
        security = any(s.endswith("-security") or s == "security" for s in suites)
        updates.append(
            Update(
                checker="apt",
                package=match["name"],
                current_version=match["old"] or "",
                available_version=match["new"],
                security=security,
                priority="high" if security else "normal",
                source=match["suites"],
            )
        )
    return updates


def has_package_lists(lists_dir: Path) -> bool:
    """True when ``apt-get update`` has fetched at least one Packages index."""
    try:
        return any("_Packages" in p.name for p in lists_dir.iterdir())
    except OSError:
        return False


class AptChecker(Checker):
    name = "apt"
    options_model = AptOptions
    options: AptOptions

    def find_updates(self) -> list[Update]:
        if self.options.update_lists:
            require(self.runner.run(self.argv("apt-get", "update", "-qq")))
        if not has_package_lists(Path(self.options.lists_dir)):
            raise CheckerError(
                f"apt has no package lists in {self.options.lists_dir}: run `apt-get update` "
                "first (or set `update_lists: true`)"
            )
        result = require(self.runner.run(self.argv("apt", "list", "--upgradable")))
        return parse_apt_list_upgradable(result.stdout)
