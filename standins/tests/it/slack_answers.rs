//! Answers outside the Web API's request/response: response URLs (5 uses
//! within 30 minutes, unknown ones refused, answers recorded) and the
//! ephemeral's recipient having to be in the channel.

use std::time::Duration;

use serde_json::{json, Value};
use standins::sender::{block_actions, command_body};
use standins::slack::*;

const TOKEN: &str = "xoxb-fake-token";
const REVIEW: &str = "C0REVIEW01";
const DANA: &str = "U0DANA0001";

async fn fake() -> FakeSlack {
    let fake = FakeSlack::start(TOKEN, RateLimits::off()).await.unwrap();
    fake.add_channel(REVIEW, "tag-review", true);
    fake.add_user(DANA, "דנה");
    fake
}

/// POSTs JSON to a response URL: (status, body).
async fn answer(url: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ephemeral(fake: &FakeSlack, user: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/chat.postEphemeral", fake.url))
        .bearer_auth(TOKEN)
        .json(&json!({ "channel": REVIEW, "user": user, "text": "only you" }))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_response_url_records_ephemeral_and_in_channel_answers() {
    let fake = fake().await;
    let url = fake.response_url(REVIEW, DANA);
    assert!(url.starts_with(&format!("{}/response/", fake.url)), "{url}");

    let (status, body) = answer(&url, json!({ "text": "עובד על זה" })).await;
    assert_eq!((status, body["ok"].clone()), (200, json!(true)));
    let (status, _) = answer(
        &url,
        json!({ "response_type": "in_channel", "text": "for all", "replace_original": true }),
    )
    .await;
    assert_eq!(status, 200);

    let answers = fake.responses();
    assert_eq!(answers.len(), 2);
    assert!(answers[0].is_ephemeral(), "ephemeral is the default");
    assert_eq!(
        (answers[0].user.as_str(), answers[0].channel.as_str()),
        (DANA, REVIEW)
    );
    assert_eq!(answers[0].text.as_deref(), Some("עובד על זה"));
    assert_eq!(answers[1].response_type, "in_channel");
    assert!(answers[1].replace_original && !answers[1].delete_original);
    assert_eq!(fake.count("response_url"), 2);
    fake.shutdown();
}

#[tokio::test]
async fn a_response_url_takes_five_answers_then_refuses() {
    let fake = fake().await;
    let url = fake.response_url(REVIEW, DANA);
    for n in 0..5 {
        let (status, _) = answer(&url, json!({ "text": format!("answer {n}") })).await;
        assert_eq!(status, 200, "answer {n}");
    }
    let (status, body) = answer(&url, json!({ "text": "one too many" })).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("expired_url")));
    assert_eq!(fake.responses().len(), 5);
    fake.shutdown();
}

#[tokio::test]
async fn a_response_url_expires() {
    let fake = fake().await;
    fake.set_response_url_lifetime(Duration::from_millis(50));
    let url = fake.response_url(REVIEW, DANA);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (status, body) = answer(&url, json!({ "text": "too late" })).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("expired_url")));
    assert!(fake.responses().is_empty());
    fake.shutdown();
}

#[tokio::test]
async fn an_unknown_response_url_or_a_bad_answer_is_refused() {
    let fake = fake().await;
    let (status, body) = answer(
        &format!("{}/response/R0000000000000000000000", fake.url),
        json!({ "text": "x" }),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("no_service")));

    let url = fake.response_url(REVIEW, DANA);
    let (status, _) = answer(&url, json!({ "response_type": "everyone", "text": "x" })).await;
    assert_eq!(status, 400);
    let (status, body) = answer(&url, json!({ "response_type": "ephemeral" })).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("no_text")));
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({ "type": "section", "text": { "type": "mrkdwn", "text": i.to_string() } }))
        .collect();
    let (status, body) = answer(&url, json!({ "text": "x", "blocks": too_many })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_blocks"))
    );
    assert!(fake.responses().is_empty());
    fake.shutdown();
}

#[tokio::test]
async fn an_ephemeral_needs_its_recipient_in_the_channel() {
    let fake = fake().await;
    assert_eq!(ephemeral(&fake, DANA).await["ok"], true);

    fake.remove_from_channel(REVIEW, DANA);
    let refused = ephemeral(&fake, DANA).await;
    assert_eq!(refused["error"], "user_not_in_channel");
    // Someone Slack never heard of is not in the channel either.
    assert_eq!(
        ephemeral(&fake, "U0NOBODY01").await["error"],
        "user_not_in_channel"
    );

    fake.join_channel(REVIEW, DANA);
    assert_eq!(ephemeral(&fake, DANA).await["ok"], true);
    assert_eq!(fake.ephemerals().len(), 2);
    fake.shutdown();
}

#[tokio::test]
async fn a_channel_added_after_a_user_starts_without_them() {
    let fake = fake().await;
    fake.add_channel("C0LATER001", "later", true);
    let response = reqwest::Client::new()
        .post(format!("{}/chat.postEphemeral", fake.url))
        .bearer_auth(TOKEN)
        .json(&json!({ "channel": "C0LATER001", "user": DANA, "text": "x" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "user_not_in_channel");
    fake.shutdown();
}

#[tokio::test]
async fn the_sender_carries_what_the_stand_in_minted() {
    let fake = fake().await;
    let minted = fake.mint(REVIEW, DANA);
    let body = command_body(DANA, REVIEW, "pending", &minted);
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    assert!(fields.contains(&("response_url".to_owned(), minted.response_url.clone())));
    assert!(fields.contains(&("trigger_id".to_owned(), minted.trigger_id.clone())));
    let click = block_actions(DANA, REVIEW, "1.2", &minted, "a", json!({}), json!({}));
    assert_eq!(click["response_url"], minted.response_url.as_str());
    assert_eq!(click["trigger_id"], minted.trigger_id.as_str());
    fake.shutdown();
}
