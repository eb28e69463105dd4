//! `airtable_request_budget`: one row per base, holding the next free
//! request slot and any pause after a 429, shared by every process that
//! talks to the base. The pacing rules (slot width, tolerance, widening)
//! are `airtable::budget`'s; these are its statements.
//!
//! The database's clock (`clock_timestamp()`) is the one clock all
//! processes share, so slots are reserved and pauses set in its time.

use sqlx::PgPool;

use super::Error;

/// Makes sure the base has its row.
pub async fn ensure_base(pool: &PgPool, base_id: &str) -> Result<(), Error> {
    sqlx::query("INSERT INTO airtable_request_budget (base_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(base_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Reserves the base's next slot, `width_ms` wide, after any pause; returns
/// how many seconds from now the slot starts (negative: already begun).
pub async fn reserve(pool: &PgPool, base_id: &str, width_ms: f64) -> Result<f64, Error> {
    sqlx::query_scalar(
        "UPDATE airtable_request_budget
         SET next_slot = greatest(next_slot, clock_timestamp(), paused_until)
                         + $2 * interval '1 millisecond',
             requests = requests + 1
         WHERE base_id = $1
         RETURNING extract(epoch FROM next_slot - $2 * interval '1 millisecond'
                                      - clock_timestamp())::float8",
    )
    .bind(base_id)
    .bind(width_ms)
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// Whether the base is paused (a 429 was seen) right now.
pub async fn is_paused(pool: &PgPool, base_id: &str) -> Result<bool, Error> {
    sqlx::query_scalar(
        "SELECT paused_until > clock_timestamp() FROM airtable_request_budget WHERE base_id = $1",
    )
    .bind(base_id)
    .fetch_one(pool)
    .await
    .map_err(Error::from)
}

/// Pauses the base for `pause_ms` from now: no slot starts before then.
pub async fn pause(pool: &PgPool, base_id: &str, pause_ms: f64) -> Result<(), Error> {
    sqlx::query(
        "UPDATE airtable_request_budget
         SET paused_until = greatest(paused_until, clock_timestamp() + $2 * interval '1 millisecond'),
             next_slot = greatest(next_slot, clock_timestamp() + $2 * interval '1 millisecond'),
             pauses = pauses + 1
         WHERE base_id = $1",
    )
    .bind(base_id)
    .bind(pause_ms)
    .execute(pool)
    .await?;
    Ok(())
}
