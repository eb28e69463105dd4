-- TAGBOT_REVIEW_ORDER=uncertain serves first the lecture whose pending
-- suggestions come closest to their model's threshold. The threshold is a
-- parameter (calibration's, worked out by the app), so no index can hold
-- the distance itself: per model, the queue walks its pending scores
-- outwards from the threshold, up from it and down from it, and stops
-- after the first few. This index hands each model's pending suggestions
-- over in score order in both directions (and lists the models pending
-- suggestions come from, one probe each).
CREATE INDEX idx_sugg_pending_model_score
    ON lecture_tag_suggestions (suggested_by, score, created_at, lecture_external_id)
    WHERE status = 'pending';
