//! People editing tags in Airtable while three workers sync, with workers
//! killed mid-run. With the change stream on, nothing a person does is
//! lost: at the end every record holds exactly its tags from before, plus
//! every approved tag no person removed after it was synced, plus every
//! person's addition, minus every person's removal. Without it, what is
//! lost was edited inside a read-then-write window, as README documents.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::TagsFieldKind;
use tagbot::shutdown::Shutdown;
use tokio::task::JoinHandle;

use crate::stream_sync::{dana, streaming_world};
use crate::sync_world::{fast, World};

const LECTURES: usize = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Remove,
}

/// One person's edit, as the stand-in applied it.
#[derive(Debug, Clone)]
struct PersonEdit {
    record: String,
    value: String,
    kind: Kind,
    at: Instant,
}

struct Base {
    records: Vec<(String, String)>,
    approved: Vec<String>,
    humans: Vec<String>,
    personal: Vec<String>,
}

fn setup(w: &World) -> Base {
    let approved: Vec<String> = (1..=3)
        .map(|n| w.fake.add_tag(&format!("t{n}"), &format!("מוצע {n}")))
        .collect();
    let humans: Vec<String> = (1..=2)
        .map(|n| w.fake.add_tag(&format!("h{n}"), &format!("ידני {n}")))
        .collect();
    let personal: Vec<String> = (1..=4)
        .map(|n| w.fake.add_tag(&format!("p{n}"), &format!("אישי {n}")))
        .collect();
    let records = (0..LECTURES)
        .map(|n| {
            let lecture = format!("L{n:03}");
            let record = w.fake.add_lecture(&lecture, "הרצאה");
            w.fake.set_cell("Lectures", &record, "Tags", json!(humans));
            (lecture, record)
        })
        .collect();
    Base {
        records,
        approved,
        humans,
        personal,
    }
}

fn values(cell: &Value) -> Vec<String> {
    cell.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// People at work: every few milliseconds someone adds a personal tag,
/// removes a human or personal one, puts a human one back, or removes an
/// approved tag that is already synced (drift).
fn people(
    w: &World,
    base: &Base,
    synced: Arc<Mutex<BTreeSet<(String, String)>>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<PersonEdit>> {
    let fake = w.fake.clone();
    let records = base.records.clone();
    let approved = base.approved.clone();
    let humans = base.humans.clone();
    let personal = base.personal.clone();
    tokio::spawn(async move {
        let mut edits = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let (pick, op, which) = {
                let mut rng = rand::rng();
                (
                    rng.random_range(0..records.len()),
                    rng.random_range(0..100u8),
                    rng.random_range(0..4usize),
                )
            };
            let (lecture, record) = &records[pick];
            let (value, kind) = match op {
                0..40 => (personal[which].clone(), Kind::Add),
                40..60 => (personal[which].clone(), Kind::Remove),
                60..72 => (humans[which % 2].clone(), Kind::Remove),
                72..80 => (humans[which % 2].clone(), Kind::Add),
                _ => {
                    let tag = approved[which % 3].clone();
                    let tag_id = format!("t{}", which % 3 + 1);
                    if !synced.lock().unwrap().contains(&(lecture.clone(), tag_id)) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    (tag, Kind::Remove)
                }
            };
            let mut at = None;
            let changed = fake.edit_cell_as("Lectures", record, "Tags", &dana(), |cell| {
                at = Some(Instant::now());
                let mut cell = values(&cell);
                match kind {
                    Kind::Add if !cell.contains(&value) => cell.push(value.clone()),
                    Kind::Remove => cell.retain(|v| v != &value),
                    Kind::Add => {}
                }
                json!(cell)
            });
            if let (Some((before, after)), Some(at)) = (changed, at) {
                if before != after {
                    edits.push(PersonEdit {
                        record: record.clone(),
                        value,
                        kind,
                        at,
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(8)).await;
        }
        edits
    })
}

/// A worker running as `tagbot sync` does, until killed or stopped.
fn worker(w: &World) -> (JoinHandle<()>, tokio::sync::watch::Sender<bool>) {
    let mut settings = fast();
    settings.requests_per_second = 8;
    settings.lease = Duration::from_secs(2);
    let syncer = w.syncer(settings);
    let (stop, shutdown) = Shutdown::manual();
    let task = tokio::spawn(async move {
        syncer.run_until_shutdown(&shutdown).await.unwrap();
    });
    (task, stop)
}

/// What each record must hold: its tags before, plus every approved tag
/// no person removed, plus every person's last addition, minus their last
/// removal; per record and value, the edit that decides it.
fn expected(
    base: &Base,
    edits: &[PersonEdit],
) -> BTreeMap<String, (BTreeSet<String>, BTreeMap<String, PersonEdit>)> {
    let mut want = BTreeMap::new();
    for (_, record) in &base.records {
        let mut last: BTreeMap<String, PersonEdit> = BTreeMap::new();
        for edit in edits.iter().filter(|e| &e.record == record) {
            last.insert(edit.value.clone(), edit.clone());
        }
        let mut present: BTreeSet<String> = BTreeSet::new();
        for value in base
            .approved
            .iter()
            .chain(&base.humans)
            .chain(&base.personal)
        {
            let initially = base.humans.contains(value) || base.approved.contains(value);
            let holds = match last.get(value) {
                Some(edit) => edit.kind == Kind::Add,
                None => initially,
            };
            if holds {
                present.insert(value.clone());
            }
        }
        want.insert(record.clone(), (present, last));
    }
    want
}

/// Runs the scene: three workers, approvals in three waves, people
/// editing throughout, two workers killed mid-run and replaced. Returns
/// the base's setup and every person's edit.
async fn scene(w: &World) -> (Base, Vec<PersonEdit>) {
    let base = setup(w);
    let synced = Arc::new(Mutex::new(BTreeSet::new()));
    let stop_people = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<_> = (0..3).map(|_| worker(w)).collect();
    let edits = people(w, &base, synced.clone(), stop_people.clone());
    let started = Instant::now();
    for wave in 1..=3 {
        for (lecture, _) in &base.records {
            w.approved(lecture, &format!("t{wave}")).await;
        }
        let until = started + Duration::from_secs(2 * wave);
        while Instant::now() < until {
            refresh_synced(w, &synced).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if wave < 3 {
            // A worker dies mid-run, wherever it is; another takes its place.
            let (doomed, _) = workers.remove(wave as usize - 1);
            doomed.abort();
            let _ = doomed.await;
            workers.push(worker(w));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while w
        .db
        .count("SELECT count(*) FROM airtable_sync_items WHERE status <> 'done'")
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "the queue did not drain");
        refresh_synced(w, &synced).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // People go on a little after the last sync, then stop.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop_people.store(true, Ordering::Relaxed);
    let edits = edits.await.unwrap();
    for (task, stop) in workers {
        let _ = stop.send(true);
        task.await.unwrap();
    }
    (base, edits)
}

async fn refresh_synced(w: &World, synced: &Mutex<BTreeSet<(String, String)>>) {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT lecture_external_id, tag_id FROM lecture_tag_suggestions WHERE status = 'synced'",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap();
    synced.lock().unwrap().extend(rows);
}

/// Reads the stream until it is empty and nothing waits to be repaired
/// (a killed worker's read lease runs out first).
async fn settle_the_stream(w: &World) -> tagbot::sync::Syncer {
    let checker = w.syncer(fast());
    checker.preflight().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the stream did not settle");
        if let Some(read) = checker.catch_up_stream().await {
            let waiting =
                w.db.count("SELECT count(*) FROM airtable_repairs WHERE repaired_at IS NULL")
                    .await;
            if read.caught_up && read.payloads == 0 && waiting == 0 {
                return checker;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The records whose cell differs from what people and approvals made,
/// with the edit that decided each differing value.
fn differences(
    w: &World,
    base: &Base,
    edits: &[PersonEdit],
) -> Vec<(String, String, Option<PersonEdit>)> {
    let want = expected(base, edits);
    let mut wrong = Vec::new();
    for (record, (present, last)) in want {
        let have: BTreeSet<String> = values(&w.fake.cell("Lectures", &record, "Tags"))
            .into_iter()
            .collect();
        for value in present.symmetric_difference(&have) {
            wrong.push((record.clone(), value.clone(), last.get(value).cloned()));
        }
    }
    wrong
}

#[sqlx::test]
async fn with_the_stream_no_persons_edit_is_lost_while_three_workers_sync_and_die(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = streaming_world(pool, options).await;
    let (base, edits) = scene(&w).await;
    settle_the_stream(&w).await;
    assert_eq!(
        w.fake.webhooks().len(),
        1,
        "workers starting together made one stream"
    );

    let wrong = differences(&w, &base, &edits);

    assert!(edits.len() > 200, "people were busy: {} edits", edits.len());
    if let Some((record, value, _)) = wrong.first() {
        explain(&w, record, value, &edits).await;
    }
    assert!(
        wrong.is_empty(),
        "{} of {} edits lost or undone: {:?}",
        wrong.len(),
        edits.len(),
        &wrong[..wrong.len().min(10)]
    );
    let repairs = w.db.count("SELECT count(*) FROM airtable_repairs").await;
    let drift = w.db.count("SELECT count(*) FROM airtable_drift").await;
    assert!(
        repairs > 0,
        "the race was run: writes overwrote edits and were repaired"
    );
    assert!(drift > 0, "people removed synced tags");
    assert_eq!(
        w.db.count("SELECT count(*) FROM lecture_tag_suggestions WHERE status <> 'synced'")
            .await,
        0
    );
    println!("{} edits, {repairs} repairs, {drift} drift", edits.len());
    w.close().await;
}

#[sqlx::test]
async fn without_the_scope_what_is_lost_was_edited_inside_a_read_then_write_window(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    let (base, edits) = scene(&w).await;

    let wrong = differences(&w, &base, &edits);

    assert!(edits.len() > 200, "people were busy: {} edits", edits.len());
    let log = w.fake.requests();
    for (record, value, edit) in &wrong {
        let edit = edit.as_ref().unwrap_or_else(|| {
            panic!("{record}/{value} changed with no person's edit to explain it")
        });
        // A read of the record before the edit, and a write of it after,
        // close enough to be one read-modify-write (a write leaves within
        // 2 s of its read, or the record is read again).
        let reads = log
            .iter()
            .filter(|r| r.records_read.contains(record) && r.at <= edit.at);
        let inside = reads.into_iter().any(|read| {
            log.iter().any(|write| {
                write.records_written.contains(record)
                    && write.at >= edit.at
                    && write.at.duration_since(read.at) <= Duration::from_secs(3)
            })
        });
        assert!(
            inside,
            "{record}/{value}: a {:?} outside any read-then-write window was lost",
            edit.kind
        );
    }
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_writes").await,
        0,
        "no stream, nothing recorded to check"
    );
    println!(
        "{} edits, {} lost inside the window",
        edits.len(),
        wrong.len()
    );
    w.close().await;
}

/// What happened to one record, for a failing run.
async fn explain(w: &World, record: &str, value: &str, edits: &[PersonEdit]) {
    let origin = w.fake.requests().first().map(|r| r.at).unwrap();
    let secs = |at: Instant| at.duration_since(origin).as_secs_f64();
    println!("record {record}, value {value}");
    for r in w.fake.requests() {
        if r.records_read.iter().any(|x| x == record)
            || r.records_written.iter().any(|x| x == record)
        {
            println!(
                "  {:8.3} {} {} read={} wrote={}",
                secs(r.at),
                r.method,
                r.path,
                r.records_read.contains(&record.to_owned()),
                r.records_written.contains(&record.to_owned())
            );
        }
    }
    for e in edits.iter().filter(|e| e.record == record) {
        println!("  {:8.3} person {:?} {}", secs(e.at), e.kind, e.value);
    }
    for table in ["airtable_writes", "airtable_repairs"] {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT row_to_json(t)::text FROM {table} t WHERE record_id = $1 ORDER BY id"
        ))
        .bind(record)
        .fetch_all(&w.db.app)
        .await
        .unwrap();
        for row in rows {
            println!("  {table} {row}");
        }
    }
    let settings = w.airtable(&[]);
    let budget = tagbot::airtable::RequestBudget::new(
        w.db.app.clone(),
        crate::sync_world::BASE_ID,
        50,
        Duration::from_secs(1),
    );
    let client =
        tagbot::airtable::AirtableClient::new(&settings, budget, Duration::from_secs(10)).unwrap();
    let field = w.fake.field_id("Lectures", "Tags").unwrap();
    for hook in w.fake.webhooks() {
        let id = hook["id"].as_str().unwrap().to_owned();
        let mut cursor = 1;
        loop {
            let page = client.webhook_payloads(&id, cursor).await.unwrap();
            for payload in &page.payloads {
                for table in payload["changedTablesById"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if let Some(change) = table.1["changedRecordsById"].get(record) {
                        let ids = |v: &Value| {
                            v.as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|x| x["id"].as_str().map(|s| s[11..].to_owned()))
                                .collect::<Vec<_>>()
                        };
                        println!(
                            "  txn {} {} {:?} -> {:?}",
                            payload["baseTransactionNumber"],
                            payload["actionMetadata"]["source"],
                            ids(&change["previous"]["cellValuesByFieldId"][&field]),
                            ids(&change["current"]["cellValuesByFieldId"][&field])
                        );
                    }
                }
            }
            cursor = page.cursor;
            if !page.might_have_more {
                break;
            }
        }
    }
}
