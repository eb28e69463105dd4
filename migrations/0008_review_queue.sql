-- The review channel holds at most TAGBOT_REVIEW_OPEN_LIMIT open lectures;
-- the rest wait in the queue. A lecture is open from when it is admitted
-- (its message claimed for posting, or its old message taken back into
-- the channel) until it has nothing pending; `opened_at` is NULL while it
-- is not. A lecture whose new suggestions arrive after it closed waits in
-- the queue like any other and, admitted, gets its old message updated.
ALTER TABLE slack_review_messages ADD COLUMN opened_at timestamptz;

-- Messages posted before this migration whose lectures still have pending
-- suggestions are open.
UPDATE slack_review_messages m SET opened_at = coalesce(m.posted_at, now())
WHERE (m.ts IS NOT NULL OR m.claimed_until > now())
  AND EXISTS (SELECT 1 FROM lecture_tag_suggestions s
              WHERE s.lecture_external_id = m.lecture_external_id AND s.status = 'pending');

CREATE INDEX idx_slack_messages_open ON slack_review_messages (lecture_external_id)
    WHERE opened_at IS NOT NULL;
-- The queue is read as lectures with pending suggestions, oldest first or
-- best score first.
CREATE INDEX idx_sugg_pending_queue ON lecture_tag_suggestions (created_at, lecture_external_id)
    WHERE status = 'pending';
