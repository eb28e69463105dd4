//! Review operations end to end: outcomes, events, the sync queue, races.

use std::num::NonZeroU32;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::config::ReviewSettings;
use tagbot::domain::{Action, Actor, LectureId, Score, SuggestionId, SuggestionStatus, Transition};
use tagbot::review::{Decision, ReviewError};

use crate::helpers::{reviewer, TestDb};

fn lecture(id: &str) -> LectureId {
    LectureId::parse(id).unwrap()
}

fn applied_ids(decisions: &[Decision]) -> Vec<SuggestionId> {
    decisions
        .iter()
        .filter(|d| d.is_applied())
        .map(Decision::suggestion)
        .collect()
}

#[sqlx::test]
async fn approve_enqueues_and_audits_with_the_reviewer(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let decision = db
        .review()
        .approve(id, &reviewer("U1", "דנה"))
        .await
        .unwrap();
    let Decision::Applied(applied) = decision else {
        panic!("expected applied, got {decision:?}");
    };
    assert_eq!(applied.transition, Transition::Approve);
    assert!(applied.enqueued);
    assert_eq!(db.status(id).await, "approved");
    assert_eq!(db.actions(id).await, vec!["approve", "enqueue"]);

    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT actor, actor_name, details->>'via' FROM events WHERE suggestion_id = $1 ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&db.app)
    .await
    .unwrap();
    assert_eq!(
        rows[0],
        (
            "slack:U1".into(),
            Some("דנה".into()),
            Some("approve".into())
        )
    );
    assert_eq!(
        (rows[1].0.as_str(), rows[1].1.as_deref()),
        ("slack:U1", Some("דנה"))
    );

    let item: (String, i32) = sqlx::query_as(
        "SELECT status, attempt FROM airtable_sync_items WHERE lecture_external_id = 'L1' AND tag_id = 't1'",
    )
    .fetch_one(&db.app)
    .await
    .unwrap();
    assert_eq!(item, ("queued".into(), 0));
    db.close().await;
}

#[sqlx::test]
async fn reject_audits_and_enqueues_nothing(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let decision = db
        .review()
        .reject(id, &Actor::cli("dana").unwrap())
        .await
        .unwrap();
    assert!(decision.is_applied(), "{decision:?}");
    assert_eq!(db.status(id).await, "rejected");
    assert_eq!(db.actions(id).await, vec!["reject"]);
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        0
    );
    db.close().await;
}

#[sqlx::test]
async fn a_second_decision_learns_who_decided_first(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let review = db.review();
    review.approve(id, &reviewer("U1", "Dana")).await.unwrap();

    for second in [
        review.approve(id, &reviewer("U2", "Avi")).await.unwrap(),
        review.reject(id, &reviewer("U2", "Avi")).await.unwrap(),
    ] {
        let Decision::AlreadyDecided(prior) = &second else {
            panic!("expected already decided, got {second:?}");
        };
        assert_eq!(prior.status, SuggestionStatus::Approved);
        let by = prior.decided_by.as_ref().expect("who decided");
        assert_eq!(
            (by.actor.as_str(), by.who(), by.action),
            ("slack:U1", "Dana", Action::Approve)
        );
        assert!(
            second
                .to_string()
                .starts_with("already approved by Dana at "),
            "{second}"
        );
    }
    assert_eq!(db.actions(id).await, vec!["approve", "enqueue"]);

    let missing = SuggestionId::new(999_999).unwrap();
    assert_eq!(
        review
            .approve(missing, &reviewer("U1", "Dana"))
            .await
            .unwrap(),
        Decision::NotFound(missing)
    );
    db.close().await;
}

#[sqlx::test]
async fn many_reviewers_racing_on_one_suggestion_make_one_decision(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let id = db.suggestion("L1", "t1", 0.9).await;
    let review = Arc::new(db.review());
    let barrier = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|n| {
            let review = Arc::clone(&review);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                let actor = reviewer(&format!("U{n}"), &format!("reviewer {n}"));
                barrier.wait().await;
                if n % 2 == 0 {
                    review.approve(id, &actor).await
                } else {
                    review.reject(id, &actor).await
                }
            })
        })
        .collect();
    let mut decisions = Vec::new();
    for task in tasks {
        decisions.push(task.await.unwrap().unwrap());
    }
    let winners: Vec<&Decision> = decisions.iter().filter(|d| d.is_applied()).collect();
    assert_eq!(winners.len(), 1, "{decisions:?}");
    let decisive: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, action FROM events WHERE suggestion_id = $1 AND action IN ('approve', 'reject')",
    )
    .bind(id.get())
    .fetch_all(&db.app)
    .await
    .unwrap();
    assert_eq!(decisive.len(), 1);
    for loser in decisions.iter().filter(|d| !d.is_applied()) {
        let Decision::AlreadyDecided(prior) = loser else {
            panic!("loser got {loser:?}");
        };
        assert_eq!(prior.decided_by.as_ref().unwrap().actor, decisive[0].0);
    }
    let queued = db.count("SELECT count(*) FROM airtable_sync_items").await;
    assert_eq!(queued, i64::from(decisive[0].1 == "approve"));
    db.close().await;
}

#[sqlx::test]
async fn approve_top_takes_scores_at_the_threshold_and_breaks_ties_by_age(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let best = db.suggestion("L1", "a", 0.95).await;
    let tie_older = db.suggestion("L1", "b", 0.90).await;
    let tie_newer = db.suggestion("L1", "c", 0.90).await;
    let at_threshold = db.suggestion("L1", "d", 0.88).await;
    let just_below = db.suggestion("L1", "e", 0.879_999_9).await;
    let low = db.suggestion("L1", "f", 0.2).await;
    let other_lecture = db.suggestion("L2", "a", 0.99).await;
    let actor = reviewer("U1", "Dana");

    let capped = db
        .review()
        .approve_top(&lecture("L1"), NonZeroU32::new(2), &actor)
        .await
        .unwrap();
    assert_eq!(applied_ids(&capped.decisions), vec![best, tie_older]);
    assert_eq!(db.status(tie_newer).await, "pending");

    let rest = db
        .review()
        .approve_top(&lecture("L1"), None, &actor)
        .await
        .unwrap();
    assert_eq!(applied_ids(&rest.decisions), vec![tie_newer, at_threshold]);
    for id in [just_below, low, other_lecture] {
        assert_eq!(db.status(id).await, "pending");
    }
    let via: String = sqlx::query_scalar(
        "SELECT details->>'threshold' FROM events WHERE suggestion_id = $1 AND action = 'approve'",
    )
    .bind(at_threshold.get())
    .fetch_one(&db.app)
    .await
    .unwrap();
    assert_eq!(via, "0.88");

    // Nothing left above the threshold: an empty, successful result.
    let none = db
        .review()
        .approve_top(&lecture("L1"), None, &actor)
        .await
        .unwrap();
    assert_eq!(none.applied_count(), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        4
    );

    let lower = ReviewSettings {
        approve_threshold: Score::new(0.5).unwrap(),
        ..crate::helpers::no_undo()
    };
    let more = db
        .review_with(lower)
        .approve_top(&lecture("L1"), None, &actor)
        .await
        .unwrap();
    assert_eq!(applied_ids(&more.decisions), vec![just_below]);

    let err = db
        .review()
        .approve_top(&lecture("NOPE"), None, &actor)
        .await
        .unwrap_err();
    assert!(matches!(err, ReviewError::LectureNotFound(_)), "{err}");
    db.close().await;
}

#[sqlx::test]
async fn approve_selected_refuses_a_foreign_suggestion_whole(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let a = db.suggestion("L1", "a", 0.5).await;
    let b = db.suggestion("L1", "b", 0.6).await;
    let c = db.suggestion("L1", "c", 0.7).await;
    let foreign = db.suggestion("L2", "a", 0.9).await;
    let actor = reviewer("U1", "Dana");

    let err = db
        .review()
        .approve_selected(&lecture("L1"), &[a, foreign], &actor, false)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ReviewError::NotInLecture { ids, .. } if ids == &vec![foreign]),
        "{err}"
    );
    assert_eq!(db.status(a).await, "pending");
    assert_eq!(db.count("SELECT count(*) FROM events").await, 0);

    let err = db
        .review()
        .approve_selected(&lecture("L1"), &[], &actor, false)
        .await
        .unwrap_err();
    assert!(matches!(err, ReviewError::EmptySelection));

    db.review().reject(b, &reviewer("U2", "Avi")).await.unwrap();
    let result = db
        .review()
        .approve_selected(&lecture("L1"), &[c, a, b, a], &actor, false)
        .await
        .unwrap();
    assert_eq!(applied_ids(&result.decisions), vec![a, c]);
    let refused: Vec<&Decision> = result
        .decisions
        .iter()
        .filter(|d| !d.is_applied())
        .collect();
    assert_eq!(refused.len(), 1);
    assert!(
        refused[0]
            .to_string()
            .starts_with("already rejected by Avi"),
        "{}",
        refused[0]
    );
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        2
    );
    db.close().await;
}

#[sqlx::test]
async fn retry_requeues_the_same_item_and_only_failed_ones(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let failed = db.suggestion("L1", "a", 0.9).await;
    let synced = db.suggestion("L1", "b", 0.9).await;
    let pending = db.suggestion("L1", "c", 0.9).await;
    let review = db.review();
    let actor = reviewer("U1", "Dana");
    review.approve(failed, &actor).await.unwrap();
    review.approve(synced, &actor).await.unwrap();
    // The worker gives up on one and syncs the other.
    sqlx::query(
        "UPDATE airtable_sync_items SET status = 'failed', attempt = 5, last_error = 'tag_missing'
         WHERE tag_id = 'a'",
    )
    .execute(&db.app)
    .await
    .unwrap();
    db.force_status(failed, "failed", "worker").await.unwrap();
    db.force_status(synced, "synced", "worker").await.unwrap();
    let item_before: i64 =
        sqlx::query_scalar("SELECT id FROM airtable_sync_items WHERE tag_id = 'a'")
            .fetch_one(&db.app)
            .await
            .unwrap();

    let result = review
        .retry_failed(&lecture("L1"), &reviewer("U2", "Avi"))
        .await
        .unwrap();
    assert_eq!(applied_ids(&result.decisions), vec![failed]);
    assert_eq!(db.status(failed).await, "approved");
    assert_eq!(db.status(synced).await, "synced");
    assert_eq!(db.status(pending).await, "pending");
    assert_eq!(
        db.actions(failed).await,
        vec!["approve", "enqueue", "sync_fail", "retry", "enqueue"]
    );
    let item: (i64, String, i32, Option<String>) = sqlx::query_as(
        "SELECT id, status, attempt, last_error FROM airtable_sync_items WHERE tag_id = 'a'",
    )
    .fetch_one(&db.app)
    .await
    .unwrap();
    assert_eq!(item, (item_before, "queued".into(), 0, None));
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        2
    );

    // A second retry finds nothing failed.
    let again = review.retry_failed(&lecture("L1"), &actor).await.unwrap();
    assert_eq!(again.applied_count(), 0);
    db.close().await;
}

#[sqlx::test]
async fn dry_run_decides_and_audits_but_enqueues_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let one = db.suggestion("L1", "a", 0.95).await;
    let two = db.suggestion("L1", "b", 0.91).await;
    let review = db.review_with(ReviewSettings {
        dry_run: true,
        ..crate::helpers::no_undo()
    });
    let actor = reviewer("U1", "Dana");
    let decision = review.approve(one, &actor).await.unwrap();
    assert!(
        matches!(&decision, Decision::Applied(a) if !a.enqueued),
        "{decision:?}"
    );
    review
        .approve_top(&lecture("L1"), None, &actor)
        .await
        .unwrap();
    for id in [one, two] {
        assert_eq!(db.status(id).await, "approved");
        assert_eq!(db.actions(id).await, vec!["approve"]);
    }
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE (details->>'dry_run')::boolean")
            .await,
        2
    );
    db.close().await;
}

#[sqlx::test]
async fn lecture_wide_operations_racing_each_other_decide_each_suggestion_once(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(
            db.suggestion("L1", &format!("t{n}"), 0.9 + f64::from(n) / 200.0)
                .await,
        );
    }
    let review = Arc::new(db.review());
    let ids = Arc::new(ids);
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let review = Arc::clone(&review);
            let ids = Arc::clone(&ids);
            tokio::spawn(async move {
                let actor = reviewer(&format!("U{n}"), "r");
                match n % 3 {
                    0 => review
                        .approve_top(&lecture("L1"), None, &actor)
                        .await
                        .map(|d| d.applied_count()),
                    1 => review
                        .approve_selected(&lecture("L1"), &ids[..], &actor, false)
                        .await
                        .map(|d| d.applied_count()),
                    _ => review
                        .reject(ids[n], &actor)
                        .await
                        .map(|d| usize::from(d.is_applied())),
                }
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap().unwrap();
    }
    assert_eq!(total, 12, "every suggestion decided exactly once");
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE action IN ('approve', 'reject')")
            .await,
        12
    );
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_items").await,
        db.count("SELECT count(*) FROM lecture_tag_suggestions WHERE status = 'approved'")
            .await
    );
    db.close().await;
}
