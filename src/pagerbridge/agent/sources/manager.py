"""Start, stop and reload the configured sources of one agent (``sources:`` in its YAML).

No registry: each settings class creates its own source (``SourceSettings.create``), and a
source that cannot start makes the agent's start fail with its error (sources already started
are stopped first). A reload compiles everything before touching anything, so a broken file
changes nothing; then rules are swapped, running sources are reloaded (each rebinds only a
listener whose address changed, and re-reads its files, such as certificates, even when its
settings are unchanged), removed ones stopped, new ones started.
"""

from __future__ import annotations

import logging

from pagerbridge.agent.sources.base import Source
from pagerbridge.agent.sources.config import SourcesSettings
from pagerbridge.agent.sources.rules import RuleSet, compile_rules
from pagerbridge.agent.sources.settings import SourceSettings
from pagerbridge.agent.sources.sink import AgentSink

log = logging.getLogger("pagerbridge.agent.sources")


def compile_all(settings: SourcesSettings) -> dict[str, RuleSet]:
    return {name: compile_rules(name, s) for name, s in settings.instances().items()}


class SourceManager:
    """The running sources and their sink."""

    def __init__(self, settings: SourcesSettings, sink: AgentSink) -> None:
        self.settings = settings
        self.sink = sink
        self._running: dict[str, tuple[SourceSettings, Source]] = {}

    def get(self, name: str) -> Source | None:
        found = self._running.get(name)
        return found[1] if found else None

    @property
    def names(self) -> list[str]:
        return list(self._running)

    async def start(self) -> None:
        self.sink.set_rules(compile_all(self.settings))
        try:
            for name, settings in self.settings.instances().items():
                await self._start_one(name, settings)
        except BaseException:
            await self.stop()
            raise

    async def _start_one(self, name: str, settings: SourceSettings) -> None:
        source = settings.create(name)
        await source.start(self.sink)
        self._running[name] = (settings, source)
        if not settings.rules:
            log.warning("source %s has no rules: every message is counted as no_rule", name)
        log.info("source %s started", name)

    async def stop(self) -> None:
        """Stop every source; each finishes the messages it already read."""
        while self._running:
            name, (_, source) = self._running.popitem()
            try:
                await source.stop()
            except Exception:
                log.exception("source %s failed while stopping", name)
            log.info("source %s stopped", name)

    async def reload(self, settings: SourcesSettings) -> None:
        """Apply new settings without losing a message; raises (changing nothing) if the new
        rules cannot be compiled."""
        rules = compile_all(settings)
        wanted = settings.instances()
        for name in [n for n in self._running if n not in wanted]:
            _, source = self._running.pop(name)
            await source.stop()
            log.info("source %s removed and stopped", name)
        self.sink.set_rules(rules)
        for name, new in wanted.items():
            current = self._running.get(name)
            if current is None:
                await self._start_one(name, new)
            elif type(current[0]) is not type(new):
                await current[1].stop()
                del self._running[name]
                await self._start_one(name, new)
            else:  # even unchanged: a source re-reads its files (certificates, MIBs)
                await current[1].reload(new)
                self._running[name] = (new, current[1])
                log.info("source %s reloaded", name)
        self.settings = settings


__all__ = ["SourceManager", "compile_all"]
