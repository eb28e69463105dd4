//! Prometheus metrics, served by `GET /metrics` in `tagbot serve`.
//!
//! Counters and the acknowledgement histogram are recorded where things
//! happen, through the `metrics` facade; the sync queue's depth and age
//! are read from Postgres, so every process reports the whole queue (the
//! database is the one place that knows it), and so are the review queue's
//! age and the lectures overdue under `TAGBOT_REVIEW_SLA`. `/metrics` is
//! unauthenticated, so a scrape never costs more than a reading every
//! [`QUEUE_READ_EVERY`]: one scrape reads while the others wait for its
//! reading ([`QueueGauges`], a [`Cache`] of one entry), and the counts come
//! from the partial indexes of each status, not the table.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tagbot_sync_queue_items` | gauge | `status`: queued, in_flight, done, failed |
//! | `tagbot_sync_oldest_queued_seconds` | gauge (how long the longest-due queued item has been due) | |
//! | `tagbot_review_oldest_pending_seconds` | gauge (how long the oldest pending suggestion has waited; 0 with none) | |
//! | `tagbot_review_overdue_lectures` | gauge (lectures waiting longer than `TAGBOT_REVIEW_SLA`; 0 with it off) | |
//! | `tagbot_airtable_requests_total` | counter | |
//! | `tagbot_airtable_rate_limited_total` | counter | |
//! | `tagbot_airtable_slots_missed_total` (request slots given up because they could not be used on time) | counter | |
//! | `tagbot_sync_items_total` | counter | `outcome`: synced, retried, failed |
//! | `tagbot_decisions_total` | counter | `action`: approve, reject, retry |
//! | `tagbot_airtable_repairs_total` (tagbot writes found in the change stream to have overwritten people's edits, each then repaired) | counter | |
//! | `tagbot_airtable_drift_total` (synced tags people removed in Airtable) | counter | |
//! | `tagbot_sync_reads_skipped_total` (batches written from the change stream's cells, without reading first) | counter | |
//! | `tagbot_slack_ack_seconds` | histogram | `route`: events, interactions, commands |

use std::sync::OnceLock;
use std::time::Duration;

use crate::cache::{Cache, LookUpStopped};
use crate::storage::{review_queue, sync_queue};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

pub const AIRTABLE_REQUESTS: &str = "tagbot_airtable_requests_total";
pub const AIRTABLE_RATE_LIMITED: &str = "tagbot_airtable_rate_limited_total";
pub const AIRTABLE_SLOTS_MISSED: &str = "tagbot_airtable_slots_missed_total";
pub const SYNC_ITEMS: &str = "tagbot_sync_items_total";
pub const DECISIONS: &str = "tagbot_decisions_total";
pub const AIRTABLE_REPAIRS: &str = "tagbot_airtable_repairs_total";
pub const AIRTABLE_DRIFT: &str = "tagbot_airtable_drift_total";
pub const SYNC_READS_SKIPPED: &str = "tagbot_sync_reads_skipped_total";
pub const SLACK_ACK_SECONDS: &str = "tagbot_slack_ack_seconds";
const QUEUE_ITEMS: &str = "tagbot_sync_queue_items";
const OLDEST_QUEUED: &str = "tagbot_sync_oldest_queued_seconds";
const OLDEST_PENDING: &str = "tagbot_review_oldest_pending_seconds";
const OVERDUE_LECTURES: &str = "tagbot_review_overdue_lectures";

/// Slack's deadline is 3 s; the buckets resolve the milliseconds below it.
const ACK_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle; None
/// when another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(SLACK_ACK_SECONDS.to_owned()), ACK_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics are unavailable");
                    None
                }
            }
        })
        .clone()
}

/// How long one reading of the queue serves every scrape: a scraper (or
/// anyone else) asking more often costs the database nothing more.
pub const QUEUE_READ_EVERY: Duration = Duration::from_secs(5);

/// The queues as last read (the sync queue, and the review queue against
/// its SLA); shared by every scrape of one app. One entry: the gauges, or
/// that the database could not give them (remembered as long as a
/// reading, so a flood of scrapes during an outage does not queue for the
/// pool either; no stale gauges are shown).
#[derive(Debug, Clone)]
pub struct QueueGauges {
    readings: Cache<(), Result<Gauges, QueueUnread>, QueueUnread>,
    /// `TAGBOT_REVIEW_SLA`: None, nothing is overdue.
    review_sla: Option<Duration>,
}

impl QueueGauges {
    pub fn new(review_sla: Option<Duration>) -> QueueGauges {
        QueueGauges {
            readings: Cache::new(QUEUE_READ_EVERY, 1),
            review_sla,
        }
    }
}

#[derive(Debug, Clone)]
struct Gauges {
    by_status: Vec<(String, i64)>,
    oldest_due: Option<f64>,
    /// Seconds the oldest pending suggestion had waited when read.
    oldest_pending: f64,
    overdue_lectures: i64,
}

/// Why `/metrics` could not be answered.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the sync queue could not be read for /metrics")]
pub struct QueueUnread;

/// A reading whose task stopped is one the database did not give.
impl From<LookUpStopped> for QueueUnread {
    fn from(_: LookUpStopped) -> QueueUnread {
        QueueUnread
    }
}

impl QueueGauges {
    /// Sets the queue gauges from a reading at most [`QUEUE_READ_EVERY`]
    /// old, reading the database when there is none: one reading at a
    /// time, the other scrapes wait for it.
    async fn set(&self, pool: &PgPool) -> Result<(), QueueUnread> {
        let (pool, sla) = (pool.clone(), self.review_sla);
        let reading = || async move {
            Ok(read(&pool, sla).await.map_err(|err| {
                if matches!(err, crate::storage::Error::PoolTimedOut) {
                    tracing::warn!(error = %err, "no database connection came free in time to read the queue for /metrics");
                } else {
                    tracing::warn!(error = %err, "could not read the queue for /metrics");
                }
                QueueUnread
            }))
        };
        let gauges = self.readings.get_or_look_up((), reading).await??;
        for status in ["queued", "in_flight", "done", "failed"] {
            let count = gauges
                .by_status
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!(QUEUE_ITEMS, "status" => status).set(count as f64);
        }
        metrics::gauge!(OLDEST_QUEUED).set(gauges.oldest_due.unwrap_or(0.0));
        metrics::gauge!(OLDEST_PENDING).set(gauges.oldest_pending);
        metrics::gauge!(OVERDUE_LECTURES).set(gauges.overdue_lectures as f64);
        Ok(())
    }
}

async fn read(
    pool: &PgPool,
    review_sla: Option<Duration>,
) -> Result<Gauges, crate::storage::Error> {
    let now = chrono::Utc::now();
    let backlog = review_queue::backlog(pool, now, review_sla).await?;
    let oldest_pending = backlog
        .oldest_pending
        .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
    Ok(Gauges {
        by_status: sync_queue::counts_by_status(pool).await?,
        oldest_due: sync_queue::oldest_due_age(pool).await?,
        oldest_pending,
        overdue_lectures: backlog.overdue_lectures,
    })
}

/// The Prometheus text exposition, with the queue gauges as `queue` last
/// read them (at most [`QUEUE_READ_EVERY`] ago).
pub async fn render(pool: &PgPool, queue: &QueueGauges) -> Result<String, QueueUnread> {
    let Some(handle) = install() else {
        return Ok(String::new());
    };
    queue.set(pool).await?;
    Ok(handle.render())
}
