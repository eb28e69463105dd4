//! `tagbot demo`: the whole product in under a minute on a machine with
//! nothing configured. It makes a throw-away database on the local (or
//! `DATABASE_URL`'s) Postgres, imports a small catalogue's suggestions,
//! starts the Slack and Airtable stand-ins on loopback, and runs the real
//! parts against them: the poster, the Slack endpoints (reviewers' clicks
//! arrive signed, as from Slack), the review operations, the sync worker,
//! the run report and the report channel. It prints what a reviewer and an
//! operator would see, then removes everything it made.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use chrono::Utc;

use serde_json::{json, Value};

use crate::config::{AirtableSettings, Env, ReviewSettings, SlackSettings, SyncSettings};
use crate::domain::SuggestionStatus;
use crate::shutdown::Shutdown;
use crate::slack::app::SlackApp;
use crate::slack::card::actions;
use crate::slack::{output::notify, output::poster};
use crate::startup::{Application, Parts};
use crate::storage::{catalogue, events, suggestions, DbError};
use crate::sync::Syncer;
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
use standins::scratch::{Login, Playground};
use standins::sender::{block_actions, SlackSender};
use standins::slack::{FakeSlack, RateLimits};

const REVIEW: &str = "C0REVIEW01";
const REPORT: &str = "C0REPORT01";
const BOT_TOKEN: &str = "xoxb-0000000000-tagbotdemotoken";
const SIGNING_SECRET: &str = "demo0signing0secret0not0real000";
const AIRTABLE_TOKEN: &str = "patDemo0000000001.0123456789abcdef0123456789abcdef";
const BASE_ID: &str = "appDEMOBASE000001";
const DANA: (&str, &str) = ("U0DANA0001", "דנה");
const YOSSI: (&str, &str) = ("U0YOSSI001", "יוסי");

/// The catalogue: (lecture id, title).
const LECTURES: [(&str, &str); 3] = [
    ("L1042", "סוקרטס והשאלה הטובה"),
    ("L2077", "ירושלים בימי הבית השני"),
    ("L3150", "מבוא לתורת המשחקים"),
];
/// (tag id, Hebrew name).
const TAGS: [(&str, &str); 7] = [
    ("philosophy", "פילוסופיה"),
    ("ethics", "אתיקה"),
    ("history", "היסטוריה"),
    ("archaeology", "ארכיאולוגיה"),
    ("economics", "כלכלה"),
    ("math", "מתמטיקה"),
    ("art", "אמנות"),
];
/// The model's suggestions: (lecture, tag, score, rationale).
const SUGGESTIONS: [(&str, &str, f64, &str); 8] = [
    (
        "L1042",
        "philosophy",
        0.97,
        "ההרצאה עוסקת בשיטה הסוקרטית ובדיאלוגים של אפלטון",
    ),
    ("L1042", "ethics", 0.81, "דיון בשאלת החיים הטובים והצדק"),
    ("L1042", "math", 0.22, "מוזכרת גיאומטריה בדיאלוג מנון"),
    ("L2077", "history", 0.95, "סקירה של התקופה ההרודיאנית"),
    ("L2077", "archaeology", 0.91, "ממצאי חפירות עיר דוד"),
    ("L2077", "art", 0.64, "אמנות ואדריכלות המקדש"),
    (
        "L3150",
        "economics",
        0.93,
        "שיווי משקל נאש ויישומים בשווקים",
    ),
    ("L3150", "math", 0.90, "הגדרות פורמליות והוכחות"),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo needs a Postgres role that may create databases and roles (set DATABASE_URL to one, or run scripts/demo): {0}")]
    Database(#[from] DbError),
    #[error("the demo needs a Postgres role that may create databases and roles (set DATABASE_URL to one, or run scripts/demo): {0}")]
    Scratch(#[from] standins::scratch::ScratchError),
    #[error("{0}")]
    Step(String),
}

fn step(what: &str) -> impl Fn(String) -> DemoError + '_ {
    move |err| DemoError::Step(format!("{what}: {err}"))
}

/// Runs the demo on the Postgres at `server_url`, printing as it goes.
pub async fn run(server_url: &str) -> Result<(), DemoError> {
    let password = format!("demo-{:016x}", rand::random::<u64>());
    let login = Login {
        role: "tagbot_demo_app".into(),
        password,
        member_of: crate::storage::RUNTIME_ROLE.into(),
    };
    let playground =
        Playground::create(server_url, "tagbot_demo", &crate::storage::MIGRATOR, login).await?;
    say(&format!(
        "== tagbot demo ==\nA throw-away database {} on your Postgres, Slack and Airtable stand-ins on loopback.\n",
        playground.scratch.name
    ));
    let result = act(&playground).await;
    let removed = playground.remove().await;
    result?;
    removed?;
    say("\nDone: the demo database and the stand-ins are gone. Next: scripts/test, then README \"Setting up\".");
    Ok(())
}

fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

async fn act(playground: &Playground) -> Result<(), DemoError> {
    let app_url = playground.app_url()?;
    seed_catalogue(playground).await?;
    let pool = crate::storage::connect_runtime_with(playground.app_options(), 5).await?;
    import_suggestions(&pool).await?;

    let slack = FakeSlack::start(BOT_TOKEN, RateLimits::default())
        .await
        .map_err(|e| DemoError::Step(format!("starting the Slack stand-in: {e}")))?;
    slack.add_channel(REVIEW, "tag-review", true);
    slack.add_channel(REPORT, "tag-reports", true);
    slack.add_user(DANA.0, DANA.1);
    slack.add_user(YOSSI.0, YOSSI.1);
    let airtable = FakeAirtable::start(
        BASE_ID,
        AIRTABLE_TOKEN,
        TagsFieldKind::Linked,
        RateLimit::default(),
    )
    .await
    .map_err(|e| DemoError::Step(format!("starting the Airtable stand-in: {e}")))?;
    let records = seed_airtable(&airtable);

    let env = Env::from_pairs([
        ("DATABASE_URL", app_url.as_str()),
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_API_URL", slack.url.as_str()),
        ("SLACK_REVIEW_CHANNEL", REVIEW),
        ("SLACK_REPORT_CHANNEL", REPORT),
        ("AIRTABLE_TOKEN", AIRTABLE_TOKEN),
        ("AIRTABLE_BASE_ID", BASE_ID),
        ("AIRTABLE_API_URL", airtable.url.as_str()),
        // Loopback, on a free port: the demo's endpoints are its own.
        ("TAGBOT_LISTEN", "127.0.0.1:0"),
    ]);
    say("\n-- 0. tagbot doctor, pointed at the stand-ins --");
    let diagnosis = crate::doctor::diagnose(&env).await;
    say(&diagnosis.to_string());
    if !diagnosis.healthy() {
        return Err(DemoError::Step(
            "tagbot doctor found problems with the demo setup".into(),
        ));
    }
    let outcome = review_and_sync(&env, &pool, &slack, &airtable, &records).await;
    slack.shutdown();
    airtable.shutdown();
    pool.close().await;
    outcome
}

async fn seed_catalogue(playground: &Playground) -> Result<(), DemoError> {
    catalogue::seed(&playground.admin, &LECTURES, &TAGS)
        .await
        .map_err(DbError::Query)?;
    say(&format!(
        "Catalogue: {} lectures, {} Hebrew tags.",
        LECTURES.len(),
        TAGS.len()
    ));
    Ok(())
}

/// Suggestions arrive as the tagging pipeline hands them over: a JSON
/// Lines file through `tagbot import`.
async fn import_suggestions(pool: &sqlx::PgPool) -> Result<(), DemoError> {
    let mut lines = String::new();
    for (lecture, tag, score, rationale) in SUGGESTIONS {
        let line = json!({ "lecture_id": lecture, "tag_id": tag, "score": score, "rationale": rationale, "model": "tagger-v2" });
        let _ = writeln!(lines, "{line}");
    }
    let path = std::env::temp_dir().join(format!("tagbot-demo-{}.jsonl", std::process::id()));
    std::fs::write(&path, lines)
        .map_err(|e| DemoError::Step(format!("writing {}: {e}", path.display())))?;
    let imported = crate::intake::import_file(pool, &path).await;
    let _ = std::fs::remove_file(&path);
    let imported = imported.map_err(|e| DemoError::Step(format!("importing suggestions: {e}")))?;
    say(&format!("tagbot import: {imported}"));
    Ok(())
}

/// Record ids in the Airtable stand-in, in catalogue order.
struct Records {
    lectures: Vec<String>,
    tags: Vec<String>,
}

/// Airtable's Lectures and Tags tables; a person already tagged L2077 with
/// "art" by hand.
fn seed_airtable(airtable: &FakeAirtable) -> Records {
    let tag_records: Vec<String> = TAGS
        .iter()
        .map(|(id, name)| airtable.add_tag(id, name))
        .collect();
    let records: Vec<String> = LECTURES
        .iter()
        .map(|(id, title)| airtable.add_lecture(id, title))
        .collect();
    if let (Some(record), Some(art)) = (records.get(1), tag_records.last()) {
        airtable.set_cell("Lectures", record, "Tags", json!([art]));
    }
    Records {
        lectures: records,
        tags: tag_records,
    }
}

async fn review_and_sync(
    env: &Env,
    pool: &sqlx::PgPool,
    slack: &FakeSlack,
    airtable: &FakeAirtable,
    records: &Records,
) -> Result<(), DemoError> {
    let settings = SlackSettings::from_env(env).map_err(|e| DemoError::Step(e.to_string()))?;
    let airtable_settings =
        AirtableSettings::from_env(env).map_err(|e| DemoError::Step(e.to_string()))?;
    let syncer = Syncer::new(pool.clone(), airtable_settings, SyncSettings::default())
        .map_err(|e| step("the sync worker")(e.to_string()))?;
    // The demo syncs right after its clicks: no undo window holds them.
    let review = ReviewSettings {
        undo_window: std::time::Duration::ZERO,
        ..ReviewSettings::default()
    };
    let endpoints = Application::build(pool.clone(), settings, review, Parts::Endpoints)
        .await
        .map_err(|e| DemoError::Step(format!("the Slack app: {e}")))?;
    let app = endpoints.app().clone();
    let base = endpoints
        .port()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .map_err(|e| DemoError::Step(e.to_string()))?;
    let (stop, shutdown) = Shutdown::manual();
    let server = tokio::spawn(async move { endpoints.run_until_stopped(shutdown).await });
    let stage = Stage {
        app: &app,
        pool,
        slack,
        airtable,
        records,
        sender: SlackSender::new(&base, SIGNING_SECRET),
    };
    let outcome = scenario(&stage, &syncer).await;
    let _ = stop.send(true);
    let _ = server.await;
    outcome
}

/// What the demo's scenes play on.
struct Stage<'a> {
    app: &'a SlackApp,
    pool: &'a sqlx::PgPool,
    slack: &'a FakeSlack,
    airtable: &'a FakeAirtable,
    records: &'a Records,
    /// Signs requests into tagbot as Slack does.
    sender: SlackSender,
}

async fn scenario(stage: &Stage<'_>, syncer: &Syncer) -> Result<(), DemoError> {
    say("\n-- 1. The poster puts each lecture with pending suggestions in #tag-review --");
    poster::run_once(stage.app, "demo")
        .await
        .map_err(|e| step("posting")(e.to_string()))?;
    for message in stage.slack.messages(REVIEW) {
        say(&as_text(&message));
    }
    reviewers_click(stage).await?;
    sync_and_report(stage, syncer).await
}

/// Scene 2: reviewers decide, one of them too late, and ask what is left.
async fn reviewers_click(stage: &Stage<'_>) -> Result<(), DemoError> {
    say("-- 2. Reviewers click (signed requests into tagbot's /slack/interactions, as Slack sends them) --");
    let philosophy = suggestion_id(stage.pool, "L1042", "philosophy")
        .await?
        .to_string();
    let math = suggestion_id(stage.pool, "L1042", "math")
        .await?
        .to_string();
    click(stage, DANA.0, "L1042", actions::APPROVE, &philosophy).await?;
    say(&format!("{} approves פילוסופיה on L1042.", DANA.1));
    click(stage, YOSSI.0, "L1042", actions::REJECT, &math).await?;
    say(&format!(
        "{} rejects מתמטיקה on L1042 (score 0.22).",
        YOSSI.1
    ));
    click(stage, DANA.0, "L2077", actions::APPROVE_TOP, "L2077").await?;
    say(&format!(
        "{} clicks \"Approve all ≥ 0.88\" on L2077: היסטוריה 0.95 and ארכיאולוגיה 0.91.",
        DANA.1
    ));
    click(stage, YOSSI.0, "L3150", actions::APPROVE_TOP, "L3150").await?;
    say(&format!(
        "{} clicks \"Approve all ≥ 0.88\" on L3150.",
        YOSSI.1
    ));
    wait_for_decisions(stage.pool, 6).await?;
    too_late_and_what_is_left(stage, &philosophy).await
}

/// The end of scene 2: a click on a suggestion already decided, told
/// privately, and `/tags pending`.
async fn too_late_and_what_is_left(stage: &Stage<'_>, philosophy: &str) -> Result<(), DemoError> {
    let slack = stage.slack;
    click(stage, YOSSI.0, "L1042", actions::APPROVE, philosophy).await?;
    wait_until(|| !slack.ephemerals().is_empty()).await?;
    for told in slack.ephemerals() {
        say(&format!(
            "{} clicks Approve on פילוסופיה too late and sees, privately: \"{}\"",
            YOSSI.1,
            told.text.unwrap_or_default()
        ));
    }
    let answer = stage
        .sender
        .command(DANA.0, REVIEW, "pending", &slack.mint(REVIEW, DANA.0))
        .await
        .map_err(|e| step("/tags pending")(e.to_string()))?;
    say(&format!(
        "{} types /tags pending:\n{}",
        DANA.1,
        unlink(&answer)
    ));
    Ok(())
}

/// Scenes 3 to 7: the sync, Airtable before and after, the messages and
/// the report channel.
async fn sync_and_report(stage: &Stage<'_>, syncer: &Syncer) -> Result<(), DemoError> {
    let (app, pool, slack) = (stage.app, stage.pool, stage.slack);
    let (airtable, records) = (stage.airtable, stage.records);
    say("\n-- 3. Airtable before the sync --");
    say(&airtable_view(airtable, records));

    say("-- 4. The sync worker takes the approved tags to Airtable --");
    let report = syncer
        .run_once(&Shutdown::never())
        .await
        .map_err(|e| step("syncing")(e.to_string()))?;
    say(&report.to_string());

    say("-- 5. Airtable after: the approved tags are added; the tag a person put on L2077 (אמנות) is still there --");
    say(&airtable_view(airtable, records));

    say("-- 6. The review messages now show who decided and what reached Airtable --");
    poster::run_once(app, "demo")
        .await
        .map_err(|e| step("updating messages")(e.to_string()))?;
    if let Some(message) = slack.messages(REVIEW).first() {
        say(&as_text(message));
    }

    say("-- 7. #tag-reports gets the run report (and would get failures and the daily digest) --");
    notify::run_once(app, chrono::Utc::now())
        .await
        .map_err(|e| step("posting to the report channel")(e.to_string()))?;
    for message in slack.messages(REPORT) {
        say(&as_text(&message));
    }
    let synced = suggestions::count_in(pool, SuggestionStatus::Synced)
        .await
        .map_err(DbError::Query)?;
    if synced == 0 {
        return Err(DemoError::Step("nothing reached Airtable".into()));
    }
    say(&format!(
        "{synced} tags synced; every decision is in the audit log (table events)."
    ));
    Ok(())
}

/// `user` clicks `action_id` on `lecture`'s review message, signed as
/// Slack signs it.
async fn click(
    stage: &Stage<'_>,
    user: &str,
    lecture: &str,
    action_id: &str,
    value: &str,
) -> Result<(), DemoError> {
    let ts = message_ts(stage.pool, lecture).await?;
    let payload = block_actions(
        user,
        REVIEW,
        &ts,
        &stage.slack.mint(REVIEW, user),
        action_id,
        json!({ "value": value }),
        json!({}),
    );
    match stage.sender.interact(&payload).await {
        Ok(200) => Ok(()),
        Ok(status) => Err(DemoError::Step(format!(
            "tagbot answered a click with HTTP {status}"
        ))),
        Err(err) => Err(DemoError::Step(format!("clicking: {err}"))),
    }
}

async fn suggestion_id(pool: &sqlx::PgPool, lecture: &str, tag: &str) -> Result<i64, DemoError> {
    suggestions::id_of(pool, lecture, tag)
        .await
        .map_err(DbError::Query)?
        .ok_or_else(|| DemoError::Step(format!("no suggestion of {tag} for {lecture}")))
}

async fn message_ts(pool: &sqlx::PgPool, lecture: &str) -> Result<String, DemoError> {
    crate::storage::review_messages::message_for(pool, lecture)
        .await
        .map_err(DbError::Query)?
        .map(|message| message.ts)
        .ok_or_else(|| DemoError::Step(format!("lecture {lecture} was not posted")))
}

/// Waits (up to 10 s) until `count_sql` reaches `at_least`: clicks are
/// handled right after they are acknowledged.
async fn wait_for_decisions(pool: &sqlx::PgPool, at_least: i64) -> Result<(), DemoError> {
    for _ in 0..200 {
        let (approved, rejected) =
            events::decisions_between(pool, Utc::now() - chrono::TimeDelta::days(1), Utc::now())
                .await
                .map_err(DbError::Query)?;
        if approved + rejected >= at_least {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(DemoError::Step(format!(
        "timed out waiting for {at_least} decisions"
    )))
}

async fn wait_until(done: impl Fn() -> bool) -> Result<(), DemoError> {
    for _ in 0..200 {
        if done() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(DemoError::Step("timed out waiting for Slack".into()))
}

/// The Lectures table as a person would read it: tag names per lecture.
fn airtable_view(airtable: &FakeAirtable, records: &Records) -> String {
    let tag_names: Vec<(&String, &str)> = records
        .tags
        .iter()
        .zip(TAGS.iter().map(|(_, name)| *name))
        .collect();
    let mut out = String::new();
    for ((lecture, title), record) in LECTURES.iter().zip(&records.lectures) {
        let cell = airtable.cell("Lectures", record, "Tags");
        let names: Vec<String> = cell
            .as_array()
            .map(|ids| {
                ids.iter()
                    .filter_map(Value::as_str)
                    .map(|id| {
                        tag_names
                            .iter()
                            .find(|(record, _)| record.as_str() == id)
                            .map_or_else(|| id.to_owned(), |(_, name)| (*name).to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        let shown = if names.is_empty() {
            "—".to_owned()
        } else {
            names.join(", ")
        };
        let _ = writeln!(out, "  {lecture} {title}: {shown}");
    }
    out
}

/// Slack's `<target|label>` links and dates as their label.
fn unlink(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &rest[start + 1..start + end];
        out.push_str(inner.split_once('|').map_or(inner, |(_, label)| label));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    // Terminals show Slack's directional isolates as boxes; drop them.
    out.replace(['\u{2068}', '\u{2069}'], "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A Block Kit message as plain text, roughly as Slack shows it.
fn as_text(message: &Value) -> String {
    let mut out = String::new();
    for block in message["blocks"].as_array().into_iter().flatten() {
        match block["type"].as_str().unwrap_or_default() {
            "header" => {
                let _ = writeln!(
                    out,
                    "┃ {}",
                    block["text"]["text"].as_str().unwrap_or_default()
                );
            }
            "section" => {
                if let Some(text) = block["text"]["text"].as_str() {
                    let _ = writeln!(out, "  {}", unlink(text).replace('\n', "\n  "));
                }
                for field in block["fields"].as_array().into_iter().flatten() {
                    let _ = writeln!(
                        out,
                        "    {}",
                        unlink(field["text"].as_str().unwrap_or_default())
                    );
                }
            }
            "context" => {
                let parts: Vec<&str> = block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"].as_str())
                    .collect();
                let _ = writeln!(out, "  {}", unlink(&parts.join("  ")));
            }
            "actions" => {
                let buttons: Vec<String> = block["elements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["text"]["text"].as_str())
                    .map(|label| format!("[{label}]"))
                    .collect();
                let _ = writeln!(out, "  {}", buttons.join(" "));
            }
            "divider" => {
                let _ = writeln!(out, "  ────────────────────────────");
            }
            _ => {}
        }
    }
    out
}
