//! The sync queue in Postgres: claiming due work under a lease, renewing
//! and releasing leases, and recording what became of each item.
//!
//! Vocabulary (after river and Oban): an item is `queued` (waiting, maybe
//! until `next_attempt_at`), `in_flight` (leased by one worker until
//! `lease_expires_at`), `done` or `failed`. Leases are per lecture (table
//! `airtable_sync_leases`): a worker holds every due item of a lecture, so
//! one Airtable record is only ever read-modified-written by one worker. A
//! worker that dies simply stops renewing; when its lease expires the items
//! are due again and another worker rescues them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::domain::Actor;
use crate::review::set_actor;

/// An item this worker holds.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedItem {
    pub id: i64,
    pub lecture_external_id: String,
    pub tag_id: String,
    /// Failed tries so far.
    pub attempt: i32,
}

/// The lectures (and their due items) one claim leased.
#[derive(Debug, Default)]
pub struct Claim {
    pub lectures: Vec<String>,
    pub items: Vec<ClaimedItem>,
}

impl Claim {
    /// Items grouped by lecture, lectures in claim order.
    pub fn by_lecture(&self) -> BTreeMap<&str, Vec<&ClaimedItem>> {
        let mut grouped: BTreeMap<&str, Vec<&ClaimedItem>> = BTreeMap::new();
        for item in &self.items {
            grouped
                .entry(item.lecture_external_id.as_str())
                .or_default()
                .push(item);
        }
        grouped
    }
}

/// Leases up to `max_lectures` lectures with due items (oldest due first,
/// skipping `skip`) and marks their due items in flight.
///
/// Competing workers must not queue up behind each other: each lecture is
/// represented by its head item (its lowest-id due item), and heads are
/// locked `FOR UPDATE SKIP LOCKED`, so a second worker claiming at the same
/// moment passes over the first one's lectures and takes the next ones.
/// The lease row is the lasting guard; a lecture whose lease another worker
/// took in between is simply not in the claim, and the claim is retried
/// when that left it empty.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    max_lectures: i64,
    skip: &[String],
) -> Result<Claim, sqlx::Error> {
    for _ in 0..CLAIM_TRIES {
        match try_claim(pool, worker, lease, max_lectures, skip).await {
            Ok((candidates, claim)) if candidates == 0 || !claim.lectures.is_empty() => {
                return Ok(claim)
            }
            Ok(_) => {}
            // Two claims that met on one lecture from both ends: Postgres
            // aborted one of them, which simply tries again.
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("40P01") => {
                tracing::debug!("sync claim deadlocked with another worker's; retrying");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Claim::default())
}

/// How often a claim that lost every lecture to other workers is retried.
const CLAIM_TRIES: usize = 5;

/// One claim transaction: how many lectures it tried for, and what it got.
async fn try_claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    max_lectures: i64,
    skip: &[String],
) -> Result<(usize, Claim), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The rescuer: items whose worker died (lease expired) are queued again,
    // so that claiming only ever walks the queued index.
    sqlx::query(
        "UPDATE airtable_sync_items
         SET status = 'queued', leased_by = NULL, lease_expires_at = NULL, updated_at = now()
         WHERE status = 'in_flight' AND lease_expires_at < now()",
    )
    .execute(&mut *tx)
    .await?;
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT i.lecture_external_id FROM airtable_sync_items i
         WHERE i.status = 'queued' AND i.next_attempt_at <= now()
           AND NOT (i.lecture_external_id = ANY($1))
           AND NOT EXISTS (SELECT 1 FROM airtable_sync_items e
                           WHERE e.lecture_external_id = i.lecture_external_id
                             AND e.id < i.id
                             AND e.status = 'queued' AND e.next_attempt_at <= now())
           AND NOT EXISTS (SELECT 1 FROM airtable_sync_leases l
                           WHERE l.lecture_external_id = i.lecture_external_id
                             AND l.lease_expires_at >= now())
         ORDER BY i.next_attempt_at, i.id
         LIMIT $2
         FOR UPDATE OF i SKIP LOCKED",
    )
    .bind(skip)
    .bind(max_lectures)
    .fetch_all(&mut *tx)
    .await?;
    if candidates.is_empty() {
        return Ok((0, Claim::default()));
    }
    // The primary key serializes what SKIP LOCKED could not: a worker that
    // saw the same lecture through a newer head waits for the first to
    // commit, then finds a live lease and leaves the lecture out.
    let lectures: Vec<String> = sqlx::query_scalar(
        "INSERT INTO airtable_sync_leases (lecture_external_id, leased_by, lease_expires_at)
         SELECT l, $2, now() + $3 * interval '1 second' FROM unnest($1::text[]) AS l
         ON CONFLICT (lecture_external_id) DO UPDATE
             SET leased_by = EXCLUDED.leased_by, lease_expires_at = EXCLUDED.lease_expires_at
             WHERE airtable_sync_leases.lease_expires_at < now()
         RETURNING lecture_external_id",
    )
    .bind(&candidates)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    let items: Vec<ClaimedItem> = sqlx::query_as(
        "UPDATE airtable_sync_items
         SET status = 'in_flight', leased_by = $2,
             lease_expires_at = now() + $3 * interval '1 second', updated_at = now()
         WHERE lecture_external_id = ANY($1) AND status = 'queued' AND next_attempt_at <= now()
         RETURNING id, lecture_external_id, tag_id, attempt",
    )
    .bind(&lectures)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    // UPDATE … RETURNING has no order; new tags are appended to a record in
    // the order they were approved.
    let mut items = items;
    items.sort_by_key(|item| item.id);
    Ok((candidates.len(), Claim { lectures, items }))
}

/// Extends this worker's leases; false when any was lost (expired and taken).
pub async fn renew(
    pool: &PgPool,
    worker: &str,
    claim: &Claim,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let renewed = sqlx::query(
        "UPDATE airtable_sync_leases SET lease_expires_at = now() + $3 * interval '1 second'
         WHERE lecture_external_id = ANY($1) AND leased_by = $2",
    )
    .bind(&claim.lectures)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE airtable_sync_items SET lease_expires_at = now() + $3 * interval '1 second'
         WHERE lecture_external_id = ANY($1) AND leased_by = $2 AND status = 'in_flight'",
    )
    .bind(&claim.lectures)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(usize::try_from(renewed).ok() == Some(claim.lectures.len()))
}

/// Gives the claim back untouched: items queued again, leases dropped.
pub async fn release(pool: &PgPool, worker: &str, claim: &Claim) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    give_back(&mut tx, worker, &claim.lectures).await?;
    tx.commit().await
}

/// Puts this worker's still-in-flight items of `lectures` back in the queue
/// as they were, and drops its leases on them.
async fn give_back(
    conn: &mut sqlx::PgConnection,
    worker: &str,
    lectures: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE airtable_sync_items
         SET status = 'queued', leased_by = NULL, lease_expires_at = NULL, updated_at = now()
         WHERE lecture_external_id = ANY($1) AND leased_by = $2 AND status = 'in_flight'",
    )
    .bind(lectures)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM airtable_sync_leases WHERE lecture_external_id = ANY($1) AND leased_by = $2",
    )
    .bind(lectures)
    .bind(worker)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What became of one item in a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// The tag is on the record: written now, or already there.
    Synced { record_id: String, written: bool },
    /// Try again later (unless out of tries).
    Transient { reason: String },
    /// Never going to work as things are: the suggestion fails.
    Permanent { reason: String },
}

/// Counts of what a batch's outcomes did, for the run report.
#[derive(Debug, Default, Clone)]
pub struct Recorded {
    pub synced: u64,
    pub written: u64,
    pub retried: u64,
    /// Permanent failures with their reasons.
    pub failed: Vec<String>,
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
) -> Result<Recorded, sqlx::Error> {
    let mut recorded = Recorded::default();
    let mut tx = pool.begin().await?;

    let mut synced_by_record: BTreeMap<(&str, bool), Vec<i64>> = BTreeMap::new();
    let mut failed: Vec<(i64, String)> = Vec::new();
    let mut retries: Vec<(i64, String, f64)> = Vec::new();
    for (item, outcome) in outcomes {
        match outcome {
            ItemOutcome::Synced { record_id, written } => {
                synced_by_record
                    .entry((record_id, *written))
                    .or_default()
                    .push(item.id);
            }
            ItemOutcome::Permanent { reason } => failed.push((item.id, reason.clone())),
            ItemOutcome::Transient { reason } => {
                let failures = u32::try_from(item.attempt).unwrap_or(0) + 1;
                if failures > policy.max_retries {
                    failed.push((
                        item.id,
                        format!("{reason} (gave up after {failures} tries)"),
                    ));
                } else {
                    let wait = super::backoff::delay(policy.backoff_base, failures);
                    retries.push((item.id, reason.clone(), wait.as_secs_f64()));
                }
            }
        }
    }

    for ((record_id, written), ids) in &synced_by_record {
        set_actor(
            &mut tx,
            &Actor::Worker,
            &json!({ "run_id": run_id, "record_id": record_id, "written": written }),
        )
        .await?;
        let synced: Vec<i64> = sqlx::query_scalar(
            "WITH done AS (
                 UPDATE airtable_sync_items
                 SET status = 'done', attempt = attempt + 1, last_error = NULL,
                     leased_by = NULL, lease_expires_at = NULL, updated_at = now()
                 WHERE id = ANY($1) AND leased_by = $2 AND status = 'in_flight'
                 RETURNING lecture_external_id, tag_id)
             UPDATE lecture_tag_suggestions s SET status = 'synced'
             FROM done d
             WHERE s.lecture_external_id = d.lecture_external_id AND s.tag_id = d.tag_id
               AND s.status = 'approved'
             RETURNING s.id",
        )
        .bind(ids)
        .bind(worker)
        .fetch_all(&mut *tx)
        .await?;
        recorded.synced += synced.len() as u64;
        if *written {
            recorded.written += synced.len() as u64;
        }
    }

    if !failed.is_empty() {
        set_actor(&mut tx, &Actor::Worker, &json!({ "run_id": run_id })).await?;
        let (ids, reasons): (Vec<i64>, Vec<String>) = failed.into_iter().unzip();
        let reasons_recorded: Vec<String> = sqlx::query_scalar(
            "WITH f AS (
                 UPDATE airtable_sync_items i
                 SET status = 'failed', attempt = attempt + 1, last_error = x.reason,
                     leased_by = NULL, lease_expires_at = NULL, updated_at = now()
                 FROM unnest($1::bigint[], $2::text[]) AS x(id, reason)
                 WHERE i.id = x.id AND i.leased_by = $3 AND i.status = 'in_flight'
                 RETURNING i.lecture_external_id, i.tag_id, x.reason)
             UPDATE lecture_tag_suggestions s SET status = 'failed', last_error = f.reason
             FROM f
             WHERE s.lecture_external_id = f.lecture_external_id AND s.tag_id = f.tag_id
               AND s.status = 'approved'
             RETURNING f.reason",
        )
        .bind(&ids)
        .bind(&reasons)
        .bind(worker)
        .fetch_all(&mut *tx)
        .await?;
        recorded.failed = reasons_recorded;
    }

    if !retries.is_empty() {
        let ids: Vec<i64> = retries.iter().map(|r| r.0).collect();
        let reasons: Vec<&str> = retries.iter().map(|r| r.1.as_str()).collect();
        let waits: Vec<f64> = retries.iter().map(|r| r.2).collect();
        let retried: Vec<i64> = sqlx::query_scalar(
            "WITH r AS (
                 UPDATE airtable_sync_items i
                 SET status = 'queued', attempt = attempt + 1, last_error = x.reason,
                     next_attempt_at = now() + x.wait * interval '1 second',
                     leased_by = NULL, lease_expires_at = NULL, updated_at = now()
                 FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS x(id, reason, wait)
                 WHERE i.id = x.id AND i.leased_by = $4 AND i.status = 'in_flight'
                 RETURNING i.lecture_external_id, i.tag_id, i.attempt, i.next_attempt_at, x.reason)
             INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, action,
                                 from_status, to_status, details)
             SELECT s.id, s.lecture_external_id, s.tag_id, 'worker', 'sync_fail',
                    'approved', 'approved',
                    jsonb_build_object('run_id', $5::text, 'attempt', r.attempt, 'error', r.reason,
                                       'transient', true, 'retry_at', r.next_attempt_at)
             FROM r JOIN lecture_tag_suggestions s
               ON s.lecture_external_id = r.lecture_external_id AND s.tag_id = r.tag_id
             WHERE s.status = 'approved'
             RETURNING suggestion_id",
        )
        .bind(&ids)
        .bind(&reasons)
        .bind(&waits)
        .bind(worker)
        .bind(run_id)
        .fetch_all(&mut *tx)
        .await?;
        recorded.retried = retried.len() as u64;
    }

    // Items of the claim that got no outcome (none should) go back untouched.
    give_back(&mut tx, worker, &claim.lectures).await?;
    tx.commit().await?;
    Ok(recorded)
}

/// Seconds until the next item may be claimed: a queued item's retry time
/// (for lectures no one holds), or the end of a lease (a dead worker's
/// items, or a lecture another worker holds with more queued behind it).
pub async fn next_due_in(pool: &PgPool) -> Result<Option<f64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT greatest(extract(epoch FROM min(t) - now()), 0)::float8 FROM (
             SELECT min(i.next_attempt_at) AS t FROM airtable_sync_items i
             WHERE i.status = 'queued'
               AND NOT EXISTS (SELECT 1 FROM airtable_sync_leases l
                               WHERE l.lecture_external_id = i.lecture_external_id
                                 AND l.lease_expires_at >= now())
             UNION ALL
             SELECT min(lease_expires_at) FROM airtable_sync_items WHERE status = 'in_flight'
             UNION ALL
             SELECT min(lease_expires_at) FROM airtable_sync_leases WHERE lease_expires_at >= now()
         ) due",
    )
    .fetch_one(pool)
    .await
}

/// How many items are due now (what a run starting now has ahead of it):
/// queued and due, or in flight under a lease that expired.
pub async fn due_count(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM airtable_sync_items
         WHERE (status = 'queued' AND next_attempt_at <= now())
            OR (status = 'in_flight' AND lease_expires_at < now())",
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}
