"""Homebrew: ``brew outdated --json=v2`` (formulae and, unless disabled, casks)."""

from __future__ import annotations

import json
from typing import Any

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update


class HomebrewOptions(CheckerOptions):
    include_casks: bool = True
    binary: str = "brew"


def parse_outdated_json(text: str) -> list[Update]:
    try:
        data: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckerError(f"brew printed something that is not JSON: {exc}") from exc
    updates = []
    for kind in ("formulae", "casks"):
        for item in data.get(kind) or []:
            installed = item.get("installed_versions") or []
            updates.append(
                Update(
                    checker="homebrew",
                    package=str(item.get("name", "")),
                    current_version=", ".join(str(v) for v in installed),
                    available_version=str(item.get("current_version", "")),
                    kind="cask" if kind == "casks" else "formula",
                    detail="pinned" if item.get("pinned") else "",
                )
            )
    return updates


class HomebrewChecker(Checker):
    name = "homebrew"
    options_model = HomebrewOptions
    options: HomebrewOptions

    def find_updates(self) -> list[Update]:
        argv = [self.options.binary, "outdated", "--json=v2"]
        if not self.options.include_casks:
            argv.append("--formula")
        return parse_outdated_json(require(self.runner.run(argv)).stdout)
