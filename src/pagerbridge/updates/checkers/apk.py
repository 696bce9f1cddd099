"""apk (Alpine): ``apk version -l '<'`` lists installed packages older than the repositories'.
apk has no security metadata, so nothing is flagged as security."""

from __future__ import annotations

import re

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update

_LINE = re.compile(r"^(?P<pkg>\S+)\s+<\s+(?P<new>\S+)")
_NAME_VERSION = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+-r\d+)$")


class ApkOptions(CheckerOptions):
    update_index: bool = False


def parse_apk_version(text: str) -> list[Update]:
    """Lines ``name-1.2.3-r0   < 1.2.4-r0`` (after the ``Installed: Available:`` header)."""
    updates = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if not match:
            continue
        split = _NAME_VERSION.match(match["pkg"])
        name, old = (split["name"], split["version"]) if split else (match["pkg"], "")
        updates.append(Update("apk", name, old, match["new"]))
    return updates


class ApkChecker(Checker):
    name = "apk"
    options_model = ApkOptions
    options: ApkOptions

    def find_updates(self) -> list[Update]:
        if self.options.update_index:
            require(self.runner.run(self.argv("apk", "update", "--quiet")))
        return parse_apk_version(require(self.runner.run(["apk", "version", "-l", "<"])).stdout)
