"""The settings every source shares: a default routing key, folding, severity mapping and rules.

A source's settings class subclasses :class:`SourceSettings` (its own keys: listen addresses,
TLS, communities...) and names its rule class, a subclass of :class:`RuleSettings` whose
``FIELDS`` are the fields that source can produce::

    class SnmpRule(RuleSettings):
        FIELDS: ClassVar[frozenset[str] | None] = frozenset({"oid", "trap", "agent", ...})

    class SnmpSettings(SourceSettings):
        KIND: ClassVar[str] = "snmp"
        DEFAULTS: ClassVar[dict[str, str]] = {"summary": "{{ trap }} from {{ agent }}", ...}
        rules: list[SnmpRule] = Field(default_factory=list)
        listen: str = "127.0.0.1:1162"

        def create(self, name: str) -> Source:   # import the implementation lazily
            from pagerbridge.agent.sources.snmp import SnmpSource
            return SnmpSource(name, self)

Every template is compiled when the file loads: a syntax error, or a name that is neither one of
``FIELDS`` nor a named group of the rule's own regexes (nor ``fields``, the whole mapping), is a
config error with file, line and key (``sources.syslog.rules.2.summary``). ``FIELDS = None``
(JSON hooks) accepts any name; a missing one is then a counted drop at run time.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from pagerbridge.agent.sources.templates import TemplateProblem, is_template, names_read

if TYPE_CHECKING:
    from pagerbridge.agent.sources.base import Fields, Source

Severity = Literal["critical", "error", "warning", "info"]
ACTIONS = ("trigger", "resolve", "acknowledge", "drop")
#: Names every template may read besides the source's fields: the whole mapping of fields.
ALWAYS = frozenset({"fields"})
#: The event keys rendered from templates (``class`` is written ``class`` in YAML).
TEMPLATE_KEYS = ("dedup_key", "summary", "source", "severity", "component", "group", "class")
ROUTING_KEY_LENGTH = 32

Scalar = str | int | float | bool | None


class RegexMatch(BaseModel):
    """``{regex: PATTERN}``: ``re.search`` on the field as text; named groups become fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class NotMatch(BaseModel):
    """``{not: VALUE or [VALUES]}``: the field is none of these."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    not_: Scalar | list[Scalar] = Field(alias="not")


MatchSpec = RegexMatch | NotMatch | list[Scalar] | Scalar


def regex_groups(match: Mapping[str, MatchSpec]) -> frozenset[str]:
    names: set[str] = set()
    for spec in match.values():
        if isinstance(spec, RegexMatch):
            names.update(re.compile(spec.regex).groupindex)
    return frozenset(names)


class RuleSettings(BaseModel):
    """One rule: when ``match`` holds, what to send (or ``action: drop``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: The fields the source can produce (None: any; JSON hooks). Subclasses narrow it.
    FIELDS: ClassVar[frozenset[str] | None] = None

    name: str | None = None
    match: dict[str, MatchSpec] = Field(default_factory=dict)
    action: str = "trigger"
    routing_key: str | None = None
    dedup_key: str | None = None
    summary: str | None = None
    source: str | None = None
    severity: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(None, alias="class")
    custom_details: dict[str, str] | None = None
    severity_map: dict[str, Severity] = Field(default_factory=dict)

    @field_validator("match")
    @classmethod
    def _known_fields(cls, value: dict[str, MatchSpec]) -> dict[str, MatchSpec]:
        if cls.FIELDS is not None:
            for key in value:
                top = key.split(".", 1)[0]
                if top not in cls.FIELDS:
                    raise ValueError(f"{key!r} is not a field this source sets ({_listing(cls)})")
        return value

    @field_validator("action")
    @classmethod
    def _action(cls, value: str, info: ValidationInfo) -> str:
        if is_template(value):
            return cls._check_template(value, info)
        if value not in ACTIONS:
            raise ValueError(f"must be one of {', '.join(ACTIONS)} (or a template giving one)")
        return value

    @field_validator(
        "routing_key", "dedup_key", "summary", "source", "severity", "component", "group", "class_"
    )
    @classmethod
    def _template(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else cls._check_template(value, info)

    @field_validator("custom_details")
    @classmethod
    def _details(cls, value: dict[str, str] | None, info: ValidationInfo) -> dict[str, str] | None:
        for text in (value or {}).values():
            cls._check_template(text, info)
        return value

    @classmethod
    def _check_template(cls, text: str, info: ValidationInfo) -> str:
        try:
            names = names_read(text)
        except TemplateProblem as exc:
            raise ValueError(str(exc)) from None
        if cls.FIELDS is None:
            return text
        match = info.data.get("match") or {}
        known = cls.FIELDS | ALWAYS | regex_groups(match)
        unknown = sorted(names - known)
        if unknown:
            raise ValueError(
                f"the template reads {', '.join(map(repr, unknown))}, which this source never "
                f"sets ({_listing(cls)}; named regex groups of this rule's match are fields too)"
            )
        return text

    @model_validator(mode="after")
    def _resolve_needs_key(self) -> RuleSettings:
        if self.action in ("resolve", "acknowledge") and not self.dedup_key:
            raise ValueError(
                f"a rule that can {self.action} needs dedup_key (the same template as the "
                "trigger rule's, so it names the same alert)"
            )
        return self

    def template_text(self, key: str) -> str | None:
        return self.class_ if key == "class" else getattr(self, key)


def _listing(rule_class: type[RuleSettings]) -> str:
    return "fields: " + ", ".join(sorted(rule_class.FIELDS or ()))


class SourceSettings(BaseModel):
    """Keys every source has; a source's class adds its own and narrows ``rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The key under ``sources:`` (``syslog``); set by each subclass.
    KIND: ClassVar[str] = "source"
    #: Templates used when a rule gives none (``summary``, ``source``, ``severity``...).
    DEFAULTS: ClassVar[dict[str, str]] = {"severity": "error"}
    #: Source values of ``severity`` → PagerDuty severity, before the user's ``severity_map``.
    SEVERITY_MAP: ClassVar[dict[str, str]] = {}

    routing_key: str | None = None
    fold: bool = True
    severity_map: dict[str, Severity] = Field(default_factory=dict)
    rules: list[RuleSettings] = Field(default_factory=list)

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, value: str | None) -> str | None:
        if value is not None and len(value) != ROUTING_KEY_LENGTH:
            raise ValueError(f"a routing key is {ROUTING_KEY_LENGTH} characters long")
        return value

    @abstractmethod
    def create(self, name: str) -> Source:
        """The running source for these settings (import the implementation here, lazily)."""

    def decode_text(self, text: str) -> Fields | None:
        """Fields of one raw message (``rules test --message``); None if the source has no text
        form (use ``--fields``)."""
        return None

    def field_names(self) -> frozenset[str] | None:
        """The fields this source sets (its rule class's ``FIELDS``)."""
        return _rule_fields(self)


def _rule_fields(settings: SourceSettings) -> frozenset[str] | None:
    annotation: Any = type(settings).model_fields["rules"].annotation
    rule_class = getattr(annotation, "__args__", (RuleSettings,))[0]
    fields: frozenset[str] | None = getattr(rule_class, "FIELDS", None)
    return fields


__all__ = [
    "ACTIONS",
    "ALWAYS",
    "TEMPLATE_KEYS",
    "MatchSpec",
    "NotMatch",
    "RegexMatch",
    "RuleSettings",
    "Severity",
    "SourceSettings",
    "regex_groups",
]
