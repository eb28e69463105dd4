//! Answers that must reach a reviewer whatever Slack's limits: a slow
//! `/tags` command is acknowledged at once and answered through its
//! `response_url`; the details modal of a very large lecture still opens;
//! an ephemeral that Slack refuses (`user_not_in_channel`) falls back to
//! the click's `response_url`.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::domain::SuggestionId;
use tagbot::slack::card::actions;
use tagbot::slack::handlers::interactions::DETAILS_CALLBACK;

use crate::slack_world::{all_text, eventually, Signing, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";

/// Slack's documented view size limit ("greater than 250kb"), read as
/// the stricter 250,000 bytes.
const VIEW_BYTES: usize = 250_000;

#[sqlx::test]
async fn a_slow_tags_retry_is_acknowledged_at_once_and_answered_at_the_response_url(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Dana is a reviewer through the second of two groups: deciding whether
    // she may retry takes two group lookups and a name lookup.
    let w = SlackWorld::with_env(
        pool,
        options,
        &[("SLACK_REVIEWERS", "S0FIRST001,S0SECOND01")],
    )
    .await;
    w.slack.add_usergroup("S0FIRST001", &[YOSI]);
    w.slack.add_usergroup("S0SECOND01", &[DANA]);
    let failed = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.force_status(failed, "approved", "cli:test")
        .await
        .unwrap();
    w.db.force_status(failed, "failed", "worker").await.unwrap();
    w.settle().await;

    // A fast command is still answered in the HTTP response.
    let help = w.slack.mint(REVIEW, DANA);
    let body = standins::sender::command_body(DANA, REVIEW, "help", &help);
    let (status, inline) = w.send("/slack/commands", &body, Signing::Valid).await;
    assert_eq!(status, 200);
    let inline: serde_json::Value = serde_json::from_str(&inline).expect("an inline answer");
    assert_eq!(inline["response_type"], "ephemeral");
    assert!(inline["text"].as_str().unwrap().contains("/tags retry"));

    // Every Slack lookup now takes 1.2 s: three of them outlast the 3 s
    // Slack waits for a command's answer.
    w.slack.set_latency(Duration::from_millis(1_200));
    let minted = w.slack.mint(REVIEW, DANA);
    let response_url = minted.response_url.clone();
    let body = standins::sender::command_body(DANA, REVIEW, "retry L1", &minted);
    let (status, ack) = w.send("/slack/commands", &body, Signing::Valid).await;

    assert_eq!(status, 200);
    assert_eq!(ack, "", "an empty acknowledgement, the answer comes later");
    let answer = w.late_answer(&response_url).await;
    assert!(answer.contains("Retrying 1 failed tag"), "{answer}");
    assert_eq!(w.db.status(failed).await, "approved");
    let answers: Vec<_> = w
        .slack
        .responses()
        .into_iter()
        .filter(|a| a.url == response_url)
        .collect();
    assert_eq!(answers.len(), 1, "answered once");
    assert_eq!(
        (answers[0].user.as_str(), answers[0].response_type.as_str()),
        (DANA, "ephemeral")
    );
    w.close().await;
}

/// Dana approves L1's tag; Yosi, who has since left the review channel
/// (Slack refuses ephemerals to him there), is about to reject it: the
/// suggestion and his click, not yet sent.
async fn race_lost_outside_the_channel(w: &SlackWorld) -> (SuggestionId, Value) {
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    w.slack.remove_from_channel(REVIEW, YOSI);
    w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await;
    eventually("Dana's approval lands", || async {
        w.db.status(id).await == "approved"
    })
    .await;
    let ts = w.message_ts("L1").await;
    let click = w.block_actions(
        YOSI,
        &ts,
        actions::REJECT,
        json!({ "value": id.to_string() }),
        json!({}),
    );
    (id, click)
}

#[sqlx::test]
async fn a_race_loser_outside_the_channel_is_told_through_the_response_url(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let (id, click) = race_lost_outside_the_channel(&w).await;
    let response_url = click["response_url"].as_str().unwrap().to_owned();
    assert_eq!(w.interact(&click).await, 200);

    let told = w.late_answer(&response_url).await;
    assert!(told.contains("by \u{2068}דנה\u{2069} at "), "{told}");
    assert!(told.contains("Nothing was changed"), "{told}");
    let refused = w.slack.calls_to("chat.postEphemeral");
    assert!(
        refused
            .iter()
            .any(|c| c.error() == Some("user_not_in_channel")),
        "the ephemeral was tried first: {refused:?}"
    );
    let answer = w
        .slack
        .responses()
        .into_iter()
        .find(|a| a.url == response_url)
        .unwrap();
    assert!(!answer.replace_original, "the review message stays");
    assert_eq!(w.db.status(id).await, "approved");
    w.close().await;
}

#[sqlx::test]
async fn details_of_a_hundred_long_hebrew_suggestions_still_opens(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    for n in 0..100 {
        w.db.suggestion("L1", &format!("t{n:03}"), 0.5 + f64::from(n) / 1_000.0)
            .await;
    }
    // Long Hebrew everywhere a person or a service writes: rationales,
    // errors, and a dozen failed syncs each in the history.
    sqlx::query(
        "UPDATE lecture_tag_suggestions
         SET rationale = repeat('הסבר ארוך מאוד על הנושא ', 120),
             last_error = repeat('שגיאה ארוכה מאוד ', 100)",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, actor_name,
                             action, from_status, to_status, details)
         SELECT s.id, s.lecture_external_id, s.tag_id, 'worker', repeat('עובד ', 30),
                'sync_fail', 'approved', 'approved',
                jsonb_build_object('error', repeat('תקלה בשרת ', 40))
         FROM lecture_tag_suggestions s CROSS JOIN generate_series(1, 12)",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    w.settle().await;

    let ts = w.message_ts("L1").await;
    let mut click = w.block_actions(
        DANA,
        &ts,
        actions::DETAILS,
        json!({ "value": "L1" }),
        json!({}),
    );
    click["trigger_id"] = json!(w.slack.trigger_id());
    assert_eq!(w.interact(&click).await, 200);

    eventually("the details modal opens", || async {
        !w.slack.views().is_empty()
    })
    .await;
    let refused: Vec<_> = ["views.open", "views.update", "views.push"]
        .iter()
        .flat_map(|m| w.slack.calls_to(m))
        .filter(|c| !c.ok())
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    let view = w.slack.views().last().unwrap().view.clone();
    assert_eq!(view["callback_id"], DETAILS_CALLBACK);
    assert!(serde_json::to_vec(&view).unwrap().len() <= VIEW_BYTES);
    assert!(view["blocks"].as_array().unwrap().len() <= 100);
    // Every suggestion is there, in full or listed in short; the modal
    // says that texts were shortened and how many are listed in short.
    let text = all_text(&view);
    for n in 0..100 {
        let tag = format!("תגית t{n:03}");
        assert!(text.contains(&tag), "{tag} is missing");
    }
    assert!(text.contains("shortened"), "{text}");
    assert!(text.contains("listed in short"), "{text}");
    w.close().await;
}

#[sqlx::test]
async fn details_opens_a_loading_modal_at_once_when_the_lecture_is_slow_to_load(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    let ts = w.message_ts("L1").await;
    let mut click = w.block_actions(
        DANA,
        &ts,
        actions::DETAILS,
        json!({ "value": "L1" }),
        json!({}),
    );
    click["trigger_id"] = json!(w.slack.trigger_id());
    // The lecture cannot load while the suggestions table is held.
    let mut hold = w.db.admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE lecture_tag_suggestions IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *hold)
        .await
        .unwrap();

    assert_eq!(w.interact(&click).await, 200);
    eventually("a loading modal opens on the trigger", || async {
        !w.slack.views().is_empty()
    })
    .await;
    let loading = w.slack.views()[0].view.clone();
    assert!(all_text(&loading).contains("Loading"), "{loading}");
    hold.commit().await.unwrap();

    eventually("the modal is updated with the details", || async {
        w.slack.views()[0].updates == 1
    })
    .await;
    let views = w.slack.views();
    assert_eq!(views.len(), 1, "one modal, updated in place");
    assert_eq!(views[0].view["callback_id"], DETAILS_CALLBACK);
    assert!(all_text(&views[0].view).contains("תגית t1"));
    let opened = &w.slack.calls_to("views.open")[0];
    assert_eq!(
        w.slack.calls_to("views.update")[0].body["hash"],
        opened.response["view"]["hash"],
        "the update replaces only the loading modal views.open answered"
    );
    w.close().await;
}

/// A signed click whose `response_url` is not Slack's (nor the stand-in's,
/// here standing for Slack) is not followed: tagbot posts answers to
/// Slack's hooks only.
#[sqlx::test]
async fn a_response_url_outside_slack_is_never_contacted(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let (_, mut click) = race_lost_outside_the_channel(&w).await;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = elsewhere.local_addr().unwrap().port();
    click["response_url"] = json!(format!("http://127.0.0.1:{port}/commands/T0/1/secret"));
    assert_eq!(w.interact(&click).await, 200);
    eventually("the ephemeral is refused first", || async {
        w.slack
            .calls_to("chat.postEphemeral")
            .iter()
            .any(|c| c.error() == Some("user_not_in_channel"))
    })
    .await;
    let contacted = tokio::time::timeout(Duration::from_secs(3), elsewhere.accept()).await;
    assert!(
        contacted.is_err(),
        "tagbot posted to a response_url outside Slack"
    );
    assert!(w.slack.responses().is_empty());
    w.close().await;
}
