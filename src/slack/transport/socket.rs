//! Socket Mode (when `SLACK_APP_TOKEN` is set): Slack delivers clicks,
//! slash commands and events over a WebSocket that tagbot opens, so no
//! public HTTP endpoint is needed
//! (<https://docs.slack.dev/apis/events-api/using-socket-mode>).
//!
//! tagbot runs its own small client on tokio-tungstenite (the WebSocket
//! library slack-morphism itself uses) rather than slack-morphism's
//! `SlackClientSocketModeListener`, because that listener hands its
//! callbacks only envelopes its full models could read: one it cannot
//! read (an org-wide install's `"team": null`, message `metadata`, a
//! container type it does not know) goes to the error handler as a
//! protocol error with no envelope type, and the reviewer's click is
//! lost. There is no hook for the raw envelope. Here every frame is read
//! by `envelope` with the same lenient types as HTTP mode, and every
//! envelope is acknowledged (see there for the policy).
//!
//! The connection's life:
//!
//! - open: `apps.connections.open` with the app-level token (through the
//!   same Web API client and `SLACK_API_URL` as every other call) gives a
//!   single-use `wss://` URL; Slack greets with `hello`;
//! - `disconnect` (Slack is about to close the link: `warning`,
//!   `refresh_requested`): a new connection is opened at once, and the old
//!   one keeps acknowledging what still arrives on it until Slack closes it
//!   (at most [`DRAIN_REPLACED`]), so no envelope falls in a gap;
//! - a dropped socket, or one silent for [`SILENCE_LIMIT`] (tagbot pings
//!   every [`PING_EVERY`]): reconnect, at once after a link that lasted,
//!   with backoff (1, 2, 4 … 30 s) after links or attempts that fail;
//! - Slack refusing the token (`invalid_auth`, `not_allowed_token_type`, …)
//!   stops `serve` with the reason: no retry fixes a wrong token.

mod envelope;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use self::envelope::Next;
use crate::shutdown::Shutdown;
use crate::slack::app::SlackApp;

/// How long opening a connection (the Web API call, then the WebSocket
/// handshake) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);
/// tagbot pings Slack this often (slack-morphism's default, too)…
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// …and gives a connection up when nothing at all came for this long.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// How long a connection Slack said it will close keeps serving.
pub const DRAIN_REPLACED: Duration = Duration::from_secs(10);
/// A link that lasted this long was healthy: the next one opens at once.
const STABLE: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Error codes of `apps.connections.open` that a retry may get past;
/// every other code is a refusal of the token.
const TRANSIENT_CODES: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("Slack refused a Socket Mode connection (check SLACK_APP_TOKEN: an xapp- token with connections:write, and Socket Mode enabled for the app): {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// What a connection tells the supervisor while it runs.
#[derive(Debug)]
enum LinkEvent {
    Hello(u64),
    Disconnect { link: u64, reason: String },
}

/// How a connection ended.
#[derive(Debug)]
struct LinkEnd {
    link: u64,
    said_hello: bool,
    lasted: Duration,
    how: Ended,
}

#[derive(Debug, thiserror::Error)]
enum Ended {
    /// Slack closed it without a `disconnect` first.
    #[error("Slack closed the connection")]
    Closed,
    #[error("the connection failed: {0}")]
    Failed(String),
    #[error("nothing came from Slack for 60 s")]
    Silent,
    /// Closed after `disconnect`, by Slack or by tagbot once
    /// [`DRAIN_REPLACED`] passed; its replacement was opened at once.
    #[error("replaced")]
    Replaced,
    #[error("shutdown")]
    Shutdown,
}

/// Slack refused a Socket Mode connection outright: retrying cannot help
/// until the configuration changes.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SocketModeRefused(OpenError);

/// Keeps one live connection (two while one is replaced) until `shutdown`.
pub async fn run(
    app: SlackApp,
    app_token: &SecretString,
    shutdown: &Shutdown,
) -> Result<(), SocketModeRefused> {
    let token = SlackApiToken::new(SlackApiTokenValue::new(
        app_token.expose_secret().to_owned(),
    ));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let mut links = Links {
        app,
        shutdown: shutdown.clone(),
        events: events_tx,
        running: JoinSet::new(),
        failures: 0,
        opened: 0,
        live: HashSet::new(),
        reconnect: Some(Duration::ZERO),
    };
    let outcome = loop {
        // A link ending because of the shutdown must not open another.
        if shutdown.is_requested() {
            break Ok(());
        }
        if let Some(pause) = links.reconnect {
            let opened = tokio::select! {
                biased;
                _ = shutdown.requested() => break Ok(()),
                opened = links.open_after(pause, &token) => opened,
            };
            match opened {
                Err(refused @ OpenError::Refused(_)) => break Err(SocketModeRefused(refused)),
                Err(OpenError::Failed(_)) => continue,
                Ok(()) => {}
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.requested() => break Ok(()),
            Some(event) = events.recv() => links.heard(event),
            Some(ended) = links.running.join_next() => links.ended(ended),
        }
    };
    if outcome.is_err() {
        // `serve` stops on this error; the connections would not see a
        // shutdown signal, so they are stopped here.
        links.running.abort_all();
    }
    // On shutdown each connection closes its socket itself.
    while links.running.join_next().await.is_some() {}
    outcome
}

/// The supervisor's connections and what it knows of them.
struct Links {
    app: SlackApp,
    shutdown: Shutdown,
    events: mpsc::UnboundedSender<LinkEvent>,
    running: JoinSet<LinkEnd>,
    /// Failures in a row, for the backoff.
    failures: u32,
    /// Connections opened so far; each link is known by its number.
    opened: u64,
    /// Links still running: a `disconnect` from one that already ended is stale.
    live: HashSet<u64>,
    /// When to open the next connection; None while one is live.
    reconnect: Option<Duration>,
}

impl Links {
    /// Opens a connection after `pause`; a failure to open schedules the
    /// next try with backoff.
    async fn open_after(
        &mut self,
        pause: Duration,
        token: &SlackApiToken,
    ) -> Result<(), OpenError> {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        match open(&self.app, token).await {
            Ok(socket) => {
                self.opened += 1;
                let link = Link {
                    app: self.app.clone(),
                    number: self.opened,
                    events: self.events.clone(),
                    shutdown: self.shutdown.clone(),
                };
                self.running.spawn(link.serve(socket));
                self.live.insert(self.opened);
                self.reconnect = None;
                Ok(())
            }
            Err(OpenError::Failed(reason)) => {
                self.failures += 1;
                let pause = backoff(self.failures);
                tracing::warn!(attempt = self.failures, retry_in = ?pause, %reason, "could not open a Socket Mode connection; trying again");
                self.reconnect = Some(pause);
                Err(OpenError::Failed(reason))
            }
            Err(refused) => Err(refused),
        }
    }

    fn heard(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Hello(link) => tracing::info!(link, "connected to Slack in Socket Mode"),
            LinkEvent::Disconnect { link, reason } => {
                tracing::info!(link, %reason, "Slack will close a Socket Mode connection; opening another");
                if self.live.contains(&link) {
                    self.reconnect = Some(Duration::ZERO);
                }
            }
        }
    }

    fn ended(&mut self, ended: Result<LinkEnd, tokio::task::JoinError>) {
        match ended {
            Ok(end) => {
                self.live.remove(&end.link);
                match &end.how {
                    Ended::Replaced | Ended::Shutdown => {
                        tracing::debug!(link = end.link, how = ?end.how, "Socket Mode connection closed");
                    }
                    how => {
                        let healthy = end.said_hello && end.lasted >= STABLE;
                        self.failures = if healthy { 0 } else { self.failures + 1 };
                        tracing::warn!(link = end.link, reason = %how, lasted = ?end.lasted, "Socket Mode connection lost; reconnecting");
                    }
                }
            }
            Err(err) => {
                // The link's number died with it; `live` keeps a stale
                // entry, which only lets a late `disconnect` from it open
                // one spare connection.
                tracing::error!(error = %err, "a Socket Mode connection task failed");
                self.failures += 1;
            }
        }
        if self.running.is_empty() && self.reconnect.is_none() {
            self.reconnect = Some(backoff(self.failures));
        }
    }
}

/// The pause before the next attempt after `failures` failures in a row:
/// none when the last link was healthy, 1 s after one failure, then 2, 4 …
/// 30 s, each with up to half taken off at random so that several
/// instances do not reconnect in step.
fn backoff(failures: u32) -> Duration {
    if failures <= 1 {
        return if failures == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        };
    }
    let full = Duration::from_secs(1u64 << (failures - 1).min(5)).min(MAX_BACKOFF);
    full.mul_f64(1.0 - rand::random::<f64>() / 2.0)
}

/// `apps.connections.open`, then the WebSocket handshake.
async fn open(app: &SlackApp, token: &SlackApiToken) -> Result<Socket, OpenError> {
    let client = app.api.socket_client();
    let session = client.open_session(token);
    let request = SlackApiAppsConnectionOpenRequest::new();
    let opened = tokio::time::timeout(OPEN_TIMEOUT, session.apps_connections_open(&request))
        .await
        .map_err(|_| {
            OpenError::Failed("Slack did not answer apps.connections.open within 15 s".to_owned())
        })?;
    let url = match opened {
        Ok(opened) => opened.url.0,
        Err(SlackClientError::ApiError(err)) if !TRANSIENT_CODES.contains(&err.code.as_str()) => {
            return Err(OpenError::Refused(err.code));
        }
        Err(err) => return Err(OpenError::Failed(format!("apps.connections.open: {err}"))),
    };
    // The URL carries a one-time ticket: it is not logged.
    match tokio::time::timeout(OPEN_TIMEOUT, tokio_tungstenite::connect_async(url.as_str())).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(err)) => Err(OpenError::Failed(format!(
            "the Socket Mode WebSocket handshake failed: {err}"
        ))),
        Err(_) => Err(OpenError::Failed(
            "the Socket Mode WebSocket handshake took over 15 s".to_owned(),
        )),
    }
}

/// One connection: reads frames, sends acknowledgements and pings.
struct Link {
    app: SlackApp,
    number: u64,
    events: mpsc::UnboundedSender<LinkEvent>,
    shutdown: Shutdown,
}

impl Link {
    async fn serve(self, socket: Socket) -> LinkEnd {
        let started = Instant::now();
        let mut said_hello = false;
        let how = self.read_until_closed(socket, &mut said_hello).await;
        LinkEnd {
            link: self.number,
            said_hello,
            lasted: started.elapsed(),
            how,
        }
    }

    async fn read_until_closed(&self, socket: Socket, said_hello: &mut bool) -> Ended {
        let (mut sink, mut stream) = socket.split();
        // Slash-command answers, computed after the frame was read.
        let (answers_tx, mut answers) = mpsc::unbounded_channel::<String>();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let mut heard = Instant::now();
        let mut replaced_at: Option<tokio::time::Instant> = None;
        loop {
            let replaced = async {
                match replaced_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let to_send = tokio::select! {
                frame = stream.next() => {
                    heard = Instant::now();
                    match frame {
                        // Closed after `disconnect`: the replacement is already open.
                        None | Some(Ok(Message::Close(_))) if replaced_at.is_some() => return Ended::Replaced,
                        None | Some(Ok(Message::Close(_))) => return Ended::Closed,
                        Some(Err(err)) => return Ended::Failed(err.to_string()),
                        Some(Ok(Message::Text(text))) => {
                            match envelope::handle(&self.app, text.as_str(), &answers_tx).await {
                                Next::Ack(ack) => Some(Message::Text(ack.into())),
                                Next::Nothing => None,
                                Next::Hello => {
                                    *said_hello = true;
                                    let _ = self.events.send(LinkEvent::Hello(self.number));
                                    None
                                }
                                Next::Disconnect(reason) => {
                                    if replaced_at.is_none() {
                                        replaced_at = Some(tokio::time::Instant::now() + DRAIN_REPLACED);
                                        let _ = self.events.send(LinkEvent::Disconnect { link: self.number, reason });
                                    }
                                    None
                                }
                            }
                        }
                        // Pings are answered by tungstenite itself.
                        Some(Ok(_)) => None,
                    }
                }
                Some(answer) = answers.recv() => Some(Message::Text(answer.into())),
                _ = ping.tick() => {
                    if heard.elapsed() >= SILENCE_LIMIT {
                        return Ended::Silent;
                    }
                    Some(Message::Ping(Vec::new().into()))
                }
                _ = replaced => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Replaced;
                }
                _ = self.shutdown.requested() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return Ended::Shutdown;
                }
            };
            if let Some(message) = to_send {
                if let Err(err) = sink.send(message).await {
                    return Ended::Failed(err.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_once_and_stays_under_thirty_seconds() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(1));
        for failures in 2..40 {
            let pause = backoff(failures);
            assert!(pause <= MAX_BACKOFF, "{failures}: {pause:?}");
            assert!(pause >= Duration::from_millis(500), "{failures}: {pause:?}");
        }
    }
}
