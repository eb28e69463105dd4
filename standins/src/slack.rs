//! A fake Slack Web API: one workspace with its channels, users, user
//! groups, messages and modals in memory, served over HTTP on loopback.
//!
//! Point slack-morphism at it with `with_slack_api_url(&fake.url)` (tagbot:
//! `SLACK_API_URL`). Every method arrives as `/{method}` — the last path
//! segment, so a base URL ending in `/api` works too. slack-morphism 2.31
//! sends writes (`chat.*`, `views.*`) as `POST` with a JSON body and reads
//! (`auth.test`, `users.info`, `conversations.info`,
//! `usergroups.users.list`) as `GET` with a query string, the token always
//! as `Authorization: Bearer …`. The fake also takes form-encoded bodies
//! (with `blocks` and `view` as JSON strings) and a `token` parameter, as
//! Slack does. Answers have Slack's shape: HTTP 200 with `{"ok":true,…}` or
//! `{"ok":false,"error":"…"}` (Block Kit refusals add Slack's `errors` list
//! with a JSON pointer), and HTTP 429 with `Retry-After: <seconds>` and
//! `{"ok":false,"error":"ratelimited"}` when rate limited.
//!
//! Every request is checked in this order: token (`not_authed`,
//! `invalid_auth`), scripted faults, the method's rate budget, then the
//! method itself. What it enforces, with the documented number:
//!
//! | rule | limit | Slack's documentation |
//! |---|---|---|
//! | blocks per message | 50 (`invalid_blocks`) | reference/block-kit/blocks |
//! | blocks per modal | 100 (`invalid_arguments`) | reference/views/modal-views |
//! | section `text`, context text, any other text object | 3,000 chars | section block; composition objects (text) |
//! | section `fields` | 10 items of at most 2,000 chars | section block |
//! | header text | 150 chars, `plain_text` | header block |
//! | context `elements` | 10 | context block |
//! | actions `elements` | 25 | actions block |
//! | button text / value / url | 75 / 2,000 / 3,000 chars | button element |
//! | `action_id`, `block_id`, `callback_id` | 255 chars | button element; every block; modal views |
//! | `action_id` unique within its block, `block_id` unique within the message | | button element; every block |
//! | static selects: options, option groups | 100 each | select menu element; option group object |
//! | option text / value / description | 75 / 150 / 75 chars | option object |
//! | overflow menu options | 5 | overflow menu element |
//! | placeholders | 150 chars | select menu element |
//! | text objects | `plain_text` or `mrkdwn`, 1 to 3,000 chars | composition objects (text) |
//! | `plain_text` only | header, button and option text, placeholders, input label and hint, confirmation title and buttons, modal title, close, submit | each one's page |
//! | button `style` | `primary` or `danger` | button element |
//! | confirmation dialog title / text / confirm, deny | 100 / 300 / 30 chars | confirmation dialog object |
//! | option values | unique within their menu | option object |
//! | multi-select menus | section and input blocks only | multi-select menu element |
//! | actions and context `elements`, menu `options` | at least 1 | docs silent; the fake refuses an empty list |
//! | message `text` | 40,000 chars (`msg_too_long`) | changelog 2018-04 "Truncating really long messages" |
//! | modal title, close, submit | 24 chars | reference/views/modal-views |
//! | modal `private_metadata` | 3,000 chars | reference/views/modal-views |
//! | modal stack (`views.push`) | 3 views (`push_limit_reached`) | views.push errors |
//! | view JSON (`views.open/push/update/publish`) | 250,000 bytes (`view_too_large`) | views.open errors: "greater than 250kb" |
//! | `trigger_id` | minted by Slack (`invalid_trigger_id`), 3 seconds (`expired_trigger_id`), single use (`exchanged_trigger_id`) | <https://api.slack.com/docs/triggers>; views.open errors |
//! | `chat.postMessage` / `chat.postEphemeral` `blocks: []` | refused (`invalid_blocks`) | docs silent; Slack observed to refuse it |
//! | `chat.postMessage` | 1 per second per channel, short bursts (HTTP 429) | <https://docs.slack.dev/apis/web-api/rate-limits> |
//! | other methods | Tier 2: 20, Tier 3: 50, Tier 4: 100 per minute; `auth.test` 200 (HTTP 429) | <https://docs.slack.dev/apis/web-api/rate-limits> |
//!
//! Slack itself truncates a `text` over 40,000 characters and warns; the fake
//! refuses it with `msg_too_long` (an error chat.postMessage documents), so
//! tagbot can never rely on silent truncation. The burst size of the posting
//! limit is not documented: the fake allows 3 ([`PostRate`]).
//!
//! Where the documentation is loose the fake takes the stricter reading:
//! a tier's "N+ per minute" is at most N calls in *any* 60 s (a sliding
//! window, no extra burst); "250kb" is 250,000 bytes, not 256,000; an
//! empty `blocks` array on a post is refused rather than ignored; a
//! `trigger_id` the fake did not mint is refused, so a test can only open a
//! modal with one from [`FakeSlack::trigger_id`].
//!
//! Channels: posting to an unknown channel answers `channel_not_found`, to a
//! channel the bot is not in `not_in_channel`. Users are members of the
//! channels they joined ([`FakeSlack::add_user`] joins every channel that
//! exists at the time, [`FakeSlack::join_channel`] one more); an ephemeral
//! for anyone else answers `user_not_in_channel` ("Intended recipient is
//! not in the specified channel", chat.postEphemeral errors). Tests seed
//! the directory (channels, users, user groups), script faults and latency,
//! and read the request log and the current state of every message,
//! ephemeral and modal.
//!
//! # Response URLs
//!
//! A slash command or a click carries a `response_url` the app may answer
//! through after it acknowledged. The fake mints them
//! ([`FakeSlack::response_url`]) on its own server, as
//! `{url}/response/{id}`, and records every answer posted there
//! ([`FakeSlack::responses`]). As documented
//! (docs.slack.dev/interactivity/implementing-slash-commands: "up to 5
//! times within 30 minutes"), each URL takes 5 answers within 30 minutes
//! (the lifetime is settable for tests). The body is JSON: `text` and/or
//! `blocks` (checked as a message's), `response_type` `ephemeral` (the
//! default) or `in_channel`, `replace_original`, `delete_original`
//! (docs.slack.dev/messaging/modifying-messages); the fake records those
//! two flags but does not change the original message. Slack's pages do not
//! say what an unknown, expired or used-up URL answers: the fake answers
//! HTTP 404 with `no_service` for an unknown one (the incoming-webhook
//! error for a URL that is "disabled, removed, or invalid") and `expired_url`
//! for the others, counts every request to a live URL as a use (refused
//! ones too), and refuses a bad body with HTTP 400 as incoming webhooks do.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use self::block_kit::Violation;

pub use crate::workspace::{APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, TEAM_NAME};

/// Longest message `text`.
const MAX_MESSAGE_TEXT: usize = 40_000;
/// How long a `trigger_id` may be exchanged for a modal.
const TRIGGER_LIFETIME: Duration = Duration::from_secs(3);
/// How long a `response_url` takes answers, and how many it takes
/// (docs.slack.dev/interactivity/implementing-slash-commands).
const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
const RESPONSE_URL_USES: u32 = 5;
/// Most views one modal may stack with `views.push`.
const MODAL_STACK: usize = 3;
/// The largest view `views.*` accept. Slack's error list says "provided
/// view is greater than 250kb" (views.open `view_too_large`) without saying
/// which kilobyte: the fake takes the smaller, 250,000 bytes of JSON.
const MAX_VIEW_BYTES: usize = 250_000;

/// Slack's rate tiers, in requests per minute
/// (<https://docs.slack.dev/apis/web-api/rate-limits>: "Tier 2 20+ per
/// minute", …; the fake allows the floor and no more).
const TIER_2: usize = 20;
const TIER_3: usize = 50;
const TIER_4: usize = 100;
/// `auth.test` is "special": "hundreds of requests per minute". The fake
/// takes the least that reads as "hundreds".
const AUTH_TEST: usize = 200;
/// The window Slack counts a tier's requests in.
const TIER_WINDOW: Duration = Duration::from_secs(60);

/// How the fake paces its callers. `Default` is Slack's documented pacing;
/// [`RateLimits::off`] is for load tests and benchmarks.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// `chat.postMessage`, per channel; `None` lets every post through.
    pub post_per_channel: Option<PostRate>,
    /// Budgets per method across the workspace (Slack's rate tiers).
    pub per_method: Vec<MethodRate>,
}

/// Slack's "1 per second, short bursts >1 allowed" for posting: each
/// channel holds `burst` posts and regains one every `interval`.
#[derive(Debug, Clone, Copy)]
pub struct PostRate {
    pub interval: Duration,
    pub burst: u32,
}

/// At most `requests` calls to `method` in any `window`.
#[derive(Debug, Clone)]
pub struct MethodRate {
    pub method: String,
    pub requests: usize,
    pub window: Duration,
}

impl Default for RateLimits {
    /// One post per second per channel after a burst of 3, and each other
    /// method at the floor of its tier per minute.
    fn default() -> Self {
        RateLimits::scaled(TIER_WINDOW)
    }
}

impl RateLimits {
    /// Slack's pacing with its minute shortened (or stretched) to `window`:
    /// every method keeps its tier's count of calls, per `window` instead of
    /// per 60 s, and a channel regains a post every `window / 60`. A test
    /// sees exactly the bursts Slack allows, in seconds instead of minutes.
    ///
    /// Tiers as Slack's own SDK assigns them (java-slack-sdk
    /// `MethodsRateLimits`): chat.update, conversations.info Tier 3;
    /// chat.postEphemeral, users.info, conversations.members, views.*
    /// Tier 4; usergroups.users.list Tier 2.
    pub fn scaled(window: Duration) -> Self {
        let tier = |method: &str, requests| MethodRate {
            method: method.to_owned(),
            requests,
            window,
        };
        RateLimits {
            post_per_channel: Some(PostRate {
                interval: window / 60,
                burst: 3,
            }),
            per_method: vec![
                tier("auth.test", AUTH_TEST),
                tier("chat.update", TIER_3),
                tier("chat.postEphemeral", TIER_4),
                tier("views.open", TIER_4),
                tier("views.push", TIER_4),
                tier("views.update", TIER_4),
                tier("views.publish", TIER_4),
                tier("users.info", TIER_4),
                tier("conversations.info", TIER_3),
                tier("conversations.members", TIER_4),
                tier("usergroups.users.list", TIER_2),
                tier("files.getUploadURLExternal", TIER_4),
                tier("files.completeUploadExternal", TIER_4),
            ],
        }
    }

    /// The budget of `method` (calls per window), if it has one.
    pub fn budget(&self, method: &str) -> Option<&MethodRate> {
        self.per_method.iter().find(|r| r.method == method)
    }

    /// No rate limits at all.
    pub fn off() -> Self {
        RateLimits {
            post_per_channel: None,
            per_method: Vec::new(),
        }
    }

    /// Only the per-channel posting limit, with the given pacing: a short
    /// interval keeps a rate-limit test fast.
    pub fn posting(interval: Duration, burst: u32) -> Self {
        RateLimits {
            post_per_channel: Some(PostRate { interval, burst }),
            per_method: Vec::new(),
        }
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct SlackCall {
    /// The Web API method, e.g. `chat.postMessage`.
    pub method: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// The JSON body, or the query / form parameters as an object (`blocks`
    /// and `view` decoded); `Null` when the body was not valid JSON.
    pub body: Value,
    pub status: u16,
    pub response: Value,
    pub at: Instant,
}

impl SlackCall {
    /// Whether Slack would have said `"ok": true`.
    pub fn ok(&self) -> bool {
        self.status == 200 && self.response.get("ok") == Some(&Value::Bool(true))
    }

    /// The `error` of a refused call (`ratelimited` for a 429).
    pub fn error(&self) -> Option<&str> {
        self.response.get("error").and_then(Value::as_str)
    }
}

/// A message only `user` sees (`chat.postEphemeral`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub message_ts: String,
}

/// An answer posted to a `response_url` the fake minted.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseAnswer {
    /// The URL it was posted to.
    pub url: String,
    /// The channel and user the URL was minted for (the command's or the
    /// click's): an ephemeral answer is what this user alone sees there.
    pub channel: String,
    pub user: String,
    /// `ephemeral` or `in_channel`.
    pub response_type: String,
    pub text: Option<String>,
    pub blocks: Option<Value>,
    pub replace_original: bool,
    pub delete_original: bool,
}

impl ResponseAnswer {
    pub fn is_ephemeral(&self) -> bool {
        self.response_type == "ephemeral"
    }
}

/// A minted `response_url`: whom it answers, since when, how often used.
#[derive(Debug, Clone)]
struct ResponseUrl {
    url: String,
    channel: String,
    user: String,
    minted: Instant,
    uses: u32,
}

/// A modal view, as last opened, pushed or updated.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenedView {
    pub id: String,
    pub root_view_id: String,
    pub previous_view_id: Option<String>,
    /// The trigger it was opened with (`None` once only updated).
    pub trigger_id: Option<String>,
    pub hash: String,
    /// The view object as the caller sent it.
    pub view: Value,
    /// How many times `views.update` replaced it.
    pub updates: u32,
}

impl OpenedView {
    /// The view as Slack returns it: the caller's object plus its state.
    fn as_response(&self) -> Value {
        let mut shown = self.view.as_object().cloned().unwrap_or_default();
        shown.insert("id".into(), json!(self.id));
        shown.insert("team_id".into(), json!(TEAM_ID));
        shown.insert("hash".into(), json!(self.hash));
        shown.insert("state".into(), json!({ "values": {} }));
        shown.insert("root_view_id".into(), json!(self.root_view_id));
        shown.insert("previous_view_id".into(), json!(self.previous_view_id));
        shown.insert("app_id".into(), json!(APP_ID));
        shown.insert("bot_id".into(), json!(BOT_ID));
        Value::Object(shown)
    }
}

#[derive(Debug, Clone)]
struct Channel {
    id: String,
    name: String,
    bot_is_member: bool,
    /// Users in the channel (the bot aside).
    members: HashSet<String>,
}

impl Channel {
    fn as_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "created": 1_700_000_000,
            "is_channel": true,
            "is_private": false,
            "is_archived": false,
            "is_member": self.bot_is_member,
        })
    }
}

#[derive(Debug, Clone)]
struct User {
    id: String,
    display_name: String,
    real_name: String,
    /// The user's own workspace: the fake's, or (an external member of a
    /// Slack Connect channel) another organisation's.
    team_id: String,
    /// Their Enterprise Grid organisation, when they are in one.
    enterprise_id: Option<String>,
}

impl User {
    /// As `users.info` returns it
    /// (<https://docs.slack.dev/reference/methods/users.info>): `team_id`
    /// is the user's own workspace, and a Grid user carries
    /// `enterprise_user` with their organisation's `enterprise_id`.
    fn as_json(&self) -> Value {
        let mut user = self.as_json_base();
        if let Some(enterprise) = &self.enterprise_id {
            user["enterprise_user"] = json!({
                "id": self.id,
                "enterprise_id": enterprise,
                "enterprise_name": format!("{enterprise} org"),
                "is_admin": false,
                "is_owner": false,
                "teams": [self.team_id],
            });
        }
        user
    }

    fn as_json_base(&self) -> Value {
        json!({
            "id": self.id,
            "team_id": self.team_id,
            "name": self.id.to_lowercase(),
            "real_name": self.real_name,
            "deleted": false,
            "is_bot": false,
            "profile": {
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
            },
        })
    }
}

#[derive(Debug, Clone)]
struct StoredMessage {
    channel: String,
    ts: String,
    text: Option<String>,
    blocks: Option<Value>,
    thread_ts: Option<String>,
    edits: u32,
}

impl StoredMessage {
    /// The message as `chat.postMessage` echoes it.
    fn as_posted(&self) -> Value {
        let mut message = self.content();
        message.insert("type".into(), json!("message"));
        message.insert("ts".into(), json!(self.ts));
        message.insert("team".into(), json!(TEAM_ID));
        if let Some(thread_ts) = &self.thread_ts {
            message.insert("thread_ts".into(), json!(thread_ts));
        }
        Value::Object(message)
    }

    /// The message as `chat.update` echoes it.
    fn as_updated(&self, edited_ts: &str) -> Value {
        let mut message = self.content();
        message.insert("type".into(), json!("message"));
        message.insert(
            "edited".into(),
            json!({ "user": BOT_USER_ID, "ts": edited_ts }),
        );
        Value::Object(message)
    }

    /// Sender, text and blocks, leaving out what the message lacks.
    fn content(&self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("user".into(), json!(BOT_USER_ID));
        message.insert("bot_id".into(), json!(BOT_ID));
        if let Some(text) = &self.text {
            message.insert("text".into(), json!(text));
        }
        if let Some(blocks) = &self.blocks {
            message.insert("blocks".into(), blocks.clone());
        }
        message
    }

    /// What tests read: the current text and blocks.
    fn as_seen(&self) -> Value {
        json!({
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "blocks": self.blocks.clone().unwrap_or_else(|| json!([])),
            "edits": self.edits,
        })
    }
}

#[derive(Debug)]
enum FaultKind {
    Error(String),
    RateLimited(u64),
}

#[derive(Debug)]
struct Fault {
    method: String,
    remaining: usize,
    kind: FaultKind,
}

/// A channel's posting allowance (a token bucket).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one post, or says how long until one is available.
    fn take(&mut self, rate: PostRate, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(rate.burst);
        if rate.interval.is_zero() {
            return Ok(());
        }
        let regained = now.duration_since(self.last).as_secs_f64() / rate.interval.as_secs_f64();
        self.tokens = (self.tokens + regained).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(rate.interval.mul_f64(1.0 - self.tokens))
        }
    }
}

/// What a handler answers: a status, Slack's JSON, maybe a `Retry-After`.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Value,
    retry_after: Option<u64>,
}

impl Reply {
    /// `{"ok": true, ...fields}`.
    fn ok(fields: Value) -> Reply {
        let mut body = Map::new();
        body.insert("ok".into(), Value::Bool(true));
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        Reply {
            status: StatusCode::OK,
            body: Value::Object(body),
            retry_after: None,
        }
    }

    /// An API error: HTTP 200, as Slack answers them.
    fn error(code: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: json!({ "ok": false, "error": code }),
            retry_after: None,
        }
    }

    /// A refused payload, with the offending place as Slack reports it.
    fn refused(code: &str, violation: &Violation) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: json!({
                "ok": false,
                "error": code,
                "errors": [violation.to_string()],
                "response_metadata": { "messages": [format!("[ERROR] {violation}")] },
            }),
            retry_after: None,
        }
    }

    /// A response URL's refusal (see the module documentation).
    fn hook_error(status: StatusCode, code: &str) -> Reply {
        Reply {
            status,
            body: json!({ "ok": false, "error": code }),
            retry_after: None,
        }
    }

    fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "ok": false, "error": "ratelimited" }),
            retry_after: Some(retry_after_secs),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A method's result: the fields of an `ok` answer, or the refusal.
type Outcome = Result<Value, Reply>;

/// `Retry-After` is whole seconds: round up, and never say 0.
fn retry_after_secs(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A non-empty string parameter.
fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[derive(Debug)]
struct Workspace {
    token: String,
    rate: RateLimits,
    channels: Vec<Channel>,
    users: Vec<User>,
    usergroups: HashMap<String, Vec<String>>,
    messages: Vec<StoredMessage>,
    /// (channel, ts) -> index in `messages`.
    message_index: HashMap<(String, String), usize>,
    ephemerals: Vec<Ephemeral>,
    response_urls: HashMap<String, ResponseUrl>,
    response_url_lifetime: Duration,
    responses: Vec<ResponseAnswer>,
    views: Vec<OpenedView>,
    /// App Home tabs by user (`views.publish`).
    homes: HashMap<String, OpenedView>,
    /// Whether the app's Home tab is enabled (App Home settings).
    home_tab_disabled: bool,
    triggers_issued: HashMap<String, Instant>,
    triggers_exchanged: HashSet<String>,
    buckets: HashMap<String, Bucket>,
    recent: HashMap<String, VecDeque<Instant>>,
    faults: Vec<Fault>,
    latency: Duration,
    log: Vec<SlackCall>,
    /// Microseconds since the epoch of the last `ts` handed out.
    clock: u64,
    next_id: u64,
    /// Set: the app-level token and `apps.connections.open` (see [`crate::socket_mode`]).
    socket_mode: Option<crate::socket_mode::ConnectionsOpen>,
    /// Files uploaded through `files.getUploadURLExternal` (see [`crate::slack_files`]).
    files: crate::slack_files::Files,
    /// The stand-in's own base URL, for upload URLs.
    base_url: String,
    /// Whether the bot token has `files:write`.
    files_scope: bool,
    /// The Enterprise Grid organisation the fake workspace is in, if any.
    enterprise_id: Option<String>,
}

impl Workspace {
    fn new(token: &str, rate: RateLimits) -> Workspace {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1_732_500_000);
        Workspace {
            token: token.to_owned(),
            rate,
            channels: Vec::new(),
            users: Vec::new(),
            usergroups: HashMap::new(),
            messages: Vec::new(),
            message_index: HashMap::new(),
            ephemerals: Vec::new(),
            response_urls: HashMap::new(),
            response_url_lifetime: RESPONSE_URL_LIFETIME,
            responses: Vec::new(),
            views: Vec::new(),
            homes: HashMap::new(),
            home_tab_disabled: false,
            triggers_issued: HashMap::new(),
            triggers_exchanged: HashSet::new(),
            buckets: HashMap::new(),
            recent: HashMap::new(),
            faults: Vec::new(),
            latency: Duration::ZERO,
            log: Vec::new(),
            clock: now * 1_000_000,
            next_id: 0,
            socket_mode: None,
            files: crate::slack_files::Files::default(),
            base_url: String::new(),
            files_scope: true,
            enterprise_id: None,
        }
    }

    /// A unique, increasing message timestamp such as `1732500000.000100`.
    fn next_ts(&mut self) -> String {
        self.clock += 100;
        format!("{}.{:06}", self.clock / 1_000_000, self.clock % 1_000_000)
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08}", self.next_id)
    }

    fn new_hash(&mut self) -> String {
        self.next_id += 1;
        format!("{}.{:08x}", self.clock / 1_000_000, self.next_id)
    }

    /// Serves one request and logs it.
    fn serve(
        &mut self,
        http_method: &Method,
        method: &str,
        params: Result<Value, &'static str>,
        token: Option<&str>,
    ) -> Reply {
        let body = params.as_ref().cloned().unwrap_or(Value::Null);
        let reply = match params {
            Err(code) => Reply::error(code),
            Ok(params) => match self.admit(method, token) {
                Err(reply) => reply,
                Ok(()) => match self.dispatch(method, &params) {
                    Ok(fields) => Reply::ok(fields),
                    Err(reply) => reply,
                },
            },
        };
        self.log.push(SlackCall {
            method: method.to_owned(),
            http_method: http_method.to_string(),
            body,
            status: reply.status.as_u16(),
            response: reply.body.clone(),
            at: Instant::now(),
        });
        reply
    }

    /// Token, scripted faults and the method's rate budget, in that order.
    fn admit(&mut self, method: &str, token: Option<&str>) -> Result<(), Reply> {
        let app_level = self
            .socket_mode
            .as_ref()
            .and_then(|s| s.admit(method, token));
        if let Some(Err(code)) = app_level {
            return Err(Reply::error(code));
        }
        match token {
            None => return Err(Reply::error("not_authed")),
            Some(token) if token != self.token && app_level.is_none() => {
                return Err(Reply::error("invalid_auth"))
            }
            Some(_) => {}
        }
        if let Some(fault) = self
            .faults
            .iter_mut()
            .find(|f| f.method == method && f.remaining > 0)
        {
            fault.remaining -= 1;
            return Err(match &fault.kind {
                FaultKind::Error(code) => Reply::error(code),
                FaultKind::RateLimited(secs) => Reply::rate_limited(*secs),
            });
        }
        self.within_method_budget(method)
    }

    fn within_method_budget(&mut self, method: &str) -> Result<(), Reply> {
        let Some(rate) = self.rate.per_method.iter().find(|r| r.method == method) else {
            return Ok(());
        };
        let now = Instant::now();
        let recent = self.recent.entry(method.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= rate.window)
        {
            recent.pop_front();
        }
        if recent.len() >= rate.requests {
            let wait = recent.front().map_or(rate.window, |oldest| {
                rate.window.saturating_sub(now.duration_since(*oldest))
            });
            return Err(Reply::rate_limited(retry_after_secs(wait)));
        }
        recent.push_back(now);
        Ok(())
    }

    /// One post from `channel`'s allowance.
    fn take_post(&mut self, channel: &str) -> Result<(), Reply> {
        let Some(rate) = self.rate.post_per_channel else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = self
            .buckets
            .entry(channel.to_owned())
            .or_insert_with(|| Bucket {
                tokens: f64::from(rate.burst),
                last: now,
            });
        bucket
            .take(rate, now)
            .map_err(|wait| Reply::rate_limited(retry_after_secs(wait)))
    }

    fn dispatch(&mut self, method: &str, params: &Value) -> Outcome {
        match method {
            "auth.test" => Ok(auth_test(self.enterprise_id.as_deref())),
            "chat.postMessage" => self.post_message(params),
            "chat.update" => self.update_message(params),
            "chat.postEphemeral" => self.post_ephemeral(params),
            "views.open" => self.open_view(params, false),
            "views.push" => self.open_view(params, true),
            "views.update" => self.update_view(params),
            "views.publish" => self.publish_view(params),
            "users.info" => self.user_info(params),
            "conversations.info" => self.conversation_info(params),
            "usergroups.users.list" => self.usergroup_users(params),
            "files.getUploadURLExternal" => self.get_upload_url(params),
            "files.completeUploadExternal" => self.complete_upload(params),
            "apps.connections.open" => {
                crate::socket_mode::ConnectionsOpen::open(self.socket_mode.as_ref(), params)
                    .map_err(Reply::error)
            }
            _ => Err(Reply::error("unknown_method")),
        }
    }

    fn get_upload_url(&mut self, params: &Value) -> Outcome {
        if !self.files_scope {
            return Err(Reply::error("missing_scope"));
        }
        self.next_id += 1;
        let (id, mut fields) = self
            .files
            .get_upload_url(params, self.next_id)
            .map_err(Reply::error)?;
        fields["upload_url"] = json!(format!("{}/upload/v1/{id}", self.base_url));
        Ok(fields)
    }

    fn complete_upload(&mut self, params: &Value) -> Outcome {
        if !self.files_scope {
            return Err(Reply::error("missing_scope"));
        }
        let channel = match str_param(params, "channel_id") {
            None => None,
            Some(key) => {
                let channel = self
                    .channels
                    .iter()
                    .find(|c| c.id == key)
                    .ok_or_else(|| Reply::error("channel_not_found"))?;
                if !channel.bot_is_member {
                    return Err(Reply::error("not_in_channel"));
                }
                Some(channel.id.clone())
            }
        };
        self.files
            .complete(params, channel.as_deref())
            .map_err(Reply::error)
    }

    /// A channel by id, or by name with or without `#`, as chat methods take it.
    fn find_channel(&self, key: &str) -> Option<&Channel> {
        let name = key.strip_prefix('#').unwrap_or(key);
        self.channels
            .iter()
            .find(|c| c.id == key || (!name.is_empty() && c.name == name))
    }

    /// The id of a channel the bot may post in.
    fn postable_channel(&self, params: &Value) -> Result<String, Reply> {
        let channel = self
            .find_channel(str_param(params, "channel").unwrap_or_default())
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        if !channel.bot_is_member {
            return Err(Reply::error("not_in_channel"));
        }
        Ok(channel.id.clone())
    }

    fn post_message(&mut self, params: &Value) -> Outcome {
        let channel = self.postable_channel(params)?;
        // A refused payload still spent the request.
        self.take_post(&channel)?;
        let (text, blocks) = check_post_content(params)?;
        let message = StoredMessage {
            channel: channel.clone(),
            ts: self.next_ts(),
            text,
            blocks,
            thread_ts: str_param(params, "thread_ts").map(str::to_owned),
            edits: 0,
        };
        let reply = json!({ "channel": channel, "ts": message.ts, "message": message.as_posted() });
        self.message_index
            .insert((channel, message.ts.clone()), self.messages.len());
        self.messages.push(message);
        Ok(reply)
    }

    fn update_message(&mut self, params: &Value) -> Outcome {
        let channel = self
            .find_channel(str_param(params, "channel").unwrap_or_default())
            .map(|c| c.id.clone())
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        let (text, blocks) = check_content(params)?;
        let ts = str_param(params, "ts").unwrap_or_default().to_owned();
        let edited_ts = self.next_ts();
        let message = self
            .message_index
            .get(&(channel.clone(), ts.clone()))
            .and_then(|&index| self.messages.get_mut(index))
            .ok_or_else(|| Reply::error("message_not_found"))?;
        if text.is_some() {
            message.text = text;
        }
        // Leaving `blocks` out keeps the old ones; `[]` removes them.
        if let Some(blocks) = blocks {
            message.blocks = Some(blocks).filter(|b| b.as_array().is_none_or(|a| !a.is_empty()));
        }
        message.edits += 1;
        Ok(json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": message.as_updated(&edited_ts),
        }))
    }

    fn post_ephemeral(&mut self, params: &Value) -> Outcome {
        let channel = self.postable_channel(params)?;
        let user = str_param(params, "user")
            .ok_or_else(|| Reply::error("user_not_found"))?
            .to_owned();
        let is_member = self
            .channels
            .iter()
            .any(|c| c.id == channel && c.members.contains(&user));
        if !is_member {
            return Err(Reply::error("user_not_in_channel"));
        }
        let (text, blocks) = check_post_content(params)?;
        let message_ts = self.next_ts();
        self.ephemerals.push(Ephemeral {
            channel,
            user,
            text,
            blocks,
            message_ts: message_ts.clone(),
        });
        Ok(json!({ "message_ts": message_ts }))
    }

    /// `views.open`, or `views.push` onto the most recent modal.
    fn open_view(&mut self, params: &Value, push: bool) -> Outcome {
        let view = checked_view(params)?;
        let previous = if push { self.views.last() } else { None };
        let root = previous.map(|v| v.root_view_id.clone());
        let previous_view_id = previous.map(|v| v.id.clone());
        if let Some(root) = &root {
            if self
                .views
                .iter()
                .filter(|v| &v.root_view_id == root)
                .count()
                >= MODAL_STACK
            {
                return Err(Reply::error("push_limit_reached"));
            }
        }
        let trigger_id = self.exchange_trigger(params)?;
        let id = self.new_id("V");
        let opened = OpenedView {
            root_view_id: root.unwrap_or_else(|| id.clone()),
            id,
            previous_view_id,
            trigger_id: Some(trigger_id),
            hash: self.new_hash(),
            view: view.clone(),
            updates: 0,
        };
        let reply = json!({ "view": opened.as_response() });
        self.views.push(opened);
        Ok(reply)
    }

    /// A trigger may open one view, within 3 seconds of the interaction.
    fn exchange_trigger(&mut self, params: &Value) -> Result<String, Reply> {
        let trigger = str_param(params, "trigger_id")
            .or_else(|| str_param(params, "interactivity_pointer"))
            .ok_or_else(|| Reply::error("invalid_arguments"))?;
        if self.triggers_exchanged.contains(trigger) {
            return Err(Reply::error("exchanged_trigger_id"));
        }
        // Slack mints every trigger in an interaction payload; one it never
        // handed out (a hard-coded test value) is not a trigger at all.
        let Some(issued) = self.triggers_issued.get(trigger) else {
            return Err(Reply::error("invalid_trigger_id"));
        };
        if issued.elapsed() > TRIGGER_LIFETIME {
            return Err(Reply::error("expired_trigger_id"));
        }
        self.triggers_exchanged.insert(trigger.to_owned());
        Ok(trigger.to_owned())
    }

    fn update_view(&mut self, params: &Value) -> Outcome {
        let view = checked_view(params)?;
        let view_id = str_param(params, "view_id");
        let external_id = str_param(params, "external_id");
        let hash = self.new_hash();
        let opened = self
            .views
            .iter_mut()
            .find(|v| {
                view_id == Some(v.id.as_str())
                    || (external_id.is_some()
                        && v.view.get("external_id").and_then(Value::as_str) == external_id)
            })
            .ok_or_else(|| Reply::error("not_found"))?;
        if str_param(params, "hash").is_some_and(|expected| expected != opened.hash) {
            return Err(Reply::error("hash_conflict"));
        }
        opened.view = view.clone();
        opened.hash = hash;
        opened.updates += 1;
        Ok(json!({ "view": opened.as_response() }))
    }

    /// `views.publish`: a user's App Home tab, replaced whole.
    fn publish_view(&mut self, params: &Value) -> Outcome {
        let view = checked_home(params)?;
        // "not_enabled: … a home view is published but the Home tab isn't
        // enabled for the app" (methods/views.publish).
        if self.home_tab_disabled {
            return Err(Reply::error("not_enabled"));
        }
        let user = str_param(params, "user_id").ok_or_else(|| Reply::error("invalid_arguments"))?;
        if !self.users.iter().any(|u| u.id == user) {
            return Err(Reply::error("user_not_found"));
        }
        let published = OpenedView {
            id: self.new_id("V"),
            root_view_id: String::new(),
            previous_view_id: None,
            trigger_id: None,
            hash: self.new_hash(),
            view: view.clone(),
            updates: 0,
        };
        let mut shown = published.as_response();
        if let Some(fields) = shown.as_object_mut() {
            fields.remove("root_view_id");
            fields.remove("previous_view_id");
        }
        self.homes.insert(user.to_owned(), published);
        Ok(json!({ "view": shown }))
    }

    fn user_info(&self, params: &Value) -> Outcome {
        let id = str_param(params, "user").unwrap_or_default();
        let user = self
            .users
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| Reply::error("user_not_found"))?;
        Ok(json!({ "user": user.as_json() }))
    }

    fn conversation_info(&self, params: &Value) -> Outcome {
        let id = str_param(params, "channel").unwrap_or_default();
        let channel = self
            .channels
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        Ok(json!({ "channel": channel.as_json() }))
    }

    fn usergroup_users(&self, params: &Value) -> Outcome {
        let id = str_param(params, "usergroup").unwrap_or_default();
        let users = self
            .usergroups
            .get(id)
            .ok_or_else(|| Reply::error("no_such_subteam"))?;
        Ok(json!({ "users": users }))
    }
}

impl Workspace {
    /// An answer posted to the response URL `id`; logged as a call to
    /// the method `response_url`.
    fn answer(&mut self, id: &str, body: &[u8]) -> Reply {
        let reply = self.take_answer(id, body).unwrap_or_else(|refused| refused);
        self.log.push(SlackCall {
            method: "response_url".to_owned(),
            http_method: "POST".to_owned(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            status: reply.status.as_u16(),
            response: reply.body.clone(),
            at: Instant::now(),
        });
        reply
    }

    fn take_answer(&mut self, id: &str, body: &[u8]) -> Result<Reply, Reply> {
        let lifetime = self.response_url_lifetime;
        let minted = self
            .response_urls
            .get_mut(id)
            .ok_or_else(|| Reply::hook_error(StatusCode::NOT_FOUND, "no_service"))?;
        if minted.minted.elapsed() > lifetime || minted.uses >= RESPONSE_URL_USES {
            return Err(Reply::hook_error(StatusCode::NOT_FOUND, "expired_url"));
        }
        minted.uses += 1;
        let minted = minted.clone();
        let invalid = || Reply::hook_error(StatusCode::BAD_REQUEST, "invalid_payload");
        let params: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
        if !params.is_object() {
            return Err(invalid());
        }
        let response_type = match params.get("response_type") {
            None | Some(Value::Null) => "ephemeral",
            Some(Value::String(kind)) if kind == "ephemeral" || kind == "in_channel" => kind,
            Some(_) => return Err(invalid()),
        }
        .to_owned();
        let flag = |key: &str| params.get(key).and_then(Value::as_bool).unwrap_or(false);
        let delete_original = flag("delete_original");
        let (text, blocks) = if delete_original {
            (None, None)
        } else {
            check_content(&params).map_err(|refused| Reply {
                status: StatusCode::BAD_REQUEST,
                ..refused
            })?
        };
        self.responses.push(ResponseAnswer {
            url: minted.url,
            channel: minted.channel,
            user: minted.user,
            response_type,
            text,
            blocks,
            replace_original: flag("replace_original"),
            delete_original,
        });
        Ok(Reply::ok(json!({})))
    }
}

/// `auth.test` (<https://docs.slack.dev/reference/methods/auth.test>):
/// "When working against a team within an Enterprise organization, you'll
/// also find their enterprise_id here."
fn auth_test(enterprise_id: Option<&str>) -> Value {
    let mut answer = json!({
        "url": format!("https://{TEAM_NAME}.slack.com/"),
        "team": TEAM_NAME,
        "user": "tagbot",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": false,
    });
    if let Some(enterprise) = enterprise_id {
        answer["enterprise_id"] = json!(enterprise);
    }
    answer
}

/// A message's text and blocks, checked the way chat.postMessage,
/// chat.update and chat.postEphemeral check them.
fn check_content(params: &Value) -> Result<(Option<String>, Option<Value>), Reply> {
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let blocks = params.get("blocks").filter(|b| !b.is_null()).cloned();
    let has_text = text.as_deref().is_some_and(|t| !t.is_empty());
    let has_blocks = blocks
        .as_ref()
        .is_some_and(|b| b.as_array().is_none_or(|a| !a.is_empty()));
    if !has_text && !has_blocks && params.get("attachments").is_none() {
        return Err(Reply::error("no_text"));
    }
    if text
        .as_deref()
        .is_some_and(|t| t.chars().count() > MAX_MESSAGE_TEXT)
    {
        return Err(Reply::error("msg_too_long"));
    }
    if let Some(blocks) = &blocks {
        if !blocks.is_array() {
            return Err(Reply::error("invalid_blocks_format"));
        }
        block_kit::check_message_blocks(blocks)
            .map_err(|violation| Reply::refused("invalid_blocks", &violation))?;
    }
    Ok((text, blocks))
}

/// [`check_content`] for a new message: `blocks: []` is refused. Slack's
/// docs are silent on an empty array; Slack was observed answering
/// `invalid_blocks`, and the fake takes that stricter answer over ignoring it.
fn check_post_content(params: &Value) -> Result<(Option<String>, Option<Value>), Reply> {
    if params
        .get("blocks")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err(Reply::error("invalid_blocks"));
    }
    check_content(params)
}

/// The `view` of a views.* call: an object of at most [`MAX_VIEW_BYTES`].
fn sized_view(params: &Value) -> Result<&Value, Reply> {
    let view = params
        .get("view")
        .filter(|v| v.is_object())
        .ok_or_else(|| Reply::error("invalid_arguments"))?;
    if view.to_string().len() > MAX_VIEW_BYTES {
        return Err(Reply::error("view_too_large"));
    }
    Ok(view)
}

/// Checks a modal as Slack checks one that comes back in a
/// `response_action` (`update` or `push`) of a `view_submission`: the same
/// Block Kit limits and 250 kB as views.open. Slack then shows the caller
/// an error instead of the view; tests call this on what tagbot answered.
pub fn check_response_view(view: &Value) -> Result<(), String> {
    if view.to_string().len() > MAX_VIEW_BYTES {
        return Err("view_too_large".to_owned());
    }
    block_kit::check_modal(view).map_err(|violation| violation.to_string())
}

/// The `view` of views.open, views.push or views.update, checked as a modal.
fn checked_view(params: &Value) -> Result<&Value, Reply> {
    let view = sized_view(params)?;
    block_kit::check_modal(view)
        .map_err(|violation| Reply::refused("invalid_arguments", &violation))?;
    Ok(view)
}

/// The `view` of views.publish, checked as a Home tab.
fn checked_home(params: &Value) -> Result<&Value, Reply> {
    let view = sized_view(params)?;
    block_kit::check_home(view)
        .map_err(|violation| Reply::refused("invalid_arguments", &violation))?;
    Ok(view)
}

/// Block Kit's documented limits (see the module documentation for the
/// numbers and where Slack states them). Public so that tagbot's render
/// tests check what it draws with the same rules the fake enforces.
pub mod block_kit {
    use std::collections::HashSet;
    use std::fmt;

    use serde_json::Value;

    const MESSAGE_BLOCKS: usize = 50;
    const MODAL_BLOCKS: usize = 100;
    const TEXT_OBJECT: usize = 3_000;
    const SECTION_FIELDS: usize = 10;
    const SECTION_FIELD_TEXT: usize = 2_000;
    const HEADER_TEXT: usize = 150;
    const CONTEXT_ELEMENTS: usize = 10;
    const ACTIONS_ELEMENTS: usize = 25;
    const BUTTON_TEXT: usize = 75;
    const BUTTON_VALUE: usize = 2_000;
    const URL: usize = 3_000;
    const ID: usize = 255;
    const SELECT_OPTIONS: usize = 100;
    const OPTION_GROUPS: usize = 100;
    const OPTION_TEXT: usize = 75;
    const OPTION_VALUE: usize = 150;
    const OVERFLOW_OPTIONS: usize = 5;
    const CHOICE_OPTIONS: usize = 10;
    /// An input block's label and hint (blocks/input-block).
    const INPUT_LABEL: usize = 2_000;
    const PLACEHOLDER: usize = 150;
    const MODAL_TEXT: usize = 24;
    const PRIVATE_METADATA: usize = 3_000;
    /// A confirmation dialog's title, text, and confirm and deny labels
    /// (composition-objects/confirmation-dialog-object).
    const CONFIRM_TITLE: usize = 100;
    const CONFIRM_TEXT: usize = 300;
    const CONFIRM_BUTTON: usize = 30;

    /// Where a payload breaks a rule, as a JSON pointer, and which rule.
    #[derive(Debug)]
    pub struct Violation {
        pointer: String,
        reason: String,
    }

    impl Violation {
        fn new(pointer: &str, reason: impl Into<String>) -> Violation {
            Violation {
                pointer: pointer.to_owned(),
                reason: reason.into(),
            }
        }
    }

    impl fmt::Display for Violation {
        // Slack's own wording: "must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} [json-pointer:{}]", self.reason, self.pointer)
        }
    }

    /// What a check answers: nothing, or the first rule broken.
    pub type Checked = Result<(), Violation>;

    /// A message's `blocks` array.
    pub fn check_message_blocks(blocks: &Value) -> Checked {
        check_blocks(blocks, MESSAGE_BLOCKS, "/blocks")
    }

    /// A `view` for views.open, views.push or views.update.
    pub fn check_modal(view: &Value) -> Checked {
        if view.get("type").and_then(Value::as_str) != Some("modal") {
            return Err(Violation::new("/view/type", "must be \"modal\""));
        }
        // "Must be a plain_text text element" (reference/views/modal-views).
        required_plain(view, "title", MODAL_TEXT, "/view")?;
        optional_plain(view, "close", MODAL_TEXT, "/view")?;
        optional_plain(view, "submit", MODAL_TEXT, "/view")?;
        optional_str(view, "private_metadata", PRIVATE_METADATA, "/view")?;
        optional_str(view, "callback_id", ID, "/view")?;
        // "submit … Required if an input block is included" (reference/
        // views/modal-views).
        let has_input = view["blocks"]
            .as_array()
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "input"));
        if has_input && view.get("submit").is_none() {
            return Err(Violation::new(
                "/view/submit",
                "required when the view has an input block",
            ));
        }
        match view.get("blocks") {
            Some(blocks) => check_blocks(blocks, MODAL_BLOCKS, "/view/blocks"),
            None => Err(Violation::new("/view/blocks", "missing required field")),
        }
    }

    /// A `view` for views.publish: a Home tab holds up to 100 blocks, as a
    /// modal does (reference/app-surfaces/app-home).
    pub fn check_home(view: &Value) -> Checked {
        if view.get("type").and_then(Value::as_str) != Some("home") {
            return Err(Violation::new("/view/type", "must be \"home\""));
        }
        optional_str(view, "private_metadata", PRIVATE_METADATA, "/view")?;
        optional_str(view, "callback_id", ID, "/view")?;
        match view.get("blocks") {
            Some(blocks) => check_blocks(blocks, MODAL_BLOCKS, "/view/blocks"),
            None => Err(Violation::new("/view/blocks", "missing required field")),
        }
    }

    fn check_blocks(blocks: &Value, max: usize, at: &str) -> Checked {
        let blocks = array(blocks, max, at)?;
        let mut block_ids = HashSet::new();
        for (i, block) in blocks.iter().enumerate() {
            check_block(block, &format!("{at}/{i}"), &mut block_ids)?;
        }
        Ok(())
    }

    fn check_block(block: &Value, at: &str, block_ids: &mut HashSet<String>) -> Checked {
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return Err(Violation::new(
                &format!("{at}/type"),
                "missing required field",
            ));
        };
        if let Some(id) = block.get("block_id") {
            let pointer = format!("{at}/block_id");
            let id = identifier(id, &pointer)?;
            if !block_ids.insert(id.to_owned()) {
                return Err(Violation::new(
                    &pointer,
                    format!("duplicate block_id \"{id}\""),
                ));
            }
        }
        // action_id must be unique among the elements of one block.
        let mut action_ids = HashSet::new();
        match kind {
            "section" => check_section(block, at, &mut action_ids),
            "header" => check_header(block, at),
            "context" => check_context(block, at),
            "actions" => {
                let elements = required_items(block, "elements", ACTIONS_ELEMENTS, at)?;
                for (i, element) in elements.iter().enumerate() {
                    let at = format!("{at}/elements/{i}");
                    allowed_in_actions(element, &at)?;
                    check_element(element, &at, &mut action_ids)?;
                }
                Ok(())
            }
            // An input block needs a label (at most 2,000 characters) and
            // an element; label and hint are plain_text (blocks/input-block).
            "input" => {
                required_plain(block, "label", INPUT_LABEL, at)?;
                optional_plain(block, "hint", INPUT_LABEL, at)?;
                match block.get("element") {
                    Some(element) => {
                        check_element(element, &format!("{at}/element"), &mut action_ids)
                    }
                    None => Err(Violation::new(
                        &format!("{at}/element"),
                        "missing required field",
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    fn check_section(block: &Value, at: &str, action_ids: &mut HashSet<String>) -> Checked {
        if block.get("text").is_none() && block.get("fields").is_none() {
            return Err(Violation::new(at, "must provide either text or fields"));
        }
        optional_text(block, "text", TEXT_OBJECT, at)?;
        if block.get("fields").is_some() {
            let fields = required_array(block, "fields", SECTION_FIELDS, at)?;
            for (i, field) in fields.iter().enumerate() {
                text(field, SECTION_FIELD_TEXT, &format!("{at}/fields/{i}"))?;
            }
        }
        match block.get("accessory") {
            Some(element) => check_element(element, &format!("{at}/accessory"), action_ids),
            None => Ok(()),
        }
    }

    fn check_header(block: &Value, at: &str) -> Checked {
        required_plain(block, "text", HEADER_TEXT, at)
    }

    fn check_context(block: &Value, at: &str) -> Checked {
        let elements = required_items(block, "elements", CONTEXT_ELEMENTS, at)?;
        for (i, element) in elements.iter().enumerate() {
            let kind = element.get("type").and_then(Value::as_str);
            if matches!(kind, Some("plain_text" | "mrkdwn")) {
                text(element, TEXT_OBJECT, &format!("{at}/elements/{i}"))?;
            }
        }
        Ok(())
    }

    fn check_element(element: &Value, at: &str, action_ids: &mut HashSet<String>) -> Checked {
        if let Some(id) = element.get("action_id") {
            let pointer = format!("{at}/action_id");
            let id = identifier(id, &pointer)?;
            if !action_ids.insert(id.to_owned()) {
                return Err(Violation::new(
                    &pointer,
                    format!("duplicate action_id \"{id}\""),
                ));
            }
        }
        // Every placeholder is "A plain_text only text object" (the
        // select, multi-select and input elements' pages).
        optional_plain(element, "placeholder", PLACEHOLDER, at)?;
        if let Some(dialog) = element.get("confirm") {
            check_confirm(dialog, &format!("{at}/confirm"))?;
        }
        match type_of(element) {
            "button" => {
                // "Can only be of type: plain_text" (block-elements/button-element).
                required_plain(element, "text", BUTTON_TEXT, at)?;
                optional_str(element, "value", BUTTON_VALUE, at)?;
                optional_str(element, "url", URL, at)?;
                check_style(element, at)
            }
            "static_select" | "multi_static_select" => {
                check_options(element, SELECT_OPTIONS, Menu::PlainText, at)?;
                if element.get("option_groups").is_some() {
                    let groups = required_array(element, "option_groups", OPTION_GROUPS, at)?;
                    for (i, group) in groups.iter().enumerate() {
                        let at = format!("{at}/option_groups/{i}");
                        // "A plain_text text object" (composition-objects/option-group-object).
                        required_plain(group, "label", OPTION_TEXT, &at)?;
                        check_options(group, SELECT_OPTIONS, Menu::PlainText, &at)?;
                    }
                }
                Ok(())
            }
            "overflow" => check_options(element, OVERFLOW_OPTIONS, Menu::PlainText, at),
            // "Maximum number of options is 10" (block-elements/
            // radio-button-group-element, checkboxes-element).
            "checkboxes" | "radio_buttons" => {
                check_options(element, CHOICE_OPTIONS, Menu::AnyText, at)
            }
            _ => Ok(()),
        }
    }

    /// The `type` of a block, element or text object.
    fn type_of(object: &Value) -> &str {
        object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Multi-select menus work "with block types: Section, Input"
    /// (block-elements/multi-select-menu-element): not in an actions block.
    fn allowed_in_actions(element: &Value, at: &str) -> Checked {
        if type_of(element).starts_with("multi_") {
            return Err(Violation::new(
                &format!("{at}/type"),
                "multi-select menus are not allowed in actions blocks",
            ));
        }
        Ok(())
    }

    /// A button's `style`: "primary", "danger" or none (block-elements/
    /// button-element).
    fn check_style(button: &Value, at: &str) -> Checked {
        match button.get("style").map(|style| style.as_str()) {
            None | Some(Some("primary" | "danger")) => Ok(()),
            Some(_) => Err(Violation::new(
                &format!("{at}/style"),
                "must be \"primary\" or \"danger\"",
            )),
        }
    }

    /// A confirmation dialog: title, confirm and deny plain_text of at
    /// most 100, 30 and 30 characters, text of at most 300
    /// (composition-objects/confirmation-dialog-object).
    fn check_confirm(dialog: &Value, at: &str) -> Checked {
        required_plain(dialog, "title", CONFIRM_TITLE, at)?;
        required_text(dialog, "text", CONFIRM_TEXT, at)?;
        required_plain(dialog, "confirm", CONFIRM_BUTTON, at)?;
        required_plain(dialog, "deny", CONFIRM_BUTTON, at)
    }

    /// Which text objects a menu's options may use: "Overflow, select, and
    /// multi-select menus can only use plain_text objects, while radio
    /// buttons and checkboxes can use mrkdwn" (composition-objects/option-object).
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Menu {
        PlainText,
        AnyText,
    }

    /// The `options` of a menu, if it has any: at least one, each value
    /// "A unique string value" (composition-objects/option-object).
    fn check_options(element: &Value, max: usize, menu: Menu, at: &str) -> Checked {
        if element.get("options").is_none() {
            return Ok(());
        }
        let options = required_items(element, "options", max, at)?;
        let mut values = HashSet::new();
        for (i, option) in options.iter().enumerate() {
            let at = format!("{at}/options/{i}");
            match menu {
                Menu::PlainText => required_plain(option, "text", OPTION_TEXT, &at)?,
                Menu::AnyText => required_text(option, "text", OPTION_TEXT, &at)?,
            }
            let pointer = format!("{at}/value");
            let Some(value) = option.get("value").and_then(Value::as_str) else {
                return Err(Violation::new(&pointer, "missing required field"));
            };
            filled(value, OPTION_VALUE, &pointer)?;
            if !values.insert(value) {
                return Err(Violation::new(
                    &pointer,
                    format!("duplicate option value \"{value}\""),
                ));
            }
            optional_text(option, "description", OPTION_TEXT, &at)?;
            optional_str(option, "url", URL, &at)?;
        }
        Ok(())
    }

    fn length(s: &str, limit: usize, at: &str) -> Checked {
        if s.chars().count() > limit {
            return Err(Violation::new(
                at,
                format!("must be less than {} characters", limit + 1),
            ));
        }
        Ok(())
    }

    /// `s` of 1 to `limit` characters.
    fn filled(s: &str, limit: usize, at: &str) -> Checked {
        if s.is_empty() {
            return Err(Violation::new(at, "must be at least 1 character"));
        }
        length(s, limit, at)
    }

    /// A text object (`{"type": …, "text": …}`): `plain_text` or `mrkdwn`,
    /// 1 to `limit` characters ("The minimum length is 1",
    /// composition-objects/text-object).
    fn text(object: &Value, limit: usize, at: &str) -> Checked {
        let Some(s) = object.get("text").and_then(Value::as_str) else {
            return Err(Violation::new(at, "must be a text object"));
        };
        if !matches!(type_of(object), "plain_text" | "mrkdwn") {
            return Err(Violation::new(
                &format!("{at}/type"),
                "must be \"plain_text\" or \"mrkdwn\"",
            ));
        }
        filled(s, limit, &format!("{at}/text"))
    }

    /// [`required_text`] that must be `plain_text`.
    fn required_plain(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
        required_text(parent, key, limit, at)?;
        plain_only(parent, key, at)
    }

    /// [`optional_text`] that must be `plain_text`.
    fn optional_plain(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
        optional_text(parent, key, limit, at)?;
        plain_only(parent, key, at)
    }

    fn plain_only(parent: &Value, key: &str, at: &str) -> Checked {
        match parent.get(key) {
            Some(object) if type_of(object) != "plain_text" => Err(Violation::new(
                &format!("{at}/{key}/type"),
                "must be \"plain_text\"",
            )),
            _ => Ok(()),
        }
    }

    fn required_text(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
        match parent.get(key) {
            Some(object) => text(object, limit, &format!("{at}/{key}")),
            None => Err(Violation::new(
                &format!("{at}/{key}"),
                "missing required field",
            )),
        }
    }

    fn optional_text(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
        match parent.get(key) {
            Some(object) => text(object, limit, &format!("{at}/{key}")),
            None => Ok(()),
        }
    }

    fn optional_str(parent: &Value, key: &str, limit: usize, at: &str) -> Checked {
        let pointer = format!("{at}/{key}");
        match parent.get(key) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::String(s)) => length(s, limit, &pointer),
            Some(_) => Err(Violation::new(&pointer, "must be a string")),
        }
    }

    /// An `action_id` or `block_id`.
    fn identifier<'a>(id: &'a Value, at: &str) -> Result<&'a str, Violation> {
        let Some(id) = id.as_str() else {
            return Err(Violation::new(at, "must be a string"));
        };
        length(id, ID, at)?;
        Ok(id)
    }

    fn array<'a>(value: &'a Value, max: usize, at: &str) -> Result<&'a Vec<Value>, Violation> {
        let Some(items) = value.as_array() else {
            return Err(Violation::new(at, "must be an array"));
        };
        if items.len() > max {
            return Err(Violation::new(
                at,
                format!("no more than {max} items allowed"),
            ));
        }
        Ok(items)
    }

    fn required_array<'a>(
        parent: &'a Value,
        key: &str,
        max: usize,
        at: &str,
    ) -> Result<&'a Vec<Value>, Violation> {
        let pointer = format!("{at}/{key}");
        match parent.get(key) {
            Some(value) => array(value, max, &pointer),
            None => Err(Violation::new(&pointer, "missing required field")),
        }
    }

    /// [`required_array`] with at least one item. The pages give no
    /// minimum for a block's elements or a menu's options; an empty list
    /// shows nothing to read or pick, and the fake takes the stricter
    /// reading and refuses it.
    fn required_items<'a>(
        parent: &'a Value,
        key: &str,
        max: usize,
        at: &str,
    ) -> Result<&'a Vec<Value>, Violation> {
        let items = required_array(parent, key, max, at)?;
        if items.is_empty() {
            return Err(Violation::new(
                &format!("{at}/{key}"),
                "must provide at least 1 items",
            ));
        }
        Ok(items)
    }
}

/// A running fake; dropping it leaves the server running until `shutdown`.
#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<Workspace>>,
    /// The Web API base URL: `http://127.0.0.1:PORT`.
    pub url: String,
    served: crate::Served,
}

impl FakeSlack {
    /// Starts a fake workspace accepting the bot token `token`.
    pub async fn start(token: &str, rate: RateLimits) -> std::io::Result<FakeSlack> {
        let state = Arc::new(Mutex::new(Workspace::new(token, rate)));
        let app = Router::new()
            .route("/response/{id}", post(response_hook))
            .route("/upload/v1/{id}", post(upload_hook))
            .fallback(api)
            .with_state(Arc::clone(&state));
        let served = crate::Served::start(app, "fake Slack").await?;
        lock(&state).base_url.clone_from(&served.url);
        Ok(FakeSlack {
            state,
            url: served.url.clone(),
            served,
        })
    }

    pub fn shutdown(&self) {
        self.served.shutdown();
    }

    fn lock(&self) -> MutexGuard<'_, Workspace> {
        lock(&self.state)
    }

    /// Adds (or replaces) a user whose display and real name are
    /// `display_name`; the user joins every channel that exists now.
    pub fn add_user(&self, id: &str, display_name: &str) {
        self.add_user_names(id, display_name, display_name);
    }

    /// Adds (or replaces) a user, who joins every channel that exists now;
    /// Slack users often have an empty display name.
    pub fn add_user_names(&self, id: &str, display_name: &str, real_name: &str) {
        let mut workspace = self.lock();
        for channel in &mut workspace.channels {
            channel.members.insert(id.to_owned());
        }
        workspace.users.retain(|u| u.id != id);
        let enterprise_id = workspace.enterprise_id.clone();
        workspace.users.push(User {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
            real_name: real_name.to_owned(),
            team_id: TEAM_ID.to_owned(),
            enterprise_id,
        });
    }

    /// Adds (or replaces) a user of another workspace, `team_id` (in Grid
    /// organisation `enterprise_id`, if any): an external member of a Slack
    /// Connect channel, or a colleague from another workspace of the same
    /// organisation. They join every channel that exists now.
    pub fn add_user_of(
        &self,
        id: &str,
        display_name: &str,
        team_id: &str,
        enterprise_id: Option<&str>,
    ) {
        let mut workspace = self.lock();
        for channel in &mut workspace.channels {
            channel.members.insert(id.to_owned());
        }
        workspace.users.retain(|u| u.id != id);
        workspace.users.push(User {
            id: id.to_owned(),
            display_name: display_name.to_owned(),
            real_name: display_name.to_owned(),
            team_id: team_id.to_owned(),
            enterprise_id: enterprise_id.map(str::to_owned),
        });
    }

    /// Puts the fake workspace in Enterprise Grid organisation
    /// `enterprise_id` (`auth.test` reports it; users added later are in it).
    pub fn set_enterprise(&self, enterprise_id: Option<&str>) {
        self.lock().enterprise_id = enterprise_id.map(str::to_owned);
    }

    /// Adds (or replaces) a public channel, with no users in it yet.
    pub fn add_channel(&self, id: &str, name: &str, bot_is_member: bool) {
        let mut workspace = self.lock();
        workspace.channels.retain(|c| c.id != id);
        workspace.channels.push(Channel {
            id: id.to_owned(),
            name: name.to_owned(),
            bot_is_member,
            members: HashSet::new(),
        });
    }

    /// `user` joins `channel`.
    pub fn join_channel(&self, channel_id: &str, user: &str) {
        if let Some(channel) = self.lock().channels.iter_mut().find(|c| c.id == channel_id) {
            channel.members.insert(user.to_owned());
        }
    }

    /// `user` leaves `channel`: ephemerals to them there now answer
    /// `user_not_in_channel`.
    pub fn remove_from_channel(&self, channel_id: &str, user: &str) {
        if let Some(channel) = self.lock().channels.iter_mut().find(|c| c.id == channel_id) {
            channel.members.remove(user);
        }
    }

    /// Invites the bot to a channel or removes it, as a person would.
    pub fn set_bot_membership(&self, channel_id: &str, is_member: bool) {
        if let Some(channel) = self.lock().channels.iter_mut().find(|c| c.id == channel_id) {
            channel.bot_is_member = is_member;
        }
    }

    /// Adds (or replaces) a user group and its members.
    pub fn add_usergroup(&self, id: &str, users: &[&str]) {
        self.lock().usergroups.insert(
            id.to_owned(),
            users.iter().map(|u| (*u).to_owned()).collect(),
        );
    }

    /// The next `count` calls to `method` answer `{"ok":false,"error":error}`.
    pub fn fail_next(&self, method: &str, count: usize, error: &str) {
        self.lock().faults.push(Fault {
            method: method.to_owned(),
            remaining: count,
            kind: FaultKind::Error(error.to_owned()),
        });
    }

    /// The next `count` calls to `method` answer HTTP 429 with
    /// `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, method: &str, count: usize, retry_after_secs: u64) {
        self.lock().faults.push(Fault {
            method: method.to_owned(),
            remaining: count,
            kind: FaultKind::RateLimited(retry_after_secs),
        });
    }

    /// Answers `apps.connections.open` (app-level token only) with URLs of
    /// `socket`; see [`crate::socket_mode`].
    pub fn enable_socket_mode(&self, socket: &crate::socket_mode::FakeSocketMode) {
        self.lock().socket_mode = Some(socket.connections_open());
    }

    /// Every request waits this long before it is looked at.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Replaces the rate limits, e.g. with [`RateLimits::off`] mid-test.
    pub fn set_rate_limits(&self, rate: RateLimits) {
        let mut workspace = self.lock();
        workspace.rate = rate;
        workspace.buckets.clear();
        workspace.recent.clear();
    }

    /// A fresh `trigger_id`, as an interaction payload carries one: it opens
    /// one modal, within 3 seconds.
    pub fn trigger_id(&self) -> String {
        let mut workspace = self.lock();
        workspace.next_id += 1;
        let trigger = format!(
            "{}.{}.{:016x}",
            workspace.next_id,
            workspace.clock / 1_000_000,
            workspace.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        workspace
            .triggers_issued
            .insert(trigger.clone(), Instant::now());
        trigger
    }

    /// A trigger id and a response URL for one interaction or command by
    /// `user` in `channel`, as Slack mints them.
    pub fn mint(&self, channel: &str, user: &str) -> crate::workspace::Minted {
        crate::workspace::Minted {
            trigger_id: self.trigger_id(),
            response_url: self.response_url(channel, user),
        }
    }

    /// A fresh `response_url` for an answer to `user` in `channel`, as a
    /// slash command or a click carries one: 5 answers within 30 minutes.
    pub fn response_url(&self, channel: &str, user: &str) -> String {
        let mut workspace = self.lock();
        workspace.next_id += 1;
        let id = format!(
            "R{:08}{:016x}",
            workspace.next_id,
            workspace.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        let url = format!("{}/response/{id}", self.url);
        workspace.response_urls.insert(
            id,
            ResponseUrl {
                url: url.clone(),
                channel: channel.to_owned(),
                user: user.to_owned(),
                minted: Instant::now(),
                uses: 0,
            },
        );
        url
    }

    /// The files uploaded so far, shared or not.
    pub fn files(&self) -> Vec<crate::slack_files::UploadedFile> {
        self.lock().files.list.clone()
    }

    /// Takes `files:write` from the bot token (true) or gives it back.
    pub fn without_files_scope(&self, without: bool) {
        self.lock().files_scope = !without;
    }

    /// How long a minted `response_url` takes answers (30 minutes unless
    /// set), for URLs minted before and after.
    pub fn set_response_url_lifetime(&self, lifetime: Duration) {
        self.lock().response_url_lifetime = lifetime;
    }

    /// Every answer accepted at a response URL, oldest first.
    pub fn responses(&self) -> Vec<ResponseAnswer> {
        self.lock().responses.clone()
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.lock().log.clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.lock()
            .log
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// How many calls `method` received, whatever their answer.
    pub fn count(&self, method: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|c| c.method == method)
            .count()
    }

    /// How many calls were answered with HTTP 429.
    pub fn rate_limited(&self) -> usize {
        self.lock().log.iter().filter(|c| c.status == 429).count()
    }

    /// A message as it now stands: `{"channel","ts","thread_ts","text",
    /// "blocks","edits"}` (`blocks` is `[]` when it has none).
    pub fn message(&self, channel: &str, ts: &str) -> Option<Value> {
        let workspace = self.lock();
        workspace
            .message_index
            .get(&(channel.to_owned(), ts.to_owned()))
            .and_then(|&index| workspace.messages.get(index))
            .map(StoredMessage::as_seen)
    }

    /// A message the bot posted before the test began (history, not a
    /// call: no rate limit, nothing logged); returns its `ts`.
    pub fn add_message(&self, channel: &str, text: &str) -> String {
        let mut workspace = self.lock();
        let ts = workspace.next_ts();
        let index = workspace.messages.len();
        workspace.messages.push(StoredMessage {
            channel: channel.to_owned(),
            ts: ts.clone(),
            text: Some(text.to_owned()),
            blocks: None,
            thread_ts: None,
            edits: 0,
        });
        workspace
            .message_index
            .insert((channel.to_owned(), ts.clone()), index);
        ts
    }

    /// Every message posted to `channel`, oldest first, as [`Self::message`] shows them.
    pub fn messages(&self, channel: &str) -> Vec<Value> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.channel == channel)
            .map(StoredMessage::as_seen)
            .collect()
    }

    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.lock().ephemerals.clone()
    }

    /// Every modal view opened or pushed, as last updated.
    pub fn views(&self) -> Vec<OpenedView> {
        self.lock().views.clone()
    }

    /// Turns the app's Home tab off (or on), as in the App Home settings:
    /// views.publish then answers `not_enabled`.
    pub fn set_home_tab_enabled(&self, enabled: bool) {
        self.lock().home_tab_disabled = !enabled;
    }

    /// The App Home tab last published for `user`.
    pub fn home(&self, user: &str) -> Option<OpenedView> {
        self.lock().homes.get(user).cloned()
    }
}

fn lock(state: &Mutex<Workspace>) -> MutexGuard<'_, Workspace> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

type Shared = State<Arc<Mutex<Workspace>>>;

/// Every request: `{base}/{method}` with any HTTP method.
async fn api(
    State(state): Shared,
    http_method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let method = uri.path().rsplit('/').next().unwrap_or_default().to_owned();
    let params = parse_params(&headers, query.as_deref(), &body);
    let token = bearer_token(&headers).or_else(|| {
        params
            .as_ref()
            .ok()
            .and_then(|p| str_param(p, "token"))
            .map(str::to_owned)
    });
    let latency = lock(&state).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    lock(&state)
        .serve(&http_method, &method, params, token.as_deref())
        .into_response()
}

/// `POST {url}/upload/v1/{id}`: a file's bytes, to the URL
/// `files.getUploadURLExternal` gave (no token: the URL is the secret).
async fn upload_hook(State(state): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    match lock(&state).files.upload(&id, &body) {
        Ok(()) => (StatusCode::OK, format!("OK - {}", body.len())).into_response(),
        Err(status) => StatusCode::from_u16(status)
            .unwrap_or(StatusCode::BAD_REQUEST)
            .into_response(),
    }
}

/// `POST {url}/response/{id}`: an answer through a response URL. Slack
/// needs no token there: the URL is the secret.
async fn response_hook(State(state): Shared, Path(id): Path<String>, body: Bytes) -> Response {
    let latency = lock(&state).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    lock(&state).answer(&id, &body).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The call's arguments as one JSON object: query string, then the body
/// (JSON, or form-encoded with `blocks` / `view` as JSON strings).
fn parse_params(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, &'static str> {
    let mut params = Map::new();
    for (key, value) in url_pairs(query.unwrap_or_default()) {
        params.insert(key, Value::String(value));
    }
    if !body.is_empty() {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            let text = std::str::from_utf8(body).map_err(|_| "invalid_form_data")?;
            for (key, value) in url_pairs(text) {
                params.insert(key, Value::String(value));
            }
        } else {
            match serde_json::from_slice(body) {
                Ok(Value::Object(fields)) => params.extend(fields),
                _ => return Err("invalid_json"),
            }
        }
    }
    for key in ["blocks", "view", "attachments"] {
        let decoded = match params.get(key) {
            Some(Value::String(encoded)) => serde_json::from_str::<Value>(encoded).ok(),
            _ => None,
        };
        // Undecodable JSON stays a string, which the method then refuses.
        if let Some(decoded) = decoded {
            params.insert(key.to_owned(), decoded);
        }
    }
    Ok(Value::Object(params))
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn url_pairs(encoded: &str) -> Vec<(String, String)> {
    if encoded.is_empty() {
        return Vec::new();
    }
    reqwest::Url::parse(&format!("http://x/?{encoded}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}
