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
//! method itself. Each rule, with its documented number and the page of
//! Slack's documentation it comes from, is written where it is enforced:
//!
//! | file | owns |
//! |---|---|
//! | `state.rs` | the workspace in memory: directory, what the app made, what was minted, faults, the log |
//! | `hold.rs` | a test's hold on one method's calls, to order a race |
//! | `dispatch.rs` | one call: admission in the order above, the method by its family, the log |
//! | `auth.rs` | the tokens, `auth.test` |
//! | `rate_limits.rs` | [`RateLimits`]: Slack's tiers and the posting limit per channel |
//! | `chat.rs` | `chat.postMessage`, `chat.update`, `chat.postEphemeral`: message text and blocks, channel membership |
//! | `views.rs` | `views.open`, `views.push`, `views.update`, `views.publish`: modals, Home tabs, trigger ids, view hashes, the answer to a submission |
//! | `users.rs` | `users.info`, `usergroups.users.list`: users and user groups |
//! | `conversations.rs` | `conversations.info`: channels |
//! | `files.rs` | `files.getUploadURLExternal`, `files.completeUploadExternal` (the upload flow: [`crate::slack_files`]) |
//! | `response_urls.rs` | response URLs: 5 answers within 30 minutes |
//! | `params.rs`, `reply.rs` | a call's arguments read one way; Slack's answers |
//!
//! Block Kit's limits are [`crate::block_kit`]'s. Where the documentation
//! is loose the fake takes the stricter reading, and says so where it does.
//!
//! Users are members of the channels they joined ([`FakeSlack::add_user`]
//! joins every channel that exists at the time, [`FakeSlack::join_channel`]
//! one more). Tests seed the directory (channels, users, user groups),
//! script faults and latency, and read the request log and the current
//! state of every message, ephemeral and modal.

mod auth;
mod chat;
mod conversations;
mod dispatch;
mod files;
mod hold;
mod params;
mod rate_limits;
mod reply;
mod response_urls;
mod state;
mod users;
mod views;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use self::params::{bearer_token, parse_params, str_param};
use self::response_urls::RESPONSE_URL_LIFETIME;
use self::state::{Channel, Fault, FaultKind, StoredMessage, User, Workspace};

pub use self::hold::HeldCalls;
pub use self::rate_limits::{MethodRate, PostRate, RateLimits};
pub use self::state::{Ephemeral, OpenedView, ResponseAnswer, SlackCall};
pub use self::views::check_response_view;
pub use crate::workspace::{APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, TEAM_NAME};

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
        let state = Arc::new(Mutex::new(Workspace::new(
            token,
            rate,
            RESPONSE_URL_LIFETIME,
        )));
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
        let enterprise_id = workspace.enterprise_id.clone();
        workspace.add_user(User {
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
        self.lock().add_user(User {
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
        if let Some(channel) = self.lock().channel_mut(channel_id) {
            channel.members.insert(user.to_owned());
        }
    }

    /// `user` leaves `channel`: ephemerals to them there now answer
    /// `user_not_in_channel`.
    pub fn remove_from_channel(&self, channel_id: &str, user: &str) {
        if let Some(channel) = self.lock().channel_mut(channel_id) {
            channel.members.remove(user);
        }
    }

    /// Invites the bot to a channel or removes it, as a person would.
    pub fn set_bot_membership(&self, channel_id: &str, is_member: bool) {
        if let Some(channel) = self.lock().channel_mut(channel_id) {
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
        self.script_fault(method, count, FaultKind::Error(error.to_owned()));
    }

    /// The next `count` calls to `method` answer HTTP 429 with
    /// `Retry-After: retry_after_secs`.
    pub fn rate_limit_next(&self, method: &str, count: usize, retry_after_secs: u64) {
        self.script_fault(method, count, FaultKind::RateLimited(retry_after_secs));
    }

    fn script_fault(&self, method: &str, count: usize, kind: FaultKind) {
        self.lock().faults.push(Fault {
            method: method.to_owned(),
            remaining: count,
            kind,
        });
    }

    /// Answers `apps.connections.open` (app-level token only) with URLs of
    /// `socket`; see [`crate::socket_mode`].
    pub fn enable_socket_mode(&self, socket: &crate::socket_mode::FakeSocketMode) {
        self.lock().socket_mode = Some(socket.connections_open());
    }

    /// Calls to `method` wait, before they are looked at, until the
    /// returned handle lets them go (or is dropped).
    pub fn hold(&self, method: &str) -> HeldCalls {
        let (gate, held) = hold::hold();
        self.lock().gates.insert(method.to_owned(), gate);
        held
    }

    /// Every request waits this long before it is looked at.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Replaces the rate limits, e.g. with [`RateLimits::off`] mid-test.
    pub fn set_rate_limits(&self, rate: RateLimits) {
        self.lock().pacing = rate_limits::Pacing::new(rate);
    }

    /// A fresh `trigger_id`, as an interaction payload carries one: it opens
    /// one modal, within 3 seconds.
    pub fn trigger_id(&self) -> String {
        self.lock().mint_trigger()
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
        self.lock().mint_response_url(&self.url, channel, user)
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
        self.lock().message(channel, ts).map(StoredMessage::as_seen)
    }

    /// A message the bot posted before the test began (history, not a
    /// call: no rate limit, nothing logged); returns its `ts`.
    pub fn add_message(&self, channel: &str, text: &str) -> String {
        let mut workspace = self.lock();
        let ts = workspace.next_ts();
        workspace.keep_message(StoredMessage {
            channel: channel.to_owned(),
            ts: ts.clone(),
            text: Some(text.to_owned()),
            blocks: None,
            thread_ts: None,
            edits: 0,
        });
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

    /// What Slack does with the app's acknowledgement `answer` of a
    /// `view_submission` of the modal `view_id` (see `views.rs`): the
    /// answer's own checks, then the view replaced, left or closed. The
    /// error is what Slack would show the user instead.
    pub fn answer_submission(&self, view_id: &str, answer: &Value) -> Result<(), String> {
        self.lock().answer_submission(view_id, answer)
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
    wait_latency(&state).await;
    wait_gate(&state, &method).await;
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
    wait_latency(&state).await;
    lock(&state).answer(&id, &body).into_response()
}

/// A test's hold on `method`, until it lets go.
async fn wait_gate(state: &Mutex<Workspace>, method: &str) {
    let gate = {
        let mut workspace = lock(state);
        match workspace.gates.get(method) {
            Some(gate) if gate.is_open() => {
                workspace.gates.remove(method);
                None
            }
            gate => gate.cloned(),
        }
    };
    if let Some(gate) = gate {
        gate.pass().await;
    }
}

/// The latency a test set, before a request is looked at.
async fn wait_latency(state: &Mutex<Workspace>) {
    let latency = lock(state).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}
