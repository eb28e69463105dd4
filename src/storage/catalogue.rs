//! `enriched_lectures` and `tags`: the agency's catalogue, which tagbot
//! reads and never writes at run time (the run-time role may not). Only
//! the demo seeds one, as the owner, into its own scratch database.

use std::collections::BTreeSet;

use sqlx::PgPool;

use super::Error;

/// Which of `ids` are lectures in the catalogue.
pub async fn known_lectures(pool: &PgPool, ids: &[&str]) -> Result<BTreeSet<String>, Error> {
    let known: Vec<String> = sqlx::query_scalar(
        "SELECT lecture_external_id FROM enriched_lectures WHERE lecture_external_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(known.into_iter().collect())
}

/// Which of `ids` are tags in the catalogue.
pub async fn known_tags(pool: &PgPool, ids: &[&str]) -> Result<BTreeSet<String>, Error> {
    let known: Vec<String> = sqlx::query_scalar("SELECT tag_id FROM tags WHERE tag_id = ANY($1)")
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(known.into_iter().collect())
}

/// Every tag as (id, name), by id.
pub async fn tags(pool: &PgPool) -> Result<Vec<(String, String)>, Error> {
    sqlx::query_as("SELECT tag_id, name FROM tags ORDER BY tag_id")
        .fetch_all(pool)
        .await
        .map_err(Error::from)
}

/// Seeds a catalogue: `lectures` as (id, title), `tags` as (id, name).
/// Needs the owner's pool; the demo's scratch database only.
#[cfg(feature = "demo")]
pub async fn seed(
    owner: &PgPool,
    lectures: &[(&str, &str)],
    tags: &[(&str, &str)],
) -> Result<(), Error> {
    let mut tx = super::begin(owner).await?;
    for (id, title) in lectures {
        sqlx::query("INSERT INTO enriched_lectures (lecture_external_id, title) VALUES ($1, $2)")
            .bind(id)
            .bind(title)
            .execute(&mut *tx)
            .await?;
    }
    for (id, name) in tags {
        sqlx::query("INSERT INTO tags (tag_id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await.map_err(Error::from)
}
