//! Review at catalogue scale (issue "Review at catalogue scale"): 10,000
//! lectures × 5 suggestions imported in one go, against the Slack stand-in
//! with Slack's rate tiers, with tagbot's endpoints and its poster running
//! in this process.
//!
//! Measured: how soon the first review message is posted after the import
//! finishes, and the most open lectures the channel ever held (sampled
//! every 100 ms; the limit is `TAGBOT_REVIEW_OPEN_LIMIT`, 20); then 20
//! reviewers working review sessions at once, deciding every tag of each
//! lecture they are shown: the time from a submit to the next lecture's
//! view (Slack allows 3 s), lectures decided per minute in all, and whether
//! any lecture was served to two reviewers; last, the App Home's publish
//! time at that size.
//!
//! Run with `scripts/bench --bench review_scale`.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::PgPool;
use standins::scratch::Playground;
use standins::sender::{interaction_body, view_submission, SlackSender};
use standins::slack::{FakeSlack, OpenedView, RateLimits};
use tagbot::config::{Env, ReviewSettings, SlackSettings};
use tagbot::shutdown::Shutdown;
use tagbot::slack::app::SlackApp;
use tagbot::slack::card::actions;
use tagbot::slack::{handlers::home, output::poster};
use tagbot::startup::{Application, Parts};

const LECTURES: usize = 10_000;
const TAGS_PER_LECTURE: usize = 5;
const REVIEWERS: usize = 20;
const SESSIONS_FOR: Duration = Duration::from_secs(60);
const HOME_SAMPLES: usize = 20;
const START_EVERY: Duration = Duration::from_secs(1);
const BOT_TOKEN: &str = "xoxb-1234567890-tagbotbenchtoken";
const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const REVIEW: &str = "C0REVIEW01";
const REPORT: &str = "C0REPORT01";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    Playground::bench(
        "tagbot_bench_scale",
        &tagbot::storage::MIGRATOR,
        tagbot::storage::RUNTIME_ROLE,
        run,
    )
    .await
}

fn reviewer(n: usize) -> String {
    format!("U0SCALE{n:03}")
}

async fn run(playground: &Playground) -> Result<(), BoxError> {
    seed_catalogue(&playground.admin).await?;
    let slack = FakeSlack::start(BOT_TOKEN, RateLimits::default()).await?;
    slack.add_channel(REVIEW, "tag-review", true);
    slack.add_channel(REPORT, "tag-reports", true);
    for n in 0..REVIEWERS {
        slack.add_user(&reviewer(n), &format!("סוקר {n}"));
    }
    let pool = PgPool::connect(&playground.app_url()?).await?;
    let settings = SlackSettings::from_env(&Env::from_pairs([
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("SLACK_SIGNING_SECRET", SECRET),
        ("SLACK_API_URL", slack.url.as_str()),
        ("SLACK_REVIEW_CHANNEL", REVIEW),
        ("SLACK_REPORT_CHANNEL", REPORT),
    ]))?;
    let open_limit = settings.open_limit;
    let mut settings = settings;
    settings.listen = "127.0.0.1:0".parse()?;
    let endpoints = Application::build(
        pool.clone(),
        settings,
        ReviewSettings::default(),
        Parts::Endpoints,
    )
    .await?;
    let app = endpoints.app().clone();
    let base = format!("http://127.0.0.1:{}", endpoints.port()?);
    tokio::spawn(endpoints.run_until_stopped(Shutdown::never()));
    let (stop, shutdown) = Shutdown::manual();
    let poster_app = app.clone();
    let poster = tokio::spawn(async move {
        poster::run_until_shutdown(&poster_app, "bench-poster", &shutdown).await
    });

    // The import, and the first message.
    let file = import_file()?;
    let started = Instant::now();
    let imported = tagbot::intake::import_file(&pool, file.path()).await?;
    let import_took = started.elapsed();
    let import_done = Instant::now();
    let sampler = OpenSampler::start(pool.clone());
    while slack.messages(REVIEW).is_empty() {
        if import_done.elapsed() > Duration::from_secs(30) {
            return Err("no review message within 30 s of the import".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first_post = import_done.elapsed();
    println!("import: {imported} in {:.1} s", import_took.as_secs_f64());
    println!(
        "first review message posted {:.0} ms after the import finished",
        ms(first_post)
    );

    let sessions = run_sessions(&base, &slack).await?;
    let most_open = sampler.stop().await;
    sessions.print();
    println!(
        "review channel: at most {most_open} open lecture(s) at any sample (limit {open_limit}); {} messages posted in all",
        slack.messages(REVIEW).len()
    );

    let home_times = time_home(&app).await?;
    println!(
        "App Home publish ({} samples, {LECTURES} lectures): p50 {:.1} ms, p99 {:.1} ms (figures and render: p50 {:.1} ms, p99 {:.1} ms)",
        HOME_SAMPLES,
        percentile(&home_times.0, 0.50),
        percentile(&home_times.0, 0.99),
        percentile(&home_times.1, 0.50),
        percentile(&home_times.1, 0.99),
    );
    let _ = stop.send(true);
    let _ = poster.await;
    Ok(())
}

async fn seed_catalogue(admin: &PgPool) -> Result<(), BoxError> {
    sqlx::query(
        "INSERT INTO enriched_lectures (lecture_external_id, title)
         SELECT 'L' || lpad(n::text, 5, '0'), 'הרצאה מספר ' || n FROM generate_series(1, $1) n",
    )
    .bind(i64::try_from(LECTURES)?)
    .execute(admin)
    .await?;
    sqlx::query(
        "INSERT INTO tags (tag_id, name)
         SELECT 't' || n, 'תגית ' || n FROM generate_series(1, $1) n",
    )
    .bind(i64::try_from(TAGS_PER_LECTURE)?)
    .execute(admin)
    .await?;
    Ok(())
}

/// 50,000 suggestions as `tagbot import` reads them.
fn import_file() -> Result<tempfile::NamedTempFile, BoxError> {
    let mut file = tempfile::NamedTempFile::new()?;
    for lecture in 1..=LECTURES {
        for tag in 1..=TAGS_PER_LECTURE {
            let score = 0.5 + (lecture * 7 + tag * 13) as f64 % 50.0 / 100.0;
            writeln!(
                file,
                "{}",
                json!({ "lecture_id": format!("L{lecture:05}"), "tag_id": format!("t{tag}"),
                        "score": score, "rationale": "הסבר קצר", "model": "tagger-v2" })
            )?;
        }
    }
    file.flush()?;
    Ok(file)
}

/// Samples how many lectures have an open review message (posted, with
/// something pending) every 100 ms.
struct OpenSampler {
    running: Arc<AtomicBool>,
    most: Arc<AtomicI64>,
    task: tokio::task::JoinHandle<()>,
}

impl OpenSampler {
    fn start(pool: PgPool) -> OpenSampler {
        let running = Arc::new(AtomicBool::new(true));
        let most = Arc::new(AtomicI64::new(0));
        let (r, m) = (running.clone(), most.clone());
        let task = tokio::spawn(async move {
            while r.load(Ordering::Relaxed) {
                let open: Result<i64, _> = sqlx::query_scalar(
                    "SELECT count(*) FROM slack_review_messages m WHERE m.ts IS NOT NULL
                       AND EXISTS (SELECT 1 FROM lecture_tag_suggestions s
                                   WHERE s.lecture_external_id = m.lecture_external_id
                                     AND s.status = 'pending')",
                )
                .fetch_one(&pool)
                .await;
                if let Ok(open) = open {
                    m.fetch_max(open, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        OpenSampler {
            running,
            most,
            task,
        }
    }

    async fn stop(self) -> i64 {
        self.running.store(false, Ordering::Relaxed);
        let _ = self.task.await;
        self.most.load(Ordering::Relaxed)
    }
}

/// What the 20 reviewers' sessions did.
struct Sessions {
    latencies_ms: Vec<f64>,
    decided: usize,
    elapsed: Duration,
    served_twice: usize,
    refused: usize,
}

impl Sessions {
    fn print(&self) {
        let per_minute = self.decided as f64 / self.elapsed.as_secs_f64() * 60.0;
        println!(
            "review sessions: {REVIEWERS} reviewers for {:.1} s: {} lectures decided ({per_minute:.0}/min in all), {} refused",
            self.elapsed.as_secs_f64(),
            self.decided,
            self.refused,
        );
        println!(
            "  submit → next lecture's view: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&self.latencies_ms, 0.50),
            percentile(&self.latencies_ms, 0.99),
            percentile(&self.latencies_ms, 1.0),
        );
        println!("  lectures served to two reviewers: {}", self.served_twice);
    }
}

async fn run_sessions(base: &str, slack: &FakeSlack) -> Result<Sessions, BoxError> {
    let started = Instant::now();
    let mut reviewers = Vec::new();
    for n in 0..REVIEWERS {
        let (base, slack) = (base.to_owned(), slack.clone());
        reviewers.push(tokio::spawn(async move {
            review(&base, &slack, &reviewer(n)).await
        }));
        // Reviewers start a second apart, as people do: opening a modal is
        // views.open, Tier 4, and a trigger lasts 3 s.
        tokio::time::sleep(START_EVERY).await;
    }
    let mut latencies_ms = Vec::new();
    let mut served: HashMap<String, usize> = HashMap::new();
    let (mut decided, mut refused) = (0, 0);
    for handle in reviewers {
        let outcome = handle.await??;
        latencies_ms.extend(outcome.latencies_ms);
        decided += outcome.decided;
        refused += outcome.refused;
        for lecture in outcome.served {
            *served.entry(lecture).or_default() += 1;
        }
    }
    Ok(Sessions {
        latencies_ms,
        decided,
        elapsed: started.elapsed(),
        served_twice: served.values().filter(|n| **n > 1).count(),
        refused,
    })
}

#[derive(Default)]
struct Reviewed {
    latencies_ms: Vec<f64>,
    decided: usize,
    refused: usize,
    served: Vec<String>,
}

/// One reviewer: opens a session, then decides every tag of each lecture
/// shown (approve the first, reject the rest) until the time is up.
async fn review(base: &str, slack: &FakeSlack, user: &str) -> Result<Reviewed, BoxError> {
    let sender = SlackSender::new(base, SECRET);
    let minted = slack.mint(REVIEW, user);
    sender.command(user, REVIEW, "review", &minted).await?;
    let opened = Instant::now();
    let mut view = loop {
        let found = slack
            .views()
            .into_iter()
            .find(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()));
        match found {
            Some(view) => break view,
            None if opened.elapsed() > Duration::from_secs(5) => {
                return Err(format!("{user}'s session did not open").into())
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut reviewed = Reviewed::default();
    let deadline = Instant::now() + SESSIONS_FOR;
    while Instant::now() < deadline {
        let Some(lecture) = shown_lecture(&view) else {
            break;
        };
        reviewed.served.push(lecture);
        let payload = view_submission(user, &view, &slack.mint(REVIEW, user), choices(&view));
        let asked = Instant::now();
        let (status, body) = sender
            .send("/slack/interactions", interaction_body(&payload))
            .await?;
        reviewed.latencies_ms.push(ms(asked.elapsed()));
        if status != 200 {
            return Err(format!("a submit answered HTTP {status}").into());
        }
        let answer: Value = serde_json::from_str(&body)?;
        match answer["response_action"].as_str() {
            Some("update") => {
                reviewed.decided += 1;
                view = shown_as(&view, answer["view"].clone());
            }
            Some("errors") => {
                reviewed.refused += 1;
                break;
            }
            _ => return Err(format!("an unexpected answer: {answer}").into()),
        }
    }
    Ok(reviewed)
}

fn shown_lecture(view: &OpenedView) -> Option<String> {
    let state: Value = serde_json::from_str(view.view["private_metadata"].as_str()?).ok()?;
    state["l"].as_str().map(str::to_owned)
}

/// The modal as Slack shows it after a `response_action: update`.
fn shown_as(view: &OpenedView, next: Value) -> OpenedView {
    let mut shown = view.clone();
    shown.view = next;
    shown
}

/// Approve the first tag shown, reject the others.
fn choices(view: &OpenedView) -> Value {
    let mut values = json!({});
    let blocks = view.view["blocks"].as_array().cloned().unwrap_or_default();
    let choice_blocks = blocks
        .iter()
        .filter_map(|b| b["block_id"].as_str())
        .filter(|id| id.starts_with("choice:"));
    for (n, block_id) in choice_blocks.enumerate() {
        let pick = if n == 0 { "approve" } else { "reject" };
        values[block_id] = json!({ actions::SESSION_CHOICE: {
            "type": "radio_buttons", "selected_option": { "value": pick } } });
    }
    values
}

/// Publishes a reviewer's Home tab `HOME_SAMPLES` times, spaced beyond
/// views.publish's Tier 4 so that pacing does not count: (publish in all,
/// figures and render only), in ms.
async fn time_home(app: &SlackApp) -> Result<(Vec<f64>, Vec<f64>), BoxError> {
    let (mut publish, mut figures) = (Vec::new(), Vec::new());
    for _ in 0..HOME_SAMPLES {
        let started = Instant::now();
        let view = tagbot::slack::render::home_view(&home::figures(app, &reviewer(0)).await?);
        figures.push(ms(started.elapsed()));
        assert!(view["blocks"].as_array().is_some_and(|b| b.len() <= 100));
        let started = Instant::now();
        home::publish(app, &reviewer(0)).await?;
        publish.push(ms(started.elapsed()));
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    Ok((publish, figures))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
