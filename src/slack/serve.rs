//! `tagbot serve`: the HTTP endpoints, Socket Mode (when configured), the
//! review poster, the channel notifier, the sync progress message and the
//! sync worker in one process, stopped together by one shutdown signal.
//!
//! The parts run side by side; when one of them stops on its own (the
//! database went away for the poster's notifications, Socket Mode cannot
//! connect), the whole process stops with that error rather than serving
//! clicks it can no longer follow through. On shutdown the HTTP server
//! stops accepting, acknowledged clicks are decided before exiting (for up
//! to 10 s), and the worker gives back what it holds.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::app::SlackApp;
use super::{http, notify, poster, socket};
use crate::shutdown::Shutdown;
use crate::sync::Syncer;

/// How long shutdown waits for acknowledged clicks to be decided.
const DRAIN_CLICKS: Duration = Duration::from_secs(10);

/// A part of `serve` that stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("{part} stopped: {reason}")]
pub struct PartStopped {
    pub part: &'static str,
    pub reason: String,
}

/// tagbot assembled: the Slack app's endpoints on a bound listener and,
/// for `serve`, the parts that run beside them. The one place the app is
/// put together: `serve`, the demo and the tests all build it here.
pub struct Application {
    app: SlackApp,
    listener: TcpListener,
    background: Option<Option<Syncer>>,
}

impl Application {
    /// The endpoints alone (the demo and the tests run the poster's passes
    /// themselves), on `listener`.
    pub fn build(app: SlackApp, listener: TcpListener) -> Application {
        Application {
            app,
            listener,
            background: None,
        }
    }

    /// With everything `serve` runs beside the endpoints: the review poster,
    /// the report channel, Socket Mode when configured, and `syncer`.
    pub fn with_background(mut self, syncer: Option<Syncer>) -> Application {
        self.background = Some(syncer);
        self
    }

    /// The port it listens on (for a listener bound to port 0).
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Runs until `shutdown` (or until a part fails).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), PartStopped> {
        match self.background {
            Some(syncer) => run(self.app, syncer, self.listener, shutdown).await,
            None => {
                let router = http::router(self.app);
                axum::serve(self.listener, router)
                    .with_graceful_shutdown(async move { shutdown.requested().await })
                    .await
                    .map_err(|err| PartStopped {
                        part: "HTTP server",
                        reason: err.to_string(),
                    })
            }
        }
    }
}

/// Runs everything until `shutdown` (or until a part fails).
async fn run(
    app: SlackApp,
    syncer: Option<Syncer>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), PartStopped> {
    let claimant = format!("serve-{}-{:04x}", std::process::id(), rand::random::<u16>());
    tracing::info!(address = ?listener.local_addr().ok(), "listening for Slack");
    // One stop for every part: the outside signal, or a part failing.
    let (stop, stopping) = Shutdown::manual();
    let mut parts: JoinSet<(&'static str, Result<(), String>)> = JoinSet::new();
    {
        let stop = stop.clone();
        let outside = shutdown.clone();
        parts.spawn(async move {
            outside.requested().await;
            let _ = stop.send(true);
            ("signal", Ok(()))
        });
    }
    {
        let (router, stopping) = (http::router(app.clone()), stopping.clone());
        parts.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stopping.requested().await })
                .await;
            ("HTTP server", served.map_err(|err| err.to_string()))
        });
    }
    {
        let (app, stopping) = (app.clone(), stopping.clone());
        parts.spawn(async move {
            let posted = poster::run_until_shutdown(&app, &claimant, &stopping).await;
            ("review poster", posted.map_err(|err| err.to_string()))
        });
    }
    {
        let (app, stopping) = (app.clone(), stopping.clone());
        parts.spawn(async move {
            notify::run_until_shutdown(&app, &stopping).await;
            ("report-channel notifier", Ok(()))
        });
    }
    if let Some(token) = app.settings.app_token.clone() {
        let (app, stopping) = (app.clone(), stopping.clone());
        parts.spawn(async move { ("Socket Mode", socket::run(app, &token, &stopping).await) });
    }
    if let Some(syncer) = syncer {
        let (app, following, progress) = (app.clone(), stopping.clone(), syncer.progress());
        parts.spawn(async move {
            notify::follow_sync_progress(&app, progress, &following).await;
            ("sync progress message", Ok(()))
        });
        let stopping = stopping.clone();
        parts.spawn(async move {
            let synced = syncer.run_until_shutdown(&stopping).await;
            ("sync worker", synced.map_err(|err| err.to_string()))
        });
    }

    let mut first_failure = None;
    let mut signal_pending = true;
    while let Some(ended) = parts.join_next().await {
        let (part, result) = match ended {
            Ok(ended) => ended,
            Err(err) if err.is_cancelled() => continue,
            Err(err) => ("a task", Err(format!("panicked: {err}"))),
        };
        if part == "signal" {
            signal_pending = false;
        }
        let stopped_early = !stopping.is_requested();
        match result {
            Err(reason) => {
                tracing::error!(part, %reason, "a part of serve stopped; stopping the rest");
                first_failure.get_or_insert(PartStopped { part, reason });
            }
            Ok(()) if stopped_early && part != "signal" => {
                tracing::error!(part, "a part of serve ended on its own; stopping the rest");
                first_failure.get_or_insert(PartStopped {
                    part,
                    reason: "ended unexpectedly".to_owned(),
                });
            }
            Ok(()) => {}
        }
        if first_failure.is_some() {
            let _ = stop.send(true);
        }
        if stopping.is_requested() && signal_pending && parts.len() == 1 {
            // Only the signal listener is left.
            parts.abort_all();
        }
    }
    if !app.drain_clicks(DRAIN_CLICKS).await {
        tracing::warn!("stopped with clicks still being decided");
    }
    first_failure.map_or(Ok(()), Err)
}
