//! The state machine as the database enforces it, through raw SQL as the
//! run-time role: every legal transition works and writes one event, every
//! other one is refused, and the audit log cannot be rewritten.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::domain::{SuggestionId, SuggestionStatus, Transition};

use crate::helpers::TestDb;

/// Drives a fresh suggestion to `status` along legal transitions: the
/// decisions by `cli:tester` with a minute to take them back (so that the
/// tester's undo is legal), the sync outcomes by the worker.
async fn suggestion_in(db: &TestDb, n: usize, status: SuggestionStatus) -> SuggestionId {
    let id = db.suggestion("L1", &format!("t{n}"), 0.5).await;
    let path: &[&str] = match status {
        SuggestionStatus::Pending => &[],
        SuggestionStatus::Approved => &["approved"],
        SuggestionStatus::Rejected => &["rejected"],
        SuggestionStatus::Synced => &["approved", "synced"],
        SuggestionStatus::Failed => &["approved", "failed"],
    };
    for step in path {
        let actor = if matches!(*step, "approved" | "rejected") {
            "cli:tester"
        } else {
            "worker"
        };
        db.hand_update(
            id,
            step,
            &[("tagbot.actor", actor), ("tagbot.undo_secs", "60")],
        )
        .await
        .expect("legal step");
    }
    id
}

fn sql_state(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

#[sqlx::test]
async fn every_status_pair_is_allowed_exactly_when_rust_says_so(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let mut n = 0;
    for from in SuggestionStatus::ALL {
        for to in SuggestionStatus::ALL {
            if from == to {
                continue;
            }
            n += 1;
            let id = suggestion_in(&db, n, from).await;
            let events_before = db.actions(id).await.len();
            let result = db.force_status(id, to.as_str(), "cli:tester").await;
            let events = db.actions(id).await;
            match Transition::between(from, to) {
                Some(transition) => {
                    result.unwrap_or_else(|e| panic!("{from} -> {to} refused: {e}"));
                    assert_eq!(db.status(id).await, to.as_str());
                    assert_eq!(events.len(), events_before + 1, "{from} -> {to}: one event");
                    let (actor, action, from_s, to_s): (String, String, String, String) =
                        sqlx::query_as(
                            "SELECT actor, action, from_status, to_status FROM events
                         WHERE suggestion_id = $1 ORDER BY id DESC LIMIT 1",
                        )
                        .bind(id.get())
                        .fetch_one(&db.app)
                        .await
                        .unwrap();
                    assert_eq!(
                        (
                            actor.as_str(),
                            action.as_str(),
                            from_s.as_str(),
                            to_s.as_str()
                        ),
                        (
                            "cli:tester",
                            transition.action().as_str(),
                            from.as_str(),
                            to.as_str()
                        )
                    );
                }
                None => {
                    let err = result.expect_err(&format!("{from} -> {to} must be refused"));
                    assert_eq!(
                        sql_state(&err).as_deref(),
                        Some("TB001"),
                        "{from} -> {to}: {err}"
                    );
                    assert_eq!(db.status(id).await, from.as_str());
                    assert_eq!(events.len(), events_before, "{from} -> {to}: no event");
                }
            }
        }
    }
    db.close().await;
}

#[sqlx::test]
async fn the_database_and_rust_name_the_same_transitions(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    for from in SuggestionStatus::ALL {
        for to in SuggestionStatus::ALL {
            let in_db: Option<String> =
                sqlx::query_scalar("SELECT tagbot_transition_action($1, $2)")
                    .bind(from.as_str())
                    .bind(to.as_str())
                    .fetch_one(&db.app)
                    .await
                    .unwrap();
            let in_rust = Transition::between(from, to).map(|t| t.action().as_str().to_owned());
            assert_eq!(in_db, in_rust, "{from} -> {to}");
        }
    }
    db.close().await;
}

#[sqlx::test]
async fn a_status_change_without_an_actor_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let err = sqlx::query("UPDATE lecture_tag_suggestions SET status = 'approved' WHERE id = $1")
        .bind(id.get())
        .execute(&db.app)
        .await
        .expect_err("no actor");
    assert_eq!(sql_state(&err).as_deref(), Some("TB003"));
    assert_eq!(db.status(id).await, "pending");
    assert!(db.actions(id).await.is_empty());

    // A malformed actor is refused by the events table's check.
    let err = db
        .force_status(id, "approved", "slack:not-an-id")
        .await
        .expect_err("bad actor");
    assert_eq!(sql_state(&err).as_deref(), Some("23514"));
    assert_eq!(db.status(id).await, "pending");
    db.close().await;
}

#[sqlx::test]
async fn rows_start_pending_and_keep_their_lecture_and_tag(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let err = sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by, status)
         VALUES ('L1', 't2', 0.5, 'm', 'approved')",
    )
    .execute(&db.app)
    .await
    .expect_err("insert as approved");
    assert_eq!(sql_state(&err).as_deref(), Some("TB001"));

    db.tag("t9", "אחר").await;
    let err = sqlx::query("UPDATE lecture_tag_suggestions SET tag_id = 't9' WHERE id = $1")
        .bind(id.get())
        .execute(&db.app)
        .await
        .expect_err("retarget a suggestion");
    assert_eq!(sql_state(&err).as_deref(), Some("TB001"));
    db.close().await;
}

#[sqlx::test]
async fn checks_refuse_bad_scores_statuses_and_duplicates(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    db.suggestion("L1", "t1", 0.9).await;
    for (score, tag) in [(1.5, "t2"), (-0.1, "t3")] {
        db.tag(tag, tag).await;
        let err = sqlx::query(
            "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
             VALUES ('L1', $1, $2, 'm')",
        )
        .bind(tag)
        .bind(score)
        .execute(&db.app)
        .await
        .expect_err("score out of range");
        assert_eq!(sql_state(&err).as_deref(), Some("23514"), "score {score}");
    }
    let err = sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
         VALUES ('L1', 't1', 0.4, 'm')",
    )
    .execute(&db.app)
    .await
    .expect_err("same lecture and tag twice");
    assert_eq!(sql_state(&err).as_deref(), Some("23505"));

    sqlx::query(
        "INSERT INTO airtable_sync_items (lecture_external_id, tag_id) VALUES ('L1', 't1')",
    )
    .execute(&db.app)
    .await
    .unwrap();
    let err = sqlx::query(
        "INSERT INTO airtable_sync_items (lecture_external_id, tag_id) VALUES ('L1', 't1')",
    )
    .execute(&db.app)
    .await
    .expect_err("sync item twice");
    assert_eq!(sql_state(&err).as_deref(), Some("23505"));
    let err = sqlx::query("UPDATE airtable_sync_items SET status = 'lost'")
        .execute(&db.app)
        .await
        .expect_err("unknown sync status");
    assert_eq!(sql_state(&err).as_deref(), Some("23514"));
    db.close().await;
}

#[sqlx::test]
async fn the_audit_log_is_append_only_even_for_its_owner(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    db.force_status(id, "approved", "cli:tester").await.unwrap();

    for sql in [
        "UPDATE events SET actor = 'cli:someone-else'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let as_app = sqlx::query(sql).execute(&db.app).await.expect_err(sql);
        assert_eq!(
            sql_state(&as_app).as_deref(),
            Some("42501"),
            "run-time role: {sql}"
        );
        let as_owner = sqlx::query(sql).execute(&db.admin).await.expect_err(sql);
        assert_eq!(
            sql_state(&as_owner).as_deref(),
            Some("TB002"),
            "owner: {sql}"
        );
    }
    assert_eq!(db.actions(id).await, vec!["approve"]);
    let actor: String = sqlx::query_scalar("SELECT actor FROM events")
        .fetch_one(&db.app)
        .await
        .unwrap();
    assert_eq!(actor, "cli:tester");
    db.close().await;
}

#[sqlx::test]
async fn the_run_time_role_cannot_write_the_catalogue(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    for sql in [
        "INSERT INTO enriched_lectures VALUES ('X', 'x')",
        "UPDATE tags SET name = 'x'",
        "DELETE FROM enriched_lectures",
        "DELETE FROM lecture_tag_suggestions",
    ] {
        let err = sqlx::query(sql).execute(&db.app).await.expect_err(sql);
        assert_eq!(sql_state(&err).as_deref(), Some("42501"), "{sql}");
    }
    db.close().await;
}
