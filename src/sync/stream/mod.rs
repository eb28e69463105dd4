//! The base's change stream, kept and read: one webhook on the Lectures
//! table's tags field per base, adopted when tagbot made it before (or
//! created), refreshed a day before it would expire, and read by one
//! process at a time from the cursor stored in Postgres.
//!
//! Each read is checked (see [`check`]): every tagbot write found in it is
//! compared with the cell just before it, and people's edits it
//! overwrote are repaired by a write checked the same way; synced tags
//! people removed are recorded as drift; and the cells are remembered, so
//! the worker can write without reading first while the stream is fresh.
//!
//! A stream that breaks (a payload reporting an error, its webhook gone,
//! Airtable refusing its cursor) or starts over on another webhook is set
//! up again, and what it had not settled is salvaged from a fresh read of
//! the records first (see [`salvage`]); only then is it forgotten.

pub mod check;
mod error;
pub mod payload;
mod repair;
pub mod salvage;
mod watch;

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use sqlx::PgPool;

pub use self::error::StreamError;
pub use self::watch::Watch;
use crate::airtable::webhooks::Webhook;
use crate::airtable::{AirtableClient, AirtableError};
use crate::storage::airtable_writes;
use crate::storage::change_streams::{self, Stream};
use crate::storage::{self, drift, record_cells, repairs};
use check::{Checked, SentWrite};
use payload::{BrokenHook, Watched};
use repair::{records_of, settle, RepairWriter};
use salvage::Salvager;

use super::mapping::TagMap;

/// A webhook this close to expiring is refreshed (Airtable: 7 days after
/// creation, the last refresh or the last payload listing).
const REFRESH_WITHIN: chrono::TimeDelta = chrono::TimeDelta::days(1);
/// Pages of payloads read in one go, at most (50 payloads each).
pub const PAGES_PER_READ: usize = 20;
/// How long one process may hold the stream; it gives it back after each
/// read, so this only matters when it dies mid-read.
const READ_LEASE: Duration = Duration::from_secs(30);
/// A write the stream has not shown this long after it was recorded, by a
/// read that emptied the stream, was not applied or changed nothing. Long
/// enough for a repair waiting behind 429 pauses to land.
const UNSEEN_AFTER: Duration = Duration::from_secs(600);

/// Makes sure the base has tagbot's webhook for `watch` and that it will
/// not expire within a day; returns the stream as stored. One process at
/// a time. The stored webhook is kept while it is active; otherwise a
/// webhook of that specification already in the base is adopted (read
/// from its next payload on), or one is created. Others of the same
/// specification (left by a crash between creating and storing) are
/// deleted: one stream per base. A stream that starts over has what it
/// had not settled salvaged, then forgets the cells the old one taught.
pub async fn ensure(
    client: &AirtableClient,
    pool: &PgPool,
    base_id: &str,
    watch: &Watch,
) -> Result<Stream, StreamError> {
    set_up(client, pool, base_id, watch, false).await
}

/// [`ensure`]; with `broken`, the stored stream cannot be read on (its
/// cursor refused, its webhook gone or reporting an error) and starts over
/// even when its webhook is still listed (adopted again from its next
/// payload). Starting over salvages first, once the next webhook exists
/// (so the salvage's own writes are in the new stream), and forgets the
/// old stream only when the salvage is done: a salvage Airtable cannot
/// serve yet leaves everything for the next try.
async fn set_up(
    client: &AirtableClient,
    pool: &PgPool,
    base_id: &str,
    watch: &Watch,
    broken: bool,
) -> Result<Stream, StreamError> {
    let lock = change_streams::setting_up(pool).await?;
    let wanted = watch.specification();
    let stored = change_streams::of_base(pool, base_id).await?;
    let watching = watch.key();
    if let Some(trusted) = stored
        .as_ref()
        .filter(|s| !broken && s.watching == watching && recently_checked(s))
    {
        // Another process checked it with Airtable within the hour.
        return Ok(trusted.clone());
    }
    let existing = client.list_webhooks().await?;
    let ours: Vec<&Webhook> = existing
        .iter()
        .filter(|hook| hook.is_hook_enabled && same_watch(&hook.specification, &wanted))
        .collect();
    let kept = stored
        .as_ref()
        .filter(|_| !broken)
        .and_then(|s| ours.iter().find(|hook| hook.id == s.webhook_id))
        .or_else(|| ours.first())
        .copied();
    let (webhook_id, from, expires_at) = match kept {
        Some(hook) => (
            hook.id.clone(),
            i64::try_from(hook.cursor_for_next_payload).unwrap_or(1),
            hook.expiration_time,
        ),
        None => {
            let created = client.create_webhook(&wanted).await?;
            tracing::info!(webhook = %created.id, "created the change-stream webhook on the tags field");
            (created.id, 1, created.expiration_time)
        }
    };
    for extra in ours.iter().filter(|hook| hook.id != webhook_id) {
        tracing::info!(webhook = %extra.id, "deleting a second change-stream webhook");
        client.delete_webhook(&extra.id).await?;
    }
    if stored.is_some_and(|s| broken || s.webhook_id != webhook_id) {
        tracing::warn!(webhook = %webhook_id, "the change stream starts over; what it had not checked is salvaged from a fresh read, then it is forgotten");
        start_over(&Salvager::new(client, pool, base_id, watch)).await?;
    }
    let mut stream =
        change_streams::set_webhook(pool, base_id, &webhook_id, from, expires_at, &watching)
            .await?;
    if stream
        .expires_at
        .is_some_and(|at| at - Utc::now() < REFRESH_WITHIN)
    {
        stream.expires_at = client.refresh_webhook(&stream.webhook_id).await?;
        change_streams::set_expiry(pool, base_id, stream.expires_at).await?;
    }
    lock.release().await?;
    Ok(stream)
}

/// Salvages what the old stream had not settled, then forgets it.
async fn start_over(salvager: &Salvager<'_>) -> Result<(), StreamError> {
    let salvaged = salvage::salvage(salvager).await?;
    if salvaged != salvage::Salvaged::default() {
        tracing::info!(
            repairs = salvaged.repairs_settled,
            writes_repaired = salvaged.writes_repaired,
            writes_unverified = salvaged.writes_unverified,
            "salvaged what the change stream had not checked"
        );
    }
    let forgotten =
        change_streams::forget(salvager.pool, salvager.base_id, salvaged.through).await?;
    if forgotten != change_streams::Forgotten::default() {
        // Recorded by another process while the salvage ran.
        tracing::warn!(
            repairs = forgotten.repairs,
            records = ?forgotten.writes,
            "the change stream started over with repairs and writes the salvage did not see; the writes are recorded as unverified"
        );
    }
    Ok(())
}

/// Whether a stored stream was checked with Airtable within the hour and
/// will not need refreshing for a day.
fn recently_checked(stream: &Stream) -> bool {
    let now = Utc::now();
    stream
        .checked_at
        .is_some_and(|at| now - at < chrono::TimeDelta::hours(1))
        && stream.expires_at.is_none_or(|at| at - now > REFRESH_WITHIN)
}

/// Whether a webhook watches what `wanted` watches (the table, the field,
/// previous values and the lecture id), whatever else Airtable echoes
/// back in its specification.
fn same_watch(specification: &Value, wanted: &Value) -> bool {
    let watched = |spec: &Value| {
        let filters = &spec["options"]["filters"];
        let includes = &spec["options"]["includes"];
        (
            filters["recordChangeScope"].clone(),
            filters["watchDataInFieldIds"].clone(),
            includes["includePreviousCellValues"].clone(),
            includes["includeCellValuesInFieldIds"].clone(),
        )
    };
    watched(specification) == watched(wanted)
}

/// Who reads the stream, and with what.
pub struct Reader<'a> {
    pub client: &'a AirtableClient,
    pub pool: &'a PgPool,
    pub base_id: &'a str,
    /// The reading process, for the lease.
    pub reader: &'a str,
    pub tags: &'a TagMap,
    pub watch: &'a Watch,
    pub typecast: bool,
    /// Pages of payloads this read takes at most (up to [`PAGES_PER_READ`]).
    pub pages: usize,
}

/// What one catch-up did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub payloads: usize,
    /// tagbot writes found in the stream.
    pub writes_checked: usize,
    /// Writes found to have overwritten people's edits.
    pub repairs_found: usize,
    /// Repairing writes sent (or found needless).
    pub repaired: usize,
    /// Synced tags found removed by people.
    pub drift: u64,
    /// The read emptied the stream.
    pub caught_up: bool,
}

/// Reads what the stream has past the stored cursor, checks it, and
/// writes the repairs it calls for. None when another process holds the
/// stream.
pub async fn catch_up(reader: &Reader<'_>) -> Result<Option<CatchUp>, StreamError> {
    let (pool, base_id) = (reader.pool, reader.base_id);
    if !change_streams::lease(pool, base_id, reader.reader, READ_LEASE).await? {
        return Ok(None);
    }
    let read = read_and_check(reader).await;
    let outcome = match read {
        Ok(Some(mut done)) => match repair_waiting(reader).await {
            Ok(repaired) => {
                done.repaired = repaired;
                Ok(Some(done))
            }
            Err(err) => Err(err),
        },
        other => other,
    };
    change_streams::release(pool, base_id, reader.reader).await?;
    if let Err(StreamError::Broken(broken)) = &outcome {
        tracing::warn!(error = %broken, "the change stream broke; it is set up again, what it had not checked salvaged first");
        set_up(reader.client, pool, base_id, reader.watch, true).await?;
    }
    outcome
}

/// One read from the cursor and what it says, stored with the cursor's
/// move in one transaction. None when the lease ran out meanwhile.
async fn read_and_check(reader: &Reader<'_>) -> Result<Option<CatchUp>, StreamError> {
    let Some(stream) = change_streams::of_base(reader.pool, reader.base_id).await? else {
        return Ok(Some(CatchUp::default()));
    };
    let Some(read) = read_pages(reader, &stream).await? else {
        return Ok(None);
    };
    let watched = Watched {
        table_id: &reader.watch.table_id,
        tags_field_id: &reader.watch.tags_field_id,
        lecture_field_id: &reader.watch.lecture_field_id,
        field: &reader.tags.field,
    };
    let checked = check_read(reader, &read.payloads, &watched).await?;
    let done = CatchUp {
        payloads: read.payloads.len(),
        writes_checked: checked.clean.len() + checked.repairs.len(),
        repairs_found: checked.repairs.len(),
        caught_up: !read.more,
        ..CatchUp::default()
    };
    let Some(done) = store_checked(reader, &stream, &read, &watched, &checked, done).await? else {
        return Ok(None);
    };
    metrics::counter!(crate::metrics::AIRTABLE_REPAIRS).increment(done.repairs_found as u64);
    metrics::counter!(crate::metrics::AIRTABLE_DRIFT).increment(done.drift);
    for repair in &checked.repairs {
        tracing::info!(record = %repair.record_id, restored = ?repair.restore, removed = ?repair.remove, "a write overwrote people's edits; repairing");
    }
    Ok(Some(done))
}

/// The payloads past the stored cursor, at most the reader's pages.
struct Read {
    payloads: Vec<Value>,
    /// Where the next read starts.
    cursor: u64,
    /// Airtable may have more past `cursor`.
    more: bool,
}

/// Reads pages from the stream's cursor, renewing the lease before each.
/// None when the lease ran out meanwhile.
async fn read_pages(reader: &Reader<'_>, stream: &Stream) -> Result<Option<Read>, StreamError> {
    let (pool, base_id) = (reader.pool, reader.base_id);
    let mut read = Read {
        payloads: Vec::new(),
        cursor: u64::try_from(stream.next_cursor).unwrap_or(1),
        more: true,
    };
    for _ in 0..reader.pages.clamp(1, PAGES_PER_READ) {
        // A long read (pages waiting for the request budget) keeps its lease.
        if !change_streams::lease(pool, base_id, reader.reader, READ_LEASE).await? {
            return Ok(None);
        }
        let page = reader
            .client
            .webhook_payloads(&stream.webhook_id, read.cursor)
            .await
            .map_err(|err| broken_by(err, read.cursor))?;
        read.payloads.extend(page.payloads);
        read.cursor = page.cursor;
        read.more = page.might_have_more;
        if !read.more {
            break;
        }
    }
    Ok(Some(read))
}

/// A payload listing's refusal, as the stream broken when it is: the
/// webhook gone (404: deleted, or expired and removed), or the cursor
/// refused (any other 4xx but 401/403, the token's scopes, and 429, the
/// rate limit or the monthly quota). Airtable documents neither answer
/// (developers/web/api/list-webhook-payloads says a saved cursor is good
/// "no matter how old"); read from it again forever, the stream would
/// never move, so it is set up again.
fn broken_by(err: AirtableError, cursor: u64) -> StreamError {
    match err.status {
        Some(404) => BrokenHook {
            code: format!("its webhook is gone ({err})"),
        }
        .into(),
        Some(status @ 400..=499) if !matches!(status, 401 | 403 | 429) => BrokenHook {
            code: format!("cursor {cursor} refused ({err})"),
        }
        .into(),
        _ => err.into(),
    }
}

/// What the payloads say, checked against the cells known before them and
/// the writes tagbot sent to their records.
async fn check_read(
    reader: &Reader<'_>,
    payloads: &[Value],
    watched: &Watched<'_>,
) -> Result<Checked, StreamError> {
    let (pool, base_id) = (reader.pool, reader.base_id);
    let changes = payload::tags_changes(payloads, watched)?;
    let mut records: Vec<String> = changes.iter().map(|c| c.record_id.clone()).collect();
    records.sort();
    records.dedup();
    let known = record_cells::of_records(pool, base_id, &records).await?;
    let writes: Vec<SentWrite> = airtable_writes::unchecked(pool, base_id, &records)
        .await?
        .into_iter()
        .map(|w| SentWrite {
            id: w.id,
            record_id: w.record_id,
            basis: w.basis.0,
            written: w.written.0,
            seen_through: w.seen_through,
        })
        .collect();
    Ok(check::check(known, &writes, &changes))
}

/// Stores what the read found (cells, relabelled records, checked writes,
/// repairs, drift) and moves the cursor, in one transaction; `done` with
/// the drift counted. None, and nothing stored, when the lease ran out.
async fn store_checked(
    reader: &Reader<'_>,
    stream: &Stream,
    read: &Read,
    watched: &Watched<'_>,
    checked: &Checked,
    mut done: CatchUp,
) -> Result<Option<CatchUp>, StreamError> {
    let base_id = reader.base_id;
    let mut tx = storage::begin(reader.pool).await?;
    record_cells::store(&mut tx, base_id, &checked.cells).await?;
    let moves: Vec<(String, Option<String>)> = payload::relabels(&read.payloads, watched)
        .into_iter()
        .map(|r| (r.record_id, r.lecture))
        .collect();
    record_cells::relabel(&mut tx, base_id, &moves).await?;
    airtable_writes::checked(&mut tx, &checked.clean, false).await?;
    let repaired: Vec<i64> = checked.repairs.iter().map(|r| r.write_id).collect();
    airtable_writes::checked(&mut tx, &repaired, true).await?;
    let seen_through = checked.seen_through.max(stream.seen_through);
    repairs::found(&mut tx, base_id, &new_repairs(checked, seen_through)).await?;
    done.drift = drift::record(
        &mut tx,
        base_id,
        &of_tags(&checked.removals, checked, reader.tags),
    )
    .await?;
    drift::readded(&mut tx, &of_tags(&checked.additions, checked, reader.tags)).await?;
    if done.caught_up {
        airtable_writes::give_up_unseen(&mut tx, base_id, UNSEEN_AFTER).await?;
    }
    let next = i64::try_from(read.cursor).unwrap_or(i64::MAX);
    let moved = change_streams::advance(
        &mut tx,
        base_id,
        reader.reader,
        next,
        seen_through,
        done.caught_up,
    )
    .await?;
    if !moved {
        // The lease ran out meanwhile: whoever holds it reads these again.
        return Ok(None);
    }
    storage::commit(tx).await?;
    Ok(Some(done))
}

fn new_repairs(checked: &Checked, seen_through: i64) -> Vec<repairs::NewRepair<'_>> {
    checked
        .repairs
        .iter()
        .map(|repair| repairs::NewRepair {
            write_id: repair.write_id,
            record_id: &repair.record_id,
            lecture: checked
                .cells
                .get(&repair.record_id)
                .and_then(|c| c.lecture.as_deref()),
            restore: &repair.restore,
            remove: &repair.remove,
            edits: &repair.edits,
            seen_through,
        })
        .collect()
}

/// Others' edits of a tag (by its value) on a known lecture.
fn of_tags<'a>(
    edits: &'a [check::OthersEdit],
    checked: &'a Checked,
    tags: &'a TagMap,
) -> Vec<drift::Removed<'a>> {
    let mut removed = Vec::new();
    for removal in edits {
        let Some(lecture) = checked
            .cells
            .get(&removal.record_id)
            .and_then(|c| c.lecture.as_deref())
        else {
            continue;
        };
        for tag_id in tags.tags_with_value(&removal.value) {
            removed.push(drift::Removed {
                record_id: &removal.record_id,
                lecture,
                tag_id,
                by: &removal.by,
                at: removal.at,
                transaction: removal.transaction,
            });
        }
    }
    removed
}

/// Writes the base's waiting repairs: per record, the cell as the stream
/// last showed it, with what its repairs restore and without what they
/// remove; up to 10 records a request. Each write is recorded and checked
/// like any other, so repairs that race converge. Returns how many
/// repairs were settled.
async fn repair_waiting(reader: &Reader<'_>) -> Result<usize, StreamError> {
    let (pool, base_id) = (reader.pool, reader.base_id);
    let waiting = repairs::waiting(pool, base_id).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let seen_through = change_streams::of_base(pool, base_id)
        .await?
        .map_or(0, |s| s.seen_through);
    let records = records_of(&waiting);
    let known = record_cells::of_records(pool, base_id, &records).await?;
    let writer = RepairWriter {
        client: reader.client,
        pool,
        base_id,
        table: &reader.tags.keys.lectures_table,
        tags_key: &reader.tags.keys.tags,
        typecast: reader.typecast,
        seen_through: Some(seen_through),
    };
    // Without the cell a repair would write only what it restores.
    settle(&writer, &waiting, &known, "the stream started over").await
}
