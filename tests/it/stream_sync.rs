//! The sync worker with the base's change stream on: backfills written
//! without reading first; people's edits a write overwrote put back (and
//! removals it undid made again), each recorded with whose edit it was;
//! synced tags people remove recorded as drift and never undone; what a
//! broken stream had not checked salvaged from a fresh read before it is
//! set up again; and, without the scope, the worker reading first as
//! always and saying why.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{
    RateLimit, Source, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ,
    SCOPE_WEBHOOKS,
};
use tagbot::shutdown::Shutdown;
use tagbot::storage::{drift, repairs};
use tagbot::sync::StreamMode;

use crate::sync_world::{airtable_error, fast, World};

pub fn dana() -> Source {
    Source::Person {
        id: "usrDana000000001".into(),
        email: "dana@example.com".into(),
        name: "דנה".into(),
    }
}

/// A linked-tags base whose token may manage webhooks.
pub async fn streaming_world(pool: PgPoolOptions, options: PgConnectOptions) -> World {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    w.fake.set_scopes(&[
        SCOPE_RECORDS_READ,
        SCOPE_RECORDS_WRITE,
        SCOPE_SCHEMA_READ,
        SCOPE_WEBHOOKS,
    ]);
    w
}

/// The GETs of Lectures records (reads and look-ups) the stand-in served.
fn lecture_reads(w: &World) -> usize {
    w.fake
        .requests()
        .iter()
        .filter(|r| {
            (r.method == "GET" && r.path.ends_with("/Lectures"))
                || r.path.ends_with("/Lectures/listRecords")
        })
        .count()
}

fn cell_set(w: &World, record: &str) -> Vec<String> {
    let mut values: Vec<String> = w
        .fake
        .cell("Lectures", record, "Tags")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    values.sort();
    values
}

#[sqlx::test]
async fn a_backfill_with_the_stream_on_writes_without_reading_first(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let tags: Vec<String> = (1..=3)
        .map(|n| w.fake.add_tag(&format!("t{n}"), &format!("תגית {n}")))
        .collect();
    let human = w.fake.add_tag("t9", "ידני");
    let mut records = Vec::new();
    for n in 0..25 {
        let lecture = format!("L{n:03}");
        let record = w.fake.add_lecture(&lecture, "הרצאה");
        w.fake
            .set_cell_as("Lectures", &record, "Tags", json!([human]), &dana());
        records.push(record);
        for tag in 1..=3 {
            w.approved(&lecture, &format!("t{tag}")).await;
        }
    }
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    stream_on(&syncer).await;
    let before = lecture_reads(&w);

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.synced, 75);
    assert_eq!(report.change_stream, "on");
    assert_eq!(
        report.reads_skipped, 3,
        "every batch wrote from known cells"
    );
    assert_eq!(
        lecture_reads(&w) - before,
        1,
        "one look-up for all 25 lectures, no read per batch"
    );
    assert_eq!(w.patches().len(), 3, "one write per ten lectures");
    for record in &records {
        let mut want = vec![
            human.clone(),
            tags[0].clone(),
            tags[1].clone(),
            tags[2].clone(),
        ];
        want.sort();
        assert_eq!(cell_set(&w, record), want, "the person's tag is kept");
    }
    // The stream then shows the writes; each is checked and clean.
    let checked = syncer.catch_up_stream().await.unwrap();
    assert_eq!((checked.writes_checked, checked.repairs_found), (25, 0));
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes WHERE outcome = 'clean'")
            .await,
        25
    );
    w.close().await;
}

async fn stream_on(syncer: &tagbot::sync::Syncer) -> StreamMode {
    match syncer.stream_mode().await {
        on @ StreamMode::On { .. } => on,
        other => panic!("the stream should be on: {other:?}"),
    }
}

/// L1 synced once with t1 (so its cell is known), then a person's edit
/// lands while the stream's view is a moment old, and t2 is written over
/// it: what the write overwrote, per the stream.
async fn overwritten(w: &World, edit: impl FnOnce(&str, &str)) -> (tagbot::sync::Syncer, String) {
    w.fake.add_tag("t1", "פילוסופיה");
    w.fake.add_tag("t2", "אמנות");
    let record = w.fake.add_lecture("L1", "הרצאה");
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    w.approved("L1", "t1").await;
    let first = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(first.synced, 1);
    let t1 = w.fake.cell("Lectures", &record, "Tags")[0]
        .as_str()
        .unwrap()
        .to_owned();
    edit(&record, &t1);
    w.approved("L1", "t2").await;
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(
        (second.synced, second.reads_skipped),
        (1, 1),
        "written from the stream's (stale) view"
    );
    (syncer, record)
}

#[sqlx::test]
async fn a_persons_addition_a_write_overwrote_is_put_back_and_recorded(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let extra = w.fake.add_tag("t8", "היסטוריה");
    let added = extra.clone();
    let (syncer, record) = overwritten(&w, |record, _| {
        w.fake
            .edit_cell_as("Lectures", record, "Tags", &dana(), |cell| {
                let mut values = cell.as_array().cloned().unwrap_or_default();
                values.push(json!(added));
                json!(values)
            })
            .unwrap();
    })
    .await;
    let lost = w.fake.cell("Lectures", &record, "Tags");
    assert!(
        !lost.as_array().unwrap().contains(&json!(extra)),
        "the write overwrote Dana's tag: {lost}"
    );

    let read = syncer.catch_up_stream().await.unwrap();

    assert_eq!((read.repairs_found, read.repaired), (1, 1));
    let cell = w.fake.cell("Lectures", &record, "Tags");
    assert!(cell.as_array().unwrap().contains(&json!(extra)), "{cell}");
    assert_eq!(
        cell.as_array().unwrap().len(),
        3,
        "t1, t2 and Dana's: {cell}"
    );
    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let recorded = repairs::since(&w.db.app, since, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    let repair = &recorded[0];
    assert_eq!(repair.lecture_external_id.as_deref(), Some("L1"));
    assert_eq!(repair.restored.0.iter().collect::<Vec<_>>(), [&extra]);
    assert_eq!(repair.edits.0[&extra].by.describe(), "דנה");
    assert!(repair.repaired_at.is_some());
    // The repair is itself checked: the next read finds it clean.
    let next = syncer.catch_up_stream().await.unwrap();
    assert_eq!((next.writes_checked, next.repairs_found), (1, 0));
    w.close().await;
}

#[sqlx::test]
async fn a_persons_removal_a_write_undid_is_made_again(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let t1 = w.fake.add_tag("t1", "פילוסופיה");
    let t2 = w.fake.add_tag("t2", "אמנות");
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([human]), &dana());
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    w.approved("L1", "t1").await;
    syncer.run_once(&Shutdown::never()).await.unwrap();
    // Dana removes her tag; the stream's view (a moment old) still has it,
    // and the next write, made from that view, brings it back.
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([t1]), &dana());
    w.approved("L1", "t2").await;
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(second.reads_skipped, 1);
    let back = cell_set(&w, &record);
    assert!(
        back.contains(&human),
        "the stale view wrote it back: {back:?}"
    );

    let read = syncer.catch_up_stream().await.unwrap();

    assert_eq!((read.repairs_found, read.repaired), (1, 1));
    let mut want = vec![t1, t2];
    want.sort();
    assert_eq!(cell_set(&w, &record), want, "Dana's removal stands");
    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let recorded = repairs::since(&w.db.app, since, 10).await.unwrap();
    assert_eq!(recorded[0].removed.0.iter().collect::<Vec<_>>(), [&human]);
    assert_eq!(recorded[0].edits.0[&human].by.describe(), "דנה");
    w.close().await;
}

#[sqlx::test]
async fn a_synced_tag_a_person_removes_is_drift_recorded_and_never_undone(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let (tag, record, id) = w.one_approved().await;
    w.fake.add_tag("t2", "אמנות");
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(w.db.status(id).await, "synced");
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([]), &dana());

    let read = syncer.catch_up_stream().await.unwrap();

    assert_eq!(read.drift, 1);
    let found = drift::of_lectures(&w.db.app, &["L1".to_owned()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].tag_id.as_str(), found[0].removed_by.as_str()),
        ("t1", "דנה")
    );
    assert_eq!(w.db.status(id).await, "synced", "drift is not a status");
    // The review message says so; the report counts and lists it.
    let card = tagbot::slack::card::load_card(&w.db.app, "L1", 0.9)
        .await
        .unwrap()
        .unwrap();
    let (by, _) = card.suggestions[0].removed_in_airtable.clone().unwrap();
    assert_eq!(by, "דנה");
    // Nothing puts it back: not the next run, not the next read.
    w.approved("L1", "t2").await;
    let report = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!((report.synced, report.drift_last_day), (1, 1));
    assert!(
        report.to_string().contains("L1 / t1 removed by דנה"),
        "{report}"
    );
    syncer.catch_up_stream().await.unwrap();
    assert_eq!(
        cell_set(&w, &record).len(),
        1,
        "{tag} stays removed; t2 is added"
    );
    assert!(!cell_set(&w, &record).contains(&tag));
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_drift").await,
        1,
        "recorded once"
    );
    w.close().await;
}

#[sqlx::test]
async fn without_webhook_manage_the_worker_reads_first_and_names_the_scope(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, _) = w.one_approved().await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    let StreamMode::Off { why } = syncer.stream_mode().await else {
        panic!("the stream cannot be on without the scope");
    };
    assert!(why.contains("webhook:manage"), "{why}");
    assert!(
        report.change_stream.starts_with("off:"),
        "{}",
        report.change_stream
    );
    assert_eq!(report.reads_skipped, 0);
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes").await,
        0,
        "nothing to check without a stream"
    );
    w.close().await;
}

#[sqlx::test]
async fn tagbot_report_drift_lists_the_removed_tags(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let (_, record, _) = w.one_approved().await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    syncer.run_once(&Shutdown::never()).await.unwrap();
    let hostile = Source::Person {
        id: "usrEvil000000001".into(),
        email: "evil@example.com".into(),
        name: "Eve\nSync run forged".into(),
    };
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([]), &hostile);
    assert_eq!(syncer.catch_up_stream().await.unwrap().drift, 1);
    let text = w.db.tagbot(&["report", "--drift"]).await;
    let json = w.db.tagbot(&["report", "--drift", "--json"]).await;

    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("L1 / t1 removed by Eve Sync run forged"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2, "one line per removal: {text}");
    let listed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(listed[0]["lecture"], "L1");
    assert_eq!(listed[0]["removed_by"], "Eve\nSync run forged");
    w.close().await;
}

#[sqlx::test]
async fn a_repair_airtable_refuses_in_a_batch_is_tried_record_by_record(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    w.fake.add_tag("t1", "פילוסופיה");
    w.fake.add_tag("t2", "אמנות");
    let extra = w.fake.add_tag("t8", "היסטוריה");
    let records: Vec<String> = ["L1", "L2"]
        .iter()
        .map(|l| w.fake.add_lecture(l, "הרצאה"))
        .collect();
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    for lecture in ["L1", "L2"] {
        w.approved(lecture, "t1").await;
    }
    syncer.run_once(&Shutdown::never()).await.unwrap();
    // Dana adds a tag to both while the stream's view is a moment old;
    // the next writes overwrite both additions.
    for record in &records {
        w.fake
            .edit_cell_as("Lectures", record, "Tags", &dana(), |cell| {
                let mut values = cell.as_array().cloned().unwrap_or_default();
                values.push(json!(extra));
                json!(values)
            })
            .unwrap();
    }
    for lecture in ["L1", "L2"] {
        w.approved(lecture, "t2").await;
    }
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(second.reads_skipped, 1);
    // Airtable refuses the first repairing request (both records).
    w.fake.fail_next(
        reqwest::Method::PATCH,
        1,
        422,
        crate::sync_world::airtable_error("INVALID_VALUE_FOR_COLUMN", "Cannot parse value"),
    );

    let read = syncer.catch_up_stream().await.unwrap();

    assert_eq!((read.repairs_found, read.repaired), (2, 2));
    for record in &records {
        assert!(cell_set(&w, record).contains(&extra), "{record} repaired");
    }
    w.close().await;
}

#[sqlx::test]
async fn a_record_given_another_lecture_id_is_not_written_as_the_old_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let (tag, record, _) = w.one_approved().await;
    w.fake.add_tag("t2", "אמנות");
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    syncer.run_once(&Shutdown::never()).await.unwrap();
    // Someone gives L1's record another lecture id.
    w.fake
        .set_cell_as("Lectures", &record, "external_id", json!("L9"), &dana());
    syncer.catch_up_stream().await.unwrap();
    w.approved("L1", "t2").await;

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.reads_skipped, 0, "L1 is no longer known");
    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([tag]),
        "not written"
    );
    let (status, _, error) = w.item("L1", "t2").await;
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("lecture_missing"));
    w.close().await;
}

#[sqlx::test]
async fn a_removed_tag_a_person_puts_back_is_no_longer_shown_as_removed(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let (tag, record, _) = w.one_approved().await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    syncer.run_once(&Shutdown::never()).await.unwrap();
    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([]), &dana());
    assert_eq!(syncer.catch_up_stream().await.unwrap().drift, 1);
    let removed = || async {
        tagbot::slack::card::load_card(&w.db.app, "L1", 0.9)
            .await
            .unwrap()
            .unwrap()
            .suggestions[0]
            .removed_in_airtable
            .clone()
    };
    assert!(removed().await.is_some());
    // L1's review message, as the poster would have recorded it.
    sqlx::query(
        "INSERT INTO slack_review_messages (lecture_external_id, channel, ts) VALUES ('L1', 'C0REVIEW01', '1.000100')",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    let version =
        "SELECT content_version FROM slack_review_messages WHERE lecture_external_id = 'L1'";
    let before = w.db.count(version).await;

    w.fake
        .set_cell_as("Lectures", &record, "Tags", json!([tag]), &dana());
    syncer.catch_up_stream().await.unwrap();

    assert_eq!(removed().await, None, "put back: no longer removed");
    assert!(
        w.db.count(version).await > before,
        "the message is brought up to date"
    );
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_drift WHERE readded_at IS NOT NULL")
            .await,
        1,
        "the record is kept, marked"
    );
    w.close().await;
}

/// The outcomes of the base's writes, `purpose/outcome`, oldest first.
async fn write_outcomes(w: &World) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT purpose || '/' || coalesce(outcome, 'unchecked') FROM airtable_writes ORDER BY id",
    )
    .fetch_all(&w.db.admin)
    .await
    .unwrap()
}

fn webhook_ids(w: &World) -> Vec<String> {
    w.fake
        .webhooks()
        .iter()
        .filter_map(|h| h["id"].as_str().map(str::to_owned))
        .collect()
}

#[sqlx::test]
async fn a_repair_waiting_when_the_webhook_is_deleted_is_written_before_the_stream_starts_over(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let extra = w.fake.add_tag("t8", "היסטוריה");
    let added = extra.clone();
    let (syncer, record) = overwritten(&w, |record, _| {
        w.fake
            .edit_cell_as("Lectures", record, "Tags", &dana(), |cell| {
                let mut values = cell.as_array().cloned().unwrap_or_default();
                values.push(json!(added));
                json!(values)
            })
            .unwrap();
    })
    .await;
    // The stream finds what the write overwrote, but Airtable is away
    // when the repair is written: it waits.
    w.fake.fail_next(
        reqwest::Method::PATCH,
        1,
        503,
        airtable_error("SERVICE_UNAVAILABLE", "try again"),
    );
    let read = syncer.catch_up_stream().await.unwrap();
    assert_eq!((read.repairs_found, read.repaired), (1, 0));
    assert!(!cell_set(&w, &record).contains(&extra));
    let old = webhook_ids(&w);
    // Someone deletes tagbot's webhook before the next read.
    w.fake.delete_webhooks();

    let broken = syncer.catch_up_stream().await;

    assert_eq!(broken, None, "the read itself failed");
    assert!(
        cell_set(&w, &record).contains(&extra),
        "Dana's tag is back: {:?}",
        cell_set(&w, &record)
    );
    assert_eq!(cell_set(&w, &record).len(), 3, "t1, t2 and Dana's");
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_repairs WHERE repaired_at IS NULL OR repair_write_id IS NULL")
            .await,
        0,
        "the repair was written, not abandoned"
    );
    let new = webhook_ids(&w);
    assert_eq!(new.len(), 1, "set up again: {new:?}");
    assert_ne!(new, old);
    assert_eq!(
        write_outcomes(&w).await,
        [
            "sync/clean",
            "sync/repaired",
            // Sent when Airtable answered 503: whether it landed, and what
            // it may have overwritten, no read can tell.
            "repair/unverified",
            // The salvage's own write, for the new stream to check.
            "repair/unchecked",
        ]
    );
    // The new stream shows the salvage's write, and checks it.
    syncer.run_once(&Shutdown::never()).await.unwrap();
    let next = syncer.catch_up_stream().await.unwrap();
    assert_eq!((next.writes_checked, next.repairs_found), (1, 0));
    assert_eq!(write_outcomes(&w).await[3], "repair/clean");
    assert_eq!(w.fake.rate_limited(), 0);
    w.close().await;
}

#[sqlx::test]
async fn a_refused_cursor_after_a_write_over_a_persons_shown_edit_brings_the_edit_back(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    w.fake.add_tag("t1", "פילוסופיה");
    w.fake.add_tag("t2", "אמנות");
    let extra = w.fake.add_tag("t8", "היסטוריה");
    let record = w.fake.add_lecture("L1", "הרצאה");
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    w.approved("L1", "t1").await;
    assert_eq!(syncer.run_once(&Shutdown::never()).await.unwrap().synced, 1);
    let t1 = w.fake.cell("Lectures", &record, "Tags")[0]
        .as_str()
        .unwrap()
        .to_owned();
    // Dana adds a tag, and a stream read shows it ...
    w.fake
        .edit_cell_as("Lectures", &record, "Tags", &dana(), |_| json!([t1, extra]))
        .unwrap();
    syncer.catch_up_stream().await.unwrap();
    // ... while a batch that had taken its view of the cell before that
    // read (another process's read, racing it) writes t2 over her tag.
    sqlx::query("UPDATE airtable_record_cells SET tags = $1")
        .bind(json!([t1]))
        .execute(&w.db.admin)
        .await
        .unwrap();
    w.approved("L1", "t2").await;
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!((second.synced, second.reads_skipped), (1, 1));
    assert!(!cell_set(&w, &record).contains(&extra), "overwritten");
    let hook = webhook_ids(&w);
    // Airtable refuses the stream's cursor at the next read.
    w.fake.fail_next_at(
        reqwest::Method::GET,
        "/payloads",
        1,
        422,
        airtable_error("INVALID_REQUEST_UNKNOWN", "Invalid cursor"),
    );

    assert_eq!(syncer.catch_up_stream().await, None);

    assert!(
        cell_set(&w, &record).contains(&extra),
        "Dana's tag is back: {:?}",
        cell_set(&w, &record)
    );
    assert_eq!(cell_set(&w, &record).len(), 3);
    let since = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let recorded = repairs::since(&w.db.app, since, 10).await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].restored.0.iter().collect::<Vec<_>>(), [&extra]);
    assert_eq!(recorded[0].edits.0[&extra].by.describe(), "דנה");
    assert!(recorded[0].repaired_at.is_some());
    assert_eq!(
        write_outcomes(&w).await,
        ["sync/clean", "sync/repaired", "repair/unchecked"]
    );
    assert_eq!(webhook_ids(&w), hook, "the same webhook, read on");
    // The stream is read again from the webhook's next payload, and
    // checks the salvage's write.
    syncer.run_once(&Shutdown::never()).await.unwrap();
    let next = syncer.catch_up_stream().await.unwrap();
    assert_eq!((next.writes_checked, next.repairs_found), (1, 0));
    w.close().await;
}

#[sqlx::test]
async fn writes_a_broken_stream_never_showed_are_read_ten_a_request_and_recorded_unverified(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Airtable's own limit, and tagbot's budget within it.
    let rate = RateLimit {
        requests: 5,
        window: std::time::Duration::from_secs(1),
        penalty: std::time::Duration::from_secs(30),
        ..RateLimit::default()
    };
    let w = World::with_rate(pool, options, TagsFieldKind::Linked, rate).await;
    w.fake.set_scopes(&[
        SCOPE_RECORDS_READ,
        SCOPE_RECORDS_WRITE,
        SCOPE_SCHEMA_READ,
        SCOPE_WEBHOOKS,
    ]);
    w.fake.add_tag("t1", "פילוסופיה");
    for n in 0..25 {
        let lecture = format!("L{n:03}");
        w.fake.add_lecture(&lecture, "הרצאה");
        w.approved(&lecture, "t1").await;
    }
    let settings = tagbot::config::SyncSettings {
        requests_per_second: 5,
        ..fast()
    };
    let syncer = w.syncer(settings);
    syncer.preflight().await.unwrap();
    stream_on(&syncer).await;
    assert_eq!(
        syncer.run_once(&Shutdown::never()).await.unwrap().synced,
        25
    );
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes WHERE checked_at IS NULL")
            .await,
        25,
        "not yet shown by the stream"
    );
    w.fake.delete_webhooks();
    let before = w.fake.requests().len();

    assert_eq!(syncer.catch_up_stream().await, None);

    let reads: Vec<usize> = w.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "GET" && !r.records_read.is_empty())
        .map(|r| r.records_read.len())
        .collect();
    assert_eq!(reads, [10, 10, 5], "ten records a request");
    assert_eq!(w.fake.rate_limited(), 0, "inside the budget");
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes WHERE outcome = 'unverified'")
            .await,
        25,
        "recorded as such, not dropped"
    );
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes WHERE checked_at IS NULL")
            .await,
        0
    );
    assert_eq!(webhook_ids(&w).len(), 1, "set up again");
    w.close().await;
}
