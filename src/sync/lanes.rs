//! A run's work through the queue, in lanes: each lane claims a batch,
//! prepares it (cells, the writes recorded), waits for its request slot,
//! sends, and records the outcome, then claims the next. With two lanes one
//! batch is being prepared or recorded while the other waits for its slot
//! or its answer, so every slot the shared budget hands this process finds
//! a request ready; a third task reads the change stream on its own
//! cadence, never between a batch's read and its write.
//!
//! One lane prepares at a time: the next batch is claimed when the last
//! one's write is ready to wait for its slot, not before. So no batch is
//! claimed only to queue, and processes starting together each take a
//! share of a short queue.
//!
//! Every guarantee is the batch's own and holds whatever the lanes do: a
//! lecture is claimed by one lane of one process under a lease, a write is
//! recorded before it leaves and leaves within its read's window, and
//! every request takes a slot from the base's budget in Postgres.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use futures_util::future::join_all;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

use super::queue::{self, Claim, RetryPolicy};
use super::{batch, RunProgress, RunReport, SyncError, Syncer, LECTURES_PER_BATCH};
use crate::domain::Failure;
use crate::shutdown::Shutdown;

/// Batches one process has in hand at once. Two keep the budget's slots
/// used (a batch's own work between its answer and its next request is a
/// few database round trips, well inside the two slots the other lane's
/// request takes); more would only queue for slots, and a batch queued
/// behind many (three processes' lanes share one base) risks its read
/// going stale before its write.
const LANES: usize = 2;
/// How often the stream task looks at whether a read is due.
const STREAM_TICK: Duration = Duration::from_secs(1);

/// What the lanes of one run share: the report they add to, and why the
/// run stopped (the first lane to find a reason, or to fail, stops the
/// others).
struct Run<'r> {
    run_id: String,
    tally: Mutex<(&'r mut RunReport, &'r mut Vec<Failure>)>,
    stopped: OnceLock<String>,
    failed: AtomicBool,
}

impl Run<'_> {
    /// Adds to the report; the lock is never held across an await.
    fn add(&self, count: impl FnOnce(&mut RunReport, &mut Vec<Failure>)) {
        let mut tally = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        let (report, failures) = &mut *tally;
        count(report, failures);
    }

    fn stop(&self, reason: String) {
        // The first reason stands; a later lane's is the same run's echo.
        let _ = self.stopped.set(reason);
    }

    /// A lane failed: the run ends with its error once the others stop.
    fn halt(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    fn is_stopped(&self) -> bool {
        self.stopped.get().is_some() || self.failed.load(Ordering::Relaxed)
    }
}

impl Syncer {
    /// Claims and processes batches until the queue has nothing due, the
    /// run must stop, or `shutdown`; reads the change stream meanwhile.
    pub(super) async fn work_through_queue(
        &self,
        shutdown: &Shutdown,
        report: &mut RunReport,
        failures: &mut Vec<Failure>,
        progress: &mut RunProgress,
    ) -> Result<(), SyncError> {
        self.new_run_for_stream().await;
        if !self.settings.dry_run {
            // Before the first batch: the stream's mode decides whether
            // batches read before they write.
            if let Some(tags) = self.cached_mapping().await {
                self.ensure_stream(&tags).await;
            }
        }
        let run = Run {
            run_id: report.run_id.clone(),
            tally: Mutex::new((report, failures)),
            stopped: OnceLock::new(),
            failed: AtomicBool::new(false),
        };
        // A dry run looks at each lecture once and leaves it queued: one
        // lane, which remembers what it has seen.
        let lanes = if self.settings.dry_run { 1 } else { LANES };
        let (done, finished) = watch::channel(false);
        let preparing = Semaphore::new(1);
        let work = async {
            let ended = join_all((0..lanes).map(|_| self.lane(&run, &preparing, shutdown))).await;
            let _ = done.send(true);
            ended
        };
        let (ended, ()) = tokio::join!(work, self.keep_stream_read(&run, finished));
        let Run { tally, stopped, .. } = run;
        let (report, _) = tally.into_inner().unwrap_or_else(PoisonError::into_inner);
        if let Some(reason) = stopped.into_inner() {
            report.aborted = Some(reason);
        }
        progress.done = self.progress.borrow().done;
        progress.total = progress.total.max(progress.done);
        ended.into_iter().collect()
    }

    /// One lane: claim, process, record, until nothing is due or the run
    /// stops. It claims and prepares holding the `preparing` permit, and
    /// lets the other lane have it once its write is ready.
    async fn lane(
        &self,
        run: &Run<'_>,
        preparing: &Semaphore,
        shutdown: &Shutdown,
    ) -> Result<(), SyncError> {
        let mut seen: Vec<String> = Vec::new();
        loop {
            let Ok(permit) = preparing.acquire().await else {
                return Ok(());
            };
            if shutdown.is_requested() || run.is_stopped() {
                return Ok(());
            }
            let claim = queue::claim(
                &self.pool,
                &self.worker_id,
                self.settings.lease,
                LECTURES_PER_BATCH,
                &seen,
            )
            .instrument(tracing::debug_span!("claim"))
            .await?;
            if claim.lectures.is_empty() {
                return Ok(());
            }
            // Given up when the batch's write is ready, or once what the
            // batch did (a reason to stop, say) is on record.
            let held = Mutex::new(Some(permit));
            let ready = || drop(held.lock().unwrap_or_else(PoisonError::into_inner).take());
            // On shutdown mid-batch, give the batch back: a repeated write
            // is a no-op union, so nothing is lost or doubled.
            let processed = tokio::select! {
                processed = self.process_claim(&claim, run, ready)
                    .instrument(tracing::debug_span!("batch")) => processed,
                () = shutdown.requested() => {
                    queue::release(&self.pool, &self.worker_id, &claim).await?;
                    return Ok(());
                }
            };
            if self.settings.dry_run {
                seen.extend(claim.lectures.iter().cloned());
            }
            self.progress.send_modify(|progress| {
                progress.done += claim.items.len() as u64;
                progress.total = progress.total.max(progress.done);
            });
            match processed {
                Ok(Some(reason)) => {
                    run.stop(reason);
                    return Ok(());
                }
                Ok(None) => drop(held),
                Err(err) => {
                    run.halt();
                    return Err(err);
                }
            }
        }
    }

    /// Reads the change stream when due (see `tend_stream`) while the lanes
    /// work, until `finished`.
    async fn keep_stream_read(&self, run: &Run<'_>, mut finished: watch::Receiver<bool>) {
        if self.settings.dry_run {
            return;
        }
        loop {
            tokio::select! {
                _ = finished.changed() => return,
                () = tokio::time::sleep(STREAM_TICK) => {}
            }
            let Some(tags) = self.cached_mapping().await else {
                continue;
            };
            let tended = async {
                self.ensure_stream(&tags).await;
                self.tend_stream(&tags, true).await
            };
            if let Some(done) = tended.instrument(tracing::debug_span!("stream")).await {
                run.add(|report, _| report.count_stream(&done));
            }
        }
    }

    /// One claimed batch from mapping to recorded outcomes. Returns why the
    /// run must stop, if it must.
    async fn process_claim(
        &self,
        claim: &Claim,
        run: &Run<'_>,
        ready: impl FnOnce(),
    ) -> Result<Option<String>, SyncError> {
        let tags = match self.mapping_for(claim).await {
            Ok(tags) => tags,
            Err(err) => {
                queue::release(&self.pool, &self.worker_id, claim).await?;
                return match err {
                    SyncError::Airtable(err) if err.stops_run() => {
                        Ok(Some(self.stop_reason(&err, None)))
                    }
                    other => Err(other),
                };
            }
        };
        let result = batch::process(self, claim, &tags, ready).await;
        if result.read_skipped && !self.settings.dry_run {
            run.add(|report, _| report.reads_skipped += 1);
        }
        if result.lease_lost {
            tracing::warn!(lectures = ?claim.lectures, "lease lost before writing; another worker has these lectures");
            return Ok(None);
        }
        if self.settings.dry_run {
            run.add(|report, _| report.dry_run_payloads.extend(result.payloads));
            queue::release(&self.pool, &self.worker_id, claim).await?;
            return Ok(None);
        }
        self.record_outcomes(claim, run, &result.outcomes)
            .instrument(tracing::debug_span!("record_outcomes"))
            .await?;
        if result.stalled {
            return Ok(Some(format!(
                "writes could not leave within {} s of their reads (the shared request budget held them: the base is paused after a 429, or the database answers slowly); the approved tags wait untouched, with their tries",
                batch::MAX_READ_AGE.as_secs()
            )));
        }
        let Some(err) = result.abort else {
            return Ok(None);
        };
        if err.is_unknown_model() {
            // The base changed under the cached mapping: read it afresh,
            // here and in the other processes.
            self.mapping.lock().await.take();
            crate::storage::tag_maps::forget(&self.pool, &self.airtable.base_id).await?;
        }
        Ok(Some(self.stop_reason(&err, Some(&tags.keys))))
    }

    /// Records a batch's outcomes in the queue (and the suggestions and
    /// events), and counts them in the report and the metrics.
    async fn record_outcomes(
        &self,
        claim: &Claim,
        run: &Run<'_>,
        outcomes: &[(queue::ClaimedItem, queue::ItemOutcome)],
    ) -> Result<(), SyncError> {
        let failed: Vec<Failure> = outcomes
            .iter()
            .filter_map(|(item, outcome)| {
                let failure = outcome.failure()?;
                tracing::warn!(lecture = %item.lecture_external_id, tag = %item.tag_id, category = %failure.category, reason = %failure, "sync item failed");
                Some(failure.clone())
            })
            .collect();
        let policy = RetryPolicy {
            max_retries: self.settings.max_attempts,
            backoff_base: self.settings.backoff_base,
        };
        let recorded = queue::record(
            &self.pool,
            &self.worker_id,
            &run.run_id,
            claim,
            outcomes,
            policy,
        )
        .await?;
        for (outcome, count) in [
            ("synced", recorded.synced),
            ("retried", recorded.retried),
            ("failed", recorded.failed.len() as u64),
        ] {
            metrics::counter!(crate::metrics::SYNC_ITEMS, "outcome" => outcome).increment(count);
        }
        run.add(|report, failures| {
            failures.extend(failed);
            report.synced += recorded.synced;
            report.written += recorded.written;
            report.retried += recorded.retried;
            report.failed += recorded.failed.len() as u64;
        });
        tracing::info!(
            lectures = claim.lectures.len(),
            synced = recorded.synced,
            retried = recorded.retried,
            failed = recorded.failed.len(),
            "sync batch recorded"
        );
        Ok(())
    }
}
