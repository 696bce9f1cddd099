"""The rules every event source shares: matching, templates, load-time errors, run-time drops."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.agent.config import AgentConfig, load_agent_config
from pagerbridge.agent.sources.base import Outcome, Reason
from pagerbridge.agent.sources.config import SourcesSettings
from pagerbridge.agent.sources.metrics import SourceMetrics
from pagerbridge.agent.sources.rules import RuleSet, compile_rules
from pagerbridge.agent.sources.settings import ALWAYS, RuleSettings, SourceSettings
from pagerbridge.agent.sources.sink import AgentSink
from pagerbridge.agent.sources.templates import names_read
from pagerbridge.errors import ConfigError, QueueFullError
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import EnqueuedRow

KEY = "a" * 32
OTHER_KEY = "b" * 32


def ruleset(rules: list[dict[str, Any]], **source: Any) -> RuleSet:
    config = AgentConfig.model_validate(
        {"sources": {"syslog": {"routing_key": KEY, "rules": rules, **source}}}
    )
    assert config.sources.syslog is not None
    return compile_rules("syslog", config.sources.syslog)


def fields(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"host": "sw1", "app": "kernel", "severity": "err", "message": ""}
    return {**base, **values}


LINK = [
    {
        "name": "down",
        "match": {"message": {"regex": r"(?P<iface>\S+): Link is Down"}},
        "dedup_key": "{{ host }}/link/{{ iface }}",
        "summary": "{{ host }}: {{ iface }} down",
        "component": "{{ iface }}",
        "class": "link",
    },
    {
        "name": "up",
        "match": {"message": {"regex": r"(?P<iface>\S+): Link is Up"}},
        "action": "resolve",
        "dedup_key": "{{ host }}/link/{{ iface }}",
    },
]


def test_a_link_up_resolves_the_alert_its_link_down_opened() -> None:
    rules = ruleset(LINK)
    down = rules.decide(fields(message="eth0: Link is Down"))
    up = rules.decide(fields(message="eth0: Link is Up"))
    assert down.rule == "down" and up.rule == "up"
    assert down.event is not None and up.event is not None
    assert down.event["dedup_key"] == up.event["dedup_key"] == "sw1/link/eth0"
    assert down.event["event_action"] == "trigger" and up.event["event_action"] == "resolve"
    payload = down.event["payload"]
    assert payload["summary"] == "sw1: eth0 down"
    assert payload["severity"] == "error"  # syslog's err through the default severity map
    assert payload["component"] == "eth0" and payload["class"] == "link"
    assert payload["custom_details"]["message"] == "eth0: Link is Down"
    assert "payload" not in up.event  # a resolve carries only its key


def test_first_matching_rule_wins_and_drop_stops() -> None:
    rules = ruleset(
        [
            {"name": "quiet", "match": {"app": ["cron", "anacron"]}, "action": "drop"},
            {"name": "all", "dedup_key": "{{ app }}"},
            {"name": "never", "dedup_key": "x"},
        ]
    )
    dropped = rules.decide(fields(app="anacron"))
    assert (dropped.rule, dropped.reason, dropped.event) == ("quiet", Reason.DROP_RULE, None)
    assert rules.decide(fields(app="sshd")).rule == "all"


def test_equality_list_not_and_dotted_fields() -> None:
    rules = ruleset(
        [
            {"name": "sd", "match": {"structured_data.origin.ip": "10.0.0.1"}},
            {"name": "code", "match": {"severity_code": [2, 3], "app": {"not": ["cron"]}}},
        ]
    )
    sd = {"origin": {"ip": "10.0.0.1"}}
    assert rules.decide(fields(structured_data=sd)).rule == "sd"
    assert rules.decide(fields(structured_data={}, severity_code="3")).rule == "code"
    assert rules.decide(fields(structured_data={}, severity_code=3, app="cron")).rule is None
    assert rules.decide(fields(structured_data={}, severity_code=5)).reason == Reason.NO_RULE


def test_severity_map_routing_key_template_and_custom_details() -> None:
    rules = ruleset(
        [
            {
                "routing_key": "{{ 'b' * 32 if host == 'db1' else '' }}",
                "severity": "{{ severity }}",
                "severity_map": {"notice": "warning"},
                "custom_details": {"line": "{{ message }}"},
                "dedup_key": "{{ host }}",
            }
        ]
    )
    one = rules.decide(fields(host="db1", severity="notice", message="m"))
    assert one.event is not None
    assert one.event["routing_key"] == OTHER_KEY
    assert one.event["payload"]["severity"] == "warning"
    assert one.event["payload"]["custom_details"] == {"line": "m"}
    two = rules.decide(fields(host="web", severity="notice"))
    assert two.event is not None and two.event["routing_key"] == KEY  # the source's default


def test_a_missing_field_at_run_time_is_a_template_drop_with_the_reason() -> None:
    rules = ruleset([{"dedup_key": "{{ structured_data.meta.id }}"}])
    decision = rules.decide(fields(structured_data={}))
    assert decision.reason == Reason.TEMPLATE and decision.event is None
    assert "meta" in (decision.detail or "")
    bad = ruleset([{"severity": "{{ message }}", "dedup_key": "x"}]).decide(fields(message="hot"))
    assert bad.reason == Reason.TEMPLATE and "severity_map" in (bad.detail or "")


def test_no_routing_key_anywhere_is_a_counted_reason() -> None:
    config = AgentConfig.model_validate({"sources": {"syslog": {"rules": [{"dedup_key": "x"}]}}})
    assert config.sources.syslog is not None
    decision = compile_rules("syslog", config.sources.syslog).decide(fields())
    assert decision.reason == Reason.NO_ROUTING_KEY


@pytest.mark.parametrize(
    ("rule", "line", "words"),
    [
        ({"summary": "{{ hots }}"}, 6, ["sources.syslog.rules.0.summary", "'hots'"]),
        ({"dedup_key": "{{ host "}, 6, ["dedup_key", "syntax"]),
        ({"match": {"hostname": "x"}}, 6, ["sources.syslog.rules.0.match", "'hostname'"]),
        ({"action": "resolve"}, 5, ["needs dedup_key"]),
        ({"match": {"message": {"regex": "("}}}, 7, ["regular expression"]),
    ],
)
def test_config_errors_name_file_line_and_key(
    tmp_path: Path, rule: dict[str, Any], line: int, words: list[str]
) -> None:
    import yaml

    body = {"sources": {"syslog": {"routing_key": KEY, "rules": [{"name": "r", **rule}]}}}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_agent_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:{line}") or f"{path}:{line} " in text, text
    for word in words:
        assert word in text


def test_regex_groups_are_fields_of_their_rule_only() -> None:
    ruleset(LINK)  # iface is a group of each rule's own regex: fine
    with pytest.raises(ValueError, match="'iface'"):
        ruleset([{"match": {"app": "kernel"}, "dedup_key": "{{ iface }}"}])


def test_every_source_default_template_reads_only_its_fields() -> None:
    checked = 0
    for name in SourcesSettings.model_fields:
        annotation = SourcesSettings.model_fields[name].annotation
        for arg in getattr(annotation, "__args__", (annotation,)):
            cls = getattr(arg, "__args__", (None, arg))[-1]  # dict[str, X] -> X
            if isinstance(cls, type) and issubclass(cls, SourceSettings):
                checked += 1
                rule_cls = cls.model_fields["rules"].annotation.__args__[0]  # type: ignore[union-attr]
                assert issubclass(rule_cls, RuleSettings)
                if rule_cls.FIELDS is None:
                    continue
                for text in cls.DEFAULTS.values():
                    assert names_read(text) <= rule_cls.FIELDS | ALWAYS, (cls, text)
    assert checked >= 1


class _Store:
    """An enqueue that records rows (or fails), standing in for the outbox's group commit."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.rows: list[NewRow] = []
        self.fail = fail

    async def __call__(self, row: NewRow) -> EnqueuedRow:
        if self.fail is not None:
            raise self.fail
        self.rows.append(row)
        return EnqueuedRow(len(self.rows), row.dedup_key, row.routing_key)


def _sink(store: _Store) -> AgentSink:
    return AgentSink(store, metrics=SourceMetrics(), rules={"syslog": ruleset(LINK)})


def _count(sink: AgentSink, name: str, **labels: str) -> float:
    metric = getattr(sink.metrics, name)
    return float(metric.labels(source="syslog", **labels)._value.get())


def test_the_sink_stores_valid_events_and_counts_every_outcome() -> None:
    store = _Store()
    sink = _sink(store)

    async def run() -> list[Any]:
        return [
            await sink.submit("syslog", fields(message="eth0: Link is Down")),
            await sink.submit("syslog", fields(message="nothing to see")),
            await sink.submit("nosuch", fields()),
        ]

    stored, nothing, unknown = asyncio.run(run())
    assert stored.outcome == Outcome.STORED and stored.durable and stored.dedup_key
    assert nothing.outcome == Outcome.NO_RULE and not nothing.durable
    assert unknown.reason == Reason.UNKNOWN_SOURCE
    (row,) = store.rows
    event = json.loads(row.payload)
    assert event["dedup_key"] == "sw1/link/eth0" and event["payload"]["timestamp"]
    assert _count(sink, "received") == 2 and _count(sink, "stored") == 1
    assert _count(sink, "dropped", reason="no_rule") == 1


def test_the_sink_says_queue_full_and_invalid_events_instead_of_raising() -> None:
    full = _sink(_Store(QueueFullError("full")))
    result = asyncio.run(full.submit("syslog", fields(message="eth0: Link is Down")))
    assert result.outcome == Outcome.ERROR and result.reason == Reason.QUEUE_FULL
    assert _count(full, "errors", reason="queue_full") == 1
    sink = AgentSink(
        _Store(), metrics=SourceMetrics(), rules={"syslog": ruleset([{"summary": ""}])}
    )
    invalid = asyncio.run(sink.submit("syslog", fields()))
    assert invalid.reason == Reason.INVALID and "summary" in (invalid.detail or "")
