-- A write the change stream never checked because it broke or started
-- over first (a refused cursor, a deleted or disabled webhook), and that a
-- fresh read of its record could not settle: the cell just before it is
-- gone with the old stream's payloads. Recorded as `unverified` (with a
-- warning naming the records) so an operator can look; never dropped.
ALTER TABLE airtable_writes DROP CONSTRAINT writes_outcome_valid;
ALTER TABLE airtable_writes ADD CONSTRAINT writes_outcome_valid
    CHECK (outcome IN ('clean', 'repaired', 'unseen', 'unverified'));
