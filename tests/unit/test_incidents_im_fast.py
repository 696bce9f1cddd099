"""The lean parser of the hot ``im`` commands (pagerbridge.cli.im_fast) takes exactly what the
Typer app would parse to the same values, and declines everything else (Typer then answers)."""

from __future__ import annotations

import pytest
import typer.main

from pagerbridge.cli import im_fast
from pagerbridge.cli.im_app import app

ACCEPTED = [
    ["declare", "--sev", "SEV-2", "--title", "DB down", "--service", "db,api"],
    ["declare", "-t", "x", "-s", "1", "-d", "desc", "-a", "bob", "-f", "a=1", "--field", "b=2"],
    ["declare", "--title=x", "--severity=sev3", "--json", "--db", "sqlite:////tmp/x.db"],
    ["declare", "--title", "x", "--title", "y"],  # the last one wins, as in click
    ["list"],
    ["list", "--status", "open", "--service", "db", "--sev", "1", "--limit", "500", "--json"],
    ["list", "--offset", "0", "--limit=1", "--severity", "SEV-4"],
    ["ack", "INC-1"],
    ["ack", "--incident", "INC-1", "--note", "on it", "--json"],
    ["resolve", "-i", "2", "-n", "fixed", "--server", "http://127.0.0.1:1", "--token", "t"],
    ["close", "INC-3", "--db", "x.db"],
    ["reopen", "INC-3", "-i", "INC-3"],
    ["ack"],  # no incident: the shared body says so (exit 2), as under Typer
    ["show", "INC-1", "--json"],
    ["timeline", "--incident", "INC-9"],
]

DECLINED = [
    [],
    ["--help"],
    ["declare", "--help"],
    ["declare"],  # --title is required: Typer's usage error
    ["declare", "--title"],
    ["declare", "--title", "x", "--nope", "1"],
    ["declare", "--title", "x", "stray"],
    ["declare", "-tx"],
    ["list", "--limit", "0"],
    ["list", "--limit", "501"],
    ["list", "--limit", "many"],
    ["list", "--offset", "-1"],
    ["list", "--no-json"],
    ["ack", "INC-1", "INC-2"],
    ["ack", "--", "INC-1"],
    ["note", "INC-1", "text"],  # not a hot command
    ["service", "list"],
]


def typer_params(argv: list[str]) -> dict[str, object]:
    group = typer.main.get_command(app)
    command = group.commands[argv[0]]  # type: ignore[attr-defined]
    ctx = command.make_context(argv[0], list(argv[1:]))
    params = dict(ctx.params)
    if "field" in params:
        params["field"] = list(params["field"] or [])
    return params


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_accepted_command_lines_parse_as_typer_parses_them(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGERBRIDGE_SERVER", "")
    monkeypatch.delenv("PAGERBRIDGE_TOKEN", raising=False)
    parsed = im_fast.parse(argv)
    assert parsed is not None
    assert parsed[1] == typer_params(argv)


def test_server_and_token_come_from_the_environment_like_typer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAGERBRIDGE_SERVER", "http://hub:8080")
    monkeypatch.setenv("PAGERBRIDGE_TOKEN", "pbt_x")
    parsed = im_fast.parse(["ack", "INC-1"])
    assert parsed is not None
    assert parsed[1]["server"] == "http://hub:8080" and parsed[1]["token"] == "pbt_x"
    assert parsed[1] == typer_params(["ack", "INC-1"])


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "(none)")
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert im_fast.parse(argv) is None
