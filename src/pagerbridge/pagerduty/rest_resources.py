"""Typed REST calls for everything around incidents.

Services, escalation policies, users, on-calls, schedules, priorities, webhook subscriptions,
maintenance windows, abilities and audit records (the one cursor-paginated collection here).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pagerbridge.errors import ForbiddenError
from pagerbridge.pagerduty.rest_base import RestCalls, as_list, choice, ref, seg
from pagerbridge.pagerduty.rest_models import (
    AuditRecord,
    EscalationPolicy,
    MaintenanceWindow,
    OnCall,
    Priority,
    Schedule,
    Service,
    User,
    WebhookSubscription,
)

WEBHOOK_FILTER_TYPES = frozenset({"account_reference", "service_reference", "team_reference"})
WEBHOOK_LIST_FILTER_TYPES = frozenset({"account", "service", "team"})
MAINTENANCE_WINDOW_FILTERS = frozenset({"past", "future", "ongoing", "open", "all"})


class ResourceCalls(RestCalls):
    """Typed calls for the resources the connector and the toolkit read and manage."""

    # -- services ---------------------------------------------------------------------------
    async def list_services(
        self,
        *,
        query: str | None = None,
        name: str | None = None,
        team_ids: Sequence[str] | None = None,
        include: Sequence[str] | None = None,
        sort_by: str | None = None,
    ) -> AsyncIterator[Service]:
        params = {
            "query": query,
            "name": name,
            "team_ids[]": as_list(team_ids),
            "include[]": as_list(include),
            "sort_by": sort_by,
        }
        async for item in self.iter_all("/services", params):
            yield Service.model_validate(item)

    async def get_service(
        self, service_id: str, *, include: Sequence[str] | None = None
    ) -> Service:
        data = await self.entity(
            "GET", f"/services/{seg(service_id)}", "service", params={"include[]": as_list(include)}
        )
        return Service.model_validate(data)

    # -- escalation policies ----------------------------------------------------------------
    async def list_escalation_policies(
        self,
        *,
        query: str | None = None,
        user_ids: Sequence[str] | None = None,
        team_ids: Sequence[str] | None = None,
        include: Sequence[str] | None = None,
        sort_by: str | None = None,
    ) -> AsyncIterator[EscalationPolicy]:
        params = {
            "query": query,
            "user_ids[]": as_list(user_ids),
            "team_ids[]": as_list(team_ids),
            "include[]": as_list(include),
            "sort_by": sort_by,
        }
        async for item in self.iter_all("/escalation_policies", params):
            yield EscalationPolicy.model_validate(item)

    async def get_escalation_policy(
        self, policy_id: str, *, include: Sequence[str] | None = None
    ) -> EscalationPolicy:
        data = await self.entity(
            "GET",
            f"/escalation_policies/{seg(policy_id)}",
            "escalation_policy",
            params={"include[]": as_list(include)},
        )
        return EscalationPolicy.model_validate(data)

    # -- users ------------------------------------------------------------------------------
    async def list_users(
        self,
        *,
        query: str | None = None,
        team_ids: Sequence[str] | None = None,
        include: Sequence[str] | None = None,
    ) -> AsyncIterator[User]:
        params = {"query": query, "team_ids[]": as_list(team_ids), "include[]": as_list(include)}
        async for item in self.iter_all("/users", params):
            yield User.model_validate(item)

    async def get_user(self, user_id: str, *, include: Sequence[str] | None = None) -> User:
        data = await self.entity(
            "GET", f"/users/{seg(user_id)}", "user", params={"include[]": as_list(include)}
        )
        return User.model_validate(data)

    async def get_current_user(self) -> User:
        """GET /users/me: the user behind a user token (account tokens get a 400)."""
        return User.model_validate(await self.entity("GET", "/users/me", "user"))

    # -- on-calls and schedules -------------------------------------------------------------
    async def list_oncalls(
        self,
        *,
        user_ids: Sequence[str] | None = None,
        escalation_policy_ids: Sequence[str] | None = None,
        schedule_ids: Sequence[str] | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        earliest: bool | None = None,
        include: Sequence[str] | None = None,
        time_zone: str | None = None,
    ) -> AsyncIterator[OnCall]:
        params = {
            "user_ids[]": as_list(user_ids),
            "escalation_policy_ids[]": as_list(escalation_policy_ids),
            "schedule_ids[]": as_list(schedule_ids),
            "since": since,
            "until": until,
            "earliest": earliest,
            "include[]": as_list(include),
            "time_zone": time_zone,
        }
        async for item in self.iter_all("/oncalls", params):
            yield OnCall.model_validate(item)

    async def list_schedules(
        self,
        *,
        query: str | None = None,
        team_ids: Sequence[str] | None = None,
        include: Sequence[str] | None = None,
        time_zone: str | None = None,
    ) -> AsyncIterator[Schedule]:
        params = {
            "query": query,
            "team_ids[]": as_list(team_ids),
            "include[]": as_list(include),
            "time_zone": time_zone,
        }
        async for item in self.iter_all("/schedules", params):
            yield Schedule.model_validate(item)

    async def get_schedule(
        self,
        schedule_id: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        time_zone: str | None = None,
    ) -> Schedule:
        params = {"since": since, "until": until, "time_zone": time_zone}
        data = await self.entity("GET", f"/schedules/{seg(schedule_id)}", "schedule", params=params)
        return Schedule.model_validate(data)

    # -- priorities and abilities -----------------------------------------------------------
    async def list_priorities(self) -> list[Priority]:
        """Every priority of the account (an empty list when priorities are switched off)."""
        return [Priority.model_validate(p) async for p in self.iter_all("/priorities")]

    async def list_abilities(self) -> list[str]:
        answer = await self.request("GET", "/abilities")
        abilities = answer.get("abilities", []) if isinstance(answer, dict) else []
        return [str(a) for a in abilities]

    async def has_ability(self, ability: str) -> bool:
        """GET /abilities/{id}: 204 means yes, 402 (or 403) means the account lacks it."""
        try:
            await self.request("GET", f"/abilities/{seg(ability)}")
        except ForbiddenError:
            return False
        return True

    # -- webhook subscriptions --------------------------------------------------------------
    async def list_webhook_subscriptions(
        self, *, filter_type: str | None = None, filter_id: str | None = None
    ) -> AsyncIterator[WebhookSubscription]:
        # listing filters by "service"/"team"/"account", creating takes "service_reference"...
        kind = None if filter_type is None else filter_type.removesuffix("_reference")
        if kind is not None:
            choice("filter_type", kind, WEBHOOK_LIST_FILTER_TYPES)
        params = {"filter_type": kind, "filter_id": filter_id}
        async for item in self.iter_all("/webhook_subscriptions", params):
            yield WebhookSubscription.model_validate(item)

    async def get_webhook_subscription(self, subscription_id: str) -> WebhookSubscription:
        data = await self.entity(
            "GET", f"/webhook_subscriptions/{seg(subscription_id)}", "webhook_subscription"
        )
        return WebhookSubscription.model_validate(data)

    async def create_webhook_subscription(
        self,
        *,
        url: str,
        events: Sequence[str],
        filter_type: str = "account_reference",
        filter_id: str | None = None,
        description: str | None = None,
        active: bool = True,
        custom_headers: Mapping[str, str] | None = None,
    ) -> WebhookSubscription:
        """POST /webhook_subscriptions; the answer carries the signing secret (only this once)."""
        choice("filter_type", filter_type, WEBHOOK_FILTER_TYPES)
        if filter_type != "account_reference" and not filter_id:
            raise ValueError(f"filter_id is required for filter_type={filter_type!r}")
        if not events:
            raise ValueError("events must name at least one event type (e.g. incident.triggered)")
        delivery: dict[str, Any] = {"type": "http_delivery_method", "url": url}
        if custom_headers:
            delivery["custom_headers"] = [
                {"name": k, "value": v} for k, v in custom_headers.items()
            ]
        flt: dict[str, Any] = {"type": filter_type}
        if filter_id:
            flt["id"] = filter_id
        body: dict[str, Any] = {
            "type": "webhook_subscription",
            "active": active,
            "delivery_method": delivery,
            "events": list(dict.fromkeys(events)),
            "filter": flt,
        }
        if description is not None:
            body["description"] = description
        data = await self.entity(
            "POST", "/webhook_subscriptions", "webhook_subscription", body=body
        )
        return WebhookSubscription.model_validate(data)

    async def update_webhook_subscription(
        self,
        subscription_id: str,
        *,
        active: bool | None = None,
        description: str | None = None,
        events: Sequence[str] | None = None,
    ) -> WebhookSubscription:
        body: dict[str, Any] = {}
        if active is not None:
            body["active"] = active
        if description is not None:
            body["description"] = description
        if events is not None:
            body["events"] = list(dict.fromkeys(events))
        if not body:
            raise ValueError("nothing to update")
        data = await self.entity(
            "PUT",
            f"/webhook_subscriptions/{seg(subscription_id)}",
            "webhook_subscription",
            body=body,
        )
        return WebhookSubscription.model_validate(data)

    async def delete_webhook_subscription(self, subscription_id: str) -> None:
        await self.request("DELETE", f"/webhook_subscriptions/{seg(subscription_id)}")

    # -- maintenance windows ----------------------------------------------------------------
    async def list_maintenance_windows(
        self,
        *,
        service_ids: Sequence[str] | None = None,
        team_ids: Sequence[str] | None = None,
        filter: str | None = None,
        query: str | None = None,
        include: Sequence[str] | None = None,
    ) -> AsyncIterator[MaintenanceWindow]:
        if filter is not None:
            choice("filter", filter, MAINTENANCE_WINDOW_FILTERS)
        params = {
            "service_ids[]": as_list(service_ids),
            "team_ids[]": as_list(team_ids),
            "filter": filter,
            "query": query,
            "include[]": as_list(include),
        }
        async for item in self.iter_all("/maintenance_windows", params):
            yield MaintenanceWindow.model_validate(item)

    async def get_maintenance_window(self, window_id: str) -> MaintenanceWindow:
        data = await self.entity(
            "GET", f"/maintenance_windows/{seg(window_id)}", "maintenance_window"
        )
        return MaintenanceWindow.model_validate(data)

    async def create_maintenance_window(
        self,
        *,
        start_time: datetime,
        end_time: datetime,
        service_ids: Sequence[str],
        description: str | None = None,
        from_email: str | None = None,
    ) -> MaintenanceWindow:
        sender = self.require_from(from_email, "creating a maintenance window")
        body = _window_body(start_time, end_time, service_ids, description)
        data = await self.entity(
            "POST", "/maintenance_windows", "maintenance_window", body=body, from_email=sender
        )
        return MaintenanceWindow.model_validate(data)

    async def update_maintenance_window(
        self,
        window_id: str,
        *,
        start_time: datetime,
        end_time: datetime,
        service_ids: Sequence[str],
        description: str | None = None,
    ) -> MaintenanceWindow:
        """PUT /maintenance_windows/{id}: the whole window (the schema requires every field)."""
        body = _window_body(start_time, end_time, service_ids, description)
        data = await self.entity(
            "PUT", f"/maintenance_windows/{seg(window_id)}", "maintenance_window", body=body
        )
        return MaintenanceWindow.model_validate(data)

    async def delete_maintenance_window(self, window_id: str) -> None:
        """DELETE /maintenance_windows/{id}: ends an ongoing window or cancels a future one."""
        await self.request("DELETE", f"/maintenance_windows/{seg(window_id)}")

    # -- audit records (cursor pagination) --------------------------------------------------
    async def list_audit_records(
        self,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        root_resource_types: Sequence[str] | None = None,
        actor_type: str | None = None,
        actor_id: str | None = None,
        actions: Sequence[str] | None = None,
    ) -> AsyncIterator[AuditRecord]:
        params = {
            "since": since,
            "until": until,
            "root_resource_types[]": as_list(root_resource_types),
            "actor_type": actor_type,
            "actor_id": actor_id,
            "actions[]": as_list(actions),
        }
        async for item in self.iter_all("/audit/records", params, cursor=True):
            yield AuditRecord.model_validate(item)


def _window_body(
    start_time: datetime, end_time: datetime, service_ids: Sequence[str], description: str | None
) -> dict[str, Any]:
    if not service_ids:
        raise ValueError("a maintenance window needs at least one service id")
    if end_time <= start_time:
        raise ValueError("end_time must be after start_time")
    body: dict[str, Any] = {
        "type": "maintenance_window",
        "start_time": start_time.isoformat(),
        "end_time": end_time.isoformat(),
        "services": [ref(s, "service_reference") for s in service_ids],
    }
    if description is not None:
        body["description"] = description
    return body
