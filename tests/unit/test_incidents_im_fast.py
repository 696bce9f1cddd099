"""The lean parser of the hot ``im`` commands (pagerbridge.cli.im_fast) takes exactly what the
Typer app would parse to the same values, and declines everything else (Typer then answers).

Both are built from one table (pagerbridge.cli.im_spec); the command lines below are partly
written by hand (the odd cases) and partly generated from that table: every spelling of every
option, in every form, alone and in pairs, so an option added or changed there is covered here.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping

import pytest
import typer.core
import typer.main
from typer._click.exceptions import UsageError  # Typer 0.29 carries its own click

from pagerbridge.cli import im_fast
from pagerbridge.cli.im_app import app
from pagerbridge.cli.im_options import add_hot_command
from pagerbridge.cli.im_spec import COMMON, HOT, REQUIRED, TRANSITIONS, HotCommand, Opt

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


@functools.cache
def typer_command(name: str) -> typer.core.TyperCommand:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    command = group.commands[name]
    assert isinstance(command, typer.core.TyperCommand)
    return command


def typer_params(argv: list[str], table: Mapping[str, HotCommand] = HOT) -> dict[str, object]:
    """What Typer hands the command's body for ``argv`` (repeatable options as lists)."""
    command = typer_command(argv[0]) if table is HOT else made_command(table[argv[0]])
    ctx = command.make_context(argv[0], list(argv[1:]))
    params = dict(ctx.params)
    for opt in table[argv[0]].params:
        if opt.kind == "multi":
            params[opt.name] = list(params[opt.name] or [])
    return params


def made_command(command: HotCommand) -> typer.core.TyperCommand:
    """``command`` as a Typer app of its own would have it."""
    one = typer.Typer()
    add_hot_command(one, command)
    add_hot_command(one, HOT["show"])  # two commands: a group, as in im
    group = typer.main.get_command(one)
    assert isinstance(group, typer.core.TyperGroup)
    made = group.commands[command.name]
    assert isinstance(made, typer.core.TyperCommand)
    return made


@pytest.fixture(autouse=True)
def _no_hub_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERBRIDGE_SERVER", "")
    monkeypatch.delenv("PAGERBRIDGE_TOKEN", raising=False)


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_accepted_command_lines_parse_as_typer_parses_them(argv: list[str]) -> None:
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


# Generated from the table -----------------------------------------------------------------------


def sample(opt: Opt) -> str:
    """A valid value for ``opt`` (the bounds of a number: where an off-by-one would show)."""
    if opt.kind == "int":
        return str(opt.max if opt.max is not None else (opt.min or 0) + 7)
    return f"{opt.name} value"


def forms(opt: Opt) -> list[list[str]]:
    """Every way of writing ``opt`` with a valid value."""
    if opt.positional:
        return [["INC-7"]]
    if opt.kind == "flag":
        return [[decl] for decl in opt.decls]
    out = [[decl, sample(opt)] for decl in opt.decls]
    out += [[f"{decl}={sample(opt)}"] for decl in opt.decls if decl.startswith("--")]
    if opt.kind == "int" and opt.min is not None:
        out.append([opt.decls[0], str(opt.min)])
    return out


def required(command: HotCommand, besides: list[str]) -> list[str]:
    """The required options ``besides`` does not give yet, so the command line is complete."""
    out: list[str] = []
    for opt in command.params:
        if opt.required and not any(arg.split("=")[0] in opt.decls for arg in besides):
            out += [opt.decls[0], sample(opt)]
    return out


def test_the_table_covers_exactly_the_hot_commands_typer_has() -> None:
    assert set(HOT) == {"declare", *TRANSITIONS, "list", "show", "timeline"}
    for name, command in HOT.items():
        params = {p.name: p for p in typer_command(name).params if p.name != "help"}
        assert list(params) == [opt.name for opt in command.params]
        for opt in command.params:
            param = params[opt.name]
            spellings = set(param.opts) | set(param.secondary_opts)
            assert spellings == (set(opt.decls) or {opt.name}), opt
            assert param.required == opt.required, opt
            assert param.multiple == (opt.kind == "multi"), opt
            assert getattr(param, "envvar", None) == opt.envvar, opt
            assert opt.kind == "str" or not opt.positional, "the lean parser takes str arguments"


@pytest.mark.parametrize("name", list(HOT))
def test_every_option_in_every_form_parses_as_typer_parses_it(name: str) -> None:
    command = HOT[name]
    lines = [[name, *form] for opt in command.params for form in forms(opt)]
    for argv in lines:
        argv += required(command, argv)
        parsed = im_fast.parse(argv)
        assert parsed is not None, argv
        assert parsed[0] is command
        assert parsed[1] == typer_params(argv), argv


@pytest.mark.parametrize("name", list(HOT))
def test_every_pair_of_options_parses_as_typer_parses_it(name: str) -> None:
    command = HOT[name]
    pieces = [form for opt in command.params for form in forms(opt)]
    for first, second in itertools.permutations(pieces, 2):
        argv = [name, *first, *second]
        argv += required(command, argv)
        parsed = im_fast.parse(argv)
        assert parsed is not None, argv
        assert parsed[1] == typer_params(argv), argv


@pytest.mark.parametrize("name", list(HOT))
def test_malformed_options_are_left_to_typer(name: str) -> None:
    """A missing value, a value out of range, a value given to a flag: Typer's usage errors.
    (A value that looks like an option, ``--title --json``, is declined too, though click would
    take it as the value: the lean parser only takes what it is sure of.)"""
    command = HOT[name]
    for opt in command.params:
        if opt.positional:
            continue
        for decl in opt.decls:
            if opt.kind == "flag":
                bad = [[f"{decl}=1"]] if decl.startswith("--") else []
            else:
                assert im_fast.parse([name, *required(command, [decl]), decl, "--json"]) is None
                bad = [[decl]]
                if opt.kind == "int":
                    bad += [[decl, "x"], [decl, "1.5"], [decl, "²"]]
                    bad += [[decl, str(opt.min - 1)]] if opt.min is not None else []
                    bad += [[decl, str(opt.max + 1)]] if opt.max is not None else []
            for args in bad:
                argv = [name, *args]
                argv = [*argv[:1], *required(command, argv), *argv[1:]]
                assert im_fast.parse(argv) is None, argv
                with pytest.raises(UsageError):
                    typer_params(argv)


def test_an_option_added_to_the_table_reaches_both_parsers(monkeypatch: pytest.MonkeyPatch) -> None:
    """One declaration is enough: a new command with every kind of option, declared only in a
    table, parses the same through Typer and the lean parser (and the body gets the values)."""
    got: list[dict[str, object]] = []
    new = HotCommand(
        "page",
        "Page someone.",
        lambda **values: got.append(values),
        Opt("who", metavar="WHO"),
        Opt("why", "--why", "-w", default=REQUIRED),
        Opt("times", "--times", kind="int", default=1, min=1, max=3),
        Opt("loud", "--loud", kind="flag", default=False),
        Opt("tag", "--tag", kind="multi"),
        Opt("via", "--via", envvar="IM_TEST_VIA"),
        *COMMON,
    )
    table = {"page": new}
    monkeypatch.setenv("IM_TEST_VIA", "sms")
    pieces = [form for opt in new.params for form in forms(opt)]
    for first, second in itertools.permutations(pieces, 2):
        argv = ["page", *first, *second]
        argv += required(new, argv)
        parsed = im_fast.parse(argv, table)
        assert parsed is not None, argv
        assert parsed[1] == typer_params(argv, table), argv
    assert im_fast.parse(["page", "--times", "4", "-w", "x"], table) is None
    assert im_fast.parse(["page", "bob"], table) is None  # --why is required
    parsed = im_fast.parse(["page", "bob", "-w", "x", "--tag", "a", "--tag", "b"], table)
    assert parsed is not None
    assert parsed[1]["via"] == "sms" and parsed[1]["tag"] == ["a", "b"]
    made_command(new).main(["bob", "-w", "x", "--tag", "a"], standalone_mode=False)
    assert got[-1]["tag"] == ["a"] and got[-1]["who"] == "bob" and got[-1]["via"] == "sms"
