"""A command runner that replays recorded tool outputs (a test helper: no tests in here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pagerbridge.updates.commands import CheckerError, CommandResult

FIXTURES = Path(__file__).parent / "fixtures" / "updates"

#: Every fixture starts with ``##fixture-source: <text>`` lines naming where the output came
#: from, closed by one ``##fixture-end`` line; the tool's real output follows, byte for byte.
SOURCE_PREFIX = "##fixture-source:"
HEADER_END = "##fixture-end\n"


def split_fixture(name: str) -> tuple[str, str]:
    """(source text, real output) of a fixture; a fixture without its header is an error."""
    text = (FIXTURES / name).read_bytes().decode("utf-8")
    source: list[str] = []
    rest = text
    while rest.startswith(SOURCE_PREFIX):
        line, _, rest = rest.partition("\n")
        source.append(line[len(SOURCE_PREFIX) :].strip())
    if not source or not rest.startswith(HEADER_END):
        raise AssertionError(
            f"fixture {name} has no source header ({SOURCE_PREFIX} lines, then {HEADER_END!r})"
        )
    return "\n".join(source).strip(), rest[len(HEADER_END) :]


def load_fixture(name: str) -> str:
    """The real output recorded in a fixture, without its source header."""
    return split_fixture(name)[1]


def fixture_file(name: str, directory: Path) -> Path:
    """The real output written to ``directory/name``, for code that reads a file by path."""
    path = directory / name
    path.write_bytes(load_fixture(name).encode("utf-8"))
    return path


class ReplayRunner:
    """Answers a command whose argv starts with a registered prefix with that fixture's text."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[str, int]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, ...]] = []

    def add(self, prefix: Sequence[str], fixture: str, status: int = 0) -> ReplayRunner:
        self.answers[tuple(prefix)] = (load_fixture(fixture), status)
        return self

    def which(self, program: str) -> str | None:
        return f"/usr/bin/{program}" if any(p[0] == program for p in self.answers) else None

    def run(self, argv: Sequence[str]) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        for prefix, (stdout, status) in sorted(self.answers.items(), key=lambda kv: -len(kv[0])):
            if args[: len(prefix)] == prefix:
                return CommandResult(args, status, stdout, "")
        raise CheckerError(f"{args[0]} is not installed (not found on PATH)")
