"""The command runner checkers use: real subprocesses in production, a replay of fixtures in tests.

Checkers never call :mod:`subprocess` themselves; they get a :class:`CommandRunner`, so a test can
replay a tool's recorded output and production runs the real binary with a time limit and a C
locale (tools' output is parsed, so it must not be translated).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pagerbridge.errors import PagerbridgeError

DEFAULT_TIMEOUT = 300.0


class CheckerError(PagerbridgeError):
    """A checker could not tell whether updates are pending (tool missing, failed, unparseable)."""


@dataclass(frozen=True)
class CommandResult:
    """A finished command: its arguments, exit status and decoded output."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe_failure(self) -> str:
        """One line for an error message: the command, its status and its last stderr line."""
        tail = (self.stderr.strip().splitlines() or self.stdout.strip().splitlines() or [""])[-1]
        detail = f": {tail[:300]}" if tail else ""
        return f"`{' '.join(self.argv)}` exited with status {self.returncode}{detail}"


class CommandRunner(Protocol):
    """Runs a command and returns its result; raises CheckerError when it cannot be started."""

    def run(self, argv: Sequence[str]) -> CommandResult: ...

    def which(self, program: str) -> str | None: ...


class SubprocessRunner:
    """Runs real programs with a timeout, ``LC_ALL=C`` and no stdin."""

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, env: Mapping[str, str] | None = None
    ) -> None:
        self.timeout = timeout
        base = dict(os.environ if env is None else env)
        base.update({"LC_ALL": "C", "LANG": "C"})
        self.env = base

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self.env.get("PATH"))

    def run(self, argv: Sequence[str]) -> CommandResult:
        args = tuple(argv)
        try:
            proc = subprocess.run(
                args,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                env=self.env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise CheckerError(f"{args[0]} is not installed (not found on PATH)") from None
        except PermissionError as exc:
            raise CheckerError(f"cannot run {args[0]}: {exc.strerror}") from exc
        except subprocess.TimeoutExpired:
            raise CheckerError(
                f"`{' '.join(args)}` did not finish within {self.timeout:g} s"
            ) from None
        return CommandResult(args, proc.returncode, proc.stdout, proc.stderr)


def require(result: CommandResult, ok: Sequence[int] = (0,)) -> CommandResult:
    """``result`` if its status is in ``ok``, else a CheckerError describing the failure."""
    if result.returncode not in ok:
        raise CheckerError(result.describe_failure())
    return result
