-- Calibration's counts, kept as decisions happen: per model, tag and score
-- hundredth, the decided suggestions, how many were approved (approved,
-- synced or failed to sync), synced, and removed in Airtable since. The App
-- Home and every review message read them, so they must not cost a scan of
-- every suggestion; triggers keep them, so no writer can forget to.
CREATE TABLE calibration_bins (
    model     text NOT NULL,
    tag_id    text NOT NULL,
    bin       integer NOT NULL CONSTRAINT calibration_bin_range CHECK (bin BETWEEN 0 AND 99),
    decisions bigint NOT NULL DEFAULT 0,
    approved  bigint NOT NULL DEFAULT 0,
    synced    bigint NOT NULL DEFAULT 0,
    removed   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (model, tag_id, bin)
);
GRANT SELECT ON calibration_bins TO tagbot_runtime;

-- A score's hundredth; 1 is in the last.
CREATE FUNCTION tagbot_calibration_bin(score double precision) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT least(greatest(floor(score * 100 + 1e-9)::integer, 0), 99)
$$;

-- Adds (sign 1) or takes away (sign -1) one suggestion's part.
CREATE FUNCTION tagbot_calibration_count(s lecture_tag_suggestions, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF s.status = 'pending' THEN
        RETURN;
    END IF;
    INSERT INTO calibration_bins AS c (model, tag_id, bin, decisions, approved, synced, removed)
    VALUES (s.suggested_by, s.tag_id, tagbot_calibration_bin(s.score), sign,
            CASE WHEN s.status IN ('approved', 'synced', 'failed') THEN sign ELSE 0 END,
            CASE WHEN s.status = 'synced' THEN sign ELSE 0 END,
            CASE WHEN s.status = 'synced'
                      AND EXISTS (SELECT 1 FROM airtable_drift d WHERE d.suggestion_id = s.id)
                 THEN sign ELSE 0 END)
    ON CONFLICT (model, tag_id, bin) DO UPDATE
        SET decisions = c.decisions + EXCLUDED.decisions,
            approved = c.approved + EXCLUDED.approved,
            synced = c.synced + EXCLUDED.synced,
            removed = c.removed + EXCLUDED.removed;
END
$$;

-- Runs with the owner's rights: the run-time role only reads the counts.
CREATE FUNCTION tagbot_calibration_suggestion() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM tagbot_calibration_count(OLD, -1);
    PERFORM tagbot_calibration_count(NEW, 1);
    RETURN NULL;
END
$$;
-- Suggestions start pending (their guard says so), so inserts count nothing.
CREATE TRIGGER sugg_calibration AFTER UPDATE OF status, score, suggested_by ON lecture_tag_suggestions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status
                       OR OLD.score IS DISTINCT FROM NEW.score
                       OR OLD.suggested_by IS DISTINCT FROM NEW.suggested_by)
    EXECUTE FUNCTION tagbot_calibration_suggestion();

-- The first drift of a synced suggestion counts it as removed.
CREATE FUNCTION tagbot_calibration_drift() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    IF (SELECT count(*) FROM airtable_drift WHERE suggestion_id = NEW.suggestion_id) = 1 THEN
        UPDATE calibration_bins c SET removed = c.removed + 1
        FROM lecture_tag_suggestions s
        WHERE s.id = NEW.suggestion_id AND s.status = 'synced'
          AND c.model = s.suggested_by AND c.tag_id = s.tag_id
          AND c.bin = tagbot_calibration_bin(s.score);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER drift_calibration AFTER INSERT ON airtable_drift
    FOR EACH ROW EXECUTE FUNCTION tagbot_calibration_drift();

-- Counts everything afresh: now, and after a load that bypassed triggers
-- (a restore with session_replication_role = replica): run
-- SELECT tagbot_calibration_recount(); as the owner.
CREATE FUNCTION tagbot_calibration_recount() RETURNS void
LANGUAGE sql AS $$
    DELETE FROM calibration_bins;
    INSERT INTO calibration_bins (model, tag_id, bin, decisions, approved, synced, removed)
    SELECT s.suggested_by, s.tag_id, tagbot_calibration_bin(s.score),
           count(*),
           count(*) FILTER (WHERE s.status IN ('approved', 'synced', 'failed')),
           count(*) FILTER (WHERE s.status = 'synced'),
           count(*) FILTER (WHERE s.status = 'synced' AND d.suggestion_id IS NOT NULL)
    FROM lecture_tag_suggestions s
    LEFT JOIN (SELECT DISTINCT suggestion_id FROM airtable_drift) d ON d.suggestion_id = s.id
    WHERE s.status <> 'pending'
    GROUP BY 1, 2, 3;
$$;
SELECT tagbot_calibration_recount();
