"""npm (global packages): ``npm outdated --global --json``; exits 1 when something is outdated."""

from __future__ import annotations

import json

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update


class NpmOptions(CheckerOptions):
    binary: str = "npm"


def parse_outdated_json(text: str) -> list[Update]:
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckerError(f"npm printed something that is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckerError("npm outdated --json did not print an object")
    if "error" in data and isinstance(data["error"], dict):
        raise CheckerError(f"npm: {data['error'].get('summary', 'error')}")
    return [
        Update(
            checker="npm",
            package=name,
            current_version=str(info.get("current", "")),
            available_version=str(info.get("latest", "")),
            detail=f"wanted {info['wanted']}" if info.get("wanted") != info.get("latest") else "",
        )
        for name, info in sorted(data.items())
        if isinstance(info, dict)
    ]


class NpmChecker(Checker):
    name = "npm"
    options_model = NpmOptions
    options: NpmOptions

    def find_updates(self) -> list[Update]:
        result = self.runner.run([self.options.binary, "outdated", "--global", "--json"])
        return parse_outdated_json(require(result, ok=(0, 1)).stdout)
