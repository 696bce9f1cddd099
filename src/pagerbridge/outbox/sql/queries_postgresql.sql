-- Named queries of the PostgreSQL outbox backend (loaded by pagerbridge.outbox.queries).
-- Claims use FOR UPDATE SKIP LOCKED so any number of workers, processes and hosts can share the
-- table; NOTIFY pagerbridge_outbox is a wake-up hint only (workers poll as well).

-- name: lock_keys
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(%(keys)s::text[]) AS k ORDER BY 1) AS s;

-- name: missing_columns
-- The columns an outbox table made by an older pagerbridge lacks (destination: 0003, folds:
-- 0005); nothing when there is no outbox table yet.
SELECT w.name, w.type FROM information_schema.tables AS t,
       (VALUES ('destination', 'TEXT'), ('folds', 'INTEGER')) AS w(name, type)
WHERE t.table_schema = current_schema() AND t.table_name = 'outbox'
  AND NOT EXISTS (SELECT 1 FROM information_schema.columns AS c
                  WHERE c.table_schema = t.table_schema AND c.table_name = 'outbox'
                    AND c.column_name = w.name)
ORDER BY w.name;

-- name: count_active
SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'in_flight');

-- name: pending_count
SELECT COUNT(*) FROM outbox
WHERE state IN ('pending', 'in_flight')
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]));

-- name: active_span
-- An upper bound of the active rows (ids from the oldest active row to the newest row), cheap
-- with ix_outbox_active_id; NULL when nothing is active. Exact counting is needed only near
-- the limit.
SELECT (SELECT MAX(id) FROM outbox) - (SELECT MIN(id) FROM outbox
                                      WHERE state IN ('pending', 'in_flight')) + 1 AS span;

-- name: insert
INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, attempts,
                    next_attempt_at, created_at, updated_at, deadline_from, destination)
SELECT %(kind)s, %(payload)s, %(ordering_key)s, %(routing_key)s, %(dedup_key)s, %(state)s, 0,
       CASE WHEN %(state)s = 'pending' AND EXISTS (
                SELECT 1 FROM outbox AS e
                WHERE e.ordering_key = %(ordering_key)s AND e.state IN ('pending', 'in_flight'))
            THEN %(blocked)s ELSE %(now)s END,
       %(now)s, %(now)s, %(now)s, %(destination)s
RETURNING id;

-- name: insert_fold
-- The insert of a batch that has fold rows (NewRow.fold): a row flagged try_fold first tries to
-- fold into its lane's latest active row, when that is a pending fold-enabled trigger (folds IS
-- NOT NULL) for the same destination; else, like every other row, it is inserted. The caller
-- holds the lane's advisory lock, so writers fold one at a time. A row another transaction is
-- changing is being claimed or sent: SKIP LOCKED leaves it alone (the trigger gets a row of its
-- own) rather than wait for a worker that may in turn wait for our lane lock (a deadlock that
-- test_outbox_folding's claim race found); a row changed and committed since our snapshot is
-- looked at again as it is now, so a row in flight is never folded into.
-- Parameter folds: rows of the batch already folded into this one; folds_value: the new row's
-- folds (NULL for a row that takes no folds).
WITH target AS (
    SELECT o.id FROM outbox AS o
    WHERE %(try_fold)s
      AND o.id = (SELECT MAX(e.id) FROM outbox AS e
                  WHERE e.ordering_key = %(ordering_key)s AND e.state IN ('pending', 'in_flight'))
      AND o.state = 'pending' AND o.folds IS NOT NULL
      AND o.destination IS NOT DISTINCT FROM %(destination)s::text
    FOR UPDATE SKIP LOCKED
), folded AS (
    UPDATE outbox SET payload = %(payload)s, folds = outbox.folds + %(folds)s + 1,
                      updated_at = %(now)s
    FROM target WHERE outbox.id = target.id AND outbox.state = 'pending'
    RETURNING outbox.id
), inserted AS (
    INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, attempts,
                        next_attempt_at, created_at, updated_at, deadline_from, destination,
                        folds)
    SELECT %(kind)s, %(payload)s, %(ordering_key)s, %(routing_key)s, %(dedup_key)s, %(state)s, 0,
           CASE WHEN %(state)s = 'pending' AND EXISTS (
                    SELECT 1 FROM outbox AS e
                    WHERE e.ordering_key = %(ordering_key)s
                      AND e.state IN ('pending', 'in_flight'))
                THEN %(blocked)s ELSE %(now)s END,
           %(now)s, %(now)s, %(now)s, %(destination)s, %(folds_value)s::integer
    WHERE NOT EXISTS (SELECT 1 FROM folded)
    RETURNING id
)
SELECT id, TRUE AS folded FROM folded
UNION ALL
SELECT id, FALSE AS folded FROM inserted;

-- name: notify
SELECT pg_notify('pagerbridge_outbox', '');

-- name: claim
WITH candidates AS (
    SELECT o.id FROM outbox AS o
    WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS e
          WHERE e.ordering_key = o.ordering_key AND e.state IN ('pending', 'in_flight')
            AND e.id < o.id)
      AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
      -- a row meant for another Events API is held: pending, first in its lane, not ours
      -- (the claim runs with enable_sort off: see PostgresStorage._before_claim)
      AND (%(destination)s::text IS NULL OR o.destination IS NULL
           OR o.destination = %(destination)s::text)
      -- only the kinds this worker can send (the agent: Events API rows; the hub: REST rows)
      AND (%(kinds)s::text[] IS NULL OR o.kind = ANY(%(kinds)s::text[]))
    ORDER BY o.next_attempt_at, o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox
SET state = 'in_flight', next_attempt_at = %(lease)s, lease_expires_at = %(lease)s,
    claimed_by = %(worker)s, updated_at = %(now)s
FROM candidates
WHERE outbox.id = candidates.id
RETURNING outbox.*;

-- name: claim_rest
-- The claim of a worker of REST rows only (no Events API kind among its kinds): the literal kind
-- condition lets the planner walk ix_outbox_rest_due, which holds no Events API row, instead of
-- stepping over an event backlog (100,000 due events made each claim take ~100 ms).
WITH candidates AS (
    SELECT o.id FROM outbox AS o
    WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= %(now)s
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS e
          WHERE e.ordering_key = o.ordering_key AND e.state IN ('pending', 'in_flight')
            AND e.id < o.id)
      AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
      -- a row meant for another Events API is held: pending, first in its lane, not ours
      -- (the claim runs with enable_sort off: see PostgresStorage._before_claim)
      AND (%(destination)s::text IS NULL OR o.destination IS NULL
           OR o.destination = %(destination)s::text)
      -- only the kinds this worker can send (the agent: Events API rows; the hub: REST rows)
      AND (%(kinds)s::text[] IS NULL OR o.kind = ANY(%(kinds)s::text[]))
      AND o.kind NOT IN ('event', 'change_event')
    ORDER BY o.next_attempt_at, o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox
SET state = 'in_flight', next_attempt_at = %(lease)s, lease_expires_at = %(lease)s,
    claimed_by = %(worker)s, updated_at = %(now)s
FROM candidates
WHERE outbox.id = candidates.id
RETURNING outbox.*;

-- name: complete_many
-- Record a batch of outcomes in one statement; returns the ordering keys whose row finished
-- (delivered or dead), whose next row promote_many then makes due.
WITH c AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(states)s::text[], %(attempts)s::int[],
                         %(next)s::double precision[], %(errors)s::text[])
        AS c(id, state, attempt, next_attempt_at, last_error)
), done AS (
    UPDATE outbox AS o
    SET state = c.state,
        attempts = o.attempts + c.attempt,
        next_attempt_at = COALESCE(c.next_attempt_at, o.next_attempt_at),
        lease_expires_at = NULL,
        claimed_by = NULL,
        last_error = COALESCE(c.last_error, o.last_error),
        updated_at = %(now)s,
        delivered_at = CASE WHEN c.state = 'delivered' THEN %(now)s ELSE o.delivered_at END
    FROM c
    WHERE o.id = c.id AND o.state = 'in_flight'
    RETURNING o.ordering_key, c.state
)
SELECT DISTINCT ordering_key FROM done WHERE state <> 'pending';

-- name: promote_many
UPDATE outbox SET next_attempt_at = %(now)s
WHERE id IN (
    SELECT (SELECT MIN(e.id) FROM outbox AS e
            WHERE e.ordering_key = k AND e.state IN ('pending', 'in_flight'))
    FROM unnest(%(keys)s::text[]) AS k)
  AND next_attempt_at >= %(blocked)s;

-- name: complete
UPDATE outbox
SET state = %(state)s,
    attempts = attempts + %(attempt)s,
    next_attempt_at = COALESCE(%(next_attempt_at)s::double precision, next_attempt_at),
    lease_expires_at = NULL,
    claimed_by = NULL,
    last_error = COALESCE(%(last_error)s::text, last_error),
    updated_at = %(now)s,
    delivered_at = CASE WHEN %(state)s = 'delivered' THEN %(now)s ELSE delivered_at END
WHERE id = %(id)s AND state = 'in_flight'
RETURNING ordering_key;

-- name: promote
UPDATE outbox SET next_attempt_at = %(now)s
WHERE id = (SELECT MIN(id) FROM outbox
            WHERE ordering_key = %(ordering_key)s AND state IN ('pending', 'in_flight'))
  AND next_attempt_at >= %(blocked)s;

-- name: get
SELECT * FROM outbox WHERE id = %(id)s;

-- name: list
SELECT * FROM outbox
WHERE id > %(after_id)s
  AND (%(routing_key)s::text IS NULL OR routing_key = %(routing_key)s::text)
  AND (%(dedup_key)s::text IS NULL OR dedup_key = %(dedup_key)s::text)
  AND (%(since)s::double precision IS NULL OR created_at >= %(since)s::double precision)
  AND (%(any_state)s OR state = ANY(%(states)s::text[]))
ORDER BY id
LIMIT %(limit)s;

-- name: stats
SELECT routing_key, kind, state, COUNT(*), MIN(CASE WHEN state = 'pending' THEN created_at END),
       COALESCE(SUM(folds), 0)
FROM outbox WHERE (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
GROUP BY routing_key, kind, state;

-- name: next_due
SELECT MIN(o.next_attempt_at) FROM outbox AS o
WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at < %(blocked)s
  AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
  AND (%(destination)s::text IS NULL OR o.destination IS NULL
       OR o.destination = %(destination)s::text)
  AND (%(kinds)s::text[] IS NULL OR o.kind = ANY(%(kinds)s::text[]));

-- name: oldest_due
-- The creation time of the oldest row a worker for :destination could send now (health).
SELECT MIN(o.created_at) AS oldest FROM outbox AS o
WHERE o.state IN ('pending', 'in_flight') AND o.next_attempt_at <= %(now)s
  AND NOT EXISTS (SELECT 1 FROM outbox_paused AS p WHERE p.routing_key = o.routing_key)
  AND (%(destination)s::text IS NULL OR o.destination IS NULL
       OR o.destination = %(destination)s::text)
  AND (%(kinds)s::text[] IS NULL OR o.kind = ANY(%(kinds)s::text[]));

-- name: held
-- Pending rows meant for another destination than :destination, by destination.
SELECT destination, COUNT(*) AS n, MIN(id) AS first_id FROM outbox
WHERE state IN ('pending', 'in_flight') AND destination IS NOT NULL
  AND destination <> %(destination)s::text
  AND (%(kinds)s::text[] IS NULL OR kind = ANY(%(kinds)s::text[]))
GROUP BY destination ORDER BY destination;

-- name: setting_get
SELECT value FROM outbox_settings WHERE name = %(name)s;

-- name: setting_put
INSERT INTO outbox_settings (name, value, updated_at) VALUES (%(name)s, %(value)s, %(now)s)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at;

-- name: setting_delete
DELETE FROM outbox_settings WHERE name = %(name)s;

-- name: superseded
-- Dead event rows of an alert that a later row of the same routing and dedup key has already
-- reached PagerDuty after: retrying them would re-open (or re-acknowledge) what is settled.
SELECT o.id FROM outbox AS o
WHERE o.state = 'dead' AND o.kind = 'event' AND o.dedup_key IS NOT NULL
  AND (%(all_dead)s OR o.id = ANY(%(ids)s::bigint[]))
  AND (%(routing_key)s::text IS NULL OR o.routing_key = %(routing_key)s::text)
  AND EXISTS (SELECT 1 FROM outbox AS n
              WHERE n.routing_key = o.routing_key AND n.dedup_key = o.dedup_key
                AND n.id > o.id AND n.state = 'delivered')
ORDER BY o.id;

-- name: retry_ids
UPDATE outbox
SET state = 'pending', next_attempt_at = %(now)s, lease_expires_at = NULL, claimed_by = NULL,
    attempts = 0, deadline_from = %(now)s, updated_at = %(now)s
WHERE id = ANY(%(ids)s::bigint[]) AND state IN ('dead', 'pending', 'suppressed')
  AND NOT (id = ANY(%(skip)s::bigint[]))
RETURNING id;

-- name: retry_dead
UPDATE outbox
SET state = 'pending', next_attempt_at = %(now)s, lease_expires_at = NULL, claimed_by = NULL,
    attempts = 0, deadline_from = %(now)s, updated_at = %(now)s
WHERE state = 'dead' AND (%(routing_key)s::text IS NULL OR routing_key = %(routing_key)s::text)
  AND NOT (id = ANY(%(skip)s::bigint[]))
RETURNING id;

-- name: retry_held
-- Held rows: pending, meant for another destination than the recorded one (any destination,
-- when none is recorded); only those meant for :from_destination when it is given.
UPDATE outbox
SET next_attempt_at = CASE WHEN next_attempt_at >= %(blocked)s THEN next_attempt_at
                           ELSE %(now)s END,
    attempts = 0, deadline_from = %(now)s, updated_at = %(now)s
WHERE state = 'pending' AND destination IS NOT NULL AND kind = ANY(%(kinds)s::text[])
  AND destination <> COALESCE((SELECT value FROM outbox_settings
                               WHERE name = 'events_url'), '')
  AND (%(from_destination)s::text IS NULL OR destination = %(from_destination)s::text)
  AND (%(routing_key)s::text IS NULL OR routing_key = %(routing_key)s::text)
RETURNING id;

-- name: redirect
-- Only Events API rows take an Events API URL (kinds).
UPDATE outbox SET destination = %(to)s, updated_at = %(now)s
WHERE id = ANY(%(ids)s::bigint[]) AND state IN ('pending', 'dead', 'suppressed')
  AND kind = ANY(%(kinds)s::text[]);

-- name: purge
DELETE FROM outbox
WHERE state = ANY(%(states)s::text[])
  AND (%(before)s::double precision IS NULL OR updated_at < %(before)s::double precision);

-- name: pause
INSERT INTO outbox_paused (routing_key, paused_at) VALUES (%(routing_key)s, %(now)s)
ON CONFLICT (routing_key) DO NOTHING;

-- name: resume
DELETE FROM outbox_paused WHERE routing_key = %(routing_key)s;

-- name: paused
SELECT routing_key FROM outbox_paused ORDER BY routing_key;

-- name: rate_init
INSERT INTO outbox_rate (routing_key, tokens, updated_at) VALUES (%(routing_key)s, %(burst)s, %(now)s)
ON CONFLICT (routing_key) DO NOTHING;

-- name: rate_get
SELECT tokens, updated_at FROM outbox_rate WHERE routing_key = %(routing_key)s FOR UPDATE;

-- name: rate_put
UPDATE outbox_rate SET tokens = %(tokens)s, updated_at = %(now)s
WHERE routing_key = %(routing_key)s;

-- name: rate_throttle
INSERT INTO outbox_rate (routing_key, tokens, updated_at) VALUES (%(routing_key)s, 0, %(until)s)
ON CONFLICT (routing_key) DO UPDATE
SET tokens = 0, updated_at = GREATEST(outbox_rate.updated_at, excluded.updated_at);
