"""``im connector test``: the reference's check list, each failure with its reason and its fix.

Only reads PagerDuty (GET requests): a test that created an incident to prove write access would
page someone. So for an API key write access is reported as unknown (PagerDuty has no way to tell
a read-only key without a write); for OAuth the granted scopes answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

from pagerbridge.connectors.credentials import scope_covers
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.connectors.views import webhook_url
from pagerbridge.errors import (
    APIError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    PagerDutyError,
    TransportError,
)
from pagerbridge.pagerduty.rest import RestClient

State = Literal["ok", "failed", "unknown", "info"]
MARK: Final[dict[str, str]] = {"ok": "✓", "failed": "✗", "unknown": "?", "info": "-"}
SENDING: Final = ("outbound", "bidirectional")
#: Scopes, and what each is needed for (Keep's list, as PagerDuty names them).
SCOPE_USES: Final = {
    "incidents.read": "reading incidents",
    "incidents.write": "creating and updating PagerDuty incidents",
    "services.read": "checking and importing services",
    "webhook_subscriptions.read": "checking the webhook subscription",
    "webhook_subscriptions.write": "im connector webhook --enable",
}


@dataclass(frozen=True)
class Check:
    """One line of ``test``: its stable key, state, text and (for a failure) the fix."""

    check: str
    state: State
    message: str
    required: bool = True
    fix: str | None = None

    @property
    def line(self) -> str:
        return f"{MARK[self.state]} {self.message}"

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def failed_required(checks: Sequence[Check]) -> bool:
    return any(c.state == "failed" and c.required for c in checks)


def routing_key_checks(record: ConnectorRecord) -> list[Check]:
    """A routing-key connector has no REST credential: nothing can be read, and sending an event
    to prove the key would open an incident."""
    return [
        Check("routing_key", "ok", "Routing key set (Events API mode)"),
        Check(
            "routing_key_valid",
            "unknown",
            "routing key cannot be verified without sending an event",
            required=False,
        ),
        Check(
            "notes_assignment",
            "info",
            "notes and assignment are not available with a routing key: declare triggers, ack "
            "acknowledges, resolve and close resolve (add an API key for the rest)",
            required=False,
        ),
    ]


class _Checker:
    def __init__(
        self, record: ConnectorRecord, client: RestClient, granted: Sequence[str] | None
    ) -> None:
        self.record = record
        self.client = client
        self.granted = None if granted is None else set(granted)
        self.name = record.name
        self.out: list[Check] = []

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.out.append(Check(*args, **kwargs))

    def _scope_fix(self, scope: str) -> str:
        return (
            f"grant {scope} to the OAuth app in PagerDuty (Integrations → App Registration), "
            f"then add it to oauth.scopes: im connector update {self.name} --scopes …"
        )

    def _denied(self, exc: APIError, what: str) -> str:
        if self.record.settings.auth_type in ("oauth_app", "oauth_user"):
            return f"the OAuth token may not read {what} (a scope is missing): {exc.message}"
        return f"the API key may not read {what}: {exc.message}"

    async def connect(self) -> bool:
        settings = self.record.settings
        try:
            await self.client.get_page("/incidents", limit=1)
        except AuthenticationError as exc:
            what = "API key" if settings.auth_type == "api_key" else "OAuth token"
            self.add(
                "api",
                "failed",
                f"PagerDuty API refused the {what} (HTTP 401: {exc.message})",
                fix=self._auth_fix(),
            )
            return False
        except TransportError as exc:
            self.add(
                "api",
                "failed",
                f"Cannot reach PagerDuty API at {settings.base_url}: {exc}",
                fix=f"check the address: im connector update {self.name} --base-url URL "
                "(EU accounts: https://api.eu.pagerduty.com)",
            )
            return False
        except ForbiddenError as exc:
            self.add(
                "api",
                "failed",
                f"Connected, but {self._denied(exc, 'incidents')}",
                fix=self._scope_fix("incidents.read")
                if self.granted is not None
                else "use a key of a user with at least the Responder role",
            )
            return False
        except PagerDutyError as exc:
            self.add("api", "failed", f"PagerDuty API answered with an error: {exc}")
            return False
        self.add("api", "ok", "Connected to PagerDuty API")
        return True

    def _auth_fix(self) -> str:
        if self.record.settings.auth_type == "api_key":
            return (
                "check the key (PagerDuty: Integrations → API Access Keys), then: "
                f"im connector update {self.name} --api-key NEW_KEY"
            )
        return (
            "check oauth.client_id and the client secret: "
            f"im connector update {self.name} --client-secret SECRET"
        )

    async def services(self) -> None:
        wanted = [self.record.settings.custom.service_id, *self.record.service_mappings.values()]
        for service_id in dict.fromkeys(s for s in wanted if s):
            try:
                service = await self.client.get_service(service_id)
            except NotFoundError:
                self.add(
                    f"service:{service_id}",
                    "failed",
                    f"Service {service_id} not found (HTTP 404)",
                    fix=f"list the services this key sees: im connector import-services "
                    f"{self.name} (or curl -H 'Authorization: Token token=YOUR_API_KEY' -H "
                    "'Accept: application/vnd.pagerduty+json;version=2' "
                    f"{self.record.settings.base_url}/services), then: im connector config "
                    f"{self.name} --service-id CORRECT_SERVICE_ID (or map-service)",
                )
            except APIError as exc:
                self.add(
                    f"service:{service_id}",
                    "failed",
                    f"Service {service_id} not accessible: {self._denied(exc, 'services')}",
                    fix=self._scope_fix("services.read") if self.granted is not None else None,
                )
            else:
                if service.status == "disabled":
                    self.add(
                        f"service:{service_id}",
                        "failed",
                        f"Service {service_id} is disabled in PagerDuty: it opens no incident",
                        fix="enable it in PagerDuty, or map another service",
                    )
                else:
                    self.add(f"service:{service_id}", "ok", f"Service {service_id} accessible")

    async def user(self) -> None:
        email = self.record.settings.custom.from_email
        if not email:
            return
        try:
            found = [
                u
                async for u in self.client.list_users(query=email)
                if (u.email or "").lower() == email.lower()
            ]
        except APIError as exc:
            self.add("user", "failed", f"User {email} not checked: {self._denied(exc, 'users')}")
            return
        if found:
            self.add("user", "ok", f"User {email} valid")
        else:
            self.add(
                "user",
                "failed",
                f"User {email} not found: writes name a PagerDuty user in the From header",
                fix=f"im connector update {self.name} --from-email EMAIL_OF_A_PAGERDUTY_USER",
            )

    async def policies(self) -> None:
        wanted = [
            self.record.settings.custom.escalation_policy_id,
            *(m.escalation_policy_id for m in self.record.mappings.values()),
        ]
        for policy_id in dict.fromkeys(p for p in wanted if p):
            key = f"escalation_policy:{policy_id}"
            try:
                await self.client.get_escalation_policy(policy_id)
            except NotFoundError:
                self.add(
                    key,
                    "failed",
                    f"Escalation policy {policy_id} not found (HTTP 404)",
                    fix=f"im connector config {self.name} --escalation-policy ID (or "
                    f"map-escalation); curl {self.record.settings.base_url}/escalation_policies "
                    "lists them",
                )
            except APIError as exc:
                self.add(
                    key,
                    "failed",
                    f"Escalation policy {policy_id} not checked: "
                    f"{self._denied(exc, 'escalation policies')}",
                )
            else:
                self.add(key, "ok", f"Escalation policy {policy_id} found")

    def write_access(self) -> None:
        if self.granted is None:
            self.add(
                "write_access",
                "unknown",
                "write access cannot be verified without a write",
                required=False,
            )
            return
        sends = self.record.settings.sync_direction in SENDING
        for scope, use in SCOPE_USES.items():
            required = scope == "incidents.read" or (scope == "incidents.write" and sends)
            if scope_covers(self.granted, scope):
                self.add(f"scope:{scope}", "ok", f"Scope {scope} granted", required=required)
            else:
                self.add(
                    f"scope:{scope}",
                    "failed",
                    f"Scope {scope} not granted (needed for {use})",
                    required=required,
                    fix=self._scope_fix(scope),
                )

    async def webhook(self) -> None:
        url = webhook_url(self.record)
        enable = f"im connector webhook {self.name} --enable --public-url URL"
        if url is not None:
            try:
                async for sub in self.client.list_webhook_subscriptions():
                    if sub.delivery_method is not None and sub.delivery_method.url == url:
                        self.add(
                            "webhook", "ok", f"Webhook endpoint configured ({url})", required=False
                        )
                        return
            except APIError as exc:
                self.add(
                    "webhook",
                    "failed",
                    f"webhook not checked: {self._denied(exc, 'webhook subscriptions')}",
                    required=False,
                )
                return
        self.add("webhook", "failed", f"webhook not subscribed: run {enable}", required=False)


async def run_checks(
    record: ConnectorRecord, client: RestClient, *, granted_scopes: Sequence[str] | None = None
) -> list[Check]:
    """Every check, in the reference's order. ``granted_scopes``: the OAuth token's scopes
    (None for an API key). Stops after the connection check when PagerDuty cannot be used."""
    checker = _Checker(record, client, granted_scopes)
    if not await checker.connect():
        checker.add("skipped", "info", "other checks skipped until the API answers", False)
        return checker.out
    await checker.services()
    await checker.user()
    await checker.policies()
    checker.write_access()
    await checker.webhook()
    return checker.out
