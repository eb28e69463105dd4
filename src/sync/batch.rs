//! One batch: up to 10 leased lectures, read from Airtable and written back
//! in (at most) one request each way.
//!
//! Read-modify-write, never destructive: the lectures' records are read
//! right before the write, the new tags are added to what is there, nothing
//! there is removed, and a record whose tags already include everything is
//! not written at all.

use serde_json::{json, Map, Value};

use super::mapping::TagMap;
use super::queue::{Claim, ClaimedItem, ItemOutcome};
use super::Syncer;
use crate::airtable::{formula, AirtableError, ListQuery, Record, RecordUpdate};

/// What processing a batch produced.
#[derive(Debug, Default)]
pub struct BatchResult {
    pub outcomes: Vec<(ClaimedItem, ItemOutcome)>,
    /// Dry-run: the writes that would have been sent.
    pub payloads: Vec<Value>,
    /// Set when Airtable refused the credentials: nothing else can succeed,
    /// and the batch's items go back to the queue untouched.
    pub abort: Option<AirtableError>,
    /// Set when this worker lost its lease before writing.
    pub lease_lost: bool,
}

/// A record to write and the items it carries.
struct PlannedWrite<'a> {
    update: RecordUpdate,
    items: Vec<&'a ClaimedItem>,
}

pub async fn process(syncer: &Syncer, claim: &Claim, tags: &TagMap) -> BatchResult {
    let mut result = BatchResult::default();
    let settings = &syncer.airtable;
    let lectures: Vec<&str> = claim.lectures.iter().map(String::as_str).collect();
    let query = ListQuery {
        fields: vec![
            settings.lectures_id_field.clone(),
            settings.lectures_tags_field.clone(),
        ],
        formula: Some(formula::field_in(&settings.lectures_id_field, &lectures)),
    };

    if !syncer.keep_lease(claim).await {
        result.lease_lost = true;
        return result;
    }
    let records = match syncer
        .client
        .list_records(&settings.lectures_table, &query)
        .await
    {
        Ok(records) => records,
        Err(err) => {
            fail_all(&mut result, claim.items.iter(), &err);
            return result;
        }
    };

    let mut writes: Vec<PlannedWrite> = Vec::new();
    for (lecture, items) in claim.by_lecture() {
        let matching: Vec<&Record> = records
            .iter()
            .filter(|r| {
                r.fields
                    .get(&settings.lectures_id_field)
                    .and_then(Value::as_str)
                    == Some(lecture)
            })
            .collect();
        let record = match matching.as_slice() {
            [record] => *record,
            [] => {
                permanent(&mut result, items, &format!("lecture_missing: {lecture}"));
                continue;
            }
            many => {
                let reason = format!(
                    "lecture_ambiguous: {lecture} is on {} Lectures records",
                    many.len()
                );
                permanent(&mut result, items, &reason);
                continue;
            }
        };
        let current = cell_values(record.fields.get(&settings.lectures_tags_field));
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
                Err(reason) => result
                    .outcomes
                    .push((item.clone(), ItemOutcome::Permanent { reason })),
            }
        }
        if union.len() == current.len() {
            // Everything is already there: synced without a write.
            for item in carried {
                result
                    .outcomes
                    .push((item.clone(), synced(&record.id, false)));
            }
            continue;
        }
        let mut fields = Map::new();
        fields.insert(settings.lectures_tags_field.clone(), json!(union));
        writes.push(PlannedWrite {
            update: RecordUpdate {
                id: record.id.clone(),
                fields,
            },
            items: carried,
        });
    }
    if writes.is_empty() {
        return result;
    }
    if syncer.settings.dry_run {
        for write in &writes {
            let payload = json!({ "table": settings.lectures_table, "record": write.update, "typecast": settings.typecast });
            tracing::info!(payload = %payload, "dry run: would write to Airtable");
            result.payloads.push(payload);
        }
        return result;
    }
    write(syncer, claim, writes, &mut result).await;
    result
}

/// Sends the writes in one request; when Airtable refuses a multi-record
/// write as invalid, each record is tried alone so one bad record does not
/// fail the lectures that share its request.
async fn write(
    syncer: &Syncer,
    claim: &Claim,
    writes: Vec<PlannedWrite<'_>>,
    result: &mut BatchResult,
) {
    let settings = &syncer.airtable;
    let updates: Vec<RecordUpdate> = writes.iter().map(|w| w.update.clone()).collect();
    if !syncer.keep_lease(claim).await {
        result.lease_lost = true;
        return;
    }
    match syncer
        .client
        .update_records(&settings.lectures_table, &updates, settings.typecast)
        .await
    {
        Ok(_) => {
            for write in &writes {
                for item in &write.items {
                    result
                        .outcomes
                        .push(((*item).clone(), synced(&write.update.id, true)));
                }
            }
        }
        Err(err) if err.is_transient() || err.is_auth() || writes.len() == 1 => {
            fail_all(
                result,
                writes.iter().flat_map(|w| w.items.iter().copied()),
                &err,
            );
        }
        Err(_) => {
            for write in writes {
                if !syncer.keep_lease(claim).await {
                    result.lease_lost = true;
                    return;
                }
                let single = [write.update.clone()];
                match syncer
                    .client
                    .update_records(&settings.lectures_table, &single, settings.typecast)
                    .await
                {
                    Ok(_) => {
                        for item in &write.items {
                            result
                                .outcomes
                                .push(((*item).clone(), synced(&write.update.id, true)));
                        }
                    }
                    Err(err) => {
                        fail_all(result, write.items.iter().copied(), &err);
                        if result.abort.is_some() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

fn synced(record_id: &str, written: bool) -> ItemOutcome {
    ItemOutcome::Synced {
        record_id: record_id.to_owned(),
        written,
    }
}

fn permanent(result: &mut BatchResult, items: Vec<&ClaimedItem>, reason: &str) {
    for item in items {
        result.outcomes.push((
            item.clone(),
            ItemOutcome::Permanent {
                reason: reason.to_owned(),
            },
        ));
    }
}

/// Every item gets the request's error. Credentials errors instead stop
/// the run and leave the items queued: no tag is at fault, and they should
/// flow as soon as an operator fixes the token.
fn fail_all<'a>(
    result: &mut BatchResult,
    items: impl Iterator<Item = &'a ClaimedItem>,
    err: &AirtableError,
) {
    if err.is_auth() {
        result.abort = Some(err.clone());
        return;
    }
    let reason = err.to_string();
    for item in items {
        let outcome = if err.is_transient() {
            ItemOutcome::Transient {
                reason: reason.clone(),
            }
        } else {
            ItemOutcome::Permanent {
                reason: reason.clone(),
            }
        };
        result.outcomes.push((item.clone(), outcome));
    }
}

/// A tags cell as a list of strings (record ids or option names).
fn cell_values(cell: Option<&Value>) -> Vec<String> {
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
