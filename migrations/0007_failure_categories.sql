-- A failure's category in a column of its own, beside its words: reports,
-- the App Home and operators group failures by it, and nothing parses
-- `last_error` to find it. The words are `FailureCategory` in
-- src/domain/failure.rs.
ALTER TABLE lecture_tag_suggestions ADD COLUMN last_error_category text
    CONSTRAINT sugg_error_category_valid CHECK (last_error_category IN (
        'lecture_missing', 'lecture_ambiguous', 'tag_missing', 'rate_limit', 'quota',
        'server', 'network', 'auth', 'not_found', 'validation', 'other'));
ALTER TABLE airtable_sync_items ADD COLUMN last_error_category text
    CONSTRAINT sync_items_error_category_valid CHECK (last_error_category IN (
        'lecture_missing', 'lecture_ambiguous', 'tag_missing', 'rate_limit', 'quota',
        'server', 'network', 'auth', 'not_found', 'validation', 'other'));

-- Errors recorded before this migration carried their category as the
-- text before the first ':'; this once, it is read from there. Filling a
-- column in is no change a reviewer made: the triggers that stamp
-- updated_at and mark review messages stale are off meanwhile.
ALTER TABLE lecture_tag_suggestions DISABLE TRIGGER sugg_guard;
ALTER TABLE lecture_tag_suggestions DISABLE TRIGGER sugg_slack_stale;
UPDATE lecture_tag_suggestions SET last_error_category = CASE
        WHEN split_part(last_error, ':', 1) IN (
            'lecture_missing', 'lecture_ambiguous', 'tag_missing', 'rate_limit', 'quota',
            'server', 'network', 'auth', 'not_found', 'validation')
        THEN split_part(last_error, ':', 1) ELSE 'other' END
    WHERE last_error IS NOT NULL;
ALTER TABLE lecture_tag_suggestions ENABLE TRIGGER sugg_guard;
ALTER TABLE lecture_tag_suggestions ENABLE TRIGGER sugg_slack_stale;
UPDATE airtable_sync_items SET last_error_category = CASE
        WHEN split_part(last_error, ':', 1) IN (
            'lecture_missing', 'lecture_ambiguous', 'tag_missing', 'rate_limit', 'quota',
            'server', 'network', 'auth', 'not_found', 'validation')
        THEN split_part(last_error, ':', 1) ELSE 'other' END
    WHERE last_error IS NOT NULL;

-- A failed suggestion's event names the category beside the error.
CREATE OR REPLACE FUNCTION tagbot_suggestion_audit() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    details jsonb := coalesce(nullif(current_setting('tagbot.details', true), '')::jsonb, '{}'::jsonb);
BEGIN
    IF NEW.last_error IS NOT NULL AND NEW.status = 'failed' THEN
        details := details || jsonb_build_object('error', NEW.last_error);
        IF NEW.last_error_category IS NOT NULL THEN
            details := details || jsonb_build_object('category', NEW.last_error_category);
        END IF;
    END IF;
    INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, actor_name,
                        action, from_status, to_status, details)
    VALUES (NEW.id, NEW.lecture_external_id, NEW.tag_id,
            current_setting('tagbot.actor'),
            nullif(current_setting('tagbot.actor_name', true), ''),
            tagbot_transition_action(OLD.status, NEW.status),
            OLD.status, NEW.status, details);
    RETURN NULL;
END
$$;
