"""A lean parser for the hottest ``im`` commands, so they start without Typer.

Why: Typer 0.29 imports pydantic and builds a TypeAdapter per parameter, ~100-150 ms of a
~400 ms ``im declare`` (``python -X importtime``; docs/benchmarks.md), and monitoring hooks start
``im declare``/``im ack`` once per event. The commands and their options are declared once, in
:mod:`im_spec`, and the Typer app is built from the same table; this parser reads it and hands the
values to the same bodies (:mod:`im_actions`). Anything it is not sure of — ``--help``, an unknown
option, a missing or malformed value, a stray argument — makes it decline (``None``), and the
Typer app parses the command line instead, with its help and usage errors. So it can only ever
take the well-formed invocations, and those behave identically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pagerbridge.cli.im_spec import HOT, REQUIRED, HotCommand, Opt

_INT_DIGITS_MAX: Final = 30


def _number(opt: Opt, value: str) -> int | None:
    """``value`` as click's IntRange would take it, or None where click might differ or refuse."""
    digits = value.strip().lstrip("-")
    # ASCII digits only ("²".isdigit() is true, int("²") fails), and not so many that int()
    # refuses them: Typer says what is wrong with anything else.
    if not (digits.isascii() and digits.isdigit() and len(digits) <= _INT_DIGITS_MAX):
        return None
    number = int(value)
    if (opt.min is not None and number < opt.min) or (opt.max is not None and number > opt.max):
        return None
    return number


def parse(
    argv: Sequence[str], table: Mapping[str, HotCommand] = HOT
) -> tuple[HotCommand, dict[str, Any]] | None:
    """The command and its keyword arguments, or None when Typer should parse ``argv``."""
    if not argv or argv[0] not in table:
        return None
    command = table[argv[0]]
    values: dict[str, Any] = {
        opt.name: [] if opt.kind == "multi" else opt.default for opt in command.params
    }
    positionals: list[str] = []
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = command.by_decl.get(name)
        if opt is None:
            return None  # --help, an unknown option, -xVALUE, --: Typer decides
        if opt.kind == "flag":
            if eq:
                return None  # --json=yes: click's error
            values[opt.name] = True
            continue
        if not eq:
            if not args or (args[0].startswith("-") and args[0] != "-"):
                return None  # a missing value (or one that looks like an option)
            value = args.pop(0)
        if opt.kind == "multi":
            values[opt.name].append(value)
        elif opt.kind == "int":
            number = _number(opt, value)
            if number is None:
                return None
            values[opt.name] = number
        else:
            values[opt.name] = value
    arguments = [opt for opt in command.params if opt.positional]
    if len(positionals) > len(arguments):
        return None
    for opt, value in zip(arguments, positionals, strict=False):
        values[opt.name] = value
    if any(value is REQUIRED for value in values.values()):
        return None  # a required option is missing: Typer says so
    # Typer reads these from the environment when the options are absent (empty means unset).
    for opt in command.params:
        if opt.envvar and values[opt.name] is None:
            values[opt.name] = os.environ.get(opt.envvar) or None
    return command, values


def run(argv: Sequence[str]) -> bool:
    """Run ``argv`` if it is a hot command this parser is sure of; False to let Typer do it."""
    parsed = parse(argv)
    if parsed is None:
        return False
    command, values = parsed
    command.run(**values)
    return True
