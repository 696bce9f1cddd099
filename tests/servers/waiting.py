"""Tests wait on conditions, never on sleeps: poll ``check`` until it holds, with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Seconds between two looks: short enough not to slow a test, long enough not to spin.
INTERVAL = 0.02


def wait_for(check: Callable[[], Any], what: str = "", timeout: float = 15.0) -> Any:
    """``check()``'s first truthy value; fails naming ``what`` once ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not {what or check} within {timeout} s"
        time.sleep(INTERVAL)
