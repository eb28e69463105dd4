//! A fake of Slack's Socket Mode: a WebSocket server on loopback that an
//! app connects to with a URL from `apps.connections.open`, and that
//! delivers envelopes to it and records the app's acknowledgements.
//!
//! Wire format, from <https://docs.slack.dev/apis/events-api/using-socket-mode>:
//!
//! - the app asks the Web API for a URL: `apps.connections.open`, called
//!   with the **app-level token** (`xapp-…`) and no other (a bot token is
//!   refused, <https://docs.slack.dev/reference/methods/apps.connections.open>).
//!   [`crate::slack::FakeSlack::enable_socket_mode`] makes the Web API
//!   stand-in answer it with a URL of this server (its scripted faults,
//!   `fail_next`, apply to the method like to any other);
//! - on connect Slack sends `hello` (`num_connections`, `debug_info`,
//!   `connection_info.app_id`, as Slack's SDKs read it);
//! - each delivery is an envelope `{"envelope_id", "type", "payload",
//!   "accepts_response_payload"}` (`events_api` envelopes also carry
//!   `retry_attempt` and `retry_reason`); the app acknowledges with
//!   `{"envelope_id"}`, optionally with a `"payload"` (a slash command's
//!   answer), within 3 seconds (Bolt: "you only have 3 seconds to respond");
//! - `disconnect` (`reason`: `warning`, `refresh_requested`,
//!   `link_disabled`) tells the app to open a new connection, which it does
//!   through `apps.connections.open` again.
//!
//! `apps.connections.open` is a Tier 1 method (1+ per minute, "a small
//! amount of burst behavior is tolerated"); the burst is not documented,
//! so the fake does not rate-limit it.
//!
//! Where the documentation is silent the fake is the stricter:
//!
//! - a URL admits **one** connection (`ticket` single use): Slack's URLs
//!   carry a ticket and the page says to call `apps.connections.open` for
//!   every connection; a reused or made-up URL is refused with HTTP 401;
//! - `accepts_response_payload` is true for `slash_commands` and for the
//!   interactions that can be answered in the acknowledgement
//!   (`view_submission`, `block_suggestion`), false otherwise, as the page's
//!   examples show; an acknowledgement that carries a payload when the
//!   envelope did not accept one is recorded as a protocol violation;
//! - an acknowledgement for an envelope never sent, a frame that is not
//!   JSON, or a second acknowledgement of one envelope is recorded as a
//!   violation ([`FakeSocketMode::violations`]);
//! - an envelope not acknowledged within [`ACK_DEADLINE`] is reported
//!   ([`FakeSocketMode::late`]) and, when [`FakeSocketMode::set_retries`]
//!   allows it, delivered again with `retry_attempt` + 1 and
//!   `retry_reason: "timeout"` (Slack documents the two fields for the
//!   Events API but not the reason's values over Socket Mode).
//!
//! Envelopes go to the newest open connection (Slack spreads them over an
//! app's connections; the page does not say how).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

/// How long the app has to acknowledge an envelope.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3);

/// What can go wrong delivering to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketModeError {
    NoConnection,
}

impl std::fmt::Display for SocketModeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketModeError::NoConnection => f.write_str("no Socket Mode connection is open"),
        }
    }
}

impl std::error::Error for SocketModeError {}

/// An envelope's kind, its `type` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeKind {
    EventsApi,
    SlashCommands,
    Interactive,
}

impl EnvelopeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeKind::EventsApi => "events_api",
            EnvelopeKind::SlashCommands => "slash_commands",
            EnvelopeKind::Interactive => "interactive",
        }
    }
}

/// The app's acknowledgement of one envelope.
#[derive(Debug, Clone)]
pub struct Ack {
    pub envelope_id: String,
    /// The `payload` the acknowledgement carried, if any.
    pub payload: Option<Value>,
    /// Which connection (1 = the first ever accepted) it came over.
    pub connection: usize,
    /// Whether it came within [`ACK_DEADLINE`] of the first delivery.
    pub in_time: bool,
}

/// An envelope as delivered, and what became of it.
#[derive(Debug, Clone)]
struct Envelope {
    kind: EnvelopeKind,
    payload: Value,
    accepts_response_payload: bool,
    retry_attempt: u32,
    first_sent: Instant,
    ack: Option<Ack>,
}

impl Envelope {
    fn frame(&self, envelope_id: &str) -> Value {
        let mut frame = json!({
            "envelope_id": envelope_id,
            "type": self.kind.as_str(),
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        });
        if self.kind == EnvelopeKind::EventsApi {
            frame["retry_attempt"] = json!(self.retry_attempt);
            frame["retry_reason"] = json!(if self.retry_attempt == 0 {
                ""
            } else {
                "timeout"
            });
        } else if self.retry_attempt > 0 {
            frame["retry_attempt"] = json!(self.retry_attempt);
            frame["retry_reason"] = json!("timeout");
        }
        frame
    }
}

/// What a connection's writer is told to do.
#[derive(Debug)]
enum Outgoing {
    Text(String),
    /// A close frame, then the socket is dropped.
    Close,
    /// The TCP connection is dropped without a close frame.
    Drop,
}

#[derive(Debug)]
struct Connection {
    number: usize,
    tx: mpsc::UnboundedSender<Outgoing>,
}

#[derive(Debug)]
struct Hub {
    app_id: String,
    /// Every URL handed out by `apps.connections.open`, and whether used.
    tickets: HashMap<String, bool>,
    open: Vec<Connection>,
    accepted: usize,
    refused: usize,
    envelopes: HashMap<String, Envelope>,
    /// Envelope ids in delivery order.
    order: Vec<String>,
    late: Vec<String>,
    violations: Vec<String>,
    retries: u32,
    deadline: Duration,
    next_id: u64,
}

impl Hub {
    fn new_envelope_id(&mut self) -> String {
        self.next_id += 1;
        // Slack's ids look like UUIDs; only their uniqueness matters.
        format!(
            "{:08x}-5afe-4a11-9d0c-{:012x}",
            self.next_id,
            self.next_id.wrapping_mul(0x9e37_79b9)
        )
    }

    fn record_frame(&mut self, connection: usize, text: &str) {
        let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
            self.violations.push(format!(
                "connection {connection}: not a JSON object: {text}"
            ));
            return;
        };
        let Some(envelope_id) = frame.get("envelope_id").and_then(Value::as_str) else {
            self.violations.push(format!(
                "connection {connection}: a frame without envelope_id: {text}"
            ));
            return;
        };
        let Some(envelope) = self.envelopes.get_mut(envelope_id) else {
            self.violations.push(format!(
                "connection {connection}: acknowledged {envelope_id}, which was never sent"
            ));
            return;
        };
        if envelope.ack.is_some() {
            self.violations.push(format!(
                "connection {connection}: acknowledged {envelope_id} twice"
            ));
            return;
        }
        let payload = frame.get("payload").cloned();
        if payload.is_some() && !envelope.accepts_response_payload {
            self.violations.push(format!(
                "connection {connection}: a payload in the acknowledgement of {envelope_id}, whose envelope did not accept one"
            ));
        }
        envelope.ack = Some(Ack {
            envelope_id: envelope_id.to_owned(),
            payload,
            connection,
            in_time: envelope.first_sent.elapsed() <= self.deadline,
        });
    }
}

fn lock(hub: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The Socket Mode server. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct FakeSocketMode {
    hub: Arc<Mutex<Hub>>,
    /// `ws://127.0.0.1:PORT`.
    pub base: String,
    app_token: String,
    /// Bumped on every change, for the `wait_*` helpers.
    changed: watch::Sender<u64>,
    stop: Arc<Notify>,
}

/// What the Web API stand-in needs to answer `apps.connections.open`.
#[derive(Clone)]
pub struct ConnectionsOpen {
    server: FakeSocketMode,
}

impl std::fmt::Debug for ConnectionsOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionsOpen")
            .field("base", &self.server.base)
            .finish_non_exhaustive()
    }
}

impl ConnectionsOpen {
    /// Who may call what: `Some(Ok(()))` admits the app-level token to
    /// `apps.connections.open`, `Some(Err(code))` refuses the call, `None`
    /// leaves it to the bot-token rules. The method takes only the
    /// app-level token (a bot token: `not_allowed_token_type`), and the
    /// app-level token takes only this method.
    pub fn admit(&self, method: &str, token: Option<&str>) -> Option<Result<(), &'static str>> {
        let app_token = token == Some(self.server.app_token.as_str());
        match (method == "apps.connections.open", token) {
            (true, None) => Some(Err("not_authed")),
            (true, Some(_)) if app_token => Some(Ok(())),
            (true, Some(_)) => Some(Err("not_allowed_token_type")),
            (false, _) if app_token => Some(Err("not_allowed_token_type")),
            (false, _) => None,
        }
    }

    /// `apps.connections.open` once admitted: a fresh single-use URL. The
    /// token belongs in the Authorization header: "passing it as a POST
    /// parameter will result in an error" (the page does not name the
    /// error; the fake answers `not_authed`). Without Socket Mode enabled
    /// the fake does not know the method.
    pub fn open(
        socket_mode: Option<&ConnectionsOpen>,
        params: &Value,
    ) -> Result<Value, &'static str> {
        let Some(socket_mode) = socket_mode else {
            return Err("unknown_method");
        };
        if params.get("token").is_some() {
            return Err("not_authed");
        }
        Ok(json!({ "url": socket_mode.server.issue_url() }))
    }
}

impl FakeSocketMode {
    /// Starts the server for the app whose app-level token is `app_token`.
    pub async fn start(app_token: &str) -> std::io::Result<FakeSocketMode> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base = format!("ws://{}", listener.local_addr()?);
        let (changed, _) = watch::channel(0);
        let server = FakeSocketMode {
            hub: Arc::new(Mutex::new(Hub {
                app_id: crate::workspace::APP_ID.to_owned(),
                tickets: HashMap::new(),
                open: Vec::new(),
                accepted: 0,
                refused: 0,
                envelopes: HashMap::new(),
                order: Vec::new(),
                late: Vec::new(),
                violations: Vec::new(),
                retries: 0,
                deadline: ACK_DEADLINE,
                next_id: 0,
            })),
            base,
            app_token: app_token.to_owned(),
            changed,
            stop: Arc::new(Notify::new()),
        };
        let accepting = server.clone();
        tokio::spawn(async move { accepting.accept_loop(listener).await });
        Ok(server)
    }

    /// Hands to [`crate::slack::FakeSlack::enable_socket_mode`].
    pub fn connections_open(&self) -> ConnectionsOpen {
        ConnectionsOpen {
            server: self.clone(),
        }
    }

    /// Stops accepting connections and closes the open ones.
    pub fn shutdown(&self) {
        self.stop.notify_waiters();
        for connection in lock(&self.hub).open.drain(..) {
            let _ = connection.tx.send(Outgoing::Drop);
        }
        self.bump();
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.hub).accepted
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.hub).open.len()
    }

    /// Connection attempts refused (a URL not issued, or used before).
    pub fn refused(&self) -> usize {
        lock(&self.hub).refused
    }

    /// Re-deliver an envelope not acknowledged in time, up to `retries`
    /// times (0, the default: report it only).
    pub fn set_retries(&self, retries: u32) {
        lock(&self.hub).retries = retries;
    }

    /// Shortens the acknowledgement deadline, so that a test of the fake
    /// itself need not wait Slack's 3 seconds.
    pub fn set_ack_deadline(&self, deadline: Duration) {
        lock(&self.hub).deadline = deadline;
    }

    /// Delivers a `block_actions` (or any interaction) payload, as
    /// [`crate::sender::block_actions`] builds it; returns its envelope id.
    pub fn send_interactive(&self, payload: Value) -> Result<String, SocketModeError> {
        let accepts = matches!(
            payload.get("type").and_then(Value::as_str),
            Some("view_submission" | "block_suggestion")
        );
        self.deliver(EnvelopeKind::Interactive, payload, accepts)
    }

    /// Delivers a slash command: its fields as a JSON object of strings,
    /// as Slack sends them over Socket Mode.
    pub fn send_slash_command(&self, fields: &[(&str, &str)]) -> Result<String, SocketModeError> {
        let payload: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        self.deliver(EnvelopeKind::SlashCommands, Value::Object(payload), true)
    }

    /// `/tags <text>` from `user` in `channel`, with the fields Slack sends.
    pub fn send_tags_command(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        minted: &crate::workspace::Minted,
    ) -> Result<String, SocketModeError> {
        let user_name = user.to_lowercase();
        self.send_slash_command(&[
            ("token", "legacy"),
            ("team_id", crate::workspace::TEAM_ID),
            ("team_domain", "tagbot"),
            ("channel_id", channel),
            ("channel_name", "tag-review"),
            ("user_id", user),
            ("user_name", &user_name),
            ("command", "/tags"),
            ("text", text),
            ("api_app_id", crate::workspace::APP_ID),
            ("is_enterprise_install", "false"),
            ("response_url", &minted.response_url),
            ("trigger_id", &minted.trigger_id),
        ])
    }

    /// Delivers an Events API `event_callback` body (`{"type":
    /// "event_callback", "event": {…}, …}`).
    pub fn send_event(&self, event_callback: Value) -> Result<String, SocketModeError> {
        self.deliver(EnvelopeKind::EventsApi, event_callback, false)
    }

    /// Sends any text frame to the newest connection (for frames Slack
    /// might send that the typed helpers do not build).
    pub fn send_raw(&self, text: &str) -> Result<(), SocketModeError> {
        let hub = lock(&self.hub);
        let connection = hub.open.last().ok_or(SocketModeError::NoConnection)?;
        connection
            .tx
            .send(Outgoing::Text(text.to_owned()))
            .map_err(|_| SocketModeError::NoConnection)
    }

    /// Sends `disconnect` with `reason` to every open connection, then
    /// closes them, as Slack does before it drops a link.
    pub fn disconnect(&self, reason: &str) -> usize {
        let frame = disconnect_frame(reason);
        let mut hub = lock(&self.hub);
        let closed = hub.open.len();
        for connection in hub.open.drain(..) {
            let _ = connection.tx.send(Outgoing::Text(frame.clone()));
            let _ = connection.tx.send(Outgoing::Close);
        }
        drop(hub);
        self.bump();
        closed
    }

    /// Sends `disconnect` with `reason` to every open connection and keeps
    /// them open, as Slack does with `warning` (it closes the link about
    /// 10 seconds later; [`Self::disconnect`] or [`Self::drop_connections`]
    /// play that part). Envelopes keep going to the newest connection.
    pub fn announce_disconnect(&self, reason: &str) -> usize {
        let frame = disconnect_frame(reason);
        let hub = lock(&self.hub);
        for connection in &hub.open {
            let _ = connection.tx.send(Outgoing::Text(frame.clone()));
        }
        hub.open.len()
    }

    /// Drops every open connection without a word (a network failure).
    pub fn drop_connections(&self) -> usize {
        let mut hub = lock(&self.hub);
        let dropped = hub.open.len();
        for connection in hub.open.drain(..) {
            let _ = connection.tx.send(Outgoing::Drop);
        }
        drop(hub);
        self.bump();
        dropped
    }

    /// The acknowledgement of `envelope_id`, once it came.
    pub fn ack(&self, envelope_id: &str) -> Option<Ack> {
        lock(&self.hub)
            .envelopes
            .get(envelope_id)
            .and_then(|e| e.ack.clone())
    }

    /// Every acknowledgement so far, in delivery order of the envelopes.
    pub fn acks(&self) -> Vec<Ack> {
        let hub = lock(&self.hub);
        hub.order
            .iter()
            .filter_map(|id| hub.envelopes.get(id).and_then(|e| e.ack.clone()))
            .collect()
    }

    /// Envelopes not acknowledged within the deadline, in the order they
    /// missed it.
    pub fn late(&self) -> Vec<String> {
        lock(&self.hub).late.clone()
    }

    /// Protocol violations by the app, each described.
    pub fn violations(&self) -> Vec<String> {
        lock(&self.hub).violations.clone()
    }

    /// Waits until at least `count` connections were accepted and one is
    /// open; false when `within` passed first.
    pub async fn wait_for_connections(&self, count: usize, within: Duration) -> bool {
        self.wait(within, |hub| hub.accepted >= count && !hub.open.is_empty())
            .await
    }

    /// Waits for the acknowledgement of `envelope_id`.
    pub async fn wait_for_ack(&self, envelope_id: &str, within: Duration) -> Option<Ack> {
        let acked = self
            .wait(within, |hub| {
                hub.envelopes
                    .get(envelope_id)
                    .is_some_and(|e| e.ack.is_some())
            })
            .await;
        if acked {
            self.ack(envelope_id)
        } else {
            None
        }
    }

    /// Waits until `envelope_id` is reported late.
    pub async fn wait_for_late(&self, envelope_id: &str, within: Duration) -> bool {
        self.wait(within, |hub| hub.late.iter().any(|id| id == envelope_id))
            .await
    }

    async fn wait(&self, within: Duration, done: impl Fn(&Hub) -> bool) -> bool {
        let until = tokio::time::Instant::now() + within;
        let mut changes = self.changed.subscribe();
        loop {
            if done(&lock(&self.hub)) {
                return true;
            }
            match tokio::time::timeout_at(until, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`, so only the deadline ends this.
                _ => return done(&lock(&self.hub)),
            }
        }
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn issue_url(&self) -> String {
        let mut hub = lock(&self.hub);
        hub.next_id += 1;
        let ticket = format!("{:016x}", hub.next_id.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let url = format!("{}/link/?ticket={ticket}&app_id={}", self.base, hub.app_id);
        hub.tickets.insert(ticket, false);
        url
    }

    fn deliver(
        &self,
        kind: EnvelopeKind,
        payload: Value,
        accepts_response_payload: bool,
    ) -> Result<String, SocketModeError> {
        let mut hub = lock(&self.hub);
        let envelope_id = hub.new_envelope_id();
        let envelope = Envelope {
            kind,
            payload,
            accepts_response_payload,
            retry_attempt: 0,
            first_sent: Instant::now(),
            ack: None,
        };
        let frame = envelope.frame(&envelope_id).to_string();
        let connection = hub.open.last().ok_or(SocketModeError::NoConnection)?;
        connection
            .tx
            .send(Outgoing::Text(frame))
            .map_err(|_| SocketModeError::NoConnection)?;
        hub.envelopes.insert(envelope_id.clone(), envelope);
        hub.order.push(envelope_id.clone());
        let deadline = hub.deadline;
        drop(hub);
        let watcher = self.clone();
        let id = envelope_id.clone();
        tokio::spawn(async move { watcher.watch_ack(id, deadline).await });
        Ok(envelope_id)
    }

    /// After each deadline without an acknowledgement: report the envelope
    /// late, and deliver it again while retries are left.
    async fn watch_ack(&self, envelope_id: String, deadline: Duration) {
        let mut reported = false;
        loop {
            tokio::time::sleep(deadline).await;
            let mut hub = lock(&self.hub);
            let retries = hub.retries;
            let Some(envelope) = hub.envelopes.get_mut(&envelope_id) else {
                return;
            };
            if envelope.ack.is_some() {
                return;
            }
            let again = (envelope.retry_attempt < retries).then(|| {
                envelope.retry_attempt += 1;
                envelope.frame(&envelope_id).to_string()
            });
            if !reported {
                hub.late.push(envelope_id.clone());
                reported = true;
            }
            let sent = match (again, hub.open.last()) {
                (Some(frame), Some(connection)) => {
                    connection.tx.send(Outgoing::Text(frame)).is_ok()
                }
                _ => false,
            };
            drop(hub);
            self.bump();
            if !sent {
                return;
            }
        }
    }

    async fn accept_loop(&self, listener: TcpListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.stop.notified() => return,
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => {
                    let server = self.clone();
                    tokio::spawn(async move { server.serve(stream).await });
                }
                Err(err) => tracing::warn!(error = %err, "fake Socket Mode: accept failed"),
            }
        }
    }

    /// The WebSocket handshake, admitting only an unused issued URL.
    // The refusal's type is tungstenite's `Callback` signature, not ours.
    #[allow(clippy::result_large_err)]
    async fn serve(&self, stream: TcpStream) {
        let hub = Arc::clone(&self.hub);
        let admit = move |request: &Request, response: Response| {
            let ticket = request.uri().query().and_then(|query| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == "ticket")
                    .map(|(_, value)| value.into_owned())
            });
            let mut hub = lock(&hub);
            let fresh = ticket
                .and_then(|ticket| hub.tickets.get_mut(&ticket))
                .filter(|used| !**used)
                .map(|used| *used = true)
                .is_some();
            if fresh {
                Ok(response)
            } else {
                hub.refused += 1;
                let mut refusal = ErrorResponse::new(Some(
                    "not a URL from apps.connections.open, or one used before".to_owned(),
                ));
                *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
        };
        let socket = match tokio_tungstenite::accept_hdr_async(stream, admit).await {
            Ok(socket) => socket,
            Err(err) => {
                tracing::debug!(error = %err, "fake Socket Mode: handshake refused");
                self.bump();
                return;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let hello = {
            let mut hub = lock(&self.hub);
            hub.accepted += 1;
            let number = hub.accepted;
            hub.open.push(Connection { number, tx });
            let hello = json!({
                "type": "hello",
                "num_connections": hub.open.len(),
                "debug_info": {
                    "host": "applink-fake",
                    "started": "2026-01-01 00:00:00.000",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": { "app_id": hub.app_id },
            });
            (number, hello.to_string())
        };
        let (number, hello) = hello;
        self.run_connection(number, socket, hello, rx).await;
        lock(&self.hub).open.retain(|c| c.number != number);
        self.bump();
    }

    async fn run_connection(
        &self,
        number: usize,
        socket: tokio_tungstenite::WebSocketStream<TcpStream>,
        hello: String,
        mut rx: mpsc::UnboundedReceiver<Outgoing>,
    ) {
        let (mut sink, mut stream) = socket.split();
        if sink.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        self.bump();
        loop {
            tokio::select! {
                outgoing = rx.recv() => match outgoing {
                    Some(Outgoing::Text(text)) => {
                        if sink.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                    }
                    Some(Outgoing::Close) => {
                        let close = CloseFrame { code: CloseCode::Normal, reason: "disconnect".into() };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        return;
                    }
                    Some(Outgoing::Drop) | None => return,
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        lock(&self.hub).record_frame(number, text.as_str());
                        self.bump();
                    }
                    // Pings are answered by tungstenite itself.
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

fn disconnect_frame(reason: &str) -> String {
    json!({
        "type": "disconnect",
        "reason": reason,
        "debug_info": { "host": "applink-fake" },
    })
    .to_string()
}
