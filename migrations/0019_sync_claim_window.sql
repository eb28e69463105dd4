-- A claim walks the first due items in (next_attempt_at, id) order and
-- takes each lecture's head among them: this index hands them over in
-- that order without sorting every due item.
CREATE INDEX idx_sync_items_due_order ON airtable_sync_items (next_attempt_at, id) WHERE status = 'queued';
