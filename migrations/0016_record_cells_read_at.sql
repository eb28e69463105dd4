-- When tagbot itself last read or wrote a record's tags cell (a look-up, a
-- read before a write, or its own write), as opposed to learning it from
-- the change stream. A cell read this recently may be written from
-- without a fresh read of the stream: it is as current as the stream
-- would make it. NULL: known only from the stream.
ALTER TABLE airtable_record_cells ADD COLUMN read_at timestamptz;
