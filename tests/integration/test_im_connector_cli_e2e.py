"""``im connector`` as a user runs it: real ``im`` processes, the interactive ``add`` on standard
input, then ``test``, a declaration pushed with ``sync`` (no hub running) and its trace in
``status`` and ``list``. Against a real sandbox over HTTP, on SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

IM = str(Path(sys.executable).parent / "im")


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def im(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env |= {"PAGERBRIDGE_DATABASE_URL": url, "PAGERBRIDGE_ACTOR": "alice"}
    # A new session has no controlling terminal: the hidden prompt reads standard input.
    return subprocess.run(
        [IM, *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        start_new_session=True,
    )


def test_interactive_add_test_declare_sync(pd: SandboxHandle, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    answers = [pd.token, pd.api_url, pd.service_id, "oncall@example.com", "", "bidirectional"]
    added = im(url, "connector", "add", "pagerduty", "prod-pagerduty", stdin="\n".join(answers))
    assert added.returncode == 0, added.stderr
    for question in ("API Key", "API Base URL", "Default Service ID", "From Email"):
        assert question in added.stdout
    assert "Escalation Policy ID (optional)" in added.stdout and "Sync Direction" in added.stdout
    assert pd.token not in added.stdout + added.stderr, "the key is not echoed back"
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600

    tested = im(url, "connector", "test", "prod-pagerduty")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines()[:3] == [
        "✓ Connected to PagerDuty API",
        "✓ Service PDEMO01 accessible",
        "✓ User oncall@example.com valid",
    ]

    declared = im(url, "declare", "--sev", "SEV-2", "--title", "Database performance issue")
    assert declared.returncode == 0, declared.stderr
    synced = im(url, "connector", "sync", "prod-pagerduty", "--incident", "INC-1", "--json")
    assert synced.returncode == 0, synced.stderr
    result = json.loads(synced.stdout)
    assert (result["delivered"], result["failed"], result["remaining"]) == (1, 0, 0)
    status, found = pd.rest("GET", "/incidents?statuses[]=triggered&limit=100")
    assert status == 200
    titles = [i["title"] for i in found["incidents"]]
    assert titles.count("Database performance issue") == 1

    shown = im(url, "connector", "status", "prod-pagerduty")
    assert "Incidents Synced: 1 (last 24h)" in shown.stdout and "Sync Errors: 0" in shown.stdout
    listed = im(url, "connector", "list")
    assert "s ago" in listed.stdout.splitlines()[1], listed.stdout
    for done in (added, tested, synced, shown, listed):
        assert pd.token not in done.stdout + done.stderr
