//! Undo as the database holds it (migration 0016), through hand-written
//! SQL as the run-time role: the decider's undo inside the window, and
//! every other undo refused with its own SQLSTATE, whatever the
//! transaction sets; a decision cannot be forged into the log to undo; and
//! calibration's counts leave a decision taken back.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::domain::SuggestionId;

use crate::helpers::TestDb;

const DANA: &str = "slack:U0DANA0001";
const YOSI: &str = "slack:U0YOSI0001";

fn sql_state(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned())
}

/// `status` by `actor` with an undo window of `secs`, by hand.
async fn decide(db: &TestDb, id: SuggestionId, status: &str, actor: &str, secs: &str) {
    db.hand_update(
        id,
        status,
        &[("tagbot.actor", actor), ("tagbot.undo_secs", secs)],
    )
    .await
    .expect("a legal decision");
}

/// A hand-written undo by `actor`, with `more` settings.
async fn undo(
    db: &TestDb,
    id: SuggestionId,
    actor: &str,
    more: &[(&str, &str)],
) -> Result<(), sqlx::Error> {
    let mut settings = vec![("tagbot.actor", actor)];
    settings.extend_from_slice(more);
    db.hand_update(id, "pending", &settings).await
}

/// A sync item for the suggestion, as the approval would have queued it.
async fn queue_item(db: &TestDb, lecture: &str, tag: &str, status: &str, attempt: i32) {
    let lease = (status == "in_flight").then_some("w1");
    sqlx::query(
        "INSERT INTO airtable_sync_items (lecture_external_id, tag_id, status, attempt, leased_by,
                                          lease_expires_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::text IS NULL THEN NULL ELSE now() + interval '1 minute' END)",
    )
    .bind(lecture)
    .bind(tag)
    .bind(status)
    .bind(attempt)
    .bind(lease)
    .execute(&db.app)
    .await
    .expect("queue the item");
}

async fn last_event(db: &TestDb, id: SuggestionId) -> (String, String, Value, i64) {
    sqlx::query_as(
        "SELECT action, actor, details, id FROM events WHERE suggestion_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id.get())
    .fetch_one(&db.app)
    .await
    .expect("an event")
}

#[sqlx::test]
async fn the_decider_takes_a_decision_back_inside_its_window(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let approved = db.suggestion("L1", "t1", 0.9).await;
    let rejected = db.suggestion("L1", "t2", 0.9).await;
    decide(&db, approved, "approved", DANA, "30").await;
    queue_item(&db, "L1", "t1", "queued", 0).await;
    decide(&db, rejected, "rejected", DANA, "30").await;
    let (_, _, decision, approve_id) = last_event(&db, approved).await;
    assert_eq!(decision["undo_secs"], 30, "{decision}");
    assert!(decision["action_id"].is_string(), "{decision}");

    undo(&db, approved, DANA, &[]).await.expect("undo approval");
    undo(&db, rejected, DANA, &[])
        .await
        .expect("undo rejection");

    for id in [approved, rejected] {
        assert_eq!(db.status(id).await, "pending");
        let (action, actor, details, _) = last_event(&db, id).await;
        assert_eq!((action.as_str(), actor.as_str()), ("undo", DANA));
        assert!(details.get("as_lead").is_none(), "{details}");
    }
    let (_, _, details, _) = last_event(&db, approved).await;
    assert_eq!(details["undoes"], approve_id);
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        0,
        "the approval's sync item is gone with it"
    );
    db.close().await;
}

#[sqlx::test]
async fn an_undo_after_its_window_is_refused_and_cannot_widen_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    decide(&db, id, "rejected", DANA, "1").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let err = undo(&db, id, DANA, &[("tagbot.undo_secs", "3600")])
        .await
        .expect_err("past the window");
    assert_eq!(sql_state(&err).as_deref(), Some("TB005"), "{err}");

    // A decision made without a window (by hand, or TAGBOT_UNDO_SECS=0)
    // is final at once.
    let final_at_once = db.suggestion("L1", "t2", 0.9).await;
    db.force_status(final_at_once, "rejected", DANA)
        .await
        .unwrap();
    let err = undo(&db, final_at_once, DANA, &[]).await.unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("TB005"), "{err}");
    assert_eq!(db.status(id).await, "rejected");
    assert_eq!(db.actions(id).await, ["reject"]);
    db.close().await;
}

#[sqlx::test]
async fn only_the_decider_undoes_unless_on_record_as_a_lead(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    decide(&db, id, "approved", DANA, "30").await;
    queue_item(&db, "L1", "t1", "queued", 0).await;

    let err = undo(&db, id, YOSI, &[]).await.unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("TB006"), "{err}");
    assert_eq!(db.status(id).await, "approved");

    undo(&db, id, YOSI, &[("tagbot.undo_as_lead", "true")])
        .await
        .expect("a lead's undo");
    let (action, actor, details, _) = last_event(&db, id).await;
    assert_eq!((action.as_str(), actor.as_str()), ("undo", YOSI));
    assert_eq!(details["as_lead"], true, "{details}");
    db.close().await;
}

#[sqlx::test]
async fn an_approval_whose_tag_left_for_airtable_stays(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    for (tag, status, attempt) in [
        ("t1", "in_flight", 0),
        ("t2", "queued", 1),
        ("t3", "done", 1),
    ] {
        let id = db.suggestion("L1", tag, 0.9).await;
        decide(&db, id, "approved", DANA, "30").await;
        queue_item(&db, "L1", tag, status, attempt).await;
        let err = undo(&db, id, DANA, &[]).await.unwrap_err();
        assert_eq!(sql_state(&err).as_deref(), Some("TB007"), "{tag}: {err}");
        assert_eq!(db.status(id).await, "approved");
    }
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        3
    );
    db.close().await;
}

#[sqlx::test]
async fn a_retry_or_a_sync_outcome_cannot_be_undone(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let retried = db.suggestion("L1", "t1", 0.9).await;
    decide(&db, retried, "approved", DANA, "60").await;
    db.force_status(retried, "failed", "worker").await.unwrap();
    decide(&db, retried, "approved", DANA, "60").await;
    let err = undo(&db, retried, DANA, &[]).await.unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("TB008"), "{err}");

    // A synced tag has no way back at all.
    let synced = db.suggestion("L1", "t2", 0.9).await;
    decide(&db, synced, "approved", DANA, "60").await;
    db.force_status(synced, "synced", "worker").await.unwrap();
    let err = undo(&db, synced, DANA, &[]).await.unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("TB001"), "{err}");
    db.close().await;
}

#[sqlx::test]
async fn a_decision_cannot_be_written_into_the_log_by_hand(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    decide(&db, id, "approved", DANA, "1").await;
    // A forged approval with a long window, to undo the real one later.
    let err = sqlx::query(
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, action,
                             from_status, to_status, details)
         VALUES ($1, 'L1', 't1', $2, 'approve', 'pending', 'approved', '{\"undo_secs\": 3600}')",
    )
    .bind(id.get())
    .bind(DANA)
    .execute(&db.app)
    .await
    .unwrap_err();
    assert_eq!(sql_state(&err).as_deref(), Some("TB001"), "{err}");
    // What changes no status may still be recorded directly.
    sqlx::query(
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, action,
                             from_status, to_status)
         VALUES ($1, 'L1', 't1', 'cli:ops', 'enqueue', 'approved', 'approved')",
    )
    .bind(id.get())
    .execute(&db.app)
    .await
    .expect("an enqueue event");
    db.close().await;
}

#[sqlx::test]
async fn calibration_forgets_a_decision_taken_back(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let kept = db.suggestion("L1", "t1", 0.9).await;
    let taken_back = db.suggestion("L2", "t1", 0.9).await;
    decide(&db, kept, "rejected", DANA, "30").await;
    decide(&db, taken_back, "approved", DANA, "30").await;
    let counts = "SELECT decisions * 100 + approved FROM calibration_bins WHERE tag_id = 't1'";
    assert_eq!(db.count(counts).await, 201);

    undo(&db, taken_back, DANA, &[]).await.unwrap();
    assert_eq!(db.count(counts).await, 100, "one rejection left");
    // Counted afresh, the same.
    sqlx::query("SELECT tagbot_calibration_recount()")
        .execute(&db.admin)
        .await
        .unwrap();
    assert_eq!(db.count(counts).await, 100);
    db.close().await;
}
