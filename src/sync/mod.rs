//! The Airtable sync worker: takes approved tags from `airtable_sync_items`
//! to the team's base, adding them to what is there and never removing a
//! tag.
//!
//! Guarantees, and how:
//! - **One writer per record.** Work is claimed per lecture under a lease
//!   (see [`queue`]); only the holder reads and writes that lecture's record.
//! - **Crash-safe.** A dead worker's lease expires and its items are claimed
//!   again; writes are unions, so repeating one changes nothing.
//! - **Within Airtable's limits.** Every request waits for the base's shared
//!   budget in Postgres (5 per second across all processes; a 429 pauses the
//!   base for every process).
//! - **Batched.** Up to 10 lectures per batch: one read and at most one
//!   write, each lecture's tags in one record update; two batches in hand
//!   at once (`lanes.rs`), so the budget's slots find a request ready.
//! - **Retries with backoff.** Transient failures come back after 1, 2, 4,
//!   8, 16 s (with jitter); after the 5th retry, or on a permanent failure,
//!   the item and its suggestion fail with the reason.

mod backoff;
mod batch;
mod error;
mod lanes;
mod mapping;
pub mod queue;
mod report;
pub mod stream;
mod streamed;

pub use error::SyncError;
pub use mapping::unmapped_tags;
pub use report::{count_reasons, drift_lines, DriftLine, ReasonCount, RunReport};
pub use streamed::{missing_scope, StreamMode, FRESH_FOR};

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{watch, Mutex};
use tracing::Instrument;

use crate::airtable::{AirtableClient, AirtableError, RequestBudget, SchemaProblem};
use crate::config::{AirtableSettings, SyncSettings};
use crate::domain::Failure;
use crate::shutdown::Shutdown;
use crate::storage;
use mapping::TagMap;
use queue::Claim;

/// Lectures per batch: Airtable writes at most 10 records per request.
const LECTURES_PER_BATCH: i64 = crate::airtable::MAX_RECORDS_PER_WRITE as i64;
/// A cached tag mapping older than this is rebuilt at the next run.
const MAPPING_TTL: Duration = Duration::from_secs(300);
/// A batch naming an unknown tag rebuilds a mapping older than this first.
const MAPPING_REFRESH_ON_MISS: Duration = Duration::from_secs(30);
/// An idle worker never re-runs sooner than this unless work is notified.
const MIN_PAUSE: Duration = Duration::from_secs(1);
/// How often an idle worker looks at whether the change stream is due a
/// read.
const IDLE_TICK: Duration = Duration::from_secs(1);
/// The channel the queue's trigger notifies.
pub const NOTIFY_CHANNEL: &str = "tagbot_sync";

/// How far the current (or last) run is, for progress bars and the Slack
/// progress message. `total` is what was due when the run started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunProgress {
    pub run_id: String,
    pub total: u64,
    pub done: u64,
    pub finished: bool,
}

/// Pool connections the running worker holds for good: its notification
/// listener. The pool is sized with them on top of `DATABASE_POOL_SIZE`.
pub const HELD_CONNECTIONS: u32 = 1;

/// How often a running worker deletes done items past their retention.
const FORGET_EVERY: Duration = Duration::from_secs(3600);

/// A sync worker: one identity, one Airtable client, one mapping cache.
pub struct Syncer {
    pool: PgPool,
    airtable: AirtableSettings,
    settings: SyncSettings,
    client: AirtableClient,
    worker_id: String,
    mapping: Mutex<Option<TagMap>>,
    stream: Mutex<streamed::StreamState>,
    progress: watch::Sender<RunProgress>,
}

impl Syncer {
    pub fn new(
        pool: PgPool,
        airtable: AirtableSettings,
        settings: SyncSettings,
    ) -> Result<Syncer, SyncError> {
        let budget = RequestBudget::new(
            pool.clone(),
            &airtable.base_id,
            settings.requests_per_second,
            settings.rate_limit_pause,
        );
        let client = AirtableClient::new(&airtable, budget, settings.request_timeout)?;
        let worker_id = format!(
            "{}-{}-{:04x}",
            settings.host_name,
            std::process::id(),
            rand::random::<u16>()
        );
        Ok(Syncer {
            pool,
            airtable,
            settings,
            client,
            worker_id,
            mapping: Mutex::new(None),
            stream: Mutex::new(streamed::StreamState::default()),
            progress: watch::Sender::new(RunProgress::default()),
        })
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Follows the progress of this worker's runs.
    pub fn progress(&self) -> watch::Receiver<RunProgress> {
        self.progress.subscribe()
    }

    /// Syncs everything due now, then returns the run's report (stored when
    /// the run did anything). Stops between batches when `shutdown` fires.
    pub async fn run_once(&self, shutdown: &Shutdown) -> Result<RunReport, SyncError> {
        let started_at = Utc::now();
        let run_id = format!(
            "{}-{}",
            started_at.format("%Y%m%dT%H%M%S%.3f"),
            self.worker_id
        );
        let span = tracing::info_span!("sync_run", run_id = %run_id);
        self.run(shutdown, started_at, run_id)
            .instrument(span)
            .await
    }

    async fn run(
        &self,
        shutdown: &Shutdown,
        started_at: chrono::DateTime<Utc>,
        run_id: String,
    ) -> Result<RunReport, SyncError> {
        let clock = Instant::now();
        let (requests_before, limited_before) = (
            self.client.stats().requests(),
            self.client.stats().rate_limited(),
        );
        let mut report = RunReport::new(
            run_id.clone(),
            self.worker_id.clone(),
            self.settings.dry_run,
            started_at,
        );
        let mut failures: Vec<Failure> = Vec::new();
        let mut progress = RunProgress {
            run_id: run_id.clone(),
            total: queue::due_count(&self.pool).await?,
            done: 0,
            finished: false,
        };
        self.progress.send_replace(progress.clone());
        if progress.total > 0 && self.cached_mapping().await.is_none() {
            // Read the base up front (as the first batch would), so that the
            // change stream is set up before the first batch, not after.
            if let Ok(map) =
                TagMap::build(&self.client, &self.pool, &self.airtable, MAPPING_TTL).await
            {
                *self.mapping.lock().await = Some(map);
            }
        }
        let outcome = self
            .work_through_queue(shutdown, &mut report, &mut failures, &mut progress)
            .await;
        report.finished_at = Utc::now();
        report.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        report.requests = self.client.stats().requests() - requests_before;
        report.rate_limited = self.client.stats().rate_limited() - limited_before;
        report.failure_reasons = count_reasons(failures.iter());
        report.change_stream = self.stream_mode().await.describe();
        if let Err(err) = &outcome {
            report.aborted = Some(err.to_string());
        }
        progress.finished = true;
        self.progress.send_replace(progress);
        report.add_database_view(&self.pool).await?;
        if report.did_something() && !self.repeats_last_stop(&report).await? {
            report.store(&self.pool).await?;
        }
        outcome.map(|()| report)
    }

    /// Whether `report` only stopped again for the reason the last stored
    /// run stopped for: the worker retries every poll, and each try would
    /// otherwise post the same notice to the report channel.
    async fn repeats_last_stop(&self, report: &RunReport) -> Result<bool, storage::Error> {
        if report.aborted.is_none() || report.synced + report.retried + report.failed > 0 {
            return Ok(false);
        }
        let last = RunReport::latest(&self.pool).await?;
        Ok(last.is_some_and(|last| last.aborted == report.aborted))
    }

    /// Why a run stopped, in words an operator can act on: what Airtable
    /// said, and the setting to look at.
    fn stop_reason(&self, err: &AirtableError, keys: Option<&mapping::BaseKeys>) -> String {
        let settings = &self.airtable;
        if err.is_quota() {
            return format!(
                "{err}. The Airtable workspace has used up its monthly API calls: nothing is written until the limit resets next month or the workspace's plan is upgraded. Approved tags stay queued and keep their tries."
            );
        }
        if err.status == Some(401) {
            return format!(
                "{err}. Check AIRTABLE_TOKEN: create a personal access token at https://airtable.com/create/tokens. Approved tags stay queued."
            );
        }
        // Each setting with the key requests named it by (an id once the
        // schema was read), to find the one Airtable's message names.
        let variables = [
            "AIRTABLE_LECTURES_TABLE",
            "AIRTABLE_LECTURES_ID_FIELD",
            "AIRTABLE_LECTURES_TAGS_FIELD",
            "AIRTABLE_TAGS_TABLE",
            "AIRTABLE_TAGS_ID_FIELD",
        ];
        let values = [
            &settings.lectures_table,
            &settings.lectures_id_field,
            &settings.lectures_tags_field,
            &settings.tags_table,
            &settings.tags_id_field,
        ];
        let requested = keys.map(|k| {
            [
                &k.lectures_table,
                &k.lecture_id,
                &k.tags,
                &k.tags_table,
                &k.tag_id,
            ]
        });
        let configured: Vec<(&str, &String, Option<&String>)> = variables
            .into_iter()
            .zip(values)
            .enumerate()
            .map(|(i, (var, value))| (var, value, requested.map(|keys| keys[i])))
            .collect();
        let setting = |(var, value, _): &(&str, &String, Option<&String>)| format!("{var}={value}");
        let named: Vec<String> = configured
            .iter()
            .filter(|(_, value, key)| {
                err.message.contains(value.as_str())
                    || key.is_some_and(|key| err.message.contains(key.as_str()))
            })
            .map(setting)
            .collect();
        let suspects = if named.is_empty() {
            configured
                .iter()
                .map(setting)
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            named.join(", ")
        };
        if err.status == Some(403) {
            format!(
                "{err}. The token may lack a scope (data.records:read, data.records:write, schema.bases:read) or access to base {} (AIRTABLE_BASE_ID), or a table was renamed or deleted ({suspects}). Run `tagbot doctor`. Approved tags stay queued.",
                settings.base_id
            )
        } else {
            format!(
                "{err}. The base no longer has a table or field tagbot is configured with: check {suspects} against the base, or run `tagbot doctor`. Approved tags stay queued."
            )
        }
    }

    /// The tag mapping, rebuilt when stale or when the batch names a tag it
    /// does not know and it is not brand new.
    async fn mapping_for(&self, claim: &Claim) -> Result<TagMap, SyncError> {
        let mut cached = self.mapping.lock().await;
        // How recent another process's mapping must be to serve: one
        // missing a tag is only trusted when built after this one.
        let refresh = match cached.as_ref() {
            None => Some(MAPPING_TTL),
            Some(map) => {
                let age = map.built_at.elapsed();
                if age > MAPPING_TTL {
                    Some(MAPPING_TTL)
                } else if age > MAPPING_REFRESH_ON_MISS
                    && claim.items.iter().any(|i| !map.knows(&i.tag_id))
                {
                    Some(age.min(MAPPING_REFRESH_ON_MISS))
                } else {
                    None
                }
            }
        };
        if let Some(shared_within) = refresh {
            *cached =
                Some(TagMap::build(&self.client, &self.pool, &self.airtable, shared_within).await?);
        }
        cached
            .clone()
            .ok_or_else(|| SyncError::Schema(SchemaProblem("tag mapping unavailable".to_owned())))
    }

    /// The tag mapping this worker last built, if any.
    async fn cached_mapping(&self) -> Option<TagMap> {
        self.mapping.lock().await.clone()
    }

    /// Reads the change stream now (when it is on and no other process is
    /// reading it), checks tagbot's writes in it and repairs what they
    /// overwrote.
    pub async fn catch_up_stream(&self) -> Option<stream::CatchUp> {
        let tags = self.cached_mapping().await?;
        let watch = streamed::watch_of(&self.stream_mode().await)?;
        self.read_stream(&tags, &watch, stream::PAGES_PER_READ)
            .await
    }

    /// Reads the change stream while idle, when it is due.
    async fn tend_stream_idle(&self) {
        if self.settings.dry_run {
            return;
        }
        let Some(tags) = self.cached_mapping().await else {
            return;
        };
        self.ensure_stream(&tags).await;
        if let Some(done) = self.tend_stream(&tags, false).await {
            if done.repairs_found + done.repaired > 0 || done.drift > 0 {
                tracing::info!(
                    repairs = done.repairs_found,
                    repaired = done.repaired,
                    drift = done.drift,
                    "change stream read"
                );
            }
        }
    }

    /// Renews the claim's leases right before a request; false when lost.
    async fn keep_lease(&self, claim: &Claim) -> bool {
        // A database that is away is waited for: the lease is only lost if
        // it ran out meanwhile, which the renewal then says.
        let renewed = crate::storage::wait_out_outage("sync lease renewals", || {
            queue::renew(&self.pool, &self.worker_id, claim, self.settings.lease)
        })
        .await;
        match renewed {
            Ok(held) => held,
            Err(err) => {
                tracing::warn!(error = %err, "could not renew sync leases");
                false
            }
        }
    }

    /// Reads the base once before the worker starts, so a configuration
    /// that can never work (a field named by id that cannot be matched to
    /// the records' cells, a missing table or field) refuses to start with
    /// the variable to fix. Airtable being away is not fatal: the runs
    /// try again.
    pub async fn preflight(&self) -> Result<(), SyncError> {
        match TagMap::build(&self.client, &self.pool, &self.airtable, MAPPING_TTL).await {
            Ok(map) => {
                *self.mapping.lock().await = Some(map.clone());
                if !self.settings.dry_run {
                    self.ensure_stream(&map).await;
                }
                Ok(())
            }
            Err(err @ SyncError::Schema(_)) => Err(err),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the Airtable base yet; the sync runs will try again");
                Ok(())
            }
        }
    }

    /// Deletes done items past `TAGBOT_SYNC_DONE_RETENTION`, at most every
    /// [`FORGET_EVERY`] (`forgot_at`: when it last did). Every worker may;
    /// their deletions skip each other's rows.
    async fn forget_done_items(&self, forgot_at: &mut Option<Instant>) {
        let Some(retention) = self.settings.done_retention else {
            return;
        };
        if forgot_at.is_some_and(|at: Instant| at.elapsed() < FORGET_EVERY) {
            return;
        }
        *forgot_at = Some(Instant::now());
        match crate::storage::sync_queue::forget_done(&self.pool, retention).await {
            Ok(0) => {}
            Ok(forgotten) => {
                tracing::info!(
                    forgotten,
                    retention_hours = retention.as_secs() / 3600,
                    "deleted done sync items past their retention (the audit log keeps every sync)"
                );
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not delete done sync items past their retention; trying again later");
            }
        }
    }

    /// Runs until `shutdown`: syncs what is due, then sleeps until new work
    /// is notified, the next retry falls due, or the poll interval passes.
    /// Holds [`HELD_CONNECTIONS`] of the pool while it runs (its listener).
    pub async fn run_until_shutdown(&self, shutdown: &Shutdown) -> Result<(), SyncError> {
        self.preflight().await?;
        let mut listener = storage::Listener::listen(&self.pool, NOTIFY_CHANNEL).await?;
        tracing::info!(worker = %self.worker_id, "sync worker started");
        let mut forgot_at = None;
        loop {
            if shutdown.is_requested() {
                break;
            }
            self.forget_done_items(&mut forgot_at).await;
            let pause = match self.run_once(shutdown).await {
                Ok(report) => {
                    if report.did_something() {
                        tracing::info!(run = %report.run_id, synced = report.synced, failed = report.failed, retried = report.retried, requests = report.requests, "sync run finished");
                    }
                    self.settings.poll_interval
                }
                Err(err) => {
                    tracing::error!(error = %err, "sync run failed; trying again shortly");
                    self.settings.poll_interval.min(Duration::from_secs(10))
                }
            };
            // A dry run leaves its items queued: it runs again on new work
            // or the poll, not on the items it has just shown.
            let next_due = if self.settings.dry_run {
                None
            } else {
                queue::next_due_in(&self.pool).await.ok().flatten()
            };
            let wait = next_due
                .map_or(pause, |secs| pause.min(Duration::from_secs_f64(secs)))
                .max(MIN_PAUSE);
            let until = Instant::now() + wait;
            // While it waits, the worker keeps reading the change stream
            // (when on): to check its last writes and see people's edits.
            loop {
                let tick = until
                    .saturating_duration_since(Instant::now())
                    .min(IDLE_TICK);
                tokio::select! {
                    () = shutdown.requested() => break,
                    _ = tokio::time::sleep(tick) => {
                        if Instant::now() >= until {
                            break;
                        }
                        self.tend_stream_idle().await;
                    }
                    notified = listener.notified() => {
                        if let Err(err) = notified {
                            tracing::warn!(error = %err, "lost the notification connection; polling until it is back");
                        }
                        break;
                    }
                }
            }
        }
        tracing::info!(worker = %self.worker_id, "sync worker stopped");
        Ok(())
    }
}
