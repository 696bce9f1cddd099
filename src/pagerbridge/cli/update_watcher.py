"""``update-watcher``: Check for package updates and page PagerDuty: run, validate, status."""

from __future__ import annotations

from pagerbridge.cli._common import stub_main


def run() -> None:
    stub_main(
        "update-watcher",
        "Check for package updates and page PagerDuty: run, validate, status.",
        "issue #5 (update-watcher)",
    )
