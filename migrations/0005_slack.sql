-- The Slack app's state: which lecture has which review message, whether
-- the message shows the lecture as it is now, and which channel posts were
-- made (so no process posts them twice).

-- One review message per lecture. A row is inserted (claimed) before the
-- message is posted, so concurrent processes never post one lecture twice;
-- `ts` is filled in once Slack has accepted the post. A claim whose process
-- died before posting (`ts` still NULL past `claimed_until`) is taken over.
-- `content_version` counts changes to the lecture's suggestions (a trigger
-- bumps it); `rendered_version` is the version the message shows, so the
-- poster updates exactly the messages that are behind. A process updating
-- a message holds it (`refreshing_by` until `refreshing_until`), so two
-- processes never race an older rendering over a newer one.
CREATE TABLE slack_review_messages (
    lecture_external_id text PRIMARY KEY,
    channel             text NOT NULL,
    ts                  text,
    claimed_by          text,
    claimed_until       timestamptz,
    content_version     bigint NOT NULL DEFAULT 1,
    rendered_version    bigint NOT NULL DEFAULT 0,
    refreshing_by       text,
    refreshing_until    timestamptz,
    posted_at           timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_slack_messages_behind ON slack_review_messages (lecture_external_id)
    WHERE rendered_version < content_version;

-- Any change to a lecture's suggestions makes its message stale, and wakes
-- the poster. It runs with the owner's rights, so a pipeline role that may
-- only INSERT suggestions is not refused for lack of rights on this table.
CREATE FUNCTION tagbot_slack_message_stale() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE slack_review_messages
    SET content_version = content_version + 1, updated_at = now()
    WHERE lecture_external_id = NEW.lecture_external_id;
    PERFORM pg_notify('tagbot_slack', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER sugg_slack_stale AFTER INSERT OR UPDATE ON lecture_tag_suggestions
    FOR EACH ROW EXECUTE FUNCTION tagbot_slack_message_stale();

-- Channel posts made once: a permanent failure's alert, a run's report, a
-- day's digest. The key says what was posted (`failure:<event id>`,
-- `run:<id>`, `digest:<date>`); inserting it first is the claim, and a
-- claim whose process died before posting (`ts` NULL past
-- `claimed_until`) is taken over.
CREATE TABLE slack_channel_posts (
    post_key      text PRIMARY KEY,
    channel       text NOT NULL,
    ts            text,
    claimed_until timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE ON slack_review_messages TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON slack_channel_posts TO tagbot_runtime;
