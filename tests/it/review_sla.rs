//! `TAGBOT_REVIEW_SLA`: a lecture whose oldest pending suggestion is
//! older is overdue. The daily digest counts them and names the five that
//! waited longest, mentioning the reviewers' user groups once a day while
//! any are; `/metrics` has the review queue's age and the overdue count.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::slack::output::notify;
use tagbot::storage::review_queue;

use crate::helpers::{reviewer, TestDb};
use crate::slack_world::{eventually_within, settings, SlackWorld, REPORT};

/// A digest due at any time of day, so that tests can post it now.
const DIGEST_ANY_TIME: (&str, &str) = ("TAGBOT_DIGEST_TIME", "00:00");
const GROUP: &str = "S0REVIEWRS";

/// A pending suggestion on `lecture` that arrived `age` ago.
async fn waiting_since(db: &TestDb, lecture: &str, tag: &str, age: TimeDelta) {
    let id = db.suggestion(lecture, tag, 0.5).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET created_at = now() - $2 WHERE id = $1")
        .bind(id.get())
        .bind(age)
        .execute(&db.admin)
        .await
        .unwrap();
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// The digests in the report channel, oldest first.
fn digests(w: &SlackWorld) -> Vec<Value> {
    w.slack
        .messages(REPORT)
        .into_iter()
        .filter(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("Daily tag digest")
        })
        .collect()
}

fn text(message: &Value) -> String {
    message["text"].as_str().unwrap_or_default().to_owned()
}

#[sqlx::test]
async fn the_digest_counts_overdue_lectures_and_names_the_five_that_waited_longest(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[DIGEST_ANY_TIME]).await;
    // Seven lectures past the default 72 h, L1 the oldest; L8 is fresh.
    w.db.lecture("L1", "<!channel> *כותרת* <https://evil.example|click>")
        .await;
    for n in 1..=7 {
        waiting_since(&w.db, &format!("L{n}"), "t1", days(11 - n)).await;
    }
    // A newer suggestion on L1 does not make it any younger.
    waiting_since(&w.db, "L1", "t2", TimeDelta::hours(1)).await;
    waiting_since(&w.db, "L8", "t1", TimeDelta::hours(1)).await;

    assert_eq!(
        notify::run_once(&w.app, Utc::now()).await.unwrap().digests,
        1
    );

    let [digest] = digests(&w).try_into().expect("one digest");
    let headline = text(&digest);
    assert!(
        headline.contains("*7 lecture(s) overdue*, waiting longer than 3d"),
        "{headline}"
    );
    assert!(!headline.contains("subteam"), "no groups to mention");
    let listed = digest["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "digest_overdue")
        .and_then(|b| b["text"]["text"].as_str())
        .expect("the overdue lectures")
        .to_owned();
    let named: Vec<&str> = ["L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8"]
        .into_iter()
        .filter(|l| listed.contains(&format!("`{l}`")))
        .collect();
    assert_eq!(named, ["L1", "L2", "L3", "L4", "L5"], "{listed}");
    assert!(listed.ends_with("…and 2 more"), "{listed}");
    // The catalogue's title, escaped: no ping, no link, no bold.
    for raw in ["<!channel>", "<https://evil", "*כותרת*"] {
        assert!(!listed.contains(raw), "{raw} in {listed}");
    }
    assert!(listed.contains("&lt;!channel&gt; ∗כותרת∗"), "{listed}");
    w.close().await;
}

#[sqlx::test]
async fn the_reviewers_groups_are_mentioned_once_a_day_while_lectures_are_overdue(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let env = [
        DIGEST_ANY_TIME,
        ("SLACK_REVIEWERS", "U0DANA0001,S0REVIEWRS"),
    ];
    let w = SlackWorld::without_poster(pool, options, &env).await;
    let overdue = w.db.suggestion("L1", "t1", 0.5).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET created_at = now() - interval '4 days'")
        .execute(&w.db.admin)
        .await
        .unwrap();
    let other = tagbot::startup::slack_app(
        w.db.app.clone(),
        settings(&w.slack, &env),
        crate::helpers::no_undo(),
    )
    .await
    .unwrap();
    let day_one = Utc::now();

    // Two processes at once, then one of them again: one digest.
    let (one, two) = tokio::join!(
        notify::run_once(&w.app, day_one),
        notify::run_once(&other, day_one),
    );
    assert_eq!(one.unwrap().digests + two.unwrap().digests, 1);
    assert_eq!(notify::run_once(&w.app, day_one).await.unwrap().digests, 0);
    let mention = format!("<!subteam^{GROUP}>");
    let posted = digests(&w);
    assert_eq!(posted.len(), 1);
    assert!(
        text(&posted[0]).starts_with(&mention),
        "{}",
        text(&posted[0])
    );
    assert_eq!(
        text(&posted[0]).matches("subteam").count(),
        1,
        "the group only, once"
    );

    // Still overdue the next day: mentioned again.
    let day_two = day_one + days(1);
    assert_eq!(notify::run_once(&other, day_two).await.unwrap().digests, 1);
    let posted = digests(&w);
    assert_eq!(posted.len(), 2);
    assert!(
        text(&posted[1]).starts_with(&mention),
        "{}",
        text(&posted[1])
    );

    // Decided: the day after, nothing is overdue and nobody is mentioned.
    w.db.review()
        .approve(overdue, &reviewer("U0DANA0001", "דנה"))
        .await
        .unwrap();
    let day_three = day_two + days(1);
    assert_eq!(
        notify::run_once(&w.app, day_three).await.unwrap().digests,
        1
    );
    let posted = digests(&w);
    let calm = text(&posted[2]);
    assert!(!calm.contains("subteam"), "{calm}");
    assert!(calm.contains("Nothing has waited longer than 3d"), "{calm}");
    w.close().await;
}

#[sqlx::test]
async fn reviewers_named_only_as_users_are_not_mentioned(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let env = [
        DIGEST_ANY_TIME,
        ("SLACK_REVIEWERS", "U0DANA0001,U0YOSI0001"),
        ("TAGBOT_REVIEW_SLA", "90m"),
    ];
    let w = SlackWorld::without_poster(pool, options, &env).await;
    waiting_since(&w.db, "L1", "t1", TimeDelta::hours(2)).await;

    notify::run_once(&w.app, Utc::now()).await.unwrap();

    let [digest] = digests(&w).try_into().expect("one digest");
    let headline = text(&digest);
    assert!(
        headline.contains("*1 lecture(s) overdue*, waiting longer than 90m"),
        "{headline}"
    );
    assert!(
        !headline.contains("<!subteam") && !headline.contains("<@"),
        "{headline}"
    );
    w.close().await;
}

#[sqlx::test]
async fn the_backlog_counts_lectures_past_the_sla_and_none_with_it_off(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let now = Utc::now();
    let sla = Some(Duration::from_secs(72 * 3600));
    let empty = review_queue::backlog(&db.app, now, sla).await.unwrap();
    assert_eq!((empty.oldest_pending, empty.overdue_lectures), (None, 0));

    waiting_since(&db, "L1", "t1", days(5)).await;
    waiting_since(&db, "L1", "t2", days(4)).await;
    waiting_since(&db, "L2", "t1", days(3) + TimeDelta::minutes(1)).await;
    waiting_since(&db, "L3", "t1", days(3) - TimeDelta::minutes(1)).await;
    let decided = db.suggestion("L4", "t1", 0.5).await;
    sqlx::query(
        "UPDATE lecture_tag_suggestions SET created_at = now() - interval '9 days' WHERE id = $1",
    )
    .bind(decided.get())
    .execute(&db.admin)
    .await
    .unwrap();
    db.review()
        .reject(decided, &reviewer("U0DANA0001", "דנה"))
        .await
        .unwrap();

    let backlog = review_queue::backlog(&db.app, now, sla).await.unwrap();
    assert_eq!(
        backlog.overdue_lectures, 2,
        "L1 (twice) and L2; not L3, not the decided L4"
    );
    let oldest = backlog.oldest_pending.expect("something pending");
    let age = now - oldest;
    assert!(
        (days(5) - TimeDelta::seconds(5)..=days(5) + TimeDelta::seconds(5)).contains(&age),
        "{age}"
    );
    let off = review_queue::backlog(&db.app, now, None).await.unwrap();
    assert_eq!(
        off.overdue_lectures, 0,
        "with the SLA off nothing is overdue"
    );
    assert_eq!(off.oldest_pending, backlog.oldest_pending);
    let longest = review_queue::longest_overdue(&db.app, now, sla, 5)
        .await
        .unwrap();
    let ids: Vec<&str> = longest
        .iter()
        .map(|l| l.lecture_external_id.as_str())
        .collect();
    assert_eq!(ids, ["L1", "L2"]);
    assert_eq!(longest[0].since, oldest);
    db.close().await;
}

#[sqlx::test]
async fn metrics_show_the_review_queues_age_and_the_overdue_lectures(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    // 1,234,567 s (14 days and a bit) and 13 overdue lectures: figures
    // no other test's database has, as the gauges are the process's.
    for n in 0..13 {
        waiting_since(&w.db, &format!("L{n:02}"), "t1", days(4)).await;
    }
    waiting_since(&w.db, "L00", "t2", TimeDelta::seconds(1_234_567)).await;
    waiting_since(&w.db, "L99", "t1", TimeDelta::hours(1)).await;
    let url = format!("{}/metrics", w.base);

    // Another test's scrape may set the process's gauges between this
    // app's reading and its rendering: scrape until this app's show.
    eventually_within("the review gauges", Duration::from_secs(10), || async {
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let oldest = gauge(&body, "tagbot_review_oldest_pending_seconds");
        gauge(&body, "tagbot_review_overdue_lectures") == Some(13.0)
            && oldest.is_some_and(|s| (1_234_567.0..1_234_600.0).contains(&s))
    })
    .await;
    w.close().await;
}

/// A gauge's value in a Prometheus text exposition.
fn gauge(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
}
