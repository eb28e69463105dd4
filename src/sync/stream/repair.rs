//! Repairing writes: waiting repairs applied to the cells they are set
//! against (the stream's view, or a fresh read when the stream broke) and
//! written up to 10 records a request, each recorded first and checked by
//! the stream like any write, so repairs that race converge.

use std::collections::BTreeMap;

use serde_json::{json, Map};
use sqlx::PgPool;

use super::error::StreamError;
use crate::airtable::{AirtableClient, AirtableError, RecordUpdate};
use crate::domain::{value_set, Cell, EditKind, Values};
use crate::storage::airtable_writes::{self, NewWrite, Purpose};
use crate::storage::{record_cells, repairs};

pub(super) fn records_of(waiting: &[repairs::Waiting]) -> Vec<String> {
    let mut records: Vec<String> = waiting.iter().map(|r| r.record_id.clone()).collect();
    records.sort();
    records.dedup();
    records
}

/// Where repairing writes go, and what their basis is.
pub(super) struct RepairWriter<'a> {
    pub client: &'a AirtableClient,
    pub pool: &'a PgPool,
    pub base_id: &'a str,
    pub table: &'a str,
    /// The tags field as writes key it.
    pub tags_key: &'a str,
    pub typecast: bool,
    /// The stream's view the cells are, through this base transaction;
    /// None: a fresh read (anything a person did since is theirs).
    pub seen_through: Option<i64>,
}

/// Settles `waiting` repairs against `cells` (per record, the cell they
/// apply to and the edits people made): repairs of a record not in
/// `cells` are given up (logged with `unknown`), needless ones marked done,
/// the rest written up to 10 records a request. How many were settled.
pub(super) async fn settle(
    writer: &RepairWriter<'_>,
    waiting: &[repairs::Waiting],
    cells: &BTreeMap<String, Cell>,
    unknown: &str,
) -> Result<usize, StreamError> {
    let plan = plan_repairs(waiting, cells);
    for (record, ids) in &plan.unknown {
        tracing::warn!(record = %record, why = unknown, "a repair's record is not known; giving it up");
        repairs::done(writer.pool, ids, None).await?;
    }
    repairs::done(writer.pool, &plan.needless, None).await?;
    let mut settled =
        plan.needless.len() + plan.unknown.iter().map(|(_, ids)| ids.len()).sum::<usize>();
    for chunk in plan.writes.chunks(crate::airtable::MAX_RECORDS_PER_WRITE) {
        settled += write_repairs(writer, chunk).await?;
    }
    Ok(settled)
}

/// What waiting repairs call for.
#[derive(Debug, Default, PartialEq, Eq)]
struct RepairPlan {
    writes: Vec<PlannedRepair>,
    /// Repairs whose cell already is what they want.
    needless: Vec<i64>,
    /// Records without a cell, with their repairs.
    unknown: Vec<(String, Vec<i64>)>,
}

/// Per record: the cell with what its repairs restore and without what
/// they remove, unless a person edited the value after the repair was
/// found (the cell's edits say), who then has the last word.
fn plan_repairs(waiting: &[repairs::Waiting], cells: &BTreeMap<String, Cell>) -> RepairPlan {
    let mut plan = RepairPlan::default();
    for record in records_of(waiting) {
        let of_record: Vec<&repairs::Waiting> =
            waiting.iter().filter(|r| r.record_id == record).collect();
        let ids: Vec<i64> = of_record.iter().map(|r| r.id).collect();
        let Some(cell) = cells.get(&record) else {
            plan.unknown.push((record, ids));
            continue;
        };
        let mut wanted = cell.tags.clone();
        let mut lecture = cell.lecture.clone();
        for repair in of_record {
            if lecture.is_none() {
                lecture.clone_from(&repair.lecture_external_id);
            }
            let later = |value: &String, change: EditKind| {
                cell.edits
                    .get(value)
                    .is_some_and(|edit| edit.is_after(change, repair.seen_through))
            };
            wanted.retain(|v| !repair.removed.0.contains(v) || later(v, EditKind::Added));
            for value in &repair.restored.0 {
                if !wanted.contains(value) && !later(value, EditKind::Removed) {
                    wanted.push(value.clone());
                }
            }
        }
        if value_set(&wanted) == value_set(&cell.tags) {
            plan.needless.extend(ids);
            continue;
        }
        plan.writes.push(PlannedRepair {
            record,
            lecture,
            ids,
            basis: cell.tags.clone(),
            wanted,
        });
    }
    plan
}

#[derive(Debug, PartialEq, Eq)]
struct PlannedRepair {
    record: String,
    lecture: Option<String>,
    ids: Vec<i64>,
    basis: Vec<String>,
    wanted: Vec<String>,
}

/// One request of repairs; how many repairs it settled. When Airtable
/// refuses a request of several records, each is tried alone, so one bad
/// record (deleted, say) does not hold up the others; a record Airtable
/// refuses for good has its repairs given up, logged. A transient failure
/// leaves them waiting for the next read.
async fn write_repairs(
    writer: &RepairWriter<'_>,
    chunk: &[PlannedRepair],
) -> Result<usize, StreamError> {
    let err = match send_repairs(writer, chunk).await? {
        Ok(settled) => return Ok(settled),
        Err(err) => err,
    };
    if err.stops_run() {
        return Err(err.into());
    }
    if err.is_transient() {
        tracing::warn!(error = %err, records = chunk.len(), "repairing write failed; the repairs wait for the next read");
        return Ok(0);
    }
    if chunk.len() > 1 {
        let mut settled = 0;
        for one in chunk {
            settled += Box::pin(write_repairs(writer, std::slice::from_ref(one))).await?;
        }
        return Ok(settled);
    }
    let ids: Vec<i64> = chunk.iter().flat_map(|p| p.ids.iter().copied()).collect();
    tracing::warn!(error = %err, record = ?chunk.first().map(|p| &p.record), "Airtable refuses the repairing write; giving the repair up");
    repairs::done(writer.pool, &ids, None).await?;
    Ok(ids.len())
}

/// Records and sends one request of repairs; Airtable's refusal as the
/// inner error.
async fn send_repairs(
    writer: &RepairWriter<'_>,
    chunk: &[PlannedRepair],
) -> Result<Result<usize, AirtableError>, StreamError> {
    let (pool, base_id) = (writer.pool, writer.base_id);
    let sets: Vec<(Values, Values)> = chunk
        .iter()
        .map(|p| (value_set(&p.basis), value_set(&p.wanted)))
        .collect();
    let new_writes: Vec<NewWrite> = chunk
        .iter()
        .zip(&sets)
        .map(|(p, (basis, written))| NewWrite {
            record_id: &p.record,
            lecture: p.lecture.as_deref(),
            basis,
            written,
            seen_through: writer.seen_through,
        })
        .collect();
    let write_ids = airtable_writes::record(pool, base_id, Purpose::Repair, &new_writes).await?;
    let updates: Vec<RecordUpdate> = chunk
        .iter()
        .map(|p| {
            let mut fields = Map::new();
            fields.insert(writer.tags_key.to_owned(), json!(p.wanted));
            RecordUpdate {
                id: p.record.clone(),
                fields,
            }
        })
        .collect();
    let sent = writer
        .client
        .update_records(writer.table, &updates, writer.typecast, None)
        .await;
    if let Err(err) = sent {
        return Ok(Err(err));
    }
    let mut settled = 0;
    for (planned, write_id) in chunk.iter().zip(&write_ids) {
        repairs::done(pool, &planned.ids, Some(*write_id)).await?;
        settled += planned.ids.len();
    }
    let seen: Vec<(String, Option<String>, Vec<String>)> = chunk
        .iter()
        .map(|p| (p.record.clone(), p.lecture.clone(), p.wanted.clone()))
        .collect();
    record_cells::store_seen(pool, base_id, &seen).await?;
    Ok(Ok(settled))
}
