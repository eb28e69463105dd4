//! tagbot's client for the base's change stream (Airtable's webhooks API)
//! against the stand-in: a webhook on the tags field created, listed and
//! refreshed; payloads read by cursor, with the cell before each change
//! and who made it; every call inside the shared request budget; a token
//! without `webhook:manage` refused as Airtable refuses it.

use std::time::Duration;

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{
    Source, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ,
    SCOPE_WEBHOOKS,
};
use tagbot::airtable::webhooks::tags_specification;
use tagbot::airtable::{AirtableClient, RequestBudget};
use tagbot::sync::stream;

use crate::sync_world::{World, BASE_ID};

fn client(w: &World) -> AirtableClient {
    let settings = w.airtable(&[]);
    let budget = RequestBudget::new(w.db.app.clone(), BASE_ID, 5, Duration::from_secs(30));
    AirtableClient::new(&settings, budget, Duration::from_secs(10)).unwrap()
}

const LECTURES_TABLE: &str = "tblLectures000001";

/// A base whose token may manage webhooks, a multiple-select tags field
/// with two options and lecture L1: the world, L1's record and the tags
/// field's id.
async fn with_webhooks(pool: PgPoolOptions, options: PgConnectOptions) -> (World, String, String) {
    let w = World::new(pool, options, TagsFieldKind::MultiSelect).await;
    w.fake.set_scopes(&[
        SCOPE_RECORDS_READ,
        SCOPE_RECORDS_WRITE,
        SCOPE_SCHEMA_READ,
        SCOPE_WEBHOOKS,
    ]);
    w.fake.add_tag_option("פילוסופיה");
    w.fake.add_tag_option("אמנות");
    let record = w.fake.add_lecture("L1", "הרצאה");
    let field = w.fake.field_id("Lectures", "Tags").unwrap();
    (w, record, field)
}

#[sqlx::test]
async fn a_webhook_on_the_tags_field_reads_every_change_with_its_previous_value(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (w, record, field) = with_webhooks(pool, options).await;
    let table = LECTURES_TABLE;
    let client = client(&w);

    let lecture_field = w.fake.field_id("Lectures", "external_id").unwrap();
    let created = client
        .create_webhook(&tags_specification(table, &field, &lecture_field))
        .await
        .unwrap();
    assert!(
        created.expiration_time.is_some(),
        "webhooks of a token expire"
    );
    let listed = client.list_webhooks().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(listed[0].cursor_for_next_payload, 1);

    let dana = Source::Person {
        id: "usrDana000000001".into(),
        email: "dana@example.com".into(),
        name: "דנה".into(),
    };
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!(["אמנות"]), &dana);
    w.fake.set_cell_as(
        "Lectures",
        &record,
        "Tags",
        json!(["אמנות", "פילוסופיה"]),
        &dana,
    );

    let page = client.webhook_payloads(&created.id, 1).await.unwrap();
    assert_eq!(page.payloads.len(), 2);
    assert_eq!(page.cursor, 3);
    assert!(!page.might_have_more);
    let second = &page.payloads[1];
    assert_eq!(second["actionMetadata"]["source"], "client");
    let change = &second["changedTablesById"][table]["changedRecordsById"][&record];
    assert_eq!(
        change["previous"]["cellValuesByFieldId"][&field][0]["name"],
        "אמנות"
    );
    let again = client
        .webhook_payloads(&created.id, page.cursor)
        .await
        .unwrap();
    assert!(again.payloads.is_empty());
    assert_eq!(again.cursor, 3);

    let refreshed = client.refresh_webhook(&created.id).await.unwrap();
    assert!(refreshed >= created.expiration_time);
    assert_eq!(client.stats().requests(), 5, "each call one request");
    w.close().await;
}

#[sqlx::test]
async fn without_webhook_manage_the_change_stream_is_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let err = client(&w).list_webhooks().await.unwrap_err();
    assert_eq!(err.status, Some(403));
    assert!(err.is_auth(), "{err}");
    w.close().await;
}

#[sqlx::test]
async fn the_stream_is_created_once_adopted_after_and_read_by_one_process_from_its_cursor(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (w, record, field) = with_webhooks(pool, options).await;
    let watch = stream::Watch {
        table_id: LECTURES_TABLE.to_owned(),
        tags_field_id: field.clone(),
        lecture_field_id: w.fake.field_id("Lectures", "external_id").unwrap(),
    };
    let client = client(&w);

    let first = stream::ensure(&client, &w.db.app, BASE_ID, &watch)
        .await
        .unwrap();
    let again = stream::ensure(&client, &w.db.app, BASE_ID, &watch)
        .await
        .unwrap();
    assert_eq!(
        first.webhook_id, again.webhook_id,
        "adopted, not made twice"
    );
    assert_eq!(w.fake.webhooks().len(), 1);
    let spec = &w.fake.webhooks()[0]["specification"]["options"];
    assert_eq!(spec["includes"]["includePreviousCellValues"], true);
    assert_eq!(
        spec["includes"]["includeCellValuesInFieldIds"][0],
        watch.lecture_field_id.as_str()
    );

    // A worker reads, and the stored cursor moves past what it read.
    w.fake
        .set_cell("Lectures", &record, "Tags", json!(["אמנות"]));
    let syncer = w.syncer(crate::sync_world::fast());
    syncer.preflight().await.unwrap();
    let read = syncer.catch_up_stream().await.expect("the stream is on");
    assert_eq!((read.payloads, read.caught_up), (1, true));
    let again = syncer.catch_up_stream().await.unwrap();
    assert_eq!(again.payloads, 0, "nothing is read twice");
    let stored = tagbot::storage::change_streams::of_base(&w.db.app, BASE_ID)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.next_cursor, 2);
    // The cell is known, with its lecture and who put the value there.
    let cells = tagbot::storage::record_cells::of_records(
        &w.db.app,
        BASE_ID,
        std::slice::from_ref(&record),
    )
    .await
    .unwrap();
    assert_eq!(cells[&record].lecture.as_deref(), Some("L1"));
    assert_eq!(cells[&record].tags, ["אמנות"]);
    assert_eq!(cells[&record].edits["אמנות"].by.describe(), "A person");

    // While another process holds the stream, this one does not read it.
    assert!(tagbot::storage::change_streams::lease(
        &w.db.app,
        BASE_ID,
        "another-process",
        Duration::from_secs(30)
    )
    .await
    .unwrap());
    w.fake
        .set_cell("Lectures", &record, "Tags", json!(["פילוסופיה"]));
    assert!(syncer.catch_up_stream().await.is_none());
    w.close().await;
}

#[sqlx::test]
async fn a_second_webhook_left_by_a_crash_is_deleted_and_the_stored_one_kept(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (w, _, field) = with_webhooks(pool, options).await;
    let watch = stream::Watch {
        table_id: LECTURES_TABLE.to_owned(),
        tags_field_id: field,
        lecture_field_id: w.fake.field_id("Lectures", "external_id").unwrap(),
    };
    let client = client(&w);
    let kept = stream::ensure(&client, &w.db.app, BASE_ID, &watch)
        .await
        .unwrap();
    // A process died after creating a webhook and before storing it.
    let spec = w.fake.webhooks()[0]["specification"].clone();
    client.create_webhook(&spec).await.unwrap();
    assert_eq!(w.fake.webhooks().len(), 2);
    // Another process starts later than the hour a check is trusted.
    sqlx::query("UPDATE airtable_change_streams SET checked_at = now() - interval '2 hours'")
        .execute(&w.db.app)
        .await
        .unwrap();

    let again = stream::ensure(&client, &w.db.app, BASE_ID, &watch)
        .await
        .unwrap();

    assert_eq!(again.webhook_id, kept.webhook_id, "the stored one is kept");
    let left = w.fake.webhooks();
    assert_eq!(left.len(), 1, "the other is deleted (an empty answer)");
    assert_eq!(left[0]["id"], kept.webhook_id.as_str());
    w.close().await;
}
