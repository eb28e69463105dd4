//! The sync worker end to end: real Postgres, the Airtable stand-in on
//! loopback, the real worker code.

use std::time::Duration;

use axum::http::Method;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{RateLimit, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE};
use tagbot::domain::LectureId;
use tagbot::shutdown::Shutdown;
use tagbot::sync::{RunReport, SyncError};

use crate::helpers::reviewer;
use crate::sync_world::{airtable_error, fast, World};

#[sqlx::test]
async fn approved_tags_join_the_human_ones_in_a_linked_field(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let philosophy = w.fake.add_tag("t1", "פילוסופיה");
    let history = w.fake.add_tag("t2", "היסטוריה");
    let art = w.fake.add_tag("t3", "אמנות");
    let record = w.fake.add_lecture("L1", "סוקרטס והשאלה");
    // A person linked "art" by hand; it must survive.
    w.fake.set_cell("Lectures", &record, "Tags", json!([art]));
    let a = w.approved("L1", "t1").await;
    let b = w.approved("L1", "t2").await;

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([art, philosophy, history])
    );
    assert_eq!(
        w.patches(),
        vec![vec![record.clone()]],
        "one record, one PATCH"
    );
    for id in [a, b] {
        assert_eq!(w.db.status(id).await, "synced");
        assert_eq!(w.db.actions(id).await, ["approve", "enqueue", "sync_ok"]);
    }
    assert_eq!(w.item("L1", "t1").await.0, "done");
    assert_eq!((report.synced, report.written, report.failed), (2, 2, 0));
    // Schema, the Tags table, the lecture's record, the write, and one
    // look at the base's webhooks (refused: no webhook:manage scope).
    assert_eq!(report.requests, 5);
    assert!(report.change_stream.contains("webhook:manage"));
    assert_eq!(report.unsynced_lecture_count, 0);
    let stored = RunReport::latest(&w.db.app).await.unwrap().unwrap();
    assert_eq!(stored, report);
    w.close().await;
}

#[sqlx::test]
async fn a_tag_already_there_is_synced_without_a_write(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let philosophy = w.fake.add_tag("t1", "פילוסופיה");
    let record = w.fake.add_lecture("L1", "סוקרטס");
    w.fake
        .set_cell("Lectures", &record, "Tags", json!([philosophy]));
    let id = w.approved("L1", "t1").await;

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert!(w.patches().is_empty(), "nothing to write, nothing written");
    assert_eq!(w.db.status(id).await, "synced");
    assert_eq!((report.synced, report.written), (1, 0));
    let written: bool = sqlx::query_scalar(
        "SELECT (details->>'written')::boolean FROM events WHERE action = 'sync_ok'",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert!(!written);
    w.close().await;
}

#[sqlx::test]
async fn a_multiselect_field_is_detected_and_gets_option_names(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::MultiSelect).await;
    // db.suggestion names tag "tN" as "תגית tN" in the catalogue.
    w.fake.add_tag_option("תגית t1");
    w.fake.add_tag_option("תגית t2");
    w.fake.add_tag_option("ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake
        .set_cell("Lectures", &record, "Tags", json!(["ידני"]));
    let a = w.approved("L1", "t1").await;
    let b = w.approved("L1", "t2").await;
    // No such option, and typecast is off: this one cannot be written.
    let c = w.approved("L1", "t9").await;

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!(["ידני", "תגית t1", "תגית t2"])
    );
    assert_eq!(w.db.status(a).await, "synced");
    assert_eq!(w.db.status(b).await, "synced");
    assert_eq!(w.db.status(c).await, "failed");
    let (status, _, error) = w.item("L1", "t9").await;
    assert_eq!(status, "failed");
    let error = error.unwrap();
    assert!(error.starts_with("tag_missing: t9"), "{error}");
    assert!(error.contains("AIRTABLE_TYPECAST"), "{error}");
    assert_eq!(report.failure_reasons[0].reason, "tag_missing");
    w.close().await;
}

/// A failure's category travels typed from where it happened to a column
/// of its own and the audit log: nothing has to split `last_error`.
#[sqlx::test]
async fn failures_keep_their_category_in_columns_and_events(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::MultiSelect).await;
    w.fake.add_tag_option("תגית t1");
    w.fake.add_lecture("L1", "הרצאה");
    w.approved("L1", "t1").await;
    // No option for t9: a permanent failure of the mapping.
    let missing = w.approved("L1", "t9").await;
    // L2 has no record at first try: the write of L1 goes, L2 fails.
    let unknown_lecture = w.approved("L2", "t1").await;
    w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    // (suggestion, its category, its item's category, its event's category)
    type Categories = (i64, Option<String>, Option<String>, Option<String>);
    let categories: Vec<Categories> = sqlx::query_as(
        "SELECT s.id, s.last_error_category, i.last_error_category,
                (SELECT e.details->>'category' FROM events e
                 WHERE e.suggestion_id = s.id AND e.action = 'sync_fail' ORDER BY e.id DESC LIMIT 1)
         FROM lecture_tag_suggestions s
         JOIN airtable_sync_items i USING (lecture_external_id, tag_id)
         WHERE s.status = 'failed' ORDER BY s.id",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap();
    let word = |w: &str| Some(w.to_owned());
    assert_eq!(
        categories,
        vec![
            (
                missing.get(),
                word("tag_missing"),
                word("tag_missing"),
                word("tag_missing")
            ),
            (
                unknown_lecture.get(),
                word("lecture_missing"),
                word("lecture_missing"),
                word("lecture_missing")
            ),
        ]
    );
    w.close().await;
}

#[sqlx::test]
async fn typecast_lets_airtable_create_a_new_option(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::MultiSelect).await;
    let record = w.fake.add_lecture("L1", "הרצאה");
    let id = w.approved("L1", "t1").await;

    w.syncer_with(
        fast(),
        &[
            ("AIRTABLE_TYPECAST", "true"),
            ("AIRTABLE_FIELD_TAGS_TYPE", "multiselect"),
        ],
    )
    .run_once(&Shutdown::never())
    .await
    .unwrap();

    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!(["תגית t1"]));
    assert_eq!(w.db.status(id).await, "synced");
    w.close().await;
}

#[sqlx::test]
async fn a_field_type_that_contradicts_the_base_stops_the_run_and_keeps_the_work(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::MultiSelect).await;
    w.fake.add_lecture("L1", "הרצאה");
    let id = w.approved("L1", "t1").await;

    let err = w
        .syncer_with(fast(), &[("AIRTABLE_FIELD_TAGS_TYPE", "linked")])
        .run_once(&Shutdown::never())
        .await
        .unwrap_err();

    assert!(matches!(err, SyncError::Schema(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("multipleSelects"), "{message}");
    assert!(message.contains("AIRTABLE_FIELD_TAGS_TYPE"), "{message}");
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await.0, "queued");
    assert_eq!(w.leases().await, 0);
    w.close().await;
}

#[sqlx::test]
async fn missing_mappings_fail_their_items_and_spare_the_rest(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (philosophy, record, good) = w.one_approved().await;
    let no_tag = w.approved("L1", "t9").await; // t9 is not in the Tags table
    let no_lecture = w.approved("L2", "t1").await; // L2 is not in Lectures

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([philosophy])
    );
    assert_eq!(w.db.status(good).await, "synced");
    assert_eq!(w.db.status(no_tag).await, "failed");
    assert_eq!(w.db.status(no_lecture).await, "failed");
    let errors: Vec<(String, String)> = sqlx::query_as(
        "SELECT tag_id || '@' || lecture_external_id, last_error FROM lecture_tag_suggestions
         WHERE status = 'failed' ORDER BY 1",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap();
    assert_eq!(
        errors,
        vec![
            ("t1@L2".to_owned(), "lecture_missing: L2".to_owned()),
            ("t9@L1".to_owned(), "tag_missing: t9".to_owned()),
        ]
    );
    // The reason is in the failing event too, for the audit trail.
    let event_errors: i64 =
        w.db.count(
            "SELECT count(*) FROM events WHERE action = 'sync_fail' AND to_status = 'failed'
             AND details->>'error' LIKE '%_missing: %'",
        )
        .await;
    assert_eq!(event_errors, 2);
    let reasons: Vec<(String, u64)> = report
        .failure_reasons
        .iter()
        .map(|r| (r.reason.clone(), r.count))
        .collect();
    assert_eq!(
        reasons,
        vec![("lecture_missing".into(), 1), ("tag_missing".into(), 1)]
    );
    w.close().await;
}

#[sqlx::test]
async fn external_ids_with_quotes_braces_and_backslashes_match_only_themselves(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    let decoys: Vec<String> = ["L1", "x", ""]
        .iter()
        .map(|id| w.fake.add_lecture(id, "decoy"))
        .collect();
    let tricky = [
        r#"L"1"#,
        "L'2{x}",
        r"L\3",
        r#"x") , TRUE(), ("#,
        r#"\"),OR(TRUE(),"#,
    ];
    let mut records = Vec::new();
    for id in tricky {
        records.push(w.fake.add_lecture(id, "tricky"));
        w.approved(id, "t1").await;
    }

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.synced, tricky.len() as u64, "{report}");
    for record in &records {
        assert_eq!(w.fake.cell("Lectures", record, "Tags"), json!([tag]));
    }
    for decoy in &decoys {
        assert_eq!(w.fake.cell("Lectures", decoy, "Tags"), Value::Null);
    }
    w.close().await;
}

#[sqlx::test]
async fn a_transient_failure_is_retried_after_backoff_then_succeeds(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, id) = w.one_approved().await;
    w.fake.fail_next(
        Method::PATCH,
        1,
        503,
        airtable_error("SERVICE_UNAVAILABLE", "Try again"),
    );
    let mut settings = fast();
    // Long enough that the early run below, a few queries after the
    // failure, finds nothing due however slow the machine.
    settings.backoff_base = Duration::from_secs(3);
    let syncer = w.syncer(settings);

    let first = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!((first.synced, first.retried, first.failed), (0, 1, 0));
    assert_eq!(w.db.status(id).await, "approved");
    let (status, attempt, error) = w.item("L1", "t1").await;
    assert_eq!((status.as_str(), attempt), ("queued", 1));
    assert!(error.unwrap().contains("503"));
    let (item_category, event_category): (String, String) = sqlx::query_as(
        "SELECT i.last_error_category,
                (SELECT details->>'category' FROM events WHERE action = 'sync_fail')
         FROM airtable_sync_items i",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(
        (item_category.as_str(), event_category.as_str()),
        ("server", "server")
    );
    // Due after the first backoff step, 3 s ± 25% (to the microsecond
    // Postgres keeps).
    let wait: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM next_attempt_at - updated_at)::float8 FROM airtable_sync_items",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert!((2.249_999..=3.750_001).contains(&wait), "{wait}");
    let transient: (String, bool, i32) = sqlx::query_as(
        "SELECT to_status, (details->>'transient')::boolean, (details->>'attempt')::int
         FROM events WHERE action = 'sync_fail'",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(transient, ("approved".into(), true, 1));

    // Not due yet: the run does nothing.
    let early = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(early.synced + early.retried, 0);

    // Wait until the item is due, and a little past it.
    let left: f64 = sqlx::query_scalar(
        "SELECT greatest(extract(epoch FROM next_attempt_at - clock_timestamp())::float8, 0)
         FROM airtable_sync_items",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs_f64(left) + Duration::from_millis(150)).await;
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(second.synced, 1);
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    assert_eq!(
        w.db.actions(id).await,
        ["approve", "enqueue", "sync_fail", "sync_ok"]
    );
    w.close().await;
}

#[sqlx::test]
async fn exhausted_retries_fail_the_suggestion_and_retry_brings_it_back(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, id) = w.one_approved().await;
    w.fake.fail_next(
        Method::PATCH,
        3,
        502,
        airtable_error("BAD_GATEWAY", "upstream"),
    );
    let mut settings = fast();
    settings.max_attempts = 2;
    let syncer = w.syncer(settings);

    for _ in 0..20 {
        syncer.run_once(&Shutdown::never()).await.unwrap();
        if w.db.status(id).await == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    assert_eq!(w.db.status(id).await, "failed");
    assert_eq!(w.fake.count("PATCH", 502), 3, "the first try and 2 retries");
    let (status, attempt, error) = w.item("L1", "t1").await;
    assert_eq!((status.as_str(), attempt), ("failed", 3));
    let error = error.unwrap();
    assert!(error.contains("BAD_GATEWAY"), "{error}");
    assert!(error.contains("gave up after 3 tries"), "{error}");
    let last_error: String =
        sqlx::query_scalar("SELECT last_error FROM lecture_tag_suggestions WHERE id = $1")
            .bind(id.get())
            .fetch_one(&w.db.app)
            .await
            .unwrap();
    assert_eq!(last_error, error);
    assert_eq!(
        w.db.actions(id).await,
        ["approve", "enqueue", "sync_fail", "sync_fail", "sync_fail"]
    );

    // A reviewer's retry requeues it from the start, and it goes through.
    let lecture = LectureId::parse("L1").unwrap();
    let retried =
        w.db.review()
            .retry_failed(&lecture, &reviewer("U0REVIEW", "רותם"))
            .await
            .unwrap();
    assert_eq!(retried.applied_count(), 1);
    assert_eq!(w.item("L1", "t1").await.1, 0);
    syncer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(w.db.status(id).await, "synced");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    w.close().await;
}

#[sqlx::test]
async fn a_permanent_failure_fails_at_once_with_airtables_words(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, _, id) = w.one_approved().await;
    w.fake.fail_next(
        Method::PATCH,
        1,
        422,
        airtable_error(
            "INVALID_VALUE_FOR_COLUMN",
            "Field \"Tags\" cannot accept the provided value",
        ),
    );

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(w.db.status(id).await, "failed");
    assert_eq!(
        w.fake.count("PATCH", 422),
        1,
        "no retry of a permanent error"
    );
    let (status, attempt, error) = w.item("L1", "t1").await;
    assert_eq!((status.as_str(), attempt), ("failed", 1));
    let error = error.unwrap();
    assert!(
        error.starts_with("validation: Airtable answered 422 INVALID_VALUE_FOR_COLUMN"),
        "{error}"
    );
    assert!(
        error.contains("cannot accept the provided value"),
        "{error}"
    );
    assert_eq!(report.failure_reasons[0].reason, "validation");
    assert_eq!(report.unsynced_lecture_count, 0);
    w.close().await;
}

#[sqlx::test]
async fn a_refused_token_stops_the_run_and_fails_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, _, id) = w.one_approved().await;
    // The token is revoked after the mapping was read: the write gets 401.
    w.fake.fail_next(
        Method::PATCH,
        1,
        401,
        airtable_error("AUTHENTICATION_REQUIRED", "Authentication required"),
    );

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    let aborted = report.aborted.expect("the run says why it stopped");
    assert!(aborted.contains("AUTHENTICATION_REQUIRED"), "{aborted}");
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await, ("queued".into(), 0, None));
    assert_eq!(w.leases().await, 0);
    w.close().await;
}

#[sqlx::test]
async fn dry_run_writes_nothing_and_reports_the_payload(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let philosophy = w.fake.add_tag("t1", "פילוסופיה");
    let art = w.fake.add_tag("t3", "אמנות");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake.set_cell("Lectures", &record, "Tags", json!([art]));
    let id = w.approved("L1", "t1").await;
    let mut settings = fast();
    settings.dry_run = true;

    let report = w
        .syncer(settings)
        .run_once(&Shutdown::never())
        .await
        .unwrap();

    assert!(report.dry_run);
    assert_eq!(w.fake.count("PATCH", 200), 0);
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([art]));
    assert_eq!(
        report.dry_run_payloads,
        vec![json!({
            "table": "Lectures",
            "record": { "id": record, "fields": { "Tags": [art, philosophy] } },
            "typecast": false,
        })]
    );
    assert!(report.to_string().contains("would write"));
    // Still waiting for a real run.
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await.0, "queued");
    let stored = RunReport::latest(&w.db.app).await.unwrap().unwrap();
    assert!(stored.dry_run);
    w.close().await;
}

#[sqlx::test]
async fn writes_carry_at_most_ten_records_and_long_queries_use_post(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    // Long Hebrew external ids: ten of them in one GET URL pass 16,000
    // characters once percent-encoded.
    let mut records = Vec::new();
    for n in 0..25 {
        let id = format!("{n:02}-{}", "ה".repeat(252));
        records.push(w.fake.add_lecture(&id, "ארוכה"));
        w.approved(&id, "t1").await;
    }

    let report = w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.synced, 25, "{report}");
    let sizes: Vec<usize> = w.patches().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    for record in &records {
        assert_eq!(w.fake.cell("Lectures", record, "Tags"), json!([tag]));
    }
    let posted = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/listRecords"))
        .count();
    assert!(
        posted >= 2,
        "long lecture queries go through POST listRecords"
    );
    assert_eq!(w.fake.count("GET", 414), 0);
    w.close().await;
}

#[sqlx::test]
async fn the_tags_table_is_read_across_pages(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    for n in 0..250 {
        w.fake.add_tag(&format!("t{n}"), &format!("תגית {n}"));
    }
    let last = w.fake.add_tag("t-last", "אחרונה");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.approved("L1", "t-last").await;

    w.syncer(fast()).run_once(&Shutdown::never()).await.unwrap();

    let tag_pages = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/Tags"))
        .count();
    assert_eq!(tag_pages, 3, "251 tags in pages of 100");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([last]));
    w.close().await;
}

/// `workers` processes' worth of syncers on one database and one base at
/// Airtable's real limit.
async fn concurrent_workers_send_each_record_once(
    pool: PgPoolOptions,
    options: PgConnectOptions,
    workers: usize,
) {
    let w = World::with_rate(pool, options, TagsFieldKind::Linked, RateLimit::default()).await;
    let tags: Vec<String> = (1..=3)
        .map(|n| w.fake.add_tag(&format!("t{n}"), &format!("תגית {n}")))
        .collect();
    // Eight batches of ten records: enough that a worker that starts last
    // (it waits for the first one's reading of the base) still finds work
    // on a loaded machine.
    const LECTURES: usize = 80;
    let mut records = Vec::new();
    for n in 0..LECTURES {
        let lecture = format!("L{n:03}");
        records.push(w.fake.add_lecture(&lecture, "הרצאה"));
        for tag in 1..=3 {
            w.approved(&lecture, &format!("t{tag}")).await;
        }
    }
    let mut settings = fast();
    settings.requests_per_second = 5;
    let mut runs = Vec::new();
    for _ in 0..workers {
        let syncer = w.syncer(settings.clone());
        runs.push(tokio::spawn(async move {
            syncer.run_once(&Shutdown::never()).await
        }));
    }
    let mut per_worker = Vec::new();
    for run in runs {
        per_worker.push(run.await.unwrap().unwrap().synced);
    }

    assert_eq!(per_worker.iter().sum::<u64>(), 3 * LECTURES as u64);
    assert!(
        per_worker.iter().all(|&synced| synced > 0),
        "every worker took a share: {per_worker:?}"
    );
    assert_eq!(w.fake.rate_limited(), 0, "the shared budget prevents 429s");
    let mut written: Vec<String> = w.patches().into_iter().flatten().collect();
    assert_eq!(written.len(), LECTURES, "each record written exactly once");
    written.sort();
    written.dedup();
    assert_eq!(written.len(), LECTURES);
    for record in &records {
        assert_eq!(w.fake.cell("Lectures", record, "Tags"), json!(tags));
    }
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action = 'sync_ok'")
            .await,
        3 * LECTURES as i64
    );
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_sync_items WHERE status <> 'done'")
            .await,
        0
    );
    w.close().await;
}

#[sqlx::test]
async fn two_workers_share_the_queue_and_the_budget(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    concurrent_workers_send_each_record_once(pool, options, 2).await;
}

#[sqlx::test]
async fn three_workers_share_the_queue_and_the_budget(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    concurrent_workers_send_each_record_once(pool, options, 3).await;
}

#[sqlx::test]
async fn a_429_pauses_the_base_for_every_worker(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, id) = w.one_approved().await;
    w.fake.fail_next(
        Method::GET,
        1,
        429,
        json!({ "errors": [{ "error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later" }] }),
    );
    let first = w.syncer(fast());
    let second = w.syncer(fast());

    // Two workers start together; the first request of either is refused.
    // Neither sends anything until the pause is over, and the work is
    // done once.
    let never = Shutdown::never();
    let (a, b) = tokio::join!(first.run_once(&never), second.run_once(&never));
    let (a, b) = (a.unwrap(), b.unwrap());

    assert_eq!(w.db.status(id).await, "synced");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    assert_eq!(a.synced + b.synced, 1);
    assert_eq!(a.rate_limited + b.rate_limited, 1);
    let log = w.fake.requests();
    assert_eq!(log[0].status, 429);
    for later in &log[1..] {
        let gap = later.at.duration_since(log[0].at);
        assert!(gap >= Duration::from_millis(950), "paused only {gap:?}");
    }
    let pauses =
        w.db.count("SELECT pauses FROM airtable_request_budget")
            .await;
    assert_eq!(pauses, 1);
    w.close().await;
}

#[sqlx::test]
async fn a_worker_killed_after_writing_leaves_an_exact_base(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tags: Vec<String> = (1..=2)
        .map(|n| w.fake.add_tag(&format!("t{n}"), &format!("תגית {n}")))
        .collect();
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake.set_cell("Lectures", &record, "Tags", json!([human]));
    let ids = [w.approved("L1", "t1").await, w.approved("L1", "t2").await];
    let mut settings = fast();
    // Long enough for the early run below to come well before it ends.
    settings.lease = Duration::from_secs(5);

    // Airtable applies the write, but the worker dies before it hears back.
    w.fake.set_response_delay(Duration::from_millis(300));
    let doomed = w.syncer(settings.clone());
    let run = tokio::spawn(async move { doomed.run_once(&Shutdown::never()).await });
    for _ in 0..2_000 {
        if !w.patches().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.patches().len(), 1, "the worker wrote");
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    w.fake.set_response_delay(Duration::ZERO);
    assert_eq!(w.item("L1", "t1").await.0, "in_flight");

    // While the lease lasts nobody else touches the lecture...
    let rescuer = w.syncer(settings);
    let early = rescuer.run_once(&Shutdown::never()).await.unwrap();
    assert_eq!(early.synced, 0);
    // ...then the items come back and are found already written. Wait
    // until the lease the killed worker last took runs out, and a little
    // past it.
    let left: f64 = sqlx::query_scalar(
        "SELECT greatest(extract(epoch FROM max(t) - clock_timestamp())::float8, 0)
         FROM (SELECT lease_expires_at FROM airtable_sync_leases
               UNION ALL SELECT lease_expires_at FROM airtable_sync_items) AS l(t)",
    )
    .fetch_one(&w.db.admin)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs_f64(left) + Duration::from_millis(150)).await;
    let rescued = rescuer.run_once(&Shutdown::never()).await.unwrap();

    assert_eq!((rescued.synced, rescued.written), (2, 0));
    assert_eq!(w.patches().len(), 1, "the write was not repeated");
    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([human, tags[0], tags[1]])
    );
    for id in ids {
        assert_eq!(w.db.status(id).await, "synced");
        assert_eq!(w.db.actions(id).await, ["approve", "enqueue", "sync_ok"]);
    }
    w.close().await;
}

#[sqlx::test]
async fn shutdown_mid_batch_gives_the_work_back(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, _, id) = w.one_approved().await;
    // Each request takes 4 s: a worker that waited for its request to end
    // could not stop within the 2.5 s allowed below, however loaded the
    // machine running the suite.
    w.fake.set_latency(Duration::from_secs(4));
    let syncer = w.syncer(fast());
    let (stop, shutdown) = Shutdown::manual();
    let worker = tokio::spawn(async move { syncer.run_until_shutdown(&shutdown).await });
    // The worker reads the base (two requests) before it claims.
    for _ in 0..2_000 {
        if w.item("L1", "t1").await.0 == "in_flight" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(w.item("L1", "t1").await.0, "in_flight");

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_millis(2_500), worker)
        .await
        .expect("the worker stops promptly")
        .unwrap()
        .unwrap();

    assert_eq!(w.item("L1", "t1").await, ("queued".into(), 0, None));
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.leases().await, 0);
    w.close().await;
}

#[sqlx::test]
async fn an_idle_worker_wakes_on_a_new_approval(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    let record = w.fake.add_lecture("L1", "הרצאה");
    // An hour between polls: only the notification can wake it in time.
    let syncer = w.syncer(fast());
    let (stop, shutdown) = Shutdown::manual();
    let worker = tokio::spawn(async move { syncer.run_until_shutdown(&shutdown).await });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let id = w.approved("L1", "t1").await;
    for _ in 0..100 {
        if w.db.status(id).await == "synced" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(w.db.status(id).await, "synced");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();
    w.close().await;
}

#[sqlx::test]
async fn a_read_gone_stale_behind_a_pause_is_made_again_before_writing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    let id = w.approved("L1", "t1").await;
    // The mapping is read first, undelayed; then the record's read is
    // answered late enough for the pause below to be in place before the
    // worker hears it.
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    w.fake.set_response_delay(Duration::from_millis(1500));
    let run = tokio::spawn(async move { syncer.run_once(&Shutdown::never()).await });
    let lecture_reads = |w: &World| {
        w.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/Lectures"))
            .count()
    };
    for _ in 0..1_000 {
        if lecture_reads(&w) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(lecture_reads(&w), 1, "the worker read the record");

    // While the read travels back: another worker's 429 pauses the base
    // for longer than a read may wait, and a person links a tag by hand.
    sqlx::query("UPDATE airtable_request_budget SET paused_until = now() + interval '2.5 seconds'")
        .execute(&w.db.admin)
        .await
        .unwrap();
    w.fake.set_cell("Lectures", &record, "Tags", json!([human]));
    // The read under way keeps its delay; later answers need none. The
    // pause still ends 2.5 s after it began, past the read's 2 s of
    // freshness (`MAX_READ_AGE`) since the read left before it began.
    w.fake.set_response_delay(Duration::ZERO);
    let report = run.await.unwrap().unwrap();

    assert_eq!(report.synced, 1);
    assert_eq!(lecture_reads(&w), 2, "the record was read again");
    assert_eq!(w.patches().len(), 1);
    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([human, tag])
    );
    assert_eq!(w.db.status(id).await, "synced");
    w.close().await;
}

#[sqlx::test]
async fn tagbot_sync_and_report_from_the_command_line(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, record, synced) = w.one_approved().await;
    let missing = w.approved("L1", "t9").await;
    let env = [
        ("DATABASE_URL", w.db.app_url()),
        ("AIRTABLE_TOKEN", crate::sync_world::TOKEN.to_owned()),
        ("AIRTABLE_BASE_ID", crate::sync_world::BASE_ID.to_owned()),
        ("AIRTABLE_API_URL", w.fake.url.clone()),
        ("LOG_FORMAT", "json".to_owned()),
    ];
    let run = |args: &'static [&'static str]| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
                .args(args)
                .current_dir(std::env::temp_dir())
                .envs(env)
                .output()
                .unwrap()
        })
    };

    let sync = run(&["sync", "--once"]).await.unwrap();
    let printed = String::from_utf8_lossy(&sync.stdout).into_owned();
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(printed.contains("synced: 1 (1 written"), "{printed}");
    assert!(
        printed.contains("failure reasons: tag_missing ×1"),
        "{printed}"
    );
    assert_eq!(w.db.status(synced).await, "synced");
    assert_eq!(w.db.status(missing).await, "failed");
    assert_eq!(w.patches(), vec![vec![record]]);
    // Logs are JSON lines, each line of the run carrying its run id.
    let logs = String::from_utf8_lossy(&sync.stderr);
    let batch: serde_json::Value = logs
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("a JSON log line"))
        .find(|line| line["fields"]["message"] == "sync batch recorded")
        .expect("the batch is logged");
    assert!(
        batch["span"]["run_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{batch}"
    );

    let report = run(&["report"]).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&report.stdout), printed);
    let json = run(&["report", "--json"]).await.unwrap();
    let parsed: RunReport = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!((parsed.synced, parsed.failed), (1, 1));
    w.close().await;
}

#[sqlx::test]
async fn fields_configured_by_id_keep_the_human_tags(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake.set_cell("Lectures", &record, "Tags", json!([human]));
    w.approved("L1", "t1").await;

    let id_field = w.fake.field_id("Lectures", "external_id").unwrap();
    let tags_field = w.fake.field_id("Lectures", "Tags").unwrap();
    w.syncer_with(
        fast(),
        &[
            ("AIRTABLE_LECTURES_ID_FIELD", id_field.as_str()),
            ("AIRTABLE_LECTURES_TAGS_FIELD", tags_field.as_str()),
        ],
    )
    .run_once(&Shutdown::never())
    .await
    .unwrap();

    assert_eq!(
        w.fake.cell("Lectures", &record, "Tags"),
        json!([human, tag])
    );
    w.close().await;
}

#[sqlx::test]
async fn a_tags_field_named_by_id_without_the_schema_scope_is_refused_and_writes_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    w.fake.add_tag("t1", "פילוסופיה");
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake.set_cell("Lectures", &record, "Tags", json!([human]));
    let id = w.approved("L1", "t1").await;
    // A token without schema.bases:read, the type given explicitly.
    w.fake
        .set_scopes(&[SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE]);
    let tags_field = w.fake.field_id("Lectures", "Tags").unwrap();
    let syncer = w.syncer_with(
        fast(),
        &[
            ("AIRTABLE_FIELD_TAGS_TYPE", "linked"),
            ("AIRTABLE_LECTURES_TAGS_FIELD", tags_field.as_str()),
        ],
    );

    let refused = syncer.preflight().await.unwrap_err().to_string();
    let run = syncer.run_once(&Shutdown::never()).await;

    assert!(
        refused.contains("AIRTABLE_LECTURES_TAGS_FIELD"),
        "{refused}"
    );
    assert!(refused.contains("schema.bases:read"), "{refused}");
    assert!(matches!(run, Err(SyncError::Schema(_))), "{run:?}");
    assert_eq!(w.fake.count("PATCH", 200), 0, "nothing written");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([human]));
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await, ("queued".into(), 0, None));
    w.close().await;
}

#[sqlx::test]
async fn records_are_read_and_written_by_field_id_so_a_rename_keeps_the_human_tags(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let tag = w.fake.add_tag("t1", "פילוסופיה");
    let human = w.fake.add_tag("t9", "ידני");
    let record = w.fake.add_lecture("L1", "הרצאה");
    w.fake.set_cell("Lectures", &record, "Tags", json!([human]));
    w.approved("L1", "t1").await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    // A person renames the tags field after tagbot read the schema.
    w.fake.rename_field("Lectures", "Tags", "נושאים");

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.synced, 1, "{report:?}");
    assert_eq!(
        w.fake.cell("Lectures", &record, "נושאים"),
        json!([human, tag])
    );
    let tags_field = w.fake.field_id("Lectures", "נושאים").unwrap();
    let patches: Vec<Vec<String>> = w
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.keys_written)
        .collect();
    assert_eq!(
        patches,
        vec![vec![tags_field]],
        "written under the id it was read by"
    );
    w.close().await;
}

#[sqlx::test]
async fn a_used_up_monthly_quota_stops_the_run_and_burns_no_tries(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, record, id) = w.one_approved().await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    w.fake.set_monthly_quota(0);

    let first = syncer.run_once(&Shutdown::never()).await.unwrap();
    let second = syncer.run_once(&Shutdown::never()).await.unwrap();

    let aborted = first.aborted.expect("the run says why it stopped");
    assert!(
        aborted.contains("PUBLIC_API_BILLING_LIMIT_EXCEEDED"),
        "{aborted}"
    );
    assert!(aborted.contains("monthly API calls"), "{aborted}");
    assert_eq!(second.aborted.as_deref(), Some(aborted.as_str()));
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await, ("queued".into(), 0, None));
    assert_eq!(w.db.actions(id).await, vec!["approve", "enqueue"]);
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), Value::Null);
    // One notice for the channel, not one per try.
    assert_eq!(
        w.db.count("SELECT count(*) FROM sync_runs WHERE report->>'aborted' IS NOT NULL")
            .await,
        1
    );
    w.close().await;
}

#[sqlx::test]
async fn a_field_deleted_in_the_base_stops_the_run_instead_of_failing_every_tag(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (_, _, id) = w.one_approved().await;
    let syncer = w.syncer(fast());
    syncer.preflight().await.unwrap();
    // The mapping is cached; then a person deletes the lecture id field.
    w.fake.remove_field("Lectures", "external_id");

    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    let aborted = report.aborted.expect("the run says why it stopped");
    assert!(aborted.contains("UNKNOWN_FIELD_NAME"), "{aborted}");
    assert!(aborted.contains("AIRTABLE_LECTURES_ID_FIELD"), "{aborted}");
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(w.item("L1", "t1").await, ("queued".into(), 0, None));
    assert_eq!(report.failed, 0);
    // The next run reads the base afresh and names the variable to fix.
    let next = syncer.run_once(&Shutdown::never()).await.unwrap_err();
    assert!(
        next.to_string().contains("AIRTABLE_LECTURES_ID_FIELD"),
        "{next}"
    );
    w.close().await;
}

/// Holds an exclusive lock on the request budget for `stall`, every
/// `every`, until told to stop: the database answering late, as it does
/// after a restart when every pooled connection must reconnect.
fn stall_the_budget(
    admin: sqlx::PgPool,
    stall: Duration,
    every: Duration,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<usize>,
) {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let staller = tokio::spawn(async move {
        let mut stalls = 0;
        while !*stopped.borrow() {
            let mut tx = admin.begin().await.unwrap();
            sqlx::query("LOCK TABLE airtable_request_budget IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            tokio::time::sleep(stall).await;
            tx.commit().await.unwrap();
            stalls += 1;
            tokio::select! {
                _ = stopped.changed() => {}
                () = tokio::time::sleep(every) => {}
            }
        }
        stalls
    });
    (stop, staller)
}

#[sqlx::test]
async fn a_slot_the_database_made_late_is_given_up_so_no_429_follows(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let rate = RateLimit {
        penalty: Duration::from_secs(2),
        ..RateLimit::default()
    };
    let w = World::with_rate(pool, options, TagsFieldKind::Linked, rate).await;
    w.fake.add_tag("t1", "פילוסופיה");
    for n in 0..80 {
        let lecture = format!("L{n:03}");
        w.fake.add_lecture(&lecture, "הרצאה");
        w.approved(&lecture, "t1").await;
    }
    let mut settings = fast();
    settings.requests_per_second = 5;
    let (stop, staller) = stall_the_budget(
        w.db.admin.clone(),
        Duration::from_millis(300),
        Duration::from_millis(450),
    );
    let mut runs = Vec::new();
    for _ in 0..3 {
        let syncer = w.syncer(settings.clone());
        runs.push(tokio::spawn(async move {
            syncer.run_once(&Shutdown::never()).await
        }));
    }
    let mut synced = 0;
    for run in runs {
        synced += run.await.unwrap().unwrap().synced;
    }
    stop.send(true).unwrap();
    let stalls = staller.await.unwrap();

    assert!(stalls >= 3, "the budget was stalled {stalls} times");
    assert_eq!(w.fake.rate_limited(), 0, "no request left outside its slot");
    assert_eq!(synced, 80);
    w.close().await;
}

#[sqlx::test]
async fn a_database_outage_costs_no_try_and_blames_no_one(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    w.one_approved().await;
    let syncer = w.syncer(fast());
    // A first run builds the tag mapping; the second lecture comes after.
    assert_eq!(syncer.run_once(&Shutdown::never()).await.unwrap().synced, 1);
    w.fake.add_lecture("L2", "הרצאה");
    let id = w.approved("L2", "t1").await;

    let mut lock = w.db.admin.begin().await.unwrap();
    sqlx::query("LOCK TABLE airtable_request_budget IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let run = tokio::spawn(async move { syncer.run_once(&Shutdown::never()).await });
    // The worker waits on the budget; then its connections are cut, as a
    // Postgres restart cuts them.
    let mut cut = 0;
    for _ in 0..500 {
        cut =
            w.db.count(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE usename = 'tagbot_test_app' AND datname = current_database()
                   AND wait_event_type = 'Lock'",
            )
            .await;
        if cut > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lock.commit().await.unwrap();
    let report = run.await.unwrap().unwrap();

    assert!(cut > 0, "a worker connection was cut while it waited");
    assert_eq!(report.synced, 1, "{report:?}");
    assert_eq!(w.db.status(id).await, "synced");
    // One try: the one that succeeded.
    assert_eq!(w.item("L2", "t1").await, ("done".into(), 1, None));
    assert_eq!(
        w.db.actions(id).await,
        vec!["approve", "enqueue", "sync_ok"]
    );
    w.close().await;
}

#[sqlx::test]
async fn a_database_slow_on_every_reservation_still_lets_requests_through(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, id) = w.one_approved().await;
    // Locked most of the time: every reservation answers late, far past
    // the tolerance of a single slot.
    let (stop, staller) = stall_the_budget(
        w.db.admin.clone(),
        Duration::from_millis(250),
        Duration::from_millis(20),
    );

    let run = tokio::time::timeout(
        Duration::from_secs(60),
        w.syncer(fast()).run_once(&Shutdown::never()),
    )
    .await;
    stop.send(true).unwrap();
    staller.await.unwrap();

    let report = run.expect("the run ends").unwrap();
    assert_eq!(report.synced, 1);
    assert_eq!(w.fake.rate_limited(), 0);
    assert_eq!(w.db.status(id).await, "synced");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    w.close().await;
}

#[sqlx::test]
async fn a_field_id_setting_survives_an_airtable_hiccup_at_start(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, _) = w.one_approved().await;
    let tags_field = w.fake.field_id("Lectures", "Tags").unwrap();
    let syncer = w.syncer_with(
        fast(),
        &[("AIRTABLE_LECTURES_TAGS_FIELD", tags_field.as_str())],
    );
    // The schema read at start meets a 503.
    w.fake.fail_next(
        Method::GET,
        1,
        503,
        airtable_error("SERVICE_UNAVAILABLE", "try again"),
    );

    syncer
        .preflight()
        .await
        .expect("a hiccup is not a configuration problem");
    let report = syncer.run_once(&Shutdown::never()).await.unwrap();

    assert_eq!(report.synced, 1, "{report:?}");
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    w.close().await;
}

#[sqlx::test]
async fn workers_of_a_base_share_one_reading_of_the_schema_and_tags(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (tag, record, _) = w.one_approved().await;
    let first = w.syncer(fast());
    first.preflight().await.unwrap();
    let before = w.fake.requests().len();

    let second = w.syncer(fast());
    second.preflight().await.unwrap();
    let report = second.run_once(&Shutdown::never()).await.unwrap();

    let mapping_reads = w.fake.requests()[before..]
        .iter()
        .filter(|r| r.path.contains("/meta/") || r.path.ends_with("/Tags"))
        .count();
    assert_eq!(
        mapping_reads, 0,
        "the second worker used the first's mapping"
    );
    assert_eq!(report.synced, 1);
    assert_eq!(w.fake.cell("Lectures", &record, "Tags"), json!([tag]));
    w.close().await;
}
