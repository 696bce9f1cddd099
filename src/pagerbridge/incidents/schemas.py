"""Request and response models of the incidents REST API (pydantic; they feed the OpenAPI document).

Validation of values with domain rules (severity, service names, durations, the limits of
:mod:`pagerbridge.incidents.limits`) is left to the domain so the API and the CLI give the same
messages; these models check types (and say the limits, for the OpenAPI document).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareIn(_In):
    title: str = Field(
        min_length=1,
        max_length=1024,
        examples=["Checkout is failing"],
        description="One line, at most 1024 characters",
    )
    severity: str | None = Field(
        default=None,
        examples=["SEV-2"],
        description="SEV-1..SEV-4; default: the most severe default of the named services",
    )
    services: list[str] = Field(
        default_factory=list, examples=[["db", "api"]], description="At most 100"
    )
    description: str = Field(default="", description="At most 64 KiB of UTF-8")
    assignee: str | None = Field(default=None, description="At most 255 characters")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Any JSON object up to 64 KiB, nested at most 32 levels; numbers finite, "
        "integers within 64 bits, strings without NUL characters",
    )


class TransitionIn(_In):
    note: str | None = Field(default=None, description="At most 64 KiB of UTF-8")
    expected_version: int | None = Field(
        default=None, description="Refuse with 409 if the incident's version differs"
    )


class NoteIn(_In):
    body: str = Field(
        min_length=1,
        examples=["Failing over to the replica"],
        description="At most 64 KiB of UTF-8",
    )


class AssignIn(_In):
    assignee: str | None = Field(description="Who is responsible; null to unassign")
    note: str | None = None
    expected_version: int | None = None


class ServiceIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["db"])
    description: str = ""
    owner_team: str | None = None
    default_severity: str = "SEV-3"


class SlaIn(_In):
    ack: str | None = Field(default=None, examples=["15m"], description="Time to acknowledge")
    resolve: str | None = Field(default=None, examples=["1h"], description="Time to resolve")


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=100, examples=["ci-bot"])


class SlaStatus(BaseModel):
    ack_due_at: str | None
    resolve_due_at: str | None
    ack_breached_at: str | None
    resolve_breached_at: str | None


class IncidentOut(BaseModel):
    id: str = Field(examples=["INC-42"])
    number: int
    title: str
    description: str
    severity: str
    status: str = Field(description="open, mitigated (acknowledged), resolved or closed")
    services: list[str]
    assignee: str | None
    correlation_id: str | None
    custom_fields: dict[str, Any]
    origin: str
    created_by: str
    version: int
    created_at: str
    updated_at: str
    mitigated_at: str | None
    resolved_at: str | None
    closed_at: str | None
    reopened_at: str | None
    sla: SlaStatus | None = None


class DeclaredOut(BaseModel):
    incident: IncidentOut
    created_services: list[str]


class IncidentPage(BaseModel):
    incidents: list[IncidentOut]
    limit: int
    offset: int
    more: bool


class EntryOut(BaseModel):
    id: int
    incident: str
    at: str
    kind: str
    actor: str
    origin: str
    body: str
    data: dict[str, Any]


class TimelineOut(BaseModel):
    entries: list[EntryOut]


class ServiceOut(BaseModel):
    name: str
    description: str
    owner_team: str | None
    default_severity: str
    created_at: str
    incidents: int | None = None


class ServiceList(BaseModel):
    services: list[ServiceOut]


class SlaOut(BaseModel):
    severity: str
    ack_seconds: int
    resolve_seconds: int
    ack: str
    resolve: str
    custom: bool


class SlaList(BaseModel):
    policies: list[SlaOut]


class BreachOut(BaseModel):
    incident: str
    sla: str = Field(description="acknowledge or resolve")
    due_at: str


class BreachList(BaseModel):
    breaches: list[BreachOut]


class TokenOut(BaseModel):
    name: str
    prefix: str
    created_at: str


class TokenCreated(TokenOut):
    token: str = Field(description="The secret; shown only once")


class TokenList(BaseModel):
    tokens: list[TokenOut]


class ErrorDetail(BaseModel):
    type: str = Field(examples=["illegal_transition"])
    message: str
    errors: list[str] = Field(default_factory=list)


class ErrorOut(BaseModel):
    error: ErrorDetail
