//! The sync worker at Airtable's real limit: 1,000 approved lectures with
//! 3 tags each, synced by 1 and then by 3 `tagbot sync --once` processes
//! against the fake Airtable (5 requests per second per base, 429 and a
//! 30-second penalty past it), each both ways side by side: reading every
//! batch's records before writing them (a token without `webhook:manage`),
//! and with the change stream on (records looked up 100 at a time, then
//! written without reading first).
//!
//! For each run it prints the requests made by kind, the 429s received,
//! the wall time, and that time over the run's own floor: its requests
//! sent at 5 per second, the fastest any client making them could be;
//! then the change stream's speed-up.
//!
//! `-- --trace` instead runs one process's backfill inside the bench, each
//! way, with a tracing layer that times the worker's spans (claim, the
//! batch's cells, recording writes, waiting for the slot, the request,
//! recording the outcome, stream reads), and prints where the time went.
//!
//! `-- --hold` measures what the undo window adds from an approval to
//! Airtable, with a running `tagbot worker`: no window, then 30 s.
//!
//! Run with `scripts/bench --bench sync` (or `cargo bench --bench sync`
//! with DATABASE_URL naming a role that may create databases and roles).
//! Each run gets its own throw-away database, dropped at the end.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use standins::airtable::{
    FakeAirtable, LoggedRequest, RateLimit, TagsFieldKind, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE,
    SCOPE_SCHEMA_READ, SCOPE_WEBHOOKS,
};
use standins::scratch::Playground;
use tagbot::config::{AirtableSettings, DatabaseSettings, Env, ReviewSettings, SyncSettings};
use tagbot::domain::{Actor, LectureId};
use tagbot::review::Review;
use tagbot::shutdown::Shutdown;
use tagbot::sync::Syncer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const LECTURES: usize = 1_000;
const TAGS_PER_LECTURE: usize = 3;
const REQUESTS_PER_SECOND: f64 = 5.0;
const TOKEN: &str = "patBench000000001.0123456789abcdef0123456789abcdef";
const BASE_ID: &str = "appBENCHBASE00001";
const TAG_NAMES: [&str; TAGS_PER_LECTURE] = ["פילוסופיה", "היסטוריה", "אמנות"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::args().any(|arg| arg == "--trace") {
        return trace().await;
    }
    if std::env::args().any(|arg| arg == "--hold") {
        return hold().await;
    }
    for processes in [1, 3] {
        let mut walls = Vec::new();
        for stream in [false, true] {
            let playground = playground().await?;
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

async fn playground() -> Result<Playground, BoxError> {
    Ok(Playground::from_environment(
        "tagbot_bench_sync",
        &tagbot::storage::MIGRATOR,
        tagbot::storage::RUNTIME_ROLE,
    )
    .await?)
}

/// A fake base with the catalogue's records, and its database approved.
async fn prepared(
    playground: &Playground,
    stream: bool,
) -> Result<(FakeAirtable, Vec<String>), BoxError> {
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
    approve_everything(&playground.app_url()?).await?;
    Ok((fake, records))
}

fn mode(stream: bool) -> &'static str {
    if stream {
        "change stream"
    } else {
        "reading first"
    }
}

/// One run of `processes` `tagbot sync --once`; returns its wall time in
/// seconds.
async fn run(playground: &Playground, processes: usize, stream: bool) -> Result<f64, BoxError> {
    let (fake, records) = prepared(playground, stream).await?;
    let app_url = playground.app_url()?;
    let started = Instant::now();
    let mut children = Vec::new();
    for _ in 0..processes {
        children.push(spawn_tagbot(&["sync", "--once"], &app_url, &fake)?);
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
    let floor = requests as f64 / REQUESTS_PER_SECOND;
    println!(
        "{processes} process(es), {}: {LECTURES} lectures × {TAGS_PER_LECTURE} tags: \
         {requests} requests ({:.3} per lecture: {}), {} × 429, \
         wall {wall:.1} s, floor {floor:.1} s ({requests} requests at 5/s), \
         wall / floor = {:.3}",
        mode(stream),
        requests as f64 / LECTURES as f64,
        by_kind(&log),
        fake.rate_limited(),
        wall / floor
    );
    fake.shutdown();
    Ok(wall)
}

/// The real `tagbot` binary with `args`, on the database and the fake base.
fn spawn_tagbot(
    args: &[&str],
    app_url: &str,
    fake: &FakeAirtable,
) -> std::io::Result<std::process::Child> {
    std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", app_url)
        .env("AIRTABLE_TOKEN", TOKEN)
        .env("AIRTABLE_BASE_ID", BASE_ID)
        .env("AIRTABLE_API_URL", &fake.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
}

/// The requests counted by what they were for.
fn by_kind(log: &[LoggedRequest]) -> String {
    let kind = |r: &LoggedRequest| {
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
    for request in log {
        match kinds.iter_mut().find(|(k, _)| *k == kind(request)) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind(request), 1)),
        }
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    kinds.join(", ")
}

/// One process's backfill each way, in this process, with the worker's
/// spans timed.
async fn trace() -> Result<(), BoxError> {
    let spans = SpanTimes::default();
    let filter = tracing_subscriber::filter::Targets::new()
        .with_target("tagbot", tracing::Level::DEBUG)
        .with_default(tracing::Level::ERROR);
    // The stream's reading decisions, as they are made.
    let decisions = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("tagbot::sync::streamed", tracing::Level::DEBUG),
        );
    let subscriber = tracing_subscriber::registry()
        .with(spans.clone().with_filter(filter))
        .with(decisions);
    tracing::subscriber::set_global_default(subscriber)?;
    for stream in [false, true] {
        spans.clear();
        let playground = playground().await?;
        let result = trace_one(&playground, stream, &spans).await;
        playground.remove().await?;
        result?;
    }
    Ok(())
}

async fn trace_one(
    playground: &Playground,
    stream: bool,
    spans: &SpanTimes,
) -> Result<(), BoxError> {
    let (fake, records) = prepared(playground, stream).await?;
    let app_url = playground.app_url()?;
    let env = Env::from_pairs([
        ("DATABASE_URL", app_url.as_str()),
        ("AIRTABLE_TOKEN", TOKEN),
        ("AIRTABLE_BASE_ID", BASE_ID),
        ("AIRTABLE_API_URL", fake.url.as_str()),
    ]);
    let started = Instant::now();
    let pool =
        tagbot::storage::connect_runtime_holding(&DatabaseSettings::from_env(&env)?, 1).await?;
    let syncer = Syncer::new(
        pool.clone(),
        AirtableSettings::from_env(&env)?,
        SyncSettings::from_env(&env)?,
    )?;
    let report = syncer.run_once(&Shutdown::never()).await?;
    let wall = started.elapsed();
    pool.close().await;
    check_airtable(&fake, &records)?;
    let log = fake.requests();
    let floor = log.len() as f64 / REQUESTS_PER_SECOND;
    println!(
        "\none process in the bench, {}: {} synced, {} requests ({}), {} × 429, wall {:.1} s, floor {floor:.1} s, wall / floor = {:.3}",
        mode(stream),
        report.synced,
        log.len(),
        by_kind(&log),
        fake.rate_limited(),
        wall.as_secs_f64(),
        wall.as_secs_f64() / floor,
    );
    println!("{}", gaps(&log));
    println!(
        "{:<44} {:>6} {:>10} {:>10}",
        "span (inside its parents)", "count", "total s", "mean ms"
    );
    for (path, (count, total)) in spans.snapshot() {
        println!(
            "{path:<44} {count:>6} {:>10.2} {:>10.1}",
            total.as_secs_f64(),
            total.as_secs_f64() * 1000.0 / count as f64
        );
    }
    fake.shutdown();
    Ok(())
}

/// Lectures approved one after another in the hold measurement.
const HELD_LECTURES: usize = 10;

/// What the undo window adds from a click to Airtable: a running `tagbot
/// worker`, lectures approved one a second with no window and with the
/// default 30 s, and the time from each approval until its record holds
/// the tags.
async fn hold() -> Result<(), BoxError> {
    for window in [Duration::ZERO, ReviewSettings::default().undo_window] {
        let playground = playground().await?;
        let result = hold_one(&playground, window).await;
        playground.remove().await?;
        let mut waits = result?;
        waits.sort();
        println!(
            "undo window {} s: approval to Airtable, {HELD_LECTURES} lectures: median {:.2} s, max {:.2} s",
            window.as_secs(),
            waits[waits.len() / 2].as_secs_f64(),
            waits[waits.len() - 1].as_secs_f64()
        );
    }
    Ok(())
}

async fn hold_one(playground: &Playground, window: Duration) -> Result<Vec<Duration>, BoxError> {
    let fake =
        FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default()).await?;
    let records = seed(&playground.admin, &fake).await?;
    let app_url = playground.app_url()?;
    let mut worker = spawn_tagbot(&["worker"], &app_url, &fake)?;
    // Started and idle (its preflight read the base).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = PgPoolOptions::new()
        .max_connections(2)
        .connect(&app_url)
        .await?;
    let review = Review::new(
        app.clone(),
        ReviewSettings {
            undo_window: window,
            ..ReviewSettings::default()
        },
    );
    let actor = Actor::cli("bench")?;
    let mut approved: Vec<Instant> = Vec::new();
    let mut waits = vec![None; HELD_LECTURES];
    // Each approved lecture's record is looked at every 20 ms.
    let look = |approved: &[Instant], waits: &mut [Option<Duration>]| {
        for (n, at) in approved.iter().enumerate() {
            let tags = fake.cell("Lectures", &records[n], "Tags");
            if waits[n].is_none() && tags.as_array().map_or(0, Vec::len) == TAGS_PER_LECTURE {
                waits[n] = Some(at.elapsed());
            }
        }
    };
    for n in 1..=HELD_LECTURES {
        review
            .approve_top(&LectureId::parse(&format!("L{n:04}"))?, None, &actor)
            .await?;
        approved.push(Instant::now());
        let next = Instant::now() + Duration::from_secs(1);
        while Instant::now() < next {
            look(&approved, &mut waits);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + window + Duration::from_secs(60);
    while waits.iter().any(Option::is_none) && Instant::now() < deadline {
        look(&approved, &mut waits);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill()?;
    let _ = worker.wait();
    app.close().await;
    fake.shutdown();
    waits
        .into_iter()
        .map(|wait| wait.ok_or_else(|| BoxError::from("a lecture never reached Airtable")))
        .collect()
}

/// How far apart the requests reached the base: at the budget's pace each
/// follows the last by 208 ms; the rest is time no request was ready.
fn gaps(log: &[LoggedRequest]) -> String {
    let mut gaps: Vec<Duration> = log
        .windows(2)
        .map(|pair| pair[1].at.saturating_duration_since(pair[0].at))
        .collect();
    if gaps.is_empty() {
        return "fewer than two requests".to_owned();
    }
    gaps.sort();
    let at = |share: f64| gaps[((gaps.len() - 1) as f64 * share) as usize].as_secs_f64() * 1000.0;
    let total: Duration = gaps.iter().sum();
    let over: f64 = gaps
        .iter()
        .map(|g| (g.as_secs_f64() - 0.208).max(0.0))
        .sum();
    format!(
        "gaps between requests: median {:.0} ms, p90 {:.0} ms, max {:.0} ms; first to last {:.1} s, of which {over:.1} s beyond the budget's 208 ms pace",
        at(0.5),
        at(0.9),
        at(1.0),
        total.as_secs_f64()
    )
}

/// Wall time per span, keyed by its path from the run's span down
/// ("sync_run/batch/write/slot_wait"), summed over the run.
#[derive(Clone, Default)]
struct SpanTimes {
    totals: Arc<Mutex<BTreeMap<String, (u64, Duration)>>>,
}

impl SpanTimes {
    fn clear(&self) {
        if let Ok(mut totals) = self.totals.lock() {
            totals.clear();
        }
    }

    fn snapshot(&self) -> Vec<(String, (u64, Duration))> {
        self.totals
            .lock()
            .map(|totals| totals.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

/// When a span was made, kept in its extensions.
struct Opened(Instant);

impl<S> Layer<S> for SpanTimes
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Opened(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(opened) = span.extensions().get::<Opened>().map(|o| o.0) else {
            return;
        };
        let mut names: Vec<&str> = span.scope().map(|s| s.name()).collect();
        names.reverse();
        let path = names.join("/");
        if let Ok(mut totals) = self.totals.lock() {
            let entry = totals.entry(path).or_default();
            entry.0 += 1;
            entry.1 += opened.elapsed();
        }
    }
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
