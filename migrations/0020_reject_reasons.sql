-- Why a tag was rejected (issue 25): a reject may carry one reason from a
-- fixed list (DESIGN.md), recorded in its event (`details.reason`) and on
-- the row while it stays rejected (`reject_reason`), where calibration's
-- trigger counts it like the other counts.
--
-- The row's reason is the status trigger's to set, never a writer's: it is
-- the reject's `tagbot.details` reason when a suggestion becomes
-- rejected, kept while the status stays, and cleared when it leaves
-- `rejected` (an undo), so a hand-written UPDATE can neither invent a
-- reason nor keep one its undo took back. A reason that is not one of the
-- five, or one given with anything but a reject, is refused (TB009) and
-- nothing moves.

ALTER TABLE lecture_tag_suggestions
    ADD COLUMN reject_reason text
        CONSTRAINT reject_reason_known
            CHECK (reject_reason IN ('wrong_topic', 'too_broad', 'too_narrow', 'duplicate', 'other')),
    ADD CONSTRAINT reject_reason_only_rejected
        CHECK (reject_reason IS NULL OR status = 'rejected');

-- Counts of rejections by reason, beside the other counts; a rejection
-- with no reason is the rest: (decisions - approved) - the five.
ALTER TABLE calibration_bins
    ADD COLUMN wrong_topic bigint NOT NULL DEFAULT 0,
    ADD COLUMN too_broad   bigint NOT NULL DEFAULT 0,
    ADD COLUMN too_narrow  bigint NOT NULL DEFAULT 0,
    ADD COLUMN duplicate   bigint NOT NULL DEFAULT 0,
    ADD COLUMN other       bigint NOT NULL DEFAULT 0;

DO $migration$
DECLARE
    s text := current_schema();
BEGIN
    -- Mirrors `RejectReason` in src/domain/reason.rs (a test compares them).
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_reject_reasons() RETURNS text[]
        LANGUAGE sql IMMUTABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT ARRAY['wrong_topic', 'too_broad', 'too_narrow', 'duplicate', 'other']
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_reject_reason() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            details jsonb := coalesce(nullif(current_setting('tagbot.details', true), '')::jsonb, '{}'::jsonb);
            asked text := details->>'reason';
        BEGIN
            IF NEW.status IS NOT DISTINCT FROM OLD.status THEN
                NEW.reject_reason := OLD.reject_reason;
                RETURN NEW;
            END IF;
            IF details ? 'reason' AND NEW.status <> 'rejected' THEN
                RAISE EXCEPTION 'a reason goes with a reject, not with %% -> %% of suggestion %%',
                    OLD.status, NEW.status, OLD.id
                    USING ERRCODE = 'TB009';
            END IF;
            IF asked IS NOT NULL AND NOT asked = ANY (%1$I.tagbot_reject_reasons()) THEN
                RAISE EXCEPTION 'unknown reject reason %% for suggestion %%', asked, OLD.id
                    USING ERRCODE = 'TB009',
                          HINT = 'One of wrong_topic, too_broad, too_narrow, duplicate, other.';
            END IF;
            NEW.reject_reason := CASE WHEN NEW.status = 'rejected' THEN asked END;
            RETURN NEW;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_calibration_changed() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            INSERT INTO %1$I.calibration_bins AS c
                (model, tag_id, bin, decisions, approved, synced,
                 wrong_topic, too_broad, too_narrow, duplicate, other)
            SELECT model, tag_id, bin, sum(decisions), sum(approved), sum(synced),
                   sum(wrong_topic), sum(too_broad), sum(too_narrow), sum(duplicate), sum(other)
            FROM (
                SELECT o.suggested_by AS model, o.tag_id, %1$I.tagbot_calibration_bin(o.score) AS bin,
                       -1 AS decisions,
                       -(o.status IN ('approved', 'synced', 'failed'))::integer AS approved,
                       -(o.status = 'synced')::integer AS synced,
                       -(o.reject_reason IS NOT DISTINCT FROM 'wrong_topic')::integer AS wrong_topic,
                       -(o.reject_reason IS NOT DISTINCT FROM 'too_broad')::integer AS too_broad,
                       -(o.reject_reason IS NOT DISTINCT FROM 'too_narrow')::integer AS too_narrow,
                       -(o.reject_reason IS NOT DISTINCT FROM 'duplicate')::integer AS duplicate,
                       -(o.reject_reason IS NOT DISTINCT FROM 'other')::integer AS other
                FROM old_rows o JOIN new_rows n ON n.id = o.id
                WHERE o.status <> 'pending'
                  AND (o.status, o.score, o.suggested_by, o.reject_reason)
                      IS DISTINCT FROM (n.status, n.score, n.suggested_by, n.reject_reason)
                UNION ALL
                SELECT n.suggested_by, n.tag_id, %1$I.tagbot_calibration_bin(n.score),
                       1,
                       (n.status IN ('approved', 'synced', 'failed'))::integer,
                       (n.status = 'synced')::integer,
                       (n.reject_reason IS NOT DISTINCT FROM 'wrong_topic')::integer,
                       (n.reject_reason IS NOT DISTINCT FROM 'too_broad')::integer,
                       (n.reject_reason IS NOT DISTINCT FROM 'too_narrow')::integer,
                       (n.reject_reason IS NOT DISTINCT FROM 'duplicate')::integer,
                       (n.reject_reason IS NOT DISTINCT FROM 'other')::integer
                FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.status <> 'pending'
                  AND (o.status, o.score, o.suggested_by, o.reject_reason)
                      IS DISTINCT FROM (n.status, n.score, n.suggested_by, n.reject_reason)
            ) AS changes
            GROUP BY model, tag_id, bin
            HAVING sum(decisions) <> 0 OR sum(approved) <> 0 OR sum(synced) <> 0
                OR sum(wrong_topic) <> 0 OR sum(too_broad) <> 0 OR sum(too_narrow) <> 0
                OR sum(duplicate) <> 0 OR sum(other) <> 0
            ORDER BY model, tag_id, bin
            ON CONFLICT (model, tag_id, bin) DO UPDATE
                SET decisions = c.decisions + EXCLUDED.decisions,
                    approved = c.approved + EXCLUDED.approved,
                    synced = c.synced + EXCLUDED.synced,
                    wrong_topic = c.wrong_topic + EXCLUDED.wrong_topic,
                    too_broad = c.too_broad + EXCLUDED.too_broad,
                    too_narrow = c.too_narrow + EXCLUDED.too_narrow,
                    duplicate = c.duplicate + EXCLUDED.duplicate,
                    other = c.other + EXCLUDED.other;
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_calibration_recount() RETURNS void
        LANGUAGE sql SET search_path = %1$I, pg_temp AS $body$
            DELETE FROM %1$I.calibration_bins;
            INSERT INTO %1$I.calibration_bins
                (model, tag_id, bin, decisions, approved, synced,
                 wrong_topic, too_broad, too_narrow, duplicate, other)
            SELECT suggested_by, tag_id, %1$I.tagbot_calibration_bin(score),
                   count(*),
                   count(*) FILTER (WHERE status IN ('approved', 'synced', 'failed')),
                   count(*) FILTER (WHERE status = 'synced'),
                   count(*) FILTER (WHERE reject_reason = 'wrong_topic'),
                   count(*) FILTER (WHERE reject_reason = 'too_broad'),
                   count(*) FILTER (WHERE reject_reason = 'too_narrow'),
                   count(*) FILTER (WHERE reject_reason = 'duplicate'),
                   count(*) FILTER (WHERE reject_reason = 'other')
            FROM %1$I.lecture_tag_suggestions
            WHERE status <> 'pending'
            GROUP BY 1, 2, 3;
        $body$;
    $fn$, s);
END
$migration$;

-- After sugg_guard (triggers of one kind fire in name order), which has
-- refused an illegal transition already.
CREATE TRIGGER sugg_reject_reason BEFORE UPDATE ON lecture_tag_suggestions
    FOR EACH ROW EXECUTE FUNCTION tagbot_reject_reason();
