//! The request budget per Airtable base, shared through Postgres by every
//! worker process.
//!
//! Each request reserves the next free send slot in the base's row; slots
//! are spaced a little wider than 1/limit apart, so however many processes
//! send, the base never sees more than its limit in any second. A 429 moves
//! the base's pause and every future slot past now + the pause, so all
//! processes stop together.

use std::time::Duration;

use sqlx::PgPool;

/// Slots are this much wider than 1/limit: room for scheduling and network
/// jitter between reserving a slot and the request reaching Airtable.
const SPACING_MARGIN: f64 = 1.04;

#[derive(Debug, Clone)]
pub struct RequestBudget {
    pool: PgPool,
    base_id: String,
    spacing_ms: f64,
    pause: Duration,
}

impl RequestBudget {
    pub fn new(
        pool: PgPool,
        base_id: &str,
        requests_per_second: u32,
        pause: Duration,
    ) -> RequestBudget {
        RequestBudget {
            pool,
            base_id: base_id.to_owned(),
            spacing_ms: 1000.0 / f64::from(requests_per_second.max(1)) * SPACING_MARGIN,
            pause,
        }
    }

    /// Waits until this process may send one request to the base.
    pub async fn acquire(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO airtable_request_budget (base_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(&self.base_id)
        .execute(&self.pool)
        .await?;
        loop {
            let wait: f64 = sqlx::query_scalar(
                "UPDATE airtable_request_budget
                 SET next_slot = greatest(next_slot, clock_timestamp(), paused_until)
                                 + $2 * interval '1 millisecond',
                     requests = requests + 1
                 WHERE base_id = $1
                 RETURNING extract(epoch FROM next_slot - $2 * interval '1 millisecond'
                                              - clock_timestamp())::float8",
            )
            .bind(&self.base_id)
            .bind(self.spacing_ms)
            .fetch_one(&self.pool)
            .await?;
            if wait > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            }
            // A 429 seen by another process while we slept invalidates the slot.
            let paused: bool = sqlx::query_scalar(
                "SELECT paused_until > clock_timestamp() FROM airtable_request_budget WHERE base_id = $1",
            )
            .bind(&self.base_id)
            .fetch_one(&self.pool)
            .await?;
            if !paused {
                return Ok(());
            }
        }
    }

    /// Pauses the whole base after a 429.
    pub async fn pause(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE airtable_request_budget
             SET paused_until = greatest(paused_until, clock_timestamp() + $2 * interval '1 millisecond'),
                 next_slot = greatest(next_slot, clock_timestamp() + $2 * interval '1 millisecond'),
                 pauses = pauses + 1
             WHERE base_id = $1",
        )
        .bind(&self.base_id)
        .bind(self.pause.as_secs_f64() * 1000.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
