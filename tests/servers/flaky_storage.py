"""An outbox storage whose writes fail on demand, as on a full disk: for health tests."""

from __future__ import annotations

import threading
from typing import Any

from pagerbridge.errors import StorageError


class FlakyStorage:
    """A real storage, except that the worker's claims and records fail while ``broken`` is
    set (reads, like the health probe's, still work)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.broken = threading.Event()

    def claim(self, **kwargs: Any) -> Any:
        if self.broken.is_set():
            raise StorageError("cannot write the outbox: disk I/O error")
        return self.inner.claim(**kwargs)

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        if self.broken.is_set():
            raise StorageError("cannot write the outbox: disk I/O error")
        return self.inner.complete(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
