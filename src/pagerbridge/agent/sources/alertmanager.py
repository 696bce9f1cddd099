"""The Alertmanager webhook receiver: ``webhook_configs`` JSON (version 4) → PagerDuty events.

Alertmanager sends one request per notification group with every alert of the group. Per alert
(default), each alert is one message whose dedup key is its fingerprint, so each alert opens and
resolves its own PagerDuty alert; per group, the request is one message keyed by a hash of the
groupKey (as Alertmanager's own PagerDuty receiver does). Fields: ``alertmanager_config.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pagerbridge.agent.sources.alertmanager_config import AlertmanagerSettings
from pagerbridge.agent.sources.base import Fields, SourceSink
from pagerbridge.agent.sources.hooks_http import Answer, Malformed, failure, parse_json, submit_all
from pagerbridge.agent.sources.settings import SourceSettings

SUPPORTED_VERSION = "4"
_KEPT_ALERT_KEYS = ("status", "labels", "annotations", "fingerprint", "startsAt", "endsAt")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _labels(value: Any) -> dict[str, str]:
    """A label or annotation set: text → text (anything else is dropped or made text)."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _text(v) for k, v in value.items() if not isinstance(v, dict | list)}


def _status(value: Any) -> str:
    return "resolved" if _text(value).lower() == "resolved" else "firing"


def _severity(labels: Mapping[str, str], known: frozenset[str]) -> str:
    raw = labels.get("severity", "").strip().lower()
    return raw if raw in known else "error"


def _source(labels: Mapping[str, str]) -> str:
    return labels.get("instance") or labels.get("job") or "alertmanager"


def _common(body: Mapping[str, Any]) -> dict[str, Any]:
    truncated = body.get("truncatedAlerts")
    return {
        "receiver": _text(body.get("receiver")),
        "group_key": _text(body.get("groupKey")),
        "group_labels": _labels(body.get("groupLabels")),
        "common_labels": _labels(body.get("commonLabels")),
        "common_annotations": _labels(body.get("commonAnnotations")),
        "external_url": _text(body.get("externalURL")),
        "truncated_alerts": truncated if isinstance(truncated, int) else 0,
    }


def _alert(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": _status(raw.get("status")),
        "labels": _labels(raw.get("labels")),
        "annotations": _labels(raw.get("annotations")),
        "fingerprint": _text(raw.get("fingerprint")),
        "starts_at": _text(raw.get("startsAt")),
        "ends_at": _text(raw.get("endsAt")),
        "generator_url": _text(raw.get("generatorURL")),
    }


def _per_alert(alert: dict[str, Any], common: dict[str, Any], known: frozenset[str]) -> Fields:
    labels, annotations = alert["labels"], alert["annotations"]
    alertname = labels.get("alertname", "")
    fingerprint = alert["fingerprint"] or _digest(json.dumps(labels, sort_keys=True))
    firing = alert["status"] == "firing"
    return {
        **common,
        **alert,
        "fingerprint": fingerprint,
        "action": "trigger" if firing else "resolve",
        "alertname": alertname,
        "dedup_key": fingerprint,
        "summary": annotations.get("summary") or alertname or "Alertmanager alert",
        "severity": _severity(labels, known),
        "source": _source(labels),
        "firing": 1 if firing else 0,
        "resolved": 0 if firing else 1,
        "alerts": [],
    }


def _per_group(
    status: str, alerts: list[dict[str, Any]], common: dict[str, Any], known: frozenset[str]
) -> Fields:
    labels, annotations = common["common_labels"], common["common_annotations"]
    alertname = common["group_labels"].get("alertname") or labels.get("alertname", "")
    firing = sum(1 for a in alerts if a["status"] == "firing")
    title = annotations.get("summary") or alertname or "Alertmanager alerts"
    counted = f"[{status.upper()}:{firing if status == 'firing' else len(alerts)}] {title}"
    return {
        **common,
        "status": status,
        "action": "trigger" if status == "firing" else "resolve",
        "alertname": alertname,
        "labels": labels,
        "annotations": annotations,
        "fingerprint": "",
        "starts_at": alerts[0]["starts_at"] if alerts else "",
        "ends_at": alerts[0]["ends_at"] if alerts else "",
        "generator_url": alerts[0]["generator_url"] if alerts else "",
        "dedup_key": _digest(common["group_key"]),
        "summary": counted,
        "severity": _severity(labels, known),
        "source": _source(labels),
        "firing": firing,
        "resolved": len(alerts) - firing,
        "alerts": alerts,
    }


def _digest(text: str) -> str:
    """SHA-256 hex (Alertmanager's own PagerDuty receiver hashes the groupKey so)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def decode_webhook(body: bytes, settings: AlertmanagerSettings) -> list[Fields]:
    """The messages of one webhook request; :class:`Malformed` when it is not Alertmanager's."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise Malformed("the body is not a JSON object (Alertmanager's webhook JSON)")
    version = data.get("version")
    if version is not None and _text(version) != SUPPORTED_VERSION:
        raise Malformed(f"webhook version {_text(version)[:20]!r}: only version 4 is known")
    raw_alerts = data.get("alerts")
    if not isinstance(raw_alerts, list):
        raise Malformed("the body has no 'alerts' list")
    alerts = [_alert(a) for a in raw_alerts if isinstance(a, Mapping)]
    if len(alerts) != len(raw_alerts):
        raise Malformed("every item of 'alerts' must be an object")
    common = _common(data)
    known = settings.known_severities()
    if settings.per == "group":
        if not alerts and not common["group_key"]:
            return []
        return [_per_group(_status(data.get("status")), alerts, common, known)]
    return [_per_alert(alert, common, known) for alert in alerts]


class AlertmanagerSource:
    """``sources.alertmanager.<name>``: served by the agent at ``POST /alertmanager/<name>``."""

    own_auth = False  # the agent's shared token (Alertmanager's http_config.authorization)

    def __init__(self, name: str, settings: AlertmanagerSettings) -> None:
        self.name = name
        self.settings = settings
        self._sink: SourceSink | None = None

    async def start(self, sink: SourceSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        """Nothing to close: requests in progress finish through the sink."""

    async def reload(self, settings: SourceSettings) -> None:
        assert isinstance(settings, AlertmanagerSettings)
        self.settings = settings

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        sink = self._sink
        if sink is None:
            return failure(503, "the receiver is not running", headers={"Retry-After": "5"})
        try:
            messages = decode_webhook(body, self.settings)
        except Malformed as exc:
            sink.malformed(self.name, str(exc))
            return failure(400, str(exc))
        return await submit_all(sink, self.name, messages)


__all__ = ["AlertmanagerSource", "decode_webhook"]
