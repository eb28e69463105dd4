//! `airtable_sync_items` and `airtable_sync_leases`: the sync queue.
//! Enqueueing approved suggestions, claiming due work under a lease,
//! renewing and releasing leases, and marking what became of each item.
//!
//! Vocabulary (after river and Oban): an item is `queued` (waiting, maybe
//! until `next_attempt_at`), `in_flight` (leased by one worker until
//! `lease_expires_at`), `done` or `failed`. Leases are per lecture (table
//! `airtable_sync_leases`): a worker holds every due item of a lecture, so
//! one Airtable record is only ever read-modified-written by one worker. A
//! worker that dies simply stops renewing; when its lease expires the items
//! are due again and another worker rescues them.
//!
//! Marking an item only touches the queue; the worker's rules (retry or
//! fail, the suggestion's transition) are in `sync::queue`.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Error;
use crate::domain::Failure;

/// Puts (or puts back) the sync items of the approved suggestions `ids` in
/// the queue, due after `hold` (an approval's undo window: an undo never
/// races the worker). An item already queued or in flight is left alone; a
/// failed or done one is requeued from attempt zero. New items are made in
/// the order of `ids` (the decision's: "Approve all" best first), so that
/// the worker, which takes items in id order, adds a lecture's tags to
/// Airtable in that order whatever plan Postgres chose for the approval.
/// Returns `(suggestion id, item id)` for each item that moved.
pub(crate) async fn enqueue(
    conn: &mut PgConnection,
    ids: &[i64],
    hold: Duration,
) -> Result<Vec<(i64, i64)>, Error> {
    sqlx::query_as(
        "WITH approved AS (
             SELECT id, lecture_external_id, tag_id
             FROM lecture_tag_suggestions WHERE id = ANY($1)
         ), upserted AS (
             INSERT INTO airtable_sync_items (lecture_external_id, tag_id, next_attempt_at)
             SELECT lecture_external_id, tag_id, now() + $2 * interval '1 second' FROM approved
             ORDER BY array_position($1, id)
             ON CONFLICT (lecture_external_id, tag_id) DO UPDATE
                 SET status = 'queued', attempt = 0, last_error = NULL,
                     last_error_category = NULL, next_attempt_at = EXCLUDED.next_attempt_at,
                     leased_by = NULL,
                     lease_expires_at = NULL, updated_at = now()
                 WHERE airtable_sync_items.status IN ('failed', 'done')
             RETURNING id, lecture_external_id, tag_id
         )
         SELECT a.id, u.id FROM approved a JOIN upserted u USING (lecture_external_id, tag_id)
         ORDER BY a.id",
    )
    .bind(ids)
    .bind(hold.as_secs_f64())
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// Which approved suggestions are stranded: no sync item, or one that is
/// `failed` or `done` (an approval made during a dry run, or by a hand fix
/// in SQL; a hand-written `failed → approved`). Nothing else ever queues
/// them; `tagbot enqueue` does.
const STRANDED: &str = "FROM lecture_tag_suggestions s
     LEFT JOIN airtable_sync_items i USING (lecture_external_id, tag_id)
     WHERE s.status = 'approved' AND (i.id IS NULL OR i.status IN ('failed', 'done'))";

/// How many approved suggestions are stranded (see `STRANDED`).
pub async fn stranded_count(pool: &PgPool) -> Result<i64, Error> {
    sqlx::query_scalar(&format!("SELECT count(*) {STRANDED}"))
        .fetch_one(pool)
        .await
        .map_err(Error::from)
}

/// Locks the stranded approved suggestions (see `STRANDED`) and returns
/// their ids: a reviewer's concurrent decision on one waits, and whatever
/// it leaves is what gets queued.
pub(crate) async fn lock_stranded(conn: &mut PgConnection) -> Result<Vec<i64>, Error> {
    sqlx::query_scalar(&format!(
        "SELECT s.id {STRANDED} ORDER BY s.id FOR UPDATE OF s"
    ))
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// Locks the sync items of `lecture`'s tags `tags` (an undo checks them
/// before the status trigger does) and returns each tag's item status and
/// attempt. Suggestions are locked first, as everywhere in review.
pub(crate) async fn lock_items_of(
    conn: &mut PgConnection,
    lecture: &str,
    tags: &[String],
) -> Result<Vec<(String, String, i32)>, Error> {
    sqlx::query_as(
        "SELECT tag_id, status, attempt FROM airtable_sync_items
         WHERE lecture_external_id = $1 AND tag_id = ANY($2) ORDER BY id FOR UPDATE",
    )
    .bind(lecture)
    .bind(tags)
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

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
/// represented by its head item (its lowest-id item among the first due
/// ones), and heads are
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
) -> Result<Claim, Error> {
    for _ in 0..CLAIM_TRIES {
        match try_claim(pool, worker, lease, max_lectures, skip).await {
            Ok((candidates, claim)) if candidates == 0 || !claim.lectures.is_empty() => {
                return Ok(claim)
            }
            Ok(_) => {}
            // Two claims that met on one lecture from both ends: Postgres
            // aborted one of them (a deadlock), which simply tries again.
            Err(Error::Conflict(_)) => {
                tracing::debug!("sync claim deadlocked with another worker's; retrying");
            }
            Err(err) => return Err(err),
        }
    }
    Ok(Claim::default())
}

/// How often a claim that lost every lecture to other workers is retried.
const CLAIM_TRIES: usize = 5;
/// Due items a claim looks at per lecture it wants: a batch of lectures
/// with up to this many due tags each is found in one look (with more, the
/// batch is smaller, never wrong).
const CLAIM_WINDOW_PER_LECTURE: i64 = 10;

/// One claim transaction: how many lectures it tried for, and what it got.
async fn try_claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    max_lectures: i64,
    skip: &[String],
) -> Result<(usize, Claim), Error> {
    let mut tx = super::begin(pool).await?;
    // The rescuer: items whose worker died (lease expired) are queued again,
    // so that claiming only ever walks the queued index.
    sqlx::query(
        "UPDATE airtable_sync_items
         SET status = 'queued', leased_by = NULL, lease_expires_at = NULL, updated_at = now()
         WHERE status = 'in_flight' AND lease_expires_at < now()",
    )
    .execute(&mut *tx)
    .await?;
    // Heads are taken within a window of the first due items (walked in
    // index order, `idx_sync_items_due_order`), never by comparing every
    // due item with every other: that self-join is quadratic under the
    // plan Postgres picks for a table not analyzed since a burst of
    // approvals, half a second a claim at 3,000 items.
    let candidates: Vec<String> = sqlx::query_scalar(
        "SELECT i.lecture_external_id FROM airtable_sync_items i
         WHERE i.id IN (SELECT DISTINCT ON (w.lecture_external_id) w.id
                        FROM (SELECT id, lecture_external_id FROM airtable_sync_items
                              WHERE status = 'queued' AND next_attempt_at <= now()
                                AND NOT (lecture_external_id = ANY($1))
                              ORDER BY next_attempt_at, id
                              LIMIT $3) w
                        ORDER BY w.lecture_external_id, w.id)
           AND i.status = 'queued'
           AND NOT EXISTS (SELECT 1 FROM airtable_sync_leases l
                           WHERE l.lecture_external_id = i.lecture_external_id
                             AND l.lease_expires_at >= now())
         ORDER BY i.next_attempt_at, i.id
         LIMIT $2
         FOR UPDATE OF i SKIP LOCKED",
    )
    .bind(skip)
    .bind(max_lectures)
    .bind(max_lectures * CLAIM_WINDOW_PER_LECTURE)
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
) -> Result<bool, Error> {
    let mut tx = super::begin(pool).await?;
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
pub async fn release(pool: &PgPool, worker: &str, claim: &Claim) -> Result<(), Error> {
    let mut tx = super::begin(pool).await?;
    give_back(&mut tx, worker, &claim.lectures).await?;
    tx.commit().await.map_err(Error::from)
}

/// Puts this worker's still-in-flight items of `lectures` back in the queue
/// as they were, and drops its leases on them.
pub(crate) async fn give_back(
    conn: &mut PgConnection,
    worker: &str,
    lectures: &[String],
) -> Result<(), Error> {
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

/// Marks this worker's in-flight items `ids` finished: done (the tag is on
/// the record) when `failure` is None, else failed for good with it.
/// Returns the ids of their suggestions that are still approved, for the
/// caller's `sync_ok` or `sync_fail` transition.
pub(crate) async fn finish(
    conn: &mut PgConnection,
    worker: &str,
    ids: &[i64],
    failure: Option<&Failure>,
) -> Result<Vec<i64>, Error> {
    sqlx::query_scalar(
        "WITH finished AS (
             UPDATE airtable_sync_items
             SET status = CASE WHEN $3::text IS NULL THEN 'done' ELSE 'failed' END,
                 attempt = attempt + 1, last_error = $3, last_error_category = $4,
                 leased_by = NULL, lease_expires_at = NULL, updated_at = now()
             WHERE id = ANY($1) AND leased_by = $2 AND status = 'in_flight'
             RETURNING lecture_external_id, tag_id)
         SELECT s.id FROM lecture_tag_suggestions s
         JOIN finished f ON s.lecture_external_id = f.lecture_external_id AND s.tag_id = f.tag_id
         WHERE s.status = 'approved'",
    )
    .bind(ids)
    .bind(worker)
    .bind(failure.map(Failure::to_string))
    .bind(failure.map(|failure| failure.category))
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// An in-flight item to try again after `wait`.
#[derive(Debug, Clone)]
pub struct Retry {
    pub item_id: i64,
    pub failure: Failure,
    pub wait: Duration,
}

/// Queues this worker's in-flight items again, each after its wait, with
/// its failure recorded. Returns, per item requeued whose suggestion is
/// still approved, what the audit log is to say of it.
pub(crate) async fn requeue(
    conn: &mut PgConnection,
    worker: &str,
    retries: &[Retry],
) -> Result<Vec<super::events::RetryScheduled>, Error> {
    if retries.is_empty() {
        return Ok(Vec::new());
    }
    let (errors, categories) = super::failure_columns(retries.iter().map(|r| &r.failure));
    let rows: Vec<(i64, i32, DateTime<Utc>, i64)> = sqlx::query_as(
        "WITH r AS (
             UPDATE airtable_sync_items i
             SET status = 'queued', attempt = attempt + 1, last_error = x.error,
                 last_error_category = x.category,
                 next_attempt_at = now() + x.wait * interval '1 second',
                 leased_by = NULL, lease_expires_at = NULL, updated_at = now()
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[])
                  AS x(id, error, category, wait)
             WHERE i.id = x.id AND i.leased_by = $5 AND i.status = 'in_flight'
             RETURNING i.id, i.lecture_external_id, i.tag_id, i.attempt, i.next_attempt_at)
         SELECT s.id, r.attempt, r.next_attempt_at, r.id
         FROM r JOIN lecture_tag_suggestions s
           ON s.lecture_external_id = r.lecture_external_id AND s.tag_id = r.tag_id
         WHERE s.status = 'approved'",
    )
    .bind(retries.iter().map(|r| r.item_id).collect::<Vec<_>>())
    .bind(errors)
    .bind(categories)
    .bind(
        retries
            .iter()
            .map(|r| r.wait.as_secs_f64())
            .collect::<Vec<_>>(),
    )
    .bind(worker)
    .fetch_all(conn)
    .await?;
    let failures: BTreeMap<i64, &Failure> =
        retries.iter().map(|r| (r.item_id, &r.failure)).collect();
    Ok(rows
        .into_iter()
        .filter_map(|(suggestion_id, attempt, retry_at, item_id)| {
            let failure = failures.get(&item_id)?;
            Some(super::events::RetryScheduled {
                suggestion_id,
                attempt,
                retry_at,
                failure: (*failure).clone(),
            })
        })
        .collect())
}

/// Seconds until the next item may be claimed: a queued item's retry time
/// (for lectures no one holds), or the end of a lease (a dead worker's
/// items, or a lecture another worker holds with more queued behind it).
pub async fn next_due_in(pool: &PgPool) -> Result<Option<f64>, Error> {
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
    .map_err(Error::from)
}

/// How many items are held back from Airtable for their approval's undo
/// window: queued at attempt 0 and not due yet (a transient failure's
/// retry waits at a later attempt).
pub async fn held_count(pool: &PgPool) -> Result<u64, Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM airtable_sync_items
         WHERE status = 'queued' AND attempt = 0 AND next_attempt_at > now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// How many items are due now (what a run starting now has ahead of it):
/// queued and due, or in flight under a lease that expired.
pub async fn due_count(pool: &PgPool) -> Result<u64, Error> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM airtable_sync_items
         WHERE (status = 'queued' AND next_attempt_at <= now())
            OR (status = 'in_flight' AND lease_expires_at < now())",
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Items per queue status (`queued`, `in_flight`, `done`, `failed`).
pub async fn counts_by_status(pool: &PgPool) -> Result<Vec<(String, i64)>, Error> {
    // One count per status, each over its partial index (an index-only
    // count), rather than a scan of every item ever synced.
    sqlx::query_as(
        "SELECT 'queued', count(*) FROM airtable_sync_items WHERE status = 'queued'
         UNION ALL SELECT 'in_flight', count(*) FROM airtable_sync_items WHERE status = 'in_flight'
         UNION ALL SELECT 'done', count(*) FROM airtable_sync_items WHERE status = 'done'
         UNION ALL SELECT 'failed', count(*) FROM airtable_sync_items WHERE status = 'failed'",
    )
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How long the oldest due item has waited, in seconds.
pub async fn oldest_due_age(pool: &PgPool) -> Result<Option<f64>, Error> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - min(next_attempt_at))::float8 FROM airtable_sync_items
         WHERE status = 'queued' AND next_attempt_at <= now()",
    )
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// Done items deleted per statement: short statements, short locks.
const FORGET_BATCH: i64 = 5_000;

/// Deletes the `done` items last changed more than `older_than` ago and
/// returns how many. Only `done` ones: queued, in-flight and failed items
/// are work or a reason still owed to someone. The audit (`events`) keeps
/// every approval and sync; an item re-enqueued later is inserted afresh.
/// In batches, skipping rows another transaction holds (a re-enqueue of
/// the same tag wins over the deletion).
pub async fn forget_done(pool: &PgPool, older_than: Duration) -> Result<u64, Error> {
    let mut forgotten = 0;
    loop {
        let deleted = sqlx::query(
            "DELETE FROM airtable_sync_items WHERE status = 'done' AND id IN (
                 SELECT id FROM airtable_sync_items
                 WHERE status = 'done' AND updated_at < now() - $1 * interval '1 second'
                 ORDER BY updated_at LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(older_than.as_secs_f64())
        .bind(FORGET_BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        forgotten += deleted;
        if deleted < FORGET_BATCH as u64 {
            return Ok(forgotten);
        }
    }
}
