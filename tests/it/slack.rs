//! The Slack app end to end: signed requests shaped like Slack's into
//! tagbot's endpoints, down to the database, and back out to the Slack stand-in
//! Web API (the posted and updated messages, ephemerals, modals).

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::shutdown::Shutdown;
use tagbot::slack::card::actions;
use tagbot::slack::handlers::commands::HELP;
use tagbot::slack::handlers::interactions::{DETAILS_CALLBACK, MODAL_SELECT, MODAL_SELECT_BLOCK};
use tagbot::slack::output::notify;

use std::time::Duration;

use crate::slack_world::{
    all_text, eventually, eventually_within, form, Signing, SlackWorld, REPORT, REVIEW,
};

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";

#[sqlx::test]
async fn requests_without_a_valid_signature_are_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let challenge = json!({ "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" }).to_string();

    let (status, body) = w.send("/slack/events", &challenge, Signing::Valid).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    for signing in [Signing::Forged, Signing::Stale, Signing::NoHeaders] {
        for path in ["/slack/events", "/slack/interactions", "/slack/commands"] {
            let (status, body) = w.send(path, &challenge, signing).await;
            assert_eq!(status, 401, "{path} {signing:?}");
            assert!(!body.contains(crate::slack_world::SECRET));
        }
    }
    w.close().await;
}

#[sqlx::test]
async fn each_lecture_is_posted_once_and_updated_with_new_suggestions(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.95).await;
    w.db.suggestion("L1", "t2", 0.50).await;
    w.db.suggestion("L2", "t1", 0.70).await;

    // Two processes posting at once post each lecture once.
    let (one, two) = tokio::join!(
        tagbot::slack::output::poster::run_once(&w.app, "process-1"),
        tagbot::slack::output::poster::run_once(&w.app, "process-2")
    );
    assert_eq!(one.unwrap().posted + two.unwrap().posted, 2);
    // A restart: nothing is posted again.
    let again = tagbot::slack::output::poster::run_once(&w.app, "another-process")
        .await
        .unwrap();
    assert_eq!(again.posted, 0);
    assert_eq!(w.slack.messages(REVIEW).len(), 2);
    let first = w.message_of("L1").await;
    assert!(all_text(&first).contains("תגית t1"), "{first}");

    // A new suggestion for a posted lecture updates its message in place.
    w.db.suggestion("L1", "t3", 0.91).await;
    let pass = w.post_reviews().await;
    assert_eq!((pass.posted, pass.updated), (0, 1));
    assert_eq!(w.slack.messages(REVIEW).len(), 2);
    assert!(all_text(&w.message_of("L1").await).contains("תגית t3"));
    assert_eq!(
        w.post_reviews().await,
        Default::default(),
        "nothing left behind"
    );
    w.close().await;
}

#[sqlx::test]
async fn approve_and_reject_buttons_decide_as_the_clicking_reviewer(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let good = w.db.suggestion("L1", "t1", 0.95).await;
    let bad = w.db.suggestion("L1", "t2", 0.40).await;
    w.settle().await;

    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &good.to_string())
            .await,
        200
    );
    assert_eq!(
        w.click(YOSI, "L1", actions::REJECT, &bad.to_string()).await,
        200
    );

    eventually("both decisions land", || async {
        w.db.status(good).await == "approved" && w.db.status(bad).await == "rejected"
    })
    .await;
    let (actor, name): (String, Option<String>) = sqlx::query_as(
        "SELECT actor, actor_name FROM events WHERE suggestion_id = $1 AND action = 'approve'",
    )
    .bind(good.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(
        (actor.as_str(), name.as_deref()),
        ("slack:U0DANA0001", Some("דנה"))
    );
    eventually("the message shows both decisions", || async {
        let text = all_text(&w.message_of("L1").await);
        text.contains("דנה") && text.contains("יוסי")
    })
    .await;
    // Decided suggestions have no buttons left.
    let message = w.message_of("L1").await;
    assert!(!message.to_string().contains(actions::APPROVE), "{message}");
    w.close().await;
}

#[sqlx::test]
async fn the_loser_of_a_race_is_told_who_decided(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;

    let ts = w.message_ts("L1").await;
    let dana = w.block_actions(
        DANA,
        &ts,
        actions::APPROVE,
        json!({ "value": id.to_string() }),
        json!({}),
    );
    let yosi = w.block_actions(
        YOSI,
        &ts,
        actions::REJECT,
        json!({ "value": id.to_string() }),
        json!({}),
    );
    let (a, b) = tokio::join!(w.interact(&dana), w.interact(&yosi));
    assert_eq!((a, b), (200, 200));

    eventually("one of them is told", || async {
        w.told(DANA).len() + w.told(YOSI).len() == 1
    })
    .await;
    let status = w.db.status(id).await;
    let (loser, winner_name) = if status == "approved" {
        (YOSI, "דנה")
    } else {
        (DANA, "יוסי")
    };
    let told = w.told(loser).join("\n");
    // The name in a direction isolate of its own.
    assert!(
        told.contains(&format!("by \u{2068}{winner_name}\u{2069} at ")),
        "{told}"
    );
    assert!(told.contains("Nothing was changed"), "{told}");
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action IN ('approve', 'reject')")
            .await,
        1
    );
    w.close().await;
}

#[sqlx::test]
async fn someone_not_among_the_reviewers_changes_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(
        pool,
        options,
        &[("SLACK_REVIEWERS", "U0DANA0001,S0REVIEWRS")],
    )
    .await;
    w.slack.add_usergroup("S0REVIEWRS", &["U0YOSI0001"]);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    let two = w.db.suggestion("L1", "t2", 0.93).await;
    w.settle().await;

    w.click("U0STRANGER", "L1", actions::APPROVE, &one.to_string())
        .await;
    w.click("U0STRANGER", "L1", actions::APPROVE_TOP, "L1")
        .await;
    eventually("the stranger is told twice", || async {
        w.told("U0STRANGER").len() == 2
    })
    .await;
    assert!(w.told("U0STRANGER")[0].contains("not one of"));
    assert_eq!(w.db.status(one).await, "pending");
    assert_eq!(w.db.status(two).await, "pending");
    let answer = w.command("U0STRANGER", "retry L1").await;
    assert!(answer.contains("not one of the tag reviewers"), "{answer}");

    // A listed user, and a member of a listed group, may decide.
    w.click(DANA, "L1", actions::APPROVE, &one.to_string())
        .await;
    w.click(YOSI, "L1", actions::APPROVE, &two.to_string())
        .await;
    eventually("both reviewers' approvals land", || async {
        w.db.status(one).await == "approved" && w.db.status(two).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn approve_selected_top_and_retry_act_on_the_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let a = w.db.suggestion("L1", "t1", 0.95).await;
    let b = w.db.suggestion("L1", "t2", 0.88).await;
    let c = w.db.suggestion("L1", "t3", 0.60).await;
    let d = w.db.suggestion("L1", "t4", 0.50).await;
    w.settle().await;
    let ts = w.message_ts("L1").await;

    // Approve selected: what the multi-select holds in `state`.
    let state = json!({ actions::SELECT_BLOCK: { actions::SELECT: {
        "type": "multi_static_select",
        "selected_options": [{ "text": { "type": "plain_text", "text": "t3" }, "value": c.to_string() }]
    } } });
    w.interact(&w.block_actions(
        DANA,
        &ts,
        actions::APPROVE_SELECTED,
        json!({ "value": "L1" }),
        state.clone(),
    ))
    .await;
    eventually("the selected one is approved", || async {
        w.db.status(c).await == "approved"
    })
    .await;
    assert_eq!(w.db.status(d).await, "pending");
    // Selected again by someone else: what was not changed names its tag.
    w.interact(&w.block_actions(
        YOSI,
        &ts,
        actions::APPROVE_SELECTED,
        json!({ "value": "L1" }),
        state.clone(),
    ))
    .await;
    eventually("Yosi is told", || async { !w.told(YOSI).is_empty() }).await;
    let told = w.told(YOSI).join("\n");
    assert!(
        told.contains("0 done; not changed: \u{2068}תגית t3\u{2069}: already approved by"),
        "{told}"
    );

    // Approve all >= 0.88: the threshold itself counts.
    w.click(DANA, "L1", actions::APPROVE_TOP, "L1").await;
    eventually("top suggestions approved", || async {
        w.db.status(a).await == "approved" && w.db.status(b).await == "approved"
    })
    .await;
    assert_eq!(w.db.status(d).await, "pending");

    // Retry failed: a failed suggestion goes back to approved.
    w.db.force_status(a, "failed", "worker").await.unwrap();
    w.settle().await;
    let failed_view = w.message_of("L1").await.to_string();
    assert!(failed_view.contains(actions::RETRY_FAILED), "{failed_view}");
    w.click(YOSI, "L1", actions::RETRY_FAILED, "L1").await;
    eventually("the failed one is retried", || async {
        w.db.status(a).await == "approved"
    })
    .await;
    let retried_by: String = sqlx::query_scalar(
        "SELECT actor_name FROM events WHERE suggestion_id = $1 AND action = 'retry'",
    )
    .bind(a.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(retried_by, "יוסי");
    w.close().await;
}

#[sqlx::test]
async fn details_opens_a_modal_whose_submission_approves(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let long_rationale = "הסבר ארוך ".repeat(60);
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET rationale = $1")
        .bind(&long_rationale)
        .execute(&w.db.admin)
        .await
        .unwrap();
    w.settle().await;
    let ts = w.message_ts("L1").await;
    let click = w.block_actions(
        DANA,
        &ts,
        actions::DETAILS,
        json!({ "value": "L1" }),
        json!({}),
    );

    w.interact(&click).await;
    eventually("a modal opens", || async { !w.slack.views().is_empty() }).await;
    let view = w.slack.views()[0].view.clone();
    assert_eq!(view["callback_id"], DETAILS_CALLBACK);
    assert_eq!(view["private_metadata"], "L1");
    assert!(
        all_text(&view).contains(long_rationale.trim()),
        "the full rationale is shown"
    );

    let submission = json!({
        "type": "view_submission",
        "team": { "id": "T0TAGBOT00", "domain": "tagbot" },
        "user": { "id": DANA, "username": "dana", "name": "dana", "team_id": "T0TAGBOT00" },
        "api_app_id": "A0TAGBOT00",
        "trigger_id": "1.2.3",
        "view": {
            "id": "V0001", "team_id": "T0TAGBOT00", "type": "modal", "hash": "1.abc",
            "callback_id": DETAILS_CALLBACK, "private_metadata": "L1",
            "title": { "type": "plain_text", "text": "Details" }, "blocks": [],
            "state": { "values": { MODAL_SELECT_BLOCK: { MODAL_SELECT: {
                "type": "multi_static_select",
                "selected_options": [{ "text": { "type": "plain_text", "text": "t1" }, "value": id.to_string() }]
            } } } }
        }
    });
    assert_eq!(w.interact(&submission).await, 200);
    eventually("the modal's selection is approved", || async {
        w.db.status(id).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn forty_suggestions_still_render_within_slacks_limits(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let mut ids = Vec::new();
    for n in 0..40 {
        ids.push(
            w.db.suggestion("L1", &format!("t{n:02}"), 0.5 + f64::from(n) / 100.0)
                .await,
        );
    }

    // The fake refuses anything past Block Kit's limits.
    w.settle().await;
    assert_eq!(w.slack.messages(REVIEW).len(), 1);
    let message = w.message_of("L1").await;
    assert!(message["blocks"].as_array().unwrap().len() <= 50);
    // Every one of them can still be decided from the message.
    let raw = message.to_string();
    for id in &ids {
        assert!(
            raw.contains(&format!("\"{id}\"")) || raw.contains(&format!(":{id}\"")),
            "suggestion {id} is not reachable"
        );
    }
    w.close().await;
}

#[sqlx::test]
async fn tags_commands_answer_ephemerally(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::new(pool, options).await;
    let failed = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.suggestion("L2", "t1", 0.70).await;
    w.db.force_status(failed, "approved", "cli:test")
        .await
        .unwrap();
    w.db.force_status(failed, "failed", "worker").await.unwrap();
    w.settle().await;

    assert_eq!(w.command(DANA, "help").await, HELP);
    assert_eq!(w.command(DANA, "").await, HELP);
    for bad in ["frobnicate", "show", "retry", "retry L1 L2", "pending now"] {
        let answer = w.command(DANA, bad).await;
        assert!(answer.contains("/tags pending"), "{bad}: {answer}");
    }
    let pending = w.command(DANA, "pending").await;
    assert!(pending.contains("1 lecture(s) waiting"), "{pending}");
    assert!(pending.contains("`L2`"), "{pending}");
    assert!(
        pending.contains("https://slack.com/archives/C0REVIEW01/p"),
        "{pending}"
    );

    let shown = w.command(DANA, "show L1").await;
    assert!(
        shown.contains("תגית t1") && shown.contains("failed"),
        "{shown}"
    );
    assert!(w.command(DANA, "show L9").await.contains("no suggestions"));

    let retried = w.command(DANA, "retry L1").await;
    assert!(retried.contains("Retrying 1 failed tag"), "{retried}");
    assert_eq!(w.db.status(failed).await, "approved");
    assert!(w.command(DANA, "retry L1").await.contains("no failed tags"));

    assert!(w.command(DANA, "report").await.contains("No sync run"));
    w.close().await;
}

#[sqlx::test]
async fn failures_reports_and_the_digest_reach_the_report_channel_once(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.fail_as_worker(id, "tag_missing: t1").await;
    w.db.store_run_report(json!({
        "approved": 1, "synced": 3, "written": 3, "failed": 1,
        "failure_reasons": [{ "reason": "tag_missing", "count": 1 }], "requests": 4
    }))
    .await;

    let morning = chrono::Utc::now()
        .date_naive()
        .and_hms_opt(8, 0, 0)
        .unwrap()
        .and_utc();
    let first = notify::run_once(&w.app, morning).await.unwrap();
    assert_eq!(
        (first.failures, first.reports, first.digests),
        (1, 1, 0),
        "no digest before 09:00"
    );
    let after_nine = morning + chrono::Duration::hours(2);
    // Without files:write the week's chart cannot go up: Slack refuses,
    // and it is not asked again every pass; next week's is posted.
    w.slack.without_files_scope(true);
    let second = notify::run_once(&w.app, after_nine).await.unwrap();
    assert_eq!(
        (
            second.failures,
            second.reports,
            second.digests,
            second.charts
        ),
        (0, 0, 1, 0)
    );
    w.slack.without_files_scope(false);
    let same_week = notify::run_once(&w.app, after_nine).await.unwrap();
    assert_eq!(same_week.charts, 0, "refused this week: not asked again");
    let next_week = after_nine + chrono::Duration::days(7);
    let retried = notify::run_once(&w.app, next_week).await.unwrap();
    assert_eq!(retried.charts, 1, "the next week's calibration chart");
    let files = w.slack.files();
    let shared: Vec<_> = files.iter().filter(|f| f.channel.is_some()).collect();
    assert_eq!(shared.len(), 1);
    let chart = shared[0];
    assert_eq!(chart.channel.as_deref(), Some(REPORT));
    assert!(chart.filename.ends_with(".png"), "{}", chart.filename);
    let bytes = chart.bytes.as_deref().unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(chart.alt_txt.is_some());
    let comment = chart.initial_comment.as_deref().unwrap();
    assert!(comment.contains("Weekly calibration"), "{comment}");
    assert!(
        comment.contains("test-model: 1 decisions, 100% approved"),
        "{comment}"
    );
    assert_eq!(
        notify::run_once(&w.app, next_week).await.unwrap().charts,
        0,
        "once a week"
    );

    let posts = w.slack.messages(REPORT);
    assert_eq!(posts.len(), 4, "a failure, a run report, two daily digests");
    let failure = posts[0].to_string();
    assert!(
        failure.contains("tag_missing: t1") && failure.contains(actions::RETRY_FAILED),
        "{failure}"
    );
    assert!(posts[1].to_string().contains("3 synced, 1 failed"));
    assert!(posts[2].to_string().contains("Daily tag digest"));
    w.close().await;
}

#[sqlx::test]
async fn a_slash_command_body_with_bad_form_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let (status, _) = w
        .send(
            "/slack/commands",
            &form(&[("text", "help")]),
            Signing::Valid,
        )
        .await;
    assert_eq!(
        status, 400,
        "a command without user and channel is not Slack's"
    );
    let (status, _) = w
        .send("/slack/interactions", "payload=%7Bnot-json", Signing::Valid)
        .await;
    assert_eq!(status, 400);
    w.close().await;
}

#[sqlx::test]
async fn a_double_click_decides_once_and_says_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    let ts = w.message_ts("L1").await;
    let click = w.block_actions(
        DANA,
        &ts,
        actions::APPROVE,
        json!({ "value": id.to_string() }),
        json!({}),
    );

    w.interact(&click).await;
    w.interact(&click).await;
    eventually("the approval lands", || async {
        w.db.status(id).await == "approved"
    })
    .await;
    // Let the second click's handling finish too.
    eventually("both clicks handled", || async {
        w.slack.count("users.info") >= 1 && w.slack.count("chat.update") >= 1
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action = 'approve'")
            .await,
        1
    );
    assert!(w.told(DANA).is_empty(), "{:?}", w.told(DANA));
    w.close().await;
}

#[sqlx::test]
async fn a_rate_limited_post_waits_for_retry_after_and_goes_through(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.95).await;
    w.slack.rate_limit_next("chat.postMessage", 1, 1);

    let pass = w.post_reviews().await;

    assert_eq!(pass.posted, 1);
    assert_eq!(w.slack.rate_limited(), 1);
    let posts = w.slack.calls_to("chat.postMessage");
    assert_eq!(posts.len(), 2, "refused once, then sent again");
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(
        waited >= std::time::Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(w.slack.messages(REVIEW).len(), 1);
    w.close().await;
}

#[sqlx::test]
async fn health_readiness_and_metrics(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", w.base);
        async move {
            let response = reqwest::get(url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(get("/readyz").await.0, 200);

    w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await;
    eventually("approved", || async { w.db.status(id).await == "approved" }).await;
    let (status, metrics) = get("/metrics").await;
    assert_eq!(status, 200);
    for expected in [
        "tagbot_sync_queue_items{status=\"queued\"} 1",
        "tagbot_decisions_total{action=\"approve\"}",
        "tagbot_slack_ack_seconds_bucket{route=\"interactions\",le=\"0.05\"}",
        "tagbot_sync_oldest_queued_seconds",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }

    // A schema behind the binary is not ready; the reason (what to do)
    // goes to the log, not to whoever asks.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body, "not ready");
    w.close().await;
}

#[sqlx::test]
async fn a_large_sync_run_posts_one_progress_message_and_updates_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    // Fast, as the test's worker is: the run is what is looked at.
    let (airtable, syncer) = airtable_and_syncer(&w, 60, 100).await;
    let (stop, shutdown) = Shutdown::manual();
    let (app, progress) = (w.app.clone(), syncer.progress());
    let follower =
        tokio::spawn(async move { notify::follow_sync_progress(&app, progress, &shutdown).await });

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(report.synced, 60);
    eventually("the progress message says the run finished", || async {
        w.slack.messages(REPORT).first().is_some_and(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("finished: 60 of 60")
        })
    })
    .await;
    assert_eq!(
        w.slack.messages(REPORT).len(),
        1,
        "one message, updated in place"
    );
    assert!(w.slack.count("chat.update") >= 1);
    stop.send(true).unwrap();
    follower.await.unwrap();
    airtable.shutdown();
    w.close().await;
}

#[sqlx::test]
async fn a_deleted_or_refused_message_does_not_hold_up_the_others(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    w.db.suggestion("L2", "t1", 0.9).await;
    w.db.suggestion("L3", "t1", 0.9).await;
    assert_eq!(w.post_reviews().await.posted, 3);
    let first_l1 = w.message_ts("L1").await;
    for lecture in ["L1", "L2", "L3"] {
        w.db.suggestion(lecture, "t2", 0.8).await;
    }

    // Someone deleted one message in Slack; another update fails once.
    w.slack.fail_next("chat.update", 1, "message_not_found");
    w.slack.fail_next("chat.update", 1, "internal_error");
    let pass = w.post_reviews().await;

    // The refused update is tried again once the others are done; the
    // deleted message is posted anew.
    assert_eq!(
        (pass.posted, pass.updated, pass.failed),
        (1, 2, 1),
        "{pass:?}"
    );
    assert_ne!(w.message_ts("L1").await, first_l1);
    assert_eq!(w.slack.messages(REVIEW).len(), 4);
    assert_eq!(w.post_reviews().await, Default::default());
    w.close().await;
}

#[sqlx::test]
async fn a_pipeline_role_that_only_inserts_suggestions_still_can(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    w.post_reviews().await;
    w.db.tag("t2", "היסטוריה").await;
    // The tagging pipeline: INSERT on suggestions, nothing on tagbot's
    // Slack tables, yet the insert bumps the lecture's message.
    sqlx::query(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tagbot_test_pipeline') THEN
                 CREATE ROLE tagbot_test_pipeline NOLOGIN;
             END IF;
         END $$",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    sqlx::query("GRANT SELECT, INSERT ON lecture_tag_suggestions TO tagbot_test_pipeline")
        .execute(&w.db.admin)
        .await
        .unwrap();
    let mut tx = w.db.admin.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE tagbot_test_pipeline")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, rationale, suggested_by)
         VALUES ('L1', 't2', 0.7, 'x', 'pipeline')",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(w.post_reviews().await.updated, 1);
    assert!(all_text(&w.message_of("L1").await).contains("היסטוריה"));
    w.close().await;
}

#[sqlx::test]
async fn a_sync_stopped_by_the_airtable_quota_is_posted_once_with_the_reason(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let (airtable, syncer) = airtable_and_syncer(&w, 1, 5).await;
    airtable.set_monthly_quota(0);

    for _ in 0..3 {
        syncer.run_once(&Shutdown::never()).await.unwrap();
        notify::run_once(&w.app, chrono::Utc::now()).await.unwrap();
    }

    let stopped: Vec<String> = w
        .slack
        .messages(REPORT)
        .iter()
        .map(serde_json::Value::to_string)
        .filter(|m| m.contains("Sync stopped"))
        .collect();
    assert_eq!(stopped.len(), 1, "{stopped:?}");
    assert!(stopped[0].contains("monthly API calls"), "{}", stopped[0]);
    assert_eq!(
        w.db.count("SELECT count(*) FROM lecture_tag_suggestions WHERE status = 'approved'")
            .await,
        1
    );
    airtable.shutdown();
    w.close().await;
}

/// An Airtable stand-in allowing `per_second` requests, with `lectures`
/// lectures (L00, L01, …) each with tag t1 approved, and a sync worker
/// pointed at it.
async fn airtable_and_syncer(
    w: &SlackWorld,
    lectures: usize,
    per_second: usize,
) -> (standins::airtable::FakeAirtable, tagbot::sync::Syncer) {
    use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
    use tagbot::config::{AirtableSettings, Env};

    let airtable = FakeAirtable::start(
        crate::sync_world::BASE_ID,
        crate::sync_world::TOKEN,
        TagsFieldKind::Linked,
        RateLimit {
            requests: per_second,
            per_token: per_second.max(RateLimit::default().per_token),
            ..RateLimit::default()
        },
    )
    .await
    .unwrap();
    airtable.add_tag("t1", "פילוסופיה");
    let reviewer = crate::helpers::reviewer(DANA, "דנה");
    for n in 0..lectures {
        let lecture = format!("L{n:02}");
        airtable.add_lecture(&lecture, "הרצאה");
        let id = w.db.suggestion(&lecture, "t1", 0.9).await;
        w.db.review().approve(id, &reviewer).await.unwrap();
    }
    let settings = AirtableSettings::from_env(&Env::from_pairs([
        ("AIRTABLE_TOKEN", crate::sync_world::TOKEN),
        ("AIRTABLE_BASE_ID", crate::sync_world::BASE_ID),
        ("AIRTABLE_API_URL", airtable.url.as_str()),
    ]))
    .unwrap();
    // The worker's budget paces below the stand-in's limit, as it would
    // below Airtable's: faster, a quick machine fits six requests in a
    // second and the sixth is refused with RATE_LIMIT_REACHED. (The tests
    // that measure the budget itself pace at the limit.)
    let pacing = tagbot::config::SyncSettings {
        requests_per_second: u32::try_from(per_second * 4 / 5).unwrap(),
        ..crate::sync_world::fast()
    };
    let syncer = tagbot::sync::Syncer::new(w.db.app.clone(), settings, pacing).unwrap();
    (airtable, syncer)
}

#[sqlx::test]
async fn a_pass_of_two_hundred_updates_keeps_within_slacks_tiers(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Slack's tiers counted per second instead of per minute, on both
    // sides: the counts and bursts are Slack's, the pass takes seconds.
    let w = SlackWorld::paced(
        pool,
        options,
        &[("TAGBOT_REVIEW_OPEN_LIMIT", "200")],
        Duration::from_secs(1),
    )
    .await;
    let lectures: Vec<String> = (0..200).map(|n| format!("L{n:03}")).collect();
    for lecture in &lectures {
        w.db.suggestion(lecture, "t1", 0.9).await;
    }
    assert_eq!(w.post_reviews().await.posted, 200);
    // Every message is now behind its lecture: 200 chat.updates, Tier 3.
    for lecture in &lectures {
        w.db.suggestion(lecture, "t2", 0.8).await;
    }

    let pass = w.post_reviews().await;

    assert_eq!((pass.updated, pass.failed), (200, 0));
    assert_eq!(w.slack.rate_limited(), 0, "Slack refused no call");
    assert_eq!(w.slack.count("chat.update"), 200, "none was retried");
    assert!(all_text(&w.message_of("L199").await).contains("תגית t2"));
    w.close().await;
}

#[sqlx::test]
async fn a_rate_limited_lookup_uses_the_last_known_members_and_name(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Every click asks Slack again, as once the directory's entries are old.
    let w = SlackWorld::uncached(pool, options, &[("SLACK_REVIEWERS", "S0REVIEWRS")]).await;
    w.slack.add_usergroup("S0REVIEWRS", &[YOSI]);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    let two = w.db.suggestion("L1", "t2", 0.93).await;
    w.post_reviews().await;
    w.click(YOSI, "L1", actions::APPROVE, &one.to_string())
        .await;
    eventually("a group member's approval lands", || async {
        w.db.status(one).await == "approved"
    })
    .await;

    // Slack rate-limits both lookups for longer than tagbot waits on a click.
    w.slack.rate_limit_next("usergroups.users.list", 1, 30);
    w.slack.rate_limit_next("users.info", 1, 30);
    w.click(YOSI, "L1", actions::APPROVE, &two.to_string())
        .await;

    eventually_within(
        "the second approval lands",
        Duration::from_secs(15),
        || async { w.db.status(two).await == "approved" },
    )
    .await;
    let name: Option<String> = sqlx::query_scalar(
        "SELECT actor_name FROM events WHERE suggestion_id = $1 AND action = 'approve'",
    )
    .bind(two.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(name.as_deref(), Some("יוסי"), "the last known name");
    assert_eq!(w.slack.rate_limited(), 2, "both refreshes were refused");
    assert!(w.told(YOSI).is_empty(), "{:?}", w.told(YOSI));
    w.close().await;
}

#[sqlx::test]
async fn unsigned_requests_to_unknown_paths_add_no_metric_series(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let http = reqwest::Client::new();
    for n in 0..50 {
        let path = format!("/slack/{}{n}", "x".repeat(2_000));
        let status = http
            .post(format!("{}{path}", w.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404);
    }
    let metrics = http
        .get(format!("{}/metrics", w.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("xxxx"), "a request path became a label");
    assert!(
        metrics.len() < 100_000,
        "{} bytes of metrics",
        metrics.len()
    );
    w.close().await;
}

#[sqlx::test]
async fn a_click_acts_only_on_its_own_messages_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    w.db.suggestion("L1", "t1", 0.95).await;
    let other = w.db.suggestion("L2", "t2", 0.95).await;
    w.settle().await;
    let on_l1 = w.message_ts("L1").await;

    // Forged but signed: L1's message carrying L2's suggestion and lecture.
    for (action_id, value) in [
        (actions::APPROVE, other.to_string()),
        (actions::REJECT, other.to_string()),
        (actions::APPROVE_TOP, "L2".to_owned()),
        (actions::APPROVE_SELECTED, "L2".to_owned()),
        (actions::RETRY_FAILED, "L2".to_owned()),
    ] {
        let payload = w.block_actions(
            DANA,
            &on_l1,
            action_id,
            json!({ "value": value }),
            json!({}),
        );
        assert_eq!(w.interact(&payload).await, 200);
    }
    let menu = w.block_actions(
        DANA,
        &on_l1,
        actions::DECIDE_MENU,
        json!({ "type": "overflow", "selected_option": { "text": { "type": "plain_text", "text": "x" }, "value": format!("approve:{other}") } }),
        json!({}),
    );
    assert_eq!(w.interact(&menu).await, 200);
    // A click that is its message's own still works.
    w.click(DANA, "L2", actions::APPROVE, &other.to_string())
        .await;
    eventually("the genuine click decided", || async {
        w.db.status(other).await == "approved"
    })
    .await;

    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action IN ('approve', 'reject')")
            .await,
        1,
        "only the genuine click decided anything"
    );
    w.close().await;
}

#[sqlx::test]
async fn a_reviewer_slack_cannot_vouch_for_is_told_slack_is_busy(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::uncached(pool, options, &[("SLACK_REVIEWERS", "S0REVIEWRS")]).await;
    w.slack.add_usergroup("S0REVIEWRS", &[YOSI]);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    w.post_reviews().await;

    // No membership known yet, and Slack rate-limits the first lookup.
    w.slack.rate_limit_next("usergroups.users.list", 1, 30);
    w.click(YOSI, "L1", actions::APPROVE, &one.to_string())
        .await;
    eventually_within("the reviewer is told", Duration::from_secs(15), || async {
        !w.told(YOSI).is_empty()
    })
    .await;
    let told = w.told(YOSI).join("\n");
    assert!(told.contains("Slack is busy"), "{told}");
    assert!(!told.contains("not one of"), "{told}");
    assert_eq!(w.db.status(one).await, "pending");

    // A slash command while Slack fails the lookup says the same.
    w.slack
        .fail_next("usergroups.users.list", 1, "internal_error");
    let answer = w.command(YOSI, "retry L1").await;
    assert!(answer.contains("Slack is busy"), "{answer}");

    // Once Slack answers, the same click decides.
    w.click(YOSI, "L1", actions::APPROVE, &one.to_string())
        .await;
    eventually("the approval lands", || async {
        w.db.status(one).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn an_unknown_decision_menu_verb_decides_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    let ts = w.message_ts("L1").await;

    for verb in ["delete", "APPROVE", "", "approve "] {
        let menu = w.block_actions(
            DANA,
            &ts,
            actions::DECIDE_MENU,
            json!({ "type": "overflow", "selected_option": { "text": { "type": "plain_text", "text": "x" }, "value": format!("{verb}:{id}") } }),
            json!({}),
        );
        assert_eq!(w.interact(&menu).await, 200);
    }
    let reject = w.block_actions(
        DANA,
        &ts,
        actions::DECIDE_MENU,
        json!({ "type": "overflow", "selected_option": { "text": { "type": "plain_text", "text": "x" }, "value": format!("reject:{id}") } }),
        json!({}),
    );
    w.interact(&reject).await;
    eventually("the real verb decided", || async {
        w.db.status(id).await == "rejected"
    })
    .await;

    assert_eq!(w.db.actions(id).await, vec!["reject"]);
    w.close().await;
}

#[sqlx::test]
async fn each_revision_of_a_review_message_has_fresh_block_ids(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    use std::collections::HashSet;
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.95).await;
    w.db.suggestion("L1", "t2", 0.60).await;
    let chosen = w.db.suggestion("L1", "t3", 0.55).await;
    w.post_reviews().await;
    let first = w.message_of("L1").await;
    w.db.suggestion("L1", "t4", 0.50).await;
    assert_eq!(w.post_reviews().await.updated, 1);
    let second = w.message_of("L1").await;
    let block_ids = |message: &serde_json::Value| -> HashSet<String> {
        let blocks = message["blocks"].as_array().expect("blocks");
        let ids: HashSet<String> = blocks
            .iter()
            .filter_map(|b| b["block_id"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(ids.len(), blocks.len(), "every block has an id of its own");
        ids
    };

    let shared: Vec<_> = block_ids(&first)
        .intersection(&block_ids(&second))
        .cloned()
        .collect();
    assert!(shared.is_empty(), "the update reused {shared:?}");

    // A selection made in the updated message, under its new block id.
    let select = format!("\"action_id\":\"{}\"", actions::SELECT);
    let select_block = second["blocks"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b.to_string().contains(&select)))
        .and_then(|b| b["block_id"].as_str())
        .expect("the updated message has the selection menu")
        .to_owned();
    let state = json!({ select_block: { actions::SELECT: {
        "type": "multi_static_select",
        "selected_options": [{ "text": { "type": "plain_text", "text": "t3" }, "value": chosen.to_string() }]
    } } });
    let ts = w.message_ts("L1").await;
    w.interact(&w.block_actions(
        DANA,
        &ts,
        actions::APPROVE_SELECTED,
        json!({ "value": "L1" }),
        state,
    ))
    .await;
    eventually("the selection is approved", || async {
        w.db.status(chosen).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn retry_on_a_failure_post_in_the_report_channel_retries_its_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.force_status(id, "approved", "cli:test").await.unwrap();
    w.db.force_status(id, "failed", "worker").await.unwrap();
    notify::run_once(&w.app, chrono::Utc::now()).await.unwrap();
    let post = w
        .slack
        .messages(REPORT)
        .into_iter()
        .find(|m| m.to_string().contains(actions::RETRY_FAILED))
        .expect("the failure post");
    let ts = post["ts"].as_str().unwrap();

    let click = standins::sender::block_actions(
        DANA,
        REPORT,
        ts,
        &w.slack.mint(REPORT, DANA),
        actions::RETRY_FAILED,
        json!({ "value": "L1" }),
        json!({}),
    );
    assert_eq!(w.interact(&click).await, 200);

    eventually("the failed tag is retried", || async {
        w.db.status(id).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn reviewers_see_how_often_past_decisions_at_the_threshold_were_approved(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // No background poster: a message posted while the past decisions are
    // being made would work calibration out midway (and keep it a minute).
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    // 40 past decisions at 0.90: 38 approved.
    let actor = crate::helpers::reviewer(YOSI, "Yosi");
    for n in 0..40 {
        let id = w.db.suggestion(&format!("P{n:02}"), "t1", 0.90).await;
        if n < 38 {
            w.db.review().approve(id, &actor).await.unwrap();
        } else {
            w.db.review().reject(id, &actor).await.unwrap();
        }
    }
    w.db.suggestion("L1", "t1", 0.93).await;
    w.db.suggestion("L1", "t2", 0.40).await;
    w.post_reviews().await;

    let text = all_text(&w.message_of("L1").await);
    let stats = w.command(DANA, "stats").await;

    assert!(
        text.contains("Approve all ≥ 0.88:* 95% approved at this score, 40 decisions"),
        "{text}"
    );
    assert!(
        text.contains("Past decisions: 95% approved at this score, 40 decisions."),
        "the confirmation says it too: {text}"
    );
    assert!(stats.contains("*Calibration*"), "{stats}");
    assert!(
        stats.contains("• test-model: 40 decisions, 95% approved; recommended threshold 0.00 (95% approved at or above it, 40 decisions)"),
        "{stats}"
    );
    assert!(
        stats.contains("2 tag(s) pending on 1 lecture(s)"),
        "{stats}"
    );
    w.close().await;
}

/// Slack answering a group lookup in 2.5 s is slow, not busy: the command
/// is acknowledged at once and the real answer follows through the
/// response URL.
#[sqlx::test]
async fn a_slow_group_lookup_still_gives_the_real_answer(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::uncached(pool, options, &[("SLACK_REVIEWERS", "S0REVIEWRS")]).await;
    w.slack.add_usergroup("S0REVIEWRS", &[YOSI]);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.fail_as_worker(one, "tag_missing: t1").await;
    w.slack.set_latency(Duration::from_millis(2_500));
    let answer = w.command(YOSI, "retry L1").await;
    assert!(!answer.contains("Slack is busy"), "{answer}");
    assert!(answer.contains("Retrying 1 failed tag(s)"), "{answer}");
    assert_eq!(w.db.status(one).await, "approved");
    w.close().await;
}

/// A workspace lookup that joins a name lookup already waiting on Slack
/// (which may wait up to a write's 30 s) still gives up after the lookup
/// bound of 10 s, with the last known answer or, as here with none, an
/// error: the caller is not held for the name lookup's longer wait.
#[sqlx::test]
async fn a_workspace_lookup_joining_a_slow_name_lookup_waits_only_its_own_bound(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::uncached(pool, options, &[]).await;
    w.slack.add_user("U0SLOW0001", "איטי");
    // Slack answers in 14 s: past the 10 s bound, inside a write's 30 s.
    w.slack.set_latency(Duration::from_secs(14));
    // The name lookup gives up waiting after a second but goes on.
    assert_eq!(w.app.api.display_name("U0SLOW0001").await, None);
    let started = std::time::Instant::now();
    let home = w.app.api.user_home("U0SLOW0001").await;
    let waited = started.elapsed();
    assert!(
        home.is_err(),
        "nothing was known and Slack had not answered: {home:?}"
    );
    assert!(
        waited < Duration::from_secs(12),
        "waited {waited:?} for the name lookup"
    );
    w.close().await;
}
