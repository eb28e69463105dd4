-- A second pair of eyes (issue 26): where the model is unsure
-- (TAGBOT_SECOND_OPINION, a score band the app knows), a reviewer's
-- Approve or Reject is a vote; two agreeing votes decide, two that
-- disagree make the suggestion disputed and only a lead decides it.
--
-- `review_votes` is append-only like `events`: a vote is taken back by a
-- new row (`verdict` = 'withdraw', `withdraws` = the vote's id). A vote is
-- *active* while nothing withdraws it. Every rule is the database's too,
-- whoever writes:
--   * a vote is the transaction's actor's (`tagbot.actor`, its name
--     `tagbot.actor_name`; a record, not authentication, as for events),
--     cast now (`clock_timestamp()`), numbered by the sequence (votes are
--     ordered by id), with the undo window the transaction asks for
--     (`tagbot.undo_secs`, as a decision);
--   * an approve or reject vote only on a pending suggestion, at most one
--     active vote per voter and suggestion (TB010), and not on a disputed
--     one (two active votes: a lead decides, TB011);
--   * a withdrawal only of an active vote on a pending suggestion, by its
--     voter or as a lead (`tagbot.undo_as_lead`), within the vote's window
--     (TB005 too late, TB006 not theirs);
--   * two agreeing active votes decide in their own transaction: one left
--     pending with them at commit is refused (TB011, a deferred check);
--   * a suggestion with active votes changes status only by agreement (two
--     active votes with the transition's verdict, the later one the
--     actor's) or, when disputed, by a lead's ruling (`tagbot.as_lead`);
--     anything else is refused (TB011). The status trigger writes the
--     active votes into the decision's event (`details.votes`; a lead's
--     decision of a dispute also `"ruling": true`), over anything the
--     caller said;
--   * an undo of a decision votes made withdraws its deciding vote (it
--     needs one more again); an undo of a ruling leaves both votes, so the
--     suggestion is disputed again.

CREATE TABLE review_votes (
    id            bigserial PRIMARY KEY,
    suggestion_id bigint NOT NULL REFERENCES lecture_tag_suggestions (id),
    -- As `events.actor`: `slack:U…`, `cli:<name>`.
    voter         text NOT NULL
        CONSTRAINT review_votes_voter_form CHECK (voter ~ '^(slack:[A-Z0-9]+|cli:\S.*)$'),
    voter_name    text,
    verdict       text NOT NULL
        CONSTRAINT review_votes_verdict CHECK (verdict IN ('approve', 'reject', 'withdraw')),
    reason        text
        CONSTRAINT review_votes_reason
            CHECK (reason IN ('wrong_topic', 'too_broad', 'too_narrow', 'duplicate', 'other')),
    withdraws     bigint REFERENCES review_votes (id),
    voted_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- How long the vote can be withdrawn (as a decision's `undo_secs`).
    undo_secs     integer NOT NULL DEFAULT 0,
    CONSTRAINT review_votes_reason_with_reject CHECK (reason IS NULL OR verdict = 'reject'),
    CONSTRAINT review_votes_withdraw_names_a_vote CHECK ((verdict = 'withdraw') = (withdraws IS NOT NULL))
);
CREATE INDEX idx_review_votes_suggestion ON review_votes (suggestion_id, id);
-- A vote is withdrawn at most once.
CREATE UNIQUE INDEX idx_review_votes_withdrawn_once ON review_votes (withdraws)
    WHERE withdraws IS NOT NULL;

GRANT SELECT, INSERT ON review_votes TO tagbot_runtime;
GRANT USAGE ON SEQUENCE review_votes_id_seq TO tagbot_runtime;

DO $migration$
DECLARE
    s text := current_schema();
BEGIN
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_append_only() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            RAISE EXCEPTION '%% is append-only: %% refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'TB002';
        END
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_as_lead() RETURNS boolean
        LANGUAGE sql STABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT coalesce(nullif(current_setting('tagbot.as_lead', true), '')::boolean, false)
        $body$;
    $fn$, s);

    -- The suggestion's active votes (approve or reject, not withdrawn),
    -- oldest first.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_active_votes(suggestion bigint) RETURNS SETOF %1$I.review_votes
        LANGUAGE sql STABLE SET search_path = %1$I, pg_temp AS $body$
            SELECT v.* FROM %1$I.review_votes v
            WHERE v.suggestion_id = suggestion AND v.verdict <> 'withdraw'
              AND NOT EXISTS (SELECT 1 FROM %1$I.review_votes w WHERE w.withdraws = v.id)
            ORDER BY v.id
        $body$;
    $fn$, s);

    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_vote_check() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            status text;
            withdrawn %1$I.review_votes;
            active integer;
        BEGIN
            IF coalesce(current_setting('tagbot.actor', true), '') = '' THEN
                RAISE EXCEPTION 'a vote on suggestion %% has no actor', NEW.suggestion_id
                    USING ERRCODE = 'TB003',
                          HINT = 'SET LOCAL tagbot.actor = ''cli:<your name>'' in the same transaction.';
            END IF;
            IF NEW.voter <> current_setting('tagbot.actor') THEN
                RAISE EXCEPTION 'a vote is cast by the transaction''s actor %%, not %%',
                    current_setting('tagbot.actor'), NEW.voter
                    USING ERRCODE = 'TB006';
            END IF;
            -- Votes are ordered by id ("the later vote is the actor's"):
            -- the sequence's, never the writer's.
            NEW.id := nextval(pg_get_serial_sequence('%1$I.review_votes', 'id'));
            NEW.voter_name := nullif(current_setting('tagbot.actor_name', true), '');
            NEW.voted_at := clock_timestamp();
            NEW.undo_secs := CASE WHEN NEW.verdict = 'withdraw' THEN 0
                                  ELSE %1$I.tagbot_undo_secs_asked() END;

            SELECT s.status INTO status FROM %1$I.lecture_tag_suggestions s
            WHERE s.id = NEW.suggestion_id FOR UPDATE;
            IF status IS DISTINCT FROM 'pending' THEN
                RAISE EXCEPTION 'suggestion %% is %%: only a pending suggestion takes votes',
                    NEW.suggestion_id, coalesce(status, 'missing')
                    USING ERRCODE = 'TB010';
            END IF;

            IF NEW.verdict = 'withdraw' THEN
                SELECT v.* INTO withdrawn FROM %1$I.review_votes v WHERE v.id = NEW.withdraws;
                IF withdrawn.suggestion_id IS DISTINCT FROM NEW.suggestion_id
                    OR withdrawn.verdict = 'withdraw'
                    OR EXISTS (SELECT 1 FROM %1$I.review_votes w WHERE w.withdraws = withdrawn.id) THEN
                    RAISE EXCEPTION 'vote %% is not an active vote on suggestion %%',
                        NEW.withdraws, NEW.suggestion_id
                        USING ERRCODE = 'TB010';
                END IF;
                IF withdrawn.voter <> NEW.voter AND NOT %1$I.tagbot_undo_as_lead() THEN
                    RAISE EXCEPTION 'only %% may withdraw vote %%', withdrawn.voter, withdrawn.id
                        USING ERRCODE = 'TB006',
                              HINT = 'A lead sets tagbot.undo_as_lead = true in the same transaction; it is recorded.';
                END IF;
                IF clock_timestamp() > withdrawn.voted_at + withdrawn.undo_secs * interval '1 second' THEN
                    RAISE EXCEPTION 'vote %% can no longer be withdrawn (window of %% s)',
                        withdrawn.id, withdrawn.undo_secs
                        USING ERRCODE = 'TB005';
                END IF;
                RETURN NEW;
            END IF;

            IF EXISTS (SELECT 1 FROM %1$I.tagbot_active_votes(NEW.suggestion_id) v
                       WHERE v.voter = NEW.voter) THEN
                RAISE EXCEPTION '%% has voted on suggestion %% already', NEW.voter, NEW.suggestion_id
                    USING ERRCODE = 'TB010';
            END IF;
            SELECT count(*) INTO active FROM %1$I.tagbot_active_votes(NEW.suggestion_id);
            IF active >= 2 THEN
                RAISE EXCEPTION 'suggestion %% has two votes that disagree: a lead decides it',
                    NEW.suggestion_id
                    USING ERRCODE = 'TB011';
            END IF;
            RETURN NEW;
        END
        $body$;
    $fn$, s);

    -- Before a status change of a suggestion with active votes: only
    -- agreement or a lead's ruling decides it (see the top of this file).
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_decided_by_votes() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            verdicts text[];
            voters text[];
            wanted text := CASE NEW.status WHEN 'approved' THEN 'approve'
                                           WHEN 'rejected' THEN 'reject' END;
        BEGIN
            IF NEW.status IS NOT DISTINCT FROM OLD.status OR OLD.status <> 'pending'
                OR wanted IS NULL THEN
                RETURN NEW;
            END IF;
            SELECT array_agg(v.verdict ORDER BY v.id), array_agg(v.voter ORDER BY v.id)
                INTO verdicts, voters
            FROM %1$I.tagbot_active_votes(OLD.id) v;
            IF verdicts IS NULL THEN
                RETURN NEW;
            END IF;
            IF cardinality(verdicts) = 2 AND verdicts[1] = wanted AND verdicts[2] = wanted
                AND voters[2] = current_setting('tagbot.actor') THEN
                RETURN NEW;
            END IF;
            IF cardinality(verdicts) = 2 AND verdicts[1] <> verdicts[2] AND %1$I.tagbot_as_lead() THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'suggestion %% has votes (%%): two agreeing votes decide it (the second voter deciding), or a lead''s ruling when they disagree',
                OLD.id, array_to_string(verdicts, ', ')
                USING ERRCODE = 'TB011';
        END
        $body$;
    $fn$, s);

    -- The audit trigger of migration 0018, plus the votes: a decision's
    -- event carries the suggestion's active votes (and says when it was a
    -- lead's ruling of a dispute); an undo of a decision votes made
    -- withdraws its deciding vote, as the one who undid it.
    EXECUTE format($fn$
        CREATE OR REPLACE FUNCTION %1$I.tagbot_suggestion_audit() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            details jsonb := coalesce(nullif(current_setting('tagbot.details', true), '')::jsonb, '{}'::jsonb);
            event_action text := %1$I.tagbot_transition_action(OLD.status, NEW.status);
            votes jsonb;
            undone %1$I.events;
        BEGIN
            IF NEW.last_error IS NOT NULL AND NEW.status = 'failed' THEN
                details := details || jsonb_build_object('error', NEW.last_error);
                IF NEW.last_error_category IS NOT NULL THEN
                    details := details || jsonb_build_object('category', NEW.last_error_category);
                END IF;
            END IF;
            -- Set here, over anything the caller's details said: the log
            -- is what an undo trusts.
            details := details - 'votes' - 'ruling';
            IF event_action IN ('approve', 'reject', 'undo') THEN
                details := details || jsonb_build_object('action_id', pg_current_xact_id()::text);
            END IF;
            IF event_action IN ('approve', 'reject') THEN
                details := details || jsonb_build_object('undo_secs', %1$I.tagbot_undo_secs_asked());
                SELECT jsonb_agg(jsonb_build_object(
                           'voter', v.voter, 'voter_name', v.voter_name, 'verdict', v.verdict,
                           'reason', v.reason, 'voted_at', v.voted_at) ORDER BY v.id)
                    INTO votes
                FROM %1$I.tagbot_active_votes(NEW.id) v;
                IF votes IS NOT NULL THEN
                    details := details || jsonb_build_object('votes', votes);
                    IF votes->0->>'verdict' <> votes->1->>'verdict' THEN
                        details := details || jsonb_build_object('ruling', true);
                    END IF;
                END IF;
            ELSIF event_action = 'undo' THEN
                undone := %1$I.tagbot_latest_status_event(NEW.id);
                details := (details - 'as_lead') || jsonb_build_object('undoes', undone.id);
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
            -- Votes made the undone decision: its deciding vote (the
            -- decider's) goes, so it needs one more again. A ruling keeps
            -- both: disputed again.
            IF event_action = 'undo' AND undone.details ? 'votes'
                AND NOT coalesce((undone.details->>'ruling')::boolean, false) THEN
                INSERT INTO %1$I.review_votes (suggestion_id, voter, verdict, withdraws)
                SELECT NEW.id, current_setting('tagbot.actor'), 'withdraw', v.id
                FROM %1$I.tagbot_active_votes(NEW.id) v
                WHERE v.voter = undone.actor;
            END IF;
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    -- At commit: a suggestion left pending with two active votes that
    -- agree was voted on without the decision they make; refused, so
    -- agreement always decides in the same transaction.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_agreement_decides() RETURNS trigger
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        DECLARE
            verdicts text[];
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM %1$I.lecture_tag_suggestions s
                           WHERE s.id = NEW.suggestion_id AND s.status = 'pending') THEN
                RETURN NULL;
            END IF;
            SELECT array_agg(v.verdict) INTO verdicts FROM %1$I.tagbot_active_votes(NEW.suggestion_id) v;
            IF cardinality(verdicts) = 2 AND verdicts[1] = verdicts[2] THEN
                RAISE EXCEPTION 'suggestion %% has two votes to %% but is still pending: the second vote makes the decision in its transaction',
                    NEW.suggestion_id, verdicts[1]
                    USING ERRCODE = 'TB011';
            END IF;
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    -- A vote changes what a lecture's review message shows ("approved by
    -- דנה · needs one more"), as a status change does.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_vote_message_stale() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            UPDATE %1$I.slack_review_messages m
            SET content_version = content_version + 1, updated_at = now()
            FROM %1$I.lecture_tag_suggestions s
            WHERE s.id = NEW.suggestion_id AND m.lecture_external_id = s.lecture_external_id;
            PERFORM pg_notify('tagbot_slack', '');
            RETURN NULL;
        END
        $body$;
    $fn$, s);
END
$migration$;

CREATE TRIGGER review_votes_append_only BEFORE UPDATE OR DELETE ON review_votes
    FOR EACH ROW EXECUTE FUNCTION tagbot_append_only();
CREATE TRIGGER review_votes_no_truncate BEFORE TRUNCATE ON review_votes
    FOR EACH STATEMENT EXECUTE FUNCTION tagbot_append_only();
CREATE TRIGGER review_votes_check BEFORE INSERT ON review_votes
    FOR EACH ROW EXECUTE FUNCTION tagbot_vote_check();
-- After sugg_guard (an illegal transition is refused first) and
-- sugg_reject_reason.
CREATE TRIGGER sugg_votes BEFORE UPDATE ON lecture_tag_suggestions
    FOR EACH ROW EXECUTE FUNCTION tagbot_decided_by_votes();
CREATE TRIGGER review_votes_message_stale AFTER INSERT ON review_votes
    FOR EACH ROW EXECUTE FUNCTION tagbot_vote_message_stale();
CREATE CONSTRAINT TRIGGER review_votes_agreement_decides AFTER INSERT ON review_votes
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION tagbot_agreement_decides();
