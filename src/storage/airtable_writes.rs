//! `airtable_writes`: every tags-cell write tagbot sends while the change
//! stream is on, with the cell it assumed, until the stream shows it and
//! it is checked (clean, repaired) or given up on (never seen: it failed,
//! or changed nothing); or, when the stream broke or started over before
//! showing it, salvaged from a fresh read (repaired) or marked unverified.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

use super::Error;
use crate::domain::Values;

/// Why tagbot wrote a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Sync,
    Repair,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Sync => "sync",
            Purpose::Repair => "repair",
        }
    }
}

/// A write about to be sent.
#[derive(Debug, Clone)]
pub struct NewWrite<'a> {
    pub record_id: &'a str,
    pub lecture: Option<&'a str>,
    pub basis: &'a Values,
    pub written: &'a Values,
    /// A repair's basis: the stream's view through this transaction.
    pub seen_through: Option<i64>,
}

/// A write waiting to be found in the stream.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Unchecked {
    pub id: i64,
    pub record_id: String,
    pub basis: Json<Values>,
    pub written: Json<Values>,
    pub seen_through: Option<i64>,
}

/// An unchecked write as the salvage of a broken stream reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Pending {
    pub id: i64,
    pub record_id: String,
    pub lecture_external_id: Option<String>,
    pub basis: Json<Values>,
    pub written: Json<Values>,
    /// When it was recorded, just before it was sent (the database's clock).
    pub sent_at: DateTime<Utc>,
}

/// Records writes before they are sent (so a worker killed after sending
/// still has them checked); returns their ids in order.
pub async fn record(
    pool: &PgPool,
    base_id: &str,
    purpose: Purpose,
    writes: &[NewWrite<'_>],
) -> Result<Vec<i64>, Error> {
    let records: Vec<&str> = writes.iter().map(|w| w.record_id).collect();
    let lectures: Vec<Option<&str>> = writes.iter().map(|w| w.lecture).collect();
    let bases: Vec<Json<&Values>> = writes.iter().map(|w| Json(w.basis)).collect();
    let written: Vec<Json<&Values>> = writes.iter().map(|w| Json(w.written)).collect();
    let seen: Vec<Option<i64>> = writes.iter().map(|w| w.seen_through).collect();
    sqlx::query_scalar(
        "INSERT INTO airtable_writes (base_id, record_id, lecture_external_id, purpose, basis, written, seen_through)
         SELECT $1, r, l, $2, b, w, t
         FROM unnest($3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::int8[])
              WITH ORDINALITY AS s(r, l, b, w, t, n)
         ORDER BY n
         RETURNING id",
    )
    .bind(base_id)
    .bind(purpose.as_str())
    .bind(&records)
    .bind(&lectures)
    .bind(&bases)
    .bind(&written)
    .bind(&seen)
    .fetch_all(pool)
    .await
        .map_err(Error::from)
}

/// Writes that were never sent (their read went stale first).
pub async fn not_sent(pool: &PgPool, ids: &[i64]) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_writes SET checked_at = now(), outcome = 'unseen'
         WHERE id = ANY($1) AND checked_at IS NULL",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// The unchecked writes of `records`, oldest first.
pub async fn unchecked(
    pool: &PgPool,
    base_id: &str,
    records: &[String],
) -> Result<Vec<Unchecked>, Error> {
    sqlx::query_as(
        "SELECT id, record_id, basis, written, seen_through FROM airtable_writes
         WHERE base_id = $1 AND record_id = ANY($2) AND checked_at IS NULL
         ORDER BY id",
    )
    .bind(base_id)
    .bind(records)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Every unchecked write of the base, oldest first.
pub async fn pending(pool: &PgPool, base_id: &str) -> Result<Vec<Pending>, Error> {
    sqlx::query_as(
        "SELECT id, record_id, lecture_external_id, basis, written, sent_at FROM airtable_writes
         WHERE base_id = $1 AND checked_at IS NULL
         ORDER BY id",
    )
    .bind(base_id)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Marks writes no stream will check and no read could settle.
pub async fn unverified(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_writes SET checked_at = now(), outcome = 'unverified'
         WHERE id = ANY($1) AND checked_at IS NULL",
    )
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives up, as unverified, the base's writes still unchecked up to id
/// `through` (its stream starts over); their records, for the log.
pub async fn give_up_unchecked(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    through: i64,
) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "UPDATE airtable_writes SET checked_at = now(), outcome = 'unverified'
         WHERE base_id = $1 AND checked_at IS NULL AND id <= $2
         RETURNING record_id",
    )
    .bind(base_id)
    .bind(through)
    .fetch_all(&mut **tx)
    .await
    .map_err(Error::from)
}

/// How many requests' writes of the base wait to be checked (the records
/// of one request are recorded by one statement, so they share `sent_at`;
/// Airtable shows each request as one payload), and how long ago the
/// oldest was sent (None: none waits).
pub async fn unchecked_summary(pool: &PgPool, base_id: &str) -> Result<(i64, Option<f64>), Error> {
    sqlx::query_as(
        "SELECT count(DISTINCT sent_at), extract(epoch FROM now() - min(sent_at))::float8 FROM airtable_writes
         WHERE base_id = $1 AND checked_at IS NULL",
    )
    .bind(base_id)
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// Marks writes found in the stream.
pub async fn checked(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
    repaired: bool,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_writes SET checked_at = now(), outcome = $2
         WHERE id = ANY($1) AND checked_at IS NULL",
    )
    .bind(ids)
    .bind(if repaired { "repaired" } else { "clean" })
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives up on writes recorded more than `after` ago (by the database's
/// clock, which recorded them) that a caught-up stream never showed:
/// Airtable did not apply them, or they changed nothing.
pub async fn give_up_unseen(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    after: std::time::Duration,
) -> Result<u64, Error> {
    let given_up = sqlx::query(
        "UPDATE airtable_writes SET checked_at = now(), outcome = 'unseen'
         WHERE base_id = $1 AND checked_at IS NULL
           AND sent_at < now() - $2 * interval '1 second'",
    )
    .bind(base_id)
    .bind(after.as_secs_f64())
    .execute(&mut **tx)
    .await?;
    Ok(given_up.rows_affected())
}
