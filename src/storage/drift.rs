//! `airtable_drift`: synced tags someone then removed in Airtable: who,
//! when, which lecture and tag. Recorded from the change stream, never
//! undone, shown on review messages and counted in the digest and the
//! report.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};

use super::Error;
use crate::domain::Author;

/// A removal of a tag from a record, as the stream showed it.
#[derive(Debug, Clone)]
pub struct Removed<'a> {
    pub record_id: &'a str,
    pub lecture: &'a str,
    pub tag_id: &'a str,
    pub by: &'a Author,
    pub at: DateTime<Utc>,
    pub transaction: i64,
}

/// Who removed a tag, as people read it: the name, else the email, else
/// the kind of change.
macro_rules! removed_by {
    () => {
        "coalesce(nullif(btrim(removed_by_name), ''), removed_by_email, source) AS removed_by"
    };
}

/// A drift as people are shown it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Drift {
    pub lecture_external_id: String,
    pub tag_id: String,
    pub removed_by: String,
    pub removed_at: DateTime<Utc>,
}

/// Records the removals that took away a synced tag (others are not
/// drift: tagbot never put them there); returns how many were new.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    removals: &[Removed<'_>],
) -> Result<u64, Error> {
    let mut recorded = 0;
    for removal in removals {
        let inserted = sqlx::query(
            "INSERT INTO airtable_drift (base_id, record_id, lecture_external_id, tag_id, suggestion_id,
                 source, removed_by_id, removed_by_name, removed_by_email, removed_at, base_transaction)
             SELECT $1, $2, s.lecture_external_id, s.tag_id, s.id, $5, $6, $7, $8, $9, $10
             FROM lecture_tag_suggestions s
             WHERE s.lecture_external_id = $3 AND s.tag_id = $4 AND s.status = 'synced'
             ON CONFLICT (record_id, tag_id, base_transaction) DO NOTHING",
        )
        .bind(base_id)
        .bind(removal.record_id)
        .bind(removal.lecture)
        .bind(removal.tag_id)
        .bind(&removal.by.source)
        .bind(&removal.by.user_id)
        .bind(&removal.by.name)
        .bind(&removal.by.email)
        .bind(removal.at)
        .bind(removal.transaction)
        .execute(&mut **tx)
        .await?;
        recorded += inserted.rows_affected();
    }
    Ok(recorded)
}

/// Someone put these tags back after removing them: their drift ends
/// (the record stays, marked).
pub async fn readded(
    tx: &mut Transaction<'_, Postgres>,
    added: &[Removed<'_>],
) -> Result<u64, Error> {
    let mut ended = 0;
    for addition in added {
        let done = sqlx::query(
            "UPDATE airtable_drift SET readded_at = $3
             WHERE lecture_external_id = $1 AND tag_id = $2 AND readded_at IS NULL
               AND base_transaction < $4",
        )
        .bind(addition.lecture)
        .bind(addition.tag_id)
        .bind(addition.at)
        .bind(addition.transaction)
        .execute(&mut **tx)
        .await?;
        ended += done.rows_affected();
    }
    Ok(ended)
}

/// The latest removal of each synced tag of `lectures` still removed.
pub async fn of_lectures(pool: &PgPool, lectures: &[String]) -> Result<Vec<Drift>, Error> {
    sqlx::query_as(concat!(
        "SELECT DISTINCT ON (lecture_external_id, tag_id) lecture_external_id, tag_id, ",
        removed_by!(),
        ", removed_at
         FROM airtable_drift WHERE lecture_external_id = ANY($1) AND readded_at IS NULL
         ORDER BY lecture_external_id, tag_id, removed_at DESC",
    ))
    .bind(lectures)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Drift recorded since `since`, newest first, at most `limit`.
pub async fn since(pool: &PgPool, since: DateTime<Utc>, limit: i64) -> Result<Vec<Drift>, Error> {
    sqlx::query_as(concat!(
        "SELECT lecture_external_id, tag_id, ",
        removed_by!(),
        ", removed_at
         FROM airtable_drift WHERE removed_at >= $1 ORDER BY removed_at DESC LIMIT $2",
    ))
    .bind(since)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// The latest drift recorded, newest first, at most `limit`.
pub async fn latest(pool: &PgPool, limit: i64) -> Result<Vec<Drift>, Error> {
    sqlx::query_as(concat!(
        "SELECT lecture_external_id, tag_id, ",
        removed_by!(),
        ", removed_at
         FROM airtable_drift ORDER BY removed_at DESC, id DESC LIMIT $1",
    ))
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How many synced tags people removed since `since`.
pub async fn count_since(pool: &PgPool, since: DateTime<Utc>) -> Result<i64, Error> {
    sqlx::query_scalar("SELECT count(*) FROM airtable_drift WHERE removed_at >= $1")
        .bind(since)
        .fetch_one(pool)
        .await
        .map_err(Error::from)
}
