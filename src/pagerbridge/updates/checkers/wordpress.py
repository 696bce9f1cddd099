"""WordPress through wp-cli: core (``wp core check-update``), plugins and themes
(``wp plugin|theme list --update=available``), for each configured site."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from pagerbridge.updates.checkers._tables import parse_pipe_table
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_FIELDS = "name,status,update,version,update_version"


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
    """wp-cli output as rows: JSON (``--format=json``) or its boxed table. Notices before the
    JSON (PHP deprecations) are skipped."""
    stripped = text.strip()
    if not stripped or stripped.startswith("Success:"):
        return []
    start = stripped.find("[")
    if start != -1 and not stripped.startswith("+"):
        try:
            data: Any = json.loads(stripped[start:])
        except json.JSONDecodeError as exc:
            raise CheckerError(f"wp-cli printed something that is not JSON: {exc}") from exc
        return [{k: str(v) for k, v in row.items()} for row in data if isinstance(row, dict)]
    return parse_pipe_table(stripped)


def core_updates(rows: list[dict[str, str]], current: str, site: str) -> list[Update]:
    """The newest offered core version; a ``minor`` update (a maintenance/security release)
    ranks high."""
    if not rows:
        return []
    best = rows[0]
    return [
        Update(
            checker="wordpress",
            package=f"{site}: WordPress core",
            current_version=current,
            available_version=best.get("version", ""),
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
        return require(self.runner.run(argv)).stdout

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
