-- Calibration's counts, kept as decisions happen: per model, tag and score
-- hundredth, the decided suggestions, how many were approved (approved,
-- synced or failed to sync) and how many synced. The App Home and every
-- review message read them, so they must not cost a scan of every
-- suggestion; a trigger keeps them, so no writer can forget to. (Which
-- synced ones people removed in Airtable is read from `airtable_drift`,
-- small, when the figures are worked out.)
CREATE TABLE calibration_bins (
    model     text NOT NULL,
    tag_id    text NOT NULL,
    bin       integer NOT NULL CONSTRAINT calibration_bin_range CHECK (bin BETWEEN 0 AND 99),
    decisions bigint NOT NULL DEFAULT 0,
    approved  bigint NOT NULL DEFAULT 0,
    synced    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (model, tag_id, bin)
);
GRANT SELECT ON calibration_bins TO tagbot_runtime;

-- A score's hundredth; 1 is in the last.
CREATE FUNCTION tagbot_calibration_bin(score double precision) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT least(greatest(floor(score * 100 + 1e-9)::integer, 0), 99)
$$;

-- Once per statement, over every row it changed: each changed row's old
-- part taken away and its new part added, summed per count, and applied
-- in key order, so that two statements changing suggestions of the same
-- bins (a reviewer's Approve all, a sync batch) lock them in one order
-- and cannot deadlock. Runs with the owner's rights: the run-time role
-- only reads the counts.
CREATE FUNCTION tagbot_calibration_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO calibration_bins AS c (model, tag_id, bin, decisions, approved, synced)
    SELECT model, tag_id, bin, sum(decisions), sum(approved), sum(synced)
    FROM (
        SELECT o.suggested_by AS model, o.tag_id, tagbot_calibration_bin(o.score) AS bin,
               -1 AS decisions,
               -(o.status IN ('approved', 'synced', 'failed'))::integer AS approved,
               -(o.status = 'synced')::integer AS synced
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.status <> 'pending'
          AND (o.status, o.score, o.suggested_by) IS DISTINCT FROM (n.status, n.score, n.suggested_by)
        UNION ALL
        SELECT n.suggested_by, n.tag_id, tagbot_calibration_bin(n.score),
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
$$;
-- Suggestions start pending (their guard says so), so inserts count nothing.
CREATE TRIGGER sugg_calibration AFTER UPDATE ON lecture_tag_suggestions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tagbot_calibration_changed();

-- Counts everything afresh: now, and after a load that bypassed triggers
-- (a restore with session_replication_role = replica): run
-- SELECT tagbot_calibration_recount(); as the owner.
CREATE FUNCTION tagbot_calibration_recount() RETURNS void
LANGUAGE sql AS $$
    DELETE FROM calibration_bins;
    INSERT INTO calibration_bins (model, tag_id, bin, decisions, approved, synced)
    SELECT suggested_by, tag_id, tagbot_calibration_bin(score),
           count(*),
           count(*) FILTER (WHERE status IN ('approved', 'synced', 'failed')),
           count(*) FILTER (WHERE status = 'synced')
    FROM lecture_tag_suggestions
    WHERE status <> 'pending'
    GROUP BY 1, 2, 3;
$$;
SELECT tagbot_calibration_recount();
