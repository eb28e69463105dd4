-- The sync queue by status and age: `/metrics` counts items per status from
-- this index (an index-only count, not a scan of every done item ever
-- synced), and the retention of finished items (TAGBOT_SYNC_DONE_RETENTION)
-- finds the done items older than it here.
CREATE INDEX idx_sync_items_status ON airtable_sync_items (status, updated_at);
