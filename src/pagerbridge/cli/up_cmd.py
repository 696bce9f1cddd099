"""``pagerbridge up`` and ``pagerbridge agent``: start the hub and the local agent."""

from __future__ import annotations

import typer

from pagerbridge.cli._common import not_available


def register(app: typer.Typer) -> None:
    @app.command()
    def up() -> None:
        """Run everything for one machine: hub, agent and (in sandbox mode) the sandbox."""
        not_available("pagerbridge up", "the agent, issue #4, has not landed")

    @app.command()
    def agent() -> None:
        """Run the local agent only: the durable Events API endpoint and delivery worker."""
        not_available("pagerbridge agent", "the agent, issue #4, has not landed")
