//! Local stand-ins for the services tagbot talks to, served on loopback.
//!
//! They enforce the documented contracts (limits, error bodies, rate
//! limits) so that tests, the demo and the benchmarks exercise tagbot the
//! way the real services would, and record every call for inspection.

pub mod airtable;
pub mod slack;
