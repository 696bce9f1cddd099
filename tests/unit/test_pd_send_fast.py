"""pd-send's lean parser (pagerbridge.cli.pd_send_fast) gives exactly argparse's values for the
command lines it takes, and declines the others (argparse then answers, with its help and errors:
checked in a real process by tests/integration/test_pd_send_fast_cli.py).

Both parsers are made from one table (``pd_send_fast.OPTIONS``). Besides the hand-written odd
cases, the command lines below are generated from argparse's own parser (``build_parser``): every
option in every spelling and form, alone and in pairs, and its malformed variants.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import typing

import pytest

from pagerbridge.cli import pd_send_fast
from pagerbridge.cli.pd_send import build_parser

RK = "0123456789abcdef0123456789abcdef"
#: Options argparse answers itself (and exits): the lean parser declines them.
ARGPARSE_ONLY = (argparse._HelpAction, argparse._VersionAction)

#: Command lines the lean parser must take (each one: the same values as argparse).
ACCEPTED = [
    [],
    ["-k", RK, "-t", "trigger", "-d", "CPU above 95%", "--db", "sqlite:////tmp/x.db"],
    ["--service-key", RK, "--event-type", "acknowledge", "--incident-key", "k1"],
    ["--routing-key", RK, "-t", "resolve", "--dedup-key", "k2", "-q"],
    ["-k", RK, "-t", "trigger", "-d", "x", "-i", "i", "-c", "nagios", "-u", "http://nagios/"],
    ["--description", "d", "--client", "zabbix", "--client-url", "https://z/", "--quiet"],
    ["-f", "a=1", "--field", "b=2", "-f", "a=3", "-f", "empty="],
    ["--severity", "critical", "--source", "web-1", "--component", "nginx", "--group", "www"],
    ["--severity", "info", "--class", "cpu", "--severity", "warning"],
    ["--link", "https://a", "--link", "https://b,B", "--image", "https://i.png,https://h,alt"],
    ["--image", "x", "--image", "y,z", "--change", "--change"],
    ["--json", "-", "-i", "j-1"],
    ["--json", "/tmp/event.json", "--agent-url", "http://127.0.0.1:9/", "--max-queue", "5"],
    ["--max-queue", "0", "--max-queue", " 7 ", "--max-queue", "1_000"],
    ["-k", "a", "-k", "b", "-t", "trigger", "-t", "resolve", "-d", "one", "-d", "two"],
    ["-d", "", "-i", "", "-c", "", "-u", "", "--source", "", "--db", "", "-f", ""],
    ["-d", "CPU ≥ 95 % on wéb-1 🔥", "-f", "hôte=wéb-1", "--group", "日本"],
    ["-d", "a=b", "-i", "x y", "-f", "k=-v", "-c", "c-", "--db", "a--b"],
    ["-d", "-", "--json", "-", "-f", "-"],  # '-' alone is a value for argparse
    ["--db=sqlite:////tmp/x.db", "--routing-key=" + RK, "--event-type=trigger"],
    ["--description=-starts with a dash", "--field=k=v", "--link=--x", "--db="],
    ["--max-queue=-3", "--severity=error", "--class=", "--json=-", "--image=a,b,c"],
    ["--agent-url=", "-q", "--change", "-k", RK],
]

#: Command lines it must decline (argparse decides: help, errors, or its own quirks).
DECLINED = [
    ["-h"],
    ["--help"],
    ["-k", RK, "--help"],
    ["-k"],  # missing value
    ["-k", RK, "-t"],
    ["-t", "explode"],  # not a choice
    ["--severity", "fatal"],
    ["--event-type=explode"],
    ["--max-queue", "many"],
    ["--max-queue", "1.5"],
    ["--max-queue="],
    ["--max-queue", "-3"],  # a value that starts with '-'
    ["-d", "-5"],  # argparse: a negative number is a value
    ["-d", "-x y"],  # argparse: a dash with a space is a value
    ["-d", "-q"],  # argparse: a missing value
    ["-d", "--"],
    ["--", "-d", "x"],
    ["-d", "x", "--"],
    ["-kVALUE"],
    ["-k=VALUE"],
    ["-qd", "x"],
    ["--sev", "critical"],  # abbreviations argparse would accept
    ["--routing", RK],
    ["--desc=x"],
    ["--cha"],
    ["--quiet=yes"],  # store_true with a value
    ["--change="],
    ["--nope", "x"],
    ["-x"],
    ["stray"],
    ["-k", RK, "stray"],
    [""],
    ["-t", "Trigger"],
]


def argparse_values(argv: list[str]) -> dict[str, object]:
    return vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", ACCEPTED, ids=repr)
def test_accepted_command_lines_parse_as_argparse_parses_them(argv: list[str]) -> None:
    parsed = pd_send_fast.parse(argv)
    assert parsed is not None
    assert vars(parsed) == argparse_values(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=repr)
def test_declined_command_lines_are_left_to_argparse(argv: list[str]) -> None:
    assert pd_send_fast.parse(argv) is None


def test_every_option_of_build_parser_is_known() -> None:
    """An option of build_parser the lean parser does not know fails here; only the ones
    argparse answers itself (help, version) are left to it."""
    known = set(pd_send_fast._VALUE) | set(pd_send_fast._FLAG)
    assert {s for action in options() for s in action.option_strings} == known
    assert set(pd_send_fast.defaults()) == set(vars(build_parser().parse_args([])))
    for action in build_parser()._actions:
        if isinstance(action, ARGPARSE_ONLY):
            for spelling in action.option_strings:
                assert pd_send_fast.parse([spelling]) is None


def test_agent_url_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("http://agent:1", ""):
        monkeypatch.setenv(pd_send_fast.AGENT_URL_ENV, value)
        parsed = pd_send_fast.parse(["-q"])
        assert parsed is not None and parsed.agent_url == value
        assert vars(parsed) == argparse_values(["-q"])


def test_repeated_lists_are_not_shared_between_parses() -> None:
    first = pd_send_fast.parse(["-f", "a=1", "--link", "l", "--image", "i"])
    second = pd_send_fast.parse([])
    assert first is not None and second is not None
    assert (second.field, second.link, second.image) == ([], [], [])


PIECES = [
    ["-k", RK],
    ["-t", "trigger"],
    ["--event-type=resolve"],
    ["-d", ""],
    ["-d", "-"],
    ["-d", "-x"],
    ["-f", "a=1"],
    ["--field=b=2"],
    ["-q"],
    ["--change"],
    ["--max-queue", "3"],
    ["--max-queue", "x"],
    ["--sev", "info"],
    ["--severity", "info"],
    ["--"],
    ["--db="],
    ["stray"],
    ["-h"],
]


def test_combinations_agree_with_argparse_or_decline() -> None:
    """Every pair and triple of pieces: either declined, or argparse parses it to the same values
    (and then argparse must not have failed)."""
    taken = 0
    for size in (1, 2, 3):
        for combo in itertools.permutations(PIECES, size):
            argv = [arg for piece in combo for arg in piece]
            parsed = pd_send_fast.parse(argv)
            if parsed is None:
                continue
            taken += 1
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
            ):
                expected = argparse_values(argv)  # SystemExit here: the lean parser took too much
            assert vars(parsed) == expected, argv
    assert taken > 500


# Generated from build_parser ---------------------------------------------------------------------


def options() -> list[argparse.Action]:
    """build_parser's options but those argparse answers itself."""
    return [a for a in build_parser()._actions if not isinstance(a, ARGPARSE_ONLY)]


def values_for(action: argparse.Action) -> list[str]:
    """Valid values for ``action``, as argparse declares it."""
    if action.choices is not None:
        return [str(choice) for choice in action.choices]
    if action.type is int:
        return ["0", "42", " 7 "]
    return ["v", "", "a=b,c"]


def forms(action: argparse.Action) -> list[list[str]]:
    """Every spelling of ``action`` in every form argparse accepts and the lean parser takes."""
    if action.nargs == 0:  # store_true
        return [[spelling] for spelling in action.option_strings]
    out: list[list[str]] = []
    for spelling in action.option_strings:
        for value in values_for(action):
            out.append([spelling, value])
            if spelling.startswith("--"):
                out.append([f"{spelling}={value}"])
    return out


def quietly_parsed(argv: list[str]) -> dict[str, object]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return argparse_values(argv)


def test_the_table_and_the_typed_arguments_agree() -> None:
    """Every destination of build_parser is an attribute of Args (typed for the code reading it)."""
    dests = {action.dest for action in options()}
    assert dests == set(typing.get_type_hints(pd_send_fast.Args))
    assert dests == {dest for _, dest, _, _, _ in pd_send_fast.OPTIONS}


def test_every_option_in_every_form_parses_as_argparse_parses_it() -> None:
    for action in options():
        for form in forms(action):
            parsed = pd_send_fast.parse(form)
            assert parsed is not None, form
            assert vars(parsed) == argparse_values(form), form


def test_every_pair_of_options_parses_as_argparse_parses_it() -> None:
    pieces = [form for action in options() for form in forms(action)[:3]]
    for first, second in itertools.permutations(pieces, 2):
        argv = [*first, *second]
        parsed = pd_send_fast.parse(argv)
        assert parsed is not None, argv
        assert vars(parsed) == argparse_values(argv), argv


def test_malformed_options_are_left_to_argparse() -> None:
    """Missing values, bad choices and numbers, values given to flags, abbreviations."""
    declared = {s for action in options() for s in action.option_strings}
    for action in options():
        for spelling in action.option_strings:
            if action.nargs == 0:
                errors = [[f"{spelling}=1"], [spelling + "x"]] if spelling.startswith("--") else []
            else:
                errors = [[spelling], [spelling, "-q"]]
                if action.choices is not None:
                    errors.append([spelling, "no-such-choice"])
                if action.type is int:
                    errors += [[spelling, "x"], [spelling, "1.5"]]
            for argv in errors:
                assert pd_send_fast.parse(argv) is None, argv
                with pytest.raises(SystemExit):
                    quietly_parsed(argv)
            if spelling.startswith("--"):
                prefix = spelling[:-1]
                if prefix not in declared and prefix != "-":
                    # argparse takes a unique abbreviation; the lean parser leaves it to argparse
                    value = [] if action.nargs == 0 else [values_for(action)[0]]
                    assert pd_send_fast.parse([prefix, *value]) is None, prefix
