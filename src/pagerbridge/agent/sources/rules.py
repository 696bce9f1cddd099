"""Rules, shared by every source: the first rule whose ``match`` holds decides what is sent.

A :class:`RuleSet` is compiled once from a source's settings (regexes and templates compiled,
names checked at load by :mod:`.settings`) and evaluated per message with :meth:`RuleSet.decide`,
which renders the Events API v2 event (a plain dict, not yet validated: the sink and
``pagerbridge rules test`` hand it to the outbox's ``prepare_event``, the one rule source).

Matching: a scalar is equality (compared as text, so ``severity_code: 3`` matches ``"3"``), a
list is "any of", ``{regex: P}`` is ``re.search`` on the text, ``{not: V}`` is "none of";
``a.b`` reads key ``b`` of field ``a``. Named regex groups become fields for the rule's templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pagerbridge.agent.sources.base import Fields, Reason
from pagerbridge.agent.sources.settings import (
    ACTIONS,
    TEMPLATE_KEYS,
    NotMatch,
    RegexMatch,
    RuleSettings,
    SourceSettings,
)
from pagerbridge.agent.sources.templates import (
    RenderError,
    Template,
    compile_template,
    render_context,
)
from pagerbridge.pagerduty.limits import SEVERITIES

_MISSING = object()
Test = Callable[[Fields, dict[str, Any]], bool]


def _lookup(fields: Fields, path: str) -> Any:
    value: Any = fields
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _one_test(path: str, spec: Any) -> Test:
    if isinstance(spec, RegexMatch):
        pattern = re.compile(spec.regex)

        def regex(fields: Fields, groups: dict[str, Any]) -> bool:
            value = _lookup(fields, path)
            if value is _MISSING:
                return False
            found = pattern.search(_text(value))
            if found is None:
                return False
            groups.update({k: v for k, v in found.groupdict().items() if v is not None})
            return True

        return regex
    if isinstance(spec, NotMatch):
        excluded = {_text(v) for v in (spec.not_ if isinstance(spec.not_, list) else [spec.not_])}

        def not_any(fields: Fields, groups: dict[str, Any]) -> bool:
            value = _lookup(fields, path)
            return value is _MISSING or _text(value) not in excluded

        return not_any
    allowed = {_text(v) for v in (spec if isinstance(spec, list) else [spec])}

    def equal(fields: Fields, groups: dict[str, Any]) -> bool:
        value = _lookup(fields, path)
        return value is not _MISSING and _text(value) in allowed

    return equal


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    name: str
    tests: tuple[Test, ...]
    action: Template
    routing_key: Template | None
    templates: dict[str, Template]
    custom_details: dict[str, Template] | None
    severity_map: dict[str, str]

    def matches(self, fields: Fields) -> dict[str, Any] | None:
        """The regex groups when every test holds, else None."""
        groups: dict[str, Any] = {}
        for test in self.tests:
            if not test(fields, groups):
                return None
        return groups


@dataclass(frozen=True)
class Decision:
    """What the rules made of one message: an event to send, or why not."""

    rule: str | None
    action: str | None = None
    event: dict[str, Any] | None = None
    reason: Reason | None = None
    detail: str | None = None

    @property
    def send(self) -> bool:
        return self.event is not None


@dataclass(frozen=True)
class RuleSet:
    """A source's compiled rules, default routing key and folding choice."""

    source: str
    rules: tuple[Rule, ...]
    routing_key: str | None
    fold: bool
    defaults: dict[str, Template] = field(default_factory=dict)

    def decide(self, fields: Fields) -> Decision:
        for rule in self.rules:
            groups = rule.matches(fields)
            if groups is None:
                continue
            try:
                return self._render(rule, fields, groups)
            except RenderError as exc:
                return Decision(rule.name, reason=Reason.TEMPLATE, detail=str(exc))
        return Decision(None, reason=Reason.NO_RULE, detail="no rule matched")

    def _render(self, rule: Rule, fields: Fields, groups: dict[str, Any]) -> Decision:
        context = render_context({**fields, **groups, "fields": fields})
        action = rule.action.render(context).strip()
        if action == "drop":
            return Decision(rule.name, action, reason=Reason.DROP_RULE, detail="action: drop")
        if action not in ("trigger", "resolve", "acknowledge"):
            raise RenderError(f"action rendered {action[:60]!r}: not one of {', '.join(ACTIONS)}")
        routing_key = rule.routing_key.render(context).strip() if rule.routing_key else None
        routing_key = routing_key or self.routing_key
        if not routing_key:
            return Decision(
                rule.name,
                action,
                reason=Reason.NO_ROUTING_KEY,
                detail="neither the rule nor the source gives a routing_key",
            )
        event: dict[str, Any] = {"routing_key": routing_key, "event_action": action}
        chosen = {**self.defaults, **rule.templates}
        if action != "trigger":  # a resolve or acknowledge carries only its key
            chosen = {k: v for k, v in chosen.items() if k == "dedup_key"}
        values = {key: template.render(context).strip() for key, template in chosen.items()}
        if values.get("dedup_key"):
            event["dedup_key"] = values["dedup_key"]
        if action == "trigger":
            event["payload"] = self._payload(rule, values, fields, context)
        return Decision(rule.name, action, event)

    def _payload(
        self, rule: Rule, values: dict[str, str], fields: Fields, context: dict[str, Any]
    ) -> dict[str, Any]:
        raw = values.get("severity", "").lower()
        severity = rule.severity_map.get(raw, raw)
        if severity not in SEVERITIES:
            raise RenderError(
                f"severity {raw[:40]!r} is not one of {', '.join(SEVERITIES)} (add it to "
                "severity_map)"
            )
        payload: dict[str, Any] = {
            "summary": values.get("summary", ""),
            "source": values.get("source", ""),
            "severity": severity,
        }
        for key in ("component", "group", "class"):
            if values.get(key):
                payload[key] = values[key]
        if rule.custom_details is None:
            payload["custom_details"] = dict(fields)
        else:
            payload["custom_details"] = {
                name: template.render(context) for name, template in rule.custom_details.items()
            }
        return payload


def _compile_rule(index: int, rule: RuleSettings, severity_map: dict[str, str]) -> Rule:
    templates = {
        key: compile_template(text)
        for key in TEMPLATE_KEYS
        if (text := rule.template_text(key)) is not None
    }
    return Rule(
        name=rule.name or f"#{index}",
        tests=tuple(_one_test(path, spec) for path, spec in rule.match.items()),
        action=compile_template(rule.action),
        routing_key=compile_template(rule.routing_key) if rule.routing_key else None,
        templates=templates,
        custom_details=(
            {k: compile_template(v) for k, v in rule.custom_details.items()}
            if rule.custom_details is not None
            else None
        ),
        severity_map={**severity_map, **rule.severity_map},
    )


def compile_rules(name: str, settings: SourceSettings) -> RuleSet:
    """Compile a source's rules (the settings were checked at load; this cannot fail then)."""
    severity_map = {**type(settings).SEVERITY_MAP, **settings.severity_map}
    return RuleSet(
        source=name,
        rules=tuple(_compile_rule(i, rule, severity_map) for i, rule in enumerate(settings.rules)),
        routing_key=settings.routing_key,
        fold=settings.fold,
        defaults={k: compile_template(v) for k, v in type(settings).DEFAULTS.items()},
    )


__all__ = ["Decision", "Rule", "RuleSet", "compile_rules"]
