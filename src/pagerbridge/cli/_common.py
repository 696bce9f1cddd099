"""Helpers shared by the Typer-based commands: clean error exits instead of tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pagerbridge.errors import (
    ConfigError,
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
EXIT_STORAGE = 74  # EX_IOERR


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def run_guarded(func: Callable[[], T]) -> T:
    """Run ``func``; turn pagerbridge's own errors into one clear line and an exit code."""
    try:
        return func()
    except ConfigError as exc:
        fail(f"configuration: {exc}", EXIT_CONFIG)
    except (SchemaOutdatedError, StorageError) as exc:
        fail(str(exc), EXIT_STORAGE)
    except PagerbridgeError as exc:
        fail(str(exc), EXIT_ERROR)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
