-- The outbox schema for SQLite. Run by pd-send on first use and by migrations 0002/0003/0005;
-- every statement is idempotent. Times are Unix epoch seconds.
-- next_attempt_at: when the row may be claimed. For in_flight rows it equals the lease expiry (a
-- dead worker's rows come back then), and for rows queued behind an earlier active row of the same
-- ordering key it is the BLOCKED sentinel (1e15) until that row finishes.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    dedup_key TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE NOT NULL,
    lease_expires_at DOUBLE,
    claimed_by TEXT,
    last_error TEXT,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    delivered_at DOUBLE,
    deadline_from DOUBLE NOT NULL,
    destination TEXT,
    folds INTEGER
);
CREATE INDEX IF NOT EXISTS ix_outbox_state_due ON outbox (state, next_attempt_at);
-- The active rows of each ordering lane, in order: who is first, and is anyone before me.
CREATE INDEX IF NOT EXISTS ix_outbox_active_lane ON outbox (ordering_key, id)
    WHERE state IN ('pending', 'in_flight');
CREATE INDEX IF NOT EXISTS ix_outbox_routing_key ON outbox (routing_key, id);
-- The oldest active row in O(log n): bounds the queue size without counting a large backlog.
CREATE INDEX IF NOT EXISTS ix_outbox_active_id ON outbox (id)
    WHERE state IN ('pending', 'in_flight');
CREATE TABLE IF NOT EXISTS outbox_paused (
    routing_key TEXT NOT NULL PRIMARY KEY,
    paused_at DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_rate (
    routing_key TEXT NOT NULL PRIMARY KEY,
    tokens DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL
);
-- Due active rows in claim order: a claim walks this index and stops after LIMIT rows, instead of
-- collecting and sorting every due row (2 s per claim with a million pending on PostgreSQL).
CREATE INDEX IF NOT EXISTS ix_outbox_active_due ON outbox (next_attempt_at, id)
    WHERE state IN ('pending', 'in_flight');

-- Where rows go: the Events API base URL a row is meant for is its ``destination``;
-- outbox_settings records the agent's own (``events_url``), which pd-send stamps on its rows.
-- (SQLite: an older outbox table gets the column from Python, see sqlite_backend.py.)
CREATE TABLE IF NOT EXISTS outbox_settings (
    name TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at DOUBLE NOT NULL
);
-- Active rows by destination: what is held, for pd-queue and the worker's warning.
CREATE INDEX IF NOT EXISTS ix_outbox_held ON outbox (destination)
    WHERE state IN ('pending', 'in_flight');

-- Row kinds and folding (0005_outbox_folds). ``folds`` counts the later triggers folded into a
-- pending trigger of the same alert (NULL: a row that takes no folds, as every row from before);
-- an older outbox table gets the column from Python first, like ``destination``.
-- Due active rows that are not Events API rows (the hub's REST rows), in claim order: a REST
-- worker's claim walks this one, not the event backlog (claim_rest). Events never enter it.
CREATE INDEX IF NOT EXISTS ix_outbox_rest_due ON outbox (next_attempt_at, id)
    WHERE state IN ('pending', 'in_flight') AND kind NOT IN ('event', 'change_event');
