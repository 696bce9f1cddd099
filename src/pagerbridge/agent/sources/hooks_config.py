"""Settings of the generic JSON hooks (``sources.hooks.<name>``): rules, ``each``, and auth.

Any tool that can POST JSON (Grafana, Uptime Kuma, a CI system) gets a URL
``/hooks/<name>``; the rules turn its JSON into events (a hook has no default mapping, so at
least one rule is required). Callers are checked by the hook's own ``auth`` (an HMAC of the
body, or a token in a header) when it has one, else by the agent's shared token policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pagerbridge.agent.sources.settings import RuleSettings, SourceSettings

if TYPE_CHECKING:
    from pagerbridge.agent.sources.base import Fields, Source

HmacAlgorithm = Literal["sha256", "sha1", "sha512"]


def _header_name(value: str) -> str:
    name = value.strip().lower()
    if not name or any(c in name for c in " :\r\n\t"):
        raise ValueError(f"{value!r} is not an HTTP header name")
    return name


class HmacSettings(BaseModel):
    """The body signed with a shared secret, hex in a header (Grafana: ``timestamp:body``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: SecretStr
    header: str = "x-signature"
    algorithm: HmacAlgorithm = "sha256"
    #: Text before the hex digest in the header, e.g. ``sha256=`` (GitHub style).
    prefix: str = ""
    #: If set, the sender puts a Unix time here and signs ``<time>:<body>`` (Grafana's scheme).
    timestamp_header: str | None = None
    #: With ``timestamp_header``: refuse a signature older (or newer) than this (replays).
    max_age_seconds: float = Field(300.0, gt=0)

    @field_validator("header", "timestamp_header")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _header_name(value)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("an HMAC secret needs at least 8 characters")
        return value


class TokenSettings(BaseModel):
    """A shared token in a header: ``Bearer <token>`` or the bare token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr
    header: str = "authorization"

    @field_validator("header")
    @classmethod
    def _name(cls, value: str) -> str:
        return _header_name(value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().strip()) < 8:
            raise ValueError("a token needs at least 8 characters")
        return value


class HookAuth(BaseModel):
    """Exactly one of ``hmac`` or ``token``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hmac: HmacSettings | None = None
    token: TokenSettings | None = None

    @model_validator(mode="after")
    def _one(self) -> HookAuth:
        if (self.hmac is None) == (self.token is None):
            raise ValueError("give exactly one of hmac or token")
        return self


class HookRule(RuleSettings):
    """A rule over the hook's JSON: any top-level key is a field (``a.b`` reads deeper)."""

    FIELDS: ClassVar[frozenset[str] | None] = None


class HookSettings(SourceSettings):
    """``sources.hooks.<name>``."""

    KIND: ClassVar[str] = "hooks"
    DEFAULTS: ClassVar[dict[str, str]] = {"severity": "error", "source": "webhook"}

    auth: HookAuth | None = None
    #: A dotted path to a list in the body: one message per item (its keys are the fields,
    #: ``parent`` is the whole body), e.g. ``alerts`` for Grafana.
    each: str | None = None
    rules: list[HookRule] = Field(min_length=1)  # type: ignore[assignment]

    @field_validator("each")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(not part for part in value.split("."))):
            raise ValueError(f"{value!r} is not a dotted path such as alerts or data.items")
        return value

    def create(self, name: str) -> Source:
        from pagerbridge.agent.sources.hooks import HookSource

        return HookSource(name, self)

    def decode_text(self, text: str) -> Fields | None:
        """``rules test --message``: a JSON body; the fields of its first message."""
        from pagerbridge.agent.sources.hooks import decode_hook

        messages = decode_hook(text.encode("utf-8", "surrogateescape"), self)
        return messages[0] if messages else None


__all__ = ["HmacSettings", "HookAuth", "HookRule", "HookSettings", "TokenSettings"]
