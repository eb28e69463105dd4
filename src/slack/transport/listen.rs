//! Serving tagbot's HTTP endpoints on a listener so that no client can hold
//! the port or the shutdown: the connection loop `axum::serve` would run,
//! with the limits it does not set.
//!
//! - a request head must arrive within [`Limits::head`] of the last answer
//!   (or of the connection opening), so a half-sent head and an idle
//!   keep-alive connection are both closed after it (`head_deadline`: one
//!   timer a connection, where hyper's header-read timeout, which
//!   `axum::serve` leaves off, makes one a request);
//! - a request body must arrive within [`Limits::body`] (enforced where a
//!   body is read, in `http`'s signed-body extractor: hyper has no body
//!   timer, and tower-http's body timeout resets after every frame, so a
//!   client trickling a byte at a time would never meet it);
//! - at most [`Limits::max_connections`] are open at once: past it a new
//!   connection is answered `503` and closed at once, without reading it,
//!   so a flood of slow clients costs neither file descriptors nor tasks;
//! - on shutdown the listener closes, open connections finish the request
//!   they are in and close, and whatever is still open after
//!   [`Limits::drain`] is dropped: the drain is bounded, so `serve` gets on
//!   to deciding the clicks it acknowledged and exits within the 30 s a
//!   service manager gives it.
//!
//! Written on hyper-util's connection builder and graceful-shutdown
//! watcher (already in the tree through axum) rather than a new crate.

mod head_deadline;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::shutdown::Shutdown;

/// How long a client may take, and how many may be connected: a setting
/// (`config::HttpLimits`), named here for what it limits.
pub use crate::config::HttpLimits as Limits;

/// The answer to a connection past the cap: written without reading
/// anything, then the connection is closed.
const TURNED_AWAY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\nretry-after: 1\r\n\r\n";

/// How long accepting pauses after an error that is not one connection's
/// (out of file descriptors): retrying at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown`, then drains (bounded).
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: Shutdown) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let builder = builder();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut turned_away = 0u64;
    loop {
        let accepted = tokio::select! {
            () = shutdown.requested() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) if is_one_connections(&err) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "cannot accept connections; trying again in a second");
                tokio::select! {
                    () = shutdown.requested() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            turn_away(&stream, &mut turned_away, limits.max_connections);
            continue;
        };
        if turned_away > 0 {
            tracing::info!(turned_away, "taking connections again");
            turned_away = 0;
        }
        let activity = head_deadline::Activity::new();
        let service = counted(router.clone(), &activity);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            match head_deadline::within(connection, &activity, limits.head).await {
                Some(Err(err)) => {
                    // A client that stalled or went away: theirs, not ours.
                    tracing::debug!(error = %err, "an HTTP connection ended with an error");
                }
                None => tracing::debug!("an HTTP connection sent no request head in time; closed"),
                Some(Ok(())) => {}
            }
            drop(permit);
        });
    }
    drop(listener);
    drain(graceful, connections, limits.drain).await;
}

/// HTTP/1.1 only (Slack's requests are; so are the probes). No hyper
/// timer: the head deadline is `head_deadline`'s, and without a timer
/// hyper's own header-read timeout stays off.
fn builder() -> auto::Builder<TokioExecutor> {
    auto::Builder::new(TokioExecutor::new()).http1_only()
}

/// `router` as hyper's service, telling `activity` while each request is
/// being answered.
fn counted(
    router: Router,
    activity: &Arc<head_deadline::Activity>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
> {
    let service = TowerToHyperService::new(router);
    let activity = Arc::clone(activity);
    hyper::service::service_fn(move |request| {
        let answering = activity.answering();
        let answer = service.call(request);
        async move {
            let answered = answer.await;
            drop(answering);
            answered
        }
    })
}

/// Answers a connection past the cap with a 503 if its socket takes it at
/// once, and closes it. Logged once per crowd, not per connection.
fn turn_away(stream: &TcpStream, turned_away: &mut u64, cap: usize) {
    if *turned_away == 0 {
        tracing::warn!(
            open = cap,
            "too many open HTTP connections; turning new ones away until some close"
        );
    }
    *turned_away += 1;
    // Never awaited: a client that does not read gets nothing, not a task.
    let _ = stream.try_write(TURNED_AWAY);
}

/// Errors of one connection (reset before it was accepted), not of the
/// listener: the next accept is fine.
fn is_one_connections(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Asks every open connection to finish its request and close; drops
/// those still open after `within`.
async fn drain(graceful: GracefulShutdown, mut connections: JoinSet<()>, within: Duration) {
    if tokio::time::timeout(within, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            waited_secs = within.as_secs(),
            "HTTP connections still open at shutdown; closing them"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
}
