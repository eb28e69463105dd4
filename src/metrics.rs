//! Prometheus metrics, served by `GET /metrics` in `tagbot serve`.
//!
//! Counters and the acknowledgement histogram are recorded where things
//! happen, through the `metrics` facade; the queue's depth and age are read
//! from Postgres when scraped, so every process reports the whole queue
//! (the database is the one place that knows it).
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `tagbot_sync_queue_items` | gauge | `status`: queued, in_flight, done, failed |
//! | `tagbot_sync_oldest_queued_seconds` | gauge (how long the longest-due queued item has been due) | |
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

use crate::storage::sync_queue;
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

/// The Prometheus text exposition, with the queue gauges read now.
pub async fn render(pool: &PgPool) -> Result<String, sqlx::Error> {
    let Some(handle) = install() else {
        return Ok(String::new());
    };
    let by_status = sync_queue::counts_by_status(pool).await?;
    for status in ["queued", "in_flight", "done", "failed"] {
        let count = by_status
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(QUEUE_ITEMS, "status" => status).set(count as f64);
    }
    let oldest = sync_queue::oldest_due_age(pool).await?;
    metrics::gauge!(OLDEST_QUEUED).set(oldest.unwrap_or(0.0));
    Ok(handle.render())
}
