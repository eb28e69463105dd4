-- Review sessions: a reviewer working through the queue in a modal holds
-- the lecture they are shown under a short lease, so two reviewers in
-- sessions never get the same lecture. A hold ends when the reviewer
-- submits, skips or closes the modal, or when its lease runs out (a
-- reviewer who walked away); then the lecture is served again.
CREATE TABLE review_holds (
    lecture_external_id text PRIMARY KEY,
    -- The reviewer's Slack user id.
    held_by             text NOT NULL,
    held_until          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_review_holds_by ON review_holds (held_by);

-- The session's "next lecture" walks pending suggestions in queue order
-- and stops at the first lecture nobody holds: oldest first, or best score
-- first.
CREATE INDEX idx_sugg_pending_score ON lecture_tag_suggestions (score DESC, created_at, lecture_external_id)
    WHERE status = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE ON review_holds TO tagbot_runtime;
