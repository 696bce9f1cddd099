"""WordPress through wp-cli: core (``wp core check-update``), plugins and themes
(``wp plugin|theme list --update=available``), for each configured site."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from pagerbridge.updates.checkers._tables import parse_pipe_table
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_FIELDS = "name,status,update,version,update_version"
_UPDATE_CHECK_FAILED = re.compile(r"^Warning: Failed to check for updates.*$", re.MULTILINE)


class Site(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str
    environment: str = "native"
    run_as: str | None = None


class WordPressOptions(CheckerOptions):
    sites: list[Site] = []
    check_core: bool = True
    check_plugins: bool = True
    check_themes: bool = True
    wp_cli: str = "wp"
    allow_root: bool = False


def parse_wp_rows(text: str) -> list[dict[str, str]]:
    """wp-cli output as rows: ``--format=json`` (one line, a JSON array) or its boxed table.

    wp-cli prints JSON on one line, so the last line that starts with ``[`` is the payload:
    PHP notices and deprecations before it (which may contain brackets themselves) are skipped.
    A table is read as well (wp-cli/core-command#250 reports ``check-update`` answering with the
    table whatever ``--format`` said). ``[]`` and "Success: ..." mean nothing pending.
    """
    stripped = text.strip()
    if not stripped or stripped.startswith("Success:"):
        return []
    for line in reversed(stripped.splitlines()):
        if not line.lstrip().startswith("["):
            continue
        try:
            data: Any = json.loads(line)
        except json.JSONDecodeError:
            continue  # e.g. a PHP log line "[23-Nov-2026 ...] PHP Deprecated: ..."
        if isinstance(data, list):
            return [
                {k: "" if v is None else str(v) for k, v in row.items()}
                for row in data
                if isinstance(row, dict)
            ]
    rows = parse_pipe_table(stripped)
    if not rows:
        raise CheckerError(f"wp-cli printed neither JSON nor a table: {stripped[:200]!r}")
    return rows


def version_key(version: str) -> tuple[int, ...]:
    """``6.8.1`` -> (6, 8, 1): enough to order WordPress release numbers."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def core_updates(rows: list[dict[str, str]], current: str, site: str) -> list[Update]:
    """The newest core version offered (wp-cli lists the latest major and the latest minor of
    the installed branch); core updates rank high: minor ones are maintenance/security releases."""
    offered = [row for row in rows if row.get("version")]
    if not offered:
        return []
    best = max(offered, key=lambda row: version_key(row["version"]))
    if current and version_key(best["version"]) <= version_key(current):
        return []  # a stale offer (WordPress was updated since the last check): nothing pending
    return [
        Update(
            checker="wordpress",
            package=f"{site}: WordPress core",
            current_version=current,
            available_version=best["version"],
            priority="high",
            kind="core",
            detail=best.get("update_type", ""),
        )
    ]


def extension_updates(rows: list[dict[str, str]], kind: str, site: str) -> list[Update]:
    return [
        Update(
            checker="wordpress",
            package=f"{site}: {row['name']}",
            current_version=row.get("version", ""),
            available_version=row.get("update_version", ""),
            kind=kind,
            detail=row.get("status", ""),
        )
        for row in rows
        if row.get("update", "available") == "available" and row.get("name")
    ]


class WordPressChecker(Checker):
    name = "wordpress"
    options_model = WordPressOptions
    options: WordPressOptions

    def wp(self, site: Site, *args: str) -> str:
        argv = [self.options.wp_cli, f"--path={site.path}", *args]
        if self.options.allow_root:
            argv.append("--allow-root")
        if site.run_as:
            argv = ["sudo", "-n", "-u", site.run_as, *argv]
        result = require(self.runner.run(argv))
        # wp-cli warns and still exits 0 when WordPress.org's update API cannot be reached
        # (core-command's feature "Check update shows warning when version check API fails").
        failed = _UPDATE_CHECK_FAILED.search(result.stderr)
        if failed:
            raise CheckerError(f"site {site.name!r}: {failed.group(0).strip()}")
        return result.stdout

    def find_updates(self) -> list[Update]:
        if not self.options.sites:
            raise CheckerError("no WordPress sites configured (options.sites)")
        updates: list[Update] = []
        for site in self.options.sites:
            if site.environment != "native":
                raise CheckerError(
                    f"site {site.name!r}: environment {site.environment!r} is not supported; "
                    "use native (run wp-cli on this host)"
                )
            if self.options.check_core:
                current = self.wp(site, "core", "version").strip().splitlines()[-1:] or [""]
                rows = parse_wp_rows(self.wp(site, "core", "check-update", "--format=json"))
                updates += core_updates(rows, current[0], site.name)
            for kind, enabled in (
                ("plugin", self.options.check_plugins),
                ("theme", self.options.check_themes),
            ):
                if enabled:
                    out = self.wp(
                        site,
                        kind,
                        "list",
                        "--update=available",
                        f"--fields={_FIELDS}",
                        "--format=json",
                    )
                    updates += extension_updates(parse_wp_rows(out), kind, site.name)
        return updates
