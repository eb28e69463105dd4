//! tagbot: human review between a tagging model and the team's Airtable.
//!
//! The library holds everything; the `tagbot` binary is a thin command line
//! over it (see [`cli`]).

// A fallible path reports its error; panicking is for tests only.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod agreement;
pub mod airtable;
pub mod cache;
pub mod calibration;
pub mod chart;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod doctor;
pub mod domain;
pub mod export;
pub mod intake;
pub mod metrics;
pub mod review;
pub mod shutdown;
pub mod slack;
pub mod startup;
pub mod storage;
pub mod sync;
pub mod telemetry;
mod text;
