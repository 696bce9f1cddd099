-- Named queries of the SQLite outbox backend (loaded by pagerbridge.outbox.queries).
-- ":blocked" is the sentinel next_attempt_at of a row waiting for an earlier row of its key.
-- ":kinds" is NULL (every kind) or a JSON array of kinds, '["event","change_event"]': a row's
-- kind matches when '"kind"' occurs in it (instr: as cheap as no filter on a claim, where
-- IN (SELECT value FROM json_each(:kinds)) cost ~15 % of it).

-- name: count_active
SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight');

-- name: pending_count
-- Active rows of :kinds (a JSON array; NULL: every kind).
SELECT COUNT(*) FROM outbox
WHERE state IN ('pending', 'in_flight')
  AND (:kinds IS NULL OR instr(:kinds, '"' || kind || '"') > 0);

-- name: active_span
-- An upper bound of the active rows (ids from the oldest active row to the newest row), cheap
-- with ix_outbox_active_id; NULL when nothing is active. Exact counting is needed only near
-- the limit.
SELECT (SELECT MAX(id) FROM outbox) - (SELECT MIN(id) FROM outbox INDEXED BY ix_outbox_active_id
                                      WHERE state IN ('pending', 'in_flight')) + 1 AS span;

-- name: fold
-- Fold a trigger into its lane's latest active row when that row is a pending (not in-flight)
-- fold-enabled trigger (folds IS NOT NULL) for the same destination: the row takes the newer
-- payload and counts the fold (:folds more were folded into this one within its batch).
-- Run inside the batch's write transaction: SQLite's one writer makes it atomic.
UPDATE outbox SET payload = :payload, folds = folds + :folds + 1, updated_at = :now
WHERE id = (SELECT MAX(id) FROM outbox
            WHERE ordering_key = :ordering_key AND state IN ('pending', 'in_flight'))
  AND state = 'pending' AND folds IS NOT NULL AND destination IS :destination
RETURNING id;

-- name: insert_many
-- A whole batch in ONE statement: :rows is a JSON array of
-- [kind, payload, ordering_key, routing_key, dedup_key, state, blocked_by_earlier_row_in_batch,
--  destination, folds] (folds: NULL for a row that takes no folds).
-- Ids are consecutive inside one write transaction (AUTOINCREMENT, one writer, array order), so
-- they end at last_insert_rowid(). Run alone (autocommit: an INSERT takes the write lock as it
-- starts, like BEGIN IMMEDIATE) it is lock, insert and fsync in one sqlite3 call, so the writer
-- thread gives up the GIL once per batch (each hand-back can wait for the busy event loop).
-- :max_pending guards it with the queue bound's O(log n) upper bound: every row or, when the
-- batch might not fit, none (the caller then counts exactly); NULL inserts every row.
INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, attempts,
                    next_attempt_at, created_at, updated_at, deadline_from, destination, folds)
SELECT json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]'),
       json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]'),
       json_extract(r.value, '$[4]'), json_extract(r.value, '$[5]'), 0,
       CASE WHEN json_extract(r.value, '$[5]') = 'pending' AND (
                json_extract(r.value, '$[6]') OR EXISTS (
                    SELECT 1 FROM outbox AS e
                    WHERE e.ordering_key = json_extract(r.value, '$[2]')
                      AND e.state IN ('pending', 'in_flight')))
            THEN :blocked ELSE :now END,
       :now, :now, :now, json_extract(r.value, '$[7]'), json_extract(r.value, '$[8]')
FROM json_each(:rows) AS r
WHERE :max_pending IS NULL
   OR COALESCE((SELECT MAX(id) FROM outbox)
               - (SELECT MIN(id) FROM outbox INDEXED BY ix_outbox_active_id
                  WHERE state IN ('pending', 'in_flight')) + 1, 0) + :incoming <= :max_pending
ORDER BY r.key;

-- name: claim
UPDATE outbox
SET state = 'in_flight', next_attempt_at = :lease, lease_expires_at = :lease,
    claimed_by = :worker, updated_at = :now
WHERE id IN (
    SELECT o.id FROM outbox AS o
    WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= :now
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS e
          WHERE e.ordering_key = o.ordering_key AND e.state IN ('pending', 'in_flight')
            AND e.id < o.id)
      AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
      -- a row meant for another Events API is held: pending, first in its lane, not ours
      AND (:destination IS NULL OR o.destination IS NULL OR o.destination = :destination)
      -- only the kinds this worker can send (the agent: Events API rows; the hub: REST rows)
      AND (:kinds IS NULL OR instr(:kinds, '"' || o.kind || '"') > 0)
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit)
RETURNING *;

-- name: claim_rest
-- The claim of a worker of REST rows only (no Events API kind among its kinds): the literal kind
-- condition lets the planner walk ix_outbox_rest_due, which holds no Events API row, instead of
-- stepping over an event backlog (100,000 due events made each claim take ~100 ms).
UPDATE outbox
SET state = 'in_flight', next_attempt_at = :lease, lease_expires_at = :lease,
    claimed_by = :worker, updated_at = :now
WHERE id IN (
    SELECT o.id FROM outbox AS o INDEXED BY ix_outbox_rest_due
    WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= :now
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS e
          WHERE e.ordering_key = o.ordering_key AND e.state IN ('pending', 'in_flight')
            AND e.id < o.id)
      AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
      -- a row meant for another Events API is held: pending, first in its lane, not ours
      AND (:destination IS NULL OR o.destination IS NULL OR o.destination = :destination)
      -- only the kinds this worker can send (the agent: Events API rows; the hub: REST rows)
      AND (:kinds IS NULL OR instr(:kinds, '"' || o.kind || '"') > 0)
      AND o.kind NOT IN ('event', 'change_event')
    ORDER BY o.next_attempt_at, o.id
    LIMIT :limit)
RETURNING *;

-- name: complete
UPDATE outbox
SET state = :state,
    attempts = attempts + :attempt,
    next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
    lease_expires_at = NULL,
    claimed_by = NULL,
    last_error = COALESCE(:last_error, last_error),
    updated_at = :now,
    delivered_at = CASE WHEN :state = 'delivered' THEN :now ELSE delivered_at END
WHERE id = :id AND state = 'in_flight'
RETURNING ordering_key;

-- name: promote
UPDATE outbox SET next_attempt_at = :now
WHERE id = (SELECT MIN(id) FROM outbox
            WHERE ordering_key = :ordering_key AND state IN ('pending', 'in_flight'))
  AND next_attempt_at >= :blocked;

-- name: get
SELECT * FROM outbox WHERE id = :id;

-- name: list
SELECT * FROM outbox
WHERE id > :after_id
  AND (:routing_key IS NULL OR routing_key = :routing_key)
  AND (:dedup_key IS NULL OR dedup_key = :dedup_key)
  AND (:since IS NULL OR created_at >= :since)
  AND (:any_state OR state IN (SELECT value FROM json_each(:states)))
ORDER BY id
LIMIT :limit;

-- name: stats
SELECT routing_key, kind, state, COUNT(*), MIN(CASE WHEN state = 'pending' THEN created_at END),
       COALESCE(SUM(folds), 0)
FROM outbox WHERE (:kinds IS NULL OR instr(:kinds, '"' || kind || '"') > 0)
GROUP BY routing_key, kind, state;

-- name: next_due
SELECT MIN(o.next_attempt_at) FROM outbox AS o
WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at < :blocked
  AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
  AND (:destination IS NULL OR o.destination IS NULL OR o.destination = :destination)
  AND (:kinds IS NULL OR instr(:kinds, '"' || o.kind || '"') > 0);

-- name: oldest_due
-- The creation time of the oldest row a worker for :destination could send now (health).
SELECT MIN(o.created_at) FROM outbox AS o
WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
  AND (:destination IS NULL OR o.destination IS NULL OR o.destination = :destination)
  AND (:kinds IS NULL OR instr(:kinds, '"' || o.kind || '"') > 0);

-- name: held
-- Pending rows meant for another destination than :destination, by destination.
SELECT destination, COUNT(*) AS n, MIN(id) AS first_id FROM outbox INDEXED BY ix_outbox_held
WHERE state IN ('pending', 'in_flight') AND destination IS NOT NULL
  AND destination <> :destination
  AND (:kinds IS NULL OR instr(:kinds, '"' || kind || '"') > 0)
GROUP BY destination ORDER BY destination;

-- name: setting_get
SELECT value FROM outbox_settings WHERE name = :name;

-- name: setting_put
INSERT INTO outbox_settings (name, value, updated_at) VALUES (:name, :value, :now)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- name: setting_delete
DELETE FROM outbox_settings WHERE name = :name;

-- name: superseded
-- Dead event rows of an alert that a later row of the same routing and dedup key has already
-- reached PagerDuty after: retrying them would re-open (or re-acknowledge) what is settled.
SELECT o.id FROM outbox AS o
WHERE o.state = 'dead' AND o.kind = 'event' AND o.dedup_key IS NOT NULL
  AND (:all_dead OR o.id IN (SELECT value FROM json_each(:ids)))
  AND (:routing_key IS NULL OR o.routing_key = :routing_key)
  AND EXISTS (SELECT 1 FROM outbox AS n
              WHERE n.routing_key = o.routing_key AND n.dedup_key = o.dedup_key
                AND n.id > o.id AND n.state = 'delivered')
ORDER BY o.id;

-- name: retry_ids
UPDATE outbox
SET state = 'pending', next_attempt_at = :now, lease_expires_at = NULL, claimed_by = NULL,
    attempts = 0, deadline_from = :now, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('dead', 'pending', 'suppressed')
  AND id NOT IN (SELECT value FROM json_each(:skip))
RETURNING id;

-- name: retry_dead
UPDATE outbox
SET state = 'pending', next_attempt_at = :now, lease_expires_at = NULL, claimed_by = NULL,
    attempts = 0, deadline_from = :now, updated_at = :now
WHERE state = 'dead' AND (:routing_key IS NULL OR routing_key = :routing_key)
  AND id NOT IN (SELECT value FROM json_each(:skip))
RETURNING id;

-- name: retry_held
-- Held rows: pending, meant for another destination than the recorded one (any destination,
-- when none is recorded); only those meant for :from_destination when it is given.
UPDATE outbox
SET next_attempt_at = CASE WHEN next_attempt_at >= :blocked THEN next_attempt_at ELSE :now END,
    attempts = 0, deadline_from = :now, updated_at = :now
WHERE state = 'pending' AND destination IS NOT NULL
  AND kind IN (SELECT value FROM json_each(:kinds))
  AND destination <> COALESCE((SELECT value FROM outbox_settings WHERE name = 'events_url'), '')
  AND (:from_destination IS NULL OR destination = :from_destination)
  AND (:routing_key IS NULL OR routing_key = :routing_key)
RETURNING id;

-- name: redirect
-- Only Events API rows take an Events API URL (:kinds).
UPDATE outbox SET destination = :to, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('pending', 'dead', 'suppressed')
  AND kind IN (SELECT value FROM json_each(:kinds));

-- name: purge
DELETE FROM outbox
WHERE state IN (SELECT value FROM json_each(:states))
  AND (:before IS NULL OR updated_at < :before);

-- name: pause
INSERT INTO outbox_paused (routing_key, paused_at) VALUES (:routing_key, :now)
ON CONFLICT (routing_key) DO NOTHING;

-- name: resume
DELETE FROM outbox_paused WHERE routing_key = :routing_key;

-- name: paused
SELECT routing_key FROM outbox_paused ORDER BY routing_key;

-- name: rate_get
SELECT tokens, updated_at FROM outbox_rate WHERE routing_key = :routing_key;

-- name: rate_put
INSERT INTO outbox_rate (routing_key, tokens, updated_at) VALUES (:routing_key, :tokens, :now)
ON CONFLICT (routing_key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at;

-- name: rate_throttle
INSERT INTO outbox_rate (routing_key, tokens, updated_at) VALUES (:routing_key, 0, :until)
ON CONFLICT (routing_key) DO UPDATE
SET tokens = 0, updated_at = MAX(outbox_rate.updated_at, excluded.updated_at);
