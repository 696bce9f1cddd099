"""A lean parser for ``pd-send``'s usual command lines, so they start without argparse.

Why: ``pd-send`` runs once per event, and ``import argparse`` (with ``re``, ``enum``, ``gettext``
and, on parsing, ``locale``) was ~9 ms of a ~50 ms run (``python -X importtime``). The options are
declared once, in :data:`OPTIONS`, from which :func:`pagerbridge.cli.pd_send.build_parser` makes
argparse's parser; this parser reads the same table and gives the values argparse would. Anything it
is not sure of — ``-h``/``--help``, an unknown or abbreviated option, ``-kVALUE`` or ``-k=VALUE``, a
value that starts with ``-``, ``--``, a bad choice or number, a stray argument — makes it decline
(``None``), and argparse parses the command line instead, with its help and usage errors.
``tests/unit/test_pd_send_fast.py`` checks it against argparse on every option of ``build_parser``
in every form, and on many other lines.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms here)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

AGENT_URL_ENV = "PAGERBRIDGE_AGENT_URL"
DEFAULT_AGENT_URL = "http://127.0.0.1:8081"
MAX_QUEUE_ENV = "PAGERBRIDGE_MAX_QUEUE"

#: Every option of pd-send, once, in ``--help``'s order: (spellings, destination, kind, metavar,
#: help). Kind: ``value`` (one string), ``int``, ``append`` (repeatable), ``flag`` (store_true),
#: or a tuple of the values allowed. ``build_parser`` makes argparse's parser from this table and
#: :func:`parse` reads it, so an option is declared in this one place.
OPTIONS: tuple[tuple[tuple[str, ...], str, str | tuple[str, ...], str | None, str], ...] = (
    (
        ("-k", "--service-key", "--routing-key"),
        "routing_key",
        "value",
        None,
        "the integration's routing key (32 characters)",
    ),
    (
        ("-t", "--event-type"),
        "action",
        ("trigger", "acknowledge", "resolve"),
        None,
        "event action",
    ),
    (("-d", "--description"), "summary", "value", None, "summary (trigger, change)"),
    (
        ("-i", "--incident-key", "--dedup-key"),
        "dedup_key",
        "value",
        None,
        "dedup key; generated for a trigger when absent, and printed",
    ),
    (("-c", "--client"), "client", "value", None, "name of the monitoring client"),
    (("-u", "--client-url"), "client_url", "value", None, "URL of the monitoring client"),
    (("-f", "--field"), "field", "append", "KEY=VALUE", "a custom detail (repeatable)"),
    (("-q", "--quiet"), "quiet", "flag", None, "print nothing on success"),
    (
        ("--severity",),
        "severity",
        ("critical", "error", "warning", "info"),
        None,
        "trigger severity (default: error)",
    ),
    (("--source",), "source", "value", None, "affected system (default: this host's name)"),
    (("--component",), "component", "value", None, "component of the source"),
    (("--group",), "group", "value", None, "logical group of components"),
    (("--class",), "class_", "value", "CLASS", "class/type of the event"),
    (("--link",), "link", "append", "HREF[,TEXT]", "a link (repeatable)"),
    (("--image",), "image", "append", "SRC[,HREF[,ALT]]", "an image (repeatable)"),
    (("--change",), "change", "flag", None, "send a change event"),
    (
        ("--json",),
        "json_file",
        "value",
        "FILE|-",
        "read a whole event from FILE (or stdin); flags override its fields",
    ),
    (
        ("--db",),
        "db",
        "value",
        "URL",
        "database URL or SQLite path (default: $PAGERBRIDGE_DATABASE_URL, "
        "else pagerbridge's default database)",
    ),
    (
        ("--agent-url",),
        "agent_url",
        "value",
        "URL",
        f"local agent used when the database is not writable (${AGENT_URL_ENV}, "
        f"default {DEFAULT_AGENT_URL})",
    ),
    (
        ("--max-queue",),
        "max_queue",
        "int",
        "N",
        f"refuse when this many events are pending (${MAX_QUEUE_ENV})",
    ),
)

#: Option spelling -> destination, for options that take one value.
_VALUE = {
    spelling: dest
    for spellings, dest, kind, _, _ in OPTIONS
    if kind != "flag"
    for spelling in spellings
}
#: Options without a value (``store_true``).
_FLAG = {
    spelling: dest
    for spellings, dest, kind, _, _ in OPTIONS
    if kind == "flag"
    for spelling in spellings
}
#: Repeatable options (``action="append"``).
_REPEAT = frozenset(dest for _, dest, kind, _, _ in OPTIONS if kind == "append")
_INT = frozenset(dest for _, dest, kind, _, _ in OPTIONS if kind == "int")
_CHOICES = {dest: kind for _, dest, kind, _, _ in OPTIONS if isinstance(kind, tuple)}


class Args:
    """pd-send's parsed command line; argparse fills the same object when it parses instead."""

    routing_key: str | None
    action: str | None
    summary: str | None
    dedup_key: str | None
    client: str | None
    client_url: str | None
    field: list[str]
    quiet: bool
    severity: str | None
    source: str | None
    component: str | None
    group: str | None
    class_: str | None
    link: list[str]
    image: list[str]
    change: bool
    json_file: str | None
    db: str | None
    agent_url: str
    max_queue: int | None

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Args({', '.join(f'{k}={v!r}' for k, v in sorted(vars(self).items()))})"


def defaults() -> dict[str, Any]:
    """The values of absent options, as ``build_parser`` declares them."""
    values: dict[str, Any] = dict.fromkeys(_VALUE.values())
    values.update(dict.fromkeys(_FLAG.values(), False))
    values.update({name: [] for name in _REPEAT})
    values["agent_url"] = os.environ.get(AGENT_URL_ENV, DEFAULT_AGENT_URL)
    return values


def add_options(parser: argparse.ArgumentParser) -> None:
    """Declare :data:`OPTIONS` on argparse's ``parser`` (for ``build_parser``), with
    :func:`defaults` as the defaults, so both parsers read the same table."""
    for spellings, dest, kind, metavar, help_text in OPTIONS:
        extra: dict[str, Any] = {"metavar": metavar} if metavar else {}
        if kind == "flag":
            extra["action"] = "store_true"
        elif kind == "append":
            extra["action"] = "append"
        elif kind == "int":
            extra["type"] = int
        elif isinstance(kind, tuple):
            extra["choices"] = list(kind)
        parser.add_argument(*spellings, dest=dest, help=help_text, **extra)
    parser.set_defaults(**defaults())


def parse(argv: Sequence[str]) -> Args | None:
    """The parsed command line, or None when argparse should parse ``argv``."""
    values = defaults()
    i, n = 0, len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if arg in _FLAG:
            values[_FLAG[arg]] = True
            continue
        if arg in _VALUE:
            if i == n or (argv[i].startswith("-") and argv[i] != "-"):
                return None  # missing, or argparse's rules for '-x', '-5', '--', '-a b' apply
            value = argv[i]
            i += 1
        else:
            name, eq, value = arg.partition("=")
            if not eq or not name.startswith("--") or name not in _VALUE:
                return None  # --help, an unknown or abbreviated option, a stray argument
            arg = name
        dest = _VALUE[arg]
        if dest in _REPEAT:
            values[dest].append(value)
        elif dest in _INT:
            try:
                values[dest] = int(value)  # argparse's type=int, with its leniency
            except ValueError:
                return None
        elif dest in _CHOICES and value not in _CHOICES[dest]:
            return None
        else:
            values[dest] = value
    return Args(**values)
