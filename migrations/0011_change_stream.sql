-- The base's change stream (Airtable webhooks): per base, the webhook
-- tagbot reads, how far it has read (the cursor of the next payload), when
-- the webhook expires, and which process reads it now (one at a time,
-- under a lease, as the sync queue's leases work).
CREATE TABLE airtable_change_streams (
    base_id          text PRIMARY KEY,
    webhook_id       text NOT NULL,
    next_cursor      bigint NOT NULL DEFAULT 1 CONSTRAINT change_stream_cursor_positive CHECK (next_cursor >= 1),
    expires_at       timestamptz,
    read_by          text,
    read_until       timestamptz,
    last_read_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON airtable_change_streams TO tagbot_runtime;
