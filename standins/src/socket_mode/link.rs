//! One WebSocket link to the app: the accept loop, the handshake that
//! admits only an unused issued URL, `hello`, then frames both ways until
//! either side closes.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use super::hub::{Connection, Outgoing, Shared};

/// Accepts connections until `stop` is notified.
pub(super) async fn accept_loop(shared: Shared, stop: Arc<Notify>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = stop.notified() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let shared = shared.clone();
                tokio::spawn(async move { serve(&shared, stream).await });
            }
            Err(err) => tracing::warn!(error = %err, "fake Socket Mode: accept failed"),
        }
    }
}

/// The WebSocket handshake, admitting only an unused issued URL.
// The refusal's type is tungstenite's `Callback` signature, not ours.
#[allow(clippy::result_large_err)]
async fn serve(shared: &Shared, stream: TcpStream) {
    let issued = shared.clone();
    let admit = move |request: &Request, response: Response| {
        let ticket = request.uri().query().and_then(|query| {
            url::form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "ticket")
                .map(|(_, value)| value.into_owned())
        });
        let mut hub = issued.lock();
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
            shared.bump();
            return;
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let hello = {
        let mut hub = shared.lock();
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
    run_connection(shared, number, socket, hello, rx).await;
    shared.lock().open.retain(|c| c.number != number);
    shared.bump();
}

async fn run_connection(
    shared: &Shared,
    number: usize,
    socket: tokio_tungstenite::WebSocketStream<TcpStream>,
    hello: String,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let (mut sink, mut stream) = socket.split();
    if sink.send(Message::Text(hello.into())).await.is_err() {
        return;
    }
    shared.bump();
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
                    shared.lock().record_frame(number, text.as_str());
                    shared.bump();
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
