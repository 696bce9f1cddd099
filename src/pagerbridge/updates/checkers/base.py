"""What every checker is: a name, options from the config, a command runner, and ``check()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from pagerbridge.updates.commands import CommandRunner
from pagerbridge.updates.models import Update


class CheckerOptions(BaseModel):
    """Base of each checker's ``options:``; unknown keys are errors (typos should not pass)."""

    model_config = ConfigDict(extra="forbid")

    use_sudo: bool = False
    security_only: bool = False


class Checker(ABC):
    """One tool's update check. ``check`` raises CheckerError when it cannot tell."""

    name: ClassVar[str]
    options_model: ClassVar[type[CheckerOptions]] = CheckerOptions

    def __init__(self, options: CheckerOptions, runner: CommandRunner) -> None:
        self.options = options
        self.runner = runner

    @classmethod
    def from_options(cls, options: Mapping[str, Any], runner: CommandRunner) -> Checker:
        return cls(cls.options_model.model_validate(dict(options)), runner)

    def argv(self, *args: str) -> list[str]:
        """``args`` prefixed with ``sudo -n`` when the config asks for it (never prompts)."""
        return ["sudo", "-n", *args] if self.options.use_sudo else list(args)

    def check(self) -> list[Update]:
        updates = self.find_updates()
        if self.options.security_only:
            updates = [u for u in updates if u.security]
        return updates

    @abstractmethod
    def find_updates(self) -> list[Update]:
        """Every pending update this tool knows about."""
