//! The sync worker at Airtable's real limit: 1,000 approved lectures with
//! 3 tags each, synced by 1 and then by 3 `tagbot sync --once` processes
//! against the fake Airtable (5 requests per second per base, 429 and a
//! 30-second penalty past it), each both ways side by side: reading every
//! batch's records before writing them (a token without `webhook:manage`),
//! and with the change stream on (records looked up 100 at a time, then
//! written without reading first).
//!
//! For each run it prints the requests made by kind, the 429s received,
//! the wall time, and that time over the floor of reading first: the
//! schema, the Tags table, and one read plus one write per 10 lectures,
//! sent at 5 per second; then the change stream's speed-up.
//!
//! Run with `scripts/bench --bench sync` (or `cargo bench --bench sync`
//! with DATABASE_URL naming a role that may create databases and roles).
//! Each run gets its own throw-away database, dropped at the end.

use std::process::Stdio;
use std::time::Instant;

use sqlx::postgres::PgPoolOptions;
use standins::airtable::{
    FakeAirtable, RateLimit, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ, SCOPE_WEBHOOKS,
};
use standins::scratch::Playground;
use tagbot::config::ReviewSettings;
use tagbot::domain::{Actor, LectureId};
use tagbot::review::Review;

const LECTURES: usize = 1_000;
const TAGS_PER_LECTURE: usize = 3;
const REQUESTS_PER_SECOND: f64 = 5.0;
const LECTURES_PER_REQUEST: usize = 10;
const TOKEN: &str = "patBench000000001.0123456789abcdef0123456789abcdef";
const BASE_ID: &str = "appBENCHBASE00001";
const TAG_NAMES: [&str; TAGS_PER_LECTURE] = ["פילוסופיה", "היסטוריה", "אמנות"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    for processes in [1, 3] {
        let mut walls = Vec::new();
        for stream in [false, true] {
            let playground = Playground::from_environment(
                "tagbot_bench_sync",
                &tagbot::storage::MIGRATOR,
                tagbot::storage::RUNTIME_ROLE,
            )
            .await?;
            let result = run(&playground, processes, stream).await;
            playground.remove().await?;
            walls.push(result?);
        }
        println!(
            "{processes} process(es): the change stream is {:.2}× as fast as reading first",
            walls[0] / walls[1]
        );
    }
    Ok(())
}

/// One run; returns its wall time in seconds.
async fn run(playground: &Playground, processes: usize, stream: bool) -> Result<f64, BoxError> {
    let fake =
        FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default()).await?;
    if stream {
        fake.set_scopes(&[
            SCOPE_RECORDS_READ,
            SCOPE_RECORDS_WRITE,
            SCOPE_SCHEMA_READ,
            SCOPE_WEBHOOKS,
        ]);
    }
    let records = seed(&playground.admin, &fake).await?;
    let app_url = playground.app_url()?;
    approve_everything(&app_url).await?;

    let started = Instant::now();
    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(
            std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
                .args(["sync", "--once"])
                .current_dir(std::env::temp_dir())
                .env("DATABASE_URL", &app_url)
                .env("AIRTABLE_TOKEN", TOKEN)
                .env("AIRTABLE_BASE_ID", BASE_ID)
                .env("AIRTABLE_API_URL", &fake.url)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()?,
        );
    }
    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        if !status.success() {
            return Err(format!("a sync process exited with {status}").into());
        }
    }
    let wall = started.elapsed().as_secs_f64();

    check_airtable(&fake, &records)?;
    let log = fake.requests();
    let requests = log.len();
    let kind = |r: &standins::airtable::LoggedRequest| {
        if r.path.contains("/webhooks") {
            if r.path.ends_with("/payloads") {
                "payload reads"
            } else {
                "webhook set-up"
            }
        } else if r.method == "PATCH" {
            "writes"
        } else if r.path.contains("/meta/") || r.path.ends_with("/Tags") {
            "schema and tags"
        } else {
            "record reads"
        }
    };
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for request in &log {
        match kinds.iter_mut().find(|(k, _)| *k == kind(request)) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind(request), 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let rate_limited = fake.rate_limited();
    let floor_requests = 2 + 2 * LECTURES.div_ceil(LECTURES_PER_REQUEST);
    let floor = floor_requests as f64 / REQUESTS_PER_SECOND;
    println!(
        "{processes} process(es), {}: {LECTURES} lectures × {TAGS_PER_LECTURE} tags: \
         {requests} requests ({:.3} per lecture: {}), {rate_limited} × 429, \
         wall {wall:.1} s, floor of reading first {floor:.1} s ({floor_requests} requests at 5/s), \
         wall / floor = {:.3}",
        if stream {
            "change stream"
        } else {
            "reading first"
        },
        requests as f64 / LECTURES as f64,
        kinds.join(", "),
        wall / floor
    );
    fake.shutdown();
    Ok(wall)
}

/// The catalogue, one pending suggestion per lecture and tag, and the
/// matching Airtable records. Returns the Lectures record ids.
async fn seed(admin: &sqlx::PgPool, fake: &FakeAirtable) -> Result<Vec<String>, BoxError> {
    for (n, name) in TAG_NAMES.iter().enumerate() {
        sqlx::query("INSERT INTO tags (tag_id, name) VALUES ($1, $2)")
            .bind(format!("t{n}"))
            .bind(name)
            .execute(admin)
            .await?;
        fake.add_tag(&format!("t{n}"), name);
    }
    sqlx::query(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'L' || lpad(n::text, 4, '0'), 'הרצאה ' || n FROM generate_series(1, $1) n",
    )
    .bind(LECTURES as i64)
    .execute(admin)
    .await?;
    sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, rationale, suggested_by)
         SELECT l.lecture_external_id, t.tag_id, 0.95, 'bench', 'bench-model'
         FROM enriched_lectures l CROSS JOIN tags t",
    )
    .execute(admin)
    .await?;
    let records = (1..=LECTURES)
        .map(|n| fake.add_lecture(&format!("L{n:04}"), "הרצאה"))
        .collect();
    Ok(records)
}

/// Approves every suggestion through the review operations, as reviewers
/// clicking "Approve all" would.
async fn approve_everything(app_url: &str) -> Result<(), BoxError> {
    let app = PgPoolOptions::new()
        .max_connections(4)
        .connect(app_url)
        .await?;
    // Synced at once: the undo window would hold every approval back.
    let review = Review::new(
        app.clone(),
        ReviewSettings {
            undo_window: std::time::Duration::ZERO,
            ..ReviewSettings::default()
        },
    );
    let actor = Actor::cli("bench")?;
    for n in 1..=LECTURES {
        let lecture = LectureId::parse(&format!("L{n:04}"))?;
        let decided = review.approve_top(&lecture, None, &actor).await?;
        if decided.applied_count() != TAGS_PER_LECTURE {
            return Err(format!("{lecture}: approved {}", decided.applied_count()).into());
        }
    }
    app.close().await;
    Ok(())
}

/// Every record ends with exactly the three tags.
fn check_airtable(fake: &FakeAirtable, records: &[String]) -> Result<(), BoxError> {
    for record in records {
        let tags = fake.cell("Lectures", record, "Tags");
        let count = tags.as_array().map_or(0, Vec::len);
        if count != TAGS_PER_LECTURE {
            return Err(format!("record {record} has tags {tags}").into());
        }
    }
    Ok(())
}
