"""dnf / yum (Fedora, RHEL and clones): ``dnf check-update`` for every pending update, and
``dnf updateinfo list --security --updates`` for the advisories that make some of them security
fixes (severity Critical/Important raises the priority). dnf4's and dnf5's output forms are
both read (dnf5 answers ``check-update`` and ``updateinfo`` as aliases)."""

from __future__ import annotations

import re

from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.commands import CheckerError, require
from pagerbridge.updates.models import Update

_ARCHES = r"(?:x86_64|noarch|i686|i386|aarch64|ppc64le|s390x|armv7hl|src)"
_CHECK_LINE = re.compile(rf"^(?P<name>\S+)\.(?P<arch>{_ARCHES})\s+(?P<version>\S+)\s+(?P<repo>\S+)")
# dnf4: "[i ]ID  Important/Sec.  nevra" (or "ID  security  nevra" when the advisory has no severity)
_ADVISORY = re.compile(
    r"^\s*(?:i\s+)?(?P<id>\S+)\s+(?:(?P<severity>[A-Za-z]+)/Sec\.|security)\s+(?P<nevra>\S+)\s*$"
)
# dnf5: a table "Name  Type  Severity  Package  Issued" (Severity may be empty, Issued is 2 words)
_DNF5_HEADER = re.compile(r"^\s*Name\s+Type\s+Severity\s+Package\s+Issued\s*$")
_NEVRA_ARCH = re.compile(rf"\.{_ARCHES}$")
_SEVERITY_RANK = {"low": 1, "moderate": 2, "important": 3, "critical": 4}


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
    """``updateinfo list --security`` as {package name: (advisory id, severity)}, from dnf4's
    lines or dnf5's table (dnf5 lists every type unless filtered, so its Type column decides).
    A package named by several advisories keeps the most severe (the first one on a tie)."""
    found: dict[str, tuple[str, str]] = {}

    def add(nevra: str, advisory: str, severity: str) -> None:
        name = nevra_name(nevra)
        if name not in found or _rank(severity) > _rank(found[name][1]):
            found[name] = (advisory, severity)

    dnf5 = False
    for line in text.splitlines():
        if _DNF5_HEADER.match(line):
            dnf5 = True
            continue
        if dnf5:
            fields = line.split()
            if len(fields) in (5, 6) and fields[1] == "security":
                add(fields[-3], fields[0], fields[2] if len(fields) == 6 else "")
            continue
        match = _ADVISORY.match(line)
        if match:
            add(match["nevra"], match["id"], match["severity"] or "")
    return found


def _rank(severity: str) -> int:
    return _SEVERITY_RANK.get(severity.lower(), 0)


def severity_priority(severity: str) -> str:
    return {"critical": "critical", "important": "high"}.get(severity.lower(), "high")


def parse_rpm_query(text: str) -> dict[str, str]:
    """``rpm -q name.arch ...`` (default format: one NEVRA per installed match) as
    {"name.arch": "version-release"}; "package ... is not installed" lines are skipped. rpm's
    default format has no epoch. For several installed versions (kernels) the last line wins."""
    installed = {}
    for line in text.splitlines():
        nevra = line.strip()
        arch = _NEVRA_ARCH.search(nevra)
        if not arch or " " in nevra:
            continue
        parts = nevra[: arch.start()].rsplit("-", 2)
        if len(parts) == 3:
            installed[f"{parts[0]}{arch.group(0)}"] = f"{parts[1]}-{parts[2]}"
    return installed


def merge(
    rows: list[tuple[str, str, str, str]],
    advisories: dict[str, tuple[str, str]],
    installed: dict[str, str] | None = None,
) -> list[Update]:
    updates = []
    for name, arch, version, repo in rows:
        advisory = advisories.get(name)
        updates.append(
            Update(
                checker="dnf",
                package=f"{name}.{arch}",
                current_version=(installed or {}).get(f"{name}.{arch}", ""),
                available_version=version,
                security=advisory is not None,
                priority=severity_priority(advisory[1]) if advisory else "normal",
                source=repo,
                detail=(f"{advisory[0]} ({advisory[1]})" if advisory[1] else advisory[0])
                if advisory
                else "",
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
        return merge(rows, advisories, self.installed_versions(rows))

    def installed_versions(self, rows: list[tuple[str, str, str, str]]) -> dict[str, str]:
        """Current versions from ``rpm -q`` (exit status = number of names not installed). Only
        a nicety for the report: without rpm the versions stay blank, the check still counts."""
        try:
            result = self.runner.run(["rpm", "-q", *(f"{name}.{arch}" for name, arch, *_ in rows)])
        except CheckerError:
            return {}
        return parse_rpm_query(result.stdout)
