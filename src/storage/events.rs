//! `events`: the append-only audit log. Status changes write their events
//! through the trigger (see `suggestions::transition`); this module
//! writes the two kinds that change no status (`enqueue`, and a transient
//! `sync_fail` that leaves the suggestion approved) and reads the log.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::Error;
use crate::domain::{Action, Actor, Failure, RejectReason};

/// Who made a decision, and when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DecidedBy {
    /// As stored: `slack:U…`, `worker` or `cli:<name>`.
    pub actor: String,
    pub actor_name: Option<String>,
    pub action: Action,
    pub at: DateTime<Utc>,
}

impl DecidedBy {
    /// The name people know the actor by, else the stored actor.
    pub fn who(&self) -> &str {
        self.actor_name.as_deref().unwrap_or(&self.actor)
    }
}

#[derive(sqlx::FromRow)]
struct LatestDecisionRow {
    suggestion_id: i64,
    #[sqlx(flatten)]
    decided_by: DecidedBy,
}

/// The latest human decision (approve, reject, retry) on each suggestion.
pub(crate) async fn latest_decisions(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, DecidedBy>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<LatestDecisionRow> = sqlx::query_as(
        "SELECT DISTINCT ON (suggestion_id)
                suggestion_id, actor, actor_name, action, created_at AS at
         FROM events
         WHERE suggestion_id = ANY($1) AND action IN ('approve', 'reject', 'retry')
         ORDER BY suggestion_id, id DESC",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.suggestion_id, row.decided_by))
        .collect())
}

/// One decision of an action an undo would take back (see
/// [`action_of`]), and where its suggestion stands now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ActionDecision {
    pub suggestion_id: i64,
    pub tag_id: String,
    #[sqlx(flatten)]
    pub decided_by: DecidedBy,
    /// Whether the decision is still the suggestion's latest status
    /// change (nothing synced, retried or took it back since).
    pub is_latest: bool,
    /// The suggestion's latest status change, and who made it.
    pub latest_action: Action,
    pub latest_by: String,
    /// Whether its undo window has passed, by the database's clock (as
    /// the status trigger counts it).
    pub expired: bool,
}

/// Every decision of the action that made `suggestion`'s latest decision
/// (approve or reject): the lecture's decisions with the same
/// `details.action_id` (their transaction, migration 0018), in suggestion
/// order. Empty when the suggestion was never decided or was decided
/// before actions were recorded. Every action decides one lecture, so the
/// lecture's own events are searched (its index).
pub(crate) async fn action_of(
    conn: &mut PgConnection,
    lecture: &str,
    suggestion: i64,
) -> Result<Vec<ActionDecision>, Error> {
    sqlx::query_as(
        "WITH target AS (
             SELECT details->>'action_id' AS action_id FROM events
             WHERE lecture_external_id = $1 AND suggestion_id = $2
               AND action IN ('approve', 'reject')
             ORDER BY id DESC LIMIT 1)
         SELECT d.suggestion_id, d.tag_id, d.actor, d.actor_name, d.action, d.created_at AS at,
                l.id = d.id AS is_latest, l.action AS latest_action,
                coalesce(l.actor_name, l.actor) AS latest_by,
                clock_timestamp() > d.created_at
                    + coalesce((d.details->>'undo_secs')::integer, 0) * interval '1 second' AS expired
         FROM events d
         JOIN target t ON d.details->>'action_id' = t.action_id
         CROSS JOIN LATERAL (
             SELECT e.id, e.action, e.actor, e.actor_name FROM events e
             WHERE e.suggestion_id = d.suggestion_id AND e.from_status <> e.to_status
             ORDER BY e.id DESC LIMIT 1) l
         WHERE d.lecture_external_id = $1 AND d.action IN ('approve', 'reject')
         ORDER BY d.suggestion_id",
    )
    .bind(lecture)
    .bind(suggestion)
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// One `enqueue` event per suggestion whose sync item was (re)queued:
/// `(suggestion id, sync item id)`.
pub(crate) async fn record_enqueued(
    conn: &mut PgConnection,
    enqueued: &[(i64, i64)],
    actor: &Actor,
) -> Result<(), Error> {
    if enqueued.is_empty() {
        return Ok(());
    }
    let (suggestions, items): (Vec<i64>, Vec<i64>) = enqueued.iter().copied().unzip();
    sqlx::query(
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor,
                             actor_name, action, from_status, to_status, details)
         SELECT s.id, s.lecture_external_id, s.tag_id, $3, nullif($4, ''),
                'enqueue', 'approved', 'approved', jsonb_build_object('sync_item_id', x.item)
         FROM unnest($1::bigint[], $2::bigint[]) AS x(suggestion, item)
         JOIN lecture_tag_suggestions s ON s.id = x.suggestion
         ORDER BY s.id",
    )
    .bind(&suggestions)
    .bind(&items)
    .bind(actor.as_db())
    .bind(actor.display_name().unwrap_or(""))
    .execute(conn)
    .await?;
    Ok(())
}

/// A transient failure of an approved suggestion's sync item, to be tried
/// again at `retry_at`.
#[derive(Debug, Clone)]
pub struct RetryScheduled {
    pub suggestion_id: i64,
    /// Failed tries so far, this one included.
    pub attempt: i32,
    pub retry_at: DateTime<Utc>,
    pub failure: Failure,
}

/// One worker `sync_fail` event per retry; the suggestion stays approved.
pub(crate) async fn record_retries(
    conn: &mut PgConnection,
    retries: &[RetryScheduled],
    run_id: &str,
) -> Result<u64, Error> {
    if retries.is_empty() {
        return Ok(0);
    }
    let (errors, categories) = super::failure_columns(retries.iter().map(|r| &r.failure));
    let inserted = sqlx::query(
        "INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor, action,
                             from_status, to_status, details)
         SELECT s.id, s.lecture_external_id, s.tag_id, $6, 'sync_fail', 'approved', 'approved',
                jsonb_build_object('run_id', $7::text, 'attempt', x.attempt, 'error', x.error,
                                   'category', x.category, 'transient', true,
                                   'retry_at', x.retry_at)
         FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::text[], $5::text[])
              AS x(suggestion, attempt, retry_at, error, category)
         JOIN lecture_tag_suggestions s ON s.id = x.suggestion
         ORDER BY s.id",
    )
    .bind(retries.iter().map(|r| r.suggestion_id).collect::<Vec<_>>())
    .bind(retries.iter().map(|r| r.attempt).collect::<Vec<_>>())
    .bind(retries.iter().map(|r| r.retry_at).collect::<Vec<_>>())
    .bind(errors)
    .bind(categories)
    .bind(Actor::Worker.as_db())
    .bind(run_id)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected())
}

/// One line of a lecture's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryLine {
    pub suggestion_id: i64,
    /// `approve`, `reject`, `enqueue`, `sync_ok`, `sync_fail`, `retry`.
    pub action: String,
    /// Display name when known, else the actor (`slack:U…`, `worker`, `cli:…`).
    pub actor: String,
    pub at: DateTime<Utc>,
    /// The error of a `sync_fail`.
    pub error: Option<String>,
    /// Why a `reject` rejected (`details.reason`).
    pub reason: Option<RejectReason>,
}

/// Every event of the lecture's suggestions, oldest first.
pub async fn history(pool: &PgPool, lecture: &str) -> Result<Vec<HistoryLine>, Error> {
    sqlx::query_as(
        "SELECT suggestion_id, action, coalesce(actor_name, actor) AS actor, created_at AS at,
                details->>'error' AS error,
                CASE WHEN action = 'reject' THEN details->>'reason' END AS reason
         FROM events WHERE lecture_external_id = $1 ORDER BY id",
    )
    .bind(lecture)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Approvals and rejections recorded between `from` and `to`.
pub async fn decisions_between(
    pool: &PgPool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<(i64, i64), Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE action = 'approve'), count(*) FILTER (WHERE action = 'reject')
         FROM events WHERE created_at BETWEEN $1 AND $2",
    )
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await
        .map_err(Error::from)
}

/// A permanent sync failure of the last week, with what its notice shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailureEvent {
    pub event_id: i64,
    pub lecture_external_id: String,
    pub title: Option<String>,
    pub tag_name: String,
    pub error: Option<String>,
}

/// Up to `limit` permanent failures of the last week whose once-only post
/// ([`super::channel_posts::failure_key`]) was not made yet, oldest first.
pub async fn failures_not_posted(pool: &PgPool, limit: i64) -> Result<Vec<FailureEvent>, Error> {
    sqlx::query_as(
        "SELECT e.id AS event_id, e.lecture_external_id, l.title,
                coalesce(t.name, e.tag_id) AS tag_name, e.details->>'error' AS error
         FROM events e
         LEFT JOIN enriched_lectures l ON l.lecture_external_id = e.lecture_external_id
         LEFT JOIN tags t ON t.tag_id = e.tag_id
         WHERE e.action = 'sync_fail' AND e.to_status = 'failed'
           AND e.created_at > now() - interval '7 days'
           AND NOT EXISTS (SELECT 1 FROM slack_channel_posts p WHERE p.post_key = 'failure:' || e.id)
         ORDER BY e.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
        .map_err(Error::from)
}

/// Approvals and rejections `actor` made since `since`, leaving out those
/// taken back by an undo.
pub async fn decisions_by(pool: &PgPool, actor: &str, since: DateTime<Utc>) -> Result<i64, Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM events e
         WHERE created_at >= $2 AND actor = $1 AND action IN ('approve', 'reject')
           AND NOT EXISTS (SELECT 1 FROM events u
                           WHERE u.suggestion_id = e.suggestion_id AND u.id > e.id
                             AND u.action = 'undo' AND u.details->>'undoes' = e.id::text)",
    )
    .bind(actor)
    .bind(since)
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// Approvals and rejections by Slack reviewers since `since`, per reviewer
/// (the name of their latest decision), most first; decisions taken back
/// by an undo are left out.
pub async fn decisions_per_reviewer(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, Error> {
    sqlx::query_as(
        "SELECT coalesce((array_agg(actor_name ORDER BY id DESC))[1], actor) AS who,
                count(*) AS decisions FROM events e
         WHERE created_at >= $1 AND action IN ('approve', 'reject') AND actor LIKE 'slack:%'
           AND NOT EXISTS (SELECT 1 FROM events u
                           WHERE u.suggestion_id = e.suggestion_id AND u.id > e.id
                             AND u.action = 'undo' AND u.details->>'undoes' = e.id::text)
         GROUP BY actor ORDER BY decisions DESC, who",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}
