"""update-watcher's configuration: Update-Watcher's YAML format, loaded so existing files work.

Compatibility notes (Update-Watcher is the Go tool whose format this reads):

- ``${VAR}`` and ``${VAR:-default}`` expand everywhere. As in Update-Watcher an unset variable
  becomes ``""``, so a *disabled* notifier may reference a secret this host does not have; an
  *enabled* entry that uses an unset variable is an error naming the variable, file and line.
- The documented PagerDuty shorthand (``routing_key``/``severity`` straight under
  ``- type: pagerduty``) is accepted for every notifier: keys beside ``type`` that are not
  ``enabled``, ``options``, ``send_policy`` or ``min_priority`` are options.
- ``enabled`` defaults to true: an entry that is listed is meant to run.
- Watcher types this tool does not implement (``macos``, ``webproject``, ...) are an error only
  when enabled.

Reading, expanding and validating is :mod:`pagerbridge.config`'s (one implementation for every
configuration file); this module adds the format's rules above. Every problem found is reported at
once, each with its file, line and key.
"""

from __future__ import annotations

import difflib
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pagerbridge.config import (
    ConfigProblems,
    Loc,
    SourceMap,
    collect,
    load_yaml,
    raise_problems,
    read_config_text,
    validate,
)
from pagerbridge.errors import ConfigError
from pagerbridge.updates.checkers import CHECKERS
from pagerbridge.updates.models import PRIORITIES

M = TypeVar("M", bound=BaseModel)

CONFIG_ENV = "UPDATE_WATCHER_CONFIG"
SYSTEM_CONFIG = Path("/etc/update-watcher/config.yaml")
SendPolicy = Literal["only-on-updates", "always"]
Priority = Literal["low", "normal", "high", "critical"]
_ENTRY_KEYS = {"type", "enabled", "options", "send_policy", "min_priority"}
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)?")


class UnsetVariable(ConfigError):
    """An enabled entry uses ``${NAME}`` (no default) and NAME is not set; ``variable`` names it
    so ``install-cron`` can say how to set it."""

    def __init__(self, variable: str, **where: Any) -> None:
        self.variable = variable
        super().__init__(f"environment variable {variable} is not set", **where)


class UnsetVariables(ConfigProblems, UnsetVariable):
    """Several problems, unset variables among them: still an :class:`UnsetVariable` (naming the
    first), so ``install-cron`` can say how to set it, while every problem is listed."""

    def __init__(self, problems: Sequence[ConfigError], variable: str) -> None:
        ConfigProblems.__init__(self, problems)
        self.variable = variable


class CronJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["check", "self-update"] = "check"
    schedule: str


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    send_policy: SendPolicy = "only-on-updates"
    min_priority: Priority = "low"
    log_file: str | None = None
    schedule: str | None = None
    cron_jobs: list[CronJob] = []
    quiet: bool = False
    # pagerbridge additions
    database: str | None = None
    state_file: str | None = None
    delivery_timeout: float = Field(30.0, ge=0)
    command_timeout: float = Field(300.0, gt=0)


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    enabled: bool = True
    options: dict[str, Any] = {}
    send_policy: SendPolicy | None = None
    min_priority: Priority | None = None


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hostname: str | None = ""
    watchers: list[Entry] = []
    notifiers: list[Entry] = []
    settings: Settings = Settings()


@dataclass
class WatcherConfig:
    """The validated configuration, as the runner and CLI use it."""

    path: Path
    hostname: str
    watchers: list[Entry]
    notifiers: list[Entry]
    settings: Settings
    source: SourceMap = field(repr=False, default_factory=lambda: SourceMap("<config>"))

    def enabled_watchers(self, only: str | None = None) -> list[Entry]:
        return [w for w in self.watchers if w.enabled and (only is None or w.type == only)]

    def enabled_notifiers(self) -> list[Entry]:
        return [n for n in self.notifiers if n.enabled]


class _LenientEnv(Mapping[str, str]):
    """The environment, where an unset variable reads as ``""`` (Update-Watcher's rule)."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        return self.base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)

    def get(self, key: str, default: Any = None) -> Any:
        return self.base.get(key, "")


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$UPDATE_WATCHER_CONFIG``, else ``/etc/update-watcher/config.yaml`` when it exists (or for
    root), else ``~/.config/update-watcher/config.yaml`` (Update-Watcher's search order)."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    if SYSTEM_CONFIG.exists() or os.geteuid() == 0:
        return SYSTEM_CONFIG
    return Path(env.get("HOME", str(Path.home()))) / ".config" / "update-watcher" / "config.yaml"


def validate_at(model: type[M], data: Any, smap: SourceMap, prefix: Loc) -> M:
    """Validate ``data`` (found at ``prefix`` in the document); every error names file, line and
    key (:func:`pagerbridge.config.validate`)."""
    return validate(model, data, smap, prefix=prefix)


@dataclass
class ShorthandMap(SourceMap):
    """A SourceMap that also remembers where the shorthand keys were *written*, so an error
    names ``notifiers.0.severity`` (what the user typed), not the ``options`` key it became."""

    #: (section, i, "options", key) -> (section, i, key) for every hoisted key.
    written: dict[tuple[str | int, ...], tuple[str | int, ...]] = field(default_factory=dict)
    #: (section, i) whose ``options`` exist only because shorthand keys were moved there.
    implied_options: set[tuple[str | int, ...]] = field(default_factory=set)

    def as_written(self, path: Loc) -> Loc:
        """``path`` in the user's own spelling (shorthand keys sit beside ``type``)."""
        if len(path) < 3 or path[2] != "options":
            return path
        if path[:4] in self.written:
            return self.written[path[:4]] + path[4:]
        if path[:2] in self.implied_options and len(path) > 3:
            return path[:2] + path[3:]
        return path

    def known_beside(self, path: Loc) -> Iterable[str]:
        """A key written beside ``type`` may have been meant as one of the entry's own keys."""
        if len(path) == 3 and (*path[:2], "options", path[2]) in self.written:
            return _ENTRY_KEYS
        return ()


def as_written(smap: SourceMap, loc: Loc) -> Loc:
    """``loc`` in the user's own spelling (kept for callers of the function form)."""
    return smap.as_written(loc)


def _hoist_shorthand(data: Any, smap: ShorthandMap) -> None:
    """Move ``routing_key: ...`` beside ``type:`` into ``options`` (keeping its line number)."""
    if not isinstance(data, dict):
        return
    for section in ("watchers", "notifiers"):
        entries = data.get(section)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            extra = [k for k in entry if k not in _ENTRY_KEYS]
            if not extra:
                continue
            options = entry.get("options")
            if options is None:
                options = entry["options"] = {}
                smap.implied_options.add((section, i))
            if not isinstance(options, dict):
                continue
            for key in extra:
                value = entry.pop(key)
                if key in options:  # ``options:`` wins over the shorthand, as before
                    continue
                options[key] = value
                smap.written[(section, i, "options", key)] = (section, i, key)
                line = smap.lines.get((section, i, key))
                if line is not None:
                    smap.lines[(section, i, "options", key)] = line


def _check_unset(
    text: str,
    smap: SourceMap,
    prefix: Loc,
    env: Mapping[str, str],
    problems: list[ConfigError],
) -> None:
    """An enabled entry must not depend on an unset variable (without a default)."""
    lines = text.splitlines()
    seen: set[tuple[str, int]] = set()
    for path, line in sorted(smap.lines.items(), key=lambda item: item[1]):
        if path[: len(prefix)] != prefix or not 0 < line <= len(lines):
            continue
        for match in _REF.finditer(lines[line - 1]):
            name = match.group(1)
            if match.group(2) is None and name not in env and (name, line) not in seen:
                seen.add((name, line))
                key = ".".join(str(p) for p in smap.as_written(path))
                problems.append(UnsetVariable(name, file=smap.file, line=line, key=key))


def _entries(data: Any, section: str) -> list[Entry]:
    """The entries of ``section`` that are valid on their own, when the document as a whole is
    not: their own checks still run, so one pass reports the problems of every part."""
    raw = data.get(section) if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    out: list[Entry] = []
    for item in raw:
        try:
            out.append(Entry.model_validate(item))
        except ValidationError:
            out.append(Entry(type="", enabled=False))  # reported already; keeps the indices
    return out


def _unknown_type(kind: str, what: str, supported: Iterable[str]) -> str:
    names = sorted(supported)
    nearest = difflib.get_close_matches(kind, names, n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    return f"unknown {what} type {kind!r}{hint} (supported: {', '.join(names)})"


def _raise(problems: list[ConfigError]) -> None:
    try:
        raise_problems(problems)
    except ConfigProblems as exc:
        unset = [p for p in exc.problems if isinstance(p, UnsetVariable)]
        if unset:
            raise UnsetVariables(exc.problems, unset[0].variable) from None
        raise


def load_watcher_config(
    path: str | Path, environ: Mapping[str, str] | None = None
) -> WatcherConfig:
    """Read, expand and validate an Update-Watcher config file; a ConfigError says where (a
    :class:`~pagerbridge.config.ConfigProblems` lists every problem found)."""
    env = os.environ if environ is None else environ
    p = Path(path)
    text = read_config_text(p)
    data, plain = load_yaml(text, file=str(p), environ=_LenientEnv(env))
    smap = ShorthandMap(plain.file, plain.lines)
    if data is not None and not isinstance(data, dict):
        raise ConfigError("the document must be a mapping (hostname, watchers, ...)", file=str(p))
    _hoist_shorthand(data, smap)
    problems: list[ConfigError] = []
    _check_unset(text, smap, ("hostname",), env, problems)
    _check_unset(text, smap, ("settings",), env, problems)
    doc = collect(Document, data, smap, problems)
    watchers = doc.watchers if doc else _entries(data, "watchers")
    notifiers = doc.notifiers if doc else _entries(data, "notifiers")

    from pagerbridge.updates.notifiers import NOTIFIER_TYPES, validate_notifier

    for i, watcher in enumerate(watchers):
        if not watcher.enabled:
            continue
        where: Loc = ("watchers", i)
        checker = CHECKERS.get(watcher.type)
        if checker is None:
            problems.append(
                ConfigError(
                    _unknown_type(watcher.type, "watcher", CHECKERS),
                    file=smap.file,
                    line=smap.line_of((*where, "type")),
                    key=f"watchers.{i}.type",
                )
            )
            continue
        _check_unset(text, smap, where, env, problems)
        collect(checker.options_model, watcher.options, smap, problems, prefix=(*where, "options"))
    for i, notifier in enumerate(notifiers):
        if not notifier.enabled:
            continue
        if notifier.type not in NOTIFIER_TYPES:
            problems.append(
                ConfigError(
                    _unknown_type(notifier.type, "notifier", NOTIFIER_TYPES),
                    file=smap.file,
                    line=smap.line_of(("notifiers", i, "type")),
                    key=f"notifiers.{i}.type",
                )
            )
            continue
        _check_unset(text, smap, ("notifiers", i), env, problems)
        try:
            validate_notifier(notifier, smap, ("notifiers", i))
        except ConfigProblems as exc:
            problems.extend(exc.problems)
        except ConfigError as exc:
            problems.append(exc)
    _raise(problems)
    assert doc is not None  # else a problem was raised
    hostname = (doc.hostname or "").strip() or socket.gethostname()
    return WatcherConfig(p, hostname, doc.watchers, doc.notifiers, doc.settings, smap)


def require_runnable(config: WatcherConfig, *, notify: bool = True) -> None:
    """A config that checks nothing, or tells nobody, would run "successfully" forever and never
    page: ``validate``, ``run`` and ``install-cron`` refuse it, saying what to add."""
    missing: list[tuple[str, str]] = []
    if not config.enabled_watchers():
        missing.append(
            (
                "watchers",
                "no enabled watcher (add one under 'watchers:', e.g. `update-watcher watch apt`)",
            )
        )
    if notify and not config.enabled_notifiers():
        missing.append(
            (
                "notifiers",
                "no enabled notifier, so nobody would hear of updates (add one under "
                "'notifiers:', e.g. '- type: pagerduty' with 'routing_key: "
                "${UPDATE_WATCHER_PAGERDUTY_KEY}'; `run --no-notify` only checks)",
            )
        )
    if missing:
        key = missing[0][0]
        raise ConfigError(
            "; ".join(text for _, text in missing),
            file=str(config.path),
            line=config.source.lines.get((key,)),
            key=" and ".join(k for k, _ in missing),
        )


__all__ = [
    "PRIORITIES",
    "Entry",
    "Settings",
    "UnsetVariable",
    "UnsetVariables",
    "WatcherConfig",
    "default_config_path",
    "load_watcher_config",
    "require_runnable",
    "validate_at",
]
