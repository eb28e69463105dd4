-- What tagbot learns from the base's change stream (0011), and what it
-- does with it: the tags cell of each Lectures record as the stream last
-- showed it, every write tagbot sends with the cell it assumed, the repairs
-- of people's edits those writes overwrote, and the synced tags people
-- removed in Airtable (drift).

-- A stream read counts as caught up when Airtable said nothing more was
-- waiting; writes without a read first need a recent one.
ALTER TABLE airtable_change_streams ADD COLUMN caught_up_at timestamptz;
-- The last base transaction the stream has shown: what a repair knew
-- when it was decided, so that a person's edit after it still wins.
ALTER TABLE airtable_change_streams ADD COLUMN seen_through bigint NOT NULL DEFAULT 0;
-- When a process last checked the webhook with Airtable: others starting
-- within the hour trust it rather than ask again.
ALTER TABLE airtable_change_streams ADD COLUMN checked_at timestamptz;
-- What the webhook watches (table, tags field, lecture id field, by id):
-- a changed configuration is checked with Airtable, never trusted.
ALTER TABLE airtable_change_streams ADD COLUMN watching text NOT NULL DEFAULT '';

-- Per Lectures record: its lecture id and its tags cell (the values tagbot
-- writes: Tags-table record ids or option names), as the stream (or a
-- read) last showed them, and who last added or removed each value.
CREATE TABLE airtable_record_cells (
    base_id             text NOT NULL,
    record_id           text NOT NULL,
    lecture_external_id text,
    tags                jsonb NOT NULL DEFAULT '[]'::jsonb
        CONSTRAINT record_cells_tags_array CHECK (jsonb_typeof(tags) = 'array'),
    -- value → {"change": "added"|"removed", "by": {...}, "at": "..."}
    edits               jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (base_id, record_id)
);
CREATE INDEX idx_record_cells_lecture ON airtable_record_cells (base_id, lecture_external_id);

-- Every write of a tags cell tagbot sends while the stream is on: what it
-- assumed the cell held (`basis`) and what it wrote. The stream's record
-- of the write gives the cell just before it; the difference is what a
-- person did in between.
CREATE TABLE airtable_writes (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    base_id             text NOT NULL,
    record_id           text NOT NULL,
    lecture_external_id text,
    purpose             text NOT NULL CONSTRAINT writes_purpose_valid CHECK (purpose IN ('sync', 'repair')),
    basis               jsonb NOT NULL,
    written             jsonb NOT NULL,
    -- A repair's basis is the stream's view through this transaction.
    seen_through        bigint,
    sent_at             timestamptz NOT NULL DEFAULT now(),
    checked_at          timestamptz,
    outcome             text CONSTRAINT writes_outcome_valid CHECK (outcome IN ('clean', 'repaired', 'unseen')),
    CONSTRAINT writes_checked_with_outcome CHECK ((checked_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX idx_writes_unchecked ON airtable_writes (base_id, record_id, id) WHERE checked_at IS NULL;

-- A person's edit a write overwrote, and its repair: the values put back
-- and the values removed again, whose edits they were, and when the
-- repairing write left (NULL while it waits).
CREATE TABLE airtable_repairs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    base_id             text NOT NULL,
    record_id           text NOT NULL,
    lecture_external_id text,
    write_id            bigint NOT NULL REFERENCES airtable_writes (id),
    restored            jsonb NOT NULL,
    removed             jsonb NOT NULL,
    edits               jsonb NOT NULL,
    -- The stream had been read through this base transaction when the
    -- repair was found: later edits of the same values by people win.
    seen_through        bigint NOT NULL,
    found_at            timestamptz NOT NULL DEFAULT now(),
    repaired_at         timestamptz,
    repair_write_id     bigint REFERENCES airtable_writes (id),
    CONSTRAINT repairs_once_per_write UNIQUE (write_id)
);
CREATE INDEX idx_repairs_waiting ON airtable_repairs (base_id, id) WHERE repaired_at IS NULL;
CREATE INDEX idx_repairs_found ON airtable_repairs (found_at);

-- Drift: a tag tagbot synced that someone then removed in Airtable. Never
-- undone; shown to reviewers and counted in the digest and the report.
CREATE TABLE airtable_drift (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    base_id             text NOT NULL,
    record_id           text NOT NULL,
    lecture_external_id text NOT NULL,
    tag_id              text NOT NULL,
    suggestion_id       bigint NOT NULL REFERENCES lecture_tag_suggestions (id),
    source              text NOT NULL,
    removed_by_id       text,
    removed_by_name     text,
    removed_by_email    text,
    removed_at          timestamptz NOT NULL,
    base_transaction    bigint NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    -- Someone put the tag back since: no longer shown as removed.
    readded_at          timestamptz,
    CONSTRAINT drift_once_per_change UNIQUE (record_id, tag_id, base_transaction)
);
CREATE INDEX idx_drift_lecture ON airtable_drift (lecture_external_id);
CREATE INDEX idx_drift_suggestion ON airtable_drift (suggestion_id);
CREATE INDEX idx_drift_removed ON airtable_drift (removed_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON airtable_record_cells TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE ON airtable_writes TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE ON airtable_repairs TO tagbot_runtime;
GRANT SELECT, INSERT, UPDATE ON airtable_drift TO tagbot_runtime;

-- A drift shows on the lecture's review message (until the tag is put
-- back): its message is brought up to date as when a suggestion changes.
CREATE TRIGGER drift_message_stale AFTER INSERT OR UPDATE OF readded_at ON airtable_drift
    FOR EACH ROW EXECUTE FUNCTION tagbot_slack_message_stale();

-- The tag mapping (field ids, the tags field's kind, tag id → value),
-- shared by the worker processes of a base: one reads the schema and the
-- Tags table, the others starting within its life use what it read.
-- `configuration` is the settings it was built under; another is rebuilt.
CREATE TABLE airtable_tag_maps (
    base_id       text PRIMARY KEY,
    configuration text NOT NULL,
    map           jsonb NOT NULL,
    built_at      timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON airtable_tag_maps TO tagbot_runtime;
