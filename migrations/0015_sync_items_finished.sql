-- Finished sync items by age. `/metrics` counts items per status from the
-- partial indexes (queued and in-flight ones have theirs already), an
-- index-only count rather than a scan of every item ever synced; the
-- retention of done items (TAGBOT_SYNC_DONE_RETENTION) finds the ones past
-- it here. Partial, so that no query on queued items (the claim) is
-- tempted by them.
CREATE INDEX idx_sync_items_done ON airtable_sync_items (updated_at) WHERE status = 'done';
CREATE INDEX idx_sync_items_failed ON airtable_sync_items (updated_at) WHERE status = 'failed';
