//! `sync_runs`: one row per sync run that did something, its report kept as
//! JSON. The report's shape is `sync::RunReport`'s; this module stores and
//! reads it whole.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgPool;

use super::Error;

/// Who ran a run, and when: the columns kept beside the report.
#[derive(Debug, Clone, Copy)]
pub struct RunColumns<'a> {
    pub worker_id: &'a str,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

pub async fn store<R: Serialize + Sync>(
    pool: &PgPool,
    columns: RunColumns<'_>,
    report: &R,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO sync_runs (worker_id, dry_run, started_at, finished_at, report)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(columns.worker_id)
    .bind(columns.dry_run)
    .bind(columns.started_at)
    .bind(columns.finished_at)
    .bind(Json(report))
    .execute(pool)
    .await?;
    Ok(())
}

/// The most recent stored report.
pub async fn latest<R: DeserializeOwned + Send + Unpin + 'static>(
    pool: &PgPool,
) -> Result<Option<R>, Error> {
    let row: Option<Json<R>> = sqlx::query_scalar(
        "SELECT report FROM sync_runs ORDER BY finished_at DESC, id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|json| json.0))
}

/// Up to `limit` runs of the last week whose once-only post
/// ([`super::channel_posts::run_key`]) was not made yet, oldest first.
pub async fn not_posted<R: DeserializeOwned + Send + Unpin + 'static>(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<(i64, R)>, Error> {
    let rows: Vec<(i64, Json<R>)> = sqlx::query_as(
        "SELECT r.id, r.report FROM sync_runs r
         WHERE r.finished_at > now() - interval '7 days'
           AND NOT EXISTS (SELECT 1 FROM slack_channel_posts p WHERE p.post_key = 'run:' || r.id)
         ORDER BY r.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, json)| (id, json.0)).collect())
}
