"""The agent's configuration: one pydantic model per YAML section, validated with line numbers.

Read only by the CLI (:func:`load_agent_config`) and passed down as objects. Every key is
documented in ``docs/agent.md``; durations accept ``30``, ``30s``, ``15m``, ``24h``, ``7d``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from pagerbridge.agent.sources.config import SourcesSettings
from pagerbridge.config import load_config
from pagerbridge.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8081"
DEFAULT_WORKERS = 16
DEFAULT_RATE_LIMIT_PER_MINUTE = 120
DEFAULT_MAX_QUEUE_SIZE = 1_000_000
DEFAULT_DEADLINE = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(days=7)
DEFAULT_RETRY_INITIAL = timedelta(seconds=1)
DEFAULT_RETRY_MAX = timedelta(minutes=5)
DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_TIMEOUT = 10.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> timedelta:
    """``90``, ``"90s"``, ``"15m"``, ``"24h"``, ``"7d"`` → timedelta (bare numbers: seconds)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 24h or 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration (examples: 30s, 15m, 24h, 7d)")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return timedelta(seconds=seconds)


Action = Literal["trigger", "acknowledge", "resolve", "change"]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    # Unknown keys are errors: a typo in a config file must not silently keep a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


def split_host_port(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:8081``) → (host, port); a ValueError says what is wrong."""
    text = value.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{value!r} is not HOST:PORT")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{value!r} is not HOST:PORT (example: 127.0.0.1:8081)")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{value!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{value!r}: port {port} is out of range")
    return host, port


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PagerDutySettings(_Section):
    """Where events go: a region (``us``/``eu``) or an explicit events URL, and how."""

    region: Literal["us", "eu"] | None = None
    events_url: str | None = None
    proxy: str | None = None
    timeout: float = Field(DEFAULT_TIMEOUT, gt=0, le=300)

    @field_validator("events_url", "proxy")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _one_target(self) -> PagerDutySettings:
        if self.region is not None and self.events_url is not None:
            raise ValueError("give either region or events_url, not both")
        return self


class DeliverySettings(_Section):
    """The delivery worker: concurrency, rate limit, deadline, queue bound, retention."""

    workers: int = Field(DEFAULT_WORKERS, ge=1, le=1024)
    rate_limit_per_minute: int = Field(DEFAULT_RATE_LIMIT_PER_MINUTE, ge=0)
    deadline: Duration = DEFAULT_DEADLINE
    retry_initial: Duration = DEFAULT_RETRY_INITIAL
    retry_max: Duration = DEFAULT_RETRY_MAX
    lease: Duration = DEFAULT_LEASE
    max_queue_size: int = Field(DEFAULT_MAX_QUEUE_SIZE, ge=1)
    retention: Duration = DEFAULT_RETENTION


class ForwardSettings(_Section):
    """Edge → hub: deliver to another pagerbridge agent instead of PagerDuty."""

    url: str
    token: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL of another pagerbridge agent")
        return value.rstrip("/")


class Matchers(_Section):
    """Which events a maintenance window covers; an empty list matches anything."""

    routing_key: list[str] = Field(default_factory=list)
    source: list[str] = Field(default_factory=list)  # shell-style globs, e.g. "db-*"
    severity: list[Literal["critical", "error", "warning", "info"]] = Field(default_factory=list)

    @field_validator("routing_key", "source", "severity", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MaintenanceWindowSettings(_Section):
    """A time range (one-off start/end, or weekly days + from/to) and matchers."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = "maintenance"
    start: datetime | None = None
    end: datetime | None = None
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=list
    )
    from_: time | None = Field(None, alias="from")
    to: time | None = None
    timezone: str = "UTC"
    match: Matchers = Field(default_factory=Matchers)
    actions: list[Action] = Field(default_factory=lambda: list[Action](["trigger"]))

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [str(d).lower()[:3] if isinstance(d, str) else d for d in value]
        return value

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _clock_time(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 22:00 as the sexagesimal integer 1320; undo that.
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 24 * 60:
                return time(value // 60, value % 60)
            if value < 24 * 3600:
                return time(value // 3600, value // 60 % 60, value % 60)
            raise ValueError("not a time of day (HH:MM)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (example: Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindowSettings:
        one_off = self.start is not None or self.end is not None
        weekly = bool(self.days) or self.from_ is not None or self.to is not None
        if one_off and weekly:
            raise ValueError("use either start/end (one-off) or days/from/to (weekly), not both")
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a UTC offset, e.g. 2026-11-23T02:00:00Z")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        elif weekly:
            if self.from_ is None or self.to is None:
                raise ValueError("a weekly window needs from and to (HH:MM)")
        else:
            raise ValueError("a window needs start/end or days/from/to")
        return self


class TlsSettings(_Section):
    """Serve HTTPS: a PEM certificate (chain) and its private key."""

    cert_file: Path
    key_file: Path

    @field_validator("cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value


class SelfMonitoringSettings(_Section):
    """Page a routing key about the agent itself: dead letters, or a stale oldest pending event."""

    routing_key: str
    oldest_pending_threshold: Duration = timedelta(minutes=15)
    interval: Duration = timedelta(seconds=30)
    source: str | None = None  # default: this host's name

    @field_validator("routing_key")
    @classmethod
    def _key(cls, value: str) -> str:
        if len(value) != 32:
            raise ValueError("a routing key is 32 characters long")
        return value


class HealthSettings(_Section):
    """When ``GET /health`` answers 503 (docs/agent.md, "Health")."""

    worker_failing_after: Duration = timedelta(seconds=30)
    #: Default: ``self_monitoring.oldest_pending_threshold`` when self-monitoring is on, else 15m.
    oldest_due_threshold: Duration | None = None
    probe_timeout: Duration = timedelta(seconds=5)


class AgentConfig(_Section):
    """The whole agent configuration file."""

    listen: str = DEFAULT_LISTEN
    token: str | None = None
    insecure: bool = False
    loopback_exempt: bool = True
    database: str | None = None
    tls: TlsSettings | None = None
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    forward: ForwardSettings | None = None
    maintenance: list[MaintenanceWindowSettings] = Field(default_factory=list)
    self_monitoring: SelfMonitoringSettings | None = None
    health: HealthSettings = Field(default_factory=HealthSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)  # agent/sources/config.py

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_host_port(value)
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("the shared token must be at least 16 characters long")
        return value

    @model_validator(mode="after")
    def _lease_outlives_a_call(self) -> AgentConfig:
        # A lease shorter than a call would let a second worker send the same row meanwhile.
        if self.delivery.lease.total_seconds() < 2 * self.pagerduty.timeout:
            raise ValueError(
                f"delivery.lease must be at least twice pagerduty.timeout "
                f"({2 * self.pagerduty.timeout:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _forward_or_pagerduty(self) -> AgentConfig:
        if self.forward is not None and (
            self.pagerduty.region is not None or self.pagerduty.events_url is not None
        ):
            raise ValueError("forward replaces pagerduty.region/events_url; give only one")
        return self

    @property
    def listen_host(self) -> str:
        return split_host_port(self.listen)[0]

    @property
    def listen_port(self) -> int:
        return split_host_port(self.listen)[1]

    @property
    def names_pagerduty(self) -> bool:
        """True when the file says where events go (a region, an events URL or a forward)."""
        return (
            self.pagerduty.region is not None
            or self.pagerduty.events_url is not None
            or self.forward is not None
        )


def load_agent_config(path: str | Path | None) -> AgentConfig:
    """The configuration in ``path`` (YAML), or all defaults when no file is given."""
    if path is None:
        return AgentConfig()
    return load_config(AgentConfig, path)


def apply_overrides(
    config: AgentConfig,
    *,
    listen: str | None = None,
    database: str | None = None,
    events_url: str | None = None,
) -> AgentConfig:
    """Command-line flags win over the file; validated like the file so errors read the same."""
    update: dict[str, Any] = {}
    if listen is not None:
        try:
            split_host_port(listen)
        except ValueError as exc:
            raise ConfigError(str(exc), key="--listen") from None
        update["listen"] = listen
    if database is not None:
        update["database"] = database
    if events_url is not None:
        if not events_url.startswith(("http://", "https://")):
            raise ConfigError("must be an http:// or https:// URL", key="--events-url")
        update["pagerduty"] = config.pagerduty.model_copy(
            update={"events_url": events_url.rstrip("/"), "region": None}
        )
        update["forward"] = None
    return config.model_copy(update=update)


def check_security(config: AgentConfig) -> None:
    """Refuse to listen beyond loopback or to forward without a shared token (unless insecure)."""
    if config.insecure:
        return
    if not is_loopback_host(config.listen_host) and not config.token:
        raise ConfigError(
            f"listening on {config.listen} (not loopback) needs a shared token: set `token` "
            "(e.g. token: ${PAGERBRIDGE_AGENT_TOKEN}) or `insecure: true`",
            key="token",
        )
    if config.forward is not None and not config.forward.token:
        raise ConfigError(
            "forwarding to another agent needs its shared token: set forward.token "
            "or `insecure: true`",
            key="forward.token",
        )


__all__ = [
    "AgentConfig",
    "DeliverySettings",
    "ForwardSettings",
    "MaintenanceWindowSettings",
    "Matchers",
    "PagerDutySettings",
    "SelfMonitoringSettings",
    "TlsSettings",
    "apply_overrides",
    "check_security",
    "is_loopback_host",
    "load_agent_config",
    "parse_duration",
    "split_host_port",
]
