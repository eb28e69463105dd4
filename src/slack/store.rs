//! The Slack app's reads and its own state in Postgres: a lecture's card and
//! history (one round trip each), the review-message references that keep
//! every lecture to one message, and the once-only channel posts.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::card::{HistoryLine, LectureCard, SuggestionCard};
use crate::domain::SuggestionStatus;

/// How long a claim to post a lecture's message holds before another
/// process may take it over (the first one died before posting).
const POST_CLAIM_SECS: f64 = 60.0;

#[derive(sqlx::FromRow)]
struct SuggestionRow {
    title: String,
    id: i64,
    tag_id: String,
    tag_name: String,
    score: f64,
    rationale: String,
    suggested_by: String,
    created_at: DateTime<Utc>,
    status: SuggestionStatus,
    last_error: Option<String>,
    decided_by: Option<String>,
    decided_at: Option<DateTime<Utc>>,
}

/// The lecture's card, or None when the lecture has no suggestions (or
/// is not in the catalogue).
pub async fn load_card(
    pool: &PgPool,
    lecture: &str,
    approve_threshold: f64,
) -> Result<Option<LectureCard>, sqlx::Error> {
    // The last human decision (approve, reject, retry) names who decided.
    let rows: Vec<SuggestionRow> = sqlx::query_as(
        "SELECT l.title, s.id, s.tag_id, coalesce(t.name, s.tag_id) AS tag_name, s.score,
                s.rationale, s.suggested_by, s.created_at, s.status, s.last_error,
                coalesce(d.actor_name, d.actor) AS decided_by, d.created_at AS decided_at
         FROM lecture_tag_suggestions s
         JOIN enriched_lectures l ON l.lecture_external_id = s.lecture_external_id
         LEFT JOIN tags t ON t.tag_id = s.tag_id
         LEFT JOIN LATERAL (
             SELECT e.actor, e.actor_name, e.created_at FROM events e
             WHERE e.suggestion_id = s.id AND e.action IN ('approve', 'reject', 'retry')
             ORDER BY e.id DESC LIMIT 1) d ON true
         WHERE s.lecture_external_id = $1
         ORDER BY s.score DESC, s.id",
    )
    .bind(lecture)
    .fetch_all(pool)
    .await?;
    let Some(title) = rows.first().map(|row| row.title.clone()) else {
        return Ok(None);
    };
    Ok(Some(LectureCard {
        lecture_id: lecture.to_owned(),
        title,
        approve_threshold,
        suggestions: rows
            .into_iter()
            .map(|row| SuggestionCard {
                id: row.id,
                tag_id: row.tag_id,
                tag_name: row.tag_name,
                score: row.score,
                rationale: row.rationale,
                model: row.suggested_by,
                created_at: row.created_at,
                status: row.status,
                decided_by: row.decided_by,
                decided_at: row.decided_at,
                last_error: row.last_error,
            })
            .collect(),
    }))
}

/// Every event of the lecture's suggestions, oldest first.
pub async fn load_history(pool: &PgPool, lecture: &str) -> Result<Vec<HistoryLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT suggestion_id, action, coalesce(actor_name, actor) AS actor, created_at AS at,
                details->>'error' AS error
         FROM events WHERE lecture_external_id = $1 ORDER BY id",
    )
    .bind(lecture)
    .fetch_all(pool)
    .await
}

/// A review message as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRef {
    pub lecture_external_id: String,
    pub channel: String,
    pub ts: String,
    pub content_version: i64,
}

/// Claims up to `limit` lectures with pending suggestions and no message
/// yet (or a claim whose process died), oldest suggestion first.
pub async fn claim_unposted(
    pool: &PgPool,
    channel: &str,
    claimant: &str,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH waiting AS (
             SELECT s.lecture_external_id, min(s.created_at) AS since
             FROM lecture_tag_suggestions s
             WHERE s.status = 'pending'
               AND NOT EXISTS (SELECT 1 FROM slack_review_messages m
                               WHERE m.lecture_external_id = s.lecture_external_id
                                 AND (m.ts IS NOT NULL OR m.claimed_until > now()))
             GROUP BY s.lecture_external_id
             ORDER BY since, s.lecture_external_id
             LIMIT $3)
         INSERT INTO slack_review_messages (lecture_external_id, channel, claimed_by, claimed_until)
         SELECT lecture_external_id, $1, $2, now() + $4 * interval '1 second' FROM waiting
         ON CONFLICT (lecture_external_id) DO UPDATE
             SET claimed_by = EXCLUDED.claimed_by, claimed_until = EXCLUDED.claimed_until
             WHERE slack_review_messages.ts IS NULL
               AND slack_review_messages.claimed_until <= now()
         RETURNING lecture_external_id",
    )
    .bind(channel)
    .bind(claimant)
    .bind(limit)
    .bind(POST_CLAIM_SECS)
    .fetch_all(pool)
    .await
}

/// Records that the claimed lecture's message was posted, showing
/// `version`; false when the claim was lost meanwhile (another process
/// took the lecture over), and the post is an orphan.
pub async fn record_posted(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
    ts: &str,
    version: i64,
) -> Result<bool, sqlx::Error> {
    let recorded = sqlx::query(
        "UPDATE slack_review_messages
         SET ts = $3, rendered_version = $4, posted_at = now(), updated_at = now(),
             claimed_by = NULL, claimed_until = NULL
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(ts)
    .bind(version)
    .execute(pool)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Extends a claim to post right before posting, and returns the version
/// the message will show; None when the claim was lost.
pub async fn renew_post_claim(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE slack_review_messages SET claimed_until = now() + $3 * interval '1 second'
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL
         RETURNING content_version",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(POST_CLAIM_SECS)
    .fetch_optional(pool)
    .await
}

/// Gives a claim back when posting failed, so it is retried soon.
pub async fn release_claim(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM slack_review_messages
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL",
    )
    .bind(lecture)
    .bind(claimant)
    .execute(pool)
    .await?;
    Ok(())
}

/// The lecture's posted message, if any.
pub async fn message_for(pool: &PgPool, lecture: &str) -> Result<Option<MessageRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT lecture_external_id, channel, ts, content_version FROM slack_review_messages
         WHERE lecture_external_id = $1 AND ts IS NOT NULL",
    )
    .bind(lecture)
    .fetch_optional(pool)
    .await
}

/// The lecture a Slack message of tagbot's is about: a lecture's review
/// message, or a report-channel failure post (its Retry button).
pub async fn lecture_of_message(
    pool: &PgPool,
    channel: &str,
    ts: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT lecture_external_id FROM slack_review_messages WHERE channel = $1 AND ts = $2
         UNION ALL
         SELECT e.lecture_external_id FROM slack_channel_posts p
         JOIN events e ON p.post_key = 'failure:' || e.id
         WHERE p.channel = $1 AND p.ts = $2
         LIMIT 1",
    )
    .bind(channel)
    .bind(ts)
    .fetch_optional(pool)
    .await
}

/// Posted messages that show an older version than the lecture is at,
/// and that no other process is updating.
pub async fn behind(pool: &PgPool, limit: i64) -> Result<Vec<MessageRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT lecture_external_id, channel, ts, content_version FROM slack_review_messages
         WHERE rendered_version < content_version AND ts IS NOT NULL
           AND (refreshing_until IS NULL OR refreshing_until < now())
         ORDER BY updated_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// How long a process may hold a message it is updating.
const REFRESH_HOLD_SECS: f64 = 30.0;

/// Takes a behind message to update it; returns the version it is to
/// show, or None when another process has it or it is current.
pub async fn claim_refresh(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE slack_review_messages
         SET refreshing_by = $2, refreshing_until = now() + $3 * interval '1 second'
         WHERE lecture_external_id = $1 AND ts IS NOT NULL
           AND rendered_version < content_version
           AND (refreshing_until IS NULL OR refreshing_until < now())
         RETURNING content_version",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(REFRESH_HOLD_SECS)
    .fetch_optional(pool)
    .await
}

/// Lets go of a message after updating it: it now shows `version` (or,
/// with None, the update failed and it stays behind).
pub async fn finish_refresh(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
    version: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE slack_review_messages
         SET rendered_version = greatest(rendered_version, coalesce($3, rendered_version)),
             refreshing_by = NULL, refreshing_until = NULL
         WHERE lecture_external_id = $1 AND refreshing_by = $2",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(version)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a message Slack no longer has (someone deleted it): the lecture
/// is posted again while it has pending suggestions.
pub async fn forget_message(pool: &PgPool, lecture: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM slack_review_messages WHERE lecture_external_id = $1")
        .bind(lecture)
        .execute(pool)
        .await?;
    Ok(())
}

/// Claims a once-only channel post by its key; false when it was made, or
/// is being made by a live process, already.
pub async fn claim_channel_post(
    pool: &PgPool,
    key: &str,
    channel: &str,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO slack_channel_posts (post_key, channel, claimed_until)
         VALUES ($1, $2, now() + $3 * interval '1 second')
         ON CONFLICT (post_key) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
             WHERE slack_channel_posts.ts IS NULL AND slack_channel_posts.claimed_until < now()",
    )
    .bind(key)
    .bind(channel)
    .bind(POST_CLAIM_SECS)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

pub async fn record_channel_post(pool: &PgPool, key: &str, ts: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE slack_channel_posts SET ts = $2 WHERE post_key = $1")
        .bind(key)
        .bind(ts)
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops a channel-post claim whose post failed, so it is tried again.
pub async fn release_channel_post(pool: &PgPool, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM slack_channel_posts WHERE post_key = $1 AND ts IS NULL")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
