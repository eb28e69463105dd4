//! `tagbot enqueue`: approvals nothing would sync (made during a dry run,
//! or by a hand fix in SQL) are queued once, each with an audited event.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::config::ReviewSettings;

use crate::cli::{stderr, tagbot};
use crate::helpers::{reviewer, TestDb};

#[sqlx::test]
async fn stranded_approvals_are_queued_once_audited_and_never_under_dry_run(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    // Approved during a dry run: a real decision, no sync item.
    let dry = db.suggestion("L1", "t1", 0.9).await;
    let dry_review = db.review_with(ReviewSettings {
        dry_run: true,
        ..crate::helpers::no_undo()
    });
    dry_review
        .approve(dry, &reviewer("U1", "דנה"))
        .await
        .unwrap();
    // Failed, then put back to approved by hand in SQL: its item stays failed.
    let hand = db.suggestion("L1", "t2", 0.8).await;
    db.review()
        .approve(hand, &reviewer("U1", "דנה"))
        .await
        .unwrap();
    db.fail_as_worker(hand, "lecture_missing: L1").await;
    sqlx::query("UPDATE airtable_sync_items SET status = 'failed' WHERE tag_id = 't2'")
        .execute(&db.admin)
        .await
        .unwrap();
    db.force_status(hand, "approved", "cli:ops").await.unwrap();
    // Queued the normal way: left alone.
    let normal = db.suggestion("L2", "t1", 0.7).await;
    db.review()
        .approve(normal, &reviewer("U2", "יוסי"))
        .await
        .unwrap();
    let enqueued_before = db
        .count("SELECT count(*) FROM events WHERE action = 'enqueue'")
        .await;

    let url = db.app_url();
    let refused = tagbot(
        &["enqueue", "--as", "dana"],
        &[("DATABASE_URL", &url), ("DRY_RUN", "true")],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("DRY_RUN is on"),
        "{}",
        stderr(&refused)
    );
    let report = tagbot(&["report"], &[("DATABASE_URL", &url)]);
    assert!(
        stderr(&report).contains("2 approved tag(s) are not queued for Airtable"),
        "{}",
        stderr(&report)
    );

    let first = tagbot(&["enqueue", "--as", "dana"], &[("DATABASE_URL", &url)]);
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(first.status.success(), "{printed}{}", stderr(&first));
    assert!(printed.contains("Queued 2 approved tag(s)"), "{printed}");
    let items: Vec<(String, String, i32)> = sqlx::query_as(
        "SELECT tag_id || '@' || lecture_external_id, status, attempt FROM airtable_sync_items ORDER BY 1",
    )
    .fetch_all(&db.admin)
    .await
    .unwrap();
    assert_eq!(
        items,
        vec![
            ("t1@L1".into(), "queued".into(), 0),
            ("t1@L2".into(), "queued".into(), 0),
            ("t2@L1".into(), "queued".into(), 0),
        ]
    );
    let events: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT suggestion_id, actor, from_status || '>' || to_status FROM events
         WHERE action = 'enqueue' AND actor = 'cli:dana' ORDER BY suggestion_id",
    )
    .fetch_all(&db.admin)
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![
            (dry.get(), "cli:dana".into(), "approved>approved".into()),
            (hand.get(), "cli:dana".into(), "approved>approved".into()),
        ]
    );

    let again = tagbot(&["enqueue", "--as", "dana"], &[("DATABASE_URL", &url)]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE action = 'enqueue'")
            .await,
        enqueued_before + 2,
        "a second run writes no event"
    );
    db.close().await;
}
