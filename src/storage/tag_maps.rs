//! `airtable_tag_maps`: the sync worker's tag mapping as one process built
//! it, for the other processes of the base to use while it is fresh.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use super::Error;

/// The advisory lock one process at a time holds to build the mapping:
/// workers starting together would each read the schema and Tags table.
const BUILD_LOCK: i64 = 0x7461_6762_6f74_2d6d;

/// Waits for the build lock, held until the turn is released or dropped.
pub async fn building(pool: &PgPool) -> Result<super::Turn, Error> {
    super::Turn::take(pool, BUILD_LOCK).await
}

/// The base's shared mapping if it was built under `configuration` less
/// than `max_age` ago: the map and its age.
pub async fn fresh(
    pool: &PgPool,
    base_id: &str,
    configuration: &str,
    max_age: Duration,
) -> Result<Option<(Value, Duration)>, Error> {
    let row: Option<(Value, f64)> = sqlx::query_as(
        "SELECT map, extract(epoch FROM now() - built_at)::float8 FROM airtable_tag_maps
         WHERE base_id = $1 AND configuration = $2
           AND built_at > now() - $3 * interval '1 second'",
    )
    .bind(base_id)
    .bind(configuration)
    .bind(max_age.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(map, age)| (map, Duration::from_secs_f64(age.max(0.0)))))
}

/// Shares a mapping just built.
pub async fn store(
    pool: &PgPool,
    base_id: &str,
    configuration: &str,
    map: &Value,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO airtable_tag_maps (base_id, configuration, map) VALUES ($1, $2, $3)
         ON CONFLICT (base_id) DO UPDATE
             SET configuration = EXCLUDED.configuration, map = EXCLUDED.map, built_at = now()",
    )
    .bind(base_id)
    .bind(configuration)
    .bind(map)
    .execute(pool)
    .await?;
    Ok(())
}

/// Drops the shared mapping: the base changed under it.
pub async fn forget(pool: &PgPool, base_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM airtable_tag_maps WHERE base_id = $1")
        .bind(base_id)
        .execute(pool)
        .await?;
    Ok(())
}
