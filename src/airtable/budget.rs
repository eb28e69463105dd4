//! The request budget per Airtable base, shared through Postgres by every
//! worker process.
//!
//! Each request reserves the next free send slot in the base's row; slots
//! are spaced a little wider than 1/limit apart, so however many processes
//! send, the base never sees more than its limit in any second. A 429 moves
//! the base's pause and every future slot past now + the pause, so all
//! processes stop together.

use std::time::Duration;

use crate::storage::{self, budget};
use sqlx::PgPool;
use tokio::time::Instant;

/// Slots are this much wider than 1/limit: room for scheduling and network
/// jitter between reserving a slot and the request reaching Airtable.
const SPACING_MARGIN: f64 = 1.04;
/// How late a request may leave after its slot. Five slots span 1.05 s at
/// 5 per second: a request later than the 50 ms of margin would share a
/// second with five others, so the tolerance stays well inside it.
pub const SLOT_TOLERANCE: Duration = Duration::from_millis(25);
/// After this many slots given up in a row, a warning says the database is
/// too slow for the budget; reservations keep widening until one fits.
const WARN_AFTER_MISSES: u32 = 4;
/// The most a reservation is widened: 50 spacings, ten seconds at 5 per
/// second; a database slower than that is as good as away.
const MAX_WIDENING: u32 = 50;

/// A reserved send slot.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When it starts, as this process can tell: never before the start.
    starts: Instant,
    /// How much later than the true start `starts` may be.
    uncertainty: Duration,
    /// How late within it a request may still leave.
    tolerance: Duration,
}

impl Slot {
    /// How late a request leaving now could be, at worst.
    fn worst_lateness(&self) -> Duration {
        Instant::now().saturating_duration_since(self.starts) + self.uncertainty
    }
}

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

    /// Waits until this process may send one request to the base, and
    /// returns while the slot it reserved is still its own.
    ///
    /// A slot used late would land among other processes' punctual slots
    /// and put six requests inside one second: a 429 and the whole base
    /// paused for 30 s. So a slot this process cannot use on time (the
    /// database answered slowly, say after a restart) is given up and
    /// another reserved; a given-up slot only leaves a gap. Each slot given
    /// up in a row widens the next reservation by one spacing, which widens
    /// the lateness it tolerates to match, until one fits: a database that
    /// stays slow costs throughput, never a 429, and never stops the
    /// requests.
    ///
    /// While the database itself is away this waits for it (see
    /// `RequestBudget::wait_for_database`): an outage of tagbot's own
    /// database is not Airtable's failure and costs an item no try.
    pub async fn acquire(&self) -> Result<(), storage::Error> {
        self.wait_for_database(|| budget::ensure_base(&self.pool, &self.base_id))
            .await?;
        let mut missed: u32 = 0;
        loop {
            let widening = missed.min(MAX_WIDENING);
            let slot = self.wait_for_database(|| self.reserve(widening)).await?;
            tokio::time::sleep_until(slot.starts).await;
            // A 429 seen by another process while we slept invalidates the slot.
            let paused = self.wait_for_database(|| self.paused()).await?;
            if slot.worst_lateness() > slot.tolerance {
                missed += 1;
                metrics::counter!(crate::metrics::AIRTABLE_SLOTS_MISSED).increment(1);
                if missed == WARN_AFTER_MISSES {
                    tracing::warn!(
                        late_ms = slot.worst_lateness().as_millis(),
                        "the database answers too slowly to use Airtable request slots on time; reserving wider slots"
                    );
                }
                continue;
            }
            if !paused {
                return Ok(());
            }
        }
    }

    /// Reserves the base's next slot, `widening` spacings wider than one
    /// request needs.
    async fn reserve(&self, widening: u32) -> Result<Slot, storage::Error> {
        let width_ms = self.spacing_ms * f64::from(1 + widening);
        let asked = Instant::now();
        let wait = budget::reserve(&self.pool, &self.base_id, width_ms).await?;
        let answered = Instant::now();
        // The database measured the wait at some moment between asking and
        // the answer: counted from the answer the slot is never early, and
        // at most the round trip late.
        Ok(Slot {
            starts: answered + Duration::from_secs_f64(wait.max(0.0)),
            uncertainty: answered.duration_since(asked),
            tolerance: SLOT_TOLERANCE
                + Duration::from_secs_f64(self.spacing_ms * f64::from(widening) / 1000.0),
        })
    }

    async fn paused(&self) -> Result<bool, storage::Error> {
        budget::is_paused(&self.pool, &self.base_id).await
    }

    /// Runs `query` until the database answers (see
    /// [`crate::storage::wait_out_outage`]).
    async fn wait_for_database<T, F, Fut>(&self, query: F) -> Result<T, storage::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, storage::Error>>,
    {
        storage::wait_out_outage("Airtable requests", query).await
    }

    /// Pauses the whole base after a 429.
    pub async fn pause(&self) -> Result<(), storage::Error> {
        budget::pause(&self.pool, &self.base_id, self.pause.as_secs_f64() * 1000.0).await?;
        Ok(())
    }
}
