"""`pagerbridge rules test`: the matching rule and the exact event, nothing sent; exit 0/1/4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pagerbridge.cli._common import run_app
from pagerbridge.cli.main import app

CONFIG = """\
sources:
  syslog:
    routing_key: 0123456789abcdef0123456789abcdef
    rules:
      - name: quiet
        match: {app: CRON}
        action: drop
      - name: link-down
        match: {message: {regex: '(?P<iface>\\S+): Link is Down'}}
        severity: critical
        dedup_key: "{{ host }}/link/{{ iface }}"
        summary: "{{ host }}: {{ iface }} is down"
"""
LINE = "<3>1 2026-12-03T10:00:00Z sw1 kernel - - - eth0: Link is Down"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ended:
        run_app(app, "pagerbridge", ["rules", "test", *args])
    out, err = capsys.readouterr()
    return int(ended.value.code or 0), out, err


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    return path


def test_a_matching_line_prints_the_rule_and_the_exact_event(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "-c", str(config), "-s", "syslog", "-m", LINE, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["rule"] == "link-down" and report["sent"] is True
    event = report["event"]
    assert event["routing_key"] == "0123…"  # shortened unless asked
    assert event["dedup_key"] == "sw1/link/eth0"
    assert event["payload"]["summary"] == "sw1: eth0 is down"
    assert event["payload"]["timestamp"]  # normalised as the outbox would store it
    code, out, _ = run(capsys, "-c", str(config), "-s", "syslog", "-m", LINE, "--show-routing-key")
    assert code == 0 and "0123456789abcdef0123456789abcdef" in out and "rule: link-down" in out


def test_fields_drop_and_no_rule(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-c", str(config), "-s", "syslog", "--fields", '{"app": "CRON"}')
    assert code == 0 and "rule: quiet (action: drop)" in out and "nothing would be sent" in out
    code, out, _ = run(capsys, "-c", str(config), "-s", "syslog", "-m", "hello")
    assert code == 1 and "no rule matched" in out


def test_config_and_usage_errors(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.replace("{{ iface }} is down", "{{ ifac }} is down"))
    code, _, err = run(capsys, "-c", str(bad), "-s", "syslog", "-m", LINE)
    assert code == 4 and f"{bad}:12 (sources.syslog.rules.1.summary)" in err and "'ifac'" in err
    code, _, err = run(capsys, "-c", str(config), "-s", "snmp", "-m", LINE)
    assert code == 3 and "configured: syslog" in err
    code, _, err = run(capsys, "-c", str(config), "-s", "syslog")
    assert code == 2 and "exactly one of --message and --fields" in err
    code, _, err = run(capsys, "-c", str(config), "-s", "syslog", "--fields", "[1]")
    assert code == 2 and "JSON object" in err
