"""Per-host alert state: which PagerDuty alerts update-watcher has opened and not yet resolved.

A clean run resolves only what an earlier run opened, so the state is kept in a small JSON file
(written atomically, mode 0600) beside pagerbridge's database, keyed by routing key + dedup key.
Each alert records the host that opened it: several hosts may share one state file (and one
database), and ``status`` shows a host its own alerts.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Collection
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pagerbridge.errors import StorageError
from pagerbridge.paths import data_dir

STATE_FILENAME = "update-watcher-state.json"


@dataclass
class AlertState:
    dedup_key: str
    routing_key_suffix: str  # last 4 characters only: the state file holds no secret
    opened_at: str
    last_action: str
    last_summary: str
    hostname: str = ""  # empty in state files written before hosts were recorded


def default_state_path() -> Path:
    return data_dir() / STATE_FILENAME


class StateFile:
    """The open alerts, loaded once per run and saved after each change."""

    def __init__(self, path: Path, hostname: str = "") -> None:
        self.path = path
        self.hostname = hostname  # recorded on every alert this process opens
        self.alerts: dict[str, AlertState] = {}
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read update-watcher state {path}: {exc}") from exc
        known = {f.name for f in fields(AlertState)}
        try:
            for key, value in (raw.get("alerts") or {}).items():
                self.alerts[key] = AlertState(**{k: v for k, v in value.items() if k in known})
        except (AttributeError, TypeError) as exc:
            raise StorageError(f"cannot read update-watcher state {path}: {exc}") from exc

    @staticmethod
    def key(routing_key: str, dedup_key: str) -> str:
        return f"{routing_key[-4:]}:{dedup_key}"

    def get(self, routing_key: str, dedup_key: str) -> AlertState | None:
        return self.alerts.get(self.key(routing_key, dedup_key))

    def set_open(
        self, routing_key: str, dedup_key: str, *, now: str, action: str, summary: str
    ) -> None:
        current = self.get(routing_key, dedup_key)
        opened = current.opened_at if current else now
        self.alerts[self.key(routing_key, dedup_key)] = AlertState(
            dedup_key, routing_key[-4:], opened, action, summary, self.hostname
        )
        self.save()

    def host_alerts(self, hostname: str, keys: Collection[str] = ()) -> dict[str, AlertState]:
        """The alerts ``hostname`` opened; an alert from before hosts were recorded counts when
        its key is one of ``keys`` (the keys this host's notifiers use)."""
        return {
            key: alert
            for key, alert in self.alerts.items()
            if alert.hostname == hostname or (not alert.hostname and key in keys)
        }

    def set_closed(self, routing_key: str, dedup_key: str) -> None:
        self.alerts.pop(self.key(routing_key, dedup_key), None)
        self.save()

    def save(self) -> None:
        data = {"alerts": {k: asdict(v) for k, v in self.alerts.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".uw-state-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise StorageError(f"cannot write update-watcher state {self.path}: {exc}") from exc
