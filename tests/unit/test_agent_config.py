"""The agent's configuration file: defaults, every section, and errors that say file/line/key."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from pagerbridge.agent.config import (
    AgentConfig,
    apply_overrides,
    check_security,
    is_loopback_host,
    load_agent_config,
    parse_duration,
    split_host_port,
)
from pagerbridge.config import ConfigProblems
from pagerbridge.errors import ConfigError

FULL = """\
listen: 0.0.0.0:9081
token: ${AGENT_TOKEN}
pagerduty:
  region: eu
  proxy: http://proxy.internal:3128
  timeout: 5
delivery:
  workers: 4
  rate_limit_per_minute: 60
  deadline: 12h
  max_queue_size: 5000
  retention: 3d
maintenance:
  - name: nightly db
    days: [Mon, tue]
    from: 22:00
    to: "04:00"
    timezone: Europe/Berlin
    match:
      source: "db-*"
      severity: [warning, info]
  - name: migration
    start: 2026-11-23T02:00:00Z
    end: 2026-11-23T04:00:00Z
self_monitoring:
  routing_key: aaaabbbbccccddddeeeeffff00001111
  oldest_pending_threshold: 10m
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    config = load_agent_config(None)
    assert config.listen == "127.0.0.1:8081"
    assert config.delivery.rate_limit_per_minute == 120
    assert config.delivery.deadline == timedelta(hours=24)
    assert config.names_pagerduty is False
    check_security(config)  # loopback without a token is fine


def test_full_file_parses_every_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "s3cret-token-0123456789")
    config = load_agent_config(write(tmp_path, FULL))
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 9081)
    assert config.token == "s3cret-token-0123456789"
    assert config.pagerduty.region == "eu"
    assert config.delivery.deadline == timedelta(hours=12)
    assert config.delivery.retention == timedelta(days=3)
    nightly, migration = config.maintenance
    assert nightly.days == ["mon", "tue"]
    # An unquoted 22:00 is a YAML 1.1 sexagesimal integer; it must still mean 22:00.
    assert (nightly.from_, nightly.to) == (time(22, 0), time(4, 0))
    assert nightly.match.source == ["db-*"]
    assert nightly.actions == ["trigger"]
    assert migration.start is not None and migration.start.tzinfo is not None
    assert config.self_monitoring is not None
    assert config.self_monitoring.oldest_pending_threshold == timedelta(minutes=10)
    assert config.names_pagerduty is True
    check_security(config)


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        ("listen: 127.0.0.1:8081\ndelivery:\n  workers: many\n", 3, "delivery.workers", "integer"),
        ("delivery:\n  deadline: soon\n", 2, "delivery.deadline", "not a duration"),
        ("pagerduty:\n  region: mars\n", 2, "pagerduty.region", "'us' or 'eu'"),
        ("pagerduty:\n  region: us\n  events_url: https://x\n", 1, "pagerduty", "not both"),
        ("listen: nowhere\n", 1, "listen", "HOST:PORT"),
        ("delivery:\n  wrokers: 3\n", 2, "delivery.wrokers", "did you mean 'workers'?"),
        ("maintenance:\n  - frm: '01:00'\n", 2, "maintenance.0.frm", "did you mean 'from'?"),
        ("pagerduty:\n  regoin: eu\n", 2, "pagerduty.regoin", "did you mean 'region'?"),
        (
            "maintenance:\n  - name: a\n    start: 2026-01-02T00:00:00Z\n"
            "    end: 2026-01-01T00:00:00Z\n",
            2,
            "maintenance.0",
            "end must be after start",
        ),
        ("maintenance:\n  - days: [mon]\n    from: '01:00'\n", 2, "maintenance.0", "from and to"),
        (
            "maintenance:\n  - from: '01:00'\n    to: '02:00'\n    timezone: Mars/Olympus\n",
            4,
            "maintenance.0.timezone",
            "unknown time zone",
        ),
        ("token: short\n", 1, "token", "16 characters"),
        ("self_monitoring:\n  routing_key: abc\n", 2, "self_monitoring.routing_key", "32"),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    err = info.value
    assert err.file == str(path)
    assert err.line == line, str(err)
    assert err.key == key, str(err)
    assert fragment in str(err)
    assert str(err).startswith(f"{path}:{line} ({key})")


def test_every_problem_is_listed_with_its_line_and_a_suggestion(tmp_path: Path) -> None:
    """Two typos and a wrong type: three lines, each with file:line, in the file's order."""
    path = write(
        tmp_path,
        "listen: 127.0.0.1:8081\n"
        "delivery:\n"
        "  wokers: 4\n"
        "  rate_limit_per_minute: lots\n"
        "pagerduty:\n"
        "  timout: 5\n",
    )
    with pytest.raises(ConfigProblems) as info:
        load_agent_config(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"3 problems in {path}:"
    assert lines[1:] == [
        f"  {path}:3 (delivery.wokers): unknown key 'wokers'; did you mean 'workers'?",
        f"  {path}:4 (delivery.rate_limit_per_minute): Input should be a valid integer, "
        "unable to parse string as an integer",
        f"  {path}:6 (pagerduty.timout): unknown key 'timout'; did you mean 'timeout'?",
    ]
    assert [p.line for p in info.value.problems] == [3, 4, 6]
    assert (info.value.line, info.value.key) == (3, "delivery.wokers")  # the first problem's


def test_two_unreadable_tls_files_are_both_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, "tls:\n  cert_file: /nonexistent/agent.crt\n  key_file: /nonexistent/agent.key\n"
    )
    with pytest.raises(ConfigProblems) as info:
        load_agent_config(path)
    assert [(p.line, p.key) for p in info.value.problems] == [
        (2, "tls.cert_file"),
        (3, "tls.key_file"),
    ]
    assert all("not a readable file" in p.message for p in info.value.problems)


def test_an_unset_variable_and_a_bad_value_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "token: ${NO_SUCH_VAR_X}\nlisten: ${NO_SUCH_VAR_Y}\nlisten_x: 1\n")
    with pytest.raises(ConfigProblems) as info:
        load_agent_config(path)
    # One problem per key: the unexpanded value of an unset variable is not reported again.
    assert [(p.line, p.key) for p in info.value.problems] == [
        (1, "token"),
        (2, "listen"),
        (3, "listen_x"),
    ]
    assert "NO_SUCH_VAR_Y is not set" in str(info.value)
    assert "did you mean 'listen'?" in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_agent_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError) as info:
        load_agent_config(write(tmp_path, "listen: [\n"))
    assert info.value.line is not None
    assert "not valid YAML" in str(info.value)


def test_unset_environment_variable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_agent_config(write(tmp_path, "listen: 127.0.0.1:1\ntoken: ${NO_SUCH_VAR_X}\n"))
    assert info.value.line == 2
    assert "NO_SUCH_VAR_X" in str(info.value)


def test_non_loopback_or_forwarding_needs_a_token() -> None:
    with pytest.raises(ConfigError, match="needs a shared token") as info:
        check_security(AgentConfig(listen="0.0.0.0:8081"))
    assert info.value.key == "token"
    check_security(AgentConfig(listen="0.0.0.0:8081", insecure=True))
    check_security(AgentConfig(listen="[::1]:8081"))
    with pytest.raises(ConfigError, match=r"forward\.token"):
        check_security(AgentConfig.model_validate({"forward": {"url": "http://hub:8081"}}))
    check_security(
        AgentConfig.model_validate({"forward": {"url": "http://hub:8081", "token": "t" * 20}})
    )


def test_forward_excludes_a_pagerduty_target() -> None:
    with pytest.raises(ValueError, match="forward replaces"):
        AgentConfig.model_validate(
            {"forward": {"url": "http://hub:1"}, "pagerduty": {"region": "us"}}
        )


def test_command_line_overrides() -> None:
    base = AgentConfig.model_validate({"forward": {"url": "http://hub:1", "token": "t" * 20}})
    config = apply_overrides(
        base, listen="127.0.0.1:9999", database="/tmp/x.db", events_url="http://127.0.0.1:1/"
    )
    assert config.listen_port == 9999
    assert config.database == "/tmp/x.db"
    assert config.pagerduty.events_url == "http://127.0.0.1:1"
    assert config.forward is None
    with pytest.raises(ConfigError) as info:
        apply_overrides(base, listen="bad")
    assert info.value.key == "--listen"
    with pytest.raises(ConfigError, match="http"):
        apply_overrides(base, events_url="ftp://x")


def test_helpers() -> None:
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration(1.5) == timedelta(seconds=1.5)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    with pytest.raises(ValueError):
        parse_duration("-1s")
    assert split_host_port("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError, match="out of range"):
        split_host_port("h:70000")
    assert is_loopback_host("127.0.0.5") and is_loopback_host("localhost")
    assert not is_loopback_host("0.0.0.0") and not is_loopback_host("example.com")


def test_the_shipped_example_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "contrib" / "agent.example.yaml"
    config = load_agent_config(example)
    assert config.listen == "127.0.0.1:8081"
    assert config.pagerduty.region == "us"
    assert config.maintenance[0].from_ == time(2, 0)
    check_security(config)
