//! `tagbot serve` as an operator runs it: the real binary, configured by
//! environment, against the Slack stand-in and Airtable; it posts the review
//! messages, answers on its HTTP port, and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
use standins::slack::{FakeSlack, RateLimits};

use crate::helpers::TestDb;
use crate::slack_world::{eventually_within, until_healthy, BOT_TOKEN, REPORT, REVIEW, SECRET};
use crate::sync_world::{BASE_ID, TOKEN};

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A test database and the Slack and Airtable stand-ins, with the bot in
/// both channels.
pub(crate) async fn stand_ins(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) -> (TestDb, FakeSlack, FakeAirtable) {
    let db = TestDb::new(pool, options).await;
    let slack = FakeSlack::start(BOT_TOKEN, RateLimits::default())
        .await
        .unwrap();
    slack.add_channel(REVIEW, "tag-review", true);
    slack.add_channel(REPORT, "tag-reports", true);
    let airtable = FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default())
        .await
        .unwrap();
    (db, slack, airtable)
}

/// `tagbot serve` configured for the stand-ins, listening on `listen`.
pub(crate) fn serve_command(
    db: &TestDb,
    slack: &FakeSlack,
    airtable: &FakeAirtable,
    listen: &str,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tagbot"));
    command
        .arg("serve")
        .current_dir(std::env::temp_dir())
        .env("DATABASE_URL", db.app_url())
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("SLACK_API_URL", &slack.url)
        .env("SLACK_REVIEW_CHANNEL", REVIEW)
        .env("SLACK_REPORT_CHANNEL", REPORT)
        .env("AIRTABLE_TOKEN", TOKEN)
        .env("AIRTABLE_BASE_ID", BASE_ID)
        .env("AIRTABLE_API_URL", &airtable.url)
        .env("TAGBOT_LISTEN", listen);
    command
}

#[sqlx::test]
async fn serve_posts_reviews_answers_probes_and_stops_on_sigterm(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (db, slack, airtable) = stand_ins(pool, options).await;
    db.suggestion("L1", "t1", 0.95).await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = serve_command(&db, &slack, &airtable, &listen)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tagbot serve");

    until_healthy(
        "serve answers /healthz",
        &format!("http://{listen}"),
        // A separate process on a machine the rest of the suite loads.
        Duration::from_secs(20),
    )
    .await;
    let probe = reqwest::Client::new();
    let ready = probe
        .get(format!("http://{listen}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    // A separate process on a machine the rest of the suite loads.
    eventually_within(
        "the pending lecture is posted",
        Duration::from_secs(10),
        || async { slack.messages(REVIEW).len() == 1 },
    )
    .await;

    let pid = child.id().to_string();
    let signalled = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .unwrap();
    assert!(signalled.success());
    let mut stopped = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            stopped = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = stopped.expect("serve stops within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    // Nothing is left leased or claimed by the stopped process.
    assert_eq!(
        db.count("SELECT count(*) FROM airtable_sync_leases").await,
        0
    );
    slack.shutdown();
    airtable.shutdown();
    db.close().await;
}

#[sqlx::test]
async fn serve_stops_with_the_reason_when_a_part_cannot_run(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (db, slack, airtable) = stand_ins(pool, options).await;
    // Socket Mode with an app token Slack does not accept.
    let mut command = serve_command(
        &db,
        &slack,
        &airtable,
        &format!("127.0.0.1:{}", free_port()),
    );
    command.env("SLACK_APP_TOKEN", "xapp-1-A0TAGBOT00-123-notvalid");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: Socket Mode stopped"), "{stderr}");
    assert!(stderr.contains("SLACK_APP_TOKEN"), "{stderr}");
    slack.shutdown();
    airtable.shutdown();
    db.close().await;
}
