"""The syslog source's settings and the fields every decoded syslog message carries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pagerbridge.agent.sources.settings import RuleSettings, SourceSettings

if TYPE_CHECKING:
    from pagerbridge.agent.sources.base import Fields, Source

DEFAULT_LISTEN = "127.0.0.1:5514"
#: The longest message kept (bytes); a longer line is cut there and counted as malformed.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024
DEFAULT_MAX_CONNECTIONS = 512

#: Every decoded message has all of these ("" or None when the line did not carry it).
SYSLOG_FIELDS = frozenset(
    {
        "host",
        "facility",
        "facility_code",
        "severity",
        "severity_code",
        "pri",
        "app",
        "procid",
        "msgid",
        "message",
        "structured_data",
        "timestamp",
        "format",
        "peer",
        "transport",
        "malformed",
    }
)


class SyslogRule(RuleSettings):
    FIELDS: ClassVar[frozenset[str] | None] = SYSLOG_FIELDS


def _address(value: str | None) -> str | None:
    from pagerbridge.agent.config import split_host_port

    if value is not None:
        split_host_port(value)
    return value


class SyslogTlsSettings(BaseModel):
    """RFC 5425 syslog over TLS: where to listen and the server's certificate and key (PEM)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1:6514"
    cert_file: Path
    key_file: Path

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        _address(value)
        return value

    @field_validator("cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value


class SyslogSettings(SourceSettings):
    """``sources.syslog``: listeners (UDP, TCP, TLS; null turns one off), limits and rules."""

    KIND: ClassVar[str] = "syslog"
    DEFAULTS: ClassVar[dict[str, str]] = {
        "summary": "{{ host or peer }} {{ app }}: {{ message }}",
        "source": "{{ host or peer }}",
        "severity": "{{ severity }}",
    }
    SEVERITY_MAP: ClassVar[dict[str, str]] = {
        "emerg": "critical",
        "alert": "critical",
        "crit": "critical",
        "err": "error",
        "warning": "warning",
        "notice": "info",
        "info": "info",
        "debug": "info",
    }

    udp: str | None = DEFAULT_LISTEN
    tcp: str | None = DEFAULT_LISTEN
    tls: SyslogTlsSettings | None = None
    max_message_bytes: int = Field(DEFAULT_MAX_MESSAGE_BYTES, ge=480, le=16 * 1024 * 1024)
    max_connections: int = Field(DEFAULT_MAX_CONNECTIONS, ge=1, le=65536)
    rules: list[SyslogRule] = Field(default_factory=list)  # type: ignore[assignment]

    @field_validator("udp", "tcp")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return _address(value)

    def create(self, name: str) -> Source:
        from pagerbridge.agent.sources.syslog import SyslogSource

        return SyslogSource(name, self)

    def decode_text(self, text: str) -> Fields | None:
        from pagerbridge.agent.sources.syslog_parse import parse_syslog

        return parse_syslog(text.encode("utf-8", "surrogateescape"), peer="", transport="test")
