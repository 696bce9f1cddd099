"""A lean parser for the hottest ``im`` commands, so they start without Typer.

Why: Typer 0.29 imports pydantic and builds a TypeAdapter per parameter, ~100-150 ms of a
~400 ms ``im declare`` (``python -X importtime``; docs/benchmarks.md), and monitoring hooks start
``im declare``/``im ack`` once per event. This parser knows exactly the options the Typer app
declares for ``declare``, ``ack``/``resolve``/``close``/``reopen``, ``list``, ``show`` and
``timeline``, and hands the values to the same bodies (:mod:`im_actions`). Anything it is not sure
of — ``--help``, an unknown option, a missing or malformed value, a stray argument — makes it
decline (``None``), and the Typer app parses the command line instead, with its help and usage
errors. So it can only ever take the well-formed invocations, and those behave identically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from pagerbridge.cli import im_actions
from pagerbridge.cli.im_common import SERVER_ENV, TOKEN_ENV

_COMMON: Final = {"--db": "db", "--server": "server", "--token": "token"}
_FLAGS: Final = {"--json": "as_json"}
_REF: Final = {"--incident": "incident", "-i": "incident"}
_INT_DIGITS_MAX: Final = 30


class _Spec:
    """One command: its options (spelling -> parameter), repeatable ones, int ones with their
    bounds, whether it takes the incident positionally, defaults, and the body to call."""

    def __init__(
        self,
        run: Callable[..., None],
        options: dict[str, str],
        *,
        positional: str | None = None,
        repeat: frozenset[str] = frozenset(),
        ints: dict[str, tuple[int, int | None]] | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.run = run
        self.options = {**options, **_COMMON}
        self.positional = positional
        self.repeat = repeat
        self.ints = ints or {}
        self.defaults = defaults or {}


def _transition(action: str) -> _Spec:
    def run(**kw: Any) -> None:
        im_actions.transition(action, **kw)

    return _Spec(
        run,
        {**_REF, "--note": "note", "-n": "note"},
        positional="ref",
        defaults={"ref": None, "incident": None, "note": None},
    )


SPECS: Final[dict[str, _Spec]] = {
    "declare": _Spec(
        im_actions.declare,
        {
            "--title": "title",
            "-t": "title",
            "--sev": "sev",
            "--severity": "sev",
            "-s": "sev",
            "--service": "service",
            "--description": "description",
            "-d": "description",
            "--assignee": "assignee",
            "-a": "assignee",
            "--field": "field",
            "-f": "field",
        },
        repeat=frozenset({"field"}),
        defaults={"sev": None, "service": None, "description": "", "assignee": None},
    ),
    "list": _Spec(
        im_actions.list_incidents,
        {
            "--status": "status",
            "--service": "service",
            "--sev": "sev",
            "--severity": "sev",
            "--limit": "limit",
            "--offset": "offset",
        },
        ints={"limit": (1, 500), "offset": (0, None)},
        defaults={"status": None, "service": None, "sev": None, "limit": 25, "offset": 0},
    ),
    "show": _Spec(
        im_actions.show, dict(_REF), positional="ref", defaults={"ref": None, "incident": None}
    ),
    "timeline": _Spec(
        im_actions.timeline, dict(_REF), positional="ref", defaults={"ref": None, "incident": None}
    ),
    **{action: _transition(action) for action in ("ack", "resolve", "close", "reopen")},
}


def parse(argv: Sequence[str]) -> tuple[_Spec, dict[str, Any]] | None:
    """The command and its keyword arguments, or None when Typer should parse ``argv``."""
    if not argv or argv[0] not in SPECS:
        return None
    spec = SPECS[argv[0]]
    values: dict[str, Any] = {**spec.defaults, "db": None, "server": None, "token": None}
    values.update({name: [] for name in spec.repeat})
    values["as_json"] = False
    positionals: list[str] = []
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg in _FLAGS:
            values[_FLAGS[arg]] = True
            continue
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in spec.options:
            return None  # --help, an unknown option, -xVALUE, --: Typer decides
        if not eq:
            if not args or (args[0].startswith("-") and args[0] != "-"):
                return None  # a missing value (or one that looks like an option)
            value = args.pop(0)
        key = spec.options[name]
        if key in spec.repeat:
            values[key].append(value)
        elif key in spec.ints:
            low, high = spec.ints[key]
            digits = value.strip().lstrip("-")
            # ASCII digits only ("²".isdigit() is true, int("²") fails), and not so many that
            # int() refuses them: Typer says what is wrong with anything else.
            if not (digits.isascii() and digits.isdigit() and len(digits) <= _INT_DIGITS_MAX):
                return None
            number = int(value)
            if number < low or (high is not None and number > high):
                return None
            values[key] = number
        else:
            values[key] = value
    if spec.positional:
        if len(positionals) > 1:
            return None
        values[spec.positional] = positionals[0] if positionals else None
    elif positionals:
        return None
    if argv[0] == "declare" and "title" not in values:
        return None  # required: Typer says so
    # Typer reads these from the environment when the options are absent (empty means unset).
    if values["server"] is None:
        values["server"] = os.environ.get(SERVER_ENV) or None
    if values["token"] is None:
        values["token"] = os.environ.get(TOKEN_ENV) or None
    return spec, values


def run(argv: Sequence[str]) -> bool:
    """Run ``argv`` if it is a hot command this parser is sure of; False to let Typer do it."""
    parsed = parse(argv)
    if parsed is None:
        return False
    spec, values = parsed
    spec.run(**values)
    return True
