"""kill -9 reliability: 3 rounds of SIGKILL at random moments while the agent delivers over 50
routing keys to a sandbox injecting 5xx, 429, dropped connections and timeouts. Every accepted
event arrives, in order per key, and duplicates only ever repeat the same dedup key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagerbridge.agent.chaos import run_kill9
from pagerbridge.sandbox.testing import running_sandbox


@pytest.mark.slow
def test_kill9_three_rounds_lose_nothing(tmp_path: Path) -> None:
    with running_sandbox(any_routing_key=True, rate_limits=False) as sandbox:
        report = run_kill9(tmp_path, sandbox, rounds=3, per_round=300, keys=50, say=print)
    print(report)
    assert report.kills == 3
    assert report.accepted >= 300, report  # a real amount went through the kills
    assert report.missing == [], f"accepted but never arrived: {report.missing[:10]}"
    assert report.order_violations == []
    assert report.dedup_mismatches == []
    assert report.dead == 0
    assert report.ok
