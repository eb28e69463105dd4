-- How far reviewers agree (issue 27), kept as votes happen: the report
-- and `/tags stats` read it beside calibration's bins, so it must not cost
-- a pass over every vote and a look-up of each voted suggestion (1.9 s at
-- 100,000 votes and a million suggestions: BENCHMARKS.md). A trigger keeps
-- it, so no writer can forget to; the run-time role only reads it.
--
-- One row per suggestion with two or more active votes (a withdrawn vote
-- is not one): its model and score hundredth, and how many of its active
-- votes approve and reject (`agreement_items`); and one row per pair of
-- its active voters, `a` < `b`, with their verdicts (`agreement_pairs`).
-- Rows are keyed by suggestion: a vote rewrites only its suggestion's
-- rows, which the vote already holds locked (`tagbot_vote_check` takes
-- the suggestion FOR UPDATE), so concurrent votes on other suggestions
-- never wait on each other here and cannot deadlock.
CREATE TABLE agreement_items (
    suggestion_id bigint PRIMARY KEY REFERENCES lecture_tag_suggestions (id),
    model         text NOT NULL,
    bin           integer NOT NULL CONSTRAINT agreement_bin_range CHECK (bin BETWEEN 0 AND 99),
    approve       integer NOT NULL,
    reject        integer NOT NULL,
    CONSTRAINT agreement_items_two_votes CHECK (approve >= 0 AND reject >= 0 AND approve + reject >= 2)
);
CREATE TABLE agreement_pairs (
    suggestion_id bigint NOT NULL REFERENCES lecture_tag_suggestions (id),
    model         text NOT NULL,
    -- As `events.actor`.
    a             text NOT NULL,
    b             text NOT NULL,
    a_approves    boolean NOT NULL,
    b_approves    boolean NOT NULL,
    PRIMARY KEY (suggestion_id, a, b),
    CONSTRAINT agreement_pairs_ordered CHECK (a < b)
);
GRANT SELECT ON agreement_items, agreement_pairs TO tagbot_runtime;
-- The name each voter last voted under, for reports.
CREATE INDEX idx_review_votes_voter ON review_votes (voter, id);

DO $migration$
DECLARE
    s text := current_schema();
BEGIN
    -- A suggestion's rows afresh from its active votes: a handful, so
    -- recomputing beats keeping deltas right. Called by the triggers
    -- below, as the owner; nobody else may call it (revoked below).
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_agreement_refresh(suggestion bigint) RETURNS void
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            DELETE FROM %1$I.agreement_pairs WHERE suggestion_id = suggestion;
            DELETE FROM %1$I.agreement_items WHERE suggestion_id = suggestion;
            INSERT INTO %1$I.agreement_items (suggestion_id, model, bin, approve, reject)
            SELECT s.id, s.suggested_by, %1$I.tagbot_calibration_bin(s.score),
                   count(*) FILTER (WHERE v.verdict = 'approve'),
                   count(*) FILTER (WHERE v.verdict = 'reject')
            FROM %1$I.lecture_tag_suggestions s, %1$I.tagbot_active_votes(s.id) v
            WHERE s.id = suggestion
            GROUP BY s.id
            HAVING count(*) >= 2;
            INSERT INTO %1$I.agreement_pairs (suggestion_id, model, a, b, a_approves, b_approves)
            SELECT s.id, s.suggested_by, x.voter, y.voter, x.verdict = 'approve', y.verdict = 'approve'
            FROM %1$I.lecture_tag_suggestions s,
                 %1$I.tagbot_active_votes(s.id) x,
                 %1$I.tagbot_active_votes(s.id) y
            WHERE s.id = suggestion AND x.voter < y.voter;
        END
        $body$;
    $fn$, s);

    -- Every vote, cast or withdrawn, changes its suggestion's active votes.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_agreement_voted() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            PERFORM %1$I.tagbot_agreement_refresh(NEW.suggestion_id);
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    -- A voted suggestion whose score or model changes moves with it.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_agreement_rescored() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            IF EXISTS (SELECT 1 FROM %1$I.agreement_items i WHERE i.suggestion_id = NEW.id) THEN
                PERFORM %1$I.tagbot_agreement_refresh(NEW.id);
            END IF;
            RETURN NULL;
        END
        $body$;
    $fn$, s);

    -- Everything afresh: now, and after a load that bypassed triggers (a
    -- restore with session_replication_role = replica): run
    -- SELECT tagbot_agreement_recount(); as the owner.
    -- Without a join of the votes to themselves: each voted suggestion's
    -- active voters and verdicts in arrays (sorted by voter), its pairs
    -- from their subscripts. A restore's fresh tables have no statistics,
    -- and a self-join planned blind can run for hours.
    EXECUTE format($fn$
        CREATE FUNCTION %1$I.tagbot_agreement_recount() RETURNS void
        LANGUAGE plpgsql SET search_path = %1$I, pg_temp AS $body$
        BEGIN
            DELETE FROM %1$I.agreement_pairs;
            DELETE FROM %1$I.agreement_items;
            CREATE TEMPORARY TABLE tagbot_voted ON COMMIT DROP AS
                SELECT v.suggestion_id,
                       array_agg(v.voter ORDER BY v.voter) AS voters,
                       array_agg(v.verdict = 'approve' ORDER BY v.voter) AS approves
                FROM %1$I.review_votes v
                WHERE v.verdict <> 'withdraw'
                  AND NOT EXISTS (SELECT 1 FROM %1$I.review_votes w WHERE w.withdraws = v.id)
                GROUP BY v.suggestion_id
                HAVING count(*) >= 2;
            ANALYZE tagbot_voted;
            INSERT INTO %1$I.agreement_items (suggestion_id, model, bin, approve, reject)
            SELECT s.id, s.suggested_by, %1$I.tagbot_calibration_bin(s.score),
                   cardinality(array_positions(t.approves, true)),
                   cardinality(array_positions(t.approves, false))
            FROM tagbot_voted t JOIN %1$I.lecture_tag_suggestions s ON s.id = t.suggestion_id;
            INSERT INTO %1$I.agreement_pairs (suggestion_id, model, a, b, a_approves, b_approves)
            SELECT s.id, s.suggested_by, t.voters[i], t.voters[j], t.approves[i], t.approves[j]
            FROM tagbot_voted t
            JOIN %1$I.lecture_tag_suggestions s ON s.id = t.suggestion_id
            CROSS JOIN LATERAL generate_subscripts(t.voters, 1) AS i
            CROSS JOIN LATERAL generate_subscripts(t.voters, 1) AS j
            WHERE i < j;
            DROP TABLE tagbot_voted;
        END
        $body$;
    $fn$, s);
END
$migration$;
REVOKE EXECUTE ON FUNCTION tagbot_agreement_refresh(bigint) FROM PUBLIC;

CREATE TRIGGER review_votes_agreement AFTER INSERT ON review_votes
    FOR EACH ROW EXECUTE FUNCTION tagbot_agreement_voted();
CREATE TRIGGER sugg_agreement_rescored AFTER UPDATE OF score, suggested_by ON lecture_tag_suggestions
    FOR EACH ROW
    WHEN (OLD.score IS DISTINCT FROM NEW.score OR OLD.suggested_by IS DISTINCT FROM NEW.suggested_by)
    EXECUTE FUNCTION tagbot_agreement_rescored();

SELECT tagbot_agreement_recount();
