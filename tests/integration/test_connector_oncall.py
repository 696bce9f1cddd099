"""``im oncall --service api`` against the sandbox: the reference's block, from the mapped
service's escalation policy, ``GET /oncalls`` now and at the handover; the connector choice and
every error a user can meet (unmapped service, several connectors, PagerDuty unreachable).

A seed of the reference's people (john.doe and jane.smith rotating daily at 09:00, team-lead
after 15 minutes, a manager after 45) on a sandbox whose clock stands at 2025-08-23 12:00 UTC;
and the default seed (PDEMOEP), as ``pagerbridge up`` serves it. ``im`` runs in this process
(``run_app``), and once as a real process.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.cli._common import run_app
from pagerbridge.cli.im_app import app
from pagerbridge.sandbox.testing import SandboxHandle, free_port, running_sandbox

NOW = datetime(2025, 8, 23, 12, 0, tzinfo=UTC)
SEED = """
users:
  - {id: PJOHN01, name: John Doe, email: john.doe@company.com}
  - {id: PJANE01, name: Jane Smith, email: jane.smith@company.com}
  - {id: PLEAD01, name: Team Lead, email: team-lead@company.com}
  - {id: PMGR001, name: Manager, email: manager@company.com}
schedules:
  - id: PAPIS01
    name: API Primary
    time_zone: UTC
    layers:
      - name: Daily
        start: "2025-08-01T09:00:00Z"
        rotation_turn_length_seconds: 86400
        users: [PJOHN01, PJANE01]
escalation_policies:
  - id: PAPIEP1
    name: API Escalation
    num_loops: 0
    rules:
      - escalation_delay_in_minutes: 15
        targets: [{schedule: PAPIS01}]
      - escalation_delay_in_minutes: 30
        targets: [{user: PLEAD01}]
      - escalation_delay_in_minutes: 30
        targets: [{user: PMGR001}]
services:
  - {id: PAPI001, name: API, escalation_policy: PAPIEP1}
tokens:
  - token: sandbox-token
"""
REFERENCE_BLOCK = """\
Service: api
Current On-Call: john.doe@company.com (until 2025-08-24 09:00)
Next On-Call: jane.smith@company.com (2025-08-24 09:00)
Escalation: After 15 minutes → team-lead@company.com
            After 45 minutes → manager@company.com
"""


@pytest.fixture(scope="module")
def pd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    seed = tmp_path_factory.mktemp("seed") / "seed.yaml"
    seed.write_text(SEED)
    with running_sandbox(seed=seed, clock=lambda: NOW) as handle:
        yield handle


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, pd: SandboxHandle) -> str:
    """One database for the module: connector ``api-pd`` maps ``api`` to PAPI001 (and nothing
    else); connector ``demo-pd`` (added by a test) is the default seed's."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'pb.db'}"
    config = {
        "base_url": pd.url,
        "api_key": "sandbox-token",
        "custom": {"from_email": "john.doe@company.com", "service_mappings": {"api": "PAPI001"}},
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("PAGERBRIDGE_SECRET_KEY", raising=False)
        mp.setattr(sys, "stdin", io.StringIO(""))
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", ["connector", "add", "pagerduty", "api-pd", "--config",
                                json.dumps(config), "--db", url])  # fmt: skip
        assert done.value.code in (0, None)
    return url


class Im:
    """``im`` in this process: (exit code, stdout, stderr) of one command line."""

    def __init__(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db, self.capsys = db, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", [*args, "--db", self.db])
        out, err = self.capsys.readouterr()
        return int(done.value.code or 0), out, err


@pytest.fixture
def im(db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Im:
    monkeypatch.delenv("PAGERBRIDGE_DATABASE_URL", raising=False)
    return Im(db, capsys)


def test_oncall_prints_the_reference_block_in_a_real_process(db: str, pd: SandboxHandle) -> None:
    after = pd.clear_requests()
    env = {**os.environ, "PAGERBRIDGE_DATABASE_URL": db}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "im"), "oncall", "--service", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == REFERENCE_BLOCK
    # Reads only: the policy, who is on call now, and at the handover.
    calls = [(r["method"], r["path"]) for r in pd.requests(api="rest", after=after)]
    assert calls == [
        ("GET", "/services/PAPI001"),  # the service's own policy (the connector names none)
        ("GET", "/escalation_policies/PAPIEP1"),
        ("GET", "/oncalls"),
        ("GET", "/oncalls"),
    ]


def test_oncall_json_names_every_level_with_its_delay(im: Im) -> None:
    code, out, err = im("oncall", "--service", "api", "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["escalation_policy"] == {"id": "PAPIEP1", "name": "API Escalation"}
    assert view["pd_service"] == "PAPI001" and view["connector"] == "api-pd"
    [current] = view["current"]
    assert current["email"] == "john.doe@company.com"
    assert (current["start"], current["end"]) == (
        "2025-08-23T09:00:00+00:00",
        "2025-08-24T09:00:00+00:00",
    )
    [upcoming] = view["next"]
    assert (upcoming["email"], upcoming["start"]) == (
        "jane.smith@company.com",
        "2025-08-24T09:00:00+00:00",
    )
    chain = [
        (lv["level"], lv["after_minutes"], [p["email"] for p in lv["on_call"]])
        for lv in view["escalation"]
    ]
    assert chain == [
        (1, 0, ["john.doe@company.com"]),
        (2, 15, ["team-lead@company.com"]),
        (3, 45, ["manager@company.com"]),
    ]


def test_unmapped_service_is_a_clear_error(im: Im) -> None:
    code, out, err = im("oncall", "--service", "payments")
    assert code == 3 and out == ""
    assert "error: service 'payments' is not mapped to a PagerDuty service by connector" in err
    assert "hint: map it: im connector map-service api-pd --im-service payments" in err
    assert "Traceback" not in err


def test_default_seed_and_the_connector_choice(im: Im) -> None:
    """With two connectors, --connector chooses; without it the error names both. The default
    seed's PDEMOEP: the demo user now, the backup after 30 minutes."""
    with running_sandbox() as demo:
        config = {
            "base_url": demo.url,
            "api_key": "sandbox-token",
            "custom": {"service_id": "PDEMO01", "from_email": "oncall@example.com"},
        }
        code, _, err = im(
            "connector", "add", "pagerduty", "demo-pd", "--config", json.dumps(config)
        )
        assert code == 0, err
        try:
            code, out, err = im("oncall", "--service", "api")
            assert code == 2 and out == ""
            assert "error: several connectors (api-pd, demo-pd): choose one" in err
            assert "hint: give --connector NAME" in err

            code, out, err = im("oncall", "--service", "web", "--connector", "demo-pd")
            assert code == 0, err
            lines = out.splitlines()
            assert lines[0] == "Service: web"
            assert lines[1].startswith("Current On-Call: oncall@example.com (until ")
            assert lines[3] == "Escalation: After 30 minutes → backup@example.com"

            code, _, err = im("oncall", "--service", "web", "--connector", "nosuch")
            assert code == 3 and "no connector named 'nosuch'" in err
        finally:
            assert im("connector", "remove", "demo-pd", "--yes")[0] == 0


def test_unreachable_pagerduty_exits_69(im: Im, pd: SandboxHandle) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config: dict[str, Any] = {
        "base_url": dead,
        "api_key": "sandbox-token",
        "custom": {"service_id": "PAPI001", "from_email": "john.doe@company.com"},
    }
    assert im("connector", "add", "pagerduty", "dead-pd", "--config", json.dumps(config))[0] == 0
    try:
        code, out, err = im("oncall", "--service", "api", "--connector", "dead-pd")
        assert code == 69 and out == ""
        assert f"error: cannot reach PagerDuty at {dead} (connector dead-pd)" in err
        assert "hint: check the network" in err and "Traceback" not in err
    finally:
        assert im("connector", "remove", "dead-pd", "--yes")[0] == 0


def test_no_connector_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGERBRIDGE_DATABASE_URL", raising=False)
    code, out, err = Im(f"sqlite:///{tmp_path / 'empty.db'}", capsys)("oncall", "--service", "api")
    assert code == 3 and out == ""
    assert "error: no active connector is configured" in err
    assert "hint: add one: im connector add pagerduty NAME" in err
