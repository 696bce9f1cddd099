"""pip: ``python -m pip list --outdated --format=json`` for one environment (its interpreter, or a
``--path`` directory), optionally against a given index or find-links directory."""

from __future__ import annotations

import json

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update


class PipOptions(CheckerOptions):
    python: str = "python3"
    path: str | None = None
    index_url: str | None = None
    find_links: str | None = None
    no_index: bool = False
    isolated: bool = False


def parse_pip_outdated(text: str) -> list[Update]:
    try:
        data = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise CheckerError(f"pip printed something that is not JSON: {exc}") from exc
    return [
        Update(
            checker="pip",
            package=str(item["name"]),
            current_version=str(item.get("version", "")),
            available_version=str(item.get("latest_version", "")),
            detail=str(item.get("latest_filetype", "")),
        )
        for item in data
    ]


class PipChecker(Checker):
    name = "pip"
    options_model = PipOptions
    options: PipOptions

    def command(self) -> list[str]:
        o = self.options
        argv = [o.python, "-m", "pip", "list", "--outdated", "--format=json"]
        argv += ["--disable-pip-version-check", "--no-input"]
        if o.isolated:
            argv.append("--isolated")
        if o.path:
            argv += ["--path", o.path]
        if o.no_index:
            argv.append("--no-index")
        if o.index_url:
            argv += ["--index-url", o.index_url]
        if o.find_links:
            argv += ["--find-links", o.find_links]
        return argv

    def find_updates(self) -> list[Update]:
        return parse_pip_outdated(require(self.runner.run(self.command())).stdout)
