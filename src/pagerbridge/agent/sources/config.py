"""``sources:`` in the agent's YAML: one optional key per source kind.

Each source kind adds ONE field here (its settings class lives in its own module). A field is
either one settings object (``syslog: {...}``) or, for sources configured by name, a mapping
name → settings (``hooks: {grafana: {...}}``, instance names ``hooks/grafana``).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from pagerbridge.agent.sources.alertmanager_config import AlertmanagerSettings
from pagerbridge.agent.sources.hooks_config import HookSettings
from pagerbridge.agent.sources.settings import SourceSettings
from pagerbridge.agent.sources.snmp_config import SnmpSettings
from pagerbridge.agent.sources.syslog_config import SyslogSettings

_URL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class SourcesSettings(BaseModel):
    """Every configured source; an absent key means that source is off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    syslog: SyslogSettings | None = None
    snmp: SnmpSettings | None = None

    # HTTP sources, by name: POST /alertmanager/<name> and POST /hooks/<name>.
    alertmanager: dict[str, AlertmanagerSettings] | None = None
    hooks: dict[str, HookSettings] | None = None

    @field_validator("alertmanager", "hooks")
    @classmethod
    def _url_names(
        cls, value: dict[str, SourceSettings] | None
    ) -> dict[str, SourceSettings] | None:
        for name in value or {}:
            if not _URL_NAME.fullmatch(name):
                raise ValueError(f"{name!r}: a name is letters, digits, '.', '_' or '-' (in a URL)")
        return value

    def instances(self) -> dict[str, SourceSettings]:
        """Instance name → settings, for every source that is on."""
        found: dict[str, SourceSettings] = {}
        for key in type(self).model_fields:
            value = getattr(self, key)
            if isinstance(value, SourceSettings):
                found[key] = value
            elif isinstance(value, dict):
                for name, settings in value.items():
                    if isinstance(settings, SourceSettings):
                        found[f"{key}/{name}"] = settings
        return found


__all__ = ["SourcesSettings"]
