//! Integration tests against a real Postgres: one database per test
//! (`#[sqlx::test]`), migrated by the owner, exercised as the restricted
//! run-time role exactly as production runs.

mod agreement;
mod airtable_change_stream;
mod app_home;
mod calibration_export;
mod cli;
mod doctor;
mod enqueue;
mod helpers;
mod hostile;
mod intake;
mod layers;
mod people_and_workers;
mod pressure;
mod privileges;
mod reasons;
mod reasons_database;
mod reasons_report;
mod review_ops;
mod review_queue;
mod review_sessions;
mod review_sla;
mod serve;
mod slack;
mod slack_answers;
mod slack_morphism_compat;
mod slack_world;
mod socket_mode;
mod state_machine;
mod stream_sync;
mod sync;
mod sync_world;
mod uncertain_order;
mod undo;
mod undo_database;
mod undo_slack;
mod votes;
mod votes_slack;
mod who_decides;
