"""Rate-limited logging for hostile input: a flood of bad messages costs a few log lines."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Lines per key per window; the rest are counted and summarised when the window ends.
LINES_PER_WINDOW = 5
WINDOW_SECONDS = 60.0


class RateLimitedLog:
    """``warn(key, fmt, *args)`` logs at most ``LINES_PER_WINDOW`` lines per key per window."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        lines: int = LINES_PER_WINDOW,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._lines = lines
        self._window = window
        self._clock = clock
        self._state: dict[str, tuple[float, int]] = {}  # key -> (window start, lines seen)

    def warn(self, key: str, fmt: str, *args: object) -> None:
        now = self._clock()
        start, seen = self._state.get(key, (now, 0))
        if now - start >= self._window:
            if seen > self._lines:
                self._log.warning("%s: %d similar messages not logged", key, seen - self._lines)
            start, seen = now, 0
        seen += 1
        self._state[key] = (start, seen)
        if seen <= self._lines:
            self._log.warning(fmt, *args)
        if len(self._state) > 1024:  # keys are bounded by design; never let them grow
            self._state.clear()
