"""A PostgreSQL claim walks an index in claim order and stops after LIMIT rows.

Without ``ix_outbox_active_due`` every claim collected and sorted every due row (2 s per claim
with a million pending: ~10 events/s delivered). This reads ``EXPLAIN ANALYZE`` of the real claim
query over a backlog that has not been ANALYZEd (as right after a burst) and counts the rows the
scan of the outbox touched: a fixed number, not the backlog. (SQLite's planner already handles
the same backlog in well under a millisecond per claim; see docs/benchmarks.md.)
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from pagerbridge.outbox.pg_backend import PostgresStorage
from pagerbridge.outbox.queries import queries

BACKLOG = 100_000
LIMIT = 32


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


@pytest.mark.postgres
@pytest.mark.parametrize("destination", [None, "https://events.pagerduty.com"])
def test_claim_touches_a_bounded_number_of_rows(postgres_url: str, destination: str | None) -> None:
    """Also for a worker with a destination, over rows stamped with it (the usual agent)."""
    storage = PostgresStorage(postgres_url)  # the schema
    now = time.time()
    params = {
        "now": now + 1,
        "lease": now + 60,
        "worker": "w",
        "limit": LIMIT,
        "destination": destination,
    }
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state,"
            " attempts, next_attempt_at, created_at, updated_at, deadline_from, destination)"
            " SELECT 'event', '{}', 'k/' || i, 'k', i::text, 'pending', 0, %(now)s, %(now)s,"
            " %(now)s, %(now)s, %(destination)s FROM generate_series(1, %(n)s) AS i",
            {"now": now, "n": BACKLOG, "destination": destination},
        )
        conn.commit()
        storage._before_claim(conn)  # what the backend does before every claim
        ((plan,),) = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + queries("postgresql")["claim"], params
        ).fetchall()
        conn.rollback()
    nodes = _nodes(plan[0]["Plan"])
    scans = [n for n in nodes if n.get("Alias") == "o"]
    assert scans, nodes
    assert scans[0]["Actual Rows"] <= 4 * LIMIT, (
        f"the claim scanned {scans[0]['Actual Rows']} of {BACKLOG} rows "
        f"({scans[0]['Node Type']} on {scans[0].get('Index Name')})"
    )
    assert not [n for n in nodes if n["Node Type"] == "Sort"], "the claim sorts the backlog"
    storage.close()
