"""zypper (openSUSE, SLES): ``zypper list-updates`` for packages, ``zypper list-patches
--category security`` for needed security patches, and one ``zypper info -t patch NAME...`` for
the packages those patches fix (their ``Conflicts``: ``name < fixed-version``). A package a
security patch fixes is flagged as a security update; a patch none of whose packages is in the
update list is reported as its own item, as is every patch when ``info`` cannot be read."""

from __future__ import annotations

import dataclasses
import re

from pagerbridge.updates.checkers._tables import parse_pipe_table
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_PATCH_HEADER = re.compile(r"^Information for patch (?P<name>\S+):\s*$")
_CONFLICTS = re.compile(r"^Conflicts\s*:\s*(?P<rest>.*)$")
_CONFLICT_ENTRY = re.compile(r"^(?P<name>[^\s<>=]+)\s*<\s*\S+$")
_ARCH_SUFFIX = re.compile(r"\.(?:x86_64|noarch|i586|i686|aarch64|ppc64le|s390x|armv7hl|src|nosrc)$")

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


def parse_patch_info(text: str) -> dict[str, list[str]]:
    """``zypper info -t patch NAME...`` as {patch: [package names it fixes]}. Its ``Conflicts``
    are ``name[.arch] < fixed-version``, inline for one entry, else ``[N]`` and one per line;
    source packages (``srcpackage:``, ``.src``) are left out."""
    fixes: dict[str, list[str]] = {}
    patch: str | None = None
    in_conflicts = False
    for line in text.splitlines():
        header = _PATCH_HEADER.match(line)
        if header:
            patch, in_conflicts = header["name"], False
            fixes[patch] = []
            continue
        if patch is None:
            continue
        conflicts = _CONFLICTS.match(line)
        if conflicts:
            in_conflicts = True
            rest = conflicts["rest"].strip()
            if rest and not rest.startswith("["):
                _add_fixed(fixes[patch], rest)
            continue
        if in_conflicts and line.startswith((" ", "\t")) and line.strip():
            _add_fixed(fixes[patch], line.strip())
        else:
            in_conflicts = False
    return fixes


def _add_fixed(names: list[str], entry: str) -> None:
    match = _CONFLICT_ENTRY.match(entry)
    if not match or match["name"].startswith("srcpackage:") or match["name"].endswith(".src"):
        return
    name = _ARCH_SUFFIX.sub("", match["name"])
    if name not in names:
        names.append(name)


def merge_patches(
    packages: list[Update], patches: list[Update], fixes: dict[str, list[str]]
) -> list[Update]:
    """Flag the packages each security patch fixes; keep a patch as its own item only when none
    of its packages is in the update list (or its packages are unknown)."""
    by_name = {u.package: i for i, u in enumerate(packages)}
    merged = list(packages)
    leftover = []
    for patch in patches:
        hits = [by_name[name] for name in fixes.get(patch.package, []) if name in by_name]
        if not hits:
            leftover.append(patch)
            continue
        for i in hits:
            merged[i] = dataclasses.replace(
                merged[i],
                security=merged[i].security or patch.security,
                priority=_max_priority(merged[i].priority, patch.priority),
                detail=f"{patch.package} ({patch.detail})" if patch.detail else patch.package,
            )
    return merged + leftover


_PRIORITY_ORDER = ("low", "normal", "high", "critical")


def _max_priority(a: str, b: str) -> str:
    rank = {p: i for i, p in enumerate(_PRIORITY_ORDER)}
    return a if rank.get(a, 1) >= rank.get(b, 1) else b


class ZypperChecker(Checker):
    name = "zypper"
    options_model = CheckerOptions

    def find_updates(self) -> list[Update]:
        base = ("zypper", "--non-interactive", "--quiet")
        packages = require(self.runner.run(self.argv(*base, "list-updates")), ok=_OK)
        patches = require(
            self.runner.run(self.argv(*base, "list-patches", "--category", "security")), ok=_OK
        )
        updates = parse_list_updates(packages.stdout)
        needed = parse_list_patches(patches.stdout)
        if not needed:
            return updates
        try:
            info = self.runner.run(
                self.argv(*base, "info", "-t", "patch", *(p.package for p in needed))
            )
            fixes = parse_patch_info(require(info, ok=_OK).stdout)
        except CheckerError:
            fixes = {}  # the patches still count, as their own items
        return merge_patches(updates, needed, fixes)
