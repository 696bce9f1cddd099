"""How a connector is shown: the ``--json`` shapes (stable keys) and the reference's text.

Secrets never reach these shapes in clear: ``secrets`` lists each stored one masked
(``u+ab…yz``), and only when the caller decrypted them to say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.connectors.secrets import mask
from pagerbridge.connectors.service import Activity


def webhook_url(record: ConnectorRecord) -> str | None:
    """Where PagerDuty would deliver this connector's webhooks (needs ``public_url``)."""
    base = record.settings.public_url
    return f"{base.rstrip('/')}/connectors/{record.name}/webhook" if base else None


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def ago(epoch: float | None, now: float) -> str:
    """``2m ago``, ``3h ago``; ``never`` when it never happened."""
    if epoch is None:
        return "never"
    seconds = max(0, int(now - epoch))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def summary(record: ConnectorRecord, last_sync_at: float | None, now: float) -> dict[str, Any]:
    """One row of ``list``."""
    return {
        "name": record.name,
        "type": record.type,
        "status": record.status,
        "direction": record.settings.sync_direction,
        "auth_type": record.settings.auth_type,
        "last_sync_at": iso(last_sync_at),
        "last_sync": ago(last_sync_at, now),
    }


def masked(secrets: Mapping[str, str]) -> dict[str, str]:
    """Each stored secret, masked, under its ``--config`` key."""
    names = {"client_secret": "oauth.client_secret"}
    return {names.get(k, k): mask(v) for k, v in sorted(secrets.items()) if v}


def mappings(record: ConnectorRecord) -> list[dict[str, Any]]:
    """Every local service's mapping: the table's rows over ``custom.service_mappings``."""
    services = sorted(set(record.service_mappings) | set(record.mappings))
    out = []
    for service in services:
        row = record.mappings.get(service)
        out.append(
            {
                "im_service": service,
                "pd_service": record.service_mappings.get(service),
                "escalation_policy": row.escalation_policy_id if row else None,
            }
        )
    return out


def status(
    record: ConnectorRecord,
    activity: Activity,
    now: float,
    secrets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``status``: the reference's fields, the latest error, webhook, mappings and settings."""
    s = record.settings
    return {
        "name": record.name,
        "type": record.type,
        "status": record.status,
        "direction": s.sync_direction,
        "auth_type": s.auth_type,
        "base_url": s.base_url,
        "last_sync_at": iso(activity.last_sync_at),
        "last_sync": ago(activity.last_sync_at, now),
        "incidents_synced_24h": activity.synced,
        "sync_errors_24h": activity.errors,
        "last_error": (
            {"at": iso(activity.last_error_at), "message": activity.last_error}
            if activity.last_error
            else None
        ),
        "pending": activity.pending,
        "webhook": {"enabled": s.enable_webhook, "url": webhook_url(record)},
        "mappings": len(mappings(record)),
        "settings": s.model_dump(mode="json"),
        "secrets": masked(secrets or {}),
    }


def status_lines(view: Mapping[str, Any]) -> list[str]:
    """The reference's ``status`` text (then what it leaves out: errors, webhook, mappings)."""
    last = view["last_sync_at"]
    lines = [
        f"Connector: {view['name']} ({view['type']})",
        f"Status: {view['status'].capitalize()}",
        f"Direction: {view['direction'].capitalize()}",
        "Last Sync: "
        + (
            f"{last.replace('T', ' ').removesuffix('Z')[:19]} ({view['last_sync']})"
            if last
            else "never"
        ),
        f"Incidents Synced: {view['incidents_synced_24h']} (last 24h)",
        f"Sync Errors: {view['sync_errors_24h']}",
    ]
    if view["last_error"]:
        error = view["last_error"]
        when = f" ({error['at'].replace('T', ' ').removesuffix('Z')[:19]})" if error["at"] else ""
        lines.append(f"Last Error{when}: {error['message']}")
    if view["pending"]:
        lines.append(f"Pending: {view['pending']} change(s) waiting to be sent")
    webhook = view["webhook"]
    state = webhook.get("state")
    last = webhook.get("last_received_at")
    if state in ("subscribed", "rotating", "retiring"):
        heard = f", last event {last.replace('T', ' ').removesuffix('Z')[:19]}" if last else ""
        lines.append(f"Webhook: Enabled, {state} ({webhook['url']}{heard})")
    elif not webhook["enabled"]:
        lines.append("Webhook: Disabled")
    elif webhook["url"]:
        lines.append(f"Webhook: Enabled, not subscribed ({webhook['url']})")
    else:
        lines.append(
            f"Webhook: Enabled, not subscribed (im connector webhook {view['name']} --enable "
            "--public-url URL)"
        )
    lines.append(f"Mappings: {view['mappings']}")
    for key, value in view["secrets"].items():
        lines.append(f"{key}: {value}")
    return lines
