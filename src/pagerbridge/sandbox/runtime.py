"""The live sandbox behind one app: options, account state, limits and faults.

Handlers reach it as ``request.app.state.runtime``; ``reset()`` puts it back to the seed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagerbridge.errors import ConfigError
from pagerbridge.sandbox import timers
from pagerbridge.sandbox.limits_faults import Faults, FixedWindow, Monotonic, SlidingWindow
from pagerbridge.sandbox.options import SandboxOptions
from pagerbridge.sandbox.request_log import RequestLog
from pagerbridge.sandbox.seed import load_seed
from pagerbridge.sandbox.state import Clock, Publisher, SandboxState, utc_now

_WRITE_LOCK = threading.Lock()


@dataclass
class Runtime:
    options: SandboxOptions
    clock: Clock = utc_now
    monotonic: Monotonic = time.monotonic
    state: SandboxState = field(init=False)
    faults: Faults = field(init=False)
    events_limit: SlidingWindow = field(init=False)
    rest_limit: FixedWindow = field(init=False)
    publishers: list[Publisher] = field(default_factory=list)
    #: Extra ``validate_bearer(token) -> principal | None`` (OAuth), set when wired.
    bearer_validators: list[Any] = field(default_factory=list)
    #: Called by ``reset()`` after the state is back to the seed (OAuth: forget issued tokens).
    reset_hooks: list[Callable[[], None]] = field(default_factory=list)
    #: Counts write requests (anything but GET/HEAD), so ``--state`` knows when to save.
    version: int = 0
    #: Every API request received (``GET /_sandbox/requests``), for tests that count calls.
    requests: RequestLog = field(default_factory=RequestLog)

    def __post_init__(self) -> None:
        self.faults = Faults(spec=self.options.faults, clock=self.monotonic)
        self.events_limit = SlidingWindow(self.options.events_per_minute, self.monotonic)
        self.rest_limit = FixedWindow(self.options.rest_per_minute, self.monotonic)
        self.state = self.fresh_state()
        if self.options.state_file and self.options.state_file.exists():
            self.load(self.options.state_file)

    def fresh_state(self) -> SandboxState:
        state = SandboxState(base_url=self.options.url, clock=self.clock)
        state.publishers = self.publishers
        timers.install(state)
        load_seed(state, self.options.seed)
        return state

    def reset(self) -> None:
        """Back to the seed: incidents, arrivals, counters, limits, faults and OAuth tokens."""
        self.state = self.fresh_state()
        self.events_limit.hits.clear()
        self.rest_limit.windows.clear()
        self.faults.set(self.options.faults)
        self.requests.clear()
        for hook in self.reset_hooks:
            hook()

    def load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(
                f"cannot read the state file: {exc.strerror}", file=str(path)
            ) from exc
        except ValueError as exc:
            raise ConfigError(f"the state file is not valid JSON: {exc}", file=str(path)) from exc
        if not isinstance(data, dict):
            raise ConfigError("the state file must hold a JSON object", file=str(path))
        try:
            self.state.restore(data)
            timers.rebuild(self.state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"the state file is not a sandbox state: {exc}", file=str(path)
            ) from exc

    def save(self, path: Path) -> None:
        """Write the state atomically (temporary file, fsync, rename), readable by owner only."""
        self.write(path, self.serialise())

    def serialise(self) -> str:
        """The state as JSON text, taken now (call on the event loop that owns the state)."""
        return json.dumps(self.state.snapshot())

    @staticmethod
    def write(path: Path, text: str) -> None:
        """Replace ``path`` with ``text`` atomically: a crash leaves the old or the new file.

        Writes are serialised (the autosave's thread and the shutdown save share the temporary
        file), so the last one started is the one that stays.
        """
        with _WRITE_LOCK:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
