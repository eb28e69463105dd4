//! The `tagbot` binary: reads `.env`, installs logging, runs one command,
//! and turns any failure into a message and a non-zero exit code.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use clap::Parser;
use tagbot::cli::{self, Cli};
use tagbot::config::Env;

#[tokio::main]
async fn main() -> ExitCode {
    // A missing .env is normal; a malformed one is the user's to fix.
    if let Err(err) = dotenvy::dotenv() {
        if !err.not_found() {
            eprintln!("error: cannot read .env: {err}");
            return ExitCode::FAILURE;
        }
    }
    let env = Env::from_process();
    tagbot::telemetry::init(&env);
    let cli = Cli::parse();
    match cli::run(cli, &env).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
