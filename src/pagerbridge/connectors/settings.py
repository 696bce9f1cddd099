"""A connector's configuration: the ``--config`` JSON keys, validated; secrets split off.

The keys are the reference's (``base_url``, ``api_key``, ``sync_direction``, ``sync_interval``,
``enable_webhook``, ``custom.*``) plus what it does not name (``auth_type``, ``routing_key``,
``events_url``, ``oauth.*``, ``public_url``, ``webhook.*``). Unknown or invalid keys give one
problem per key, each naming the key; nothing is stored until every key is valid.

Secrets (``api_key``, ``routing_key``, ``oauth.client_secret``) never travel in
:class:`ConnectorSettings`: :func:`parse_config` returns them apart, to be encrypted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pagerbridge.errors import ConfigError

DEFAULT_BASE_URL: Final = "https://api.pagerduty.com"
EU_BASE_URL: Final = "https://api.eu.pagerduty.com"
DIRECTIONS: Final = ("bidirectional", "outbound", "inbound")
AUTH_TYPES: Final = ("api_key", "oauth_app", "oauth_user", "routing_key")
#: The reference's defaults: SEV-1/2 page (high), SEV-3/4 do not (low).
DEFAULT_URGENCY: Final[dict[str, Literal["high", "low"]]] = {
    "SEV-1": "high",
    "SEV-2": "high",
    "SEV-3": "low",
    "SEV-4": "low",
}
SEVERITIES: Final = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
#: The secret keys of a configuration, as dotted paths.
SECRET_KEYS: Final = ("api_key", "routing_key", "oauth.client_secret")

_PD_ID = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SYNC_INTERVAL_MIN: Final = 30
SYNC_INTERVAL_MAX: Final = 86400


def _pd_id(value: str | None, what: str) -> str | None:
    if value is not None and not _PD_ID.match(value):
        raise ValueError(f"{value!r} is not a PagerDuty {what} ID (like PXXXXXX)")
    return value


def parse_interval(value: str) -> int:
    """``30s``, ``5m``, ``1h`` → seconds, between 30 s and a day."""
    m = _DURATION.match(value.strip())
    if not m:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m or 1h")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not SYNC_INTERVAL_MIN <= seconds <= SYNC_INTERVAL_MAX:
        raise ValueError(f"{value!r} must be between 30s and 24h")
    return seconds


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OAuthSettings(_Strict):
    client_id: str | None = None
    scopes: list[str] = Field(default_factory=list)
    region: Literal["us", "eu"] = "us"
    #: The account's subdomain (acme for acme.pagerduty.com): scoped app tokens name it.
    subdomain: str | None = None
    #: Where PagerDuty's OAuth server lives (tests and the sandbox); None: PagerDuty's.
    token_url: str | None = None
    authorize_url: str | None = None

    _urls = field_validator("token_url", "authorize_url")(classmethod(lambda cls, v: _http_url(v)))


class WebhookSettings(_Strict):
    ip_allowlist: list[str] = Field(default_factory=list)
    rate_limit_per_s: float = Field(default=100.0, gt=0, le=100_000)


class SlaTarget(_Strict):
    ack: str | None = None
    resolve: str | None = None

    @field_validator("ack", "resolve")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval_any(value)
        return value


def parse_interval_any(value: str) -> int:
    """A positive duration like ``15m``, ``1h``, ``72h`` (no bounds beyond > 0)."""
    m = _DURATION.match(value.strip())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"{value!r} is not a duration like 15m, 1h or 3d")
    return int(m.group(1)) * _UNITS[m.group(2)]


class CustomSettings(_Strict):
    service_id: str | None = None
    from_email: str | None = None
    escalation_policy_id: str | None = None
    urgency_mapping: dict[str, Literal["high", "low"]] = Field(
        default_factory=lambda: dict(DEFAULT_URGENCY)
    )
    #: Severity → PagerDuty priority name (P1…) or ID, used when the account has priorities.
    priority_mapping: dict[str, str] = Field(default_factory=dict)
    service_mappings: dict[str, str] = Field(default_factory=dict)
    auto_resolve: bool = True
    sync_notes: bool = True
    custom_field_mappings: dict[str, str] = Field(default_factory=dict)
    sla_mapping: dict[str, SlaTarget] = Field(default_factory=dict)
    #: The PagerDuty priority (name or ID) an SLA breach raises linked incidents to (H11).
    sla_breach_priority: str | None = None

    @field_validator("service_id")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        return _pd_id(value, "service")

    @field_validator("escalation_policy_id")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        return _pd_id(value, "escalation policy")

    @field_validator("from_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("urgency_mapping", "priority_mapping", "sla_mapping")
    @classmethod
    def _severities(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(SEVERITIES))
        if unknown:
            raise ValueError(f"unknown severity {unknown[0]!r} (use {', '.join(SEVERITIES)})")
        return value

    @field_validator("service_mappings")
    @classmethod
    def _mappings(cls, value: dict[str, str]) -> dict[str, str]:
        for service, pd_service in value.items():
            _pd_id(pd_service, f"service (for {service!r})")
        return value


class ConnectorSettings(_Strict):
    """Everything about a connector except its secrets (stored as JSON, shown by ``status``)."""

    type: Literal["pagerduty"] = "pagerduty"
    base_url: str = DEFAULT_BASE_URL
    auth_type: Literal["api_key", "oauth_app", "oauth_user", "routing_key"] = "api_key"
    events_url: str | None = None
    sync_direction: Literal["bidirectional", "outbound", "inbound"] = "outbound"
    sync_interval: str = "5m"
    enable_webhook: bool = True
    public_url: str | None = None
    custom: CustomSettings = Field(default_factory=CustomSettings)
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    _urls = field_validator("base_url", "events_url", "public_url")(
        classmethod(lambda cls, v: _http_url(v))
    )

    @field_validator("sync_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_interval(value)
        return value

    @property
    def sync_interval_seconds(self) -> int:
        return parse_interval(self.sync_interval)

    def pd_service_for(self, mappings: Mapping[str, str], service: str) -> str | None:
        """The PagerDuty service of a local service: its mapping, else ``default``'s, else the
        connector's ``service_id``."""
        return mappings.get(service) or mappings.get("default") or self.custom.service_id


class _Secrets(_Strict):
    api_key: str | None = None
    routing_key: str | None = None
    client_secret: str | None = None


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(config)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        out.append(f"{where}: {message}")
    return out


def parse_config(raw: Mapping[str, Any]) -> tuple[ConnectorSettings, dict[str, str]]:
    """Validate a ``--config`` object: (settings, secrets). Raises ConfigError listing every
    problem, one per key, each naming the key."""
    data = dict(raw)
    oauth = dict(data.get("oauth") or {}) if isinstance(data.get("oauth"), dict) else None
    secrets_in = {
        "api_key": data.pop("api_key", None),
        "routing_key": data.pop("routing_key", None),
        "client_secret": oauth.pop("client_secret", None) if oauth is not None else None,
    }
    if oauth is not None:
        data["oauth"] = oauth
    problems: list[str] = []
    settings: ConnectorSettings | None = None
    try:
        settings = ConnectorSettings.model_validate(data)
    except ValidationError as exc:
        problems += _problems(exc)
    secrets: dict[str, str] = {}
    for key, value in secrets_in.items():
        path = "oauth.client_secret" if key == "client_secret" else key
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > 4096:
            problems.append(f"{path}: must be a non-empty string")
        elif any(c.isspace() or ord(c) < 32 for c in value.strip()):
            problems.append(f"{path}: must not contain spaces or control characters")
        else:
            secrets[key] = value.strip()
    if settings is not None:
        problems += requirement_problems(settings, secrets)
    if problems:
        raise ConfigError("invalid connector configuration:\n  " + "\n  ".join(problems))
    assert settings is not None
    return settings, secrets


def requirement_problems(settings: ConnectorSettings, secrets: Mapping[str, str]) -> list[str]:
    """What the chosen ``auth_type`` needs and is missing."""
    need: dict[str, tuple[str, ...]] = {
        "api_key": ("api_key",),
        "oauth_app": ("client_secret",),
        "oauth_user": ("client_secret",),
        "routing_key": ("routing_key",),
    }
    problems = [
        f"{'oauth.client_secret' if k == 'client_secret' else k}: required when auth_type is "
        f"{settings.auth_type!r}"
        for k in need[settings.auth_type]
        if not secrets.get(k)
    ]
    if settings.auth_type in ("oauth_app", "oauth_user") and not settings.oauth.client_id:
        problems.append(f"oauth.client_id: required when auth_type is {settings.auth_type!r}")
    if settings.auth_type in ("api_key", "oauth_app") and not settings.custom.from_email:
        problems.append(
            "custom.from_email: required (the PagerDuty user named in the From header of writes)"
        )
    if (
        settings.auth_type != "routing_key"
        and not settings.custom.service_id
        and not (settings.custom.service_mappings)
    ):
        problems.append(
            "custom.service_id: required (the PagerDuty service incidents go to), "
            "or give custom.service_mappings"
        )
    return problems


def dump_settings(settings: ConnectorSettings) -> str:
    return settings.model_dump_json()


def load_settings(text: str) -> ConnectorSettings:
    return ConnectorSettings.model_validate_json(text)
