//! Where tagbot is put together: settings in, a running application out
//! (after zero2prod's `startup.rs`). `tagbot serve`, the demo, doctor, the
//! tests and the benches all build the Slack app and its endpoints here,
//! and say by a [`Parts`] which parts run.
//!
//! `tagbot serve` runs the HTTP endpoints, Socket Mode (when configured),
//! the review poster, the channel notifier, the sync progress message and
//! the sync worker in one process, stopped together by one shutdown signal.
//!
//! The parts run side by side; when one of them stops on its own (the
//! database went away for the poster's notifications, Socket Mode cannot
//! connect), the whole process stops with that error rather than serving
//! clicks it can no longer follow through. On shutdown the HTTP server
//! stops accepting and closes its connections (waiting at most 15 s for
//! them: see [`crate::slack::transport::listen`]), acknowledged clicks are decided before
//! exiting (for up to 10 s more), and the worker gives back what it holds:
//! within the 30 s a service manager allows.

use std::collections::HashMap;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use sqlx::PgPool;

use crate::config::{ReviewSettings, SlackSettings};
use crate::shutdown::Shutdown;
use crate::slack::app::SlackApp;
use crate::slack::output::api::SlackApiError;
use crate::slack::{
    output::notify, output::poster, transport::http, transport::listen, transport::socket,
};
use crate::sync::Syncer;

/// How long shutdown waits for acknowledged clicks to be decided.
const DRAIN_CLICKS: Duration = Duration::from_secs(10);

/// The parts `serve` runs side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    HttpServer,
    ReviewPoster,
    ReportNotifier,
    SocketMode,
    SyncProgress,
    SyncWorker,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::HttpServer => "the HTTP server",
            Part::ReviewPoster => "the review poster",
            Part::ReportNotifier => "the report-channel notifier",
            Part::SocketMode => "Socket Mode",
            Part::SyncProgress => "the sync progress message",
            Part::SyncWorker => "the sync worker",
        })
    }
}

type PartError = Box<dyn std::error::Error + Send + Sync>;

/// Why `serve` stopped other than by its shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum PartStopped {
    #[error("{part} stopped: {source}")]
    Failed {
        part: Part,
        #[source]
        source: PartError,
    },
    #[error("{0} ended on its own")]
    EndedEarly(Part),
    #[error("{part} panicked: {message}")]
    Panicked { part: Part, message: String },
}

/// Which parts an [`Application`] runs.
pub enum Parts {
    /// The Slack endpoints alone: the demo, the tests and the benches run
    /// the poster's passes and the worker themselves.
    Endpoints,
    /// Everything `tagbot serve` runs beside the endpoints: the review
    /// poster, the report channel, Socket Mode when configured, the sync
    /// progress message and this sync worker.
    Serve(Box<Syncer>),
}

/// Why an application could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address} (TAGBOT_LISTEN): {source}")]
    Listen {
        address: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// `auth.test` failed: without the workspace, tagbot cannot tell its
    /// members from guests.
    #[error("refusing to start: Slack would not say which workspace SLACK_BOT_TOKEN belongs to (auth.test), and tagbot needs it to know who may decide: {0}. Check SLACK_BOT_TOKEN (a bot token, xoxb-…, from the app's OAuth & Permissions page).")]
    SlackIdentity(SlackApiError),
}

/// The Slack app over `pool`, for the workspace `SLACK_BOT_TOKEN` belongs
/// to (`auth.test`): what [`Application::build`] serves, and what doctor
/// and the tests use without endpoints.
pub async fn slack_app(
    pool: PgPool,
    slack: SlackSettings,
    review: ReviewSettings,
) -> Result<SlackApp, StartupError> {
    SlackApp::connect(pool, review, slack)
        .await
        .map_err(StartupError::SlackIdentity)
}

/// tagbot assembled: the Slack app, its endpoints on a bound listener
/// (`TAGBOT_LISTEN`; port 0 picks a free one), and the [`Parts`] that run
/// beside them.
pub struct Application {
    app: SlackApp,
    listener: TcpListener,
    parts: Parts,
}

impl Application {
    /// Builds the Slack app over `pool` (see [`slack_app`]) and binds its
    /// endpoints' listener.
    pub async fn build(
        pool: PgPool,
        slack: SlackSettings,
        review: ReviewSettings,
        parts: Parts,
    ) -> Result<Application, StartupError> {
        let address = slack.listen;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartupError::Listen { address, source })?;
        let app = slack_app(pool, slack, review).await?;
        Ok(Application {
            app,
            listener,
            parts,
        })
    }

    /// The Slack app it serves (shared state: clone it to drive it).
    pub fn app(&self) -> &SlackApp {
        &self.app
    }

    /// The port it listens on (for a listener bound to port 0).
    pub fn port(&self) -> std::io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// Runs until `shutdown` (or until a part fails).
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> Result<(), PartStopped> {
        match self.parts {
            Parts::Serve(syncer) => run(self.app, *syncer, self.listener, shutdown).await,
            Parts::Endpoints => {
                let limits = self.app.settings.http_limits;
                listen::serve(self.listener, http::router(self.app), limits, shutdown).await;
                Ok(())
            }
        }
    }
}

/// Runs everything until `shutdown` (or until a part fails).
async fn run(
    app: SlackApp,
    syncer: Syncer,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), PartStopped> {
    let claimant = format!("serve-{}-{:04x}", std::process::id(), rand::random::<u16>());
    tracing::info!(address = ?listener.local_addr().ok(), "listening for Slack");
    // One stop for every part: the outside signal, or a part failing.
    let (stop, stopping) = Shutdown::manual();
    let mut parts = Running::default();
    let (router, until) = (http::router(app.clone()), stopping.clone());
    let limits = app.settings.http_limits;
    parts.spawn(Part::HttpServer, async move {
        listen::serve(listener, router, limits, until).await;
        Ok(())
    });
    let (poster_app, until) = (app.clone(), stopping.clone());
    parts.spawn(Part::ReviewPoster, async move {
        poster::run_until_shutdown(&poster_app, &claimant, &until)
            .await
            .map_err(PartError::from)
    });
    let (notify_app, until) = (app.clone(), stopping.clone());
    parts.spawn(Part::ReportNotifier, async move {
        notify::run_until_shutdown(&notify_app, &until).await;
        Ok(())
    });
    if let Some(token) = app.settings.app_token.clone() {
        let (socket_app, until) = (app.clone(), stopping.clone());
        parts.spawn(Part::SocketMode, async move {
            socket::run(socket_app, &token, &until)
                .await
                .map_err(PartError::from)
        });
    }
    let (progress_app, progress, until) = (app.clone(), syncer.progress(), stopping.clone());
    parts.spawn(Part::SyncProgress, async move {
        notify::follow_sync_progress(&progress_app, progress, &until).await;
        Ok(())
    });
    let until = stopping.clone();
    parts.spawn(Part::SyncWorker, async move {
        syncer
            .run_until_shutdown(&until)
            .await
            .map_err(PartError::from)
    });

    let mut first_failure = None;
    loop {
        tokio::select! {
            () = shutdown.requested(), if !stopping.is_requested() => {
                let _ = stop.send(true);
            }
            ended = parts.join_next() => {
                let Some(ended) = ended else { break };
                if let Err(stopped) = parts.judge(ended, stopping.is_requested()) {
                    tracing::error!(error = %stopped, "a part of serve stopped; stopping the rest");
                    first_failure.get_or_insert(stopped);
                    let _ = stop.send(true);
                }
            }
        }
    }
    if !app.clicks.drain(DRAIN_CLICKS).await {
        tracing::warn!("stopped with clicks still being decided");
    }
    first_failure.map_or(Ok(()), Err)
}

/// The running parts, each task known by the part it runs.
#[derive(Default)]
struct Running {
    tasks: JoinSet<Result<(), PartError>>,
    names: HashMap<tokio::task::Id, Part>,
}

type Ended = Result<(tokio::task::Id, Result<(), PartError>), tokio::task::JoinError>;

impl Running {
    fn spawn(
        &mut self,
        part: Part,
        task: impl std::future::Future<Output = Result<(), PartError>> + Send + 'static,
    ) {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), part);
    }

    async fn join_next(&mut self) -> Option<Ended> {
        self.tasks.join_next_with_id().await
    }

    /// Whether a part's end is a failure of `serve`: an error, a panic, or
    /// ending before the stop was asked for.
    fn judge(&self, ended: Ended, stop_requested: bool) -> Result<(), PartStopped> {
        let id = match &ended {
            Ok((id, _)) => *id,
            Err(err) => err.id(),
        };
        // Every task was spawned through `spawn`, which names it.
        let part = self.names.get(&id).copied().unwrap_or(Part::HttpServer);
        match ended {
            Ok((_, Err(source))) => Err(PartStopped::Failed { part, source }),
            Ok((_, Ok(()))) if !stop_requested => Err(PartStopped::EndedEarly(part)),
            Ok((_, Ok(()))) => Ok(()),
            Err(err) if err.is_cancelled() => Ok(()),
            Err(err) => Err(PartStopped::Panicked {
                part,
                message: err.to_string(),
            }),
        }
    }
}
