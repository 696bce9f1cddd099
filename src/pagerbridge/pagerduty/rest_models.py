"""Pydantic models for the REST resources pagerbridge reads.

Tolerant on purpose: PagerDuty adds fields often, so unknown fields are kept (``extra="allow"``)
and almost everything is optional; a model never rejects a real answer for a field we don't use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PDModel(BaseModel):
    """Base: keep unknown fields, accept both field names and aliases."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Reference(PDModel):
    """A ``*_reference`` (or a full object where ``include[]`` expanded it)."""

    id: str
    type: str | None = None
    summary: str | None = None
    self_url: str | None = Field(default=None, alias="self")
    html_url: str | None = None


class Assignment(PDModel):
    at: datetime | None = None
    assignee: Reference


class IncidentBody(PDModel):
    type: str | None = "incident_body"
    details: Any = None


class Incident(PDModel):
    id: str
    type: str | None = "incident"
    incident_number: int | None = None
    title: str | None = None
    summary: str | None = None
    status: str | None = None
    urgency: str | None = None
    incident_key: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    html_url: str | None = None
    service: Reference | None = None
    escalation_policy: Reference | None = None
    priority: Reference | None = None
    assignments: list[Assignment] = Field(default_factory=list)
    teams: list[Reference] = Field(default_factory=list)
    last_status_change_at: datetime | None = None
    resolve_reason: Any = None
    body: IncidentBody | None = None


class IncidentNote(PDModel):
    id: str | None = None
    content: str
    created_at: datetime | None = None
    user: Reference | None = None


class LogEntry(PDModel):
    id: str
    type: str
    summary: str | None = None
    created_at: datetime | None = None
    agent: Reference | None = None
    channel: dict[str, Any] | None = None
    incident: Reference | None = None
    note: str | None = None


class Service(PDModel):
    id: str
    type: str | None = "service"
    name: str | None = None
    summary: str | None = None
    description: str | None = None
    status: str | None = None
    html_url: str | None = None
    escalation_policy: Reference | None = None
    teams: list[Reference] = Field(default_factory=list)


class EscalationRule(PDModel):
    id: str | None = None
    escalation_delay_in_minutes: int | None = None
    targets: list[Reference] = Field(default_factory=list)


class EscalationPolicy(PDModel):
    id: str
    type: str | None = "escalation_policy"
    name: str | None = None
    summary: str | None = None
    description: str | None = None
    num_loops: int | None = None
    escalation_rules: list[EscalationRule] = Field(default_factory=list)
    services: list[Reference] = Field(default_factory=list)
    teams: list[Reference] = Field(default_factory=list)


class User(PDModel):
    id: str
    type: str | None = "user"
    name: str | None = None
    summary: str | None = None
    email: str | None = None
    role: str | None = None
    time_zone: str | None = None
    html_url: str | None = None
    teams: list[Reference] = Field(default_factory=list)


class OnCall(PDModel):
    escalation_level: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    user: Reference | None = None
    schedule: Reference | None = None
    escalation_policy: Reference | None = None


class Schedule(PDModel):
    id: str
    type: str | None = "schedule"
    name: str | None = None
    summary: str | None = None
    description: str | None = None
    time_zone: str | None = None
    users: list[Reference] = Field(default_factory=list)
    escalation_policies: list[Reference] = Field(default_factory=list)
    final_schedule: dict[str, Any] | None = None


class Priority(PDModel):
    id: str
    type: str | None = "priority"
    name: str | None = None
    summary: str | None = None
    description: str | None = None


class DeliveryMethod(PDModel):
    id: str | None = None
    type: str = "http_delivery_method"
    url: str | None = None
    secret: str | None = Field(default=None, repr=False)
    temporarily_disabled: bool | None = None
    custom_headers: list[dict[str, Any]] = Field(default_factory=list, repr=False)


class WebhookFilter(PDModel):
    type: str
    id: str | None = None


class WebhookSubscription(PDModel):
    id: str
    type: str | None = "webhook_subscription"
    active: bool | None = None
    description: str | None = None
    events: list[str] = Field(default_factory=list)
    filter: WebhookFilter | None = None
    delivery_method: DeliveryMethod | None = None


class MaintenanceWindow(PDModel):
    id: str
    type: str | None = "maintenance_window"
    sequence_number: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    description: str | None = None
    services: list[Reference] = Field(default_factory=list)
    teams: list[Reference] = Field(default_factory=list)
    created_by: Reference | None = None


class AuditRecord(PDModel):
    id: str
    execution_time: datetime | None = None
    method: dict[str, Any] | None = None
    root_resource: Reference | None = None
    action: str | None = None
    actors: list[Reference] = Field(default_factory=list)
