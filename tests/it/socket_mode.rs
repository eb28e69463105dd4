//! Socket Mode end to end: tagbot's client connected to the Socket Mode
//! stand-in, envelopes shaped as Slack sends them, down to the database and
//! back out as acknowledgements. No click is lost: one slack-morphism's
//! models cannot read is decided, one nobody can read is acknowledged and
//! logged with its envelope id, and after `disconnect` or a dropped socket
//! tagbot connects again.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::socket_mode::FakeSocketMode;
use tagbot::shutdown::Shutdown;
use tagbot::slack::card::actions;
use tagbot::slack::transport::socket;
use tokio::task::JoinHandle;

use crate::slack_world::{eventually, eventually_within, SlackWorld, REVIEW};

const APP_TOKEN: &str = "xapp-1-A0TAGBOT00-1-sockettest";
const DANA: &str = "U0DANA0001";
/// Generous: only a broken client waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

/// The Slack world with tagbot in Socket Mode instead of answering HTTP.
struct SocketWorld {
    w: SlackWorld,
    socket: FakeSocketMode,
    stop: tokio::sync::watch::Sender<bool>,
    client: JoinHandle<Result<(), socket::SocketModeRefused>>,
    /// `apps.connections.open` calls the test made Slack refuse.
    refused_opens: usize,
}

impl SocketWorld {
    async fn new(pool: PgPoolOptions, options: PgConnectOptions) -> SocketWorld {
        SocketWorld::with_env(pool, options, &[]).await
    }

    async fn with_env(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
    ) -> SocketWorld {
        let mut env = vec![("SLACK_APP_TOKEN", APP_TOKEN)];
        env.extend_from_slice(extra);
        let w = SlackWorld::with_env(pool, options, &env).await;
        let socket = FakeSocketMode::start(APP_TOKEN).await.unwrap();
        w.slack.enable_socket_mode(&socket);
        let (stop, shutdown) = Shutdown::manual();
        let app = w.app.clone();
        let client = tokio::spawn(async move {
            let token = app.settings.app_token.clone().expect("an app token");
            socket::run(app, &token, &shutdown).await
        });
        assert!(
            socket.wait_for_connections(1, PATIENCE).await,
            "tagbot connects"
        );
        SocketWorld {
            w,
            socket,
            stop,
            client,
            refused_opens: 0,
        }
    }

    /// `user` approves suggestion `id` of `lecture` with a click delivered
    /// as an `interactive` envelope; returns the envelope id.
    async fn approve(&self, user: &str, lecture: &str, id: &str) -> String {
        self.socket
            .send_interactive(self.click(user, lecture, id).await)
            .unwrap()
    }

    async fn click(&self, user: &str, lecture: &str, id: &str) -> Value {
        let ts = self.w.message_ts(lecture).await;
        self.w.block_actions(
            user,
            &ts,
            actions::APPROVE,
            json!({ "value": id }),
            json!({}),
        )
    }

    async fn close(self) {
        let _ = self.stop.send(true);
        let stopped = tokio::time::timeout(PATIENCE, self.client).await;
        assert!(
            matches!(stopped, Ok(Ok(Ok(())))),
            "the client stops cleanly: {stopped:?}"
        );
        assert!(
            self.socket.violations().is_empty(),
            "{:?}",
            self.socket.violations()
        );
        // Every URL asked for was used: nothing was opened on the way out.
        assert_eq!(
            self.w.slack.count("apps.connections.open"),
            self.socket.connections() + self.refused_opens
        );
        assert!(
            self.socket.late().is_empty(),
            "acknowledged after Slack's 3 s: {:?}",
            self.socket.late()
        );
        self.socket.shutdown();
        self.w.close().await;
    }
}

#[sqlx::test]
async fn a_click_over_socket_mode_decides_the_suggestion_and_is_acknowledged(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    let id = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.settle().await;

    let envelope = s.approve(DANA, "L1", &id.to_string()).await;

    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert_eq!(ack.payload, None);
    assert!(ack.in_time);
    eventually("the click is decided", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;
    assert_eq!(s.w.db.actions(id).await, ["approve", "enqueue"]);
    s.close().await;
}

#[sqlx::test]
async fn an_undo_over_socket_mode_takes_the_decision_back(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let id = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.settle().await;
    s.approve(DANA, "L1", &id.to_string()).await;
    eventually("the click is decided", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;

    let ts = s.w.message_ts("L1").await;
    let press = s.w.block_actions(
        DANA,
        &ts,
        actions::UNDO,
        json!({ "value": id.to_string() }),
        json!({}),
    );
    let envelope = s.socket.send_interactive(press).unwrap();
    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert!(ack.in_time);
    eventually("the decision is taken back", || async {
        s.w.db.status(id).await == "pending"
    })
    .await;
    assert_eq!(s.w.db.actions(id).await, ["approve", "enqueue", "undo"]);
    s.close().await;
}

/// The second opinion over Socket Mode: two agreeing votes decide, the
/// first told (ephemerally) that it needs one more.
#[sqlx::test]
async fn votes_over_socket_mode_decide_when_two_agree(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::with_env(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "U0LEAD0001"),
        ],
    )
    .await;
    let id = s.w.db.suggestion("L1", "t1", 0.6).await;
    s.w.settle().await;
    let first = s.approve(DANA, "L1", &id.to_string()).await;
    assert!(
        s.socket
            .wait_for_ack(&first, PATIENCE)
            .await
            .unwrap()
            .in_time
    );
    eventually("Dana's vote is recorded", || async {
        s.w.db.count("SELECT count(*) FROM review_votes").await == 1
    })
    .await;
    assert_eq!(s.w.db.status(id).await, "pending");
    let second = s.approve("U0YOSI0001", "L1", &id.to_string()).await;
    assert!(
        s.socket
            .wait_for_ack(&second, PATIENCE)
            .await
            .unwrap()
            .in_time
    );
    eventually("two agreeing votes decide", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;
    assert_eq!(s.w.db.count("SELECT count(*) FROM review_votes").await, 2);
    s.close().await;
}

#[sqlx::test]
async fn a_tags_command_is_answered_in_its_acknowledgement(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    s.w.db.suggestion("L1", "t1", 0.9).await;

    let envelope = s
        .socket
        .send_tags_command(DANA, REVIEW, "pending", &s.w.slack.mint(REVIEW, DANA))
        .unwrap();

    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    let answer = ack
        .payload
        .expect("the answer rides on the acknowledgement");
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("1 lecture(s) waiting"), "{text}");
    assert!(text.contains("L1"), "{text}");
    s.close().await;
}

#[sqlx::test]
async fn a_click_slack_morphism_cannot_model_is_still_decided(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    let id = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.settle().await;
    // An org-wide install's click: no team, an enterprise; the message
    // carries metadata. slack-morphism 2.31's models refuse both.
    let mut click = s.click(DANA, "L1", &id.to_string()).await;
    click["team"] = Value::Null;
    click["is_enterprise_install"] = json!(true);
    click["enterprise"] = json!({ "id": "E0ORG00001", "name": "org" });
    click["message"]["metadata"] =
        json!({ "event_type": "review", "event_payload": { "lecture": "L1" } });

    let envelope = s.socket.send_interactive(click).unwrap();

    s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    eventually("the click is decided", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;
    s.close().await;
}

/// Log lines as JSON, written by the test's own subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

#[sqlx::test]
async fn an_envelope_nobody_can_read_is_acknowledged_and_logged_with_its_type_and_id(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // sqlx::test runs on one thread, so this subscriber sees every task.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = SocketWorld::new(pool, options).await;

    // A click without the user who clicked.
    let envelope = s
        .socket
        .send_interactive(json!({ "type": "block_actions", "actions": [] }))
        .unwrap();

    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert_eq!(ack.payload, None);
    let logged = captured.lines();
    let line = logged
        .iter()
        .find(|line| line["fields"]["envelope_id"] == envelope.as_str())
        .unwrap_or_else(|| panic!("no line names {envelope}: {logged:?}"));
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["envelope_type"], "interactive");
    assert!(line["fields"]["error"].as_str().unwrap().contains("user"));
    s.close().await;
}

#[sqlx::test]
async fn after_a_disconnect_or_a_dropped_socket_tagbot_reconnects_and_clicks_are_decided(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    let first = s.w.db.suggestion("L1", "t1", 0.9).await;
    let second = s.w.db.suggestion("L1", "t2", 0.8).await;
    s.w.settle().await;
    assert_eq!(s.w.slack.count("apps.connections.open"), 1);

    assert_eq!(s.socket.disconnect("refresh_requested"), 1);
    assert!(s.socket.wait_for_connections(2, PATIENCE).await);
    assert_eq!(s.w.slack.count("apps.connections.open"), 2);
    let envelope = s.approve(DANA, "L1", &first.to_string()).await;
    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert_eq!(ack.connection, 2);
    eventually("the click after the disconnect is decided", || async {
        s.w.db.status(first).await == "approved"
    })
    .await;

    // No word from Slack this time: the socket just goes.
    assert_eq!(s.socket.drop_connections(), 1);
    assert!(s.socket.wait_for_connections(3, PATIENCE).await);
    assert_eq!(s.w.slack.count("apps.connections.open"), 3);
    let envelope = s.approve(DANA, "L1", &second.to_string()).await;
    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert_eq!(ack.connection, 3);
    eventually("the click after the drop is decided", || async {
        s.w.db.status(second).await == "approved"
    })
    .await;
    s.close().await;
}

#[sqlx::test]
async fn tagbot_serve_with_an_app_token_decides_clicks_over_socket_mode_and_stops_on_sigterm(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (db, slack, airtable) = crate::serve::stand_ins(pool, options).await;
    slack.add_user(DANA, "דנה");
    let socket = FakeSocketMode::start(APP_TOKEN).await.unwrap();
    slack.enable_socket_mode(&socket);
    let id = db.suggestion("L1", "t1", 0.9).await;
    let listen = format!("127.0.0.1:{}", crate::serve::free_port());
    let child = crate::serve::serve_command(&db, &slack, &airtable, &listen)
        .env("SLACK_APP_TOKEN", APP_TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tagbot serve");

    assert!(
        socket.wait_for_connections(1, PATIENCE).await,
        "serve connects"
    );
    // A separate process on a loaded machine: the generous limit.
    // Posted, and its ts recorded: Slack has the message a moment before
    // tagbot has written down which lecture it is (a loaded machine
    // stretches that moment), and a click tagbot cannot place is refused.
    eventually_within("the pending lecture is posted", PATIENCE, || async {
        slack.messages(REVIEW).len() == 1
            && db
                .count("SELECT count(*) FROM slack_review_messages WHERE ts IS NOT NULL")
                .await
                == 1
    })
    .await;
    let ts = slack.messages(REVIEW)[0]["ts"].as_str().unwrap().to_owned();
    let envelope = socket
        .send_interactive(standins::sender::block_actions(
            DANA,
            REVIEW,
            &ts,
            &slack.mint(REVIEW, DANA),
            actions::APPROVE,
            json!({ "value": id.to_string() }),
            json!({}),
        ))
        .unwrap();
    socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    eventually_within("the click is decided", PATIENCE, || async {
        db.status(id).await != "pending"
    })
    .await;
    assert!(matches!(
        db.status(id).await.as_str(),
        "approved" | "synced"
    ));

    let pid = child.id().to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {}: {log}",
        output.status
    );
    // One connection the whole run: no reconnect churn, no spare links.
    assert_eq!(socket.connections(), 1, "{log}");
    assert_eq!(slack.count("apps.connections.open"), 1, "{log}");
    socket.shutdown();
    slack.shutdown();
    airtable.shutdown();
    db.close().await;
}

#[sqlx::test]
async fn on_a_disconnect_warning_the_new_connection_opens_before_the_old_one_closes(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    let id = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.settle().await;

    assert_eq!(s.socket.announce_disconnect("warning"), 1);

    assert!(s.socket.wait_for_connections(2, PATIENCE).await);
    // The old link stays up (tagbot closes it 10 s on, if Slack has not),
    // so nothing sent meanwhile falls between two connections.
    assert_eq!(s.socket.open_connections(), 2);
    let envelope = s.approve(DANA, "L1", &id.to_string()).await;
    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert_eq!(ack.connection, 2);
    eventually("the click is decided", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;
    s.close().await;
}

#[sqlx::test]
async fn a_transient_refusal_of_apps_connections_open_is_retried(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let mut s = SocketWorld::new(pool, options).await;
    let id = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.settle().await;
    s.w.slack
        .fail_next("apps.connections.open", 1, "internal_error");
    s.refused_opens = 1;

    assert_eq!(s.socket.drop_connections(), 1);

    assert!(s.socket.wait_for_connections(2, PATIENCE).await);
    assert_eq!(s.w.slack.count("apps.connections.open"), 3);
    let envelope = s.approve(DANA, "L1", &id.to_string()).await;
    s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    eventually("the click is decided", || async {
        s.w.db.status(id).await == "approved"
    })
    .await;
    s.close().await;
}

#[sqlx::test]
async fn a_token_slack_stops_accepting_stops_socket_mode_with_the_reason(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    s.w.slack
        .fail_next("apps.connections.open", 1, "token_revoked");

    s.socket.drop_connections();

    let stopped = tokio::time::timeout(PATIENCE, s.client)
        .await
        .expect("Socket Mode stops")
        .unwrap();
    let reason = stopped
        .expect_err("an error for serve to stop with")
        .to_string();
    assert!(reason.contains("SLACK_APP_TOKEN"), "{reason}");
    assert!(reason.contains("token_revoked"), "{reason}");
    assert_eq!(s.socket.open_connections(), 0);
    s.socket.shutdown();
    s.w.close().await;
}

#[sqlx::test]
async fn a_slow_tags_command_is_acknowledged_in_time_and_answered_at_the_response_url(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // Deciding whether Dana may retry takes two group lookups and a name
    // lookup; at 1.2 s each they outlast Slack's 3 s.
    let s = SocketWorld::with_env(
        pool,
        options,
        &[("SLACK_REVIEWERS", "S0FIRST001,S0SECOND01")],
    )
    .await;
    s.w.slack.add_usergroup("S0FIRST001", &["U0YOSI0001"]);
    s.w.slack.add_usergroup("S0SECOND01", &[DANA]);
    let failed = s.w.db.suggestion("L1", "t1", 0.95).await;
    s.w.db
        .force_status(failed, "approved", "cli:test")
        .await
        .unwrap();
    s.w.db
        .force_status(failed, "failed", "worker")
        .await
        .unwrap();
    s.w.slack
        .set_latency(std::time::Duration::from_millis(1_200));
    let minted = s.w.slack.mint(REVIEW, DANA);

    let envelope = s
        .socket
        .send_tags_command(DANA, REVIEW, "retry L1", &minted)
        .unwrap();

    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    assert!(ack.in_time, "acknowledged within Slack's 3 s");
    assert!(ack.payload.is_none(), "the answer is not ready: {ack:?}");
    let answer = s.w.late_answer(&minted.response_url).await;
    assert!(answer.contains("Retrying 1 failed tag"), "{answer}");
    s.close().await;
}

/// A review session's submission over Socket Mode: the next lecture rides
/// on the acknowledgement, as `response_action: update` does over HTTP.
#[sqlx::test]
async fn a_review_session_submission_is_answered_in_its_acknowledgement(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let s = SocketWorld::new(pool, options).await;
    let first = s.w.db.suggestion("L1", "t1", 0.9).await;
    s.w.db.suggestion("L2", "t1", 0.9).await;
    let opened = s
        .socket
        .send_tags_command(DANA, REVIEW, "review", &s.w.slack.mint(REVIEW, DANA))
        .unwrap();
    s.socket.wait_for_ack(&opened, PATIENCE).await.unwrap();
    let view =
        s.w.slack
            .views()
            .into_iter()
            .find(|v| v.view["callback_id"] == actions::SESSION_MODAL)
            .expect("the session opened");
    let block_id = format!("choice:{first}:0");
    let values = json!({ block_id: { actions::SESSION_CHOICE: {
        "type": "radio_buttons", "selected_option": { "value": "approve" } } } });

    let envelope = s
        .socket
        .send_interactive(standins::sender::view_submission(
            DANA,
            &view,
            &s.w.slack.mint(REVIEW, DANA),
            values,
        ))
        .unwrap();

    let ack = s.socket.wait_for_ack(&envelope, PATIENCE).await.unwrap();
    let answer = ack
        .payload
        .expect("the next lecture rides on the acknowledgement");
    assert_eq!(answer["response_action"], "update", "{answer}");
    standins::slack::check_response_view(&answer["view"]).unwrap();
    assert!(answer["view"]["private_metadata"]
        .as_str()
        .unwrap()
        .contains("L2"));
    assert_eq!(s.w.db.status(first).await, "approved");
    s.close().await;
}
