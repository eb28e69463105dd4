//! Load on the Slack endpoints: 50 reviewers clicking Approve as fast as
//! Slack lets them for 30 seconds, against the real `tagbot serve` binary
//! (with its poster, notifier and sync worker running) on Postgres, with
//! the fake Slack and Airtable on loopback.
//!
//! Each click is a `block_actions` payload shaped like Slack's, signed with
//! the signing secret, approving a distinct pending suggestion. Two phases:
//! reviewers at a human-ish pace (a click every 200 ms each), then clicking
//! back to back to find the ceiling. Measured per phase:
//! the time until tagbot acknowledges (Slack's deadline is 3,000 ms), the
//! decisions applied per second (every click's decision is in the database
//! once the backlog drains), and the serve process's peak resident memory
//! (VmHWM).
//!
//! Run with `scripts/bench --bench slack_load`; with `-- --second-opinion`
//! the serve process runs with `TAGBOT_SECOND_OPINION=0.45-0.75` (scores
//! are drawn from 0.5 to 1, so about half the clicks are votes, the rest
//! decisions) and a click counts once its vote or decision is recorded.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::PgPool;
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
use standins::scratch::Playground;
use standins::sender::{block_actions, interaction_body, Minted};
use standins::sender::{slack_signature, unix_now};
use standins::slack::{FakeSlack, RateLimits};
use tagbot::slack::card::actions;

const REVIEWERS: usize = 50;
const RUN_FOR: Duration = Duration::from_secs(30);
const LECTURES: i64 = 8_000;
const TAGS: i64 = 10;
const BOT_TOKEN: &str = "xoxb-1234567890-tagbotbenchtoken";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const AIRTABLE_TOKEN: &str = "patBench000000001.0123456789abcdef0123456789abcdef";
const BASE_ID: &str = "appBENCHBASE00001";
const REVIEW: &str = "C0REVIEW01";
const REPORT: &str = "C0REPORT01";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    Playground::bench(
        "tagbot_bench_slack",
        &tagbot::storage::MIGRATOR,
        tagbot::storage::RUNTIME_ROLE,
        run,
    )
    .await
}

/// Stops the serve process however the bench ends.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run(playground: &Playground) -> Result<(), BoxError> {
    let admin = &playground.admin;
    let slack = FakeSlack::start(BOT_TOKEN, RateLimits::off()).await?;
    slack.add_channel(REVIEW, "tag-review", true);
    slack.add_channel(REPORT, "tag-reports", true);
    for n in 0..REVIEWERS {
        slack.add_user(&reviewer(n), &format!("סוקר {n}"));
    }
    let airtable = FakeAirtable::start(
        BASE_ID,
        AIRTABLE_TOKEN,
        TagsFieldKind::Linked,
        RateLimit::default(),
    )
    .await?;
    let suggestions = seed(admin, &airtable).await?;
    let suggestions = seed_messages(admin, &slack, suggestions).await?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let band = if second_opinion() { "0.45-0.75" } else { "off" };
    println!("TAGBOT_SECOND_OPINION={band}");
    let serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_tagbot"))
            .arg("serve")
            .env("TAGBOT_SECOND_OPINION", band)
            .env("SLACK_LEADS", "U0BENCHLEAD")
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", playground.app_url()?)
            .env("SLACK_BOT_TOKEN", BOT_TOKEN)
            .env("SLACK_SIGNING_SECRET", SECRET)
            .env("SLACK_API_URL", &slack.url)
            .env("SLACK_REVIEW_CHANNEL", REVIEW)
            .env("SLACK_REPORT_CHANNEL", REPORT)
            .env("AIRTABLE_TOKEN", AIRTABLE_TOKEN)
            .env("AIRTABLE_BASE_ID", BASE_ID)
            .env("AIRTABLE_API_URL", &airtable.url)
            .env("TAGBOT_LISTEN", &listen)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(REVIEWERS)
        .build()?;
    wait_healthy(&http, &listen).await?;

    let next = Arc::new(AtomicUsize::new(0));
    let suggestions = Arc::new(suggestions);
    let url = format!("http://{listen}/slack/interactions");
    let load = Load {
        http: &http,
        slack: &slack,
        url: &url,
        next: &next,
        suggestions: &suggestions,
        admin,
    };
    // Reviewers at a human-ish pace (one click every 200 ms each), then
    // clicking back to back to find the ceiling.
    load.phase(
        "paced, 5 clicks/s per reviewer",
        Some(Duration::from_millis(200)),
    )
    .await?;
    load.phase("saturating, back-to-back clicks", None).await?;
    let peak_kib = peak_memory_kib(serve.0.id())?;
    drop(serve);
    println!(
        "serve peak resident memory (VmHWM) over both phases: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    slack.shutdown();
    airtable.shutdown();
    Ok(())
}

struct Load<'a> {
    http: &'a reqwest::Client,
    /// Mints each click's trigger id and response URL, as Slack would.
    slack: &'a FakeSlack,
    url: &'a str,
    next: &'a Arc<AtomicUsize>,
    suggestions: &'a Arc<Vec<(i64, String)>>,
    admin: &'a PgPool,
}

impl Load<'_> {
    /// 50 reviewers for 30 s; prints ack times and decisions per second.
    async fn phase(&self, name: &str, pace: Option<Duration>) -> Result<(), BoxError> {
        let before = approvals(self.admin).await?;
        let started = Instant::now();
        let mut clickers = Vec::new();
        for n in 0..REVIEWERS {
            let (http, slack, next, suggestions) = (
                self.http.clone(),
                self.slack.clone(),
                Arc::clone(self.next),
                Arc::clone(self.suggestions),
            );
            let url = self.url.to_owned();
            clickers.push(tokio::spawn(async move {
                let clicker = Clicker {
                    http: &http,
                    slack: &slack,
                    url: &url,
                    user: &reviewer(n),
                    next: &next,
                    suggestions: &suggestions,
                };
                clicker.until(started + RUN_FOR, pace).await
            }));
        }
        let mut latencies = Vec::new();
        let mut refused = 0;
        for clicker in clickers {
            let (acks, failures) = clicker.await??;
            latencies.extend(acks);
            refused += failures;
        }
        let clicking = started.elapsed();
        let clicks = latencies.len();
        let applied = drain(self.admin, before, clicks).await?;
        let total = started.elapsed();
        latencies.sort();
        let percentile = |p: f64| {
            let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
            latencies.get(index).copied().unwrap_or_default()
        };
        println!(
            "{name}: {REVIEWERS} reviewers for {:.1} s",
            clicking.as_secs_f64()
        );
        println!(
            "  {clicks} clicks acknowledged ({:.0}/s), {refused} refused",
            clicks as f64 / clicking.as_secs_f64()
        );
        println!(
            "  ack time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(percentile(0.50)),
            ms(percentile(0.99)),
            ms(percentile(1.0))
        );
        println!(
            "  decisions applied: {applied} of {clicks} in {:.1} s = {:.0}/s",
            total.as_secs_f64(),
            applied as f64 / total.as_secs_f64()
        );
        Ok(())
    }
}

fn reviewer(n: usize) -> String {
    format!("U0BENCH{n:03}")
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Lectures with pending suggestions, and the same lectures and tags in
/// Airtable so the worker's syncing is real. Returns the suggestion ids,
/// each lecture's together, so concurrent clicks meet on lectures as
/// reviewers working through one channel do.
async fn seed(admin: &PgPool, airtable: &FakeAirtable) -> Result<Vec<i64>, BoxError> {
    sqlx::query(
        "INSERT INTO tags (tag_id, name) SELECT 't' || n, 'תגית ' || n FROM generate_series(1, $1) n",
    )
    .bind(TAGS)
    .execute(admin)
    .await?;
    sqlx::query(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'L' || lpad(n::text, 5, '0'), 'הרצאה ' || n FROM generate_series(1, $1) n",
    )
    .bind(LECTURES)
    .execute(admin)
    .await?;
    sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, rationale, suggested_by)
         SELECT l.lecture_external_id, t.tag_id, 0.5 + random() / 2, 'הסבר', 'bench-model'
         FROM enriched_lectures l CROSS JOIN tags t",
    )
    .execute(admin)
    .await?;
    for n in 1..=TAGS {
        airtable.add_tag(&format!("t{n}"), &format!("תגית {n}"));
    }
    for n in 1..=LECTURES {
        airtable.add_lecture(&format!("L{n:05}"), "הרצאה");
    }
    Ok(sqlx::query_scalar(
        "SELECT id FROM lecture_tag_suggestions ORDER BY lecture_external_id, id",
    )
    .fetch_all(admin)
    .await?)
}

/// Each lecture's review message, as if `serve` had posted them all
/// before the bench (posting 8,000 at Slack's one per second per channel
/// would take two hours): the message in the Slack stand-in and its
/// reference in tagbot's table, as the poster records it. A click names its
/// message, and tagbot acts only on clicks on the clicked lecture's own.
async fn seed_messages(
    admin: &PgPool,
    slack: &FakeSlack,
    suggestions: Vec<i64>,
) -> Result<Vec<(i64, String)>, BoxError> {
    let lectures: Vec<String> =
        sqlx::query_scalar("SELECT lecture_external_id FROM enriched_lectures ORDER BY 1")
            .fetch_all(admin)
            .await?;
    let mut message_of = std::collections::HashMap::new();
    for lecture in lectures {
        let ts = slack.add_message(REVIEW, &format!("Lecture {lecture}"));
        sqlx::query(
            "INSERT INTO slack_review_messages
                 (lecture_external_id, channel, ts, rendered_version, posted_at, opened_at)
             VALUES ($1, $2, $3, 1, now(), now())",
        )
        .bind(&lecture)
        .bind(REVIEW)
        .bind(&ts)
        .execute(admin)
        .await?;
        message_of.insert(lecture, ts);
    }
    let by_lecture: Vec<(i64, String)> = sqlx::query_as(
        "SELECT id, lecture_external_id FROM lecture_tag_suggestions WHERE id = ANY($1)",
    )
    .bind(&suggestions)
    .fetch_all(admin)
    .await?;
    let lecture_of: std::collections::HashMap<i64, String> = by_lecture.into_iter().collect();
    Ok(suggestions
        .into_iter()
        .filter_map(|id| {
            let ts = message_of.get(lecture_of.get(&id)?)?.clone();
            Some((id, ts))
        })
        .collect())
}

async fn wait_healthy(http: &reqwest::Client, listen: &str) -> Result<(), BoxError> {
    for _ in 0..200 {
        let up = http.get(format!("http://{listen}/readyz")).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("tagbot serve did not become ready in 10 s".into())
}

/// One reviewer clicking Approve on the next pending suggestion.
struct Clicker<'a> {
    http: &'a reqwest::Client,
    /// Mints each click's trigger id and response URL, as Slack would.
    slack: &'a FakeSlack,
    url: &'a str,
    user: &'a str,
    next: &'a AtomicUsize,
    /// Each suggestion with the `ts` of its lecture's review message.
    suggestions: &'a [(i64, String)],
}

impl Clicker<'_> {
    /// Clicks until `deadline`, one click per `pace` when given: each
    /// click's time to acknowledgement, and how many were refused.
    async fn until(
        &self,
        deadline: Instant,
        pace: Option<Duration>,
    ) -> Result<(Vec<Duration>, usize), BoxError> {
        let mut acks = Vec::new();
        let mut refused = 0;
        while Instant::now() < deadline {
            let Some(click) = self
                .suggestions
                .get(self.next.fetch_add(1, Ordering::Relaxed))
            else {
                break;
            };
            let (id, ts) = click;
            let body = click_body(self.user, *id, ts, &self.slack.mint(REVIEW, self.user));
            let timestamp = unix_now().to_string();
            let signature = slack_signature(SECRET, &timestamp, body.as_bytes());
            let sent = Instant::now();
            let response = self
                .http
                .post(self.url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signature)
                .body(body)
                .send()
                .await?;
            let status = response.status();
            response.bytes().await?;
            if status.is_success() {
                acks.push(sent.elapsed());
            } else {
                refused += 1;
            }
            if let Some(pace) = pace {
                tokio::time::sleep_until((sent + pace).into()).await;
            }
        }
        Ok((acks, refused))
    }
}

/// A `block_actions` body approving suggestion `id`, to be signed.
fn click_body(user: &str, id: i64, message_ts: &str, minted: &Minted) -> String {
    let payload = block_actions(
        user,
        REVIEW,
        message_ts,
        minted,
        actions::APPROVE,
        json!({ "value": id.to_string() }),
        json!({}),
    );
    interaction_body(&payload)
}

/// Whether the bench runs with the second-opinion band on.
fn second_opinion() -> bool {
    std::env::args().any(|arg| arg == "--second-opinion")
}

/// Approvals made and approve votes cast: each click makes one.
async fn approvals(admin: &PgPool) -> Result<i64, BoxError> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM events WHERE action = 'approve')
              + (SELECT count(*) FROM review_votes WHERE verdict = 'approve')",
    )
    .fetch_one(admin)
    .await?)
}

/// Waits until every acknowledged click's decision is in the database (or
/// nothing moves for 5 s), and returns how many this phase applied.
async fn drain(admin: &PgPool, before: i64, clicks: usize) -> Result<i64, BoxError> {
    let mut last = -1;
    let mut still = Instant::now();
    loop {
        let applied = approvals(admin).await? - before;
        if applied as usize >= clicks {
            return Ok(applied);
        }
        if applied != last {
            last = applied;
            still = Instant::now();
        } else if still.elapsed() > Duration::from_secs(5) {
            return Ok(applied);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The process's peak resident set size, from /proc.
fn peak_memory_kib(pid: u32) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/<pid>/status".into())
}
