//! The fake Slack holds tagbot to Slack's documented contract; these tests
//! make sure it refuses what the real Web API refuses, answering the way
//! slack-morphism expects (JSON POSTs for writes, GET with a query string
//! for reads, HTTP 200 for API errors, 429 with `Retry-After`).

use std::time::Duration;

use serde_json::{json, Value};
use tagbot::fakes::slack::{FakeSlack, RateLimits};

const TOKEN: &str = "xoxb-fake-slack-test";
const REVIEW: &str = "C0REVIEW01";

async fn start(rate: RateLimits) -> FakeSlack {
    let fake = FakeSlack::start(TOKEN, rate).await.unwrap();
    fake.add_channel(REVIEW, "tag-review", true);
    fake
}

/// What came back: HTTP status, `Retry-After` seconds, JSON body.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    body: Value,
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    Answer {
        status,
        retry_after,
        body: response.json().await.unwrap(),
    }
}

/// A write, as slack-morphism sends it: JSON body, bearer token.
async fn post_as(fake: &FakeSlack, token: &str, method: &str, body: Value) -> Answer {
    let response = reqwest::Client::new()
        .post(format!("{}/{method}", fake.url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn post(fake: &FakeSlack, method: &str, body: Value) -> Answer {
    post_as(fake, TOKEN, method, body).await
}

/// A read, as slack-morphism sends it: GET with a query string.
async fn get(fake: &FakeSlack, method: &str, query: &[(&str, &str)]) -> Answer {
    let response = reqwest::Client::new()
        .get(format!("{}/{method}", fake.url))
        .query(query)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    answer(response).await
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn button(action_id: &str) -> Value {
    json!({
        "type": "button",
        "action_id": action_id,
        "text": { "type": "plain_text", "text": "אישור" },
        "value": "17",
    })
}

async fn post_blocks(fake: &FakeSlack, blocks: Value) -> Answer {
    post(
        fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "fallback", "blocks": blocks }),
    )
    .await
}

#[tokio::test]
async fn a_posted_message_can_be_updated_and_read_back() {
    let fake = start(RateLimits::default()).await;

    let posted = post_blocks(&fake, json!([section("ממתין לבדיקה")])).await;
    assert_eq!(posted.body["ok"], true);
    assert_eq!(posted.body["channel"], REVIEW);
    let ts = posted.body["ts"].as_str().unwrap().to_owned();
    assert_eq!(posted.body["message"]["ts"], ts.as_str());

    let updated = post(
        &fake,
        "chat.update",
        json!({ "channel": REVIEW, "ts": ts, "text": "approved", "blocks": [section("אושר")] }),
    )
    .await;

    assert_eq!(updated.body["ok"], true);
    let message = fake.message(REVIEW, &ts).unwrap();
    assert_eq!(message["text"], "approved");
    assert_eq!(message["blocks"][0]["text"]["text"], "אושר");
    assert_eq!(fake.messages(REVIEW).len(), 1);
    assert_eq!(fake.count("chat.update"), 1);
    fake.shutdown();
}

#[tokio::test]
async fn a_wrong_token_is_invalid_auth_with_http_200() {
    let fake = start(RateLimits::default()).await;

    let answer = post_as(
        &fake,
        "xoxb-someone-else",
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "x" }),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({ "ok": false, "error": "invalid_auth" }));
    assert!(fake.messages(REVIEW).is_empty());
    assert_eq!(fake.calls()[0].error(), Some("invalid_auth"));
    fake.shutdown();
}

#[tokio::test]
async fn posting_where_the_bot_is_not_a_member_is_not_in_channel() {
    let fake = start(RateLimits::default()).await;
    fake.add_channel("C0GENERAL1", "general", false);

    let outside = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0GENERAL1", "text": "x" }),
    )
    .await;
    let unknown = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0NOWHERE1", "text": "x" }),
    )
    .await;
    fake.set_bot_membership("C0GENERAL1", true);
    let invited = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0GENERAL1", "text": "x" }),
    )
    .await;

    assert_eq!(outside.body["error"], "not_in_channel");
    assert_eq!(unknown.body["error"], "channel_not_found");
    assert_eq!(invited.body["ok"], true);
    fake.shutdown();
}

#[tokio::test]
async fn a_message_of_51_blocks_is_refused() {
    let fake = start(RateLimits::off()).await;

    let refused = post_blocks(&fake, json!(vec![section("x"); 51])).await;
    let accepted = post_blocks(&fake, json!(vec![section("x"); 50])).await;

    assert_eq!(refused.body["error"], "invalid_blocks");
    assert_eq!(accepted.body["ok"], true);
    assert_eq!(fake.messages(REVIEW).len(), 1);
    fake.shutdown();
}

#[tokio::test]
async fn a_section_text_of_3001_characters_is_refused() {
    let fake = start(RateLimits::off()).await;

    let refused = post_blocks(&fake, json!([section(&"א".repeat(3001))])).await;
    let accepted = post_blocks(&fake, json!([section(&"א".repeat(3000))])).await;

    assert_eq!(refused.body["error"], "invalid_blocks");
    assert_eq!(
        refused.body["errors"][0],
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    );
    assert_eq!(accepted.body["ok"], true);
    fake.shutdown();
}

#[tokio::test]
async fn a_duplicate_action_id_within_one_block_is_refused() {
    let fake = start(RateLimits::off()).await;

    let same_block =
        json!([{ "type": "actions", "elements": [button("approve"), button("approve")] }]);
    let two_blocks = json!([
        { "type": "actions", "elements": [button("approve")] },
        { "type": "actions", "elements": [button("approve")] },
    ]);

    assert_eq!(
        post_blocks(&fake, same_block).await.body["error"],
        "invalid_blocks"
    );
    // Unique within the containing block is all Slack asks.
    assert_eq!(post_blocks(&fake, two_blocks).await.body["ok"], true);
    fake.shutdown();
}

#[tokio::test]
async fn posting_too_fast_is_429_with_retry_after_until_the_window_passes() {
    let interval = Duration::from_millis(300);
    let fake = start(RateLimits::posting(interval, 2)).await;
    let message = json!({ "channel": REVIEW, "text": "x" });

    assert_eq!(
        post(&fake, "chat.postMessage", message.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        post(&fake, "chat.postMessage", message.clone())
            .await
            .status,
        200
    );
    let limited = post(&fake, "chat.postMessage", message.clone()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.retry_after, Some(1));
    assert_eq!(limited.body["error"], "ratelimited");

    tokio::time::sleep(interval + Duration::from_millis(20)).await;
    let recovered = post(&fake, "chat.postMessage", message).await;

    assert_eq!(recovered.status, 200);
    assert_eq!(recovered.body["ok"], true);
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(fake.messages(REVIEW).len(), 3);
    fake.shutdown();
}

#[tokio::test]
async fn users_info_returns_a_seeded_hebrew_display_name() {
    let fake = start(RateLimits::default()).await;
    fake.add_user("U0DANA0001", "דנה כהן");

    let found = get(&fake, "users.info", &[("user", "U0DANA0001")]).await;
    let missing = get(&fake, "users.info", &[("user", "U0NOBODY01")]).await;

    assert_eq!(found.body["ok"], true);
    assert_eq!(found.body["user"]["id"], "U0DANA0001");
    assert_eq!(found.body["user"]["profile"]["display_name"], "דנה כהן");
    assert_eq!(missing.body["error"], "user_not_found");
    assert_eq!(fake.calls_to("users.info")[0].http_method, "GET");
    fake.shutdown();
}
