-- The App Home tab: who has opened it, so that their tab is published
-- again after their decisions (and no one else's is).
CREATE TABLE slack_home_tabs (
    -- The Slack user id.
    user_id   text PRIMARY KEY,
    opened_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON slack_home_tabs TO tagbot_runtime;

-- The Home tab counts decisions of the day, the week and the last 7 days:
-- read by time, not by suggestion.
CREATE INDEX idx_events_decisions ON events (created_at, actor)
    WHERE action IN ('approve', 'reject');
-- Failed suggestions, counted by category and listed by lecture.
CREATE INDEX idx_sugg_failed ON lecture_tag_suggestions (lecture_external_id)
    WHERE status = 'failed';
