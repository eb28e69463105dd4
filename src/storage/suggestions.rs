//! `lecture_tag_suggestions`: the suggestions and the one way their status
//! changes, `transition`, which review (approve, reject, retry) and sync
//! (synced, failed) both call. Everything else here reads.
//!
//! The database triggers check the same state machine as
//! [`Transition`] and write one event per change; `transition` names the
//! actor and the event's details for them through transaction-local
//! settings, so no status changes without its audit row.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::Error;
use crate::domain::{
    Actor, Failure, FailureCategory, LectureId, RejectReason, SuggestionId, SuggestionStatus,
    Transition,
};

/// A suggestion row held under `FOR UPDATE` for the rest of the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LockedSuggestion {
    pub id: i64,
    pub tag_id: String,
    pub score: f64,
    pub status: SuggestionStatus,
}

const LOCKED_COLUMNS: &str = "id, tag_id, score, status";

/// Locks one suggestion; `None` when it does not exist, or is not one of
/// `lecture` when a lecture is given.
pub(crate) async fn lock_one(
    conn: &mut PgConnection,
    id: SuggestionId,
    lecture: Option<&LectureId>,
) -> Result<Option<LockedSuggestion>, Error> {
    sqlx::query_as(&format!(
        "SELECT {LOCKED_COLUMNS} FROM lecture_tag_suggestions
         WHERE id = $1 AND ($2::text IS NULL OR lecture_external_id = $2) FOR UPDATE"
    ))
    .bind(id.get())
    .bind(lecture.map(LectureId::as_str))
    .fetch_optional(conn)
    .await
    .map_err(Error::from)
}

/// Locks every suggestion of a lecture, in id order so that two lecture-wide
/// operations on one lecture queue behind each other instead of deadlocking.
pub(crate) async fn lock_lecture(
    conn: &mut PgConnection,
    lecture: &str,
) -> Result<Vec<LockedSuggestion>, Error> {
    sqlx::query_as(&format!(
        "SELECT {LOCKED_COLUMNS} FROM lecture_tag_suggestions
         WHERE lecture_external_id = $1 ORDER BY id FOR UPDATE"
    ))
    .bind(lecture)
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// What a transition's transaction tells the status trigger besides its
/// actor (migration 0018): how long a decision can be taken back, and
/// whether an undo of someone else's decision is a lead's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UndoTerms {
    /// An approval or rejection can be taken back this long (stamped on
    /// its event as `details.undo_secs`; zero: never).
    pub window: Duration,
    /// The actor acts as a lead (`SLACK_LEADS`): sets `tagbot.undo_as_lead`
    /// (an undo of someone else's decision, on record as a lead's) and
    /// `tagbot.as_lead` (a ruling on a disputed suggestion, migration 0022).
    pub as_lead: bool,
}

/// Moves every suggestion of `ids` that is in `transition`'s `from` status
/// to its `to` status, as `actor`, with `details` in each event (and, for a
/// failure, the failure on the row and in the event) and `undo`'s terms.
/// Returns the ids that moved; the others were elsewhere and are the
/// caller's to explain. An undo the trigger refuses is
/// [`Error::UndoRefused`], and nothing moved.
///
/// The actor and details reach the audit trigger as transaction-local
/// settings, set by the statement itself: its `WHERE` holds an
/// uncorrelated subquery, which Postgres evaluates once, before any row
/// qualifies, so before any row's trigger runs. One round trip per
/// transition.
pub(crate) async fn transition(
    conn: &mut PgConnection,
    ids: &[i64],
    transition: Transition,
    actor: &Actor,
    details: &Value,
    failure: Option<&Failure>,
    undo: UndoTerms,
) -> Result<Vec<i64>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "UPDATE lecture_tag_suggestions
         SET status = $3, last_error = $4, last_error_category = $5
         WHERE id = ANY($1) AND status = $2
           AND (SELECT set_config('tagbot.actor', $6, true) IS NOT NULL
                   AND set_config('tagbot.actor_name', $7, true) IS NOT NULL
                   AND set_config('tagbot.details', $8, true) IS NOT NULL
                   AND set_config('tagbot.undo_secs', $9, true) IS NOT NULL
                   AND set_config('tagbot.undo_as_lead', $10, true) IS NOT NULL
                   AND set_config('tagbot.as_lead', $10, true) IS NOT NULL)
         RETURNING id",
    )
    .bind(ids)
    .bind(transition.from())
    .bind(transition.to())
    .bind(failure.map(Failure::to_string))
    .bind(failure.map(|failure| failure.category))
    .bind(actor.as_db())
    .bind(actor.display_name().unwrap_or(""))
    .bind(details.to_string())
    .bind(undo.window.as_secs().to_string())
    .bind(undo.as_lead.to_string())
    .fetch_all(conn)
    .await
    .map_err(Error::from)
}

/// A suggestion as the model made it, checked and ready to store.
#[derive(Debug, Clone, Copy)]
pub struct NewSuggestion<'a> {
    pub lecture: &'a str,
    pub tag: &'a str,
    pub score: f64,
    pub rationale: &'a str,
    pub model: &'a str,
}

/// Stores suggestions as pending; one already there for its (lecture, tag)
/// is left as it is. Returns how many were new.
pub async fn insert_pending<'a>(
    conn: &mut PgConnection,
    suggestions: &[NewSuggestion<'a>],
) -> Result<u64, Error> {
    let column = |field: fn(&NewSuggestion<'a>) -> &'a str| -> Vec<&'a str> {
        suggestions.iter().map(field).collect()
    };
    let inserted = sqlx::query(
        "INSERT INTO lecture_tag_suggestions
             (lecture_external_id, tag_id, score, rationale, suggested_by)
         SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[])
         ON CONFLICT (lecture_external_id, tag_id) DO NOTHING",
    )
    .bind(column(|s| s.lecture))
    .bind(column(|s| s.tag))
    .bind(suggestions.iter().map(|s| s.score).collect::<Vec<_>>())
    .bind(column(|s| s.rationale))
    .bind(column(|s| s.model))
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected())
}

/// One suggestion of a lecture with everything a reviewer sees of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReviewedSuggestion {
    pub title: String,
    pub id: i64,
    pub tag_id: String,
    pub tag_name: String,
    pub score: f64,
    pub rationale: String,
    pub suggested_by: String,
    pub created_at: DateTime<Utc>,
    pub status: SuggestionStatus,
    pub last_error: Option<String>,
    pub last_error_category: Option<FailureCategory>,
    /// The last human decision (approve, reject, retry): who and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Until when the latest decision can be taken back, while it can
    /// (its window open by the database's clock as the card is read).
    pub undo_until: Option<DateTime<Utc>>,
    /// Why it was rejected, while it stays rejected (set by the status
    /// trigger from the reject's event, migration 0020).
    pub reject_reason: Option<RejectReason>,
}

/// Every suggestion of `lecture`, highest score first, in one round trip;
/// empty when it has none or is not in the catalogue.
pub async fn of_lecture(pool: &PgPool, lecture: &str) -> Result<Vec<ReviewedSuggestion>, Error> {
    sqlx::query_as(
        "SELECT l.title, s.id, s.tag_id, coalesce(t.name, s.tag_id) AS tag_name, s.score,
                s.rationale, s.suggested_by, s.created_at, s.status, s.last_error,
                s.last_error_category, s.reject_reason,
                coalesce(d.actor_name, d.actor) AS decided_by, d.created_at AS decided_at,
                CASE WHEN u.action IN ('approve', 'reject') AND clock_timestamp() < u.until
                     THEN u.until END AS undo_until
         FROM lecture_tag_suggestions s
         JOIN enriched_lectures l ON l.lecture_external_id = s.lecture_external_id
         LEFT JOIN tags t ON t.tag_id = s.tag_id
         LEFT JOIN LATERAL (
             SELECT e.actor, e.actor_name, e.created_at FROM events e
             WHERE e.suggestion_id = s.id AND e.action IN ('approve', 'reject', 'retry')
             ORDER BY e.id DESC LIMIT 1) d ON true
         -- The latest status change, and the end of its undo window
         -- (migration 0018): only a decided suggestion has one.
         LEFT JOIN LATERAL (
             SELECT e.action, e.created_at
                        + coalesce((e.details->>'undo_secs')::integer, 0) * interval '1 second' AS until
             FROM events e
             WHERE s.status <> 'pending' AND e.suggestion_id = s.id AND e.from_status <> e.to_status
             ORDER BY e.id DESC LIMIT 1) u ON true
         WHERE s.lecture_external_id = $1
         ORDER BY s.score DESC, s.id",
    )
    .bind(lecture)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// The suggestion's tag as people know it (its name, else its id).
pub async fn tag_name(pool: &PgPool, id: SuggestionId) -> Result<Option<String>, Error> {
    Ok(tag_names(pool, &[id]).await?.remove(&id))
}

/// The tag names of `ids` (the tag's id where the catalogue has no name),
/// in one read; ids that are no suggestion are left out.
pub async fn tag_names(
    pool: &PgPool,
    ids: &[SuggestionId],
) -> Result<std::collections::HashMap<SuggestionId, String>, Error> {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT s.id, coalesce(t.name, s.tag_id) FROM lecture_tag_suggestions s
         LEFT JOIN tags t ON t.tag_id = s.tag_id WHERE s.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name)| (SuggestionId::from_db(id), name))
        .collect())
}

/// The id of a lecture's suggestion of a tag.
pub async fn id_of(pool: &PgPool, lecture: &str, tag: &str) -> Result<Option<i64>, Error> {
    sqlx::query_scalar(
        "SELECT id FROM lecture_tag_suggestions WHERE lecture_external_id = $1 AND tag_id = $2",
    )
    .bind(lecture)
    .bind(tag)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// A lecture waiting for review, and where its message is.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingLecture {
    pub lecture: String,
    pub title: String,
    pub pending: i64,
    pub since: DateTime<Utc>,
    pub channel: Option<String>,
    pub ts: Option<String>,
}

/// Up to `limit` lectures with pending suggestions, oldest suggestion first.
pub async fn waiting_lectures(pool: &PgPool, limit: i64) -> Result<Vec<WaitingLecture>, Error> {
    sqlx::query_as(
        "SELECT s.lecture_external_id AS lecture, l.title, count(*) AS pending,
                min(s.created_at) AS since, m.channel, m.ts
         FROM lecture_tag_suggestions s
         JOIN enriched_lectures l ON l.lecture_external_id = s.lecture_external_id
         LEFT JOIN slack_review_messages m ON m.lecture_external_id = s.lecture_external_id
         WHERE s.status = 'pending'
         GROUP BY s.lecture_external_id, l.title, m.channel, m.ts
         ORDER BY min(s.created_at), s.lecture_external_id
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How many lectures have a suggestion in `status`.
pub async fn lectures_in(pool: &PgPool, status: SuggestionStatus) -> Result<i64, Error> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT lecture_external_id) FROM lecture_tag_suggestions WHERE status = $1",
    )
    .bind(status)
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// The first `limit` lectures (by id) with a suggestion in `status`.
pub async fn first_lectures_in(
    pool: &PgPool,
    status: SuggestionStatus,
    limit: i64,
) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT lecture_external_id FROM lecture_tag_suggestions
         WHERE status = $1 ORDER BY 1 LIMIT $2",
    )
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How many suggestions are in `status`.
pub async fn count_in(pool: &PgPool, status: SuggestionStatus) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT count(*) FROM lecture_tag_suggestions WHERE status = $1")
        .bind(status)
        .fetch_one(pool)
        .await
        .map_err(Error::from)
}

/// The day's figures for the digest.
#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct Overview {
    pub pending_lectures: i64,
    pub pending: i64,
    /// When the oldest pending suggestion arrived.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub approved: i64,
    pub failed: i64,
}

pub async fn overview(pool: &PgPool) -> Result<Overview, Error> {
    sqlx::query_as(
        "SELECT count(DISTINCT lecture_external_id) FILTER (WHERE status = 'pending') AS pending_lectures,
                count(*) FILTER (WHERE status = 'pending') AS pending,
                min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending,
                count(*) FILTER (WHERE status = 'approved') AS approved,
                count(*) FILTER (WHERE status = 'failed') AS failed
         FROM lecture_tag_suggestions",
    )
    .fetch_one(pool)
    .await
        .map_err(Error::from)
}

/// Failed suggestions per failure category (None: failed before
/// categories were recorded), most first.
pub async fn failed_by_category(
    pool: &PgPool,
) -> Result<Vec<(Option<FailureCategory>, i64)>, Error> {
    sqlx::query_as(
        "SELECT last_error_category, count(*) AS failed FROM lecture_tag_suggestions
         WHERE status = 'failed' GROUP BY 1 ORDER BY failed DESC, 1",
    )
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// A lecture with failed suggestions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedLecture {
    pub lecture: String,
    pub title: String,
    pub failed: i64,
    /// One of its failures, in words.
    pub reason: Option<String>,
}

/// The first `limit` lectures (by id) with failed suggestions.
pub async fn failed_lectures(pool: &PgPool, limit: i64) -> Result<Vec<FailedLecture>, Error> {
    sqlx::query_as(
        "SELECT s.lecture_external_id AS lecture, coalesce(l.title, '') AS title,
                count(*) AS failed, max(s.last_error) AS reason
         FROM lecture_tag_suggestions s
         LEFT JOIN enriched_lectures l ON l.lecture_external_id = s.lecture_external_id
         WHERE s.status = 'failed'
         GROUP BY s.lecture_external_id, l.title
         ORDER BY s.lecture_external_id
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}
