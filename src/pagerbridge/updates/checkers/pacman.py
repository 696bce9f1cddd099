"""pacman (Arch): ``checkupdates`` (pacman-contrib; never touches the system's sync databases),
plus ``arch-audit`` when installed to flag the updates that fix known vulnerabilities."""

from __future__ import annotations

import re
from typing import Literal

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update

_UPDATE = re.compile(r"^(?P<name>\S+)\s+(?P<old>\S+)\s+->\s+(?P<new>\S+)")
_AUDIT = re.compile(
    r"^(?:Package )?(?P<name>\S+) is affected by (?P<issues>.+?)\.\s+"
    r"(?P<risk>Critical|High|Medium|Low|Unknown) risk!"
)


class PacmanOptions(CheckerOptions):
    arch_audit: Literal["auto", "always", "never"] = "auto"


def parse_checkupdates(text: str) -> list[tuple[str, str, str]]:
    """``checkupdates`` lines ``name old -> new`` as (name, old, new)."""
    return [
        (m["name"], m["old"], m["new"])
        for m in (_UPDATE.match(line.strip()) for line in text.splitlines())
        if m
    ]


def parse_arch_audit(text: str) -> dict[str, tuple[str, str]]:
    """``arch-audit`` lines as {package: (issues, risk)}."""
    return {
        m["name"]: (m["issues"], m["risk"])
        for m in (_AUDIT.match(line.strip()) for line in text.splitlines())
        if m
    }


def merge(rows: list[tuple[str, str, str]], audit: dict[str, tuple[str, str]]) -> list[Update]:
    updates = []
    for name, old, new in rows:
        issue = audit.get(name)
        risk = issue[1] if issue else ""
        updates.append(
            Update(
                checker="pacman",
                package=name,
                current_version=old,
                available_version=new,
                security=issue is not None,
                priority="critical" if risk == "Critical" else "high" if issue else "normal",
                detail=f"{issue[0]} ({risk} risk)" if issue else "",
            )
        )
    return updates


class PacmanChecker(Checker):
    name = "pacman"
    options_model = PacmanOptions
    options: PacmanOptions

    def find_updates(self) -> list[Update]:
        # checkupdates exits 0 with updates, 2 when there are none, 1 on failure.
        rows = parse_checkupdates(require(self.runner.run(["checkupdates"]), ok=(0, 2)).stdout)
        audit: dict[str, tuple[str, str]] = {}
        use_audit = self.options.arch_audit
        if rows and (
            use_audit == "always" or (use_audit == "auto" and self.runner.which("arch-audit"))
        ):
            audit = parse_arch_audit(require(self.runner.run(["arch-audit"]), ok=(0, 1)).stdout)
        return merge(rows, audit)
