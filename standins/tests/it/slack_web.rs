//! The Slack Web API stand-in refuses what the real Web API refuses and
//! answers the way slack-morphism expects (JSON POSTs for writes, GET with a
//! query string for reads, HTTP 200 for API errors, 429 with `Retry-After`).

use std::time::Duration;

use serde_json::{json, Value};
use standins::slack::*;

const TOKEN: &str = "xoxb-fake-token";
const REVIEW: &str = "C0REVIEW01";

async fn fake(rate: RateLimits) -> FakeSlack {
    let fake = FakeSlack::start(TOKEN, rate).await.unwrap();
    fake.add_channel(REVIEW, "tag-review", true);
    fake
}

/// A JSON POST the way slack-morphism sends one: (status, Retry-After, body).
async fn post(fake: &FakeSlack, method: &str, body: Value) -> (u16, Option<u64>, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/{method}", fake.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    answer(response).await
}

async fn answer(response: reqwest::Response) -> (u16, Option<u64>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, retry_after, response.json().await.unwrap())
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn button(action_id: &str, label: &str) -> Value {
    json!({ "type": "button", "action_id": action_id, "text": { "type": "plain_text", "text": label }, "value": "1" })
}

fn options(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({ "text": { "type": "plain_text", "text": format!("o{i}") }, "value": format!("v{i}") }))
        .collect()
}

async fn post_blocks(fake: &FakeSlack, blocks: Value) -> Value {
    post(
        fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "t", "blocks": blocks }),
    )
    .await
    .2
}

#[tokio::test]
async fn a_post_then_an_update_changes_the_stored_message() {
    let fake = fake(RateLimits::default()).await;
    let posted = post_blocks(&fake, json!([section("ממתין לבדיקה")])).await;
    assert_eq!(posted["ok"], true);
    let ts = posted["ts"].as_str().unwrap().to_owned();

    let (_, _, updated) = post(
        &fake,
        "chat.update",
        json!({ "channel": REVIEW, "ts": ts, "text": "done", "blocks": [section("אושר")] }),
    )
    .await;

    assert_eq!(updated["ok"], true);
    let message = fake.message(REVIEW, &ts).unwrap();
    assert_eq!(message["text"], "done");
    assert_eq!(message["blocks"][0]["text"]["text"], "אושר");
    assert_eq!(message["edits"], 1);
    fake.shutdown();
}

#[tokio::test]
async fn timestamps_are_unique_and_increasing() {
    let fake = fake(RateLimits::off()).await;
    let mut previous = String::new();
    for _ in 0..5 {
        let ts = post_blocks(&fake, json!([section("x")])).await["ts"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(ts.parse::<f64>().unwrap() > previous.parse::<f64>().unwrap_or(0.0));
        previous = ts;
    }
    fake.shutdown();
}

#[tokio::test]
async fn an_update_of_an_unknown_ts_is_message_not_found() {
    let fake = fake(RateLimits::default()).await;
    let (_, _, body) = post(
        &fake,
        "chat.update",
        json!({ "channel": REVIEW, "ts": "1.000100", "text": "x" }),
    )
    .await;
    assert_eq!(body["error"], "message_not_found");
    fake.shutdown();
}

#[tokio::test]
async fn tokens_are_checked() {
    let fake = fake(RateLimits::default()).await;
    let client = reqwest::Client::new();
    let url = format!("{}/chat.postMessage", fake.url);
    let body = json!({ "channel": REVIEW, "text": "x" });

    let wrong = client
        .post(&url)
        .bearer_auth("xoxb-other")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, wrong) = answer(wrong).await;
    let missing = client.post(&url).json(&body).send().await.unwrap();
    let (_, _, missing) = answer(missing).await;

    assert_eq!(status, 200, "Slack answers API errors with HTTP 200");
    assert_eq!(wrong, json!({ "ok": false, "error": "invalid_auth" }));
    assert_eq!(missing["error"], "not_authed");
    assert!(fake.messages(REVIEW).is_empty());
    fake.shutdown();
}

#[tokio::test]
async fn posting_needs_a_known_channel_the_bot_is_in() {
    let fake = fake(RateLimits::default()).await;
    fake.add_channel("C0OUTSIDE1", "general", false);

    let (_, _, outside) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0OUTSIDE1", "text": "x" }),
    )
    .await;
    let (_, _, unknown) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0NOWHERE1", "text": "x" }),
    )
    .await;
    let (_, _, by_name) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "#tag-review", "text": "x" }),
    )
    .await;

    assert_eq!(outside["error"], "not_in_channel");
    assert_eq!(unknown["error"], "channel_not_found");
    assert_eq!(by_name["channel"], REVIEW);
    fake.shutdown();
}

#[tokio::test]
async fn a_message_needs_text_or_blocks_and_at_most_40000_characters() {
    let fake = fake(RateLimits::off()).await;
    let (_, _, empty) = post(&fake, "chat.postMessage", json!({ "channel": REVIEW })).await;
    let (_, _, long) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "א".repeat(40_001) }),
    )
    .await;
    let (_, _, longest) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "א".repeat(40_000) }),
    )
    .await;
    assert_eq!(empty["error"], "no_text");
    assert_eq!(long["error"], "msg_too_long");
    assert_eq!(longest["ok"], true);
    fake.shutdown();
}

#[tokio::test]
async fn block_kit_limits_are_enforced() {
    let fake = fake(RateLimits::off()).await;
    let long = |n: usize| "x".repeat(n);
    let fields = |n: usize, len: usize| -> Vec<Value> {
        (0..n)
            .map(|_| json!({ "type": "mrkdwn", "text": long(len) }))
            .collect()
    };
    let refused = [
        json!(vec![section("x"); 51]),
        json!([section(&long(3001))]),
        json!([{ "type": "section", "fields": fields(11, 1) }]),
        json!([{ "type": "section", "fields": fields(1, 2001) }]),
        json!([{ "type": "header", "text": { "type": "plain_text", "text": long(151) } }]),
        json!([{ "type": "header", "text": { "type": "mrkdwn", "text": "x" } }]),
        json!([{ "type": "context", "elements": fields(11, 1) }]),
        json!([{ "type": "actions", "elements": (0..26).map(|i| button(&format!("a{i}"), "x")).collect::<Vec<_>>() }]),
        json!([{ "type": "actions", "elements": [button("a", &long(76))] }]),
        json!([{ "type": "actions", "elements": [button(&long(256), "x")] }]),
        json!([{ "type": "actions", "block_id": long(256), "elements": [button("a", "x")] }]),
        json!([{ "type": "actions", "elements": [{ "type": "button", "action_id": "a", "text": { "type": "plain_text", "text": "x" }, "value": long(2001) }] }]),
        json!([{ "type": "actions", "elements": [button("same", "x"), button("same", "y")] }]),
        json!([{ "type": "actions", "block_id": "b", "elements": [button("a", "x")] }, { "type": "actions", "block_id": "b", "elements": [button("c", "x")] }]),
        json!([{ "type": "actions", "elements": [{ "type": "static_select", "action_id": "s", "options": options(101) }] }]),
        json!([{ "type": "actions", "elements": [{ "type": "multi_static_select", "action_id": "s", "options": [{ "text": { "type": "plain_text", "text": long(76) }, "value": "v" }] }] }]),
        json!([{ "type": "actions", "elements": [{ "type": "static_select", "action_id": "s", "options": [{ "text": { "type": "plain_text", "text": "t" }, "value": long(151) }] }] }]),
        json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "x" }, "accessory": { "type": "overflow", "action_id": "o", "options": options(6) } }]),
    ];
    for blocks in refused {
        let body = post_blocks(&fake, blocks.clone()).await;
        assert_eq!(body["error"], "invalid_blocks", "{blocks}");
        assert!(body["errors"][0]
            .as_str()
            .unwrap()
            .contains("json-pointer:/blocks"));
    }
    let accepted = [
        json!(vec![section("x"); 50]),
        json!([section(&long(3000))]),
        json!([{ "type": "actions", "elements": [button("same", "x")] }, { "type": "actions", "elements": [button("same", "y")] }]),
        json!([{ "type": "actions", "elements": [{ "type": "static_select", "action_id": "s", "options": options(100) }] }]),
        json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "x" }, "accessory": { "type": "overflow", "action_id": "o", "options": options(5) } }]),
    ];
    for blocks in accepted {
        let body = post_blocks(&fake, blocks.clone()).await;
        assert_eq!(body["ok"], true, "{blocks}: {body}");
    }
    assert_eq!(
        post_blocks(&fake, json!({ "not": "an array" })).await["error"],
        "invalid_blocks_format"
    );
    fake.shutdown();
}

#[tokio::test]
async fn posting_faster_than_the_channel_allows_is_429_with_retry_after() {
    let fake = fake(RateLimits::posting(Duration::from_millis(300), 2)).await;
    fake.add_channel("C0OTHER001", "other", true);
    assert_eq!(post_blocks(&fake, json!([section("1")])).await["ok"], true);
    assert_eq!(post_blocks(&fake, json!([section("2")])).await["ok"], true);

    let (status, retry_after, body) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "3" }),
    )
    .await;
    assert_eq!((status, retry_after), (429, Some(1)));
    assert_eq!(body["error"], "ratelimited");
    // The limit is per channel.
    let (other, _, _) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": "C0OTHER001", "text": "x" }),
    )
    .await;
    assert_eq!(other, 200);

    tokio::time::sleep(Duration::from_millis(320)).await;
    let (status, _, body) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "4" }),
    )
    .await;
    assert_eq!((status, body["ok"].clone()), (200, json!(true)));
    assert_eq!(fake.rate_limited(), 1);
    assert_eq!(fake.messages(REVIEW).len(), 3);
    fake.shutdown();
}

#[tokio::test]
async fn method_budgets_answer_429_until_the_window_passes() {
    let rate = RateLimits {
        post_per_channel: None,
        per_method: vec![MethodRate {
            method: "users.info".into(),
            requests: 1,
            window: Duration::from_millis(200),
        }],
    };
    let fake = fake(rate).await;
    fake.add_user("U1", "Dana");
    let get = || async {
        let response = reqwest::Client::new()
            .get(format!("{}/users.info?user=U1", fake.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        answer(response).await
    };
    assert_eq!(get().await.0, 200);
    assert_eq!(get().await.0, 429);
    tokio::time::sleep(Duration::from_millis(220)).await;
    assert_eq!(get().await.0, 200);
    fake.shutdown();
}

#[tokio::test]
async fn scripted_faults_come_first_and_run_out() {
    let fake = fake(RateLimits::off()).await;
    fake.fail_next("chat.postMessage", 1, "fatal_error");
    fake.rate_limit_next("chat.update", 1, 7);

    let (_, _, failed) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "x" }),
    )
    .await;
    let (_, _, posted) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "x" }),
    )
    .await;
    let update = json!({ "channel": REVIEW, "ts": posted["ts"], "text": "y" });
    let (status, retry_after, _) = post(&fake, "chat.update", update.clone()).await;
    let (_, _, updated) = post(&fake, "chat.update", update).await;

    assert_eq!(failed["error"], "fatal_error");
    assert_eq!((status, retry_after), (429, Some(7)));
    assert_eq!(updated["ok"], true);
    assert_eq!(fake.count("chat.update"), 2);
    assert_eq!(
        fake.calls_to("chat.postMessage")[0].error(),
        Some("fatal_error")
    );
    assert!(fake.calls_to("chat.postMessage")[1].ok());
    fake.shutdown();
}

#[tokio::test]
async fn ephemerals_are_stored_per_user() {
    let fake = fake(RateLimits::default()).await;
    fake.add_user("U1", "Dana");
    let (_, _, body) = post(
        &fake,
        "chat.postEphemeral",
        json!({ "channel": REVIEW, "user": "U1", "text": "only you" }),
    )
    .await;
    assert_eq!(body["ok"], true);
    let ephemerals = fake.ephemerals();
    assert_eq!(ephemerals.len(), 1);
    assert_eq!(
        (ephemerals[0].user.as_str(), ephemerals[0].text.as_deref()),
        ("U1", Some("only you"))
    );
    assert_eq!(
        ephemerals[0].message_ts,
        body["message_ts"].as_str().unwrap()
    );
    fake.shutdown();
}

fn modal(title: &str, blocks: Vec<Value>) -> Value {
    json!({ "type": "modal", "title": { "type": "plain_text", "text": title }, "blocks": blocks })
}

#[tokio::test]
async fn modals_are_checked_and_triggers_are_single_use() {
    let fake = fake(RateLimits::default()).await;
    let trigger = fake.trigger_id();

    let (_, _, long_title) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": trigger, "view": modal(&"x".repeat(25), vec![section("x")]) }),
    )
    .await;
    let (_, _, many_blocks) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": trigger, "view": modal("Details", vec![section("x"); 101]) }),
    )
    .await;
    let (_, _, opened) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": trigger, "view": modal("פרטים", vec![section("x"); 100]) }),
    )
    .await;
    let (_, _, again) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": trigger, "view": modal("Details", vec![section("x")]) }),
    )
    .await;

    assert_eq!(long_title["error"], "invalid_arguments");
    assert_eq!(many_blocks["error"], "invalid_arguments");
    assert_eq!(opened["ok"], true, "{opened}");
    assert_eq!(again["error"], "exchanged_trigger_id");

    let id = opened["view"]["id"].as_str().unwrap();
    let hash = opened["view"]["hash"].as_str().unwrap();
    let (_, _, updated) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "hash": hash, "view": modal("Done", vec![section("y")]) }),
    )
    .await;
    let (_, _, stale) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "hash": hash, "view": modal("Done", vec![section("z")]) }),
    )
    .await;
    assert_eq!(updated["ok"], true);
    assert_eq!(stale["error"], "hash_conflict");
    let views = fake.views();
    assert_eq!((views.len(), views[0].updates), (1, 1));
    assert_eq!(views[0].view["title"]["text"], "Done");
    fake.shutdown();
}

/// Opens a modal titled `title`; returns its id and hash.
async fn opened_modal(fake: &FakeSlack, title: &str) -> (String, String) {
    let body = json!({ "trigger_id": fake.trigger_id(), "view": modal(title, vec![section("x")]) });
    let (_, _, opened) = post(fake, "views.open", body).await;
    assert_eq!(opened["ok"], true, "{opened}");
    let view = &opened["view"];
    (
        view["id"].as_str().unwrap().to_owned(),
        view["hash"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_views_hash_changes_on_every_update_and_a_stale_one_is_a_conflict() {
    let fake = fake(RateLimits::off()).await;
    let (id, first) = opened_modal(&fake, "One").await;

    let (_, _, unguarded) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "view": modal("Two", vec![section("y")]) }),
    )
    .await;
    assert_eq!(
        unguarded["ok"], true,
        "without a hash it updates: {unguarded}"
    );
    let second = unguarded["view"]["hash"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "a new hash on every update");

    let (_, _, stale) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "hash": first, "view": modal("Stale", vec![section("z")]) }),
    )
    .await;
    assert_eq!(stale["ok"], false);
    assert_eq!(stale["error"], "hash_conflict");
    let (_, _, current) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "hash": second, "view": modal("Three", vec![section("w")]) }),
    )
    .await;
    assert_eq!(current["ok"], true, "{current}");
    assert_ne!(current["view"]["hash"], json!(second));

    let views = fake.views();
    assert_eq!(
        views[0].view["title"]["text"], "Three",
        "the stale update changed nothing"
    );
    assert_eq!(views[0].updates, 2);
    assert_eq!(json!(views[0].hash), current["view"]["hash"]);
    fake.shutdown();
}

#[tokio::test]
async fn interactions_carry_the_hash_of_the_view_they_were_made_on() {
    let fake = fake(RateLimits::off()).await;
    let (id, hash) = opened_modal(&fake, "One").await;
    let before = fake.views().remove(0);
    let minted = fake.mint(REVIEW, "U0DANA0001");

    let click = standins::sender::view_block_actions("U0DANA0001", &before, &minted, "a", "v");
    let submission = standins::sender::view_submission("U0DANA0001", &before, &minted, json!({}));
    assert_eq!(click["view"]["hash"], json!(hash));
    assert_eq!(submission["view"]["hash"], json!(hash));

    post(
        &fake,
        "views.update",
        json!({ "view_id": id, "view": modal("Two", vec![section("y")]) }),
    )
    .await;
    let after = fake.views().remove(0);
    let click = standins::sender::view_block_actions("U0DANA0001", &after, &minted, "a", "v");
    assert_eq!(click["view"]["hash"], json!(after.hash));
    assert_ne!(
        after.hash, hash,
        "a click on the updated view carries its new hash"
    );
    fake.shutdown();
}

#[tokio::test]
async fn a_submissions_answer_updates_keeps_or_closes_the_view() {
    let fake = fake(RateLimits::off()).await;
    let (id, hash) = opened_modal(&fake, "One").await;

    let refused = fake.answer_submission(
        &id,
        &json!({ "response_action": "update", "view": modal(&"x".repeat(25), vec![]) }),
    );
    assert!(refused.is_err(), "checked as views.update checks a view");
    fake.answer_submission(
        &id,
        &json!({ "response_action": "update", "view": modal("Next", vec![section("n")]) }),
    )
    .unwrap();
    let updated = fake.views().remove(0);
    assert_eq!(updated.view["title"]["text"], "Next");
    assert_ne!(
        updated.hash, hash,
        "an update by the answer changes the hash too"
    );
    let (_, _, stale) = post(
        &fake,
        "views.update",
        json!({ "view_id": id, "hash": hash, "view": modal("Late", vec![section("l")]) }),
    )
    .await;
    assert_eq!(stale["error"], "hash_conflict");

    fake.answer_submission(&id, &json!({ "response_action": "errors", "errors": {} }))
        .unwrap();
    assert_eq!(fake.views()[0].hash, updated.hash, "errors leave the view");
    fake.answer_submission(&id, &json!({})).unwrap();
    assert!(fake.views().is_empty(), "an empty answer closes it");
    assert_eq!(
        fake.answer_submission(&id, &json!({})),
        Err("not_found".to_owned())
    );
    fake.shutdown();
}

#[tokio::test]
async fn held_calls_wait_until_the_test_lets_them_go() {
    let fake = fake(RateLimits::off()).await;
    let (id, _) = opened_modal(&fake, "One").await;
    let held = fake.hold("views.update");
    let update = tokio::spawn({
        let fake = fake.clone();
        async move {
            let body = json!({ "view_id": id, "view": modal("Two", vec![section("y")]) });
            post(&fake, "views.update", body).await.2
        }
    });
    for _ in 0..200 {
        if held.waiting() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(held.waiting(), 1);
    assert_eq!(fake.count("views.update"), 0, "not looked at while held");
    assert_eq!(fake.views()[0].view["title"]["text"], "One");

    held.release();
    assert_eq!(update.await.unwrap()["ok"], true);
    assert_eq!(fake.views()[0].view["title"]["text"], "Two");
    let (_, _, later) = post(
        &fake,
        "views.update",
        json!({ "view_id": fake.views()[0].id, "view": modal("Three", vec![section("z")]) }),
    )
    .await;
    assert_eq!(later["ok"], true, "a released hold holds nothing more");
    fake.shutdown();
}

#[tokio::test]
async fn pushes_stack_at_most_three_views() {
    let fake = fake(RateLimits::off()).await;
    let open = |method: &'static str| {
        let fake = fake.clone();
        async move {
            let body =
                json!({ "trigger_id": fake.trigger_id(), "view": modal("m", vec![section("x")]) });
            post(&fake, method, body).await.2
        }
    };
    assert_eq!(open("views.open").await["ok"], true);
    assert_eq!(open("views.push").await["ok"], true);
    assert_eq!(open("views.push").await["ok"], true);
    assert_eq!(open("views.push").await["error"], "push_limit_reached");
    fake.shutdown();
}

#[tokio::test]
async fn reads_come_from_the_seeded_directory() {
    let fake = fake(RateLimits::default()).await;
    fake.add_user("U0DANA0001", "דנה");
    fake.add_usergroup("S0REVIEW01", &["U0DANA0001", "U0OMER0001"]);
    let get = |query: &str| {
        let url = format!("{}/{query}", fake.url);
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            answer(response).await.2
        }
    };
    let user = get("users.info?user=U0DANA0001").await;
    assert_eq!(user["user"]["profile"]["display_name"], "דנה");
    assert_eq!(
        get("users.info?user=U0NOBODY01").await["error"],
        "user_not_found"
    );
    assert_eq!(
        get(&format!("conversations.info?channel={REVIEW}")).await["channel"]["is_member"],
        true
    );
    assert_eq!(
        get("conversations.info?channel=C0NONE0001").await["error"],
        "channel_not_found"
    );
    assert_eq!(
        get("usergroups.users.list?usergroup=S0REVIEW01").await["users"],
        json!(["U0DANA0001", "U0OMER0001"])
    );
    assert_eq!(
        get("usergroups.users.list?usergroup=S0NONE0001").await["error"],
        "no_such_subteam"
    );
    assert_eq!(get("auth.test").await["user_id"], BOT_USER_ID);
    assert_eq!(get("chat.unknownThing").await["error"], "unknown_method");
    fake.shutdown();
}

#[tokio::test]
async fn form_encoded_calls_work_too() {
    let fake = fake(RateLimits::default()).await;
    let blocks = json!([section("x")]).to_string();
    let response = reqwest::Client::new()
        .post(format!("{}/api/chat.postMessage", fake.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={TOKEN}&channel={REVIEW}&blocks={}",
            urlencode(&blocks)
        ))
        .send()
        .await
        .unwrap();
    let (_, _, body) = answer(response).await;
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(fake.calls()[0].body["blocks"][0]["type"], "section");
    fake.shutdown();
}

fn urlencode(s: &str) -> String {
    reqwest::Url::parse_with_params("http://x/", [("v", s)])
        .unwrap()
        .query()
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
}

/// The methods tagbot calls, with the tier Slack documents for each
/// (https://docs.slack.dev/apis/web-api/rate-limits; tiers from Slack's
/// java-slack-sdk `MethodsRateLimits`): calls per minute.
const TIERS: [(&str, usize); 8] = [
    ("auth.test", 200),
    ("chat.update", 50),
    ("chat.postEphemeral", 100),
    ("conversations.info", 50),
    ("usergroups.users.list", 20),
    ("users.info", 100),
    ("views.open", 100),
    ("views.publish", 100),
];

#[test]
fn the_default_budgets_are_slacks_tiers_per_minute() {
    let rate = RateLimits::default();
    for (method, per_minute) in TIERS {
        let budget = rate.budget(method).unwrap_or_else(|| panic!("{method}"));
        assert_eq!(
            (budget.requests, budget.window),
            (per_minute, Duration::from_secs(60)),
            "{method}"
        );
    }
    let scaled = RateLimits::scaled(Duration::from_secs(6));
    assert_eq!(
        scaled.budget("chat.update").map(|b| (b.requests, b.window)),
        Some((50, Duration::from_secs(6)))
    );
    assert_eq!(
        scaled.post_per_channel.map(|p| p.interval),
        Some(Duration::from_millis(100))
    );
}

#[tokio::test]
async fn bursting_past_a_tier_is_429_with_retry_after_until_the_window_passes() {
    // Slack's counts, per 3 s instead of per minute.
    let window = Duration::from_secs(3);
    let fake = fake(RateLimits::scaled(window)).await;
    let http = reqwest::Client::new();
    let call = |method: &str| {
        let request = http
            .post(format!("{}/{method}", fake.url))
            .bearer_auth(TOKEN)
            .json(&json!({}))
            .send();
        async move { answer(request.await.unwrap()).await }
    };
    for (method, per_window) in TIERS {
        for n in 0..per_window {
            // Refused arguments still spend the budget, as at Slack.
            let (status, _, body) = call(method).await;
            assert_eq!(status, 200, "{method} call {n}: {body}");
        }
        let (status, retry_after, body) = call(method).await;
        assert_eq!(status, 429, "{method} call {per_window}");
        assert_eq!(body, json!({ "ok": false, "error": "ratelimited" }));
        assert!(
            retry_after.is_some_and(|secs| (1..=3).contains(&secs)),
            "{method}: Retry-After {retry_after:?}"
        );
    }
    tokio::time::sleep(window).await;
    for (method, _) in TIERS {
        assert_eq!(call(method).await.0, 200, "{method} after the window");
    }
    fake.shutdown();
}

/// A modal whose JSON is exactly `bytes` long (ASCII), within every Block
/// Kit limit: 90 sections of text, the last one padded to size.
fn modal_of_bytes(bytes: usize) -> Value {
    let mut blocks = vec![section(&"x".repeat(2_700)); 90];
    blocks.push(section(""));
    let base = modal("big", blocks.clone()).to_string().len();
    let pad = bytes.checked_sub(base).expect("room for padding");
    blocks.pop();
    // Spread the padding over sections of at most 3,000 characters,
    // leaving the last one at least the 1 a text object needs.
    let mut pad_left = pad;
    for block in blocks.iter_mut() {
        let text = block["text"]["text"].as_str().unwrap().len();
        let more = pad_left.saturating_sub(1).min(3_000 - text);
        block["text"]["text"] = json!("x".repeat(text + more));
        pad_left -= more;
    }
    blocks.push(section(&"x".repeat(pad_left)));
    let view = modal("big", blocks);
    assert_eq!(view.to_string().len(), bytes);
    view
}

#[tokio::test]
async fn a_view_over_250_000_bytes_is_view_too_large_on_every_views_method() {
    let fake = fake(RateLimits::off()).await;
    fake.add_user("U0DANA0001", "דנה");
    let largest = modal_of_bytes(250_000);
    let too_large = modal_of_bytes(250_001);
    // "home" is a byte shorter than "modal".
    let mut home_too_large = modal_of_bytes(250_002);
    home_too_large["type"] = json!("home");
    assert_eq!(home_too_large.to_string().len(), 250_001);

    let (_, _, opened) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": fake.trigger_id(), "view": largest }),
    )
    .await;
    assert_eq!(opened["ok"], true, "{}", opened["error"]);
    let id = opened["view"]["id"].clone();
    let refused = [
        (
            "views.open",
            json!({ "trigger_id": fake.trigger_id(), "view": too_large }),
        ),
        (
            "views.push",
            json!({ "trigger_id": fake.trigger_id(), "view": too_large }),
        ),
        ("views.update", json!({ "view_id": id, "view": too_large })),
        (
            "views.publish",
            json!({ "user_id": "U0DANA0001", "view": home_too_large }),
        ),
    ];
    for (method, body) in refused {
        let (_, _, answer) = post(&fake, method, body).await;
        assert_eq!(answer["error"], "view_too_large", "{method}");
    }
    assert_eq!(fake.views().len(), 1);
    assert_eq!(fake.views()[0].updates, 0);
    assert!(fake.home("U0DANA0001").is_none());
    fake.shutdown();
}

#[tokio::test]
async fn only_a_trigger_the_fake_minted_opens_a_modal() {
    let fake = fake(RateLimits::off()).await;
    let view = modal("Details", vec![section("x")]);
    for made_up in ["1.2.3", "13345224609.738474920.8088930838d88f008e0"] {
        let (_, _, answer) = post(
            &fake,
            "views.open",
            json!({ "trigger_id": made_up, "view": view }),
        )
        .await;
        assert_eq!(answer["error"], "invalid_trigger_id", "{made_up}");
    }
    let (_, _, opened) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": fake.trigger_id(), "view": view }),
    )
    .await;
    assert_eq!(opened["ok"], true);
    assert_eq!(fake.views().len(), 1);
    fake.shutdown();
}

#[tokio::test]
async fn views_publish_sets_a_users_home_tab() {
    let fake = fake(RateLimits::default()).await;
    fake.add_user("U0DANA0001", "דנה");
    let home = json!({ "type": "home", "blocks": [section("תור")] });
    let (_, _, published) = post(
        &fake,
        "views.publish",
        json!({ "user_id": "U0DANA0001", "view": home }),
    )
    .await;
    let (_, _, modal_as_home) = post(
        &fake,
        "views.publish",
        json!({ "user_id": "U0DANA0001", "view": modal("m", vec![section("x")]) }),
    )
    .await;
    let (_, _, stranger) = post(
        &fake,
        "views.publish",
        json!({ "user_id": "U0NOBODY01", "view": home }),
    )
    .await;
    assert_eq!(published["ok"], true, "{published}");
    assert_eq!(published["view"]["type"], "home");
    assert_eq!(modal_as_home["error"], "invalid_arguments");
    assert_eq!(stranger["error"], "user_not_found");
    assert_eq!(
        fake.home("U0DANA0001")
            .map(|h| h.view["blocks"][0]["text"]["text"].clone()),
        Some(json!("תור"))
    );
    fake.shutdown();
}

#[tokio::test]
async fn a_post_with_an_empty_blocks_array_is_invalid_blocks() {
    let fake = fake(RateLimits::off()).await;
    fake.add_user("U1", "דנה");
    let (_, _, empty) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "text only", "blocks": [] }),
    )
    .await;
    let (_, _, ephemeral) = post(
        &fake,
        "chat.postEphemeral",
        json!({ "channel": REVIEW, "user": "U1", "text": "text only", "blocks": [] }),
    )
    .await;
    let (_, _, text_only) = post(
        &fake,
        "chat.postMessage",
        json!({ "channel": REVIEW, "text": "text only" }),
    )
    .await;
    assert_eq!(empty["error"], "invalid_blocks");
    assert_eq!(ephemeral["error"], "invalid_blocks");
    assert_eq!(text_only["ok"], true);
    assert_eq!(fake.messages(REVIEW).len(), 1);

    // An update may still clear a message's blocks with `[]`.
    let (_, _, cleared) = post(
        &fake,
        "chat.update",
        json!({ "channel": REVIEW, "ts": text_only["ts"], "text": "t", "blocks": [] }),
    )
    .await;
    assert_eq!(cleared["ok"], true);
    fake.shutdown();
}

#[tokio::test]
async fn a_trigger_older_than_three_seconds_is_expired() {
    let fake = fake(RateLimits::off()).await;
    let trigger = fake.trigger_id();
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let (_, _, late) = post(
        &fake,
        "views.open",
        json!({ "trigger_id": trigger, "view": modal("Details", vec![section("x")]) }),
    )
    .await;
    assert_eq!(late["error"], "expired_trigger_id");
    assert!(fake.views().is_empty());
    fake.shutdown();
}

fn radio_input(options: usize) -> Value {
    let options: Vec<Value> = (0..options)
        .map(|n| json!({ "text": { "type": "plain_text", "text": format!("o{n}") }, "value": format!("{n}") }))
        .collect();
    json!({
        "type": "input", "block_id": "choice",
        "label": { "type": "plain_text", "text": "Pick" },
        "element": { "type": "radio_buttons", "action_id": "pick", "options": options },
    })
}

/// Input blocks as Slack's reference states them: a label and an element,
/// radio buttons with at most 10 options, and a modal holding one needs a
/// submit button; the same checks apply to a view a submission answers with.
#[tokio::test]
async fn input_blocks_and_radio_buttons_keep_to_their_limits() {
    let fake = fake(RateLimits::default()).await;
    let with_submit = |blocks: Vec<Value>| {
        let mut view = modal("Review", blocks);
        view["submit"] = json!({ "type": "plain_text", "text": "Save" });
        view
    };
    let cases = [
        (with_submit(vec![radio_input(10)]), true),
        (with_submit(vec![radio_input(11)]), false),
        (modal("Review", vec![radio_input(3)]), false),
        (
            with_submit(vec![
                json!({ "type": "input", "element": radio_input(2)["element"] }),
            ]),
            false,
        ),
    ];
    for (view, accepted) in cases {
        let (_, _, opened) = post(
            &fake,
            "views.open",
            json!({ "trigger_id": fake.trigger_id(), "view": view }),
        )
        .await;
        assert_eq!(opened["ok"], accepted, "{view} → {opened}");
        assert_eq!(
            standins::slack::check_response_view(&view).is_ok(),
            accepted
        );
    }
    fake.shutdown();
}

#[tokio::test]
async fn a_file_goes_up_in_three_steps_and_is_shared_once() {
    let fake = fake(RateLimits::off()).await;
    fake.add_channel("C0OUTSIDE1", "elsewhere", false);
    let bytes = b"\x89PNG not really".to_vec();

    // No length: refused.
    let (_, _, refused) = post(
        &fake,
        "files.getUploadURLExternal",
        json!({ "filename": "c.png" }),
    )
    .await;
    assert_eq!(refused["error"], "invalid_arguments");
    let (_, _, asked) = post(
        &fake,
        "files.getUploadURLExternal",
        json!({ "filename": "c.png", "length": bytes.len(), "alt_txt": "a chart" }),
    )
    .await;
    assert_eq!(asked["ok"], true, "{asked}");
    let id = asked["file_id"].as_str().unwrap().to_owned();
    let url = asked["upload_url"].as_str().unwrap().to_owned();
    let complete =
        |channel: &str| json!({ "files": [{ "id": id, "title": "Chart" }], "channel_id": channel });

    // Completing before the bytes are up finds no file.
    let (_, _, early) = post(&fake, "files.completeUploadExternal", complete(REVIEW)).await;
    assert_eq!(early["error"], "file_not_found");
    // The wrong number of bytes is refused; the right ones taken.
    let http = reqwest::Client::new();
    let short = http
        .post(&url)
        .body(bytes[..3].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(short.status().as_u16(), 400);
    let sent = http.post(&url).body(bytes.clone()).send().await.unwrap();
    assert_eq!(sent.status().as_u16(), 200);
    // A channel the bot is not in is refused; then shared, once.
    let (_, _, outside) = post(
        &fake,
        "files.completeUploadExternal",
        complete("C0OUTSIDE1"),
    )
    .await;
    assert_eq!(outside["error"], "not_in_channel");
    let (_, _, done) = post(&fake, "files.completeUploadExternal", complete(REVIEW)).await;
    assert_eq!(done["files"][0]["title"], "Chart", "{done}");
    let (_, _, again) = post(&fake, "files.completeUploadExternal", complete(REVIEW)).await;
    assert_eq!(again["error"], "file_not_found");
    let files = fake.files();
    assert_eq!(files[0].channel.as_deref(), Some(REVIEW));
    assert_eq!(files[0].bytes.as_deref(), Some(bytes.as_slice()));

    // Without files:write nothing of it works.
    fake.without_files_scope(true);
    let (_, _, scope) = post(
        &fake,
        "files.getUploadURLExternal",
        json!({ "filename": "c.png", "length": 3 }),
    )
    .await;
    assert_eq!(scope["error"], "missing_scope");
    fake.shutdown();
}

/// The rules beyond lengths and counts: text objects' types and minimum,
/// the fields that take plain_text only, button styles, confirmation
/// dialogs, option values, where a multi-select may stand, empty lists.
#[test]
fn block_kit_types_styles_and_companions_are_checked() {
    use standins::block_kit::{check_message_blocks, check_modal};
    let plain = |text: &str| json!({ "type": "plain_text", "text": text });
    let mrkdwn = |text: &str| json!({ "type": "mrkdwn", "text": text });
    let with = |mut element: Value, key: &str, value: Value| {
        element[key] = value;
        element
    };
    let actions = |element: Value| json!([{ "type": "actions", "elements": [element] }]);
    let select =
        |options: Value| json!({ "type": "static_select", "action_id": "s", "options": options });
    let confirm = |title: usize, text: usize, deny: usize| {
        json!({ "title": plain(&"t".repeat(title)), "text": mrkdwn(&"x".repeat(text)),
                "confirm": plain("Yes"), "deny": plain(&"n".repeat(deny)) })
    };
    let refused = [
        json!([{ "type": "section", "text": mrkdwn("") }]),
        json!([{ "type": "section", "text": { "type": "markdown", "text": "x" } }]),
        actions(with(button("a", "x"), "text", mrkdwn("x"))),
        actions(with(button("a", "x"), "style", json!("green"))),
        actions(with(button("a", "x"), "confirm", confirm(101, 1, 1))),
        actions(with(button("a", "x"), "confirm", confirm(1, 301, 1))),
        actions(with(button("a", "x"), "confirm", confirm(1, 1, 31))),
        actions(select(json!([{ "text": mrkdwn("o"), "value": "v" }]))),
        actions(select(
            json!([{ "text": plain("a"), "value": "v" }, { "text": plain("b"), "value": "v" }]),
        )),
        actions(select(json!([{ "text": plain("a"), "value": "" }]))),
        actions(select(json!([]))),
        actions(with(select(json!(options(1))), "placeholder", mrkdwn("p"))),
        actions(with(
            select(json!(options(1))),
            "type",
            json!("multi_static_select"),
        )),
        json!([{ "type": "actions", "elements": [] }]),
        json!([{ "type": "context", "elements": [] }]),
    ];
    for blocks in refused {
        assert!(check_message_blocks(&blocks).is_err(), "{blocks}");
    }
    let accepted = [
        actions(with(button("a", "x"), "style", json!("danger"))),
        actions(with(button("a", "x"), "confirm", confirm(100, 300, 30))),
        json!([{ "type": "section", "text": mrkdwn("x"),
                 "accessory": with(select(json!(options(2))), "type", json!("multi_static_select")) }]),
    ];
    for blocks in accepted {
        assert!(check_message_blocks(&blocks).is_ok(), "{blocks}");
    }
    let titled = |title: Value| json!({ "type": "modal", "title": title, "blocks": [] });
    assert!(check_modal(&titled(plain("Review"))).is_ok());
    assert!(check_modal(&titled(mrkdwn("Review"))).is_err());
}
