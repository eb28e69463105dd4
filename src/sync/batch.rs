//! One batch: up to 10 leased lectures, read from Airtable and written back
//! in (at most) one request each way.
//!
//! Read-modify-write, never destructive: the lectures' records are read
//! right before the write, the new tags are added to what is there, nothing
//! there is removed, and a record whose tags already include everything is
//! not written at all. A write leaves within [`MAX_READ_AGE`] of its read
//! or not at all: a read that went stale waiting (behind a 429 pause, say)
//! is made again.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::mapping::TagMap;
use super::queue::{Claim, ClaimedItem, ItemOutcome};
use super::Syncer;
use crate::airtable::{formula, AirtableError, ListQuery, Record, RecordUpdate};
use crate::domain::{value_set, Failure, FailureCategory, Values};
use crate::storage::airtable_writes::{self, NewWrite};

/// What processing a batch produced.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub outcomes: Vec<(ClaimedItem, ItemOutcome)>,
    /// Dry-run: the writes that would have been sent.
    pub payloads: Vec<Value>,
    /// Set when the run must stop (see [`AirtableError::stops_run`]):
    /// nothing else can succeed, and the batch's items go back to the queue
    /// untouched.
    pub abort: Option<AirtableError>,
    /// Set when this worker lost its lease before writing.
    pub lease_lost: bool,
    /// Set when no write could leave fresh enough after its read: the
    /// items go back untouched (nothing is Airtable's fault) and the run
    /// stops, to try again later.
    pub stalled: bool,
    /// The records came from the change stream, not a read.
    pub read_skipped: bool,
}

/// A record to write and the items it carries.
struct PlannedWrite<'a> {
    update: RecordUpdate,
    lecture: &'a str,
    /// The cell as tagbot believes it is now, and the cell it writes.
    basis: Vec<String>,
    written: Vec<String>,
    items: Vec<&'a ClaimedItem>,
}

/// What one read of the batch's records leads to.
#[derive(Default)]
struct Plan<'a> {
    /// Items settled without a write: already there, or unmappable.
    settled: Vec<(ClaimedItem, ItemOutcome)>,
    writes: Vec<PlannedWrite<'a>>,
}

/// How stale a read may be when its write leaves. Past it (the base was
/// paused by a 429, or the budget queue was long) the records are read
/// again, so a tag a person added meanwhile is not overwritten.
pub const MAX_READ_AGE: Duration = Duration::from_secs(2);
/// Reads of one batch before its items are retried later instead.
const MAX_READS: usize = 3;

/// Processes one claimed batch. `ready` is called once, when its write is
/// prepared and about to wait for its slot (the worker then prepares the
/// next batch meanwhile); never, when the batch has nothing to write.
pub async fn process(
    syncer: &Syncer,
    claim: &Claim,
    tags: &TagMap,
    ready: impl FnOnce(),
) -> BatchResult {
    let mut ready = Some(ready);
    let mut result = BatchResult::default();
    for _ in 0..MAX_READS {
        if !syncer
            .keep_lease(claim)
            .instrument(tracing::debug_span!("lease"))
            .await
        {
            result.lease_lost = true;
            return result;
        }
        let known = syncer
            .known_records(claim, tags)
            .instrument(tracing::debug_span!("known_cells"))
            .await;
        result.read_skipped = known.is_some();
        // The window runs from the moment the cells were known: found fresh
        // (their own freshness is the stream's rule), or read.
        let (records, read_at) = match known {
            Some(records) => (records, Instant::now()),
            None => match read_records(syncer, claim, tags)
                .instrument(tracing::debug_span!("read"))
                .await
            {
                Ok((records, read_at)) => {
                    syncer.remember_cells(&cells_of(&records, tags)).await;
                    (records, read_at)
                }
                Err(err) => {
                    fail_all(&mut result, claim.items.iter(), &err);
                    return result;
                }
            },
        };
        let plan = plan(claim, tags, &records);
        if plan.writes.is_empty() || syncer.settings.dry_run {
            if syncer.settings.dry_run {
                result.payloads = dry_run_payloads(syncer, tags, &plan.writes);
            }
            result.outcomes.extend(plan.settled);
            return result;
        }
        let target = Target {
            table: &tags.keys.lectures_table,
            not_after: read_at + MAX_READ_AGE,
            from_stream: result.read_skipped,
        };
        if let Some(ready) = ready.take() {
            ready();
        }
        let written = write(syncer, claim, &plan.writes, &target).await;
        match written {
            Written::Stale => {
                tracing::info!(lectures = ?claim.lectures, "read went stale waiting for the request budget; reading again");
            }
            Written::Done(outcomes) => {
                result.outcomes.extend(plan.settled);
                result.outcomes.extend(outcomes);
                return result;
            }
            Written::LeaseLost => {
                result.lease_lost = true;
                return result;
            }
            Written::Aborted(err) => {
                result.abort = Some(err);
                return result;
            }
        }
    }
    // The budget held every write past its read's freshness: the base is
    // paused after a 429, or the database is slow. Nobody's fault the
    // items should pay for.
    tracing::warn!(lectures = ?claim.lectures, "no write could leave within {} s of its read, {MAX_READS} times; the items wait untouched", MAX_READ_AGE.as_secs());
    result.stalled = true;
    result
}

/// The claimed lectures' records, with only the id and tags fields, and
/// when the read left.
async fn read_records(
    syncer: &Syncer,
    claim: &Claim,
    tags: &TagMap,
) -> Result<(Vec<Record>, Instant), AirtableError> {
    let keys = &tags.keys;
    let lectures: Vec<&str> = claim.lectures.iter().map(String::as_str).collect();
    let query = ListQuery {
        fields: vec![keys.lecture_id.clone(), keys.tags.clone()],
        formula: Some(formula::field_in(&keys.lecture_id_name, &lectures)),
        by_field_id: keys.by_field_id,
    };
    syncer
        .client
        .list_records_read_at(&keys.lectures_table, &query)
        .await
}

/// Decides, per lecture, what to write: the union of what is there and the
/// approved tags, or nothing when they are all there already.
fn plan<'a>(claim: &'a Claim, tags: &TagMap, records: &[Record]) -> Plan<'a> {
    let mut plan = Plan::default();
    for (lecture, items) in claim.by_lecture() {
        let matching: Vec<&Record> = records
            .iter()
            .filter(|r| {
                r.fields.get(&tags.keys.lecture_id).and_then(Value::as_str) == Some(lecture)
            })
            .collect();
        let record = match matching.as_slice() {
            [record] => *record,
            [] => {
                settle_all(
                    &mut plan,
                    items,
                    &Failure::new(FailureCategory::LectureMissing, lecture),
                );
                continue;
            }
            many => {
                let failure = Failure::new(
                    FailureCategory::LectureAmbiguous,
                    format!("{lecture} is on {} Lectures records", many.len()),
                );
                settle_all(&mut plan, items, &failure);
                continue;
            }
        };
        let current = cell_values(record.fields.get(&tags.keys.tags));
        let mut union = current.clone();
        let mut carried = Vec::new();
        for item in items {
            match tags.value_for(&item.tag_id) {
                Ok(value) => {
                    if !union.iter().any(|v| v == value) {
                        union.push(value.to_owned());
                    }
                    carried.push(item);
                }
                Err(failure) => plan
                    .settled
                    .push((item.clone(), ItemOutcome::Permanent(failure))),
            }
        }
        if union.len() == current.len() {
            // Everything is already there: synced without a write.
            for item in carried {
                plan.settled.push((item.clone(), synced(&record.id, false)));
            }
            continue;
        }
        let mut fields = Map::new();
        fields.insert(tags.keys.tags.clone(), json!(union));
        plan.writes.push(PlannedWrite {
            update: RecordUpdate {
                id: record.id.clone(),
                fields,
            },
            lecture,
            basis: current,
            written: union,
            items: carried,
        });
    }
    plan
}

/// What a dry run would write, keyed by field name for the people reading
/// it (the real write is keyed by field id).
fn dry_run_payloads(syncer: &Syncer, tags: &TagMap, writes: &[PlannedWrite]) -> Vec<Value> {
    let settings = &syncer.airtable;
    writes
        .iter()
        .map(|write| {
            let fields: Map<String, Value> = write
                .update
                .fields
                .values()
                .map(|cell| (tags.keys.tags_name.clone(), cell.clone()))
                .collect();
            let record = json!({ "id": write.update.id, "fields": fields });
            let payload = json!({ "table": settings.lectures_table, "record": record, "typecast": settings.typecast });
            tracing::info!(payload = %payload, "dry run: would write to Airtable");
            payload
        })
        .collect()
}

/// How a batch's write went.
enum Written {
    Done(Vec<(ClaimedItem, ItemOutcome)>),
    /// Not sent: the read is too old to write from.
    Stale,
    LeaseLost,
    /// Credentials refused, quota used up, or the base no longer matches
    /// the configuration: the run stops, the items go back untouched.
    Aborted(AirtableError),
}

/// Where a batch's writes go, and the last moment they may leave.
struct Target<'a> {
    /// The Lectures table as requests name it.
    table: &'a str,
    not_after: Instant,
    /// The cells written over came from the change stream, not a read.
    from_stream: bool,
}

/// Sends the writes in one request; when Airtable refuses a multi-record
/// write as invalid, each record is tried alone so one bad record does not
/// fail the lectures that share its request.
async fn write(
    syncer: &Syncer,
    claim: &Claim,
    writes: &[PlannedWrite<'_>],
    target: &Target<'_>,
) -> Written {
    let err = match send(syncer, claim, writes, target).await {
        Sent::Ok => return Written::Done(all_synced(writes)),
        Sent::Stale => return Written::Stale,
        Sent::LeaseLost => return Written::LeaseLost,
        Sent::Failed(err) if err.stops_run() => return Written::Aborted(err),
        Sent::Failed(err) => err,
    };
    let mut outcomes = Vec::new();
    if err.is_transient() || writes.len() == 1 {
        outcomes.extend(failed(
            writes.iter().flat_map(|w| w.items.iter().copied()),
            &err,
        ));
        return Written::Done(outcomes);
    }
    for write in writes {
        // The other records' reads are no fresher; the deadline still holds.
        match send(syncer, claim, std::slice::from_ref(write), target).await {
            Sent::Ok => outcomes.extend(all_synced(std::slice::from_ref(write))),
            Sent::Stale => return Written::Stale,
            Sent::LeaseLost => return Written::LeaseLost,
            Sent::Failed(err) if err.stops_run() => return Written::Aborted(err),
            Sent::Failed(err) => outcomes.extend(failed(write.items.iter().copied(), &err)),
        }
    }
    Written::Done(outcomes)
}

enum Sent {
    Ok,
    Stale,
    LeaseLost,
    Failed(AirtableError),
}

/// One PATCH, under a renewed lease and within the read's freshness.
/// With the change stream on, each write is recorded first, with the cell
/// it assumed, for the stream to check.
async fn send(
    syncer: &Syncer,
    claim: &Claim,
    writes: &[PlannedWrite<'_>],
    target: &Target<'_>,
) -> Sent {
    if !syncer
        .keep_lease(claim)
        .instrument(tracing::debug_span!("lease"))
        .await
    {
        return Sent::LeaseLost;
    }
    let sets: Vec<(Values, Values)> = writes
        .iter()
        .map(|w| (value_set(&w.basis), value_set(&w.written)))
        .collect();
    let to_check: Vec<NewWrite> = writes
        .iter()
        .zip(&sets)
        .map(|(w, (basis, written))| NewWrite {
            record_id: &w.update.id,
            lecture: Some(w.lecture),
            basis,
            written,
            seen_through: None,
        })
        .collect();
    let recording = syncer.writes_to_check(&to_check, target.from_stream);
    let Some(recorded) = recording
        .instrument(tracing::debug_span!("record_writes"))
        .await
    else {
        return Sent::Stale;
    };
    let updates: Vec<RecordUpdate> = writes.iter().map(|w| w.update.clone()).collect();
    let settings = &syncer.airtable;
    let sent = syncer
        .client
        .update_records(
            target.table,
            &updates,
            settings.typecast,
            Some(target.not_after),
        )
        .instrument(tracing::debug_span!("write"))
        .await;
    match sent {
        Ok(Some(_)) => {
            let seen: Vec<(String, Option<String>, Vec<String>)> = writes
                .iter()
                .map(|w| {
                    (
                        w.update.id.clone(),
                        Some(w.lecture.to_owned()),
                        w.written.clone(),
                    )
                })
                .collect();
            syncer.remember_cells(&seen).await;
            Sent::Ok
        }
        Ok(None) => {
            if let Err(err) = airtable_writes::not_sent(&syncer.pool, &recorded).await {
                tracing::warn!(error = %err, "could not mark unsent writes");
            }
            Sent::Stale
        }
        Err(err) => Sent::Failed(err),
    }
}

/// Records' tags cells as (record, lecture, values), to remember.
pub(super) fn cells_of(
    records: &[Record],
    tags: &TagMap,
) -> Vec<(String, Option<String>, Vec<String>)> {
    records
        .iter()
        .map(|record| {
            let lecture = record
                .fields
                .get(&tags.keys.lecture_id)
                .and_then(Value::as_str)
                .map(str::to_owned);
            let cell = cell_values(record.fields.get(&tags.keys.tags));
            (record.id.clone(), lecture, cell)
        })
        .collect()
}

fn all_synced(writes: &[PlannedWrite]) -> Vec<(ClaimedItem, ItemOutcome)> {
    writes
        .iter()
        .flat_map(|write| {
            write
                .items
                .iter()
                .map(|item| ((*item).clone(), synced(&write.update.id, true)))
        })
        .collect()
}

fn synced(record_id: &str, written: bool) -> ItemOutcome {
    ItemOutcome::Synced {
        record_id: record_id.to_owned(),
        written,
    }
}

fn settle_all(plan: &mut Plan, items: Vec<&ClaimedItem>, failure: &Failure) {
    for item in items {
        plan.settled
            .push((item.clone(), ItemOutcome::Permanent(failure.clone())));
    }
}

/// Every item gets the request's error, as a retry or a failure.
fn failed<'a>(
    items: impl Iterator<Item = &'a ClaimedItem>,
    err: &AirtableError,
) -> Vec<(ClaimedItem, ItemOutcome)> {
    let failure = err.failure();
    items
        .map(|item| {
            let outcome = if err.is_transient() {
                ItemOutcome::Transient(failure.clone())
            } else {
                ItemOutcome::Permanent(failure.clone())
            };
            (item.clone(), outcome)
        })
        .collect()
}

/// A whole batch failed before anything was written. Errors that stop the
/// run (credentials, quota, a renamed table or field) instead leave the
/// items queued with their tries: no tag is at fault, and they should flow
/// as soon as an operator fixes the cause.
fn fail_all<'a>(
    result: &mut BatchResult,
    items: impl Iterator<Item = &'a ClaimedItem>,
    err: &AirtableError,
) {
    if err.stops_run() {
        result.abort = Some(err.clone());
    } else {
        result.outcomes.extend(failed(items, err));
    }
}

/// A tags cell as a list of strings (record ids or option names).
pub(super) fn cell_values(cell: Option<&Value>) -> Vec<String> {
    match cell {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                // Some API variants return linked cells as objects with an id.
                Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
