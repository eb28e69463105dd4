-- The Airtable sync worker's coordination state. Postgres is the only thing
-- several worker processes share, so leases, the request budget and the run
-- reports live here.

-- One lease per lecture: only its holder may read-modify-write the lecture's
-- Airtable record, so two workers never race on one record. The items of a
-- leased lecture are `in_flight` with the same holder and expiry. A lease
-- whose worker died simply expires and the lecture can be claimed again.
CREATE TABLE airtable_sync_leases (
    lecture_external_id text PRIMARY KEY,
    leased_by           text NOT NULL,
    lease_expires_at    timestamptz NOT NULL
);

-- The shared request budget per Airtable base. Each request reserves the
-- next free send slot (slots are spaced so the base never sees more than its
-- limit per second); a 429 pushes every slot past `paused_until`.
CREATE TABLE airtable_request_budget (
    base_id      text PRIMARY KEY,
    next_slot    timestamptz NOT NULL DEFAULT '-infinity',
    paused_until timestamptz NOT NULL DEFAULT '-infinity',
    requests     bigint NOT NULL DEFAULT 0,
    pauses       bigint NOT NULL DEFAULT 0
);

-- One row per sync run that did something, with its end-of-run report.
CREATE TABLE sync_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    worker_id   text NOT NULL,
    dry_run     boolean NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    report      jsonb NOT NULL
);
CREATE INDEX idx_sync_runs_finished ON sync_runs (finished_at DESC);

-- Wake idle workers when work is queued; `pg_notify` folds identical
-- notifications of one transaction into one.
CREATE FUNCTION tagbot_sync_items_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tagbot_sync', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER sync_items_notify AFTER INSERT OR UPDATE OF status ON airtable_sync_items
    FOR EACH ROW WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION tagbot_sync_items_notify();

-- Claiming walks queued items in the order they fall due (idx_sync_items_due)
-- and stops after a batch's worth; items whose worker died are found by
-- their lease.
CREATE INDEX idx_sync_items_lease ON airtable_sync_items (lease_expires_at) WHERE status = 'in_flight';

GRANT SELECT, INSERT, UPDATE, DELETE ON airtable_sync_leases TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE ON airtable_request_budget TO tagbot_runtime;
GRANT SELECT, INSERT ON sync_runs TO tagbot_runtime;
