//! `airtable_repairs`: people's edits that one of tagbot's writes
//! overwrote, found in the change stream, and when the write putting them
//! right left.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

use super::Error;
use crate::domain::{Edit, Values};

/// A repair just found.
#[derive(Debug, Clone)]
pub struct NewRepair<'a> {
    pub write_id: i64,
    pub record_id: &'a str,
    pub lecture: Option<&'a str>,
    pub restore: &'a Values,
    pub remove: &'a Values,
    pub edits: &'a BTreeMap<String, Edit>,
    /// The last base transaction the stream had shown.
    pub seen_through: i64,
}

/// A repair whose write has not left yet.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Waiting {
    pub id: i64,
    pub record_id: String,
    pub lecture_external_id: Option<String>,
    pub restored: Json<Values>,
    pub removed: Json<Values>,
    pub seen_through: i64,
}

/// A repair as the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Recorded {
    pub record_id: String,
    pub lecture_external_id: Option<String>,
    pub restored: Json<Values>,
    pub removed: Json<Values>,
    pub edits: Json<BTreeMap<String, Edit>>,
    pub found_at: DateTime<Utc>,
    pub repaired_at: Option<DateTime<Utc>>,
}

pub async fn found(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    repairs: &[NewRepair<'_>],
) -> Result<(), Error> {
    for repair in repairs {
        sqlx::query(
            "INSERT INTO airtable_repairs (base_id, record_id, lecture_external_id, write_id, restored, removed, edits, seen_through)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (write_id) DO NOTHING",
        )
        .bind(base_id)
        .bind(repair.record_id)
        .bind(repair.lecture)
        .bind(repair.write_id)
        .bind(Json(repair.restore))
        .bind(Json(repair.remove))
        .bind(Json(repair.edits))
        .bind(repair.seen_through)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The base's repairs still to write, oldest first.
pub async fn waiting(pool: &PgPool, base_id: &str) -> Result<Vec<Waiting>, Error> {
    sqlx::query_as(
        "SELECT id, record_id, lecture_external_id, restored, removed, seen_through FROM airtable_repairs
         WHERE base_id = $1 AND repaired_at IS NULL ORDER BY id",
    )
    .bind(base_id)
    .fetch_all(pool)
    .await
        .map_err(Error::from)
}

/// Marks repairs done: by the write `write_id`, or with nothing left to
/// write (None: the cell already held what they restore).
pub async fn done(pool: &PgPool, ids: &[i64], write_id: Option<i64>) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_repairs SET repaired_at = now(), repair_write_id = $2
         WHERE id = ANY($1) AND repaired_at IS NULL",
    )
    .bind(ids)
    .bind(write_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives up the base's waiting repairs: its stream starts over, and what
/// they were to restore can no longer be set against a known cell.
pub async fn abandon(tx: &mut Transaction<'_, Postgres>, base_id: &str) -> Result<u64, Error> {
    let abandoned = sqlx::query(
        "UPDATE airtable_repairs SET repaired_at = now() WHERE base_id = $1 AND repaired_at IS NULL",
    )
    .bind(base_id)
    .execute(&mut **tx)
    .await?;
    Ok(abandoned.rows_affected())
}

/// Repairs found since `since`, newest first, at most `limit`.
pub async fn since(
    pool: &PgPool,
    since: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Recorded>, Error> {
    sqlx::query_as(
        "SELECT record_id, lecture_external_id, restored, removed, edits, found_at, repaired_at
         FROM airtable_repairs WHERE found_at >= $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How many repairs were found since `since`.
pub async fn count_since(pool: &PgPool, since: DateTime<Utc>) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT count(*) FROM airtable_repairs WHERE found_at >= $1")
        .bind(since)
        .fetch_one(pool)
        .await
        .map_err(Error::from)
}
