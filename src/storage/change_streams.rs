//! `airtable_change_streams`: per base, the webhook tagbot reads its change
//! stream from, the cursor of the next payload, the webhook's expiry, and
//! the lease of the one process reading it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::Error;

/// The advisory lock that lets one process at a time set a base's stream
/// up: two starting together would each create a webhook.
const SETUP_LOCK: i64 = 0x7461_6762_6f74_2d77;

/// Waits for the set-up lock, held until the turn is released or dropped;
/// the set-up's statements run outside it, on the pool.
pub async fn setting_up(pool: &PgPool) -> Result<super::Turn, Error> {
    super::Turn::take(pool, SETUP_LOCK).await
}

/// A base's stream as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stream {
    pub webhook_id: String,
    pub next_cursor: i64,
    pub expires_at: Option<DateTime<Utc>>,
    /// The last base transaction read.
    pub seen_through: i64,
    /// When a process last checked the webhook with Airtable.
    pub checked_at: Option<DateTime<Utc>>,
    /// What it watches, as the set-up wrote it.
    pub watching: String,
}

pub async fn of_base(pool: &PgPool, base_id: &str) -> Result<Option<Stream>, Error> {
    sqlx::query_as(
        "SELECT webhook_id, next_cursor, expires_at, seen_through, checked_at, watching FROM airtable_change_streams WHERE base_id = $1",
    )
    .bind(base_id)
    .fetch_optional(pool)
    .await
        .map_err(Error::from)
}

/// Records the webhook a base's stream is read from, as just checked with
/// Airtable. A different webhook than the one stored starts over at cursor
/// `from`; the same one keeps its cursor. `from` is the cursor of the
/// webhook's next payload: a stream read up to it has nothing unread, and
/// counts as caught up now.
pub async fn set_webhook(
    pool: &PgPool,
    base_id: &str,
    webhook_id: &str,
    from: i64,
    expires_at: Option<DateTime<Utc>>,
    watching: &str,
) -> Result<Stream, Error> {
    sqlx::query_as(
        "INSERT INTO airtable_change_streams
             (base_id, webhook_id, next_cursor, expires_at, watching, checked_at, caught_up_at)
         VALUES ($1, $2, $3, $4, $5, now(), now())
         ON CONFLICT (base_id) DO UPDATE
             SET next_cursor = CASE WHEN airtable_change_streams.webhook_id = EXCLUDED.webhook_id
                                    THEN airtable_change_streams.next_cursor
                                    ELSE EXCLUDED.next_cursor END,
                 caught_up_at = CASE WHEN airtable_change_streams.webhook_id <> EXCLUDED.webhook_id
                                          OR airtable_change_streams.next_cursor >= EXCLUDED.next_cursor
                                     THEN now()
                                     ELSE airtable_change_streams.caught_up_at END,
                 webhook_id = EXCLUDED.webhook_id,
                 expires_at = EXCLUDED.expires_at,
                 watching = EXCLUDED.watching,
                 checked_at = now(),
                 updated_at = now()
         RETURNING webhook_id, next_cursor, expires_at, seen_through, checked_at, watching",
    )
    .bind(base_id)
    .bind(webhook_id)
    .bind(from)
    .bind(expires_at)
    .bind(watching)
    .fetch_one(pool)
    .await
        .map_err(Error::from)
}

/// Takes (or renews) the lease to read the base's stream; false when
/// another process holds it.
pub async fn lease(
    pool: &PgPool,
    base_id: &str,
    reader: &str,
    lease: Duration,
) -> Result<bool, Error> {
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
/// handled, with what they said stored in the same transaction, if
/// `reader` still holds the lease; false when it lost it. A read that
/// emptied the stream (`caught_up`) is noted: writes without reading first
/// rely on a recent one.
pub async fn advance(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    reader: &str,
    next_cursor: i64,
    seen_through: i64,
    caught_up: bool,
) -> Result<bool, Error> {
    let moved = sqlx::query(
        "UPDATE airtable_change_streams
         SET next_cursor = greatest(next_cursor, $3), last_read_at = now(), updated_at = now(),
             caught_up_at = CASE WHEN $4 THEN now() ELSE caught_up_at END,
             seen_through = greatest(seen_through, $5)
         WHERE base_id = $1 AND read_by = $2 AND read_until >= now()",
    )
    .bind(base_id)
    .bind(reader)
    .bind(next_cursor)
    .bind(caught_up)
    .bind(seen_through)
    .execute(&mut **tx)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// Gives the read lease back, so the next reader need not wait it out.
pub async fn release(pool: &PgPool, base_id: &str, reader: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_change_streams SET read_by = NULL, read_until = NULL
         WHERE base_id = $1 AND read_by = $2",
    )
    .bind(base_id)
    .bind(reader)
    .execute(pool)
    .await?;
    Ok(())
}

/// How long ago a read last emptied the base's stream (None: never, or
/// no stream).
pub async fn caught_up_ago(pool: &PgPool, base_id: &str) -> Result<Option<f64>, Error> {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - caught_up_at)::float8 FROM airtable_change_streams
         WHERE base_id = $1",
    )
    .bind(base_id)
    .fetch_optional(pool)
    .await
    .map(Option::flatten)
    .map_err(Error::from)
}

/// What [`forget`] gave up that the salvage before it had not settled
/// (another process recorded it meanwhile), for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Forgotten {
    pub repairs: u64,
    /// The records of writes given up as unverified.
    pub writes: Vec<String>,
}

/// Forgets the base's stream and every cell it taught: its webhook is gone
/// or broken, and changes made before a new one exists are unseen. The
/// caller salvaged its waiting repairs and its writes up to id `through`
/// first; any of those still open are given up (repairs abandoned, writes
/// unverified) and returned. Writes past `through` (the salvage's own,
/// sent against a fresh read once the next webhook existed) are kept for
/// the next stream to check.
pub async fn forget(pool: &PgPool, base_id: &str, through: i64) -> Result<Forgotten, Error> {
    let mut tx = super::begin(pool).await?;
    super::record_cells::forget_base(&mut tx, base_id).await?;
    let repairs = super::repairs::abandon(&mut tx, base_id).await?;
    let writes = super::airtable_writes::give_up_unchecked(&mut tx, base_id, through).await?;
    sqlx::query("DELETE FROM airtable_change_streams WHERE base_id = $1")
        .bind(base_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Forgotten { repairs, writes })
}

/// Records a refreshed webhook's new expiry.
pub async fn set_expiry(
    pool: &PgPool,
    base_id: &str,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_change_streams SET expires_at = $2, updated_at = now() WHERE base_id = $1",
    )
    .bind(base_id)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}
