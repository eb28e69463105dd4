//! The workspace the Slack stand-in holds in memory: its directory
//! (channels, users, user groups), what the app made there (messages,
//! ephemerals, modals, Home tabs, files, answers at response URLs), what it
//! minted (triggers, response URLs), the scripted faults and holds, and
//! the request log. Plain data and the ids and clocks every method family draws from;
//! each family's file adds the behaviour.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::hold::Gate;
use super::rate_limits::{Pacing, RateLimits};

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
pub(super) struct ResponseUrl {
    pub(super) url: String,
    pub(super) channel: String,
    pub(super) user: String,
    pub(super) minted: Instant,
    pub(super) uses: u32,
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
    /// How many times `views.update` (or the answer to a submission)
    /// replaced it.
    pub updates: u32,
}

#[derive(Debug, Clone)]
pub(super) struct Channel {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) bot_is_member: bool,
    /// Users in the channel (the bot aside).
    pub(super) members: HashSet<String>,
}

#[derive(Debug, Clone)]
pub(super) struct User {
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) real_name: String,
    /// The user's own workspace: the fake's, or (an external member of a
    /// Slack Connect channel) another organisation's.
    pub(super) team_id: String,
    /// Their Enterprise Grid organisation, when they are in one.
    pub(super) enterprise_id: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct StoredMessage {
    pub(super) channel: String,
    pub(super) ts: String,
    pub(super) text: Option<String>,
    pub(super) blocks: Option<Value>,
    pub(super) thread_ts: Option<String>,
    pub(super) edits: u32,
}

#[derive(Debug)]
pub(super) enum FaultKind {
    Error(String),
    RateLimited(u64),
}

/// A test's scripted refusal of the next `remaining` calls to `method`.
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) method: String,
    pub(super) remaining: usize,
    pub(super) kind: FaultKind,
}

#[derive(Debug)]
pub(super) struct Workspace {
    pub(super) token: String,
    pub(super) pacing: Pacing,
    pub(super) channels: Vec<Channel>,
    pub(super) users: Vec<User>,
    pub(super) usergroups: HashMap<String, Vec<String>>,
    pub(super) messages: Vec<StoredMessage>,
    /// (channel, ts) -> index in `messages`.
    pub(super) message_index: HashMap<(String, String), usize>,
    pub(super) ephemerals: Vec<Ephemeral>,
    pub(super) response_urls: HashMap<String, ResponseUrl>,
    pub(super) response_url_lifetime: Duration,
    pub(super) responses: Vec<ResponseAnswer>,
    pub(super) views: Vec<OpenedView>,
    /// App Home tabs by user (`views.publish`).
    pub(super) homes: HashMap<String, OpenedView>,
    /// Whether the app's Home tab is enabled (App Home settings).
    pub(super) home_tab_disabled: bool,
    pub(super) triggers_issued: HashMap<String, Instant>,
    pub(super) triggers_exchanged: HashSet<String>,
    pub(super) faults: Vec<Fault>,
    /// Methods whose calls wait until the test lets them go.
    pub(super) gates: HashMap<String, Gate>,
    pub(super) latency: Duration,
    pub(super) log: Vec<SlackCall>,
    /// Microseconds since the epoch of the last `ts` handed out.
    pub(super) clock: u64,
    pub(super) next_id: u64,
    /// Set: the app-level token and `apps.connections.open` (see [`crate::socket_mode`]).
    pub(super) socket_mode: Option<crate::socket_mode::ConnectionsOpen>,
    /// Files uploaded through `files.getUploadURLExternal` (see [`crate::slack_files`]).
    pub(super) files: crate::slack_files::Files,
    /// The stand-in's own base URL, for upload URLs.
    pub(super) base_url: String,
    /// Whether the bot token has `files:write`.
    pub(super) files_scope: bool,
    /// The Enterprise Grid organisation the fake workspace is in, if any.
    pub(super) enterprise_id: Option<String>,
}

impl Workspace {
    /// An empty workspace whose response URLs live as long as Slack's.
    pub(super) fn new(token: &str, rate: RateLimits, response_url_lifetime: Duration) -> Workspace {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1_732_500_000);
        Workspace {
            token: token.to_owned(),
            pacing: Pacing::new(rate),
            channels: Vec::new(),
            users: Vec::new(),
            usergroups: HashMap::new(),
            messages: Vec::new(),
            message_index: HashMap::new(),
            ephemerals: Vec::new(),
            response_urls: HashMap::new(),
            response_url_lifetime,
            responses: Vec::new(),
            views: Vec::new(),
            homes: HashMap::new(),
            home_tab_disabled: false,
            triggers_issued: HashMap::new(),
            triggers_exchanged: HashSet::new(),
            faults: Vec::new(),
            gates: HashMap::new(),
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
    pub(super) fn next_ts(&mut self) -> String {
        self.clock += 100;
        format!("{}.{:06}", self.clock / 1_000_000, self.clock % 1_000_000)
    }

    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08}", self.next_id)
    }

    pub(super) fn new_hash(&mut self) -> String {
        self.next_id += 1;
        format!("{}.{:08x}", self.clock / 1_000_000, self.next_id)
    }

    /// A fresh counter and its scrambled value, which trigger ids and
    /// response URLs are made of so that none is guessed from the one before.
    pub(super) fn new_secret(&mut self) -> (u64, u64) {
        self.next_id += 1;
        (
            self.next_id,
            self.next_id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        )
    }
}
