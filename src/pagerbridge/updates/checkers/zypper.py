"""zypper (openSUSE, SLES): ``zypper list-updates`` for packages and ``zypper list-patches
--category security`` for needed security patches (reported as their own items: zypper does not
say which packages a patch touches without one more call per patch)."""

from __future__ import annotations

from pagerbridge.updates.checkers._tables import parse_pipe_table
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update

# zypper exits 100 (updates needed) / 101 (security patches needed) on success.
_OK = (0, 100, 101, 102, 103)


def parse_list_updates(text: str) -> list[Update]:
    """``zypper list-updates``: S | Repository | Name | Current Version | Available Version."""
    return [
        Update(
            checker="zypper",
            package=row["Name"],
            current_version=row.get("Current Version", ""),
            available_version=row.get("Available Version", ""),
            source=row.get("Repository", ""),
        )
        for row in parse_pipe_table(text)
        if "Name" in row and "Available Version" in row
    ]


def parse_list_patches(text: str, *, security_only: bool = True) -> list[Update]:
    """Needed patches from ``zypper list-patches`` (Repository | Name | Category | ...)."""
    patches = []
    for row in parse_pipe_table(text):
        if "Category" not in row or row.get("Status", "needed") not in ("needed", "Needed"):
            continue
        security = row["Category"] == "security"
        if security_only and not security:
            continue
        severity = row.get("Severity", "")
        patches.append(
            Update(
                checker="zypper",
                package=row["Name"],
                current_version="",
                available_version="",
                security=security,
                priority=(
                    "critical"
                    if severity == "critical"
                    else "high"
                    if security or severity == "important"
                    else "normal"
                ),
                kind="patch",
                source=row.get("Repository", ""),
                detail=row.get("Summary", ""),
            )
        )
    return patches


class ZypperChecker(Checker):
    name = "zypper"
    options_model = CheckerOptions

    def find_updates(self) -> list[Update]:
        base = ("zypper", "--non-interactive", "--quiet")
        packages = require(self.runner.run(self.argv(*base, "list-updates")), ok=_OK)
        patches = require(
            self.runner.run(self.argv(*base, "list-patches", "--category", "security")), ok=_OK
        )
        return parse_list_updates(packages.stdout) + parse_list_patches(patches.stdout)
