"""Request and response models of the incidents REST API (pydantic; they feed the OpenAPI document).

Validation of values with domain rules (severity, service names, durations, the limits of
:mod:`pagerbridge.incidents.limits`) is left to the domain so the API and the CLI give the same
messages; these models check types. What the domain accepts is *described* here, in each field's
JSON Schema (enums, patterns, lengths, bounds, attached with ``WithJsonSchema`` so that they
document without validating), so that a request valid by the OpenAPI document is one the hub
takes: tests/integration/test_hub_openapi_requests.py sends such requests and expects no 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from pagerbridge.incidents.lifecycle import SEVERITIES, STATUSES
from pagerbridge.incidents.limits import (
    INCIDENT_NUMBER_MAX,
    INT64_MAX,
    INT64_MIN,
    NAME_MAX_CHARS,
    OWNER_TEAM_MAX_CHARS,
    SERVICES_PER_INCIDENT_MAX,
    TEXT_MAX_BYTES,
    TITLE_MAX_CHARS,
)

# Character classes with escapes that mean the same in Python's re and in ECMA-262 (the regular
# expressions of JSON Schema and Swagger UI); tests/unit/test_incidents_schema_rules.py checks
# them against str.splitlines() and str.isspace() over all of Unicode.
#: Line breaks as str.splitlines() sees them, and NUL.
_BREAK_OR_NUL: Final = r"\x00\n\x0b\x0c\r\x1c-\x1e\x85\u2028\u2029"
#: Whitespace as str.strip() sees it, and NUL.
_SPACE_OR_NUL: Final = (
    r"\x00\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)

#: Any text without a NUL character (PostgreSQL cannot store one; the hub refuses it anywhere).
NO_NUL: Final = r"^[^\x00]*$"
#: Text with a character that is not whitespace (a note).
NOT_BLANK: Final = rf"^[^\x00]*[^{_SPACE_OR_NUL}][^\x00]*$"
#: One line with a character that is not whitespace (a title).
ONE_LINE: Final = rf"^[^{_BREAK_OR_NUL}]*[^{_SPACE_OR_NUL}][^{_BREAK_OR_NUL}]*$"
#: ``INC-<n>``, n from 1 to INCIDENT_NUMBER_MAX (at most 10 digits).
INCIDENT_REF: Final = rf"^INC-[1-9][0-9]{{0,{len(str(INCIDENT_NUMBER_MAX)) - 1}}}$"
#: Service names (pagerbridge.incidents.lifecycle.check_service_name).
SERVICE_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: API token names (pagerbridge.incidents.tokens).
TOKEN_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
#: SLA durations certainly within 1 s .. 366 days: seconds (``90``, ``90s``; up to 7 digits),
#: minutes (up to 5 digits), hours with optional minutes (``1h30m``), days up to 366. The hub
#: takes any sum of ``<n>d``, ``<n>h``, ``<n>m``, ``<n>s`` up to 366 days (``1d12h``) as well.
DURATION: Final = (
    r"^(?:[1-9][0-9]{0,6}s?|[1-9][0-9]{0,4}m|[1-9][0-9]{0,2}h(?:[0-5]?[0-9]m)?"
    r"|(?:[1-9][0-9]?|[12][0-9]{2}|3[0-5][0-9]|36[0-6])d)$"
)
#: The name of the recursive JSON value schema in the hub's components (custom fields).
JSON_VALUE: Final = "JsonValue"
_JSON_REF: Final = {"$ref": f"#/components/schemas/{JSON_VALUE}"}


def text(**schema: Any) -> dict[str, Any]:
    """A string's JSON Schema: no NUL unless another ``pattern`` is given."""
    return {"type": "string", "pattern": NO_NUL, **schema}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def int64(**schema: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX, **schema}


def severity_schema() -> dict[str, Any]:
    return {"type": "string", "enum": list(SEVERITIES)}


def status_schema(*, synonym: bool = False) -> dict[str, Any]:
    """The statuses; ``synonym`` adds ``acknowledged`` (= mitigated, accepted as a filter)."""
    return {"type": "string", "enum": [*STATUSES, *(["acknowledged"] if synonym else [])]}


#: Custom fields (and timeline data): an object of JSON values.
JSON_OBJECT: Final[dict[str, Any]] = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL},
    "additionalProperties": _JSON_REF,
}
#: Any JSON value the hub stores. Nesting (at most 32 levels) and size (64 KiB) cannot be said
#: in JSON Schema; the fields' descriptions say them.
JSON_VALUE_SCHEMA: Final[dict[str, Any]] = {
    "description": "A JSON value: strings without NUL characters; numbers within 64-bit integers "
    "(-2**63 .. 2**63-1, send larger ones as strings); booleans; null; arrays and objects of these",
    "anyOf": [
        text(),
        {"type": "number", "minimum": INT64_MIN, "maximum": INT64_MAX},
        {"type": "boolean"},
        {"type": "null"},
        {"type": "array", "items": _JSON_REF},
        JSON_OBJECT,
    ],
}


def _doc(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema(schema)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclareIn(_In):
    # The schema requires a severity; the hub also takes a declaration without one when a named
    # existing service has a default severity, which depends on what is stored.
    model_config = ConfigDict(json_schema_extra={"required": ["title", "severity"]})

    title: Annotated[str, _doc(text(pattern=ONE_LINE, minLength=1, maxLength=TITLE_MAX_CHARS))] = (
        Field(
            min_length=1,
            max_length=TITLE_MAX_CHARS,
            examples=["Checkout is failing"],
            description=f"One line, at most {TITLE_MAX_CHARS:,} characters, not blank",
        )
    )
    severity: Annotated[str | None, _doc(severity_schema())] = Field(
        default=None,
        examples=["SEV-2"],
        description="SEV-1 (worst) .. SEV-4 (`2` and `sev2` are accepted as well). May be left "
        "out when a named existing service has a default severity (the most severe is used)",
    )
    services: Annotated[
        list[str],
        _doc(
            {
                "type": "array",
                "items": text(pattern=SERVICE_NAME, maxLength=100),
                "maxItems": SERVICES_PER_INCIDENT_MAX,
            }
        ),
    ] = Field(
        default_factory=list,
        examples=[["db", "api"]],
        description=f"At most {SERVICES_PER_INCIDENT_MAX}; names that do not exist are created",
    )
    description: Annotated[str, _doc(text(maxLength=TEXT_MAX_BYTES))] = Field(
        default="", description="At most 64 KiB of UTF-8"
    )
    assignee: Annotated[str | None, _doc(nullable(text(maxLength=NAME_MAX_CHARS)))] = Field(
        default=None, description=f"At most {NAME_MAX_CHARS} characters"
    )
    custom_fields: Annotated[dict[str, Any], _doc(JSON_OBJECT)] = Field(
        default_factory=dict,
        description="Any JSON object up to 64 KiB as compact UTF-8 JSON, nested at most 32 "
        "levels; numbers finite, integers within 64 bits, strings without NUL characters",
    )


_NOTE = nullable(text(maxLength=TEXT_MAX_BYTES))
_VERSION = nullable(int64())


class TransitionIn(_In):
    note: Annotated[str | None, _doc(_NOTE)] = Field(
        default=None, description="At most 64 KiB of UTF-8; goes into the timeline entry"
    )
    expected_version: Annotated[int | None, _doc(_VERSION)] = Field(
        default=None, description="Refuse with 409 if the incident's version differs"
    )


class NoteIn(_In):
    body: Annotated[str, _doc(text(pattern=NOT_BLANK, minLength=1, maxLength=TEXT_MAX_BYTES))] = (
        Field(
            min_length=1,
            examples=["Failing over to the replica"],
            description="At most 64 KiB of UTF-8, not blank",
        )
    )


class AssignIn(_In):
    assignee: Annotated[str | None, _doc(nullable(text(maxLength=NAME_MAX_CHARS)))] = Field(
        description="Who is responsible; null (or blank) to unassign"
    )
    note: Annotated[str | None, _doc(_NOTE)] = None
    expected_version: Annotated[int | None, _doc(_VERSION)] = None


class ServiceIn(_In):
    name: Annotated[str, _doc(text(pattern=SERVICE_NAME, minLength=1, maxLength=100))] = Field(
        min_length=1, max_length=100, examples=["db"]
    )
    description: Annotated[str, _doc(text(maxLength=TEXT_MAX_BYTES))] = ""
    owner_team: Annotated[str | None, _doc(nullable(text(maxLength=OWNER_TEAM_MAX_CHARS)))] = None
    default_severity: Annotated[str, _doc(severity_schema())] = "SEV-3"


_DURATION = nullable(text(pattern=DURATION, maxLength=40))


class SlaIn(_In):
    ack: Annotated[str | None, _doc(_DURATION)] = Field(
        default=None,
        examples=["15m"],
        description="Time to acknowledge: 90s, 15m, 4h, 1h30m, 1d (also 1d12h; at most 366 days)",
    )
    resolve: Annotated[str | None, _doc(_DURATION)] = Field(
        default=None,
        examples=["1h"],
        description="Time to resolve, as `ack`; not shorter than the time to acknowledge",
    )


class TokenIn(_In):
    name: Annotated[str, _doc(text(pattern=TOKEN_NAME, minLength=1, maxLength=100))] = Field(
        min_length=1, max_length=100, examples=["ci-bot"]
    )


Severity = Literal["SEV-1", "SEV-2", "SEV-3", "SEV-4"]
Status = Literal["open", "mitigated", "resolved", "closed"]


class SlaStatus(BaseModel):
    ack_due_at: str | None
    resolve_due_at: str | None
    ack_breached_at: str | None
    resolve_breached_at: str | None


class IncidentOut(BaseModel):
    id: Annotated[str, _doc(text(pattern=INCIDENT_REF))] = Field(examples=["INC-42"])
    number: int
    title: str
    description: str
    severity: Severity
    status: Status = Field(description="open, mitigated (acknowledged), resolved or closed")
    services: list[str]
    assignee: str | None
    correlation_id: str | None
    custom_fields: Annotated[dict[str, Any], _doc(JSON_OBJECT)]
    origin: Literal["local", "api", "pagerduty"]
    created_by: str
    version: int
    created_at: str
    updated_at: str
    mitigated_at: str | None
    resolved_at: str | None
    closed_at: str | None
    reopened_at: str | None
    sla: SlaStatus | None = None


class IncidentAnswer(BaseModel):
    """One incident, as every endpoint that answers with one sends it (docs/incidents.md)."""

    incident: IncidentOut


class DeclaredOut(IncidentAnswer):
    created_services: list[str] = Field(
        description="The named services that did not exist and were created"
    )


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
    data: Annotated[dict[str, Any], _doc(JSON_OBJECT)]


class TimelineOut(BaseModel):
    entries: list[EntryOut]


class ServiceOut(BaseModel):
    name: str
    description: str
    owner_team: str | None
    default_severity: Severity
    created_at: str
    incidents: int | None = None


class ServiceList(BaseModel):
    services: list[ServiceOut]


class SlaOut(BaseModel):
    severity: Severity
    ack_seconds: int
    resolve_seconds: int
    ack: str
    resolve: str
    custom: bool


class SlaList(BaseModel):
    policies: list[SlaOut]


class BreachOut(BaseModel):
    incident: str
    sla: Literal["acknowledge", "resolve"]
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
