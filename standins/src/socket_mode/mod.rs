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
//!
//! `hub.rs` holds what the server knows and delivers (envelopes, their
//! acknowledgements, deadlines and retries), `link.rs` one WebSocket
//! connection; this file the handle tests drive and `apps.connections.open`.

mod hub;
mod link;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;

use self::hub::{Hub, Outgoing, Shared};

pub use self::hub::{Ack, EnvelopeKind, SocketModeError, ACK_DEADLINE};

/// The Socket Mode server. Cheap to clone; every clone is the same server.
#[derive(Clone)]
pub struct FakeSocketMode {
    shared: Shared,
    /// `ws://127.0.0.1:PORT`.
    pub base: String,
    app_token: String,
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
        let server = FakeSocketMode {
            shared: Shared::new(Hub::new(crate::workspace::APP_ID)),
            base,
            app_token: app_token.to_owned(),
            stop: Arc::new(Notify::new()),
        };
        let accepting = server.shared.clone();
        let stop = Arc::clone(&server.stop);
        tokio::spawn(link::accept_loop(accepting, stop, listener));
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
        for connection in self.shared.lock().open.drain(..) {
            let _ = connection.tx.send(Outgoing::Drop);
        }
        self.shared.bump();
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.lock().accepted
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().open.len()
    }

    /// Connection attempts refused (a URL not issued, or used before).
    pub fn refused(&self) -> usize {
        self.shared.lock().refused
    }

    /// Re-deliver an envelope not acknowledged in time, up to `retries`
    /// times (0, the default: report it only).
    pub fn set_retries(&self, retries: u32) {
        self.shared.lock().retries = retries;
    }

    /// Shortens the acknowledgement deadline, so that a test of the fake
    /// itself need not wait Slack's 3 seconds.
    pub fn set_ack_deadline(&self, deadline: Duration) {
        self.shared.lock().deadline = deadline;
    }

    /// Delivers a `block_actions` (or any interaction) payload, as
    /// [`crate::sender::block_actions`] builds it; returns its envelope id.
    pub fn send_interactive(&self, payload: Value) -> Result<String, SocketModeError> {
        let accepts = matches!(
            payload.get("type").and_then(Value::as_str),
            Some("view_submission" | "block_suggestion")
        );
        self.shared
            .deliver(EnvelopeKind::Interactive, payload, accepts)
    }

    /// Delivers a slash command: its fields as a JSON object of strings,
    /// as Slack sends them over Socket Mode.
    pub fn send_slash_command(&self, fields: &[(&str, &str)]) -> Result<String, SocketModeError> {
        let payload: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        self.shared
            .deliver(EnvelopeKind::SlashCommands, Value::Object(payload), true)
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
        self.shared
            .deliver(EnvelopeKind::EventsApi, event_callback, false)
    }

    /// Sends any text frame to the newest connection (for frames Slack
    /// might send that the typed helpers do not build).
    pub fn send_raw(&self, text: &str) -> Result<(), SocketModeError> {
        let hub = self.shared.lock();
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
        let mut hub = self.shared.lock();
        let closed = hub.open.len();
        for connection in hub.open.drain(..) {
            let _ = connection.tx.send(Outgoing::Text(frame.clone()));
            let _ = connection.tx.send(Outgoing::Close);
        }
        drop(hub);
        self.shared.bump();
        closed
    }

    /// Sends `disconnect` with `reason` to every open connection and keeps
    /// them open, as Slack does with `warning` (it closes the link about
    /// 10 seconds later; [`Self::disconnect`] or [`Self::drop_connections`]
    /// play that part). Envelopes keep going to the newest connection.
    pub fn announce_disconnect(&self, reason: &str) -> usize {
        let frame = disconnect_frame(reason);
        let hub = self.shared.lock();
        for connection in &hub.open {
            let _ = connection.tx.send(Outgoing::Text(frame.clone()));
        }
        hub.open.len()
    }

    /// Drops every open connection without a word (a network failure).
    pub fn drop_connections(&self) -> usize {
        let mut hub = self.shared.lock();
        let dropped = hub.open.len();
        for connection in hub.open.drain(..) {
            let _ = connection.tx.send(Outgoing::Drop);
        }
        drop(hub);
        self.shared.bump();
        dropped
    }

    /// The acknowledgement of `envelope_id`, once it came.
    pub fn ack(&self, envelope_id: &str) -> Option<Ack> {
        self.shared
            .lock()
            .envelopes
            .get(envelope_id)
            .and_then(|e| e.ack.clone())
    }

    /// Every acknowledgement so far, in delivery order of the envelopes.
    pub fn acks(&self) -> Vec<Ack> {
        let hub = self.shared.lock();
        hub.order
            .iter()
            .filter_map(|id| hub.envelopes.get(id).and_then(|e| e.ack.clone()))
            .collect()
    }

    /// Envelopes not acknowledged within the deadline, in the order they
    /// missed it.
    pub fn late(&self) -> Vec<String> {
        self.shared.lock().late.clone()
    }

    /// Protocol violations by the app, each described.
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Waits until at least `count` connections were accepted and one is
    /// open; false when `within` passed first.
    pub async fn wait_for_connections(&self, count: usize, within: Duration) -> bool {
        self.shared
            .wait(within, |hub| hub.accepted >= count && !hub.open.is_empty())
            .await
    }

    /// Waits for the acknowledgement of `envelope_id`.
    pub async fn wait_for_ack(&self, envelope_id: &str, within: Duration) -> Option<Ack> {
        let acked = self
            .shared
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
        self.shared
            .wait(within, |hub| hub.late.iter().any(|id| id == envelope_id))
            .await
    }

    fn issue_url(&self) -> String {
        let mut hub = self.shared.lock();
        hub.next_id += 1;
        let ticket = format!("{:016x}", hub.next_id.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let url = format!("{}/link/?ticket={ticket}&app_id={}", self.base, hub.app_id);
        hub.tickets.insert(ticket, false);
        url
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
