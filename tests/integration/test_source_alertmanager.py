"""Alertmanager → agent → sandbox with the real ``prometheus-alertmanager`` (issue 15, item 4).

One Alertmanager process serves both receivers: ``pagerduty_configs`` pointed at the agent's
``/v2/enqueue`` (the Events API it already speaks) and ``webhook_configs`` pointed at
``/alertmanager/main`` (one PagerDuty alert per Alertmanager alert fingerprint). Alerts are pushed
through Alertmanager's own API; each fires an incident in the sandbox and its resolve resolves it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pagerbridge.agent.sources.alertmanager import decode_webhook
from pagerbridge.agent.sources.alertmanager_config import AlertmanagerSettings
from pagerbridge.agent.sources.rules import compile_rules
from pagerbridge.agent.testing import AgentHandle, free_port, get, post, running_agent
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


@dataclass
class Alertmanager:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def push(self, labels: dict[str, str], annotations: dict[str, str], *, resolved: bool) -> None:
        self.push_all([labels], annotations, resolved=resolved)

    def push_all(
        self, label_sets: list[dict[str, str]], annotations: dict[str, str], *, resolved: bool
    ) -> None:
        """One POST to Alertmanager's API with an alert per label set."""
        now = datetime.now(UTC)
        alerts: list[dict[str, Any]] = []
        for labels in label_sets:
            alert: dict[str, Any] = {
                "labels": labels,
                "annotations": annotations,
                "startsAt": (now - timedelta(minutes=1)).isoformat(),
            }
            if resolved:
                alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
            alerts.append(alert)
        request = urllib.request.Request(
            self.url + "/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200


def _config(agent_url: str, routing_key: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 200ms
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: pagerduty
    - matchers: ['via="group"']
      receiver: grouped
receivers:
  - name: grouped
    webhook_configs:
      - url: {agent_url}/alertmanager/grouped
        send_resolved: true
  - name: hook
    webhook_configs:
      - url: {agent_url}/alertmanager/main
        send_resolved: true
  - name: pagerduty
    pagerduty_configs:
      - routing_key: {routing_key}
        url: {agent_url}/v2/enqueue
        send_resolved: true
"""


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture(scope="module")
def agent(pd: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentHandle]:
    db = tmp_path_factory.mktemp("am-agent") / "agent.db"
    config = {
        "listen": "127.0.0.1:0",
        "sources": {
            "alertmanager": {
                "main": {"routing_key": pd.routing_key},
                "grouped": {"routing_key": pd.routing_key, "per": "group"},
            }
        },
    }
    with running_agent(database_url=f"sqlite:///{db}", events_url=pd.url, config=config) as a:
        yield a


@pytest.fixture(scope="module")
def alertmanager(
    agent: AgentHandle, pd: SandboxHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Alertmanager]:
    work = tmp_path_factory.mktemp("alertmanager")
    (work / "alertmanager.yml").write_text(_config(agent.url, pd.routing_key))
    port = free_port()
    log = work / "alertmanager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={work / 'alertmanager.yml'}",
                f"--storage.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    manager = Alertmanager(f"http://127.0.0.1:{port}", proc, log)
    try:

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return get(manager.url + "/-/ready", timeout=1).status == 200
            except OSError:
                return False

        wait_for(ready, "Alertmanager ready")
        yield manager
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _incident(pd: SandboxHandle, key: str) -> dict[str, Any] | None:
    status, body = pd.rest("GET", f"/incidents?incident_key={key}")
    assert status == 200, body
    incidents: list[dict[str, Any]] = body["incidents"]
    return incidents[0] if incidents else None


def _arrivals(pd: SandboxHandle, alertname: str) -> list[dict[str, Any]]:
    return [a for a in pd.arrivals() if alertname in json.dumps(a)]


def test_pagerduty_configs_pointed_at_the_agent(
    alertmanager: Alertmanager, pd: SandboxHandle
) -> None:
    labels = {"alertname": "DiskFullViaEvents", "via": "pagerduty", "instance": "db1:9100"}
    alertmanager.push(labels, {"summary": "disk full on db1"}, resolved=False)
    (trigger,) = wait_for(lambda: _arrivals(pd, "DiskFullViaEvents"), "the trigger via /v2/enqueue")
    key = trigger["dedup_key"]
    incident = wait_for(lambda: _incident(pd, key), "an incident")
    assert incident["status"] == "triggered"
    alertmanager.push(labels, {"summary": "disk full on db1"}, resolved=True)
    wait_for(lambda: (_incident(pd, key) or {}).get("status") == "resolved", "resolved")


def _sent(agent: AgentHandle, summaries: set[str]) -> list[dict[str, Any]]:
    """The triggers the agent stored for these summaries (the sandbox keeps only the summary)."""
    rows = agent.agent.outbox.list_rows(limit=1000)
    events = [json.loads(r.payload) for r in rows]
    return [e for e in events if e.get("payload", {}).get("summary") in summaries]


def test_webhook_receiver_one_alert_per_fingerprint(
    alertmanager: Alertmanager, agent: AgentHandle, pd: SandboxHandle
) -> None:
    first = {"alertname": "LinkDown", "instance": "sw1:161", "severity": "critical", "if": "1"}
    second = {**first, "if": "2", "severity": "warning"}
    alertmanager.push(first, {"summary": "uplink 1 down"}, resolved=False)
    alertmanager.push(second, {}, resolved=False)
    summaries = {"uplink 1 down", "LinkDown"}
    triggers = wait_for(
        lambda: len(found := _sent(agent, summaries)) >= 2 and found,
        "two triggers through the webhook receiver",
    )
    by_severity = {e["payload"]["severity"]: e for e in triggers}
    assert set(by_severity) == {"critical", "warning"}
    assert by_severity["critical"]["payload"]["summary"] == "uplink 1 down"
    assert by_severity["warning"]["payload"]["summary"] == "LinkDown"  # no summary annotation
    assert by_severity["critical"]["payload"]["source"] == "sw1:161"
    keys = {e["dedup_key"] for e in triggers}
    assert len(keys) == 2 and all(len(k) == 16 for k in keys)  # Alertmanager's fingerprints
    for key in keys:
        assert wait_for(lambda k=key: _incident(pd, k), "an incident")["status"] == "triggered"

    alertmanager.push(first, {"summary": "uplink 1 down"}, resolved=True)
    critical_key = by_severity["critical"]["dedup_key"]
    wait_for(lambda: (_incident(pd, critical_key) or {}).get("status") == "resolved", "resolved")
    still_open = _incident(pd, by_severity["warning"]["dedup_key"]) or {}
    assert still_open["status"] == "triggered"
    metrics = get(agent.url + "/metrics").body.decode()
    assert 'source="alertmanager/main"' in metrics


def test_per_group_one_alert_for_the_whole_group(
    alertmanager: Alertmanager, agent: AgentHandle, pd: SandboxHandle
) -> None:
    hosts = [{"alertname": "NodeDown", "via": "group", "instance": f"n{i}"} for i in (1, 2)]
    alertmanager.push_all(hosts, {}, resolved=False)
    wait_for(lambda: _sent(agent, {"[FIRING:2] NodeDown"}), "one trigger for both alerts")
    (trigger,) = _sent(agent, {"[FIRING:2] NodeDown"})
    assert len(trigger["payload"]["custom_details"]["alerts"]) == 2
    key = trigger["dedup_key"]
    assert len(key) == 64  # a SHA-256 of the groupKey, as Alertmanager's PagerDuty receiver
    assert wait_for(lambda: _incident(pd, key), "an incident")["status"] == "triggered"
    alertmanager.push_all(hosts, {}, resolved=True)
    wait_for(lambda: (_incident(pd, key) or {}).get("status") == "resolved", "resolved")


def test_what_alertmanager_cannot_send_is_refused_clearly(agent: AgentHandle) -> None:
    url = agent.url + "/alertmanager/main"
    assert post(url, b"{not json").status == 400
    answer = post(url, {"version": "4", "alerts": "none"})
    assert answer.status == 400 and "'alerts' list" in answer.json()["message"]
    assert post(agent.url + "/alertmanager/other", {"alerts": []}).status == 404
    assert post(url, b"x" * (600 * 1024)).status == 413
    empty = post(url, {"version": "4", "status": "firing", "alerts": []})
    assert empty.status == 200 and empty.json()["messages"] == 0


def test_the_documented_rules_do_what_the_page_says() -> None:
    """docs/sources/alertmanager.md's rules example, decided on a real-shaped webhook body."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "sources" / "alertmanager.md"
    blocks = re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
    (example,) = [b for b in blocks if "rules:" in b]
    settings = AlertmanagerSettings.model_validate(
        yaml.safe_load(example)["sources"]["alertmanager"]["main"]
    )
    rules = compile_rules("alertmanager/main", settings)

    def decide(labels: dict[str, str], status: str = "firing") -> Any:
        alert = {"status": status, "labels": labels, "fingerprint": "00000000000000aa",
                 "annotations": {"description": "slow"}}  # fmt: skip
        body = json.dumps({"version": "4", "status": status, "alerts": [alert]}).encode()
        (fields,) = decode_webhook(body, settings)
        return rules.decide(fields)

    assert decide({"alertname": "Watchdog"}).action == "drop"
    db = decide({"alertname": "Slow", "team": "db", "instance": "pg1", "job": "postgres"}).event
    assert db["routing_key"] == "0123456789abcdef0123456789abcdef"
    assert db["payload"]["summary"] == "Slow on pg1: slow"
    assert db["payload"]["component"] == "postgres"
    other = decide({"alertname": "Other"}, status="resolved").event
    assert other == {
        "routing_key": "deadbeefdeadbeefdeadbeefdeadbeef",
        "event_action": "resolve",
        "dedup_key": "00000000000000aa",
    }
