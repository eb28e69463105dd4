-- Undo: a decision taken back within its window (issue 24).
--
--   approved --undo--> pending      rejected --undo--> pending
--
-- Every rule is the trigger's, so a hand-written UPDATE obeys it too:
--   * the undone event is the suggestion's latest status event, and it is an
--     `approve` or `reject` (a `retry` or a sync outcome cannot be undone);
--   * its window: `details.undo_secs` of that event, stamped by the audit
--     trigger when the decision was made from the decision's transaction
--     setting `tagbot.undo_secs` (the app sets TAGBOT_UNDO_SECS there; at
--     most an hour, none when unset), counted from the event's `created_at`
--     with clock_timestamp(). The window lives in the append-only log, so
--     nothing set at undo time can widen it;
--   * an approval only while its sync item is `queued` at attempt 0 (locked
--     here; deleted with the undo): once the worker has it, the tag may be
--     in Airtable already;
--   * only by the undone event's actor, unless the transaction sets
--     `tagbot.undo_as_lead` (the app does for SLACK_LEADS alone); then the
--     undo event's details say `"as_lead": true`. A record, not
--     authentication.
-- The undo event's `details.undoes` is the undone event's id. Decisions
-- and undos carry `details.action_id`, their transaction's id, which
-- groups the events one action made (an Approve all, a session's save).
--
-- Refusals: TB005 the window has passed (or there was none), TB006 not the
-- decider and not as a lead, TB007 the tag has left for Airtable, TB008
-- the latest status event is not the decision being taken back.
--
-- Status events are the status trigger's alone: a hand-written INSERT into
-- `events` may add only what changes no status (`enqueue`, a transient
-- `sync_fail`), so no one can forge a decision, or its window, to undo.

ALTER TABLE events DROP CONSTRAINT events_action_valid;
ALTER TABLE events ADD CONSTRAINT events_action_valid
    CHECK (action IN ('approve', 'reject', 'enqueue', 'sync_ok', 'sync_fail', 'retry', 'undo'));

DO $migration$
DECLARE
    s text := current_schema();
BEGIN
    -- Mirrors `Transition` in src/domain/status.rs (a test compares them).
    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_transition_action(from_status text, to_status text) RETURNS text
        LANGUAGE sql IMMUTABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT CASE
                WHEN from_status = 'pending'  AND to_status = 'approved' THEN 'approve'
                WHEN from_status = 'pending'  AND to_status = 'rejected' THEN 'reject'
                WHEN from_status = 'approved' AND to_status = 'synced'   THEN 'sync_ok'
                WHEN from_status = 'approved' AND to_status = 'failed'   THEN 'sync_fail'
                WHEN from_status = 'failed'   AND to_status = 'approved' THEN 'retry'
                WHEN from_status = 'approved' AND to_status = 'pending'  THEN 'undo'
                WHEN from_status = 'rejected' AND to_status = 'pending'  THEN 'undo'
            END
        $body$;
    $fn$, s);

    -- The suggestion's latest event that changed its status (what an undo
    -- would take back); NULL when it has none.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_latest_status_event(suggestion bigint) RETURNS %1$I.events
        LANGUAGE sql STABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT e.* FROM %1$I.events e
            WHERE e.suggestion_id = suggestion AND e.from_status <> e.to_status
            ORDER BY e.id DESC LIMIT 1
        $body$;
    $fn$, s);

    -- The undo window a decision's transaction asked for, in seconds.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_undo_secs_asked() RETURNS integer
        LANGUAGE sql STABLE SET search_path = %1$I, pg_temp AS $body$
            -- An hour at most, as TAGBOT_UNDO_SECS (config::MAX_UNDO_SECS).
            SELECT least(greatest(coalesce(
                nullif(current_setting('tagbot.undo_secs', true), '')::integer, 0), 0), 3600)
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_undo_as_lead() RETURNS boolean
        LANGUAGE sql STABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT coalesce(nullif(current_setting('tagbot.undo_as_lead', true), '')::boolean, false)
        $body$;
    $fn$, s);

    -- Every rule of an undo (see the top of this file), checked before
    -- the row changes; an approval's sync item is locked and deleted.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_undo_check(old_row %1$I.lecture_tag_suggestions) RETURNS void
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            undone %1$I.events;
            item record;
            window_secs integer;
        BEGIN
            undone := %1$I.tagbot_latest_status_event(old_row.id);
            IF undone.id IS NULL OR undone.action NOT IN ('approve', 'reject')
                OR undone.to_status <> old_row.status THEN
                RAISE EXCEPTION 'suggestion %% cannot be undone: its latest status change is %%, not a decision',
                    old_row.id, coalesce(undone.action, 'none')
                    USING ERRCODE = 'TB008';
            END IF;
            window_secs := coalesce((undone.details->>'undo_secs')::integer, 0);
            IF clock_timestamp() > undone.created_at + window_secs * interval '1 second' THEN
                RAISE EXCEPTION 'suggestion %%: the %% of %% can no longer be undone (window of %% s)',
                    old_row.id, undone.action, undone.created_at, window_secs
                    USING ERRCODE = 'TB005';
            END IF;
            IF undone.actor <> current_setting('tagbot.actor') AND NOT %1$I.tagbot_undo_as_lead() THEN
                RAISE EXCEPTION 'suggestion %%: only %% may undo their %%', old_row.id, undone.actor, undone.action
                    USING ERRCODE = 'TB006',
                          HINT = 'A lead sets tagbot.undo_as_lead = true in the same transaction; it is recorded.';
            END IF;
            IF undone.action = 'approve' THEN
                SELECT i.id, i.status, i.attempt INTO item FROM %1$I.airtable_sync_items i
                WHERE i.lecture_external_id = old_row.lecture_external_id AND i.tag_id = old_row.tag_id
                FOR UPDATE;
                -- No item: the approval was made in a dry run (or by hand)
                -- and nothing is on its way to Airtable.
                IF FOUND THEN
                    IF item.status <> 'queued' OR item.attempt <> 0 THEN
                        RAISE EXCEPTION 'suggestion %%: its sync item is %% at attempt %%; the tag may be in Airtable',
                            old_row.id, item.status, item.attempt
                            USING ERRCODE = 'TB007';
                    END IF;
                    DELETE FROM %1$I.airtable_sync_items WHERE id = item.id;
                END IF;
            END IF;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_suggestion_guard() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            -- A model name keys calibration's counts (an index entry): one
            -- of kilobytes would make every decision on it fail inside the
            -- calibration trigger. Checked where a name is written, so rows
            -- already there keep working.
            IF (TG_OP = 'INSERT' OR NEW.suggested_by IS DISTINCT FROM OLD.suggested_by)
                AND char_length(NEW.suggested_by) NOT BETWEEN 1 AND 200 THEN
                RAISE EXCEPTION 'a model name (suggested_by) has 1 to 200 characters, not %%',
                    char_length(NEW.suggested_by)
                    USING ERRCODE = 'TB004';
            END IF;

            IF TG_OP = 'INSERT' THEN
                IF NEW.status <> 'pending' THEN
                    RAISE EXCEPTION 'a suggestion starts as pending, not %%', NEW.status
                        USING ERRCODE = 'TB001';
                END IF;
                RETURN NEW;
            END IF;

            IF NEW.id <> OLD.id
                OR NEW.lecture_external_id <> OLD.lecture_external_id
                OR NEW.tag_id <> OLD.tag_id THEN
                RAISE EXCEPTION 'suggestion %% cannot change its lecture or tag', OLD.id
                    USING ERRCODE = 'TB001';
            END IF;

            IF NEW.status IS DISTINCT FROM OLD.status THEN
                IF %1$I.tagbot_transition_action(OLD.status, NEW.status) IS NULL THEN
                    RAISE EXCEPTION 'illegal status transition %% -> %% for suggestion %%',
                        OLD.status, NEW.status, OLD.id
                        USING ERRCODE = 'TB001';
                END IF;
                IF coalesce(current_setting('tagbot.actor', true), '') = '' THEN
                    RAISE EXCEPTION 'status change of suggestion %% has no actor', OLD.id
                        USING ERRCODE = 'TB003',
                              HINT = 'SET LOCAL tagbot.actor = ''cli:<your name>'' in the same transaction.';
                END IF;
                IF %1$I.tagbot_transition_action(OLD.status, NEW.status) = 'undo' THEN
                    PERFORM %1$I.tagbot_undo_check(OLD);
                END IF;
            END IF;

            NEW.updated_at := now();
            RETURN NEW;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_suggestion_audit() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            details jsonb := coalesce(nullif(current_setting('tagbot.details', true), '')::jsonb, '{}'::jsonb);
            event_action text := %1$I.tagbot_transition_action(OLD.status, NEW.status);
        BEGIN
            IF NEW.last_error IS NOT NULL AND NEW.status = 'failed' THEN
                details := details || jsonb_build_object('error', NEW.last_error);
                IF NEW.last_error_category IS NOT NULL THEN
                    details := details || jsonb_build_object('category', NEW.last_error_category);
                END IF;
            END IF;
            -- Set here, over anything the caller's details said: the log
            -- is what an undo trusts.
            IF event_action IN ('approve', 'reject', 'undo') THEN
                details := details || jsonb_build_object('action_id', pg_current_xact_id()::text);
            END IF;
            IF event_action IN ('approve', 'reject') THEN
                details := details || jsonb_build_object('undo_secs', %1$I.tagbot_undo_secs_asked());
            ELSIF event_action = 'undo' THEN
                -- The guard found it; nothing has changed it since (the
                -- row is locked by this statement).
                details := (details - 'as_lead')
                    || jsonb_build_object('undoes', (%1$I.tagbot_latest_status_event(NEW.id)).id);
                IF %1$I.tagbot_undo_as_lead() THEN
                    details := details || jsonb_build_object('as_lead', true);
                END IF;
            END IF;
            INSERT INTO %1$I.events (suggestion_id, lecture_external_id, tag_id, actor, actor_name,
                                     action, from_status, to_status, details)
            VALUES (NEW.id, NEW.lecture_external_id, NEW.tag_id,
                    current_setting('tagbot.actor'),
                    nullif(current_setting('tagbot.actor_name', true), ''),
                    event_action, OLD.status, NEW.status, details);
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    -- A status event comes from the status trigger (one level down); what
    -- a session inserts itself changes no status.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_events_written_by_trigger() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            IF pg_trigger_depth() < 2
                AND (NEW.from_status <> NEW.to_status OR NEW.action NOT IN ('enqueue', 'sync_fail')) THEN
                RAISE EXCEPTION 'a %% event (%% -> %%) is written by the status trigger, not inserted',
                    NEW.action, NEW.from_status, NEW.to_status
                    USING ERRCODE = 'TB001',
                          HINT = 'Change the suggestion''s status with an UPDATE instead.';
            END IF;
            RETURN NEW;
        END
        $body$;
    $fn$, s);
END
$migration$;

CREATE TRIGGER events_status_from_trigger BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION tagbot_events_written_by_trigger();
