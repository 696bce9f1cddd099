"""``pd-send``: Queue one PagerDuty event durably."""

from __future__ import annotations

from pagerbridge.cli._common import stub_main


def run() -> None:
    stub_main("pd-send", "Queue one PagerDuty event durably.", "issue #4 (the outbox)")
