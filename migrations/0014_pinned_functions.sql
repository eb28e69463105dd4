-- Every function tagbot's triggers run is pinned to the schema the
-- migrations run in, with pg_temp searched last.
--
-- Why: PUBLIC may create temporary tables by default, and a session's
-- temporary schema is searched *first* unless the path names it. A session
-- of the run-time role that made `CREATE TEMP TABLE events (...)` and then
-- changed a status would have had its audit row written into its own
-- temporary table (the same with `calibration_bins`), out of sight of
-- `public.events`. So every table and function a trigger touches is named
-- with its schema, and every function runs with
-- `search_path = <schema>, pg_temp` (PostgreSQL's advice for SECURITY
-- DEFINER functions, "Writing SECURITY DEFINER Functions Safely"). A
-- transition table (`old_rows`, `new_rows`) is found before any schema.
--
-- The schema is whichever these migrations run in (`current_schema()`),
-- hence the bodies are written through format(): `%1$I` is that schema.
DO $migration$
DECLARE
    s text := current_schema();
    f record;
BEGIN
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
        BEGIN
            IF NEW.last_error IS NOT NULL AND NEW.status = 'failed' THEN
                details := details || jsonb_build_object('error', NEW.last_error);
                IF NEW.last_error_category IS NOT NULL THEN
                    details := details || jsonb_build_object('category', NEW.last_error_category);
                END IF;
            END IF;
            INSERT INTO %1$I.events (suggestion_id, lecture_external_id, tag_id, actor, actor_name,
                                     action, from_status, to_status, details)
            VALUES (NEW.id, NEW.lecture_external_id, NEW.tag_id,
                    current_setting('tagbot.actor'),
                    nullif(current_setting('tagbot.actor_name', true), ''),
                    %1$I.tagbot_transition_action(OLD.status, NEW.status),
                    OLD.status, NEW.status, details);
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_slack_message_stale() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            UPDATE %1$I.slack_review_messages
            SET content_version = content_version + 1, updated_at = now()
            WHERE lecture_external_id = NEW.lecture_external_id;
            PERFORM pg_notify('tagbot_slack', '');
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_calibration_changed() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            INSERT INTO %1$I.calibration_bins AS c (model, tag_id, bin, decisions, approved, synced)
            SELECT model, tag_id, bin, sum(decisions), sum(approved), sum(synced)
            FROM (
                SELECT o.suggested_by AS model, o.tag_id, %1$I.tagbot_calibration_bin(o.score) AS bin,
                       -1 AS decisions,
                       -(o.status IN ('approved', 'synced', 'failed'))::integer AS approved,
                       -(o.status = 'synced')::integer AS synced
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE o.status <> 'pending'
                  AND (o.status, o.score, o.suggested_by) IS DISTINCT FROM (n.status, n.score, n.suggested_by)
                UNION ALL
                SELECT n.suggested_by, n.tag_id, %1$I.tagbot_calibration_bin(n.score),
                       1,
                       (n.status IN ('approved', 'synced', 'failed'))::integer,
                       (n.status = 'synced')::integer
                FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.status <> 'pending'
                  AND (o.status, o.score, o.suggested_by) IS DISTINCT FROM (n.status, n.score, n.suggested_by)
            ) AS changes
            GROUP BY model, tag_id, bin
            HAVING sum(decisions) <> 0 OR sum(approved) <> 0 OR sum(synced) <> 0
            ORDER BY model, tag_id, bin
            ON CONFLICT (model, tag_id, bin) DO UPDATE
                SET decisions = c.decisions + EXCLUDED.decisions,
                    approved = c.approved + EXCLUDED.approved,
                    synced = c.synced + EXCLUDED.synced;
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_calibration_recount() RETURNS void
        LANGUAGE sql SET search_path = %1$I, pg_temp AS $body$
            DELETE FROM %1$I.calibration_bins;
            INSERT INTO %1$I.calibration_bins (model, tag_id, bin, decisions, approved, synced)
            SELECT suggested_by, tag_id, %1$I.tagbot_calibration_bin(score),
                   count(*),
                   count(*) FILTER (WHERE status IN ('approved', 'synced', 'failed')),
                   count(*) FILTER (WHERE status = 'synced')
            FROM %1$I.lecture_tag_suggestions
            WHERE status <> 'pending'
            GROUP BY 1, 2, 3;
        $body$;
    $fn$, s);

    -- The rest touch no table (the append-only guard, the transition
    -- table, the bin of a score, the sync queue's wake-up); they are
    -- pinned all the same, so no function of tagbot's reads the caller's
    -- path. A test checks every function of the schema is pinned.
    FOR f IN
        SELECT p.oid::regprocedure AS signature
        FROM pg_proc p
        WHERE p.pronamespace = s::regnamespace AND p.proname LIKE 'tagbot\_%'
          AND pg_has_role(p.proowner, 'USAGE')
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f.signature, s);
    END LOOP;
END
$migration$;
