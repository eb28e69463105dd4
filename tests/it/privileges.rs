//! The privilege self-check every long-running command runs at start-up.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::storage::{self, check_privileges, DbError, PrivilegeProblem};

use crate::helpers::{ensure_login_role, TestDb, APP_PASSWORD};

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
    // Grants are per database, so this role is only too wide here.
    ensure_login_role(&db.admin, "tagbot_test_wide").await;
    sqlx::query("GRANT INSERT ON tags TO tagbot_test_wide")
        .execute(&db.admin)
        .await
        .unwrap();
    sqlx::query("GRANT DELETE ON events TO tagbot_test_wide")
        .execute(&db.admin)
        .await
        .unwrap();
    sqlx::query("REVOKE SELECT ON airtable_sync_items FROM tagbot_runtime")
        .execute(&db.admin)
        .await
        .unwrap();
    let wide = options.username("tagbot_test_wide").password(APP_PASSWORD);
    let err = storage::connect_runtime_with(wide, 2)
        .await
        .expect_err("refused");
    let DbError::Privileges(report) = &err else {
        panic!("expected a privilege refusal, got {err}");
    };
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
