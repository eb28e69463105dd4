-- Source tables belong to the catalogue; tagbot only reads them at run time.
-- A team whose catalogue uses other names exposes these two as views before
-- migrating, and these statements then leave them alone. Fresh installs, the
-- demo and the tests get real tables.
CREATE TABLE IF NOT EXISTS enriched_lectures (
    lecture_external_id text PRIMARY KEY,
    title               text NOT NULL
);

CREATE TABLE IF NOT EXISTS tags (
    tag_id text PRIMARY KEY,
    name   text NOT NULL
);
