"""A PostgreSQL claim walks an index in claim order and stops after LIMIT rows.

Without ``ix_outbox_active_due`` every claim collected and sorted every due row (2 s per claim
with a million pending: ~10 events/s delivered). This reads ``EXPLAIN ANALYZE`` of the real claim
query over a backlog that has not been ANALYZEd (as right after a burst) and counts the rows the
scan of the outbox touched: a fixed number, not the backlog. The same holds with the kinds
filter: the agent's claim (Events API kinds) over an event backlog, and the hub's claim of REST
rows (``claim_rest`` on ``ix_outbox_rest_due``) over an event backlog that is due before them.
Both as PostgreSQL plans the query with its values and as it may plan it once prepared (generic):
there, only ``claim_rest``'s literal kind condition lets it use ``ix_outbox_rest_due``. (SQLite's
planner already handles the same backlog in well under a millisecond per claim; see
docs/benchmarks.md.)
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
import pytest
from psycopg.sql import Literal

from pagerbridge.outbox.pg_backend import PostgresStorage
from pagerbridge.outbox.queries import queries
from pagerbridge.outbox.types import EVENT_KINDS, REST_KIND

BACKLOG = 100_000
LIMIT = 32
US = "https://events.pagerduty.com"
INSERT = (
    "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state,"
    " attempts, next_attempt_at, created_at, updated_at, deadline_from, destination)"
    " SELECT %(kind)s, '{}', %(kind)s || '/' || i, 'k', i::text, 'pending', 0, %(due)s, %(due)s,"
    " %(due)s, %(due)s, %(destination)s FROM generate_series(1, %(n)s) AS i"
)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("destination", "kinds"),
    [(None, None), (US, EVENT_KINDS), (None, (REST_KIND,))],
    ids=["any-kind", "agent", "rest-worker"],
)
def test_claim_touches_a_bounded_number_of_rows(
    postgres_url: str, destination: str | None, kinds: tuple[str, ...] | None
) -> None:
    """Also for a worker with a destination and the Events API kinds, over rows stamped with it
    (the usual agent), and for the hub's REST worker, whose rows are due after every event."""
    storage = PostgresStorage(postgres_url)  # the schema
    now = time.time()
    rest_only = kinds == (REST_KIND,)
    params = {
        "now": now + 1,
        "lease": now + 60,
        "worker": "w",
        "limit": LIMIT,
        "destination": destination,
        "kinds": None if kinds is None else list(kinds),
    }
    with psycopg.connect(postgres_url) as conn:
        events = {"kind": "event", "due": now - 1, "destination": destination, "n": BACKLOG}
        conn.execute(INSERT, events)
        if rest_only:
            conn.execute(INSERT, {"kind": REST_KIND, "due": now, "destination": None, "n": 100})
        conn.commit()
        sql = queries("postgresql")["claim_rest" if rest_only else "claim"]
        plans = {"custom": _explain(conn, storage, sql, params, generic=False)}
        plans["generic"] = _explain(conn, storage, sql, params, generic=True)
    storage.close()
    for how, plan in plans.items():
        nodes = _nodes(plan)
        scans = [n for n in nodes if n.get("Alias") == "o"]
        assert scans, nodes
        touched = scans[0]["Actual Rows"] + scans[0].get("Rows Removed by Filter", 0)
        assert touched <= 4 * LIMIT, (
            f"the {how} plan's claim scanned {touched} of {BACKLOG} rows "
            f"({scans[0]['Node Type']} on {scans[0].get('Index Name')})"
        )
        assert scans[0]["Actual Rows"] == LIMIT
        assert not [n for n in nodes if n["Node Type"] == "Sort"], "the claim sorts the backlog"


def _explain(
    conn: psycopg.Connection[Any],
    storage: PostgresStorage,
    sql: str,
    params: dict[str, Any],
    *,
    generic: bool,
) -> dict[str, Any]:
    """``EXPLAIN ANALYZE`` of the claim in one rolled-back transaction, as the backend runs it.

    Custom: planned with the values (the first runs). Generic: as PostgreSQL may plan it once
    psycopg prepares the query (after 5 runs), without the values; a PREPAREd statement run
    with ``plan_cache_mode = force_generic_plan``, since EXPLAIN of a query with bound values
    always plans with them.
    """
    storage._before_claim(conn)  # what the backend does before every claim
    if not generic:
        ((found,),) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params).fetchall()
        conn.rollback()
        return dict(found[0]["Plan"])
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", sql)
    conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.execute(f"PREPARE claim_plan AS {numbered}".encode())
    values = b", ".join(Literal(params[n]).as_bytes(conn) for n in names)
    explain = b"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE claim_plan(" + values + b")"
    ((found,),) = conn.execute(explain).fetchall()
    conn.rollback()
    conn.execute("DEALLOCATE claim_plan")
    return dict(found[0]["Plan"])
