"""The one exit-code table (cli/exits.py) and the shared command language of cli/_common.py:
which code each of pagerbridge's errors gets, how the table is printed, which typos get a
suggestion and which placeholders the help shows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pagerbridge import errors
from pagerbridge.agent.serving import CannotListen
from pagerbridge.cli import _common, exits, im_common
from pagerbridge.incidents import errors as incident_errors

EXITS_PY = Path(exits.__file__)


def test_the_table_has_one_meaning_per_code() -> None:
    codes = [code for code, _ in exits.TABLE]
    assert codes == sorted(set(codes))
    assert all(meaning for _, meaning in exits.TABLE)
    assert dict(exits.TABLE)[exits.CONFIG].startswith("configuration")
    assert (exits.OK, exits.ERROR, exits.USAGE, exits.NOT_FOUND, exits.CONFIG) == (0, 1, 2, 3, 4)
    assert (exits.STORAGE, exits.INTERRUPTED) == (74, 130)


def test_exceptions_replace_rows_and_name_their_reason() -> None:
    assert dict(exits.rows("pd-send"))[3] == "queue full"
    assert dict(exits.rows("pd-send"))[74] == dict(exits.TABLE)[74]  # the rest stays
    assert dict(exits.rows("update-watcher run"))[1] == "updates found"
    assert exits.rows("pd-queue") == list(exits.TABLE)
    for command in exits.EXCEPTIONS:
        assert command in exits.epilog(command)


def test_the_epilog_lists_every_code_and_the_exceptions_of_subcommands() -> None:
    text = exits.epilog("pd-queue")
    for code, meaning in exits.TABLE:
        assert f"  {code:<4} {meaning}" in text
    assert "differs" not in text
    assert "update-watcher run differs" in exits.epilog("update-watcher")
    assert "pd-send differs" not in exits.epilog("update-watcher")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ConfigError("bad", file="a.yaml", line=3), exits.CONFIG),
        (errors.StorageError("disk full"), exits.STORAGE),
        (errors.SchemaOutdatedError("behind"), exits.STORAGE),
        (errors.IncidentNotFoundError("no INC-9"), exits.NOT_FOUND),
        (incident_errors.ServiceNotFoundError("nope"), exits.NOT_FOUND),
        (incident_errors.InvalidInputError("bad sev"), exits.USAGE),
        (errors.IllegalTransitionError("open"), exits.CONFLICT),
        (incident_errors.AuthenticationRequiredError("401"), exits.AUTH),
        (errors.TransportError("refused"), exits.UNAVAILABLE),
        (CannotListen("127.0.0.1:1", "address already in use", None), exits.ERROR),
        (errors.PagerbridgeError("other"), exits.ERROR),
        (KeyboardInterrupt(), exits.INTERRUPTED),
        (ValueError("a bug"), exits.INTERNAL),
    ],
)
def test_code_for_each_kind_of_error(exc: BaseException, code: int) -> None:
    assert exits.code_for(exc) == code


def test_im_uses_the_table() -> None:
    assert im_common.EXIT_NOT_FOUND == exits.NOT_FOUND
    assert im_common.EXIT_CONFIG == exits.CONFIG
    assert im_common.EXIT_DATABASE == exits.STORAGE
    assert im_common.EXIT_UNAVAILABLE == exits.UNAVAILABLE


def test_exits_loads_nothing() -> None:
    """pd-send and im's lean parser import it on every run: only ``__future__`` at load time."""
    tree = ast.parse(EXITS_PY.read_text(encoding="utf-8"))
    loaded = [
        node.lineno
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    assert loaded == []


@pytest.mark.parametrize(
    ("typo", "names", "expected"),
    [
        ("logs", ["declare", "ack", "resolve", "close", "reopen", "list", "show"], []),
        ("lsit", ["list", "show", "close"], ["list"]),
        ("stauts", ["status", "list"], ["status"]),
        ("shwo", ["show", "list"], ["show"]),
        ("timelin", ["timeline"], ["timeline"]),
        ("--stat", ["--state", "--since"], ["--state"]),
        ("--bogus", ["--db", "--json"], []),
        ("x", ["ack"], []),
    ],
)
def test_only_small_typos_get_a_suggestion(
    typo: str, names: list[str], expected: list[str]
) -> None:
    assert _common.near(typo, names) == expected


def test_distance_counts_a_transposition_once() -> None:
    assert _common.distance("lsit", "list") == 1
    assert _common.distance("logs", "close") == 3
    assert _common.distance("", "abc") == 3


class _Param:
    def __init__(self, *opts: str) -> None:
        self.opts = list(opts)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (("--db",), "URL"),
        (("--config", "-c"), "FILE"),
        (("--events-url",), "URL"),
        (("--state",), "STATE"),
        (("--routing-key",), "ROUTING_KEY"),
        (("--log-format",), "text|json"),
        (("--env-file",), "FILE"),
    ],
)
def test_placeholders_are_readable(opts: tuple[str, ...], expected: str) -> None:
    assert _common.placeholder(_Param(*opts)) == expected
