//! The bounded review channel: at most `TAGBOT_REVIEW_OPEN_LIMIT` lectures
//! have an open review message; the rest wait in the queue, in
//! `TAGBOT_REVIEW_ORDER`, and are let in as open lectures are decided.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::domain::SuggestionId;
use tagbot::slack::output::poster;

use crate::helpers::reviewer;
use crate::slack_world::{settings, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";

/// The lectures with a posted review message, by lecture id.
async fn posted(w: &SlackWorld) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT lecture_external_id FROM slack_review_messages WHERE ts IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap()
}

async fn approve_all(w: &SlackWorld, ids: &[SuggestionId]) {
    for id in ids {
        w.db.review()
            .approve(*id, &reviewer(DANA, "דנה"))
            .await
            .unwrap();
    }
}

#[sqlx::test]
async fn the_channel_holds_the_limit_and_lets_the_next_lecture_in_when_one_is_decided(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_OPEN_LIMIT", "3")]).await;
    let mut first = Vec::new();
    for n in 0..6 {
        let lecture = format!("L{n}");
        let a = w.db.suggestion(&lecture, "t1", 0.9).await;
        let b = w.db.suggestion(&lecture, "t2", 0.5).await;
        if n == 0 {
            first = vec![a, b];
        }
    }

    assert_eq!(w.post_reviews().await.posted, 3);
    assert_eq!(posted(&w).await, ["L0", "L1", "L2"], "oldest first");
    // A pass with the channel full posts nothing more.
    assert_eq!(w.post_reviews().await.posted, 0);

    // One tag of L0 decided: it still has one pending, so it stays open.
    approve_all(&w, &first[..1]).await;
    assert_eq!(w.post_reviews().await.posted, 0);
    // Its last tag decided: L0 closes and L3, next in the queue, comes in.
    approve_all(&w, &first[1..]).await;
    assert_eq!(w.post_reviews().await.posted, 1);
    assert_eq!(posted(&w).await, ["L0", "L1", "L2", "L3"]);
    assert_eq!(w.slack.messages(REVIEW).len(), 4, "one message per lecture");
    w.close().await;
}

#[sqlx::test]
async fn by_score_the_lecture_with_the_best_pending_tag_comes_first(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_REVIEW_OPEN_LIMIT", "2"),
            ("TAGBOT_REVIEW_ORDER", "score"),
        ],
    )
    .await;
    for (lecture, score) in [("L1", 0.5), ("L2", 0.97), ("L3", 0.7), ("L4", 0.99)] {
        w.db.suggestion(lecture, "t1", score).await;
    }
    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["L2", "L4"]);
    w.close().await;
}

#[sqlx::test]
async fn two_processes_posting_at_once_keep_to_the_limit_together(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let extra = [("TAGBOT_REVIEW_OPEN_LIMIT", "4")];
    let w = SlackWorld::without_poster(pool, options, &extra).await;
    for n in 0..30 {
        w.db.suggestion(&format!("L{n:02}"), "t1", 0.9).await;
    }
    let other = tagbot::startup::slack_app(
        w.db.app.clone(),
        settings(&w.slack, &extra),
        crate::helpers::no_undo(),
    )
    .await
    .unwrap();

    let (one, two) = tokio::join!(
        poster::run_once(&w.app, "serve-one"),
        poster::run_once(&other, "serve-two"),
    );

    assert_eq!(one.unwrap().posted + two.unwrap().posted, 4);
    assert_eq!(posted(&w).await.len(), 4);
    assert_eq!(w.slack.messages(REVIEW).len(), 4);
    w.close().await;
}

#[sqlx::test]
async fn a_decided_lecture_with_new_suggestions_waits_its_turn_and_gets_its_old_message_updated(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_OPEN_LIMIT", "1")]).await;
    let l1 = w.db.suggestion("L1", "t1", 0.9).await;
    let l2 = w.db.suggestion("L2", "t1", 0.9).await;
    w.post_reviews().await;
    let old_ts = w.message_ts("L1").await;
    approve_all(&w, &[l1]).await;
    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["L1", "L2"]);

    // New suggestions for L1 while L2 fills the channel: L1 waits, its
    // message still shows it as decided.
    w.db.suggestion("L1", "t2", 0.8).await;
    w.post_reviews().await;
    assert!(
        !crate::slack_world::all_text(&w.message_of("L1").await).contains("תגית t2"),
        "L1 waits in the queue"
    );

    // L2 decided: L1's turn. Its old message is brought up to date; no
    // second message is posted.
    approve_all(&w, &[l2]).await;
    let pass = w.post_reviews().await;
    assert_eq!(pass.posted, 0);
    assert_eq!(w.message_ts("L1").await, old_ts);
    assert!(crate::slack_world::all_text(&w.message_of("L1").await).contains("תגית t2"));
    assert_eq!(w.slack.messages(REVIEW).len(), 2);
    w.close().await;
}

#[sqlx::test]
async fn a_lecture_held_in_a_review_session_is_not_posted_meanwhile(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_OPEN_LIMIT", "1")]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    w.db.suggestion("L2", "t1", 0.9).await;
    // Dana's session takes the oldest lecture, L1.
    assert_eq!(w.command(DANA, "review").await, "Review session opened.");

    w.post_reviews().await;

    assert_eq!(
        posted(&w).await,
        ["L2"],
        "the channel skips the held lecture"
    );
    w.close().await;
}

#[sqlx::test]
async fn a_lecture_the_catalogue_does_not_have_never_takes_a_place(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_OPEN_LIMIT", "1")]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    w.db.suggestion("L2", "t1", 0.9).await;
    // A catalogue exposed through views has no foreign key to keep L1 in.
    sqlx::raw_sql(
        "ALTER TABLE lecture_tag_suggestions DROP CONSTRAINT sugg_lecture_fk;
         DELETE FROM enriched_lectures WHERE lecture_external_id = 'L1';",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();

    w.post_reviews().await;
    w.post_reviews().await;

    assert_eq!(posted(&w).await, ["L2"]);
    // A session does not get stuck on it either.
    assert_eq!(w.command(DANA, "review").await, "Review session opened.");
    let held: Vec<String> = sqlx::query_scalar("SELECT lecture_external_id FROM review_holds")
        .fetch_all(&w.db.app)
        .await
        .unwrap();
    assert_eq!(held, ["L2"]);
    w.close().await;
}
