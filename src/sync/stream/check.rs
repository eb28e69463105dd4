//! What the change stream says about tagbot's writes, worked out without
//! I/O: each write is found in the stream by its record and the cell it
//! left; the cell just before it shows what a person did between tagbot's
//! read (or the stream's last word) and the write.
//!
//! - present before, absent from what tagbot assumed, absent after: a
//!   person's addition the write overwrote; it is put back;
//! - absent before, present in what tagbot assumed, present after: a
//!   person's removal the write undid; it is removed again.
//!
//! A later change by someone else to the same value cancels its repair:
//! a person who removes what is about to be put back has the last word.
//! Every other change is someone else's: their additions and removals are
//! remembered per value (whose edit a repair restores), and their
//! removals are candidates for drift.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::payload::TagsChange;
use crate::domain::{Author, Cell, Edit, EditKind, Values};

/// A write tagbot sent and has not yet found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentWrite {
    pub id: i64,
    pub record_id: String,
    pub basis: Values,
    pub written: Values,
    /// A repair's: the stream's view its basis is, through this base
    /// transaction. What it removes or restores on purpose, a person who
    /// edited the value after that still has the last word on.
    pub seen_through: Option<i64>,
}

/// A write that overwrote people's edits, and what puts them right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub write_id: i64,
    pub record_id: String,
    pub restore: Values,
    pub remove: Values,
    /// Whose edits these were, per value, as far as the stream showed.
    pub edits: BTreeMap<String, Edit>,
}

impl Repair {
    fn is_empty(&self) -> bool {
        self.restore.is_empty() && self.remove.is_empty()
    }
}

/// A value someone other than tagbot removed from (or added to) a
/// record's cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OthersEdit {
    pub record_id: String,
    pub value: String,
    pub by: Author,
    pub at: DateTime<Utc>,
    pub transaction: i64,
}

/// What a stretch of the stream says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// The last base transaction the stretch showed (0: none).
    pub seen_through: i64,
    /// Every record the stretch touched, as it now stands.
    pub cells: BTreeMap<String, Cell>,
    /// Writes found that overwrote nothing.
    pub clean: Vec<i64>,
    /// Writes found that overwrote something still worth putting right.
    pub repairs: Vec<Repair>,
    /// Values others removed: drift candidates.
    pub removals: Vec<OthersEdit>,
    /// Values others added: a removed synced tag put back ends its drift.
    pub additions: Vec<OthersEdit>,
}

/// Works through `changes` in stream order from the `known` cells, finding
/// the `writes` among them.
pub fn check(
    mut known: BTreeMap<String, Cell>,
    writes: &[SentWrite],
    changes: &[TagsChange],
) -> Checked {
    let mut found = vec![false; writes.len()];
    let mut checked = Checked::default();
    for change in changes {
        let cell = known.entry(change.record_id.clone()).or_default();
        if change.lecture.is_some() {
            cell.lecture.clone_from(&change.lecture);
        }
        let previous: Values = change
            .previous
            .as_ref()
            .unwrap_or(&cell.tags)
            .iter()
            .cloned()
            .collect();
        let current: Values = change.current.iter().cloned().collect();
        let ours = change.author.is_api().then(|| {
            writes.iter().enumerate().position(|(n, write)| {
                !found[n] && write.record_id == change.record_id && write.written == current
            })
        });
        if let Some(Some(n)) = ours {
            found[n] = true;
            let write = &writes[n];
            checked
                .repairs
                .push(repair_of(write, &previous, &current, cell));
        } else {
            someone_elses(change, &previous, &current, cell, &mut checked);
        }
        cell.tags.clone_from(&change.current);
    }
    // A write that overwrote nothing (or whose repair later edits
    // cancelled) is clean.
    let (repairs, clean): (Vec<Repair>, Vec<Repair>) = std::mem::take(&mut checked.repairs)
        .into_iter()
        .partition(|r| !r.is_empty());
    checked.repairs = repairs;
    checked.clean = clean.iter().map(|r| r.write_id).collect();
    checked.seen_through = changes.iter().map(|c| c.transaction).max().unwrap_or(0);
    let touched: Vec<&String> = changes.iter().map(|c| &c.record_id).collect();
    checked.cells = known
        .into_iter()
        .filter(|(record, _)| touched.contains(&record))
        .collect();
    checked
}

/// What `write` overwrote, given the cell just before it and just after:
/// values it took away that it did not mean to (absent from its basis),
/// and values it brought back that it did not mean to add (in its basis,
/// gone just before). A repair means its removals and additions, unless a
/// person edited the value after the repair was decided.
fn repair_of(write: &SentWrite, previous: &Values, current: &Values, cell: &Cell) -> Repair {
    let edited_since = |value: &String, change: EditKind| {
        write.seen_through.is_some_and(|through| {
            cell.edits
                .get(value)
                .is_some_and(|edit| edit.is_after(change, through))
        })
    };
    let restore: Values = previous
        .difference(current)
        .filter(|v| !write.basis.contains(*v) || edited_since(v, EditKind::Added))
        .cloned()
        .collect();
    let remove: Values = current
        .difference(previous)
        .filter(|v| write.basis.contains(*v) || edited_since(v, EditKind::Removed))
        .cloned()
        .collect();
    let edits = restore
        .iter()
        .chain(&remove)
        .filter_map(|v| cell.edits.get(v).map(|e| (v.clone(), e.clone())))
        .collect();
    Repair {
        write_id: write.id,
        record_id: write.record_id.clone(),
        restore,
        remove,
        edits,
    }
}

/// A change by a person (or anything but one of tagbot's writes): its
/// edits are remembered, cancel repairs of the same values, and its
/// removals are drift candidates.
fn someone_elses(
    change: &TagsChange,
    previous: &Values,
    current: &Values,
    cell: &mut Cell,
    checked: &mut Checked,
) {
    let edit = |kind| Edit {
        change: kind,
        by: change.author.clone(),
        at: change.at,
        transaction: change.transaction,
    };
    let added: Vec<&String> = current.difference(previous).collect();
    let removed: Vec<&String> = previous.difference(current).collect();
    for repair in checked
        .repairs
        .iter_mut()
        .filter(|r| r.record_id == change.record_id)
    {
        for value in &added {
            repair.remove.remove(*value);
        }
        for value in &removed {
            repair.restore.remove(*value);
        }
    }
    for value in added {
        cell.edits.insert(value.clone(), edit(EditKind::Added));
        checked.additions.push(OthersEdit {
            record_id: change.record_id.clone(),
            value: value.clone(),
            by: change.author.clone(),
            at: change.at,
            transaction: change.transaction,
        });
    }
    for value in removed {
        cell.edits.insert(value.clone(), edit(EditKind::Removed));
        checked.removals.push(OthersEdit {
            record_id: change.record_id.clone(),
            value: value.clone(),
            by: change.author.clone(),
            at: change.at,
            transaction: change.transaction,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn set(values: &[&str]) -> Values {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    fn person(name: &str) -> Author {
        Author {
            source: "client".into(),
            user_id: Some(format!("usr{name}")),
            name: Some(name.into()),
            email: None,
        }
    }

    fn api() -> Author {
        Author {
            source: "publicApi".into(),
            user_id: Some("usrTagbot".into()),
            name: None,
            email: None,
        }
    }

    fn change(n: i64, by: Author, previous: &[&str], current: &[&str]) -> TagsChange {
        TagsChange {
            transaction: n,
            at: DateTime::from_timestamp(1_790_000_000 + n, 0).unwrap(),
            author: by,
            record_id: "recA".into(),
            lecture: Some("L1".into()),
            previous: Some(list(previous)),
            current: list(current),
        }
    }

    fn write(id: i64, basis: &[&str], written: &[&str]) -> SentWrite {
        SentWrite {
            id,
            record_id: "recA".into(),
            basis: set(basis),
            written: set(written),
            seen_through: None,
        }
    }

    fn repair_write(id: i64, basis: &[&str], written: &[&str], through: i64) -> SentWrite {
        SentWrite {
            seen_through: Some(through),
            ..write(id, basis, written)
        }
    }

    fn known(tags: &[&str]) -> BTreeMap<String, Cell> {
        BTreeMap::from([(
            "recA".to_owned(),
            Cell {
                lecture: Some("L1".into()),
                tags: list(tags),
                edits: BTreeMap::new(),
            },
        )])
    }

    #[test]
    fn an_addition_made_between_read_and_write_is_put_back_with_its_author() {
        // tagbot read [h], Dana added p, tagbot wrote [h, t] over it.
        let changes = [
            change(1, person("Dana"), &["h"], &["h", "p"]),
            change(2, api(), &["h", "p"], &["h", "t"]),
        ];
        let checked = check(known(&["h"]), &[write(9, &["h"], &["h", "t"])], &changes);
        assert_eq!(checked.repairs.len(), 1);
        let repair = &checked.repairs[0];
        assert_eq!((repair.write_id, &repair.restore), (9, &set(&["p"])));
        assert!(repair.remove.is_empty());
        assert_eq!(repair.edits["p"].by.describe(), "Dana");
        assert_eq!(repair.edits["p"].change, EditKind::Added);
        assert_eq!(checked.cells["recA"].tags, ["h", "t"]);
        assert!(checked.removals.is_empty());
    }

    #[test]
    fn a_removal_the_write_undid_is_removed_again_and_is_a_drift_candidate() {
        let changes = [
            change(1, person("Dana"), &["h", "s"], &["h"]),
            change(2, api(), &["h"], &["h", "s", "t"]),
        ];
        let checked = check(
            known(&["h", "s"]),
            &[write(4, &["h", "s"], &["h", "s", "t"])],
            &changes,
        );
        assert_eq!(checked.repairs[0].remove, set(&["s"]));
        assert!(checked.repairs[0].restore.is_empty());
        assert_eq!(checked.removals.len(), 1);
        assert_eq!(checked.removals[0].value, "s");
    }

    #[test]
    fn a_write_that_overwrote_nothing_is_clean() {
        let changes = [change(1, api(), &["h"], &["h", "t"])];
        let checked = check(known(&["h"]), &[write(3, &["h"], &["h", "t"])], &changes);
        assert_eq!(checked.clean, [3]);
        assert!(checked.repairs.is_empty());
    }

    #[test]
    fn a_later_edit_of_the_same_value_cancels_its_repair() {
        // Dana's addition is overwritten, then she removes it herself:
        // putting it back would undo her last word.
        let changes = [
            change(1, person("Dana"), &["h"], &["h", "p"]),
            change(2, api(), &["h", "p"], &["h", "t"]),
            change(3, person("Dana"), &["h", "t", "p"], &["h", "t"]),
        ];
        let checked = check(known(&["h"]), &[write(5, &["h"], &["h", "t"])], &changes);
        assert!(checked.repairs.is_empty());
        assert_eq!(checked.clean, [5]);
    }

    #[test]
    fn two_writers_racing_on_one_record_are_repaired_like_a_person() {
        // Two writes from the same stale basis: the second overwrote the
        // first's tag, which is put back.
        let changes = [
            change(1, api(), &["h"], &["h", "a"]),
            change(2, api(), &["h", "a"], &["h", "b"]),
        ];
        let writes = [write(1, &["h"], &["h", "a"]), write(2, &["h"], &["h", "b"])];
        let checked = check(known(&["h"]), &writes, &changes);
        assert_eq!(checked.clean, [1]);
        assert_eq!(checked.repairs[0].write_id, 2);
        assert_eq!(checked.repairs[0].restore, set(&["a"]));
    }

    #[test]
    fn another_api_clients_change_is_someone_elses() {
        let changes = [change(1, api(), &["h", "s"], &["h"])];
        let checked = check(
            known(&["h", "s"]),
            &[write(1, &["h"], &["h", "t"])],
            &changes,
        );
        assert!(checked.clean.is_empty() && checked.repairs.is_empty());
        assert_eq!(checked.removals.len(), 1);
    }

    #[test]
    fn a_record_first_seen_in_the_stream_is_learnt_with_its_lecture() {
        let changes = [change(1, person("Dana"), &[], &["p"])];
        let checked = check(BTreeMap::new(), &[], &changes);
        let cell = &checked.cells["recA"];
        assert_eq!(cell.lecture.as_deref(), Some("L1"));
        assert_eq!(cell.tags, ["p"]);
        assert_eq!(cell.edits["p"].change, EditKind::Added);
    }

    #[test]
    fn a_repairs_removal_yields_to_a_person_who_added_the_value_back_after_it_was_decided() {
        // Through transaction 2 the repair knew [h, s] and meant to take s
        // away; Dana removed s and added it again (3, 4) before the repair
        // landed (5): her last word is that s stays.
        let changes = [
            change(3, person("Dana"), &["h", "s"], &["h"]),
            change(4, person("Dana"), &["h"], &["h", "s"]),
            change(5, api(), &["h", "s"], &["h"]),
        ];
        let checked = check(
            known(&["h", "s"]),
            &[repair_write(8, &["h", "s"], &["h"], 2)],
            &changes,
        );
        assert_eq!(checked.repairs.len(), 1);
        assert_eq!(checked.repairs[0].restore, set(&["s"]));
        assert_eq!(checked.seen_through, 5);
    }

    #[test]
    fn a_repairs_restoration_yields_to_a_person_who_removed_the_value_after_it_was_decided() {
        let changes = [
            change(3, person("Dana"), &["h"], &["h", "p"]),
            change(4, person("Dana"), &["h", "p"], &["h"]),
            change(5, api(), &["h"], &["h", "p"]),
        ];
        let checked = check(
            known(&["h"]),
            &[repair_write(8, &["h"], &["h", "p"], 2)],
            &changes,
        );
        assert_eq!(checked.repairs[0].remove, set(&["p"]));
    }

    #[test]
    fn a_repair_meeting_no_later_edit_is_clean() {
        let changes = [change(4, api(), &["h", "s"], &["h"])];
        let checked = check(
            known(&["h", "s"]),
            &[repair_write(8, &["h", "s"], &["h"], 3)],
            &changes,
        );
        assert_eq!(checked.clean, [8]);
    }
}
