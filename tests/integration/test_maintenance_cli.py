"""``pagerbridge maintenance`` against a real sandbox over loopback HTTP (issue 15, item 7).

The happy path runs the real console script (create → list → end); refusals that never reach
PagerDuty run in-process through the same ``run_app`` the script uses, to save start-up time.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pagerbridge.cli import _common, exits
from pagerbridge.cli.main import app
from pagerbridge.cli.maintenance_cmd import DROP_NOTE, parse_when
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox

BIN = Path(sys.executable).parent / "pagerbridge"
SERVICE = "PDEMO01"
FROM = "oncall@example.com"


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(pd: SandboxHandle, *args: str, key: str | None = "sandbox-token") -> Result:
    """``pagerbridge maintenance ...`` in-process, through the ``run_app`` the script runs."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PAGERDUTY_")}
    if key is not None:
        os.environ["PAGERDUTY_API_KEY"] = key
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                _common.run_app(
                    app, "pagerbridge", ["maintenance", *args, "--base-url", pd.api_url]
                )
            except SystemExit as exited:
                code = exited.code if isinstance(exited.code, int) else 1
    finally:
        os.environ.pop("PAGERDUTY_API_KEY", None)
        os.environ.update(saved)
    return Result(code, out.getvalue(), err.getvalue())


def script(pd: SandboxHandle, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console script, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERDUTY_", "PAGERBRIDGE_"))}
    env["PAGERDUTY_API_KEY"] = "sandbox-token"
    return subprocess.run(
        [str(BIN), "maintenance", *args, "--base-url", pd.api_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def inproc(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        _common.run_app(app, "pagerbridge", ["maintenance", *args])
    code = exited.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_create_list_end_in_the_sandbox(pd: SandboxHandle) -> None:
    made = script(
        pd,
        "create",
        "--service",
        SERVICE,
        "--start",
        "now",
        "--end",
        "+2h",
        "--description",
        "switch upgrade",
        "--from",
        FROM,
    )
    assert made.returncode == 0, made.stderr
    assert "PagerDuty drops them" in made.stdout and DROP_NOTE in made.stdout
    window_id = made.stdout.split()[3]
    status, body = pd.rest("GET", f"/maintenance_windows/{window_id}")
    assert status == 200, body
    window = body["maintenance_window"]
    assert [s["id"] for s in window["services"]] == [SERVICE]
    assert window["description"] == "switch upgrade"
    end = datetime.fromisoformat(window["end_time"].replace("Z", "+00:00"))
    assert abs(end - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)

    listed = cli(pd, "list", "--json", "--service", SERVICE)
    assert listed.returncode == 0, listed.stderr
    windows = json.loads(listed.stdout)["maintenance_windows"]
    assert [w["id"] for w in windows] == [window_id]
    assert windows[0]["services"] == [SERVICE]
    text = cli(pd, "list")
    assert window_id in text.stdout and "switch upgrade" in text.stdout

    ended = cli(pd, "end", window_id)
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.strip() == f"ended maintenance window {window_id}"
    assert json.loads(cli(pd, "list", "--json").stdout)["maintenance_windows"] == []
    # Ended, not deleted: PagerDuty keeps it among the past windows.
    past = json.loads(cli(pd, "list", "--json", "--filter", "past").stdout)
    assert [w["id"] for w in past["maintenance_windows"]] == [window_id]


def test_a_future_window_is_cancelled_and_json_carries_the_note(pd: SandboxHandle) -> None:
    made = cli(pd, "create", "--service", SERVICE, "--start", "+1d", "--end", "+1d2h",
               "--from", FROM, "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    answer = json.loads(made.stdout)
    assert "PagerDuty drops them" in answer["note"]
    window_id = answer["maintenance_window"]["id"]
    assert cli(pd, "end", window_id).stdout.strip() == f"cancelled maintenance window {window_id}"
    assert pd.rest("GET", f"/maintenance_windows/{window_id}")[0] == 404


def test_pagerduty_refusals_are_one_line_with_the_right_code(pd: SandboxHandle) -> None:
    wrong_key = cli(pd, "list", key="not-the-token")
    assert wrong_key.returncode == exits.AUTH, wrong_key.stderr
    assert wrong_key.stderr.startswith("error: listing maintenance windows: PagerDuty refused")
    assert "not-the-token" not in wrong_key.stderr
    missing = cli(pd, "end", "PNOPE42")
    assert missing.returncode == exits.NOT_FOUND, missing.stderr
    unknown_service = cli(pd, "create", "--service", "PNOPE42", "--end", "+1h", "--from", FROM)
    assert unknown_service.returncode == exits.NOT_FOUND, unknown_service.stderr
    assert "Traceback" not in unknown_service.stderr + missing.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--start", "+2h", "--end", "+1h"], "is not after the start"),
        (["--end", "2020-01-01T00:00:00Z"], "is not in the future"),
        (["--end", "tomorrow"], "'tomorrow' is not a time"),
        (["--end", "+1h", "--service", "P-1"], "is not a PagerDuty service ID"),
    ],
)
def test_bad_times_and_ids_are_refused_before_any_call(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    base = ["create", "--api-key", "k", "--from", FROM, "--base-url", "http://127.0.0.1:9"]
    if "--service" not in args:
        base += ["--service", SERVICE]
    code, err = inproc(capsys, *base, *args)
    assert code == exits.USAGE
    assert err.startswith("error: ") and expected in err and "hint: " in err


def test_missing_credentials_and_connectors_are_explained(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PAGERDUTY_API_KEY", raising=False)
    monkeypatch.delenv("PAGERDUTY_FROM", raising=False)
    code, err = inproc(capsys, "list")
    assert (code, err.splitlines()[0]) == (exits.USAGE, "error: no PagerDuty API key")
    code, err = inproc(capsys, "create", "--service", SERVICE, "--end", "+1h", "--api-key", "k")
    assert code == exits.USAGE and "needs the email of a PagerDuty user" in err


def test_credentials_from_a_connector(
    pd: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--connector NAME``: the connector's API key, base URL and From (im connector's store)."""
    from cryptography.fernet import Fernet

    from pagerbridge.connectors.secrets import SecretBox
    from pagerbridge.connectors.service import add
    from pagerbridge.connectors.settings import parse_config
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    db = f"sqlite:///{tmp_path / 'hub.db'}"
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", Fernet.generate_key().decode())
    engine = make_engine(db)
    upgrade(engine)
    settings, secrets = parse_config(
        {
            "base_url": pd.api_url,
            "api_key": "sandbox-token",
            "custom": {"from_email": FROM, "service_id": SERVICE},
        }
    )
    with engine.begin() as conn:
        add(conn=conn, name="prod-pd", settings=settings, secrets=secrets,
            box=SecretBox.for_engine(engine))  # fmt: skip
    engine.dispose()
    via = ["--connector", "prod-pd", "--db", db]
    made = cli(pd, "create", "--service", SERVICE, "--end", "+1h", "--json", *via, key=None)
    assert made.returncode == 0, made.stderr
    window_id = json.loads(made.stdout)["maintenance_window"]["id"]
    listed = json.loads(cli(pd, "list", "--json", *via, key=None).stdout)
    assert window_id in [w["id"] for w in listed["maintenance_windows"]]
    assert cli(pd, "end", window_id, *via, key=None).returncode == 0
    unknown = cli(pd, "list", "--connector", "nope", "--db", db, key=None)
    assert unknown.returncode != 0 and "no connector named 'nope'" in unknown.stderr


def test_relative_and_iso_times() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_when("now", now=now, what="x") == now
    assert parse_when("+1h30m", now=now, what="x") == now + timedelta(minutes=90)
    assert parse_when("+1d", now=now, what="x") == now + timedelta(days=1)
    assert parse_when("2026-12-24T23:00+01:00", now=now, what="x") == datetime(
        2026, 12, 24, 22, 0, tzinfo=UTC
    )
    assert parse_when("2026-12-24T22:00:00Z", now=now, what="x").tzinfo == UTC
