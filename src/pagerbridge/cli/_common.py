"""Helpers shared by the Typer-based commands: clean error exits instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pagerbridge.errors import (
    ConfigError,
    NotAvailableError,
    PagerbridgeError,
    SchemaOutdatedError,
    StorageError,
)

T = TypeVar("T")

#: Exit codes shared by pagerbridge's commands (each command documents its own additions).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CONFIG = 4
EXIT_NOT_AVAILABLE = 69  # EX_UNAVAILABLE
EXIT_STORAGE = 74  # EX_IOERR


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def not_available(command: str, issue: str) -> NoReturn:
    """For commands whose feature has not landed yet: say so plainly, exit non-zero."""
    fail(f"`{command}` is not available in this version yet ({issue}).", EXIT_NOT_AVAILABLE)


def run_guarded(func: Callable[[], T]) -> T:
    """Run ``func``; turn pagerbridge's own errors into one clear line and an exit code."""
    try:
        return func()
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)
    except NotAvailableError as exc:
        fail(str(exc), EXIT_NOT_AVAILABLE)
    except (SchemaOutdatedError, StorageError) as exc:
        fail(str(exc), EXIT_STORAGE)
    except PagerbridgeError as exc:
        fail(str(exc), EXIT_ERROR)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def stub_main(prog: str, summary: str, issue: str) -> NoReturn:
    """Entry point of a command that has not landed: ``--help`` explains, anything else fails."""
    args = sys.argv[1:]
    if "--help" in args or "-h" in args:
        print(f"usage: {prog} COMMAND ...\n\n{summary}\n")
        print(f"Not available in this version yet: {issue} has not landed.")
        raise SystemExit(EXIT_OK)
    not_available(prog, f"{issue} has not landed")
