-- A click names its message by channel and ts; tagbot acts on it only when
-- the click's suggestion or lecture is the message's own, which every
-- decision checks. These indexes keep that check one index probe however
-- many messages a catalogue has.
CREATE INDEX idx_slack_messages_by_ts ON slack_review_messages (channel, ts);
CREATE INDEX idx_slack_channel_posts_by_ts ON slack_channel_posts (channel, ts);
