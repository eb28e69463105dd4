//! Reject reasons as the database holds them (migration 0020), through
//! hand-written SQL as the run-time role: the list of reasons is Rust's; a
//! reason outside it, or given with anything but a reject, is refused with
//! TB009 and nothing moves; the row's `reject_reason` is the status
//! trigger's alone to set (a direct UPDATE can neither invent, change nor
//! clear one); an undo clears it, and calibration's counts follow.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::domain::{RejectReason, SuggestionId};

use crate::calibration_export::counts;
use crate::helpers::TestDb;

const DANA: &str = "slack:U0DANA0001";

fn sql_state(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// A hand-written move to `status` by Dana, with an undo window of 30 s and
/// `details` in the transaction (what the reject's event will carry).
async fn decide_with(
    db: &TestDb,
    id: SuggestionId,
    status: &str,
    details: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let details = details.to_string();
    db.hand_update(
        id,
        status,
        &[
            ("tagbot.actor", DANA),
            ("tagbot.undo_secs", "30"),
            ("tagbot.details", &details),
        ],
    )
    .await
}

/// The row's reason.
async fn row_reason(db: &TestDb, id: SuggestionId) -> Option<String> {
    sqlx::query_scalar("SELECT reject_reason FROM lecture_tag_suggestions WHERE id = $1")
        .bind(id.get())
        .fetch_one(&db.app)
        .await
        .expect("the row")
}

/// A hand-written UPDATE of the row's reason alone, as the run-time role.
async fn set_reason(db: &TestDb, id: SuggestionId, reason: Option<&str>) {
    sqlx::query("UPDATE lecture_tag_suggestions SET reject_reason = $2 WHERE id = $1")
        .bind(id.get())
        .bind(reason)
        .execute(&db.app)
        .await
        .expect("the UPDATE itself is allowed; the trigger decides the value");
}

/// Calibration's counts for tag `t1`'s one bin: decisions, approved,
/// synced, then the five reasons (zeros when there is no such row).
async fn t1_counts(db: &TestDb) -> Vec<i64> {
    counts(db)
        .await
        .into_iter()
        .find(|(_, tag, _, _)| tag == "t1")
        .map(|(_, _, _, counts)| counts)
        .unwrap_or_else(|| vec![0; 8])
}

async fn recount(db: &TestDb) {
    sqlx::query("SELECT tagbot_calibration_recount()")
        .execute(&db.admin)
        .await
        .expect("recount");
}

#[sqlx::test]
async fn the_database_and_rust_name_the_same_reasons(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let in_db: Vec<String> = sqlx::query_scalar("SELECT unnest(tagbot_reject_reasons())")
        .fetch_all(&db.app)
        .await
        .unwrap();
    let in_rust: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(in_db, in_rust);
    db.close().await;
}

#[sqlx::test]
async fn a_reason_outside_the_list_is_refused_and_nothing_moves(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    for reason in [
        json!("bogus"),
        json!("Too broad"),
        json!("TOO_BROAD"),
        json!(""),
        json!(3),
    ] {
        let err = decide_with(&db, id, "rejected", json!({ "reason": reason }))
            .await
            .expect_err("not one of the five");
        assert_eq!(sql_state(&err).as_deref(), Some("TB009"), "{reason}: {err}");
    }
    assert_eq!(db.status(id).await, "pending");
    assert_eq!(row_reason(&db, id).await, None);
    assert!(db.actions(id).await.is_empty(), "no event");
    assert_eq!(t1_counts(&db).await, vec![0; 8], "nothing counted");
    db.close().await;
}

#[sqlx::test]
async fn a_reason_goes_with_a_reject_and_nothing_else(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let approve = db.suggestion("L1", "t1", 0.9).await;
    let err = decide_with(&db, approve, "approved", json!({ "reason": "too_broad" }))
        .await
        .expect_err("an approval has no reason");
    assert_eq!(sql_state(&err).as_deref(), Some("TB009"), "{err}");
    assert_eq!(db.status(approve).await, "pending");
    assert!(db.actions(approve).await.is_empty());

    // A retry of a failed sync, and an undo of a reject, carry none either.
    let retried = db.suggestion("L1", "t2", 0.9).await;
    db.fail_as_worker(retried, "server: 503").await;
    let err = decide_with(&db, retried, "approved", json!({ "reason": "other" }))
        .await
        .expect_err("a retry has no reason");
    assert_eq!(sql_state(&err).as_deref(), Some("TB009"), "{err}");
    assert_eq!(db.status(retried).await, "failed");

    let rejected = db.suggestion("L1", "t3", 0.9).await;
    decide_with(&db, rejected, "rejected", json!({ "reason": "too_narrow" }))
        .await
        .expect("a reasoned reject");
    let err = decide_with(&db, rejected, "pending", json!({ "reason": "too_narrow" }))
        .await
        .expect_err("an undo has no reason");
    assert_eq!(sql_state(&err).as_deref(), Some("TB009"), "{err}");
    assert_eq!(db.status(rejected).await, "rejected");
    assert_eq!(
        row_reason(&db, rejected).await.as_deref(),
        Some("too_narrow")
    );
    assert_eq!(db.actions(rejected).await, ["reject"]);
    db.close().await;
}

#[sqlx::test]
async fn the_rows_reason_is_the_status_triggers_alone(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    // A pending row cannot be given one.
    let pending = db.suggestion("L1", "t0", 0.9).await;
    set_reason(&db, pending, Some("too_broad")).await;
    assert_eq!(row_reason(&db, pending).await, None);

    // A reasoned reject: the event and the row say why.
    let id = db.suggestion("L1", "t1", 0.9).await;
    decide_with(&db, id, "rejected", json!({ "reason": "too_narrow" }))
        .await
        .expect("a reasoned reject");
    assert_eq!(row_reason(&db, id).await.as_deref(), Some("too_narrow"));
    let in_event: Option<String> = sqlx::query_scalar(
        "SELECT details->>'reason' FROM events WHERE suggestion_id = $1 AND action = 'reject'",
    )
    .bind(id.get())
    .fetch_one(&db.app)
    .await
    .unwrap();
    assert_eq!(in_event.as_deref(), Some("too_narrow"));
    let before = t1_counts(&db).await;
    assert_eq!(before, [1, 0, 0, 0, 0, 1, 0, 0]);

    // Neither changed nor cleared by hand, and the counts stay.
    set_reason(&db, id, Some("other")).await;
    assert_eq!(row_reason(&db, id).await.as_deref(), Some("too_narrow"));
    set_reason(&db, id, None).await;
    assert_eq!(row_reason(&db, id).await.as_deref(), Some("too_narrow"));
    assert_eq!(t1_counts(&db).await, before);

    // A reject without a reason cannot have one slipped in beside it.
    let plain = db.suggestion("L2", "t1", 0.9).await;
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('tagbot.actor', $1, true)")
        .bind(DANA)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE lecture_tag_suggestions SET status = 'rejected', reject_reason = 'duplicate'
         WHERE id = $1",
    )
    .bind(plain.get())
    .execute(&mut *tx)
    .await
    .expect("a plain reject");
    tx.commit().await.unwrap();
    assert_eq!(db.status(plain).await, "rejected");
    assert_eq!(row_reason(&db, plain).await, None);
    assert_eq!(t1_counts(&db).await, [2, 0, 0, 0, 0, 1, 0, 0]);
    let kept = counts(&db).await;
    recount(&db).await;
    assert_eq!(counts(&db).await, kept, "the kept counts are a recount's");
    db.close().await;
}

#[sqlx::test]
async fn an_undo_clears_the_reason_and_takes_it_out_of_the_counts(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    decide_with(&db, id, "rejected", json!({ "reason": "wrong_topic" }))
        .await
        .expect("a reasoned reject");
    assert_eq!(t1_counts(&db).await, [1, 0, 0, 1, 0, 0, 0, 0]);

    db.hand_update(id, "pending", &[("tagbot.actor", DANA)])
        .await
        .expect("the decider's undo");
    assert_eq!(db.status(id).await, "pending");
    assert_eq!(row_reason(&db, id).await, None);
    assert_eq!(t1_counts(&db).await, vec![0; 8]);

    // Decided again, now an approval: no reason anywhere.
    decide_with(&db, id, "approved", json!({})).await.unwrap();
    assert_eq!(row_reason(&db, id).await, None);
    assert_eq!(t1_counts(&db).await, [1, 1, 0, 0, 0, 0, 0, 0]);
    let kept = counts(&db).await;
    recount(&db).await;
    assert_eq!(counts(&db).await, kept);
    assert_eq!(db.actions(id).await, ["reject", "undo", "approve"]);
    db.close().await;
}
