//! The worker's rules for the sync queue: what becomes of each outcome of a
//! batch (done, another try after a backoff, or failed for good) and the
//! suggestion transition that goes with it. The queue's SQL (claims,
//! leases, the rescuer) is `storage::sync_queue`'s; this module decides.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::domain::{Actor, Failure, Transition};
use crate::storage;
use crate::storage::events;
use crate::storage::suggestions::{transition, UndoTerms};
use crate::storage::sync_queue::{finish, give_back, requeue, Retry};

pub use crate::storage::sync_queue::{
    claim, due_count, next_due_in, release, renew, Claim, ClaimedItem,
};

/// What became of one item in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// The tag is on the record: written now, or already there.
    Synced { record_id: String, written: bool },
    /// Try again later (unless out of tries).
    Transient(Failure),
    /// Never going to work as things are: the suggestion fails.
    Permanent(Failure),
}

impl ItemOutcome {
    /// Why the item did not sync, when it did not.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            ItemOutcome::Synced { .. } => None,
            ItemOutcome::Transient(failure) | ItemOutcome::Permanent(failure) => Some(failure),
        }
    }
}

/// Counts of what a batch's outcomes did, for the run report.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub synced: u64,
    pub written: u64,
    pub retried: u64,
    /// Permanent failures, one per suggestion failed.
    pub failed: Vec<Failure>,
}

/// When tries run out: the first try plus this many retries.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub backoff_base: Duration,
}

/// Records every outcome of a batch in one transaction: items done, queued
/// for another try, or failed; suggestions synced or failed with their
/// events; `sync_fail` events for retries; the batch's leases dropped.
/// Items whose lease this worker no longer holds are left to their holder.
pub async fn record(
    pool: &PgPool,
    worker: &str,
    run_id: &str,
    claim: &Claim,
    outcomes: &[(ClaimedItem, ItemOutcome)],
    policy: RetryPolicy,
) -> Result<Recorded, storage::Error> {
    let sorted = sort_outcomes(outcomes, policy);
    let mut recorded = Recorded::default();
    let mut tx = storage::begin(pool).await?;

    for ((record_id, written), ids) in &sorted.synced_by_record {
        let suggestions = finish(&mut tx, worker, ids, None).await?;
        let details = json!({ "run_id": run_id, "record_id": record_id, "written": written });
        let synced = transition(
            &mut tx,
            &suggestions,
            Transition::SyncOk,
            &Actor::Worker,
            &details,
            None,
            UndoTerms::default(),
        )
        .await?;
        recorded.synced += synced.len() as u64;
        if *written {
            recorded.written += synced.len() as u64;
        }
    }

    for (failure, ids) in &sorted.failed {
        let suggestions = finish(&mut tx, worker, ids, Some(failure)).await?;
        let details = json!({ "run_id": run_id });
        let failed = transition(
            &mut tx,
            &suggestions,
            Transition::SyncFail,
            &Actor::Worker,
            &details,
            Some(failure),
            UndoTerms::default(),
        )
        .await?;
        recorded
            .failed
            .extend(std::iter::repeat_n(failure.clone(), failed.len()));
    }

    let scheduled = requeue(&mut tx, worker, &sorted.retries).await?;
    recorded.retried = events::record_retries(&mut tx, &scheduled, run_id).await?;

    // Items of the claim that got no outcome (none should) go back untouched.
    give_back(&mut tx, worker, &claim.lectures).await?;
    storage::commit(tx).await?;
    Ok(recorded)
}

/// A batch's outcomes sorted by what is to be written.
#[derive(Default)]
struct SortedOutcomes<'a> {
    /// Item ids synced, per (record, whether a write was needed).
    synced_by_record: BTreeMap<(&'a str, bool), Vec<i64>>,
    /// Item ids failed for good, per failure.
    failed: BTreeMap<Failure, Vec<i64>>,
    retries: Vec<Retry>,
}

/// Applies the retry policy: a transient failure is retried after its
/// backoff until the item has used its tries, then fails.
fn sort_outcomes(
    outcomes: &[(ClaimedItem, ItemOutcome)],
    policy: RetryPolicy,
) -> SortedOutcomes<'_> {
    let mut sorted = SortedOutcomes::default();
    for (item, outcome) in outcomes {
        match outcome {
            ItemOutcome::Synced { record_id, written } => sorted
                .synced_by_record
                .entry((record_id, *written))
                .or_default()
                .push(item.id),
            ItemOutcome::Permanent(failure) => {
                sorted
                    .failed
                    .entry(failure.clone())
                    .or_default()
                    .push(item.id);
            }
            ItemOutcome::Transient(failure) => {
                let failures = u32::try_from(item.attempt).unwrap_or(0) + 1;
                if failures > policy.max_retries {
                    let gave_up = failure.noted(&format!("gave up after {failures} tries"));
                    sorted.failed.entry(gave_up).or_default().push(item.id);
                } else {
                    sorted.retries.push(Retry {
                        item_id: item.id,
                        failure: failure.clone(),
                        wait: super::backoff::delay(policy.backoff_base, failures),
                    });
                }
            }
        }
    }
    sorted
}
