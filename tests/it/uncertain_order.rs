//! `TAGBOT_REVIEW_ORDER=uncertain`: the lecture whose pending tags come
//! closest to their model's threshold (calibration's recommended one, else
//! `TAGBOT_APPROVE_THRESHOLD`) is served first, in the review channel and
//! in review sessions alike; ties go to the older lecture.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::calibration::Threshold;
use tagbot::domain::SuggestionId;

use crate::helpers::{reviewer, TestDb};
use crate::slack_world::SlackWorld;

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";

/// The lectures with a posted review message, by lecture id.
async fn posted(w: &SlackWorld) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT lecture_external_id FROM slack_review_messages WHERE ts IS NOT NULL ORDER BY 1",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap()
}

/// The lecture `user`'s review session holds.
async fn held_by(w: &SlackWorld, user: &str) -> Option<String> {
    sqlx::query_scalar("SELECT lecture_external_id FROM review_holds WHERE held_by = $1")
        .bind(user)
        .fetch_optional(&w.db.app)
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

/// Against a threshold of 0.75, oldest first: L1 is 0.24 away at best, L2
/// 0.25, L3 0.05, L4 0.03, L5 0.25 (a tie with the older L2). Oldest
/// first would serve L1, L2; best score first L5, L1.
async fn five_lectures(db: &TestDb) -> Vec<Vec<SuggestionId>> {
    let mut lectures = Vec::new();
    for (lecture, scores) in [
        ("L1", &[0.99, 0.10][..]),
        ("L2", &[0.50][..]),
        ("L3", &[0.20, 0.70][..]),
        ("L4", &[0.78][..]),
        ("L5", &[1.0][..]),
    ] {
        let mut ids = Vec::new();
        for (n, score) in scores.iter().enumerate() {
            ids.push(db.suggestion(lecture, &format!("t{n}"), *score).await);
        }
        lectures.push(ids);
    }
    lectures
}

const UNCERTAIN: [(&str, &str); 2] = [
    ("TAGBOT_REVIEW_ORDER", "uncertain"),
    ("TAGBOT_APPROVE_THRESHOLD", "0.75"),
];

#[sqlx::test]
async fn the_channel_posts_first_the_lectures_closest_to_the_threshold(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let mut env = UNCERTAIN.to_vec();
    env.push(("TAGBOT_REVIEW_OPEN_LIMIT", "2"));
    let w = SlackWorld::without_poster(pool, options, &env).await;
    let lectures = five_lectures(&w.db).await;

    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["L3", "L4"], "0.05 and 0.03 away");

    // L4 decided: the next closest, L1 (0.24), comes in.
    approve_all(&w, &lectures[3]).await;
    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["L1", "L3", "L4"]);

    // L1 decided: L2 and L5 are both 0.25 away; the older, L2, first.
    approve_all(&w, &lectures[0]).await;
    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["L1", "L2", "L3", "L4"]);
    w.close().await;
}

#[sqlx::test]
async fn a_session_serves_the_most_uncertain_lecture_first(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &UNCERTAIN).await;
    five_lectures(&w.db).await;

    assert_eq!(w.command(DANA, "review").await, "Review session opened.");
    assert_eq!(held_by(&w, DANA).await.as_deref(), Some("L4"));
    // A second reviewer gets the next one in the order.
    assert_eq!(w.command(YOSI, "review").await, "Review session opened.");
    assert_eq!(held_by(&w, YOSI).await.as_deref(), Some("L3"));
    w.close().await;
}

/// 80 decided suggestions of `model`: 40 scored 0.25, rejected, and 40
/// scored 0.65, approved. Calibration recommends 0.26 for it: the lowest
/// score at or above which at least 30 decisions were approved 95% of the
/// time.
async fn decided_history(db: &TestDb, model: &str) {
    sqlx::raw_sql(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'H' || n, 'היסטוריה ' || n FROM generate_series(1, 80) n;
         INSERT INTO tags (tag_id, name) VALUES ('h', 'תגית h');",
    )
    .execute(&db.admin)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
         SELECT 'H' || n, 'h', CASE WHEN n <= 40 THEN 0.25 ELSE 0.65 END, $1
         FROM generate_series(1, 80) n",
    )
    .bind(model)
    .execute(&db.app)
    .await
    .unwrap();
    let mut tx = db.app.begin().await.unwrap();
    sqlx::query("SELECT set_config('tagbot.actor', 'cli:history', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE lecture_tag_suggestions
         SET status = CASE WHEN score > 0.5 THEN 'approved' ELSE 'rejected' END
         WHERE suggested_by = $1",
    )
    .bind(model)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test]
async fn a_model_with_a_recommended_threshold_is_measured_against_it_not_the_default(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_REVIEW_ORDER", "uncertain"),
            ("TAGBOT_REVIEW_OPEN_LIMIT", "1"),
        ],
    )
    .await;
    decided_history(&w.db, "calibrated-model").await;
    // Against the default 0.88: B is 0.08 away, C 0.38, A 0.60. Against
    // its model's recommended 0.26, A is 0.02 away.
    w.db.suggestion("B", "t1", 0.80).await;
    w.db.suggestion("C", "t1", 0.50).await;
    let a = w.db.suggestion("A", "t1", 0.28).await;
    sqlx::query(
        "UPDATE lecture_tag_suggestions SET suggested_by = 'calibrated-model' WHERE id = $1",
    )
    .bind(a.get())
    .execute(&w.db.admin)
    .await
    .unwrap();
    let calibration = w.app.calibration().await.expect("calibration");
    let calibrated = calibration
        .models
        .iter()
        .find(|m| m.model == "calibrated-model")
        .expect("the calibrated model");
    assert!(
        matches!(calibrated.threshold, Threshold::At { score, .. } if (score - 0.26).abs() < 1e-9),
        "{:?}",
        calibrated.threshold
    );

    w.post_reviews().await;
    assert_eq!(posted(&w).await, ["A"]);
    // Sessions go by the same thresholds: outside the channel, B (the
    // default's closest) is next.
    assert_eq!(w.command(DANA, "review").await, "Review session opened.");
    assert_eq!(held_by(&w, DANA).await.as_deref(), Some("B"));
    w.close().await;
}
