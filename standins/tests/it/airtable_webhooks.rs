//! The Airtable stand-in's webhooks: created, listed, refreshed and
//! deleted as Airtable documents; payloads with a cursor, previous values
//! and who made each change (a person or the API); expiry, retention and
//! the scopes.

use std::time::Duration;

use crate::airtable::{send, BASE_ID, TOKEN};
use serde_json::{json, Value};
use standins::airtable::{
    FakeAirtable, RateLimit, Source, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ, SCOPE_WEBHOOKS, WEBHOOK_LIFE,
};

const LECTURES_TABLE: &str = "tblLectures000001";
const TAGS_FIELD: &str = "fldLectureTags001";

async fn start() -> FakeAirtable {
    start_with(RateLimit::default()).await
}

async fn start_with(rate: RateLimit) -> FakeAirtable {
    let fake = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::MultiSelect, rate)
        .await
        .unwrap();
    fake.set_scopes(&[
        SCOPE_RECORDS_READ,
        SCOPE_RECORDS_WRITE,
        SCOPE_SCHEMA_READ,
        SCOPE_WEBHOOKS,
    ]);
    fake.add_tag_option("פילוסופיה");
    fake.add_tag_option("אמנות");
    fake
}

fn tags_webhook() -> Value {
    json!({ "specification": { "options": {
        "filters": { "dataTypes": ["tableData"], "recordChangeScope": LECTURES_TABLE,
                     "watchDataInFieldIds": [TAGS_FIELD] },
        "includes": { "includePreviousCellValues": true },
    } } })
}

async fn create(fake: &FakeAirtable) -> String {
    let (status, body) = send(
        fake,
        reqwest::Method::POST,
        &format!("/v0/bases/{BASE_ID}/webhooks"),
        Some(tags_webhook()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["macSecretBase64"].is_string());
    assert!(body["expirationTime"].is_string());
    body["id"].as_str().unwrap().to_owned()
}

async fn payloads(fake: &FakeAirtable, hook: &str, cursor: u64, limit: u64) -> (u16, Value) {
    send(
        fake,
        reqwest::Method::GET,
        &format!("/v0/bases/{BASE_ID}/webhooks/{hook}/payloads?cursor={cursor}&limit={limit}"),
        None,
    )
    .await
}

#[tokio::test]
async fn a_persons_edit_and_an_api_write_are_payloads_with_previous_values_and_their_source() {
    let fake = start().await;
    let record = fake.add_lecture("L1", "הרצאה");
    let hook = create(&fake).await;
    let dana = Source::Person {
        id: "usrDana000000001".into(),
        email: "dana@example.com".into(),
        name: "דנה".into(),
    };
    fake.set_cell_as("Lectures", &record, "Tags", json!(["אמנות"]), &dana);
    let (status, _) = send(
        &fake,
        reqwest::Method::PATCH,
        &format!("/v0/{BASE_ID}/Lectures"),
        Some(json!({ "records": [{ "id": record, "fields": { TAGS_FIELD: ["אמנות", "פילוסופיה"] } }] })),
    )
    .await;
    assert_eq!(status, 200);
    // A change to another field is not watched.
    fake.set_cell("Lectures", &record, "Name", json!("שם חדש"));

    let (status, listed) = payloads(&fake, &hook, 1, 50).await;
    assert_eq!(status, 200, "{listed}");
    let list = listed["payloads"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(listed["cursor"], 3);
    assert_eq!(listed["mightHaveMore"], false);

    let person = &list[0];
    assert_eq!(person["payloadFormat"], "v0");
    assert_eq!(person["actionMetadata"]["source"], "client");
    assert_eq!(
        person["actionMetadata"]["sourceMetadata"]["user"]["id"],
        "usrDana000000001"
    );
    let change = &person["changedTablesById"][LECTURES_TABLE]["changedRecordsById"][&record];
    assert_eq!(
        change["previous"]["cellValuesByFieldId"][TAGS_FIELD],
        Value::Null
    );
    let current = &change["current"]["cellValuesByFieldId"][TAGS_FIELD];
    assert_eq!(current[0]["name"], "אמנות");
    assert!(
        current[0]["id"].as_str().unwrap().starts_with("sel"),
        "V2 cell values"
    );

    let api = &list[1];
    assert_eq!(api["actionMetadata"]["source"], "publicApi");
    let change = &api["changedTablesById"][LECTURES_TABLE]["changedRecordsById"][&record];
    assert_eq!(
        change["previous"]["cellValuesByFieldId"][TAGS_FIELD][0]["name"],
        "אמנות"
    );
    assert_eq!(
        change["current"]["cellValuesByFieldId"][TAGS_FIELD]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(api["baseTransactionNumber"].as_u64() > person["baseTransactionNumber"].as_u64());

    // The cursor goes on from where the client is; nothing new: same cursor.
    let (_, again) = payloads(&fake, &hook, 3, 50).await;
    assert_eq!(again["payloads"].as_array().unwrap().len(), 0);
    assert_eq!(again["cursor"], 3);
    fake.shutdown();
}

#[tokio::test]
async fn payloads_come_at_most_fifty_at_a_time_with_might_have_more() {
    let fake = start().await;
    let record = fake.add_lecture("L1", "הרצאה");
    let hook = create(&fake).await;
    for n in 0..60 {
        let tags = if n % 2 == 0 {
            json!(["אמנות"])
        } else {
            json!(["פילוסופיה"])
        };
        fake.set_cell("Lectures", &record, "Tags", tags);
    }
    let (_, first) = payloads(&fake, &hook, 1, 50).await;
    assert_eq!(first["payloads"].as_array().unwrap().len(), 50);
    assert_eq!(first["mightHaveMore"], true);
    let (_, rest) = payloads(&fake, &hook, first["cursor"].as_u64().unwrap(), 50).await;
    assert_eq!(rest["payloads"].as_array().unwrap().len(), 10);
    assert_eq!(rest["mightHaveMore"], false);
    let (status, _) = payloads(&fake, &hook, 1, 51).await;
    assert_eq!(status, 422, "a limit over 50 is refused");
    fake.shutdown();
}

#[tokio::test]
async fn a_webhook_expires_after_seven_days_unless_refreshed_or_read() {
    let fake = start().await;
    let kept = create(&fake).await;
    let lapsed = create(&fake).await;
    fake.advance_clock(WEBHOOK_LIFE - Duration::from_secs(3600));
    let (status, refreshed) = send(
        &fake,
        reqwest::Method::POST,
        &format!("/v0/bases/{BASE_ID}/webhooks/{kept}/refresh"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    fake.advance_clock(Duration::from_secs(2 * 3600));

    let hooks = fake.webhooks();
    let enabled = |id: &str| hooks.iter().find(|h| h["id"] == id).unwrap()["isHookEnabled"].clone();
    assert_eq!(enabled(&kept), true);
    assert_eq!(enabled(&lapsed), false);
    let (status, body) = send(
        &fake,
        reqwest::Method::POST,
        &format!("/v0/bases/{BASE_ID}/webhooks/{lapsed}/refresh"),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    // An expired webhook records nothing more.
    let record = fake.add_lecture("L1", "הרצאה");
    fake.set_cell("Lectures", &record, "Tags", json!(["אמנות"]));
    let (_, listed) = payloads(&fake, &lapsed, 1, 50).await;
    assert_eq!(listed["payloads"].as_array().unwrap().len(), 0);
    fake.shutdown();
}

#[tokio::test]
async fn webhooks_need_their_scope_ids_not_names_and_at_most_ten_a_base() {
    // Webhook calls count against the base's 5 a second like any other;
    // this test makes a dozen at once.
    let fake = start_with(RateLimit {
        requests: 100,
        ..RateLimit::default()
    })
    .await;
    let by_name = json!({ "specification": { "options": { "filters": {
        "dataTypes": ["tableData"], "recordChangeScope": "Lectures" } } } });
    let (status, body) = send(
        &fake,
        reqwest::Method::POST,
        &format!("/v0/bases/{BASE_ID}/webhooks"),
        Some(by_name),
    )
    .await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (422, Some("INVALID_REQUEST_UNKNOWN"))
    );

    for _ in 0..10 {
        create(&fake).await;
    }
    let (status, body) = send(
        &fake,
        reqwest::Method::POST,
        &format!("/v0/bases/{BASE_ID}/webhooks"),
        Some(tags_webhook()),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    fake.set_scopes(&[SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ]);
    let (status, body) = send(
        &fake,
        reqwest::Method::GET,
        &format!("/v0/bases/{BASE_ID}/webhooks"),
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

#[tokio::test]
async fn a_deleted_webhook_is_gone() {
    let fake = start().await;
    let hook = create(&fake).await;
    let path = format!("/v0/bases/{BASE_ID}/webhooks/{hook}");
    assert_eq!(
        send(&fake, reqwest::Method::DELETE, &path, None).await.0,
        200
    );
    assert_eq!(
        send(&fake, reqwest::Method::DELETE, &path, None).await.0,
        404
    );
    assert!(fake.webhooks().is_empty());
    fake.shutdown();
}
