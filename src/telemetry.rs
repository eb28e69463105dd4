//! Logging: tracing to stderr, filtered by `RUST_LOG` (default `info`).
//!
//! stdout is kept for what a command prints for its user (reports, JSON),
//! so logs never mix into output another program reads.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call is a no-op.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
