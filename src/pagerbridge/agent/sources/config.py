"""``sources:`` in the agent's YAML: one optional key per source kind.

Each source kind adds ONE field here (its settings class lives in its own module). A field is
either one settings object (``syslog: {...}``) or, for sources configured by name, a mapping
name → settings (``hooks: {grafana: {...}}``, instance names ``hooks/grafana``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from pagerbridge.agent.sources.settings import SourceSettings
from pagerbridge.agent.sources.snmp_config import SnmpSettings
from pagerbridge.agent.sources.syslog_config import SyslogSettings


class SourcesSettings(BaseModel):
    """Every configured source; an absent key means that source is off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    syslog: SyslogSettings | None = None
    snmp: SnmpSettings | None = None

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
