"""Typed models of PagerDuty v3 webhook envelopes and of ``event.data`` per event type.

Source: developer-docs ``webhooks/01-Overview.md`` (the event-type table and one example per
``data.type``). Every model allows extra fields, because PagerDuty adds fields without notice;
only what every documented example carries is required. An event type that is not in
``EVENT_TYPES`` (PagerDuty adds those too) parses into ``GenericData``: never an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from pagerbridge.errors import PagerDutyError

__all__ = [
    "DATA_TYPE_MODELS",
    "EVENT_TYPES",
    "GenericData",
    "IncidentActionInvocation",
    "IncidentConferenceBridge",
    "IncidentData",
    "IncidentFieldValues",
    "IncidentNote",
    "IncidentResponder",
    "IncidentRoleAssignment",
    "IncidentStatusUpdate",
    "IncidentTask",
    "IncidentWorkflowInstance",
    "Reference",
    "ServiceData",
    "ServiceFieldValues",
    "WebhookData",
    "WebhookEnvelope",
    "WebhookEvent",
    "WebhookPayloadError",
]


class WebhookPayloadError(PagerDutyError):
    """A webhook body is not JSON or not a v3 envelope; the message says where."""


def _text(value: Any) -> Any:
    """PagerDuty sends some "string" fields as numbers (e.g. ``conference_number: 1000``)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_text)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Reference(_Open):
    """A resource reference (``user_reference``, ``service_reference``, ...)."""

    id: str
    type: str
    summary: str | None = None
    self_: str | None = Field(default=None, alias="self")
    html_url: str | None = None


class ConferenceBridge(_Open):
    conference_number: Text | None = None
    conference_url: str | None = None


class ConferenceNumber(_Open):
    label: str | None = None
    number: Text | None = None


class FieldValue(_Open):
    """One custom field value; ``value`` is a string, a number, a list, ... by ``data_type``."""

    id: str
    name: str | None = None
    data_type: str | None = None
    field_type: str | None = None
    namespace: str | None = None
    type: str | None = None
    value: Any = None


class IncidentData(_Open):
    """``data.type`` ``incident``: incident.triggered, .acknowledged, .resolved, ..."""

    id: str
    type: str
    self_: str | None = Field(default=None, alias="self")
    html_url: str | None = None
    number: int | None = None
    status: str | None = None
    incident_key: str | None = None
    created_at: datetime | None = None
    reopened_at: datetime | None = None
    title: str | None = None
    incident_type: dict[str, Any] | None = None
    service: Reference | None = None
    assignees: list[Reference] = Field(default_factory=list)
    escalation_policy: Reference | None = None
    teams: list[Reference] = Field(default_factory=list)
    priority: Reference | None = None
    urgency: str | None = None
    conference_bridge: ConferenceBridge | None = None
    resolve_reason: Any = None


class IncidentNote(_Open):
    """``incident.annotated``: a note was added."""

    id: str
    type: str
    incident: Reference
    content: str | None = None
    trimmed: bool | None = None


class IncidentConferenceBridge(_Open):
    """``incident.conference_bridge.updated``."""

    type: str
    incident: Reference
    conference_numbers: list[ConferenceNumber] = Field(default_factory=list)
    conference_url: str | None = None


class IncidentFieldValues(_Open):
    """``incident.custom_field_values.updated``."""

    type: str
    incident: Reference
    custom_fields: list[FieldValue] = Field(default_factory=list)
    changed_custom_fields: list[FieldValue] = Field(default_factory=list)


class RoleAssignment(_Open):
    id: str
    type: str | None = None
    incident: Reference | None = None
    role: Reference | None = None
    assignee: Reference | None = None
    old_assignee: Reference | None = None
    status: str | None = None


class IncidentRoleAssignment(_Open):
    """``incident.role.assigned``."""

    type: str
    incident_role_assignments: list[RoleAssignment] = Field(default_factory=list)


class IncidentStatusUpdate(_Open):
    """``incident.status_update_published``."""

    id: str
    type: str
    incident: Reference
    message: str | None = None
    trimmed: bool | None = None


class IncidentResponder(_Open):
    """``incident.responder.added`` / ``.replied``."""

    type: str
    incident: Reference
    user: Reference | None = None
    escalation_policy: Reference | None = None
    message: str | None = None
    state: str | None = None


class IncidentTask(_Open):
    """``incident.task.created`` / ``.updated`` / ``.completed``."""

    id: str
    type: str
    incident: Reference
    name: str | None = None
    description: str | None = None
    summary: str | None = None
    status: str | None = None
    assignees: list[Reference] = Field(default_factory=list)


class IncidentWorkflowInstance(_Open):
    """``incident.workflow.started`` / ``.completed``."""

    id: str
    type: str
    summary: str | None = None
    incident_workflow: Reference | None = None
    workflow_trigger: Reference | None = None
    incident: Reference | None = None
    service: Reference | None = None


class IncidentActionInvocation(_Open):
    """``incident.action_invocation.created`` / ``.updated`` / ``.terminated``."""

    id: str
    type: str
    self_: str | None = Field(default=None, alias="self")
    html_url: str | None = None
    incident: Reference | None = None
    action: Reference | None = None
    state: str | None = None


class ServiceData(_Open):
    """``service.created`` / ``.updated`` / ``.deleted``."""

    id: str
    type: str
    self_: str | None = Field(default=None, alias="self")
    html_url: str | None = None
    summary: str | None = None
    alert_creation: str | None = None
    teams: list[Reference] = Field(default_factory=list)


class ServiceFieldValues(_Open):
    """``service.custom_field_values.updated``."""

    type: str
    service: Reference
    custom_fields: list[FieldValue] = Field(default_factory=list)
    changed_custom_fields: list[FieldValue] = Field(default_factory=list)


class GenericData(_Open):
    """``data`` of an event type we do not know (yet): every field kept as sent."""

    type: str | None = None


WebhookData = (
    IncidentData
    | IncidentNote
    | IncidentConferenceBridge
    | IncidentFieldValues
    | IncidentRoleAssignment
    | IncidentStatusUpdate
    | IncidentResponder
    | IncidentTask
    | IncidentWorkflowInstance
    | IncidentActionInvocation
    | ServiceData
    | ServiceFieldValues
    | GenericData
)

#: ``data.type`` → model, as in the documented table.
DATA_TYPE_MODELS: dict[str, type[BaseModel]] = {
    "incident": IncidentData,
    "incident_note": IncidentNote,
    "incident_conference_bridge": IncidentConferenceBridge,
    "incident_field_values": IncidentFieldValues,
    "incident_role_assignment": IncidentRoleAssignment,
    "incident_status_update": IncidentStatusUpdate,
    "incident_responder": IncidentResponder,
    "incident_task": IncidentTask,
    "incident_workflow_instance": IncidentWorkflowInstance,
    "incident_action_invocation": IncidentActionInvocation,
    "service": ServiceData,
    "service_field_values": ServiceFieldValues,
}

#: The 30 documented v3 event types → their ``data.type``: the one copy of PagerDuty's table
#: (the sandbox's ``webhooks_data.DATA_TYPES`` is this, narrowed to what it publishes).
EVENT_TYPES: dict[str, str] = {
    "incident.acknowledged": "incident",
    "incident.annotated": "incident_note",
    "incident.conference_bridge.updated": "incident_conference_bridge",
    "incident.custom_field_values.updated": "incident_field_values",
    "incident.delegated": "incident",
    "incident.escalated": "incident",
    "incident.incident_type.changed": "incident",
    "incident.priority_updated": "incident",
    "incident.reassigned": "incident",
    "incident.reopened": "incident",
    "incident.resolved": "incident",
    "incident.responder.added": "incident_responder",
    "incident.responder.replied": "incident_responder",
    "incident.role.assigned": "incident_role_assignment",
    "incident.service_updated": "incident",
    "incident.status_update_published": "incident_status_update",
    "incident.task.completed": "incident_task",
    "incident.task.created": "incident_task",
    "incident.task.updated": "incident_task",
    "incident.triggered": "incident",
    "incident.unacknowledged": "incident",
    "incident.action_invocation.created": "incident_action_invocation",
    "incident.action_invocation.terminated": "incident_action_invocation",
    "incident.action_invocation.updated": "incident_action_invocation",
    "incident.workflow.started": "incident_workflow_instance",
    "incident.workflow.completed": "incident_workflow_instance",
    "service.created": "service",
    "service.custom_field_values.updated": "service_field_values",
    "service.deleted": "service",
    "service.updated": "service",
}


class WebhookClient(_Open):
    """``event.client``: where the change came from (e.g. ``{"name": "PagerDuty"}``)."""

    name: str | None = None


class WebhookEvent(_Open):
    """One outbound event; ``data`` is typed by ``event_type`` (``GenericData`` if unknown)."""

    id: str
    event_type: str
    resource_type: str
    occurred_at: datetime
    agent: Reference | None = None
    client: WebhookClient | None = None
    data: WebhookData

    @field_validator("data", mode="plain")
    @classmethod
    def _typed_data(cls, value: Any, info: ValidationInfo) -> WebhookData:
        if isinstance(value, BaseModel):
            value = value.model_dump(by_alias=True)
        data_type = EVENT_TYPES.get(str(info.data.get("event_type", "")))
        model = DATA_TYPE_MODELS.get(data_type) if data_type else None
        result: WebhookData = (model or GenericData).model_validate(value)  # type: ignore[assignment]
        return result

    @field_serializer("data", mode="plain")
    def _dump_data(self, value: BaseModel, info: FieldSerializationInfo) -> Any:
        return value.model_dump(
            mode=info.mode,
            by_alias=bool(info.by_alias),
            exclude_none=info.exclude_none,
            exclude_unset=info.exclude_unset,
        )

    @property
    def known(self) -> bool:
        """Whether ``event_type`` is one of the documented types (``data`` then typed)."""
        return self.event_type in EVENT_TYPES


class WebhookEnvelope(_Open):
    """The whole body of a v3 webhook: exactly one ``event``."""

    event: WebhookEvent
