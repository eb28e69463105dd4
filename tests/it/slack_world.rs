//! A test world for the Slack app: a fresh database, the Slack stand-in Web
//! API, and tagbot's HTTP endpoints on a random loopback port, with
//! helpers that send requests signed and shaped as Slack sends them.

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::{slack_signature, unix_now};
use standins::slack::{FakeSlack, OpenedView, RateLimits};
use tagbot::config::{Env, ReviewSettings, SlackSettings};
use tagbot::shutdown::Shutdown;
use tagbot::slack::app::SlackApp;
use tagbot::slack::output::poster;
use tagbot::startup::{Application, Parts};

use crate::helpers::TestDb;

pub const BOT_TOKEN: &str = "xoxb-1234567890-tagbottesttoken";
pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const REVIEW: &str = "C0REVIEW01";
pub const REPORT: &str = "C0REPORT01";

pub struct SlackWorld {
    /// Stops the background poster, when one runs.
    stop_poster: Option<tokio::sync::watch::Sender<bool>>,
    pub db: TestDb,
    pub slack: FakeSlack,
    pub app: SlackApp,
    /// Where tagbot's endpoints listen.
    pub base: String,
    http: reqwest::Client,
}

impl SlackWorld {
    /// A world with the poster running in the background, as in `serve`.
    pub async fn new(pool: PgPoolOptions, options: PgConnectOptions) -> SlackWorld {
        SlackWorld::with_env(pool, options, &[]).await
    }

    pub async fn with_env(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
    ) -> SlackWorld {
        let mut world = SlackWorld::without_poster(pool, options, extra).await;
        let (stop, shutdown) = Shutdown::manual();
        let app = world.app.clone();
        tokio::spawn(async move {
            poster::run_until_shutdown(&app, "background-poster", &shutdown).await
        });
        world.stop_poster = Some(stop);
        world
    }

    /// A world whose tests run the poster's passes themselves.
    pub async fn without_poster(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
    ) -> SlackWorld {
        SlackWorld::start(pool, options, extra, RateLimits::off(), |_| {}).await
    }

    /// A world without a background poster whose tagbot asks Slack for a
    /// user's name or a group's members on every click (no reuse). Its
    /// tiers are counted per second, so that asking on every click is not
    /// held back by tagbot's own pacing (Tier 2 allows two lookups at once,
    /// then one every 4.3 s a minute).
    pub async fn uncached(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
    ) -> SlackWorld {
        SlackWorld::start(pool, options, extra, RateLimits::off(), |settings| {
            settings.directory_ttl = Duration::ZERO;
            settings.tier_window = Duration::from_secs(1);
        })
        .await
    }

    /// A world without a background poster whose fake Slack enforces
    /// Slack's rate tiers counted over `window` instead of a minute, and
    /// whose tagbot paces its calls for tiers of that `window`.
    pub async fn paced(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
        window: Duration,
    ) -> SlackWorld {
        SlackWorld::start(
            pool,
            options,
            extra,
            RateLimits::scaled(window),
            |settings| {
                settings.tier_window = window;
            },
        )
        .await
    }

    /// A world without a background poster whose Slack settings `tune`
    /// changes first (the HTTP limits, say).
    pub async fn tuned(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        tune: impl FnOnce(&mut SlackSettings),
    ) -> SlackWorld {
        SlackWorld::start(pool, options, &[], RateLimits::off(), tune).await
    }

    async fn start(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        extra: &[(&str, &str)],
        rate: RateLimits,
        tune: impl FnOnce(&mut SlackSettings),
    ) -> SlackWorld {
        let db = TestDb::new(pool, options).await;
        let slack = FakeSlack::start(BOT_TOKEN, rate)
            .await
            .expect("start the Slack stand-in");
        slack.add_channel(REVIEW, "tag-review", true);
        slack.add_channel(REPORT, "tag-reports", true);
        for (id, name) in [
            ("U0DANA0001", "דנה"),
            ("U0YOSI0001", "יוסי"),
            ("U0STRANGER", "stranger"),
        ] {
            slack.add_user(id, name);
        }
        let mut settings = settings(&slack, extra);
        tune(&mut settings);
        settings.listen = "127.0.0.1:0".parse().expect("a loopback address");
        // No undo window unless the test asks for one (TAGBOT_UNDO_SECS
        // among its settings).
        let review = ReviewSettings::from_env(&Env::from_pairs(
            std::iter::once(("TAGBOT_UNDO_SECS", "0")).chain(extra.iter().copied()),
        ))
        .expect("valid review settings");
        let endpoints = Application::build(db.app.clone(), settings, review, Parts::Endpoints)
            .await
            .expect("build the Slack app");
        let app = endpoints.app().clone();
        let base = format!("http://127.0.0.1:{}", endpoints.port().expect("a port"));
        tokio::spawn(endpoints.run_until_stopped(Shutdown::never()));
        SlackWorld {
            stop_poster: None,
            db,
            slack,
            app,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// Posts every lecture that needs a message, as the poster does.
    pub async fn post_reviews(&self) -> poster::Pass {
        poster::run_once(&self.app, "test-poster")
            .await
            .expect("poster pass")
    }

    /// Waits until the background poster has posted every lecture with
    /// pending suggestions and no message is behind.
    pub async fn settle(&self) {
        eventually("the review messages are posted and current", || async {
            self.db
                .count(
                    "SELECT (SELECT count(DISTINCT s.lecture_external_id) FROM lecture_tag_suggestions s
                             WHERE s.status = 'pending' AND NOT EXISTS (
                                 SELECT 1 FROM slack_review_messages m
                                 WHERE m.lecture_external_id = s.lecture_external_id AND m.ts IS NOT NULL))
                          + (SELECT count(*) FROM slack_review_messages WHERE rendered_version < content_version)",
                )
                .await
                == 0
        })
        .await;
    }

    /// The review message of a lecture as Slack shows it now.
    pub async fn message_of(&self, lecture: &str) -> Value {
        let (channel, ts): (String, String) = sqlx::query_as(
            "SELECT channel, ts FROM slack_review_messages WHERE lecture_external_id = $1",
        )
        .bind(lecture)
        .fetch_one(&self.db.app)
        .await
        .expect("the lecture has a message");
        self.slack
            .message(&channel, &ts)
            .expect("Slack has the message")
    }

    /// `user` presses Details on a lecture's message; the modal once open.
    pub async fn open_details(&self, user: &str, lecture: &str) -> OpenedView {
        let ts = self.message_ts(lecture).await;
        let mut open = self.block_actions(
            user,
            &ts,
            tagbot::slack::card::actions::DETAILS,
            json!({ "value": lecture }),
            json!({}),
        );
        let trigger = self.slack.trigger_id();
        open["trigger_id"] = json!(trigger);
        assert_eq!(self.interact(&open).await, 200);
        let opened = || {
            self.slack.views().into_iter().find(|v| {
                v.trigger_id.as_deref() == Some(trigger.as_str())
                    && v.view["callback_id"] == tagbot::slack::card::actions::DETAILS_MODAL
                    && v.view["private_metadata"] == lecture
            })
        };
        eventually("the details modal opens", || async { opened().is_some() }).await;
        opened().expect("the details modal")
    }

    pub async fn message_ts(&self, lecture: &str) -> String {
        self.message_of(lecture).await["ts"]
            .as_str()
            .expect("ts")
            .to_owned()
    }

    /// Sends a body to one of tagbot's endpoints, signed (or not) as Slack would.
    pub async fn send(&self, path: &str, body: &str, signing: Signing) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        let timestamp = match signing {
            Signing::Stale => (unix_now() - 301).to_string(),
            _ => unix_now().to_string(),
        };
        let signature = match signing {
            Signing::Forged => slack_signature("not-the-secret", &timestamp, body.as_bytes()),
            _ => slack_signature(SECRET, &timestamp, body.as_bytes()),
        };
        if !matches!(signing, Signing::NoHeaders) {
            request = request
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signature);
        }
        let response = request.send().await.expect("reach tagbot");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// A signed interaction: `payload=<json>`.
    pub async fn interact(&self, payload: &Value) -> u16 {
        let body = standins::sender::interaction_body(payload);
        self.send("/slack/interactions", &body, Signing::Valid)
            .await
            .0
    }

    /// A reviewer clicks an element of a lecture's message.
    pub async fn click(&self, user: &str, lecture: &str, action_id: &str, value: &str) -> u16 {
        let ts = self.message_ts(lecture).await;
        self.interact(&self.block_actions(
            user,
            &ts,
            action_id,
            json!({ "value": value }),
            json!({}),
        ))
        .await
    }

    /// `/tags <text>` from `user`; returns the ephemeral answer's text,
    /// whether answered at once or later through the response URL.
    pub async fn command(&self, user: &str, text: &str) -> String {
        let minted = self.slack.mint(REVIEW, user);
        let response_url = minted.response_url.clone();
        let body = standins::sender::command_body(user, REVIEW, text, &minted);
        let (status, answer) = self.send("/slack/commands", &body, Signing::Valid).await;
        assert_eq!(status, 200, "{answer}");
        if answer.is_empty() {
            return self.late_answer(&response_url).await;
        }
        let answer: Value = serde_json::from_str(&answer).expect("JSON answer");
        assert_eq!(answer["response_type"], "ephemeral");
        answer["text"].as_str().unwrap_or_default().to_owned()
    }

    /// The ephemeral answer posted to `response_url`, once it arrives.
    pub async fn late_answer(&self, response_url: &str) -> String {
        // Patient: a late answer may wait for a slow Slack.
        eventually_within(
            "the answer reaches the response URL",
            Duration::from_secs(15),
            || async { self.slack.responses().iter().any(|a| a.url == response_url) },
        )
        .await;
        let answer = self
            .slack
            .responses()
            .into_iter()
            .find(|a| a.url == response_url)
            .expect("an answer");
        assert!(answer.is_ephemeral(), "{answer:?}");
        answer.text.unwrap_or_default()
    }

    /// A `block_actions` payload shaped like Slack's, for one action on a
    /// message in the review channel, with a trigger id and a response URL
    /// freshly minted by the Slack stand-in.
    pub fn block_actions(
        &self,
        user: &str,
        message_ts: &str,
        action_id: &str,
        action: Value,
        state: Value,
    ) -> Value {
        let minted = self.slack.mint(REVIEW, user);
        standins::sender::block_actions(user, REVIEW, message_ts, &minted, action_id, action, state)
    }

    /// The ephemeral texts `user` got so far.
    pub fn told(&self, user: &str) -> Vec<String> {
        self.slack
            .ephemerals()
            .into_iter()
            .filter(|e| e.user == user)
            .filter_map(|e| e.text)
            .collect()
    }

    pub async fn close(self) {
        if let Some(stop) = &self.stop_poster {
            let _ = stop.send(true);
        }
        self.slack.shutdown();
        self.db.close().await;
    }
}

/// How a test request is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Valid,
    Forged,
    Stale,
    NoHeaders,
}

pub fn settings(slack: &FakeSlack, extra: &[(&str, &str)]) -> SlackSettings {
    let mut pairs = vec![
        ("SLACK_BOT_TOKEN", BOT_TOKEN),
        ("SLACK_SIGNING_SECRET", SECRET),
        ("SLACK_API_URL", slack.url.as_str()),
        ("SLACK_REVIEW_CHANNEL", REVIEW),
        ("SLACK_REPORT_CHANNEL", REPORT),
    ];
    pairs.extend_from_slice(extra);
    SlackSettings::from_env(&Env::from_pairs(pairs)).expect("valid Slack settings")
}

pub use standins::sender::form;

/// Polls `check` until it holds (or 5 s pass): the work after an
/// acknowledgement runs in the background.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(5), check).await;
}

/// Polls `check` until it holds, or panics once `limit` has passed (for
/// background work that waits on Slack's lookup timeout).
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let polls = limit.as_millis() / 20;
    for _ in 0..polls {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// Polls `base`'s `/healthz` until it answers 200, within `limit`
/// (`what` names the wait in the failure).
pub async fn until_healthy(what: &str, base: &str, limit: Duration) {
    let probe = reqwest::Client::new();
    let health = format!("{base}/healthz");
    eventually_within(what, limit, || {
        let (probe, health) = (probe.clone(), health.clone());
        async move {
            probe
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
}

/// Every text in a message's blocks, joined, to look for words in.
pub fn all_text(message: &Value) -> String {
    let mut out = String::new();
    collect_text(&message["blocks"], &mut out);
    out
}

fn collect_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_text(v, out)),
        _ => {}
    }
}
