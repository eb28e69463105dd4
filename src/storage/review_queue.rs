//! Reads of the review queue (the lectures with pending suggestions): the
//! order reviewers are served them in (`TAGBOT_REVIEW_ORDER`), and how long
//! the queue has waited (`TAGBOT_REVIEW_SLA`). The review channel's
//! admission (`review_messages::admit`) and review sessions' hand-out
//! (`review_holds::take_next`) rank lectures with `waiting`, so the two
//! agree on the order; the digest, the App Home and `/metrics` read the
//! backlog here. Reads only: `suggestions` writes the table.
//!
//! Every read walks a partial index of pending suggestions in order and
//! stops early: at catalogue scale it costs what the first few lectures
//! cost, not the whole queue (migrations 0008, 0009 and 0021 hold the
//! indexes; BENCHMARKS.md has the figures at 100,000 pending).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

use super::Error;

/// The order lectures are served in, with what it needs to rank them.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueOrder {
    /// The lecture with the oldest pending suggestion first.
    Oldest,
    /// The lecture with the highest-scored pending suggestion first.
    Score,
    /// The lecture whose pending suggestions come closest to their model's
    /// threshold first: the smallest |score − threshold| over them.
    Uncertain(Thresholds),
}

/// The threshold each model's scores are measured against in the
/// `uncertain` order: the models named here have theirs (calibration's
/// recommended threshold); every other model has the default
/// (`TAGBOT_APPROVE_THRESHOLD`). Worked out by the caller, passed to the
/// queries as parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Thresholds {
    models: Vec<String>,
    thresholds: Vec<f64>,
    default: f64,
}

impl Thresholds {
    pub fn new(default: f64, by_model: impl IntoIterator<Item = (String, f64)>) -> Thresholds {
        let (models, thresholds) = by_model.into_iter().unzip();
        Thresholds {
            models,
            thresholds,
            default,
        }
    }
}

/// Pending suggestions walked per lecture ranked: a lecture rarely has
/// more pending tags than this, so the first `n × 50` suggestions in order
/// hold the first `n` lectures. (A lecture with more is ranked by the ones
/// walked; at worst fewer than `n` lectures come back, and the next call
/// gets the rest.)
const ROWS_PER_LECTURE: i64 = 50;

impl QueueOrder {
    /// The `uncertain` order's parameters (placeholders `$first`,
    /// `$first + 1`, `$first + 2` of [`waiting`]'s SQL), bound by every
    /// order so that one statement serves them all: its models, their
    /// thresholds and the default.
    pub(super) fn params(&self) -> (&[String], &[f64], f64) {
        match self {
            QueueOrder::Uncertain(t) => (&t.models, &t.thresholds, t.default),
            QueueOrder::Oldest | QueueOrder::Score => (&[], &[], 0.0),
        }
    }
}

/// `WITH RECURSIVE …, waiting AS (…)`: at most `lectures` (an SQL
/// expression) lectures with a pending suggestion `s` that `filter` (a
/// condition on `s`) keeps, first in `order`, each with when its first
/// suggestion walked arrived (`since`: in the oldest order, its oldest
/// pending suggestion). Ties go to the older lecture, then to the lower
/// id. The caller's statement follows it and binds [`QueueOrder::params`]
/// at placeholders `$first` to `$first + 2`, after its own.
pub(super) fn waiting(order: &QueueOrder, filter: &str, lectures: &str, first: usize) -> String {
    let candidates = match order {
        QueueOrder::Oldest => walk(
            "0::float8",
            filter,
            "s.created_at, s.lecture_external_id",
            lectures,
        ),
        QueueOrder::Score => walk(
            "-s.score",
            filter,
            "s.score DESC, s.created_at, s.lecture_external_id",
            lectures,
        ),
        QueueOrder::Uncertain(_) => outwards_from_thresholds(filter, lectures, first),
    };
    format!(
        "WITH RECURSIVE {candidates},
         waiting AS (
             SELECT lecture_external_id, min(created_at) AS since FROM candidates
             GROUP BY lecture_external_id
             ORDER BY min(queue_rank), min(created_at), lecture_external_id
             LIMIT {lectures})"
    )
}

/// `candidates(lecture_external_id, created_at, queue_rank)`: the first
/// pending suggestions in the index order `scan`, ranked by the SQL
/// expression `rank` (lowest first).
fn walk(rank: &str, filter: &str, scan: &str, lectures: &str) -> String {
    format!(
        "candidates AS (
             SELECT s.lecture_external_id, s.created_at, {rank} AS queue_rank
             FROM lecture_tag_suggestions s
             WHERE s.status = 'pending' AND {filter}
             ORDER BY {scan}
             LIMIT ({lectures}) * {ROWS_PER_LECTURE})"
    )
}

/// `candidates` for the uncertain order, ranked by |score − threshold|.
/// The models pending suggestions come from are found one index probe
/// each (a loose index scan: there are a handful, not one per row); each
/// model's pending scores are walked up from its threshold and down from
/// it, the first few of each way. Whatever the lectures closest to their
/// thresholds are, their closest suggestions are among those.
///
/// The models go through an array: Postgres estimates a recursive CTE at
/// a hundred rows but an unnested array at ten, and with a hundred models
/// walked the prepared statement's generic plan looks costly enough to be
/// JIT-compiled, which cost 50 ms a call where the walk itself takes 2
/// (BENCHMARKS.md).
fn outwards_from_thresholds(filter: &str, lectures: &str, first: usize) -> String {
    let (models, thresholds, default) = (first, first + 1, first + 2);
    let way = |comparison: &str, direction: &str, distance: &str| {
        format!(
            "(SELECT s.lecture_external_id, s.created_at, {distance} AS queue_rank
              FROM lecture_tag_suggestions s
              WHERE s.status = 'pending' AND s.suggested_by = t.model
                AND s.score {comparison} t.threshold AND {filter}
              ORDER BY s.score {direction}, s.created_at, s.lecture_external_id
              LIMIT ({lectures}) * {ROWS_PER_LECTURE})"
        )
    };
    let up = way(">=", "ASC", "s.score - t.threshold");
    let down = way("<", "DESC", "t.threshold - s.score");
    format!(
        "models AS (
             SELECT min(suggested_by) AS model FROM lecture_tag_suggestions
             WHERE status = 'pending'
             UNION ALL
             SELECT (SELECT min(n.suggested_by) FROM lecture_tag_suggestions n
                     WHERE n.status = 'pending' AND n.suggested_by > m.model)
             FROM models m WHERE m.model IS NOT NULL
         ),
         thresholds AS (
             SELECT p.model, coalesce(c.threshold, ${default}::float8) AS threshold
             FROM unnest(ARRAY(SELECT model FROM models WHERE model IS NOT NULL)) AS p(model)
             LEFT JOIN unnest(${models}::text[], ${thresholds}::float8[]) AS c(model, threshold)
                 ON c.model = p.model
         ),
         candidates AS (
             SELECT w.* FROM thresholds t CROSS JOIN LATERAL ({up} UNION ALL {down}) w
         )"
    )
}

/// How long the queue has waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Backlog {
    /// When the oldest pending suggestion arrived; None when nothing is
    /// pending.
    pub oldest_pending: Option<DateTime<Utc>>,
    /// Lectures with a pending suggestion that arrived before the SLA's
    /// cut-off (their oldest is older than the SLA); 0 without an SLA.
    pub overdue_lectures: i64,
}

/// When a pending suggestion must have arrived by, at `now`, for its
/// lecture not to be overdue under `sla`; None without an SLA.
fn overdue_before(now: DateTime<Utc>, sla: Option<Duration>) -> Option<DateTime<Utc>> {
    let sla = TimeDelta::from_std(sla?).ok()?;
    now.checked_sub_signed(sla)
}

/// The queue's backlog at `now` under `sla` (None: no SLA, nothing is
/// overdue), in one statement: both figures come from the index of pending
/// suggestions by arrival (`idx_sugg_pending_queue`), the oldest as its
/// first entry, the overdue ones as the range before the SLA's cut-off,
/// grouped by lecture in a hash (`count(DISTINCT …)` would sort, and spill
/// to disk at 100,000: two to three times slower).
pub async fn backlog(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla: Option<Duration>,
) -> Result<Backlog, Error> {
    sqlx::query_as(
        "SELECT (SELECT min(created_at) FROM lecture_tag_suggestions
                 WHERE status = 'pending') AS oldest_pending,
                (SELECT count(*) FROM (SELECT lecture_external_id FROM lecture_tag_suggestions
                                       WHERE status = 'pending' AND created_at < $1
                                       GROUP BY lecture_external_id) overdue) AS overdue_lectures",
    )
    .bind(overdue_before(now, sla))
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// An overdue lecture, as the digest names it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OverdueLecture {
    pub lecture_external_id: String,
    /// The catalogue's title; None when the catalogue does not have it.
    pub title: Option<String>,
    /// When its oldest pending suggestion arrived.
    pub since: DateTime<Utc>,
}

/// The `limit` lectures overdue at `now` under `sla` that have waited
/// longest, oldest first; none without an SLA.
pub async fn longest_overdue(
    pool: &PgPool,
    now: DateTime<Utc>,
    sla: Option<Duration>,
    limit: i64,
) -> Result<Vec<OverdueLecture>, Error> {
    let Some(before) = overdue_before(now, sla) else {
        return Ok(Vec::new());
    };
    let waiting = waiting(&QueueOrder::Oldest, "s.created_at < $1", "$2", 3);
    let (models, thresholds, default) = QueueOrder::Oldest.params();
    sqlx::query_as(&format!(
        "{waiting}
         SELECT w.lecture_external_id, l.title, w.since FROM waiting w
         LEFT JOIN enriched_lectures l ON l.lecture_external_id = w.lecture_external_id
         ORDER BY w.since, w.lecture_external_id"
    ))
    .bind(before)
    .bind(limit)
    .bind(models)
    .bind(thresholds)
    .bind(default)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}
