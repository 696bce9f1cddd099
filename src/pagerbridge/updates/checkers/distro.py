"""Distribution release upgrades: Ubuntu through ``do-release-upgrade -c``; Debian by comparing
``/etc/os-release`` with ``debian-distro-info --stable`` (package distro-info)."""

from __future__ import annotations

import re
from pathlib import Path

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_NEW_RELEASE = re.compile(r"New release '([^']+)' available")
# do-release-upgrade prints this (and then "no release") when it could not fetch the meta-release
# file, so "nothing found" after it means "not checked".
_NOT_CHECKED = re.compile(r"^Failed to connect to (\S+?)\.? ", re.MULTILINE)


class DistroOptions(CheckerOptions):
    os_release: str = "/etc/os-release"


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def major(version: str) -> int:
    match = re.match(r"\d+", version.strip())
    if not match:
        raise CheckerError(f"cannot read a release number from {version!r}")
    return int(match.group(0))


def debian_upgrade(current: str, stable: str) -> Update | None:
    if major(stable) > major(current):
        return Update("distro", "Debian", current, stable, priority="normal", kind="release")
    return None


def parse_do_release_upgrade(text: str) -> str | None:
    """The release ``do-release-upgrade -c`` offers, or None when it offers none. Raises
    CheckerError when it could not reach the meta-release server (it still prints "no release")."""
    match = _NEW_RELEASE.search(text)
    if match:
        return match.group(1)
    offline = _NOT_CHECKED.search(text)
    if offline:
        raise CheckerError(
            f"do-release-upgrade could not fetch {offline.group(1)}; release not checked"
        )
    return None


class DistroChecker(Checker):
    name = "distro"
    options_model = DistroOptions
    options: DistroOptions

    def find_updates(self) -> list[Update]:
        try:
            info = parse_os_release(Path(self.options.os_release).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CheckerError(f"cannot read {self.options.os_release}: {exc.strerror}") from exc
        distro, version = info.get("ID", ""), info.get("VERSION_ID", "")
        if distro == "debian":
            stable = require(self.runner.run(["debian-distro-info", "--stable", "--release"]))
            found = debian_upgrade(version, stable.stdout.strip())
            return [found] if found else []
        if distro == "ubuntu":
            # exit 0 and "New release ... available" when there is one; 1 when there is none.
            result = require(self.runner.run(["do-release-upgrade", "-c"]), ok=(0, 1))
            new = parse_do_release_upgrade(result.stdout + result.stderr)
            if new:
                return [Update("distro", "Ubuntu", version, new, kind="release")]
            return []
        raise CheckerError(
            f"release-upgrade checks are supported on Debian and Ubuntu, not {distro or 'unknown'}"
        )
