"""dnf / yum (Fedora, RHEL and clones): ``dnf check-update`` for every pending update, and
``dnf updateinfo list --security --updates`` for the advisories that make some of them security
fixes (severity Critical/Important raises the priority)."""

from __future__ import annotations

import re

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import require
from pagerbridge.updates.models import Update

_ARCHES = r"(?:x86_64|noarch|i686|i386|aarch64|ppc64le|s390x|armv7hl|src)"
_CHECK_LINE = re.compile(rf"^(?P<name>\S+)\.(?P<arch>{_ARCHES})\s+(?P<version>\S+)\s+(?P<repo>\S+)")
_ADVISORY = re.compile(r"^\s*(?P<id>\S+)\s+(?P<severity>[A-Za-z]+)/Sec\.\s+(?P<nevra>\S+)")
_NEVRA_ARCH = re.compile(rf"\.{_ARCHES}$")


class DnfOptions(CheckerOptions):
    binary: str = "dnf"


def parse_check_update(text: str) -> list[tuple[str, str, str, str]]:
    """``dnf check-update`` rows as (name, arch, version, repo); stops at "Obsoleting Packages"."""
    rows = []
    for line in text.splitlines():
        if line.startswith("Obsoleting"):
            break
        match = _CHECK_LINE.match(line)
        if match:
            rows.append((match["name"], match["arch"], match["version"], match["repo"]))
    return rows


def nevra_name(nevra: str) -> str:
    """``389-ds-base-1.3.1.6-26.el7_0.x86_64`` -> ``389-ds-base``."""
    stripped = _NEVRA_ARCH.sub("", nevra)
    parts = stripped.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else stripped


def parse_security_advisories(text: str) -> dict[str, tuple[str, str]]:
    """``updateinfo list --security`` as {package name: (advisory id, severity)}."""
    found: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = _ADVISORY.match(line)
        if match:
            found[nevra_name(match["nevra"])] = (match["id"], match["severity"])
    return found


def severity_priority(severity: str) -> str:
    return {"critical": "critical", "important": "high"}.get(severity.lower(), "high")


def merge(
    rows: list[tuple[str, str, str, str]], advisories: dict[str, tuple[str, str]]
) -> list[Update]:
    updates = []
    for name, arch, version, repo in rows:
        advisory = advisories.get(name)
        updates.append(
            Update(
                checker="dnf",
                package=f"{name}.{arch}",
                current_version="",
                available_version=version,
                security=advisory is not None,
                priority=severity_priority(advisory[1]) if advisory else "normal",
                source=repo,
                detail=f"{advisory[0]} ({advisory[1]})" if advisory else "",
            )
        )
    return updates


class DnfChecker(Checker):
    name = "dnf"
    options_model = DnfOptions
    options: DnfOptions

    def find_updates(self) -> list[Update]:
        dnf = self.options.binary
        # check-update exits 100 when updates are pending, 0 when none, 1 on error.
        rows = parse_check_update(
            require(self.runner.run(self.argv(dnf, "-q", "check-update")), ok=(0, 100)).stdout
        )
        if not rows:
            return []
        sec = self.runner.run(self.argv(dnf, "-q", "updateinfo", "list", "--security", "--updates"))
        advisories = parse_security_advisories(require(sec).stdout)
        return merge(rows, advisories)
