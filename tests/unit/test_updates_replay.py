"""A command runner that replays recorded tool outputs (a test helper: no tests in here)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pagerbridge.updates.commands import CheckerError, CommandResult

FIXTURES = Path(__file__).parent / "fixtures" / "updates"


class ReplayRunner:
    """Answers a command whose argv starts with a registered prefix with that fixture's text."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[str, int]] | None = None) -> None:
        self.answers = dict(answers or {})
        self.calls: list[tuple[str, ...]] = []

    def add(self, prefix: Sequence[str], fixture: str, status: int = 0) -> ReplayRunner:
        self.answers[tuple(prefix)] = ((FIXTURES / fixture).read_text(encoding="utf-8"), status)
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
