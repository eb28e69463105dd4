//! The App Home tab: published when a reviewer opens it and after their
//! decisions; the queue, Start reviewing, their own and the team's
//! decisions, sync health with a Retry per failed lecture; within Slack's
//! limits however large the catalogue.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::view_block_actions;
use tagbot::slack::card::actions;

use crate::slack_world::{all_text, eventually, Signing, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";

/// Slack's `app_home_opened` callback for `user`, signed.
async fn open_home(w: &SlackWorld, user: &str) {
    let body = json!({
        "type": "event_callback", "team_id": "T0TAGBOT00", "api_app_id": "A0TAGBOT00",
        "event_id": format!("Ev{user}"), "event_time": 1_700_000_000,
        "event": { "type": "app_home_opened", "user": user, "channel": "D0DANA0001",
                   "tab": "home", "event_ts": "1700000000.000100" },
    });
    let (status, _) = w
        .send("/slack/events", &body.to_string(), Signing::Valid)
        .await;
    assert_eq!(status, 200);
}

/// Opens the Home tab and waits until it is published.
async fn open_published(w: &SlackWorld, user: &str) {
    open_home(w, user).await;
    eventually("the Home tab is published", || async {
        w.slack.home(user).is_some()
    })
    .await;
}

async fn home_text(w: &SlackWorld, user: &str) -> String {
    all_text(&w.slack.home(user).expect("a published Home tab").view)
}

#[sqlx::test]
async fn opening_the_home_tab_shows_the_queue_decisions_and_sync_health(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    w.db.suggestion("L1", "t2", 0.8).await;
    w.db.suggestion("L2", "t1", 0.7).await;
    let failed = w.db.suggestion("L3", "t1", 0.9).await;
    w.db.fail_as_worker(failed, "tag_missing: t1").await;

    open_published(&w, DANA).await;

    let home = w.slack.home(DANA).unwrap().view;
    let text = all_text(&home);
    assert!(text.contains("2 lecture(s) waiting for review"), "{text}");
    assert!(text.contains("3 tag(s) in all"), "{text}");
    assert!(
        text.contains("Your decisions:* 0 today, 0 this week"),
        "{text}"
    );
    assert!(text.contains("1 failed"), "{text}");
    assert!(text.contains("L3"), "{text}");
    assert!(
        text.contains("The daily digest is posted at 09:00 UTC"),
        "{text}"
    );
    // The one decision so far (approved, then failed to sync) is too few
    // for a threshold.
    assert!(
        text.contains("*Calibration* (target 95% approved)"),
        "{text}"
    );
    assert!(
        text.contains("test-model\u{2069}: 1 decisions, 100% approved; recommended threshold not enough decisions yet (1 of the 30 needed)"),
        "{text}"
    );
    let buttons: Vec<&str> = home["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            b["elements"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .chain(b.get("accessory").cloned())
        })
        .filter_map(|e| e["action_id"].as_str().map(str::to_owned))
        .map(|id| {
            if id == actions::START_REVIEW {
                "start"
            } else if id == actions::RETRY_FAILED {
                "retry"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(buttons, ["start", "retry"]);
    w.close().await;
}

#[sqlx::test]
async fn the_home_tab_is_published_again_after_the_reviewers_decision(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.9).await;
    w.settle().await;
    open_published(&w, DANA).await;

    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );

    eventually("the Home tab counts the decision", || async {
        w.slack
            .home(DANA)
            .is_some_and(|home| all_text(&home.view).contains("1 today, 1 this week"))
    })
    .await;
    let text = home_text(&w, DANA).await;
    assert!(text.contains("Nothing is waiting for review"), "{text}");
    assert!(
        text.contains("1 decision(s) by 1 reviewer(s): \u{2068}דנה\u{2069} 1"),
        "{text}"
    );
    w.close().await;
}

#[sqlx::test]
async fn retry_from_the_home_tab_sends_the_lectures_failed_tags_again(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let failed = w.db.suggestion("L3", "t1", 0.9).await;
    w.db.fail_as_worker(failed, "tag_missing: t1").await;
    open_published(&w, DANA).await;
    let mut home = w.slack.home(DANA).unwrap();
    home.view["type"] = json!("home");

    let click = view_block_actions(
        DANA,
        &home,
        &w.slack.mint(REVIEW, DANA),
        actions::RETRY_FAILED,
        "L3",
    );
    assert_eq!(w.interact(&click).await, 200);

    eventually("the failed tag is approved again", || async {
        w.db.status(failed).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn the_home_tab_fits_slacks_limits_with_a_hundred_thousand_lectures_waiting(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    sqlx::raw_sql(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'L' || n, repeat('כותרת ארוכה ', 40) FROM generate_series(1, 100000) n;
         INSERT INTO tags (tag_id, name) VALUES ('t1', 'תגית');
         INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
         SELECT 'L' || n, 't1', 0.5, 'm' FROM generate_series(1, 100000) n;",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    // 500 failed lectures with long reasons.
    sqlx::raw_sql(
        "SELECT set_config('tagbot.actor', 'cli:test', false);
         UPDATE lecture_tag_suggestions SET status = 'approved'
         WHERE lecture_external_id IN (SELECT 'L' || n FROM generate_series(1, 500) n);
         SELECT set_config('tagbot.actor', 'worker', false);
         UPDATE lecture_tag_suggestions SET status = 'failed', last_error = repeat('שגיאה ', 500),
                last_error_category = 'validation'
         WHERE status = 'approved';",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();

    open_published(&w, DANA).await;

    let publishes = w.slack.calls_to("views.publish");
    assert!(publishes.iter().all(|c| c.ok()), "Slack accepted it");
    let home = w.slack.home(DANA).unwrap().view;
    assert!(home["blocks"].as_array().unwrap().len() <= 100);
    assert!(home.to_string().len() <= 250_000);
    let text = all_text(&home);
    assert!(text.contains("99500 lecture(s) waiting"), "{text}");
    assert!(
        text.contains("and 490 more lecture(s) with failed tags"),
        "{text}"
    );
    w.close().await;
}

#[sqlx::test]
async fn hostile_text_is_escaped_in_the_home_tab(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let failed = w.db.suggestion("L3", "t1", 0.9).await;
    sqlx::query(
        "UPDATE enriched_lectures SET title = '<!channel> *x*' WHERE lecture_external_id = 'L3'",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    w.db.fail_as_worker(failed, "<!here> <https://evil.example|click>")
        .await;
    w.slack.add_user("U0HOSTILE1", "<!everyone>");
    let other = w.db.suggestion("L4", "t1", 0.9).await;
    w.db.review()
        .approve(
            other,
            &crate::helpers::reviewer("U0HOSTILE1", "<!everyone>"),
        )
        .await
        .unwrap();

    open_published(&w, DANA).await;
    let text = home_text(&w, DANA).await;
    for raw in ["<!channel>", "<!here>", "<https://evil", "<!everyone>"] {
        assert!(!text.contains(raw), "{raw} in {text}");
    }
    assert!(text.contains("&lt;!everyone&gt;"), "{text}");
    w.close().await;
}

#[sqlx::test]
async fn the_home_tab_counts_the_lectures_waiting_longer_than_the_review_sla(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_SLA", "2d")]).await;
    for lecture in ["L1", "L2", "L3"] {
        w.db.suggestion(lecture, "t1", 0.9).await;
    }
    w.db.suggestion("L1", "t2", 0.9).await;
    sqlx::query(
        "UPDATE lecture_tag_suggestions SET created_at = now() - interval '50 hours'
         WHERE lecture_external_id IN ('L1', 'L2')",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();

    open_published(&w, DANA).await;

    let text = home_text(&w, DANA).await;
    assert!(text.contains("3 lecture(s) waiting for review"), "{text}");
    assert!(
        text.contains(":alarm_clock: *2 overdue*: waiting longer than 2d."),
        "{text}"
    );
    w.close().await;
}

#[sqlx::test]
async fn with_the_review_sla_off_the_home_tab_says_nothing_of_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_REVIEW_SLA", "off")]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET created_at = now() - interval '30 days'")
        .execute(&w.db.admin)
        .await
        .unwrap();

    open_published(&w, DANA).await;

    let text = home_text(&w, DANA).await;
    assert!(text.contains("1 lecture(s) waiting for review"), "{text}");
    assert!(!text.contains("overdue"), "{text}");
    w.close().await;
}
