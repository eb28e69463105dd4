-- tagbot's review core: suggestions, their audit log, the sync queue, and the
-- state machine enforced by the database itself.
--
--   pending --approve--> approved --sync_ok--> synced
--      |                  |    ^
--    reject          sync_fail  retry
--      v                  v    |
--   rejected             failed
--
-- Every status change is one UPDATE whose trigger refuses any other transition
-- and appends exactly one row to `events`, with the actor taken from the
-- transaction-local setting `tagbot.actor` (and `tagbot.actor_name`,
-- `tagbot.details`). A hand-written fix therefore reads:
--   BEGIN; SET LOCAL tagbot.actor = 'cli:dana'; UPDATE ...; COMMIT;

CREATE TABLE lecture_tag_suggestions (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lecture_external_id text NOT NULL,
    tag_id              text NOT NULL,
    score               double precision NOT NULL
        CONSTRAINT sugg_score_range CHECK (score >= 0 AND score <= 1),
    rationale           text NOT NULL DEFAULT '',
    suggested_by        text NOT NULL,
    status              text NOT NULL DEFAULT 'pending'
        CONSTRAINT sugg_status_valid
        CHECK (status IN ('pending', 'approved', 'rejected', 'synced', 'failed')),
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sugg_lecture_tag_unique UNIQUE (lecture_external_id, tag_id)
);

-- Foreign keys only where the source is a table: a catalogue exposed through
-- views cannot be referenced, and intake validates ids against it instead.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = 'enriched_lectures'::regclass AND relkind IN ('r', 'p')) THEN
        ALTER TABLE lecture_tag_suggestions ADD CONSTRAINT sugg_lecture_fk
            FOREIGN KEY (lecture_external_id) REFERENCES enriched_lectures (lecture_external_id);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class WHERE oid = 'tags'::regclass AND relkind IN ('r', 'p')) THEN
        ALTER TABLE lecture_tag_suggestions ADD CONSTRAINT sugg_tag_fk
            FOREIGN KEY (tag_id) REFERENCES tags (tag_id);
    END IF;
END
$$;

-- (status, lecture) serves both "which lectures have pending work" probes and
-- status counts; (lecture, score) serves a lecture's suggestions in score order.
CREATE INDEX idx_sugg_status ON lecture_tag_suggestions (status, lecture_external_id);
CREATE INDEX idx_sugg_lecture ON lecture_tag_suggestions (lecture_external_id, score DESC);

CREATE TABLE events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    suggestion_id       bigint NOT NULL REFERENCES lecture_tag_suggestions (id),
    lecture_external_id text NOT NULL,
    tag_id              text NOT NULL,
    actor               text NOT NULL
        CONSTRAINT events_actor_form CHECK (actor ~ '^(slack:[A-Z0-9]+|worker|cli:\S.*)$'),
    actor_name          text,
    action              text NOT NULL
        CONSTRAINT events_action_valid
        CHECK (action IN ('approve', 'reject', 'enqueue', 'sync_ok', 'sync_fail', 'retry')),
    from_status         text NOT NULL,
    to_status           text NOT NULL,
    details             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_events_suggestion ON events (suggestion_id, id);
CREATE INDEX idx_events_lecture ON events (lecture_external_id, id);

-- The audit log is append-only even for its owner: rows cannot be changed or
-- removed, the table cannot be emptied.
CREATE FUNCTION tagbot_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only: % refused', TG_OP
        USING ERRCODE = 'TB002';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION tagbot_events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION tagbot_events_append_only();

-- The action a status change is, or NULL when the change is not a transition
-- of the state machine. Mirrors `Transition` in src/domain/status.rs; a test
-- compares the two over every pair of statuses.
CREATE FUNCTION tagbot_transition_action(from_status text, to_status text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN from_status = 'pending'  AND to_status = 'approved' THEN 'approve'
        WHEN from_status = 'pending'  AND to_status = 'rejected' THEN 'reject'
        WHEN from_status = 'approved' AND to_status = 'synced'   THEN 'sync_ok'
        WHEN from_status = 'approved' AND to_status = 'failed'   THEN 'sync_fail'
        WHEN from_status = 'failed'   AND to_status = 'approved' THEN 'retry'
    END
$$;

CREATE FUNCTION tagbot_suggestion_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status <> 'pending' THEN
            RAISE EXCEPTION 'a suggestion starts as pending, not %', NEW.status
                USING ERRCODE = 'TB001';
        END IF;
        RETURN NEW;
    END IF;

    IF NEW.id <> OLD.id
        OR NEW.lecture_external_id <> OLD.lecture_external_id
        OR NEW.tag_id <> OLD.tag_id THEN
        RAISE EXCEPTION 'suggestion % cannot change its lecture or tag', OLD.id
            USING ERRCODE = 'TB001';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF tagbot_transition_action(OLD.status, NEW.status) IS NULL THEN
            RAISE EXCEPTION 'illegal status transition % -> % for suggestion %',
                OLD.status, NEW.status, OLD.id
                USING ERRCODE = 'TB001';
        END IF;
        IF coalesce(current_setting('tagbot.actor', true), '') = '' THEN
            RAISE EXCEPTION 'status change of suggestion % has no actor', OLD.id
                USING ERRCODE = 'TB003',
                      HINT = 'SET LOCAL tagbot.actor = ''cli:<your name>'' in the same transaction.';
        END IF;
    END IF;

    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER sugg_guard BEFORE INSERT OR UPDATE ON lecture_tag_suggestions
    FOR EACH ROW EXECUTE FUNCTION tagbot_suggestion_guard();

-- Runs after the row is final, so the event records exactly what happened.
CREATE FUNCTION tagbot_suggestion_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    details jsonb := coalesce(nullif(current_setting('tagbot.details', true), '')::jsonb, '{}'::jsonb);
BEGIN
    IF NEW.last_error IS NOT NULL AND NEW.status = 'failed' THEN
        details := details || jsonb_build_object('error', NEW.last_error);
    END IF;
    INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, actor_name,
                        action, from_status, to_status, details)
    VALUES (NEW.id, NEW.lecture_external_id, NEW.tag_id,
            current_setting('tagbot.actor'),
            nullif(current_setting('tagbot.actor_name', true), ''),
            tagbot_transition_action(OLD.status, NEW.status),
            OLD.status, NEW.status, details);
    RETURN NULL;
END
$$;
CREATE TRIGGER sugg_audit AFTER UPDATE OF status ON lecture_tag_suggestions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION tagbot_suggestion_audit();

-- The sync queue: one item per (lecture, tag), requeued rather than duplicated.
CREATE TABLE airtable_sync_items (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lecture_external_id text NOT NULL,
    tag_id              text NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
        CONSTRAINT sync_items_status_valid
        CHECK (status IN ('queued', 'in_flight', 'done', 'failed')),
    attempt             integer NOT NULL DEFAULT 0 CONSTRAINT sync_items_attempt_nonneg CHECK (attempt >= 0),
    last_error          text,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    leased_by           text,
    lease_expires_at    timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_items_lecture_tag_unique UNIQUE (lecture_external_id, tag_id),
    -- An item is leased exactly while it is in flight.
    CONSTRAINT sync_items_lease_when_in_flight
        CHECK ((status = 'in_flight') = (leased_by IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX idx_sync_items_due ON airtable_sync_items (next_attempt_at) WHERE status = 'queued';

-- One row per lecture with pending suggestions, everything the review UI
-- shows in one round trip. The lateral aggregate runs only for the lectures
-- a query returns, so a first page ordered by lecture id stays cheap however
-- large the catalogue.
CREATE VIEW v_pending_lectures AS
SELECT
    l.lecture_external_id,
    l.title,
    agg.pending_count,
    agg.approved_count,
    agg.rejected_count,
    agg.synced_count,
    agg.failed_count,
    agg.oldest_pending_at,
    agg.suggestions
FROM enriched_lectures l
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE s.status = 'pending')  AS pending_count,
        count(*) FILTER (WHERE s.status = 'approved') AS approved_count,
        count(*) FILTER (WHERE s.status = 'rejected') AS rejected_count,
        count(*) FILTER (WHERE s.status = 'synced')   AS synced_count,
        count(*) FILTER (WHERE s.status = 'failed')   AS failed_count,
        min(s.created_at) FILTER (WHERE s.status = 'pending') AS oldest_pending_at,
        jsonb_agg(jsonb_build_object(
            'id', s.id,
            'tag_id', s.tag_id,
            'tag_name', coalesce(t.name, s.tag_id),
            'score', s.score,
            'rationale', s.rationale,
            'model', s.suggested_by,
            'status', s.status,
            'last_error', s.last_error,
            'created_at', s.created_at,
            'updated_at', s.updated_at
        ) ORDER BY s.score DESC, s.id) AS suggestions
    FROM lecture_tag_suggestions s
    LEFT JOIN tags t ON t.tag_id = s.tag_id
    WHERE s.lecture_external_id = l.lecture_external_id
) agg
WHERE EXISTS (
    SELECT 1 FROM lecture_tag_suggestions p
    WHERE p.status = 'pending' AND p.lecture_external_id = l.lecture_external_id
);

GRANT SELECT, INSERT, UPDATE ON lecture_tag_suggestions TO tagbot_runtime;
GRANT SELECT, INSERT ON events TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON airtable_sync_items TO tagbot_runtime;
GRANT SELECT ON v_pending_lectures TO tagbot_runtime;
