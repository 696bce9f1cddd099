"""``pd-queue``: Inspect and manage the outbox: status, list, show, retry, purge."""

from __future__ import annotations

from pagerbridge.cli._common import stub_main


def run() -> None:
    stub_main(
        "pd-queue",
        "Inspect and manage the outbox: status, list, show, retry, purge.",
        "issue #4 (the outbox)",
    )
