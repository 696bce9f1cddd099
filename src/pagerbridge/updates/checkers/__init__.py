"""The checkers, one module per tool, and the table of types the config may name."""

from __future__ import annotations

from pagerbridge.updates.checkers.apk import ApkChecker
from pagerbridge.updates.checkers.apt import AptChecker
from pagerbridge.updates.checkers.base import Checker, CheckerOptions
from pagerbridge.updates.checkers.distro import DistroChecker
from pagerbridge.updates.checkers.dnf import DnfChecker
from pagerbridge.updates.checkers.docker import DockerChecker
from pagerbridge.updates.checkers.flatpak import FlatpakChecker
from pagerbridge.updates.checkers.homebrew import HomebrewChecker
from pagerbridge.updates.checkers.npm import NpmChecker
from pagerbridge.updates.checkers.pacman import PacmanChecker
from pagerbridge.updates.checkers.pip import PipChecker
from pagerbridge.updates.checkers.snap import SnapChecker
from pagerbridge.updates.checkers.wordpress import WordPressChecker
from pagerbridge.updates.checkers.zypper import ZypperChecker

CHECKERS: dict[str, type[Checker]] = {
    c.name: c
    for c in (
        AptChecker,
        DnfChecker,
        ZypperChecker,
        PacmanChecker,
        ApkChecker,
        SnapChecker,
        FlatpakChecker,
        HomebrewChecker,
        NpmChecker,
        PipChecker,
        DockerChecker,
        WordPressChecker,
        DistroChecker,
    )
}

__all__ = ["CHECKERS", "Checker", "CheckerOptions"]
