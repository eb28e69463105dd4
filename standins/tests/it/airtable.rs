//! The fake Airtable holds tagbot to Airtable's documented contract; these
//! tests make sure it refuses what the real API refuses.

use std::time::Duration;

use serde_json::{json, Value};
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};

const BASE_ID: &str = "appSTANDIN000001";
const TOKEN: &str = "patStandin000001.0123456789abcdef";

async fn send(
    fake: &FakeAirtable,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", fake.url))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn lectures() -> String {
    format!("/v0/{BASE_ID}/Lectures")
}

#[tokio::test]
async fn a_write_of_more_than_ten_records_is_refused_whole() {
    let fake = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default())
        .await
        .unwrap();
    let ids: Vec<String> = (0..11)
        .map(|n| fake.add_lecture(&format!("L{n}"), "x"))
        .collect();
    let records: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "fields": { "Name": "changed" } }))
        .collect();

    let (status, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(json!({ "records": records })),
    )
    .await;

    assert_eq!(status, 422);
    assert_eq!(body["error"]["type"], "INVALID_RECORDS");
    assert_eq!(fake.cell("Lectures", &ids[0], "Name"), json!("x"));
    fake.shutdown();
}

#[tokio::test]
async fn linked_cells_take_record_id_strings_only() {
    let fake = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default())
        .await
        .unwrap();
    let tag = fake.add_tag("t1", "פילוסופיה");
    let lecture = fake.add_lecture("L1", "x");

    // The original plan's object form is not Airtable's write format.
    let (status, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(json!({ "records": [{ "id": lecture, "fields": { "Tags": [{ "id": tag }] } }] })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["type"], "INVALID_VALUE_FOR_COLUMN");

    let (status, _) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(json!({ "records": [{ "id": lecture, "fields": { "Tags": [tag] } }] })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.cell("Lectures", &lecture, "Tags"), json!([tag]));
    fake.shutdown();
}

#[tokio::test]
async fn an_unknown_option_needs_typecast() {
    let fake = FakeAirtable::start(
        BASE_ID,
        TOKEN,
        TagsFieldKind::MultiSelect,
        RateLimit::default(),
    )
    .await
    .unwrap();
    let lecture = fake.add_lecture("L1", "x");
    let write = |typecast: bool| json!({ "records": [{ "id": lecture, "fields": { "Tags": ["חדש"] } }], "typecast": typecast });

    let (status, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(write(false)),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["type"], "INVALID_MULTIPLE_CHOICE_OPTIONS");

    let (status, _) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(write(true)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.cell("Lectures", &lecture, "Tags"), json!(["חדש"]));
    fake.shutdown();
}

#[tokio::test]
async fn a_sixth_request_in_a_second_is_refused_and_penalised() {
    let rate = RateLimit {
        requests: 5,
        window: Duration::from_secs(1),
        penalty: Duration::from_millis(1500),
    };
    let fake = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, rate)
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(send(&fake, reqwest::Method::GET, &lectures(), None).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);

    // Past the window but inside the penalty: still refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = send(&fake, reqwest::Method::GET, &lectures(), None).await;
    assert_eq!(status, 429);
    assert_eq!(body["errors"][0]["error"], "RATE_LIMIT_REACHED");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        send(&fake, reqwest::Method::GET, &lectures(), None).await.0,
        200
    );
    fake.shutdown();
}

#[tokio::test]
async fn a_wrong_token_or_base_gets_airtables_error_bodies() {
    let fake = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default())
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}{}", fake.url, lectures()))
        .bearer_auth("patWrong.0000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "AUTHENTICATION_REQUIRED");

    let (status, body) = send(
        &fake,
        reqwest::Method::GET,
        "/v0/appOTHERBASE00001/Lectures",
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["type"],
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"
    );
    fake.shutdown();
}
