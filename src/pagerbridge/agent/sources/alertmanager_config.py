"""Settings of the Alertmanager webhook receiver (``sources.alertmanager.<name>``) and its fields.

One instance per name serves ``POST /alertmanager/<name>``: point an Alertmanager
``webhook_configs`` entry at it. Without rules, a built-in rule sends one PagerDuty alert per
Alertmanager alert (or per group), firing → trigger, resolved → resolve, with the fields below
as summary, severity, source and dedup key; rules (first match wins) may change any of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from pagerbridge.agent.sources.settings import RuleSettings, SourceSettings

if TYPE_CHECKING:
    from pagerbridge.agent.sources.base import Fields, Source

#: Every message (one alert, or one group) carries all of these.
ALERTMANAGER_FIELDS = frozenset(
    {
        "action",  # trigger (firing) or resolve (resolved)
        "status",  # firing or resolved: the alert's own (per group: the group's)
        "alertname",
        "labels",  # the alert's labels (per group: commonLabels)
        "annotations",  # the alert's annotations (per group: commonAnnotations)
        "fingerprint",  # Alertmanager's alert fingerprint ("" per group)
        "starts_at",
        "ends_at",
        "generator_url",
        "dedup_key",  # the fingerprint, or a hash of groupKey per group
        "summary",  # annotations.summary, else the alertname (per group: "[FIRING:2] name")
        "severity",  # labels.severity when the severity map knows it, else "error"
        "source",  # labels.instance, else labels.job, else "alertmanager"
        "receiver",
        "group_key",
        "group_labels",
        "common_labels",
        "common_annotations",
        "external_url",
        "truncated_alerts",
        "firing",  # how many alerts of the group fire (1 or 0 per alert)
        "resolved",  # how many are resolved
        "alerts",  # per group: every alert (status, labels, annotations, fingerprint, times)
    }
)


class AlertmanagerRule(RuleSettings):
    """A rule over Alertmanager fields; by default it sends what the status says."""

    FIELDS: ClassVar[frozenset[str] | None] = ALERTMANAGER_FIELDS

    action: str = "{{ action }}"


class AlertmanagerSettings(SourceSettings):
    """``sources.alertmanager.<name>``: routing key, grouping and optional rules."""

    KIND: ClassVar[str] = "alertmanager"
    DEFAULTS: ClassVar[dict[str, str]] = {
        "dedup_key": "{{ dedup_key }}",
        "summary": "{{ summary }}",
        "source": "{{ source }}",
        "severity": "{{ severity }}",
    }
    SEVERITY_MAP: ClassVar[dict[str, str]] = {
        "critical": "critical",
        "page": "critical",
        "error": "error",
        "high": "error",
        "major": "error",
        "warning": "warning",
        "warn": "warning",
        "medium": "warning",
        "minor": "warning",
        "info": "info",
        "informational": "info",
        "low": "info",
        "none": "info",
    }

    #: ``alert``: one PagerDuty alert per Alertmanager alert (its fingerprint); ``group``: one per
    #: Alertmanager notification group (its groupKey), as Alertmanager's own PagerDuty receiver.
    per: Literal["alert", "group"] = "alert"
    rules: list[AlertmanagerRule] = Field(default_factory=list)  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _default_rule(cls, data: Any) -> Any:
        """No rules: one rule that sends every message as its status says."""
        if isinstance(data, dict) and not data.get("rules"):
            return {**data, "rules": [{"name": "default"}]}
        return data

    @model_validator(mode="after")
    def _needs_routing_key(self) -> AlertmanagerSettings:
        if self.routing_key is None and any(
            r.routing_key is None and r.action != "drop" for r in self.rules
        ):
            raise ValueError(
                "routing_key is required (the integration key of the PagerDuty service), "
                "unless every rule gives its own"
            )
        return self

    def create(self, name: str) -> Source:
        from pagerbridge.agent.sources.alertmanager import AlertmanagerSource

        return AlertmanagerSource(name, self)

    def decode_text(self, text: str) -> Fields | None:
        """``rules test --message``: a webhook body; the fields of its first message."""
        from pagerbridge.agent.sources.alertmanager import decode_webhook

        messages = decode_webhook(text.encode("utf-8", "surrogateescape"), self)
        return messages[0] if messages else None

    def known_severities(self) -> frozenset[str]:
        """Severity values the rules can map (the rest become ``error``)."""
        names = set(type(self).SEVERITY_MAP) | set(self.severity_map)
        for rule in self.rules:
            names.update(rule.severity_map)
        return frozenset(names)


__all__ = ["ALERTMANAGER_FIELDS", "AlertmanagerRule", "AlertmanagerSettings"]
