//! What the Socket Mode stand-in knows and delivers: the URLs it issued,
//! the open connections, every envelope sent with its acknowledgement (or
//! the violation an acknowledgement was), and the delivery itself with its
//! deadline and retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

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
pub(super) struct Envelope {
    kind: EnvelopeKind,
    payload: Value,
    accepts_response_payload: bool,
    retry_attempt: u32,
    first_sent: Instant,
    pub(super) ack: Option<Ack>,
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
pub(super) enum Outgoing {
    Text(String),
    /// A close frame, then the socket is dropped.
    Close,
    /// The TCP connection is dropped without a close frame.
    Drop,
}

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) number: usize,
    pub(super) tx: mpsc::UnboundedSender<Outgoing>,
}

#[derive(Debug)]
pub(super) struct Hub {
    pub(super) app_id: String,
    /// Every URL handed out by `apps.connections.open`, and whether used.
    pub(super) tickets: HashMap<String, bool>,
    pub(super) open: Vec<Connection>,
    pub(super) accepted: usize,
    pub(super) refused: usize,
    pub(super) envelopes: HashMap<String, Envelope>,
    /// Envelope ids in delivery order.
    pub(super) order: Vec<String>,
    pub(super) late: Vec<String>,
    pub(super) violations: Vec<String>,
    pub(super) retries: u32,
    pub(super) deadline: Duration,
    pub(super) next_id: u64,
}

impl Hub {
    /// No connection yet, nothing delivered; `app_id` is what `hello` says.
    pub(super) fn new(app_id: &str) -> Hub {
        Hub {
            app_id: app_id.to_owned(),
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
        }
    }

    fn new_envelope_id(&mut self) -> String {
        self.next_id += 1;
        // Slack's ids look like UUIDs; only their uniqueness matters.
        format!(
            "{:08x}-5afe-4a11-9d0c-{:012x}",
            self.next_id,
            self.next_id.wrapping_mul(0x9e37_79b9)
        )
    }

    pub(super) fn record_frame(&mut self, connection: usize, text: &str) {
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

/// The hub, and the signal every change to it sends: shared by the
/// handle, the connections and the acknowledgement watchers.
#[derive(Clone)]
pub(super) struct Shared {
    hub: Arc<Mutex<Hub>>,
    /// Bumped on every change, for the `wait_*` helpers.
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(super) fn new(hub: Hub) -> Shared {
        let (changed, _) = watch::channel(0);
        Shared {
            hub: Arc::new(Mutex::new(hub)),
            changed,
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until `done` holds of the hub; false when `within` passed first.
    pub(super) async fn wait(&self, within: Duration, done: impl Fn(&Hub) -> bool) -> bool {
        let until = tokio::time::Instant::now() + within;
        let mut changes = self.changed.subscribe();
        loop {
            if done(&self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(until, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`, so only the deadline ends this.
                _ => return done(&self.lock()),
            }
        }
    }

    /// Sends an envelope to the newest connection and watches for its
    /// acknowledgement; returns its id.
    pub(super) fn deliver(
        &self,
        kind: EnvelopeKind,
        payload: Value,
        accepts_response_payload: bool,
    ) -> Result<String, SocketModeError> {
        let mut hub = self.lock();
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
            let mut hub = self.lock();
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
}
