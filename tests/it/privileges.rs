//! The privilege self-check every long-running command runs at start-up.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::storage::{self, check_privileges, DbError, PrivilegeProblem, PrivilegeReport};

use crate::helpers::{ensure_login_role, TestDb, APP_PASSWORD};

/// Connects as login role `role` after running `statements` as the owner
/// (grants are per database, so the role is only too wide here), and
/// returns the start-up check's refusal.
async fn refused_after(
    db: &TestDb,
    options: &PgConnectOptions,
    role: &str,
    statements: &[&str],
) -> (DbError, PrivilegeReport) {
    ensure_login_role(&db.admin, role).await;
    for statement in statements {
        sqlx::query(statement).execute(&db.admin).await.unwrap();
    }
    let login = options.clone().username(role).password(APP_PASSWORD);
    let err = storage::connect_runtime_with(login, 2)
        .await
        .expect_err("refused");
    let DbError::Privileges(report) = &err else {
        panic!("expected a privilege refusal, got {err}");
    };
    let report = report.clone();
    (err, report)
}

#[sqlx::test]
async fn the_restricted_role_passes(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let report = check_privileges(&db.app).await.unwrap();
    assert!(report.is_ok(), "{report}");
    let runtime = storage::connect_runtime_with(db.app_options.clone(), 2)
        .await
        .expect("accepted");
    runtime.close().await;
    assert_eq!(storage::pending_migrations(&db.app).await.unwrap(), 0);
    db.close().await;
}

#[sqlx::test]
async fn a_superuser_is_refused_with_a_clear_message(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options.clone()).await;
    let report = check_privileges(&db.admin).await.unwrap();
    assert_eq!(report.problems, vec![PrivilegeProblem::Superuser]);
    let err = storage::connect_runtime_with(options, 2)
        .await
        .expect_err("superuser refused");
    let DbError::Privileges(report) = &err else {
        panic!("expected a privilege refusal, got {err}");
    };
    assert_eq!(report.problems, vec![PrivilegeProblem::Superuser]);
    let message = err.to_string();
    assert!(
        message.contains("refusing to run as database role"),
        "{message}"
    );
    assert!(message.contains("the role is a superuser"), "{message}");
    assert!(message.contains("tagbot_runtime"), "{message}");
    db.close().await;
}

#[sqlx::test]
async fn a_role_that_could_write_the_catalogue_or_rewrite_the_log_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options.clone()).await;
    let (_, report) = refused_after(
        &db,
        &options,
        "tagbot_test_wide",
        &[
            "GRANT INSERT ON tags TO tagbot_test_wide",
            "GRANT DELETE ON events TO tagbot_test_wide",
            "REVOKE SELECT ON airtable_sync_items FROM tagbot_runtime",
        ],
    )
    .await;
    let forbidden = |table: &str, privilege: &str| PrivilegeProblem::Forbidden {
        table: table.into(),
        privilege: privilege.into(),
    };
    assert!(
        report.problems.contains(&forbidden("tags", "INSERT")),
        "{report}"
    );
    assert!(
        report.problems.contains(&forbidden("events", "DELETE")),
        "{report}"
    );
    assert!(report.problems.contains(&PrivilegeProblem::Missing {
        table: "airtable_sync_items".into(),
        privilege: "SELECT".into(),
    }));
    assert_eq!(report.problems.len(), 3, "{report}");
    db.close().await;
}

/// A temporary table cannot stand in for the audit log or calibration's
/// counts: a session of the run-time role that makes its own `events` and
/// `calibration_bins` (and puts its temporary schema first) still writes
/// its decision's audit row and count where everyone reads them.
#[sqlx::test]
async fn a_temporary_table_does_not_swallow_the_audit_row_or_the_count(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let mut session = db.app.acquire().await.unwrap();
    for statement in [
        "CREATE TEMP TABLE events (LIKE public.events INCLUDING ALL)",
        "CREATE TEMP TABLE calibration_bins (LIKE public.calibration_bins INCLUDING ALL)",
        "CREATE TEMP TABLE slack_review_messages (LIKE public.slack_review_messages INCLUDING ALL)",
        "SET search_path = pg_temp, public",
        "BEGIN",
        "SET LOCAL tagbot.actor = 'cli:mallory'",
    ] {
        sqlx::query(statement).execute(&mut *session).await.unwrap();
    }
    sqlx::query("UPDATE lecture_tag_suggestions SET status = 'approved' WHERE id = $1")
        .bind(id.get())
        .execute(&mut *session)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut *session).await.unwrap();

    let swallowed: i64 =
        sqlx::query_scalar("SELECT (SELECT count(*) FROM pg_temp.events) + (SELECT count(*) FROM pg_temp.calibration_bins)")
            .fetch_one(&mut *session)
            .await
            .unwrap();
    assert_eq!(swallowed, 0, "the temporary tables took rows");
    // Not back to the pool with its temporary tables and search path.
    drop(session.detach());

    let audited: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM public.events WHERE suggestion_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&db.admin)
    .await
    .unwrap();
    assert_eq!(audited, vec![("cli:mallory".into(), "approve".into())]);
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(approved), 0)::bigint FROM public.calibration_bins WHERE tag_id = 't1'",
    )
    .fetch_one(&db.admin)
    .await
    .unwrap();
    assert_eq!(counted, 1);
    db.close().await;
}

/// Every function in tagbot's schema runs with its search path pinned to
/// that schema, pg_temp last: none reads the caller's path.
#[sqlx::test]
async fn every_function_is_pinned_to_the_schema_with_pg_temp_last(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let functions: Vec<(String, Option<Vec<String>>)> = sqlx::query_as(
        "SELECT proname::text, proconfig FROM pg_proc
         WHERE pronamespace = current_schema()::regnamespace ORDER BY 1",
    )
    .fetch_all(&db.admin)
    .await
    .unwrap();
    assert!(functions.len() >= 9, "{functions:?}");
    for (name, config) in functions {
        let config = config.unwrap_or_default();
        assert!(
            config.contains(&"search_path=public, pg_temp".to_owned()),
            "{name} is not pinned: {config:?}"
        );
    }
    db.close().await;
}

/// The start-up check knows every table and view the migrations make: a
/// migration that adds one without teaching the check fails here.
#[sqlx::test]
async fn the_privilege_check_covers_every_table_the_migrations_create(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let made: std::collections::BTreeSet<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class
         WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'v', 'm')",
    )
    .fetch_all(&db.admin)
    .await
    .unwrap()
    .into_iter()
    .collect();
    let checked: std::collections::BTreeSet<String> =
        storage::checked_tables().map(str::to_owned).collect();
    let unknown: Vec<&String> = made.difference(&checked).collect();
    assert!(
        unknown.is_empty(),
        "tables the privilege check does not know: {unknown:?}"
    );
    let gone: Vec<&String> = checked.difference(&made).collect();
    assert!(gone.is_empty(), "tables checked but not made: {gone:?}");
    db.close().await;
}

/// Calibration's counts are the trigger's alone, and the change stream's
/// tables are needed: a role that may write the counts, or lacks a grant
/// on the stream's tables, is refused.
#[sqlx::test]
async fn writing_calibration_counts_or_lacking_the_stream_tables_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options.clone()).await;
    let (_, report) = refused_after(
        &db,
        &options,
        "tagbot_test_counts",
        &[
            "GRANT INSERT, UPDATE, DELETE ON calibration_bins TO tagbot_test_counts",
            "GRANT TRUNCATE ON airtable_record_cells TO tagbot_test_counts",
            "REVOKE INSERT ON airtable_writes FROM tagbot_runtime",
        ],
    )
    .await;
    let forbidden = |privilege: &str, table: &str| PrivilegeProblem::Forbidden {
        table: table.into(),
        privilege: privilege.into(),
    };
    let mut problems = report.problems.clone();
    problems.sort_by_key(ToString::to_string);
    assert_eq!(
        problems,
        vec![
            forbidden("DELETE", "calibration_bins"),
            forbidden("INSERT", "calibration_bins"),
            forbidden("TRUNCATE", "airtable_record_cells"),
            forbidden("UPDATE", "calibration_bins"),
            PrivilegeProblem::Missing {
                table: "airtable_writes".into(),
                privilege: "INSERT".into(),
            },
        ],
        "{report}"
    );
    db.close().await;
}

/// A role that may create objects in tagbot's schema could put a function
/// there that tagbot's own triggers would call in place of a built-in: it
/// is refused, with the REVOKE to run.
#[sqlx::test]
async fn a_role_that_may_create_in_the_schema_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options.clone()).await;
    let (err, report) = refused_after(
        &db,
        &options,
        "tagbot_test_creator",
        &["GRANT CREATE ON SCHEMA public TO tagbot_test_creator"],
    )
    .await;
    assert_eq!(
        report.problems,
        vec![PrivilegeProblem::CreateInSchema {
            schema: "public".into()
        }]
    );
    assert!(
        err.to_string().contains("REVOKE CREATE ON SCHEMA public"),
        "{err}"
    );
    db.close().await;
}
