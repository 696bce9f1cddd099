"""A lean parser for ``pd-send``'s usual command lines, so they start without argparse.

Why: ``pd-send`` runs once per event, and ``import argparse`` (with ``re``, ``enum``, ``gettext``
and, on parsing, ``locale``) was ~9 ms of a ~50 ms run (``python -X importtime``). This parser
knows exactly the options :func:`pagerbridge.cli.pd_send.build_parser` declares and gives the
same values argparse would. Anything it is not sure of — ``-h``/``--help``, an unknown or
abbreviated option, ``-kVALUE`` or ``-k=VALUE``, a value that starts with ``-``, ``--``, a bad
choice or number, a stray argument — makes it decline (``None``), and argparse parses the command
line instead, with its help and usage errors. ``tests/unit/test_pd_send_fast.py`` checks it
against argparse on many command lines.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms here)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

AGENT_URL_ENV = "PAGERBRIDGE_AGENT_URL"
DEFAULT_AGENT_URL = "http://127.0.0.1:8081"

#: Option spelling -> destination, for options that take one value.
_VALUE = {
    "-k": "routing_key",
    "--service-key": "routing_key",
    "--routing-key": "routing_key",
    "-t": "action",
    "--event-type": "action",
    "-d": "summary",
    "--description": "summary",
    "-i": "dedup_key",
    "--incident-key": "dedup_key",
    "--dedup-key": "dedup_key",
    "-c": "client",
    "--client": "client",
    "-u": "client_url",
    "--client-url": "client_url",
    "-f": "field",
    "--field": "field",
    "--severity": "severity",
    "--source": "source",
    "--component": "component",
    "--group": "group",
    "--class": "class_",
    "--link": "link",
    "--image": "image",
    "--json": "json_file",
    "--db": "db",
    "--agent-url": "agent_url",
    "--max-queue": "max_queue",
}
#: Options without a value (``store_true``).
_FLAG = {"-q": "quiet", "--quiet": "quiet", "--change": "change"}
#: Repeatable options (``action="append"``).
_REPEAT = frozenset({"field", "link", "image"})
_CHOICES = {
    "action": ("trigger", "acknowledge", "resolve"),
    "severity": ("critical", "error", "warning", "info"),
}


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
        elif dest == "max_queue":
            try:
                values[dest] = int(value)  # argparse's type=int, with its leniency
            except ValueError:
                return None
        elif dest in _CHOICES and value not in _CHOICES[dest]:
            return None
        else:
            values[dest] = value
    return Args(**values)
