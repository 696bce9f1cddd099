"""flatpak: ``flatpak remote-ls --updates`` (apps and runtimes with a newer commit). Piped,
flatpak prints tab-separated columns; on a terminal, an aligned table with a header: both parse."""

from __future__ import annotations

from pagerbridge.updates.checkers._tables import parse_aligned_table
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update

COLUMNS = ("name", "application", "version", "branch", "arch")
_HEADER = {
    "Name": "name",
    "Application ID": "application",
    "Version": "version",
    "Branch": "branch",
    "Arch": "arch",
}


def parse_remote_ls(text: str) -> list[Update]:
    if "\t" in text:
        rows = [dict(zip(COLUMNS, line.split("\t"), strict=False)) for line in text.splitlines()]
    else:
        rows = [
            {_HEADER.get(k, k): v for k, v in row.items()}
            for row in parse_aligned_table(text, "Name")
        ]
    updates = []
    for row in rows:
        app = row.get("application", "").strip()
        if not app:
            continue
        updates.append(
            Update(
                checker="flatpak",
                package=app,
                current_version="",
                available_version=row.get("version", "").strip() or row.get("branch", "").strip(),
                kind="flatpak",
                detail=row.get("name", "").strip(),
            )
        )
    return updates


class FlatpakChecker(Checker):
    name = "flatpak"
    options_model = CheckerOptions

    def find_updates(self) -> list[Update]:
        argv = ["flatpak", "remote-ls", "--updates", "--columns=" + ",".join(COLUMNS)]
        return parse_remote_ls(require(self.runner.run(argv)).stdout)
