//! The salvage: what a change stream had not settled when it breaks or
//! starts over (a cursor Airtable refuses, a webhook deleted, expired or
//! reporting an error), settled from a fresh read of the records before
//! the stream is forgotten. Nothing a person did is dropped unrecorded.
//!
//! - **Repairs waiting** to be written are applied to each record as read
//!   now (never a remembered cell of unknown age) and written like any
//!   repair, 10 records a request, each write recorded.
//! - **Writes the stream had not shown** cannot be checked as the stream
//!   would: the cell just before each went with the old stream's
//!   payloads. What tagbot still knows is what earlier reads showed people
//!   doing (the record's edits). A value someone added before the write
//!   left, that the write's basis and the cell it wrote lack, and that the
//!   record still lacks, is put back; a value someone removed, that the
//!   write's basis and cell held and the record still holds, is removed
//!   again. Such a write is `repaired`, its repair recorded as the
//!   stream's are. Every other write is `unverified`: a person's edit it
//!   may have overwritten cannot be known from a read. A warning names
//!   their records, for an operator to look at.
//!
//! Records are read 10 a request (one `RECORD_ID()` formula), by field id,
//! inside the base's shared request budget like every request. When
//! Airtable cannot serve the reads or the repairing writes yet, the
//! salvage fails and nothing is forgotten: the caller tries again later,
//! and meanwhile batches read before they write.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::StreamError;
use super::repair::{settle, RepairWriter};
use super::watch::Watch;
use crate::airtable::{formula, AirtableClient, ListQuery};
use crate::domain::{Cell, Edit, EditKind, Values};
use crate::storage::airtable_writes::{self, Pending};
use crate::storage::{self, change_streams, record_cells, repairs};

/// Records read in one request: a formula of this many ids stays short,
/// and a page (100) always holds the answer.
const READ_CHUNK: usize = 10;

/// Who salvages, and the stream's table and fields (by id).
pub struct Salvager<'a> {
    pub client: &'a AirtableClient,
    pub pool: &'a PgPool,
    pub base_id: &'a str,
    pub watch: &'a Watch,
}

impl<'a> Salvager<'a> {
    pub fn new(
        client: &'a AirtableClient,
        pool: &'a PgPool,
        base_id: &'a str,
        watch: &'a Watch,
    ) -> Salvager<'a> {
        Salvager {
            client,
            pool,
            base_id,
            watch,
        }
    }
}

/// What a salvage settled.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Salvaged {
    /// Unchecked writes found, from people's recorded edits, to have
    /// overwritten one.
    pub writes_repaired: usize,
    /// Unchecked writes nothing could settle.
    pub writes_unverified: usize,
    /// Repairs settled: written, found needless, or given up (record gone).
    pub repairs_settled: usize,
    /// The last write the salvage looked at: the stream may forget up to it.
    pub through: i64,
}

/// Settles the base's unchecked writes and waiting repairs against a fresh
/// read of their records (see the module doc). An error leaves what is
/// not settled for the next try.
pub async fn salvage(salvager: &Salvager<'_>) -> Result<Salvaged, StreamError> {
    let (pool, base_id) = (salvager.pool, salvager.base_id);
    let writes = airtable_writes::pending(pool, base_id).await?;
    let waiting = repairs::waiting(pool, base_id).await?;
    let mut done = Salvaged {
        through: writes.last().map_or(0, |w| w.id),
        ..Salvaged::default()
    };
    if writes.is_empty() && waiting.is_empty() {
        return Ok(done);
    }
    let mut records: Vec<String> = writes
        .iter()
        .map(|w| w.record_id.clone())
        .chain(waiting.iter().map(|r| r.record_id.clone()))
        .collect();
    records.sort();
    records.dedup();
    let known = record_cells::of_records(pool, base_id, &records).await?;
    let fresh = read_fresh(salvager, &records, &known).await?;
    let found = overwritten(&writes, &fresh);
    store_found(salvager, &found).await?;
    done.writes_repaired = found.repairs.len();
    done.writes_unverified = found.unverified.len();
    if !found.unverified.is_empty() {
        let records: Vec<&str> = writes
            .iter()
            .filter(|w| found.unverified.contains(&w.id))
            .map(|w| w.record_id.as_str())
            .collect();
        tracing::warn!(
            ?records,
            "the change stream broke before it showed these writes, and a read cannot tell whether they overwrote a person's edit; recorded as unverified, look at these records"
        );
    }
    let waiting = repairs::waiting(pool, base_id).await?;
    let writer = RepairWriter {
        client: salvager.client,
        pool,
        base_id,
        table: &salvager.watch.table_id,
        tags_key: &salvager.watch.tags_field_id,
        // Repairs put back values the cell held: never a new option.
        typecast: false,
        seen_through: None,
    };
    done.repairs_settled = settle(
        &writer,
        &waiting,
        &fresh,
        "the record is no longer in the base",
    )
    .await?;
    let left = repairs::waiting(pool, base_id).await?.len();
    if left > 0 {
        return Err(StreamError::Unsalvaged(left));
    }
    Ok(done)
}

/// The records as Airtable holds them now, 10 a request, with the edits
/// the stream had shown (from `known`); a record missing from the answer
/// is no longer in the table.
async fn read_fresh(
    salvager: &Salvager<'_>,
    records: &[String],
    known: &BTreeMap<String, Cell>,
) -> Result<BTreeMap<String, Cell>, StreamError> {
    let watch = salvager.watch;
    let mut fresh = BTreeMap::new();
    for chunk in records.chunks(READ_CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let query = ListQuery {
            fields: vec![watch.lecture_field_id.clone(), watch.tags_field_id.clone()],
            formula: Some(formula::record_in(&ids)),
            by_field_id: true,
        };
        let read = salvager
            .client
            .list_records(&watch.table_id, &query)
            .await?;
        for record in read {
            let lecture = record
                .fields
                .get(&watch.lecture_field_id)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            let tags = crate::sync::batch::cell_values(record.fields.get(&watch.tags_field_id));
            let edits = known
                .get(&record.id)
                .map(|cell| cell.edits.clone())
                .unwrap_or_default();
            fresh.insert(
                record.id,
                Cell {
                    lecture,
                    tags,
                    edits,
                },
            );
        }
    }
    Ok(fresh)
}

/// A repair found for an unchecked write from people's recorded edits.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    write_id: i64,
    record_id: String,
    lecture: Option<String>,
    restore: Values,
    remove: Values,
    edits: BTreeMap<String, Edit>,
}

/// What the unchecked writes come to.
#[derive(Debug, Default, PartialEq, Eq)]
struct Overwritten {
    repairs: Vec<Found>,
    unverified: Vec<i64>,
}

/// Per unchecked write, the people's edits it overwrote as far as the
/// recorded edits and the fresh cell tell (see the module doc).
fn overwritten(writes: &[Pending], fresh: &BTreeMap<String, Cell>) -> Overwritten {
    let mut found = Overwritten::default();
    for write in writes {
        let Some(cell) = fresh.get(&write.record_id) else {
            found.unverified.push(write.id);
            continue;
        };
        let now: Values = cell.tags.iter().cloned().collect();
        let (basis, written) = (&write.basis.0, &write.written.0);
        let restore: Values = edits_of(cell, EditKind::Added, write.sent_at)
            .filter(|v| !basis.contains(*v) && !written.contains(*v) && !now.contains(*v))
            .cloned()
            .collect();
        let remove: Values = edits_of(cell, EditKind::Removed, write.sent_at)
            .filter(|v| basis.contains(*v) && written.contains(*v) && now.contains(*v))
            .cloned()
            .collect();
        if restore.is_empty() && remove.is_empty() {
            found.unverified.push(write.id);
            continue;
        }
        let edits = restore
            .iter()
            .chain(&remove)
            .filter_map(|v| cell.edits.get(v).map(|e| (v.clone(), e.clone())))
            .collect();
        found.repairs.push(Found {
            write_id: write.id,
            record_id: write.record_id.clone(),
            lecture: cell
                .lecture
                .clone()
                .or_else(|| write.lecture_external_id.clone()),
            restore,
            remove,
            edits,
        });
    }
    found
}

/// The values of `cell` whose last edit was a `kind` made before
/// `sent_at`. A cell's edits are someone else's by construction: the
/// stream records as edits only changes that were not tagbot's recorded
/// writes (see `check`).
fn edits_of(
    cell: &Cell,
    kind: EditKind,
    sent_at: DateTime<Utc>,
) -> impl Iterator<Item = &String> + '_ {
    cell.edits
        .iter()
        .filter(move |(_, edit)| edit.change == kind && edit.at < sent_at)
        .map(|(value, _)| value)
}

/// Records the repairs found (to be written with the waiting ones) and
/// each write's outcome, in one transaction.
async fn store_found(salvager: &Salvager<'_>, found: &Overwritten) -> Result<(), StreamError> {
    let (pool, base_id) = (salvager.pool, salvager.base_id);
    let seen_through = change_streams::of_base(pool, base_id)
        .await?
        .map_or(0, |s| s.seen_through);
    let new: Vec<repairs::NewRepair<'_>> = found
        .repairs
        .iter()
        .map(|f| repairs::NewRepair {
            write_id: f.write_id,
            record_id: &f.record_id,
            lecture: f.lecture.as_deref(),
            restore: &f.restore,
            remove: &f.remove,
            edits: &f.edits,
            seen_through,
        })
        .collect();
    let repaired: Vec<i64> = found.repairs.iter().map(|f| f.write_id).collect();
    let mut tx = storage::begin(pool).await?;
    repairs::found(&mut tx, base_id, &new).await?;
    airtable_writes::checked(&mut tx, &repaired, true).await?;
    airtable_writes::unverified(&mut tx, &found.unverified).await?;
    storage::commit(tx).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Author;
    use sqlx::types::Json;

    fn set(values: &[&str]) -> Values {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn sent() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_100, 0).unwrap()
    }

    fn write(id: i64, basis: &[&str], written: &[&str]) -> Pending {
        Pending {
            id,
            record_id: "recA".into(),
            lecture_external_id: Some("L1".into()),
            basis: Json(set(basis)),
            written: Json(set(written)),
            sent_at: sent(),
        }
    }

    fn edit(change: EditKind, source: &str, seconds_before_sent: i64) -> Edit {
        Edit {
            change,
            by: Author {
                source: source.into(),
                user_id: Some("usrDana".into()),
                name: Some("Dana".into()),
                email: None,
            },
            at: sent() - chrono::TimeDelta::seconds(seconds_before_sent),
            transaction: 7,
        }
    }

    fn fresh(tags: &[&str], edits: &[(&str, Edit)]) -> BTreeMap<String, Cell> {
        BTreeMap::from([(
            "recA".to_owned(),
            Cell {
                lecture: Some("L1".into()),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                edits: edits
                    .iter()
                    .map(|(v, e)| ((*v).to_owned(), e.clone()))
                    .collect(),
            },
        )])
    }

    #[test]
    fn a_persons_addition_the_write_lacked_and_the_record_still_lacks_is_put_back() {
        let cells = fresh(&["h", "t"], &[("p", edit(EditKind::Added, "client", 3))]);
        let found = overwritten(&[write(9, &["h"], &["h", "t"])], &cells);
        assert_eq!(found.unverified, Vec::<i64>::new());
        assert_eq!(found.repairs.len(), 1);
        assert_eq!(found.repairs[0].restore, set(&["p"]));
        assert!(found.repairs[0].remove.is_empty());
        assert_eq!(found.repairs[0].edits["p"].by.describe(), "Dana");
    }

    #[test]
    fn a_persons_removal_the_write_undid_and_the_record_still_shows_is_made_again() {
        let cells = fresh(
            &["h", "s", "t"],
            &[("s", edit(EditKind::Removed, "client", 3))],
        );
        let found = overwritten(&[write(9, &["h", "s"], &["h", "s", "t"])], &cells);
        assert_eq!(found.repairs[0].remove, set(&["s"]));
        assert!(found.repairs[0].restore.is_empty());
    }

    #[test]
    fn what_cannot_be_known_from_a_read_is_unverified() {
        // Added after the write left; already back in the record; already
        // in the write's basis; nothing recorded; a record gone.
        let cases = [
            fresh(&["h", "t"], &[("p", edit(EditKind::Added, "client", -3))]),
            fresh(
                &["h", "t", "p"],
                &[("p", edit(EditKind::Added, "client", 3))],
            ),
            fresh(&["h", "t"], &[("h", edit(EditKind::Added, "client", 3))]),
            fresh(&["h", "t"], &[]),
            BTreeMap::new(),
        ];
        for cells in cases {
            let found = overwritten(&[write(9, &["h"], &["h", "t"])], &cells);
            assert!(found.repairs.is_empty(), "{cells:?}");
            assert_eq!(found.unverified, [9], "{cells:?}");
        }
    }
}
