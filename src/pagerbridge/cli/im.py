"""``im``: The incident-management CLI: declare, ack, resolve, timeline."""

from __future__ import annotations

from pagerbridge.cli._common import stub_main


def run() -> None:
    stub_main(
        "im",
        "The incident-management CLI: declare, ack, resolve, timeline.",
        "issue #6 (incident management)",
    )
