-- The run-time role. tagbot's long-running commands connect as a login role
-- that is a member of `tagbot_runtime` and of nothing more privileged; the
-- grants of every later migration go to this role. Creating it needs
-- CREATEROLE; on a managed Postgres where the migrating user lacks it, a DBA
-- runs `CREATE ROLE tagbot_runtime NOLOGIN;` once and migrations go on.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tagbot_runtime') THEN
        CREATE ROLE tagbot_runtime NOLOGIN;
    END IF;
EXCEPTION
    -- Roles are cluster-wide: another database migrating at the same moment
    -- (parallel test databases, two replicas) may have created it first.
    WHEN duplicate_object OR unique_violation THEN
        NULL;
    WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'tagbot migrations could not create the role tagbot_runtime'
            USING HINT = 'Ask a database administrator to run: CREATE ROLE tagbot_runtime NOLOGIN; then run tagbot migrate again.';
END
$$;

GRANT SELECT ON enriched_lectures, tags TO tagbot_runtime;
-- Lets the run-time role see whether migrations are current (readyz, doctor).
GRANT SELECT ON _sqlx_migrations TO tagbot_runtime;
