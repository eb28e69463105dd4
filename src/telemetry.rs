//! Logging: tracing to stderr, filtered by `RUST_LOG` (default `info`),
//! human-readable by default and one JSON object per line with
//! `LOG_FORMAT=json`. Lines inside a Slack request or a sync run carry its
//! `request_id` or `run_id` (the spans they run in).
//!
//! stdout is kept for what a command prints for its user (reports, JSON),
//! so logs never mix into output another program reads.

use tracing_subscriber::EnvFilter;

use crate::config::{Env, LogFormat};

/// Installs the global subscriber; a second call is a no-op.
pub fn init(env: &Env) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (format, unreadable) = LogFormat::from_env(env);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _already_installed = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Some(value) = unreadable {
        tracing::warn!(%value, "LOG_FORMAT is neither text nor json; logging as text");
    }
}
