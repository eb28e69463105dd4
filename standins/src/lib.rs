//! Stand-ins for the services tagbot talks to, served on loopback, and the
//! test support around them.
//!
//! - [`slack`]: the Slack Web API; [`socket_mode`]: Slack's Socket Mode.
//! - [`block_kit`]: Block Kit's documented limits, which the Slack
//!   stand-in checks every message and view against.
//! - [`airtable`]: the Airtable Web API for one base.
//! - [`sender`]: Slack's side of tagbot's endpoints (signed requests).
//! - [`scratch`]: throw-away Postgres databases.
//!
//! The stand-ins enforce the documented contracts (limits, error bodies,
//! rate limits, expiry) so that tests, the demo and the benchmarks exercise
//! tagbot the way the real services would, and record every call for
//! inspection. Each limit cites the page it comes from; where the
//! documentation is silent the stand-in says so and is the stricter.
//!
//! This crate depends on nothing in tagbot: a stand-in that checked tagbot
//! with tagbot's own code would check nothing.

pub mod airtable;
pub mod block_kit;
mod form;
pub mod scratch;
pub mod sender;
pub mod slack;
pub mod slack_files;
pub mod socket_mode;
pub mod workspace;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A stand-in's HTTP server on a free loopback port.
#[derive(Debug, Clone)]
pub struct Served {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Arc<Notify>,
}

impl Served {
    /// Serves `app` until [`Served::shutdown`]; `name` is for the log.
    pub async fn start(app: axum::Router, name: &'static str) -> std::io::Result<Served> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stop = Arc::new(Notify::new());
        let stopped = Arc::clone(&stop);
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.notified().await })
                .await;
            if let Err(err) = served {
                tracing::warn!(error = %err, "{name} stopped");
            }
        });
        Ok(Served { url, stop })
    }

    pub fn shutdown(&self) {
        self.stop.notify_one();
    }
}
