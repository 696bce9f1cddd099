"""Every tool speaks one language (issue 12, item 3): the exit-code table at the end of each
``--help``, ``--version`` everywhere, readable placeholders, ``error:``/``hint:`` lines, and the
same code for the same situation in every tool. Real console scripts, real processes; the help of
every subcommand is read in-process through the same ``run_app`` the scripts use.

``im``'s entry point (cli/im.py) hands its Typer app to ``run_app`` only once it is wired so; until
then the cases that need it are expected to fail (strict: they must pass once it is).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from pagerbridge import __version__
from pagerbridge.cli import _common, exits
from pagerbridge.cli.im_app import app as im_app
from pagerbridge.cli.main import app as pagerbridge_app
from pagerbridge.cli.pd_queue import app as pd_queue_app
from pagerbridge.cli.update_watcher import app as update_watcher_app

BIN = Path(sys.executable).parent
TOOLS = (
    "pagerbridge",
    "im",
    "pd-send",
    "pd-queue",
    "update-watcher",
    "pd-nagios",
    "pd-zabbix",
    "pd-sensu",
)
TYPER_APPS: dict[str, typer.Typer] = {
    "pagerbridge": pagerbridge_app,
    "im": im_app,
    "pd-queue": pd_queue_app,
    "update-watcher": update_watcher_app,
}
#: Typer's type placeholders (<bool>, <str>, <list[str]>, <int range>, <path>, ...) and boxes.
UNREADABLE = re.compile(
    r"<(?:bool|str|int|float|path|file|dir|uuid|datetime|\w+ range|list\[[^>]*\])>|[╭╰│]"
)
TABLE_HEADER = "Exit codes (the same in every pagerbridge tool):"


def run(tool: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    environ.update(env)
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, env=environ, timeout=60
    )


def tool_param(tool: str) -> Any:
    return tool


def assert_error_style(result: subprocess.CompletedProcess[str], code: int) -> list[str]:
    """``error: …`` on the first line, at most a ``hint: …`` after it, the expected code."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert lines and lines[0].startswith("error: "), result.stderr
    assert all(line.startswith("hint: ") for line in lines[1:2]), result.stderr
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr
    return lines


@pytest.mark.parametrize("tool", [tool_param(t) for t in TOOLS])
def test_help_ends_with_the_table(tool: str) -> None:
    result = run(tool, "--help")
    assert result.returncode == 0, result.stderr
    assert TABLE_HEADER in result.stdout
    for code, meaning in exits.TABLE:
        assert f"{code:<4} {meaning}" in result.stdout, (code, result.stdout)
    assert not UNREADABLE.search(result.stdout), result.stdout
    for command, rows in exits.EXCEPTIONS.items():
        if command.split()[0] == tool:  # pd-send, update-watcher run: their documented codes
            assert f"{command} differs" in result.stdout
            for code, meaning in rows:
                assert f"{code:<4} {meaning}" in result.stdout


@pytest.mark.parametrize("tool", [tool_param(t) for t in TOOLS])
def test_version_everywhere(tool: str) -> None:
    result = run(tool, "--version")
    assert (result.returncode, result.stdout) == (0, f"{tool} {__version__}\n"), result.stderr


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _command_paths(sub, (*path, name))


def _help(app: typer.Typer, prog: str, path: tuple[str, ...], capsys: Any) -> str:
    with pytest.raises(SystemExit) as info:
        _common.run_app(app, prog, [*path, "--help"])
    assert info.value.code == 0
    return str(capsys.readouterr().out)


@pytest.mark.parametrize("tool", sorted(TYPER_APPS))
def test_every_subcommand_has_readable_placeholders_and_the_table(
    tool: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = TYPER_APPS[tool]
    paths = list(_command_paths(_common.build(app, tool)))
    assert len(paths) > 2
    for path in paths:
        text = _help(app, tool, path, capsys)
        where = " ".join((tool, *path))
        assert not UNREADABLE.search(text), f"{where} --help:\n{text}"
        assert TABLE_HEADER in text, where
        for option in re.findall(r"^\s+(?:-\w, )?(--[\w-]+) ([^\s/]\S*)", text, re.M):
            assert option[1][0].isupper() or "|" in option[1], (where, option)


def test_the_placeholders_users_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    listing = _help(pd_queue_app, "pd-queue", ("list",), capsys)
    assert "--db URL" in listing and "--state STATE" in listing and "--limit N" in listing
    agent = _help(pagerbridge_app, "pagerbridge", ("agent",), capsys)
    assert "--config FILE" in agent and "--listen HOST:PORT" in agent
    assert "--log-format text|json" in agent and "--log-level LEVEL" in agent
    assert "--help " in agent and "--help <bool>" not in agent


def test_pd_send_help_is_readable_too() -> None:
    result = run("pd-send", "--help")
    assert result.returncode == 0 and not UNREADABLE.search(result.stdout)


@pytest.mark.parametrize("tool", [tool_param(t) for t in TOOLS])
def test_an_unknown_option_is_a_usage_error(tool: str) -> None:
    lines = assert_error_style(run(tool, "--bogus"), exits.USAGE)
    assert "--bogus" in lines[0]


# im has a logs command (issue 14 item 8): its unknown word is another one.
@pytest.mark.parametrize(
    ("tool", "word"), [(tool_param("pagerbridge"), "logs"), ("im", "audit"), ("pd-queue", "logs")]
)
def test_an_unknown_command_gets_no_misleading_suggestion(tool: str, word: str) -> None:
    lines = assert_error_style(run(tool, word), exits.USAGE)
    assert lines[0] == f"error: no such command '{word}'"
    assert "did you mean" not in "\n".join(lines).lower()
    assert lines[1] == f"hint: '{tool} --help' lists the commands"


def test_update_watcher_logs_is_no_command_either() -> None:
    lines = assert_error_style(run("update-watcher", "logs"), exits.USAGE)
    assert lines[0] == "error: no such command 'logs'" and "did you mean" not in lines[1]


@pytest.mark.parametrize("tool", [tool_param(t) for t in ("im", "pd-queue")])
def test_a_small_typo_gets_a_suggestion(tool: str) -> None:
    lines = assert_error_style(run(tool, "lsit"), exits.USAGE)
    assert lines[1].startswith("hint: did you mean 'list'?")


def test_an_unknown_im_command_through_run_app(capsys: pytest.CaptureFixture[str]) -> None:
    """What an unknown ``im`` command answers through run_app (checked in-process)."""
    with pytest.raises(SystemExit) as info:
        _common.run_app(im_app, "im", ["audit"])
    assert info.value.code == exits.USAGE
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: no such command 'audit'", "hint: 'im --help' lists the commands"]


def test_a_configuration_error_is_4_in_every_tool(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: 127.0.0.1:0\ndelivery:\n  workers: lots\n")
    db = str(tmp_path / "pb.db")
    for tool, *args in (
        ("pagerbridge", "agent", "--config", str(bad), "--db", db),
        ("pagerbridge", "up", "--config", str(bad), "--db", db),
        ("update-watcher", "validate", "--config", str(bad)),
        ("update-watcher", "run", "--config", str(bad)),
    ):
        result = run(tool, *args)
        assert result.returncode == exits.CONFIG, (tool, args, result.stderr)
        assert result.stderr.startswith("error: configuration: "), result.stderr
        assert str(bad) in result.stderr
        assert "Traceback" not in result.stderr


def test_not_found_is_3_in_every_tool(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'pb.db'}"
    assert run("pagerbridge", "db", "upgrade", "--db", db).returncode == 0
    for tool, *args in (
        ("pd-queue", "show", "999", "--db", db),
        ("pd-queue", "retry", "999", "--db", db),
        ("im", "ack", "INC-9", "--db", db),
        ("im", "service", "show", "nope", "--db", db),
    ):
        assert_error_style(run(tool, *args), exits.NOT_FOUND)


def test_an_unusable_database_is_74_in_every_tool(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    db = str(tmp_path / "afile" / "pb.db")
    for tool, *args in (
        ("pd-queue", "status", "--db", db),
        ("im", "list", "--db", db),
        ("pagerbridge", "db", "check", "--db", db),
        ("pagerbridge", "db", "upgrade", "--db", db),
        ("pagerbridge", "agent", "--db", db, "--listen", "127.0.0.1:0"),
    ):
        assert_error_style(run(tool, *args), exits.STORAGE)


def test_a_bad_option_value_is_2_in_every_tool() -> None:
    for tool, *args in (
        ("pd-queue", "list", "--state", "lost"),
        ("pd-send", "--severity", "fatal"),
        ("pagerbridge", "agent", "--log-format", "xml"),
        ("pagerbridge", "sandbox", "--port", "0"),
        ("update-watcher", "run", "--format", "yaml"),
    ):
        assert_error_style(run(tool, *args), exits.USAGE)
