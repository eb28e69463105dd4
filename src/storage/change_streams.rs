//! `airtable_change_streams`: per base, the webhook tagbot reads its change
//! stream from, the cursor of the next payload, the webhook's expiry, and
//! the lease of the one process reading it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A base's stream as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stream {
    pub webhook_id: String,
    pub next_cursor: i64,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn of_base(pool: &PgPool, base_id: &str) -> Result<Option<Stream>, sqlx::Error> {
    sqlx::query_as(
        "SELECT webhook_id, next_cursor, expires_at FROM airtable_change_streams WHERE base_id = $1",
    )
    .bind(base_id)
    .fetch_optional(pool)
    .await
}

/// Records the webhook a base's stream is read from. A different webhook
/// than the one stored starts over at cursor `from`; the same one keeps
/// its cursor.
pub async fn set_webhook(
    pool: &PgPool,
    base_id: &str,
    webhook_id: &str,
    from: i64,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Stream, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO airtable_change_streams (base_id, webhook_id, next_cursor, expires_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (base_id) DO UPDATE
             SET next_cursor = CASE WHEN airtable_change_streams.webhook_id = EXCLUDED.webhook_id
                                    THEN airtable_change_streams.next_cursor
                                    ELSE EXCLUDED.next_cursor END,
                 webhook_id = EXCLUDED.webhook_id,
                 expires_at = EXCLUDED.expires_at,
                 updated_at = now()
         RETURNING webhook_id, next_cursor, expires_at",
    )
    .bind(base_id)
    .bind(webhook_id)
    .bind(from)
    .bind(expires_at)
    .fetch_one(pool)
    .await
}

/// Takes (or renews) the lease to read the base's stream; false when
/// another process holds it.
pub async fn lease(
    pool: &PgPool,
    base_id: &str,
    reader: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let taken = sqlx::query(
        "UPDATE airtable_change_streams
         SET read_by = $2, read_until = now() + $3 * interval '1 second'
         WHERE base_id = $1 AND (read_by IS NULL OR read_by = $2 OR read_until < now())",
    )
    .bind(base_id)
    .bind(reader)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Moves the cursor on after payloads up to `next_cursor - 1` were
/// handled, if `reader` still holds the lease; false when it lost it.
pub async fn advance(
    pool: &PgPool,
    base_id: &str,
    reader: &str,
    next_cursor: i64,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE airtable_change_streams
         SET next_cursor = greatest(next_cursor, $3), last_read_at = now(), updated_at = now()
         WHERE base_id = $1 AND read_by = $2 AND read_until >= now()",
    )
    .bind(base_id)
    .bind(reader)
    .bind(next_cursor)
    .execute(pool)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// Records a refreshed webhook's new expiry.
pub async fn set_expiry(
    pool: &PgPool,
    base_id: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE airtable_change_streams SET expires_at = $2, updated_at = now() WHERE base_id = $1",
    )
    .bind(base_id)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}
