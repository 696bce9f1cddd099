"""``pagerbridge sandbox``: run the local PagerDuty."""

from __future__ import annotations

import typer

from pagerbridge.cli._common import not_available


def register(app: typer.Typer) -> None:
    @app.command()
    def sandbox() -> None:
        """Run a local PagerDuty (Events API, REST API, webhooks) for tests and demos."""
        not_available("pagerbridge sandbox", "the sandbox, issue #3, has not landed")
