//! Benchmarks of the review core against a real Postgres:
//!
//! - approvals per second through `Review::approve` with 1 and 8 concurrent
//!   tasks (each approval: lock, update + audit trigger, enqueue + event),
//!   then with tagbot's functions unpinned (no `search_path` of their own)
//!   and pinned again, then without the trigger that keeps calibration's
//!   counts;
//! - the review UI's first page of `v_pending_lectures` with 100,000
//!   lectures and 1,000,000 suggestions loaded, with its EXPLAIN.
//!
//! Run with `scripts/bench` (or `cargo bench --bench review` with
//! DATABASE_URL naming a role that may create databases). It works in a
//! throw-away database and drops it at the end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use standins::scratch::Playground;
use tagbot::config::ReviewSettings;
use tagbot::domain::{Actor, SuggestionId};
use tagbot::review::Review;

const LECTURES: i64 = 100_000;
const SUGGESTIONS_PER_LECTURE: i64 = 10;
const TAGS: i64 = 500;
const APPROVALS_PER_TASK: usize = 1_000;
/// Rounds of approvals: pinned, unpinned, pinned again, without the
/// calibration trigger.
const ROUNDS: usize = 4;
const PAGE_QUERY: &str = "SELECT * FROM v_pending_lectures ORDER BY lecture_external_id LIMIT 50";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    Playground::bench(
        "tagbot_bench",
        &tagbot::storage::MIGRATOR,
        tagbot::storage::RUNTIME_ROLE,
        run,
    )
    .await
}

async fn run(playground: &Playground) -> Result<(), BoxError> {
    let admin = &playground.admin;
    let started = Instant::now();
    load(admin).await?;
    println!(
        "loaded {LECTURES} lectures, {} suggestions in {:.1} s",
        LECTURES * SUGGESTIONS_PER_LECTURE,
        started.elapsed().as_secs_f64()
    );
    let app = PgPoolOptions::new()
        .max_connections(9)
        .connect_with(playground.app_options())
        .await?;

    pending_page(&app).await?;
    let mut pending = pending_ids(&app).await?;
    for tasks in [1, 8] {
        let batch: Vec<SuggestionId> = pending.drain(..tasks * APPROVALS_PER_TASK).collect();
        approvals(&app, tasks, batch).await?;
    }
    // The same with tagbot's functions unpinned (no search_path of their
    // own, as before migration 0014), then pinned again: what pinning
    // costs a decision, with a second pinned round for the drift.
    set_function_paths(admin, "RESET search_path").await?;
    println!("with tagbot's functions unpinned:");
    for tasks in [1, 8] {
        let batch: Vec<SuggestionId> = pending.drain(..tasks * APPROVALS_PER_TASK).collect();
        approvals(&app, tasks, batch).await?;
    }
    set_function_paths(admin, "SET search_path = public, pg_temp").await?;
    println!("pinned again:");
    for tasks in [1, 8] {
        let batch: Vec<SuggestionId> = pending.drain(..tasks * APPROVALS_PER_TASK).collect();
        approvals(&app, tasks, batch).await?;
    }
    // The same again without the trigger that keeps calibration's counts,
    // to see what it costs a decision.
    sqlx::query("ALTER TABLE lecture_tag_suggestions DISABLE TRIGGER sugg_calibration")
        .execute(admin)
        .await?;
    println!("without the calibration trigger:");
    for tasks in [1, 8] {
        let batch: Vec<SuggestionId> = pending.drain(..tasks * APPROVALS_PER_TASK).collect();
        approvals(&app, tasks, batch).await?;
    }
    app.close().await;
    Ok(())
}

/// Applies `clause` (`RESET search_path`, `SET search_path = …`) to every
/// function of tagbot's in the schema.
async fn set_function_paths(admin: &PgPool, clause: &str) -> Result<(), BoxError> {
    let functions: Vec<String> = sqlx::query_scalar(
        "SELECT p.oid::regprocedure::text FROM pg_proc p
         WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'tagbot\\_%'",
    )
    .fetch_all(admin)
    .await?;
    for function in functions {
        sqlx::query(&format!("ALTER FUNCTION {function} {clause}"))
            .execute(admin)
            .await?;
    }
    Ok(())
}

/// Bulk-loads the catalogue and suggestions. 30% of lectures have pending
/// suggestions; the rest were decided long ago. Triggers are bypassed for
/// the load only (session_replication_role), as a restore would.
async fn load(admin: &PgPool) -> Result<(), BoxError> {
    let mut conn = admin.acquire().await?;
    sqlx::query("SET session_replication_role = replica")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO tags (tag_id, name)
         SELECT 'tag-' || n, 'נושא ' || n FROM generate_series(1, $1) AS n",
    )
    .bind(TAGS)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT format('L%s', lpad(n::text, 6, '0')), 'הרצאה מספר ' || n
         FROM generate_series(1, $1) AS n",
    )
    .bind(LECTURES)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO lecture_tag_suggestions
             (lecture_external_id, tag_id, score, rationale, suggested_by, status, created_at)
         SELECT format('L%s', lpad(l::text, 6, '0')),
                'tag-' || (1 + (l * 7 + k * 13) % $3),
                round(random()::numeric, 3)::float8,
                'the lecture discusses this topic at length',
                'tagger-v2',
                CASE WHEN l % 10 < 3 THEN 'pending'
                     ELSE (ARRAY['approved', 'rejected', 'synced', 'synced'])[1 + (l + k) % 4] END,
                now() - make_interval(mins => (l % 10000)::int)
         FROM generate_series(1, $1) AS l, generate_series(1, $2) AS k",
    )
    .bind(LECTURES)
    .bind(SUGGESTIONS_PER_LECTURE)
    .bind(TAGS)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SET session_replication_role = origin")
        .execute(&mut *conn)
        .await?;
    sqlx::query("ANALYZE").execute(&mut *conn).await?;
    Ok(())
}

async fn pending_page(app: &PgPool) -> Result<(), BoxError> {
    for _ in 0..5 {
        sqlx::query(PAGE_QUERY).fetch_all(app).await?;
    }
    let mut timings = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let rows = sqlx::query(PAGE_QUERY).fetch_all(app).await?;
        timings.push(started.elapsed());
        assert_eq!(rows.len(), 50, "first page has 50 lectures");
    }
    timings.sort();
    println!(
        "v_pending_lectures first page (50 rows), 200 runs: median {}, p95 {}, max {}",
        ms(timings[timings.len() / 2]),
        ms(timings[timings.len() * 95 / 100]),
        ms(timings[timings.len() - 1])
    );
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {PAGE_QUERY}"
    ))
    .fetch_all(app)
    .await?;
    println!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF):");
    for line in &plan {
        println!("    {line}");
    }
    let plan = plan.join("\n");
    for index in [
        "enriched_lectures_pkey",
        "idx_sugg_status",
        "idx_sugg_lecture",
    ] {
        println!("  uses {index}: {}", plan.contains(index));
    }
    Ok(())
}

async fn pending_ids(app: &PgPool) -> Result<Vec<SuggestionId>, BoxError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM lecture_tag_suggestions WHERE status = 'pending' ORDER BY random() LIMIT $1",
    )
    // Four rounds of 1 and 8 tasks.
    .bind(i64::try_from(ROUNDS * 9 * APPROVALS_PER_TASK)?)
    .fetch_all(app)
    .await?;
    Ok(ids
        .into_iter()
        .filter_map(|id| SuggestionId::new(id).ok())
        .collect())
}

async fn approvals(app: &PgPool, tasks: usize, ids: Vec<SuggestionId>) -> Result<(), BoxError> {
    let review = Arc::new(Review::new(app.clone(), ReviewSettings::default()));
    let started = Instant::now();
    let mut handles = Vec::new();
    for (n, chunk) in ids.chunks(APPROVALS_PER_TASK).enumerate() {
        let review = Arc::clone(&review);
        let chunk = chunk.to_vec();
        handles.push(tokio::spawn(async move {
            let actor = Actor::slack(format!("UBENCH{n}"), Some(format!("bench {n}")))?;
            let mut latencies = Vec::with_capacity(chunk.len());
            for id in chunk {
                let one = Instant::now();
                let decision = review.approve(id, &actor).await?;
                if !decision.is_applied() {
                    return Err(format!("approval of {id} not applied: {decision}").into());
                }
                latencies.push(one.elapsed());
            }
            Ok::<_, BoxError>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "approvals, {tasks} task(s): {} in {:.2} s = {:.0} approvals/s (latency p50 {}, p99 {})",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(latencies[latencies.len() / 2]),
        ms(latencies[latencies.len() * 99 / 100])
    );
    Ok(())
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
