"""``im`` refuses the values the hub refuses, locally and with ``--server``: one line on stderr,
exit 2, nothing stored, never a traceback.

In-process, because a NUL byte cannot be passed in a program's arguments and Linux refuses a
single argument over 128 KiB: the command line is parsed exactly as ``im`` parses it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pagerbridge.server.testing import running_hub

MIB = 1024 * 1024


@dataclass
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Target:
    """Where ``im`` works: the database itself, or a hub in front of it."""

    options: list[str]


@pytest.fixture(params=["local", "server"])
def target(
    request: pytest.FixtureRequest, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Target]:
    for name in ("PAGERBRIDGE_SERVER", "PAGERBRIDGE_TOKEN", "PAGERBRIDGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAGERBRIDGE_ACTOR", "carol")
    with running_hub(database_url, sla_interval=None) as hub:  # migrates the database
        if request.param == "local":
            yield Target(["--db", database_url])
        else:
            yield Target(["--server", hub.url, "--token", hub.create_token("cli")])


def im(
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> Ran:
    from pagerbridge.cli.im import run

    monkeypatch.setattr(sys, "argv", ["im", *args, *target.options])
    try:
        run()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def refused(ran: Ran, *fragments: str) -> None:
    assert ran.code == 2, ran
    assert ran.err.startswith("error: ") and ran.err.count("\n") == 1, ran.err
    assert "Traceback" not in ran.err + ran.out
    for fragment in fragments:
        assert fragment in ran.err, (fragment, ran.err)


def test_im_refuses_what_the_hub_refuses(
    target: Target, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def run(*args: str) -> Ran:
        return im(target, capsys, monkeypatch, *args)

    refused(run("declare", "--sev", "1", "--title", "a\x00b"), "title", "NUL")
    refused(run("declare", "--sev", "1", "--title", "t", "-d", "x" * (2 * MIB)), "description")
    refused(run("declare", "--sev", "1", "--title", "t", "--field", "k=a\x00b"), "custom_fields.k")
    # over 64 KiB of custom fields locally; over the hub's 1 MiB body limit (413) with --server
    refused(run("declare", "--sev", "1", "--title", "t", "--field", "k=" + "x" * (2 * MIB)))
    refused(run("declare", "--sev", "1", "--title", "line\nbreak"), "title", "one line")
    refused(run("declare", "--sev", "1", "--title", "x" * 1025), "title")
    assert run("list", "--json").out.strip().startswith('{\n  "incidents": []')

    assert run("declare", "--sev", "1", "--title", "fine").code == 0
    refused(run("ack", "INC-1", "--note", "a\x00b"), "note", "NUL")
    refused(run("note", "INC-1", "x" * (70 * 1024)), "note")
    refused(run("note", "INC-1", "a\x00b"), "NUL")
    refused(run("assign", "INC-1", "--to", "bob\x00"), "assignee")
    refused(run("list", "--offset", "9223372036854775808"), "offset")
    refused(run("sla", "set", "SEV-2", "--ack", "99999999999d"), "duration")
    refused(run("service", "add", "db", "--team", "t" * 201), "owner_team")
    shown = run("show", "INC-1", "--json")
    assert shown.code == 0 and '"version": 1' in shown.out
    missing = run("show", "INC-99999999999999999")
    assert missing.code == 3 and "no incident INC-99999999999999999" in missing.err
