"""The hot ``im`` commands and their options, declared once, as data.

Why data: these commands have two parsers — the Typer app (help, usage errors) and the lean
parser of :mod:`im_fast` (start-up without Typer, docs/benchmarks.md). Both are built from this
table (:func:`pagerbridge.cli.im_options.typer_callback` and :func:`im_fast.parse`), so changing an
option here changes both. Standard library only: the lean parser imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Final, Literal

from pagerbridge.cli import im_actions
from pagerbridge.cli.im_common import SERVER_ENV, TOKEN_ENV

Kind = Literal["str", "int", "flag", "multi"]

#: The default of a required option (Typer's own spelling of "required").
REQUIRED: Final = ...


class Opt:
    """One parameter of a command: the keyword its body takes, its spellings (none: the
    positional argument) and what it accepts. ``kind``: ``str`` (one value), ``int`` (one whole
    number within ``min``/``max``), ``flag`` (no value), ``multi`` (repeatable, a list)."""

    __slots__ = (
        "decls",
        "default",
        "envvar",
        "help",
        "kind",
        "max",
        "metavar",
        "min",
        "name",
        "show_default",
    )

    def __init__(
        self,
        name: str,
        *decls: str,
        kind: Kind = "str",
        default: Any = None,
        help: str | None = None,
        metavar: str | None = None,
        envvar: str | None = None,
        min: int | None = None,
        max: int | None = None,
        show_default: bool = True,
    ) -> None:
        self.name = name
        self.decls = decls
        self.kind = kind
        self.default = default
        self.help = help
        self.metavar = metavar
        self.envvar = envvar
        self.min = min
        self.max = max
        self.show_default = show_default

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def positional(self) -> bool:
        return not self.decls

    def __repr__(self) -> str:
        return f"Opt({self.name!r}, {', '.join(map(repr, self.decls))})"


class HotCommand:
    """A command: its name, its help line, the body it calls (:mod:`im_actions`) with one keyword
    per parameter, and the parameters in the order ``--help`` lists them."""

    __slots__ = ("by_decl", "help", "name", "params", "run")

    def __init__(self, name: str, help: str, run: Callable[..., None], *params: Opt) -> None:
        self.name = name
        self.help = help
        self.run = run
        self.params = params
        self.by_decl = {decl: opt for opt in params for decl in opt.decls}


DB: Final = Opt(
    "db",
    "--db",
    help="Database URL or SQLite file (default: $PAGERBRIDGE_DATABASE_URL, else the data dir).",
    show_default=False,
)
SERVER: Final = Opt(
    "server",
    "--server",
    envvar=SERVER_ENV,
    help="Talk to a hub at this URL instead of the database (e.g. http://127.0.0.1:8080).",
    show_default=False,
)
TOKEN: Final = Opt(
    "token", "--token", envvar=TOKEN_ENV, help="API token for --server.", show_default=False
)
JSON: Final = Opt("as_json", "--json", kind="flag", default=False, help="Print JSON for scripts.")
#: What every ``im`` command takes last.
COMMON: Final = (DB, SERVER, TOKEN, JSON)

REF_ARG: Final = Opt(
    "ref", metavar="INCIDENT", help="INC-<n> (or give --incident).", show_default=False
)
REF: Final = Opt(
    "incident", "--incident", "-i", help="INC-<n> (or give it positionally).", show_default=False
)
NOTE: Final = Opt("note", "--note", "-n", help="Add this note to the timeline entry.")

#: The transitions, in the order ``im --help`` lists them, with their help lines.
TRANSITIONS: Final = {
    "ack": "Acknowledge an open incident (open → mitigated).",
    "resolve": "Resolve an incident (open/mitigated → resolved).",
    "close": "Close a resolved incident (resolved → closed).",
    "reopen": "Reopen a resolved or closed incident (→ open).",
}

_DECLARE: Final = HotCommand(
    "declare",
    "Declare a new incident (services named that do not exist yet are created).",
    im_actions.declare,
    Opt("title", "--title", "-t", default=REQUIRED, help="What is wrong, in one line."),
    Opt("sev", "--sev", "--severity", "-s", help="SEV-1..SEV-4 (default: the service's)."),
    Opt("service", "--service", help="Affected service(s), comma-separated."),
    Opt("description", "--description", "-d", default=""),
    Opt("assignee", "--assignee", "-a"),
    Opt(
        "field",
        "--field",
        "-f",
        kind="multi",
        metavar="KEY=VALUE",
        help="Custom field key=value (repeat).",
    ),
    *COMMON,
)
_LIST: Final = HotCommand(
    "list",
    "List incidents, newest first, a page at a time.",
    im_actions.list_incidents,
    Opt("status", "--status", help="open, mitigated, ..."),
    Opt("service", "--service"),
    Opt("sev", "--sev", "--severity"),
    Opt("limit", "--limit", kind="int", default=25, min=1, max=500),
    Opt("offset", "--offset", kind="int", default=0, min=0),
    *COMMON,
)

#: Every hot command by name.
HOT: Final[dict[str, HotCommand]] = {
    "declare": _DECLARE,
    **{
        action: HotCommand(
            action, doc, partial(im_actions.transition, action), REF_ARG, REF, NOTE, *COMMON
        )
        for action, doc in TRANSITIONS.items()
    },
    "list": _LIST,
    "show": HotCommand(
        "show", "Show one incident, with its SLA deadlines.", im_actions.show, REF_ARG, REF, *COMMON
    ),
    "timeline": HotCommand(
        "timeline",
        "Show an incident's timeline, oldest first.",
        im_actions.timeline,
        REF_ARG,
        REF,
        *COMMON,
    ),
}
