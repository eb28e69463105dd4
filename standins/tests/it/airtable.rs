//! The fake Airtable holds tagbot to Airtable's documented contract; these
//! tests make sure it refuses what the real API refuses.

use std::time::Duration;

use serde_json::{json, Value};
use standins::airtable::{
    FakeAirtable, RateLimit, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ,
};

pub(crate) const BASE_ID: &str = "appSTANDIN000001";
pub(crate) const TOKEN: &str = "patStandin000001.0123456789abcdef";

pub(crate) async fn send(
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
        ..RateLimit::default()
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

async fn start(rate: RateLimit) -> FakeAirtable {
    FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::MultiSelect, rate)
        .await
        .unwrap()
}

#[tokio::test]
async fn field_ids_work_wherever_names_do_but_not_in_formulas() {
    let fake = start(RateLimit::default()).await;
    fake.add_tag_option("אתיקה");
    let record = fake.add_lecture("L1", "הרצאה");
    let tags = fake.field_id("Lectures", "Tags").unwrap();
    let external = fake.field_id("Lectures", "external_id").unwrap();

    let (status, written) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(json!({ "records": [{ "id": record, "fields": { tags.clone(): ["אתיקה"] } }] })),
    )
    .await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["records"][0]["fields"]["Tags"], json!(["אתיקה"]));

    let by_name = format!("{}?fields%5B%5D={tags}&fields%5B%5D={external}", lectures());
    let (status, listed) = send(&fake, reqwest::Method::GET, &by_name, None).await;
    assert_eq!(status, 200, "{listed}");
    let fields = &listed["records"][0]["fields"];
    assert_eq!(fields["Tags"], json!(["אתיקה"]));
    assert_eq!(fields["external_id"], "L1");

    let by_id = format!("{by_name}&returnFieldsByFieldId=true");
    let (_, listed) = send(&fake, reqwest::Method::GET, &by_id, None).await;
    let fields = listed["records"][0]["fields"].as_object().unwrap();
    assert_eq!(fields[&tags], json!(["אתיקה"]));
    assert!(!fields.contains_key("Tags"), "{fields:?}");

    let (_, posted) = send(
        &fake,
        reqwest::Method::POST,
        &format!("{}/listRecords", lectures()),
        Some(json!({ "fields": [tags.clone()], "returnFieldsByFieldId": true })),
    )
    .await;
    assert_eq!(posted["records"][0]["fields"][&tags], json!(["אתיקה"]));

    // Formulas name fields by {name} only.
    let formula = format!("{}?filterByFormula=%7B{external}%7D%3D%22L1%22", lectures());
    let (status, refused) = send(&fake, reqwest::Method::GET, &formula, None).await;
    assert_eq!(status, 422);
    assert_eq!(refused["error"]["type"], "INVALID_FILTER_BY_FORMULA");
    fake.shutdown();
}

#[tokio::test]
async fn refusals_have_the_status_and_type_airtable_answers() {
    let fake = start(RateLimit::default()).await;
    let record = fake.add_lecture("L1", "הרצאה");

    let missing_record =
        json!({ "records": [{ "id": "rec00000000000999", "fields": { "Name": "x" } }] });
    let (status, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(missing_record),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (422, &json!("ROW_DOES_NOT_EXIST"))
    );

    let unknown_field = json!({ "records": [{ "id": record, "fields": { "Topics": ["x"] } }] });
    let (status, body) = send(
        &fake,
        reqwest::Method::PATCH,
        &lectures(),
        Some(unknown_field),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (422, &json!("UNKNOWN_FIELD_NAME"))
    );
    let read = format!("{}?fields%5B%5D=Topics", lectures());
    let (status, body) = send(&fake, reqwest::Method::GET, &read, None).await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (422, &json!("UNKNOWN_FIELD_NAME"))
    );

    let bad_formula = format!("{}?filterByFormula=%7Bexternal_id%7D%3D", lectures());
    let (status, body) = send(&fake, reqwest::Method::GET, &bad_formula, None).await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (422, &json!("INVALID_FILTER_BY_FORMULA"))
    );

    let (status, body) = send(
        &fake,
        reqwest::Method::GET,
        &format!("/v0/{BASE_ID}/Talks"),
        None,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (403, &json!("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"))
    );
    fake.shutdown();
}

#[tokio::test]
async fn each_endpoint_needs_its_scope() {
    let fake = start(RateLimit::default()).await;
    let schema = format!("/v0/meta/bases/{BASE_ID}/tables");
    assert_eq!(
        send(&fake, reqwest::Method::GET, &schema, None).await.0,
        200
    );

    fake.set_scopes(&[SCOPE_RECORDS_READ]);
    let (status, body) = send(&fake, reqwest::Method::GET, &schema, None).await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (403, &json!("INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND"))
    );
    assert_eq!(
        send(&fake, reqwest::Method::GET, &lectures(), None).await.0,
        200
    );
    let write = json!({ "records": [{ "id": fake.add_lecture("L1", "x"), "fields": {} }] });
    assert_eq!(
        send(&fake, reqwest::Method::PATCH, &lectures(), Some(write))
            .await
            .0,
        403
    );

    fake.set_scopes(&[SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ]);
    assert_eq!(
        send(&fake, reqwest::Method::GET, &schema, None).await.0,
        200
    );
    fake.shutdown();
}

#[tokio::test]
async fn a_token_gets_fifty_requests_a_second_whatever_the_base_allows() {
    let rate = RateLimit {
        requests: 1_000,
        ..RateLimit::default()
    };
    let fake = start(rate).await;
    let mut statuses = Vec::new();
    for _ in 0..51 {
        statuses.push(send(&fake, reqwest::Method::GET, &lectures(), None).await.0);
    }
    // Loopback requests take well under a millisecond each: all 51 fall in
    // one second, so exactly the 51st is refused.
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 50);
    assert_eq!(statuses[50], 429);
    fake.shutdown();
}

#[tokio::test]
async fn a_used_up_monthly_quota_refuses_every_endpoint() {
    let fake = start(RateLimit::default()).await;
    fake.set_monthly_quota(2);
    let schema = format!("/v0/meta/bases/{BASE_ID}/tables");
    assert_eq!(
        send(&fake, reqwest::Method::GET, &lectures(), None).await.0,
        200
    );
    assert_eq!(
        send(&fake, reqwest::Method::GET, &schema, None).await.0,
        200
    );

    for path in [lectures(), schema] {
        let (status, body) = send(&fake, reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 429, "{path}");
        assert_eq!(body["error"]["type"], "PUBLIC_API_BILLING_LIMIT_EXCEEDED");
    }
    fake.shutdown();
}

#[tokio::test]
async fn the_url_limit_counts_scheme_and_host_too() {
    let fake = start(RateLimit::default()).await;
    // Path and query alone stay under 16,000 characters; the whole URL
    // (http://127.0.0.1:PORT…) does not.
    let base = format!("{}?filterByFormula=", lectures());
    let host_part = fake.url.len();
    let padding = 16_000 - base.len() - host_part + 1;
    let long = format!("{base}{}", "x".repeat(padding));
    assert!(long.len() < 16_000);
    let (status, body) = send(&fake, reqwest::Method::GET, &long, None).await;
    assert_eq!(status, 414, "{body}");
    let fits = format!("{base}{}", "x".repeat(padding - 1));
    let (status, _) = send(&fake, reqwest::Method::GET, &fits, None).await;
    assert_ne!(status, 414);
    fake.shutdown();
}
