//! The base's change stream, kept and read: one webhook on the Lectures
//! table's tags field per base, adopted when tagbot made it before (or
//! created), refreshed a day before it would expire, and read by one
//! process at a time from the cursor stored in Postgres.
//!
//! This is the reading half of issue "Nothing a person does in Airtable is
//! lost"; repairing races, recording drift and syncing without reading
//! first build on it.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::airtable::webhooks::tags_specification;
use crate::airtable::{AirtableClient, AirtableError};
use crate::storage::change_streams::{self, Stream};

/// A webhook this close to expiring is refreshed (Airtable: 7 days after
/// creation, the last refresh or the last payload listing).
const REFRESH_WITHIN: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Pages of payloads read in one go, at most (50 payloads each).
const PAGES_PER_READ: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("Airtable: {0}")]
    Airtable(#[from] AirtableError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Makes sure the base has tagbot's webhook on `table_id`'s `field_id`
/// and that it will not expire within a day; returns the stream as
/// stored. A webhook of that specification already in the base is
/// adopted (read from its next payload on, unless it is the one stored);
/// otherwise one is created.
pub async fn ensure(
    client: &AirtableClient,
    pool: &PgPool,
    base_id: &str,
    table_id: &str,
    field_id: &str,
) -> Result<Stream, StreamError> {
    let wanted = tags_specification(table_id, field_id);
    let existing = client.list_webhooks().await?;
    let ours = existing
        .iter()
        .find(|hook| hook.is_hook_enabled && same_watch(&hook.specification, &wanted));
    let mut stream = match ours {
        Some(hook) => {
            let from = i64::try_from(hook.cursor_for_next_payload).unwrap_or(1);
            change_streams::set_webhook(pool, base_id, &hook.id, from, hook.expiration_time).await?
        }
        None => {
            let created = client.create_webhook(&wanted).await?;
            tracing::info!(webhook = %created.id, "created the change-stream webhook on the tags field");
            change_streams::set_webhook(pool, base_id, &created.id, 1, created.expiration_time)
                .await?
        }
    };
    if stream
        .expires_at
        .is_some_and(|at| at - chrono::Utc::now() < REFRESH_WITHIN)
    {
        stream.expires_at = client.refresh_webhook(&stream.webhook_id).await?;
        change_streams::set_expiry(pool, base_id, stream.expires_at).await?;
    }
    Ok(stream)
}

/// Whether a webhook watches what `wanted` watches (the table and the
/// field), whatever else Airtable echoes back in its specification.
fn same_watch(specification: &Value, wanted: &Value) -> bool {
    let filters = |spec: &Value| {
        let f = &spec["options"]["filters"];
        (
            f["recordChangeScope"].clone(),
            f["watchDataInFieldIds"].clone(),
        )
    };
    filters(specification) == filters(wanted)
        && specification["options"]["includes"]["includePreviousCellValues"] == true
}

/// Reads what the stream has past the stored cursor, as `reader`, and
/// moves the cursor on. None when another process holds the stream.
pub async fn read_new(
    client: &AirtableClient,
    pool: &PgPool,
    base_id: &str,
    reader: &str,
    lease: Duration,
) -> Result<Option<Vec<Value>>, StreamError> {
    if !change_streams::lease(pool, base_id, reader, lease).await? {
        return Ok(None);
    }
    let Some(stream) = change_streams::of_base(pool, base_id).await? else {
        return Ok(Some(Vec::new()));
    };
    let mut cursor = u64::try_from(stream.next_cursor).unwrap_or(1);
    let mut payloads = Vec::new();
    for _ in 0..PAGES_PER_READ {
        let page = client.webhook_payloads(&stream.webhook_id, cursor).await?;
        payloads.extend(page.payloads);
        cursor = page.cursor;
        if !page.might_have_more {
            break;
        }
    }
    let next = i64::try_from(cursor).unwrap_or(i64::MAX);
    if !change_streams::advance(pool, base_id, reader, next).await? {
        // The lease ran out meanwhile: whoever holds it reads these again.
        return Ok(None);
    }
    Ok(Some(payloads))
}
