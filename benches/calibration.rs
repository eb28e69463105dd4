//! Calibration and the training-data export at scale: 1,000,000 decided
//! suggestions (100,000 lectures × 10, two models, 500 tags), each with
//! its decision in the audit log, a sync event for the synced ones, and 1%
//! of those removed in Airtable since. Rejections carry a reason (each of
//! the five an eighth of them) or none (the other three eighths), on the
//! row and in the reject's event, as the review operations record them.
//! 100,000 votes: two on each of 50,000 of the suggestions, by 20
//! reviewers, one pair in seven disagreeing, and 2,000 more votes
//! withdrawn (left out of agreement).
//!
//! - the calibration query (`Calibration::load`, as the App Home and the
//!   review messages use it, over the counts its triggers keep, with
//!   reviewers' agreement over the votes): 20 runs after 3 warm-up runs,
//!   as the run-time role; where its time goes (the bins, the votes'
//!   sums, the figures); and the recount the migration makes from the
//!   suggestions themselves;
//! - `tagbot export` of all 1,000,000 as JSON Lines and as CSV, and of the
//!   latest 1,000 (`--since`), each as its own process: rows per second and
//!   peak resident memory (VmHWM, read from /proc while it runs).
//!
//! Run with `scripts/bench --bench calibration` (`-- --no-export` for the
//! calibration figures alone). It works in a throw-away database and
//! drops it at the end.

use std::time::{Duration, Instant};

use sqlx::PgPool;
use standins::scratch::Playground;
use tagbot::agreement::Agreements;
use tagbot::calibration::Calibration;

const LECTURES: i64 = 100_000;
const SUGGESTIONS_PER_LECTURE: i64 = 10;
const RECENT: i64 = 1_000;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    Playground::bench(
        "tagbot_bench_calibration",
        &tagbot::storage::MIGRATOR,
        tagbot::storage::RUNTIME_ROLE,
        run,
    )
    .await
}

async fn run(playground: &Playground) -> Result<(), BoxError> {
    let started = Instant::now();
    load(&playground.admin).await?;
    println!(
        "loaded {} decided suggestions in {:.1} s",
        LECTURES * SUGGESTIONS_PER_LECTURE,
        started.elapsed().as_secs_f64()
    );
    let recount = Instant::now();
    sqlx::query("SELECT tagbot_calibration_recount()")
        .execute(&playground.admin)
        .await?;
    println!(
        "recounting calibration from the suggestions (what the migration does): {}",
        ms(recount.elapsed())
    );
    let recount = Instant::now();
    sqlx::query("SELECT tagbot_agreement_recount()")
        .execute(&playground.admin)
        .await?;
    println!(
        "recounting agreement from the votes (what the migration does): {}",
        ms(recount.elapsed())
    );
    let app = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(playground.app_options())
        .await?;
    calibration(&app).await?;
    app.close().await;
    if std::env::args().any(|arg| arg == "--no-export") {
        return Ok(());
    }
    let url = playground.app_url()?;
    let since = recent_since(&playground.admin).await?;
    for (label, args) in [
        ("all 1,000,000, JSON Lines", vec!["--format", "jsonl"]),
        ("all 1,000,000, CSV", vec!["--format", "csv"]),
        (
            "the latest 1,000, JSON Lines",
            vec!["--format", "jsonl", "--since", since.as_str()],
        ),
    ] {
        export(&url, label, &args)?;
    }
    Ok(())
}

/// Bulk-loads the catalogue, the decided suggestions and their audit
/// trail, triggers bypassed for the load only, as a restore would.
async fn load(admin: &PgPool) -> Result<(), BoxError> {
    let mut conn = admin.acquire().await?;
    for statement in [
        "SET session_replication_role = replica",
        "INSERT INTO tags (tag_id, name) SELECT 'tag-' || n, 'נושא ' || n FROM generate_series(1, 500) AS n",
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT format('L%s', lpad(n::text, 6, '0')), 'הרצאה, \"מספר\" ' || n FROM generate_series(1, 100000) AS n",
        // Scores uniform; higher scores approved more often; a rejection
        // with one of the five reasons, or none (three slots in eight).
        "INSERT INTO lecture_tag_suggestions
             (lecture_external_id, tag_id, score, rationale, suggested_by, status, reject_reason, created_at)
         SELECT format('L%s', lpad(l::text, 6, '0')), 'tag-' || (1 + (l * 7 + k * 13) % 500), sc,
                'the lecture discusses this topic at length, with \"quotes\"',
                CASE WHEN k % 2 = 0 THEN 'tagger-v2' ELSE 'tagger-v3' END,
                status,
                CASE WHEN status = 'rejected' THEN
                    (ARRAY['wrong_topic', 'too_broad', 'too_narrow', 'duplicate', 'other', NULL, NULL, NULL])
                        [1 + (l * 3 + k) % 8]
                END,
                now() - interval '30 days'
         FROM (SELECT l, k, sc,
                      CASE WHEN r < sc * sc THEN (CASE WHEN (l + k) % 3 = 0 THEN 'approved' ELSE 'synced' END)
                           ELSE 'rejected' END AS status
               FROM (SELECT l, k, round(random()::numeric, 3)::float8 AS sc, random() AS r
                     FROM generate_series(1, 100000) AS l, generate_series(1, 10) AS k) AS drawn) AS decided",
        // Each decision in the audit log, a reject's reason in its details;
        // the newest last (by id).
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, actor_name, action, from_status, to_status, details, created_at)
         SELECT id, lecture_external_id, tag_id, 'slack:U0BENCH' || (id % 20), 'Reviewer ' || (id % 20),
                CASE WHEN status = 'rejected' THEN 'reject' ELSE 'approve' END, 'pending',
                CASE WHEN status = 'rejected' THEN 'rejected' ELSE 'approved' END,
                CASE WHEN reject_reason IS NULL THEN '{}'::jsonb
                     ELSE jsonb_build_object('reason', reject_reason) END,
                now() - make_interval(secs => (1000000 - id)::float8)
         FROM lecture_tag_suggestions ORDER BY id",
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, action, from_status, to_status, created_at)
         SELECT id, lecture_external_id, tag_id, 'worker', 'sync_ok', 'approved', 'synced',
                now() - make_interval(secs => (1000000 - id)::float8) + interval '1 second'
         FROM lecture_tag_suggestions WHERE status = 'synced' ORDER BY id",
        "INSERT INTO airtable_drift (base_id, record_id, lecture_external_id, tag_id, suggestion_id, source,
             removed_by_id, removed_by_name, removed_at, base_transaction)
         SELECT 'appBENCH', 'rec' || id, lecture_external_id, tag_id, id, 'client', 'usrDana', 'דנה', now(), id
         FROM lecture_tag_suggestions WHERE status = 'synced' AND id % 100 = 0",
        // Two votes on every twentieth suggestion (50,000): the first as
        // decided, the second agreeing but in one pair of seven; two
        // different reviewers of twenty.
        "INSERT INTO review_votes (suggestion_id, voter, voter_name, verdict, voted_at)
         SELECT id, 'slack:U0BENCH' || voter, 'Reviewer ' || voter,
                CASE WHEN (status = 'rejected') <> (k = 2 AND (id / 20) % 7 = 0) THEN 'reject' ELSE 'approve' END,
                now() - interval '30 days'
         FROM (SELECT s.id, s.status, k,
                      CASE WHEN k = 1 THEN (s.id / 20) % 20
                           ELSE ((s.id / 20) % 20 + 1 + (s.id / 400) % 19) % 20 END AS voter
               FROM lecture_tag_suggestions s, generate_series(1, 2) AS k
               WHERE s.id % 20 = 0) AS v
         ORDER BY id, k",
        // 2,000 votes withdrawn: cast, then taken back.
        "INSERT INTO review_votes (suggestion_id, voter, voter_name, verdict, voted_at)
         SELECT id, 'slack:U0BENCHW', 'Withdrawn', 'approve', now() - interval '30 days'
         FROM lecture_tag_suggestions WHERE id % 500 = 0 ORDER BY id",
        "INSERT INTO review_votes (suggestion_id, voter, voter_name, verdict, withdraws, voted_at)
         SELECT suggestion_id, voter, voter_name, 'withdraw', id, now() - interval '30 days'
         FROM review_votes WHERE voter = 'slack:U0BENCHW' ORDER BY id",
        "SET session_replication_role = origin",
        // The load bypassed the triggers that keep calibration's counts
        // and agreement's tallies.
        "SELECT tagbot_calibration_recount()",
        "SELECT tagbot_agreement_recount()",
        "ANALYZE",
    ] {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

async fn calibration(app: &PgPool) -> Result<(), BoxError> {
    for _ in 0..3 {
        Calibration::load(app, 0.95).await?;
    }
    let mut timings = Vec::new();
    let mut last = None;
    for _ in 0..20 {
        let started = Instant::now();
        last = Some(Calibration::load(app, 0.95).await?);
        timings.push(started.elapsed());
    }
    timings.sort();
    let figures = last.ok_or("no run")?;
    let decisions: u64 = figures.models.iter().map(|m| m.share.decisions).sum();
    println!(
        "calibration with agreement over {decisions} decisions ({} models) and the votes on {} suggestions, 20 runs: median {}, p95 {}, max {}",
        figures.models.len(),
        figures.agreement.items,
        ms(timings[timings.len() / 2]),
        ms(timings[timings.len() * 95 / 100]),
        ms(timings[timings.len() - 1]),
    );
    split(app).await?;
    for model in &figures.models {
        println!(
            "  {}: threshold {}; {}",
            model.model,
            model.threshold,
            model
                .reject_reasons
                .summary()
                .unwrap_or_else(|| "nothing rejected".to_owned())
        );
        println!("    agreement: {}", model.agreement.summary());
    }
    println!("  team agreement: {}", figures.agreement.summary());
    Ok(())
}

/// Where a load's time goes: the bins read alone (every row decoded,
/// nothing built from them) and the rest `load` reads beside them (the
/// removed ones and the votes' sums, one after the other), 20 runs each.
async fn split(app: &PgPool) -> Result<(), BoxError> {
    let mut bins = Vec::new();
    let mut rest = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut rows = 0u64;
        tagbot::storage::calibration::each_bin(app, |row| {
            rows += std::hint::black_box(row).decisions.min(1);
        })
        .await?;
        bins.push(started.elapsed());
        let started = Instant::now();
        let removed = tagbot::storage::calibration::removed(app).await?;
        let units = tagbot::storage::agreement::units(app).await?;
        let pairs = tagbot::storage::agreement::pairs(app).await?;
        std::hint::black_box((removed, Agreements::from_rows(&units, &pairs)));
        rest.push(started.elapsed());
    }
    for timings in [&mut bins, &mut rest] {
        timings.sort();
    }
    println!(
        "  of which the bins read alone: median {}; the removed and the votes' sums: median {}",
        ms(bins[bins.len() / 2]),
        ms(rest[rest.len() / 2]),
    );
    Ok(())
}

/// `--since` for the latest 1,000 decisions (the load spaces them a
/// second apart, newest last).
async fn recent_since(admin: &PgPool) -> Result<String, BoxError> {
    let at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT created_at FROM events WHERE action IN ('approve', 'reject')
         ORDER BY created_at DESC OFFSET $1 - 1 LIMIT 1",
    )
    .bind(RECENT)
    .fetch_one(admin)
    .await?;
    Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// One `tagbot export` process: its rows per second and peak memory.
fn export(url: &str, label: &str, args: &[&str]) -> Result<(), BoxError> {
    let out = std::env::temp_dir().join(format!("tagbot-bench-export-{}", std::process::id()));
    let started = Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
        .arg("export")
        .args(args)
        .arg(&out)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("export {label} exited with {status}").into());
    }
    let bytes = std::fs::metadata(&out)?.len();
    let rows = if args.contains(&"csv") {
        count_lines(&out)?.saturating_sub(1)
    } else {
        count_lines(&out)?
    };
    std::fs::remove_file(&out)?;
    println!(
        "export {label}: {rows} rows, {:.1} MB, {wall:.1} s, {:.0} rows/s, peak memory {:.1} MB",
        bytes as f64 / 1e6,
        rows as f64 / wall,
        peak_kb as f64 / 1024.0
    );
    Ok(())
}

/// Lines in a file (a CSV field's own line breaks would count too: the
/// bench's text has none).
fn count_lines(path: &std::path::Path) -> Result<u64, BoxError> {
    use std::io::BufRead;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(file.lines().count() as u64)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
