//! Undo through the review operations (`Review::undo`): one Undo takes
//! back everything one action decided, with an outcome per suggestion;
//! approved tags are held back from Airtable for the window, and
//! `sync --once` leaves them for a later run and says so. Windows are a
//! second or two here, not thirty.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::TagsFieldKind;
use tagbot::config::ReviewSettings;
use tagbot::domain::{Action, Actor, LectureId, SuggestionId};
use tagbot::review::{Review, UndoAs, UndoOutcome};
use tagbot::shutdown::Shutdown;

use crate::helpers::{reviewer, TestDb};
use crate::sync_world::{fast, World, BASE_ID, TOKEN};

fn lecture(id: &str) -> LectureId {
    LectureId::parse(id).unwrap()
}

fn with_window(db: &TestDb, secs: u64) -> Review {
    db.review_with(ReviewSettings {
        undo_window: Duration::from_secs(secs),
        ..ReviewSettings::default()
    })
}

fn dana() -> Actor {
    reviewer("U0DANA0001", "דנה")
}

fn yosi() -> Actor {
    reviewer("U0YOSI0001", "יוסי")
}

async fn undo_events(db: &TestDb) -> i64 {
    db.count("SELECT count(*) FROM events WHERE action = 'undo'")
        .await
}

#[sqlx::test]
async fn the_decider_takes_back_an_approval_and_nothing_reaches_airtable(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    w.fake.add_tag("t1", "פילוסופיה");
    w.fake.add_lecture("L1", "הרצאה");
    let id = w.db.suggestion("L1", "t1", 0.9).await;
    let review = with_window(&w.db, 30);
    review.approve(id, &dana()).await.unwrap();
    assert_eq!(w.item("L1", "t1").await.0, "queued");

    let undo = review
        .undo(&lecture("L1"), id, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(
        undo.outcomes,
        [UndoOutcome::Undone {
            suggestion: id,
            tag_id: "t1".into(),
            was: Action::Approve
        }]
    );
    assert_eq!(w.db.status(id).await, "pending");
    assert_eq!(w.db.actions(id).await, ["approve", "enqueue", "undo"]);
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_sync_items").await,
        0
    );
    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();
    assert_eq!((report.synced, report.held), (0, 0));
    assert!(w.patches().is_empty(), "nothing written to Airtable");
    w.close().await;
}

#[sqlx::test]
async fn one_undo_takes_back_a_whole_approve_all(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let ids = [
        db.suggestion("L1", "t1", 0.95).await,
        db.suggestion("L1", "t2", 0.93).await,
        db.suggestion("L1", "t3", 0.91).await,
    ];
    let low = db.suggestion("L1", "t4", 0.2).await;
    let review = with_window(&db, 30);
    review.reject(low, &dana()).await.unwrap();
    let all = review
        .approve_top(&lecture("L1"), None, &dana())
        .await
        .unwrap();
    assert_eq!(all.applied_count(), 3);

    // The Undo beside any one of them takes back all three, and only them.
    let undo = review
        .undo(&lecture("L1"), ids[1], &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(undo.undone_count(), 3, "{undo:?}");
    for id in ids {
        assert_eq!(db.status(id).await, "pending");
    }
    assert_eq!(db.status(low).await, "rejected");
    assert_eq!(undo_events(&db).await, 3, "one undo event per suggestion");
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        0
    );
    // Pressed again: already taken back, by whom.
    let again = review
        .undo(&lecture("L1"), ids[0], &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert!(
        again
            .outcomes
            .iter()
            .all(|o| matches!(o, UndoOutcome::AlreadyUndone { by, .. } if by == "דנה")),
        "{again:?}"
    );
    assert_eq!(undo_events(&db).await, 3);
    db.close().await;
}

#[sqlx::test]
async fn another_reviewer_is_refused_and_a_lead_is_on_record(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let review = with_window(&db, 30);
    review.reject(id, &dana()).await.unwrap();

    let refused = review
        .undo(&lecture("L1"), id, &yosi(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(
        refused.outcomes,
        [UndoOutcome::NotYours {
            suggestion: id,
            decider: "דנה".into()
        }]
    );
    assert!(refused.to_string().contains("Only דנה"), "{refused}");
    assert_eq!(db.status(id).await, "rejected");

    let by_lead = review
        .undo(&lecture("L1"), id, &yosi(), UndoAs::Lead)
        .await
        .unwrap();
    assert_eq!(by_lead.undone_count(), 1);
    let (actor, as_lead, undoes): (String, Option<bool>, i64) = sqlx::query_as(
        "SELECT u.actor, (u.details->>'as_lead')::boolean, (u.details->>'undoes')::bigint
         FROM events u WHERE u.action = 'undo'",
    )
    .fetch_one(&db.app)
    .await
    .unwrap();
    let rejected_event: i64 = sqlx::query_scalar("SELECT id FROM events WHERE action = 'reject'")
        .fetch_one(&db.app)
        .await
        .unwrap();
    assert_eq!(
        (actor.as_str(), as_lead, undoes),
        ("slack:U0YOSI0001", Some(true), rejected_event)
    );

    // A lead taking back their own decision is not on record as a lead's.
    review.approve(id, &yosi()).await.unwrap();
    review
        .undo(&lecture("L1"), id, &yosi(), UndoAs::Lead)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE action = 'undo' AND details ? 'as_lead'")
            .await,
        1
    );
    db.close().await;
}

#[sqlx::test]
async fn too_late_after_the_window(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let review = with_window(&db, 1);
    review.approve(id, &dana()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = review
        .undo(&lecture("L1"), id, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(late.outcomes, [UndoOutcome::TooLate { suggestion: id }]);
    assert!(late.to_string().contains("too late"), "{late}");
    assert_eq!(db.status(id).await, "approved");
    assert_eq!(undo_events(&db).await, 0);

    // With TAGBOT_UNDO_SECS=0 a decision is final at once.
    let other = db.suggestion("L1", "t2", 0.9).await;
    db.review().reject(other, &dana()).await.unwrap();
    let off = db
        .review()
        .undo(&lecture("L1"), other, &dana(), UndoAs::Lead)
        .await
        .unwrap();
    assert_eq!(off.outcomes, [UndoOutcome::TooLate { suggestion: other }]);
    db.close().await;
}

#[sqlx::test]
async fn a_tag_that_left_or_was_retried_stays(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let review = with_window(&db, 60);
    // Taken by the worker (in flight).
    let taken = db.suggestion("L1", "t1", 0.9).await;
    review.approve(taken, &dana()).await.unwrap();
    sqlx::query(
        "UPDATE airtable_sync_items SET status = 'in_flight', leased_by = 'w1',
                lease_expires_at = now() + interval '1 minute'",
    )
    .execute(&db.app)
    .await
    .unwrap();
    let undo = review
        .undo(&lecture("L1"), taken, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(
        undo.outcomes,
        [UndoOutcome::Left {
            suggestion: taken,
            since: None
        }]
    );
    assert_eq!(db.status(taken).await, "approved");

    // Failed, then retried: the retry is the latest, and not undoable.
    let retried = db.suggestion("L2", "t1", 0.9).await;
    review.approve(retried, &dana()).await.unwrap();
    db.fail_as_worker_now(retried, "boom").await;
    review.retry_failed(&lecture("L2"), &dana()).await.unwrap();
    let undo = review
        .undo(&lecture("L2"), retried, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(
        undo.outcomes,
        [UndoOutcome::Left {
            suggestion: retried,
            since: Some(Action::Retry)
        }]
    );
    assert_eq!(db.status(retried).await, "approved");
    assert_eq!(undo_events(&db).await, 0);
    db.close().await;
}

#[sqlx::test]
async fn a_session_save_is_taken_back_whole(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let yes = db.suggestion("L1", "t1", 0.9).await;
    let no = db.suggestion("L1", "t2", 0.4).await;
    let review = with_window(&db, 30);
    let choices = tagbot::review::Choices {
        approve: [yes].into(),
        reject: [(no, Some(tagbot::domain::RejectReason::TooBroad))].into(),
    };
    review
        .decide_choices(&lecture("L1"), &choices, &dana(), false)
        .await
        .unwrap();
    let undo = review
        .undo(&lecture("L1"), no, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(undo.undone_count(), 2, "{undo:?}");
    assert_eq!(
        (db.status(yes).await, db.status(no).await),
        ("pending".to_owned(), "pending".to_owned())
    );
    // A suggestion of another lecture is refused whole.
    let elsewhere: SuggestionId = db.suggestion("L2", "t1", 0.9).await;
    assert!(review
        .undo(&lecture("L1"), elsewhere, &dana(), UndoAs::Decider)
        .await
        .is_err());
    db.close().await;
}

#[sqlx::test]
async fn an_approved_tag_is_held_for_the_window_and_sync_once_says_so(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, record, id) = {
        let tag = w.fake.add_tag("t1", "פילוסופיה");
        let record = w.fake.add_lecture("L1", "הרצאה");
        let id = w.db.suggestion("L1", "t1", 0.9).await;
        // A window wide enough that the `sync --once` process below starts
        // and looks well within it on a slow, loaded machine.
        with_window(&w.db, 10).approve(id, &dana()).await.unwrap();
        (tag, record, id)
    };
    let env = [
        ("DATABASE_URL", w.db.app_url()),
        ("AIRTABLE_TOKEN", TOKEN.to_owned()),
        ("AIRTABLE_BASE_ID", BASE_ID.to_owned()),
        ("AIRTABLE_API_URL", w.fake.url.clone()),
    ];
    let sync = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
            .args(["sync", "--once"])
            .current_dir(std::env::temp_dir())
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&sync.stdout).into_owned();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(
        printed.contains("held for the undo window: 1 approved tag(s)"),
        "{printed}"
    );
    assert!(printed.contains("synced: 0"), "{printed}");
    assert!(w.patches().is_empty(), "held back from Airtable");
    assert_eq!(w.item("L1", "t1").await.0, "queued");

    // The window ends: rather than sleep it out, make the held item due.
    let ended = sqlx::query(
        "UPDATE airtable_sync_items SET next_attempt_at = now()
         WHERE status = 'queued' AND attempt = 0 AND next_attempt_at > now()",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    assert_eq!(
        ended.rows_affected(),
        1,
        "still held when the window is ended"
    );
    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();
    assert_eq!((report.synced, report.held), (1, 0));
    assert_eq!(w.patches(), vec![vec![record]]);
    assert_eq!(w.db.status(id).await, "synced");
    w.close().await;
}

#[sqlx::test]
async fn a_decision_taken_back_leaves_the_reviewers_counts(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let kept = db.suggestion("L1", "t1", 0.9).await;
    let undone = db.suggestion("L2", "t1", 0.9).await;
    let review = with_window(&db, 30);
    review.reject(kept, &dana()).await.unwrap();
    review.reject(undone, &dana()).await.unwrap();
    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let actor = dana().to_string();
    assert_eq!(
        tagbot::storage::events::decisions_by(&db.app, &actor, since)
            .await
            .unwrap(),
        2
    );

    review
        .undo(&lecture("L2"), undone, &dana(), UndoAs::Decider)
        .await
        .unwrap();

    assert_eq!(
        tagbot::storage::events::decisions_by(&db.app, &actor, since)
            .await
            .unwrap(),
        1,
        "the App Home counts what stands"
    );
    let per_reviewer = tagbot::storage::events::decisions_per_reviewer(&db.app, since)
        .await
        .unwrap();
    assert_eq!(per_reviewer, [("דנה".to_owned(), 1)]);
    db.close().await;
}
