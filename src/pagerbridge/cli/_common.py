"""What every Typer-based tool shares: one help style, one error style, one exit-code table.

Users met three help styles (Typer's boxes, plain Click, argparse), placeholders such as
``<str>`` and ``<list[str]>``, ``--version`` on one tool of five, and suggestions such as
``im logs`` → "Did you mean 'close'?". :func:`run_app` runs a Typer app so that:

- help is plain (no boxes), every value has a readable placeholder (``--db URL``,
  ``--config FILE``, ``--state STATE``) and ends with the exit-code table of :mod:`exits`;
- ``--version`` prints ``<tool> <version>``;
- every error is ``error: …`` on one line, then an optional ``hint: …`` line, and the table's
  exit code: usage errors 2, pagerbridge's own errors by :func:`exits.code_for`, anything
  unexpected 70 without a traceback (``PAGERBRIDGE_DEBUG=1`` shows it);
- an unknown command is suggested a near name only when it is a small typo away.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import typer
import typer.main

# Typer (>= 0.29, as pyproject.toml requires) vendors its own Click: its commands raise these.
from typer._click import exceptions as click_errors

from pagerbridge import __version__
from pagerbridge.cli import exits
from pagerbridge.errors import ConfigError, PagerbridgeError

T = TypeVar("T")

DEBUG_ENV = "PAGERBRIDGE_DEBUG"


def error(message: str, hint: str | None = None) -> None:
    """Print the one error style: ``error: …`` and, when there is one, ``hint: …``."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    if hint:
        print(f"hint: {hint}", file=sys.stderr, flush=True)


def fail(message: str, code: int = exits.ERROR, hint: str | None = None) -> NoReturn:
    error(message, hint)
    raise SystemExit(code)


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """(message, hint, exit code) for an exception that reaches a command's surface."""
    hint = getattr(exc, "hint", None)
    if isinstance(exc, PagerbridgeError):
        text = str(exc) or type(exc).__name__
        message = f"configuration: {text}" if isinstance(exc, ConfigError) else text
        return message, hint if isinstance(hint, str) else None, exits.code_for(exc)
    name = type(exc).__name__
    return (
        f"internal error: {name}: {exc}",
        f"this is a bug in pagerbridge: please report it ({DEBUG_ENV}=1 shows the traceback)",
        exits.INTERNAL,
    )


def run_guarded(func: Callable[[], T]) -> T:
    """Run ``func``; pagerbridge's own errors become one clear line and the table's exit code."""
    try:
        return func()
    except PagerbridgeError as exc:
        message, hint, code = describe(exc)
        fail(message, code, hint)
    except KeyboardInterrupt:
        raise SystemExit(exits.INTERRUPTED) from None


# --- the servers' logging -----------------------------------------------------------------------

LogLevelOpt: Any = typer.Option(
    None,
    "--log-level",
    help="debug, info, warning or error (default: $PAGERBRIDGE_LOG_LEVEL, else info).",
    show_default=False,
)
LogFormatOpt: Any = typer.Option(
    None,
    "--log-format",
    help="text, or json: one JSON object per line (default: $PAGERBRIDGE_LOG_FORMAT, else text).",
    show_default=False,
)


def setup_logging(level: str | None, fmt: str | None) -> None:
    """The servers' one log format on stderr (:mod:`pagerbridge.logs`); a bad choice is a usage
    error."""
    from pagerbridge import logs

    try:
        logs.setup(level, fmt)
    except ValueError as exc:
        fail(
            str(exc),
            exits.USAGE,
            "--log-level takes debug, info, warning or error; --log-format takes text or json",
        )


# --- readable placeholders -------------------------------------------------------------------

#: Placeholders by option name (without dashes); others are the name in capitals.
_PLACEHOLDERS = {
    "db": "URL",
    "server": "URL",
    "config": "FILE",
    "seed": "FILE",
    "ca-out": "FILE",
    "listen": "HOST:PORT",
    "hub-listen": "HOST:PORT",
    "sandbox-listen": "HOST:PORT",
    "host": "HOST",
    "port": "PORT",
    "token": "TOKEN",
    "since": "WHEN",
    "after": "ID",
    "limit": "N",
    "offset": "N",
    "workers": "N",
    "only": "TYPE",
    "unit-dir": "DIR",
    "user": "USER",
    "schedule": "CRON",
    "format": "text|json",
    "log-format": "text|json",
    "log-level": "LEVEL",
    "sla-interval": "SECONDS",
    "fault-route": "PREFIX",
    "fault-route-error-rate": "PREFIX=RATE",
}


def _annotation(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    return getattr(descriptor, "annotation", None)


def placeholder(param: Any) -> str:
    """A readable placeholder for an option that takes a value."""
    name = str(max(param.opts, key=len)).lstrip("-")
    if name in _PLACEHOLDERS:
        return _PLACEHOLDERS[name]
    kind = _annotation(param)
    if name.endswith("url"):
        return "URL"
    if name.endswith(("-file", "-out")) or getattr(kind, "__name__", "") == "Path":
        return "FILE"
    if kind is int:
        return "N"
    if kind is float:
        if name.endswith("rate"):
            return "RATE"
        return "SECONDS" if name.endswith(("latency", "outage", "timeout")) else "NUMBER"
    return name.upper().replace("-", "_")


# --- the command tree --------------------------------------------------------------------------


def _version_param(prog: str) -> Any:
    """A ``--version`` option for any command: declared through Typer's public API on a probe
    app, then moved (it keeps nothing of the probe), so it works whatever Typer builds on."""

    def show(value: bool) -> None:
        if value:
            print(f"{prog} {__version__}")
            raise typer.Exit(exits.OK)

    probe = typer.Typer()

    @probe.callback(invoke_without_command=True)
    def _probe(
        version: bool = typer.Option(
            False, "--version", callback=show, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Only here to be built."""

    (param,) = (p for p in typer.main.get_command(probe).params if "--version" in p.opts)
    param.expose_value = False  # the real command's function takes no ``version``
    return param


def polish(command: Any, path: str) -> None:
    """Give ``command`` and its subcommands the shared help: plain text, readable placeholders,
    the exit-code table, no fuzzy command suggestions (:func:`run_app` makes its own)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    if hasattr(command, "suggest_commands"):
        command.suggest_commands = False
    command.epilog = "\b\n" + exits.epilog(path)
    for param in command.params:
        takes_value = param.param_type_name == "option" and not (param.is_flag or param.count)
        if takes_value and param.metavar is None:
            param.metavar = placeholder(param)
        if param.param_type_name == "argument":
            _plain_argument(param)
    for name, sub in getattr(command, "commands", {}).items():
        polish(sub, f"{path} {name}")


def _plain_argument(param: Any) -> None:
    """An argument shows as its name (``ID``, ``[ID]`` when optional), as in every other CLI:
    Typer 0.29 writes ``{ID}`` in the usage line and ``ID <int>`` in the list."""
    name = str(param.metavar or param.name).upper().strip("[]")
    shown = name if param.required else f"[{name}]"
    param.display_type_rich = lambda ctx: None
    param._usage_display_name = lambda: shown + ("..." if param.nargs != 1 else "")


def build(app: typer.Typer, prog: str) -> Any:
    """The Click command of ``app`` with the shared help, ``--version`` on the top command."""
    command = typer.main.get_command(app)
    polish(command, prog)
    if not any("--version" in p.opts for p in command.params):
        command.params.append(_version_param(prog))
    return command


# --- errors --------------------------------------------------------------------------------------


def distance(a: str, b: str) -> int:
    """Edit distance with transpositions (``lsit`` → ``list`` is 1)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            best = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                best = min(best, prev2[j - 2] + 1)
            row.append(best)
        prev2, prev = prev, row
    return prev[-1]


def near(typo: str, names: Sequence[str]) -> list[str]:
    """Names a small typo away from ``typo``: 1 edit for short words, 2 from 5 letters on."""
    limit = 1 if len(typo) <= 4 else 2
    scored = sorted((distance(typo.lower(), n.lower()), n) for n in names)
    return [n for d, n in scored if d <= limit]


def _usage_error(exc: click_errors.UsageError, prog: str) -> tuple[str, str]:
    """(message, hint) for a Click usage error."""
    ctx = exc.ctx
    where = ctx.command_path if ctx is not None else prog
    help_hint = f"'{where} --help' lists what it takes"
    if isinstance(exc, click_errors.NoSuchOption):
        found = near(exc.option_name, sorted(exc.possibilities or ()))
        message = f"no such option: {exc.option_name}"
    elif exc.message.startswith("No such command") and ctx is not None:
        typo = exc.message.split("'", 2)[1] if exc.message.count("'") >= 2 else ""
        list_commands = getattr(ctx.command, "list_commands", None)
        names: list[str] = list(list_commands(ctx)) if list_commands else []
        found = near(typo, names) if typo else []
        message = f"no such command '{typo}'" if typo else exc.message.rstrip(".")
        help_hint = f"'{where} --help' lists the commands"
    else:
        found = []
        text = exc.format_message().rstrip(".")
        message = text[:1].lower() + text[1:] if text[1:2].islower() else text
    if found:
        return message, f"did you mean {' or '.join(repr(f) for f in found)}? ({help_hint})"
    return message, help_hint


def run_app(app: typer.Typer, prog: str, argv: Sequence[str] | None = None) -> NoReturn:
    """Run ``app`` as the command ``prog`` in the shared style; always exits."""
    command = build(app, prog)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False)
        code = result if type(result) is int else exits.OK  # typer.Exit(n) comes back as n
    except click_errors.NoArgsIsHelpError as exc:
        print(exc.format_message(), file=sys.stderr)
        code = exits.USAGE
    except click_errors.UsageError as exc:
        usage, usage_hint = _usage_error(exc, prog)
        fail(usage, exits.USAGE, usage_hint)
    except typer.Abort:  # end of input at a prompt
        fail("aborted", exits.ERROR)
    except click_errors.ClickException as exc:
        fail(exc.format_message(), exc.exit_code or exits.ERROR)
    except KeyboardInterrupt:
        raise SystemExit(exits.INTERRUPTED) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        message, hint, code = describe(exc)
        fail(message, code, hint)
    raise SystemExit(code)
