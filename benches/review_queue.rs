//! The review queue's reads at catalogue scale: 100,000 pending
//! suggestions (20,000 lectures × 5, three models, scores uniform, arrived
//! over 30 days) beside 50,000 decided ones, with 20 lectures open in the
//! review channel and 3 held by review sessions.
//!
//! - the channel's admission (`review_messages::admit`, as the poster calls
//!   it) and a session's hand-out (`review_holds::take_next`), in each
//!   order: `oldest`, `score`, and `uncertain` with one model calibrated
//!   (its threshold passed in) and two on the default;
//! - the backlog against a 72 h SLA (`review_queue::backlog`: oldest
//!   pending and overdue lectures in one statement, what `/metrics` and the
//!   App Home read; 90% of the queue is overdue here, the worst case) and
//!   the five longest overdue (`review_queue::longest_overdue`, the
//!   digest's).
//!
//! Each 50 runs after 5 warm-up runs, as the run-time role. Run with
//! `scripts/bench --bench review_queue`. It works in a throw-away database
//! and drops it at the end.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use standins::scratch::Playground;
use tagbot::storage::review_queue::{self, QueueOrder, Thresholds};
use tagbot::storage::{review_holds, review_messages};

const RUNS: usize = 50;
const WARM_UP: usize = 5;
const SLA: Duration = Duration::from_secs(72 * 3600);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    Playground::bench(
        "tagbot_bench_review_queue",
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
        "loaded 100,000 pending and 50,000 decided suggestions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let app = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(playground.app_options())
        .await?;
    let orders = [
        ("oldest", QueueOrder::Oldest),
        ("score", QueueOrder::Score),
        (
            "uncertain",
            QueueOrder::Uncertain(Thresholds::new(0.88, [("tagger-v2".to_owned(), 0.62)])),
        ),
    ];
    for (name, order) in &orders {
        for room in [1, 10] {
            let label = format!("admit {room} to the channel, {name}");
            time(&label, || admit(&app, order, room)).await?;
        }
        let label = format!("a session's next lecture, {name}");
        time(&label, || take_next(&app, order)).await?;
    }
    time("backlog: oldest pending and overdue lectures", || async {
        review_queue::backlog(&app, chrono::Utc::now(), Some(SLA)).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    time("the five longest overdue", || async {
        review_queue::longest_overdue(&app, chrono::Utc::now(), Some(SLA), 5).await?;
        Ok::<_, BoxError>(())
    })
    .await?;
    let backlog = review_queue::backlog(&app, chrono::Utc::now(), Some(SLA)).await?;
    println!(
        "  ({} lectures overdue, the oldest pending since {:?})",
        backlog.overdue_lectures, backlog.oldest_pending
    );
    app.close().await;
    Ok(())
}

/// Admits `room` lectures (and gives their claims back, untimed, so that
/// every run finds the same queue).
async fn admit(app: &PgPool, order: &QueueOrder, room: i64) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let admitted = review_messages::admit(app, "C0REVIEW01", "bench", 1000, order, room).await?;
    let took = started.elapsed();
    if admitted.len() != usize::try_from(room)? {
        return Err(format!("admitted {} of {room}", admitted.len()).into());
    }
    for lecture in admitted {
        review_messages::release_claim(app, &lecture.lecture_external_id, "bench").await?;
    }
    Ok(took)
}

/// Holds the next lecture for a reviewer (and lets go of it, untimed).
async fn take_next(app: &PgPool, order: &QueueOrder) -> Result<Duration, BoxError> {
    let started = Instant::now();
    let standing = review_holds::Standing {
        actor: "slack:U0BENCH01",
        lead: false,
    };
    let lecture = review_holds::take_next(
        app,
        "U0BENCH01",
        standing,
        order,
        &[],
        Duration::from_secs(900),
    )
    .await?;
    let took = started.elapsed();
    if lecture.is_none() {
        return Err("no lecture handed out".into());
    }
    review_holds::release(app, "U0BENCH01").await?;
    Ok(took)
}

/// Runs `once` after warm-up runs and prints the median, p95 and max.
async fn time<F, Fut, T>(label: &str, mut once: F) -> Result<(), BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BoxError>>,
    T: Timed,
{
    for _ in 0..WARM_UP {
        once().await?;
    }
    let mut timings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let took = once().await?.took(started.elapsed());
        timings.push(took);
    }
    timings.sort();
    println!(
        "{label}: median {}, p95 {}, max {}",
        ms(timings[RUNS / 2]),
        ms(timings[RUNS * 95 / 100]),
        ms(timings[RUNS - 1]),
    );
    Ok(())
}

/// What a run measured: its own figure (a run with untimed clean-up), or
/// the whole run.
trait Timed {
    fn took(self, whole: Duration) -> Duration;
}

impl Timed for Duration {
    fn took(self, _: Duration) -> Duration {
        self
    }
}

impl Timed for () {
    fn took(self, whole: Duration) -> Duration {
        whole
    }
}

/// Bulk-loads the catalogue and the suggestions, triggers bypassed for the
/// load only, as a restore would.
async fn load(admin: &PgPool) -> Result<(), BoxError> {
    let mut conn = admin.acquire().await?;
    for statement in [
        "SET session_replication_role = replica",
        "INSERT INTO tags (tag_id, name) SELECT 't' || n, 'נושא ' || n FROM generate_series(1, 500) AS n",
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'L' || n, 'הרצאה ' || n FROM generate_series(1, 30000) AS n",
        // The first 10,000 lectures decided, the other 20,000 pending.
        "INSERT INTO lecture_tag_suggestions
             (lecture_external_id, tag_id, score, suggested_by, status, created_at)
         SELECT 'L' || l, 't' || (1 + (l * 7 + k * 13) % 500), sc,
                (ARRAY['tagger-v1', 'tagger-v2', 'tagger-v3'])[1 + l % 3],
                CASE WHEN l > 10000 THEN 'pending' WHEN sc > 0.6 THEN 'approved' ELSE 'rejected' END,
                now() - random() * interval '30 days'
         FROM (SELECT l, k, random() AS sc FROM generate_series(1, 30000) AS l,
               generate_series(1, 5) AS k) AS drawn",
        "INSERT INTO slack_review_messages (lecture_external_id, channel, ts, opened_at)
         SELECT 'L' || n, 'C0REVIEW01', n || '.000100', now() FROM generate_series(20001, 20020) AS n",
        "INSERT INTO review_holds (lecture_external_id, held_by, held_until)
         SELECT 'L' || n, 'U0HOLD' || n, now() + interval '15 minutes'
         FROM generate_series(20021, 20023) AS n",
        "SET session_replication_role = origin",
        "ANALYZE",
    ] {
        sqlx::query(statement).execute(&mut *conn).await?;
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
