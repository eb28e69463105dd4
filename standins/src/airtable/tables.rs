//! The base's tables as the Airtable stand-in keeps them: fields with ids
//! and names, records whose cells are keyed by field id (so that renaming
//! a field keeps its cells, as in Airtable), and the two tables a base
//! starts with.

use serde_json::{Map, Value};

/// How the Lectures table holds tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagsFieldKind {
    Linked,
    MultiSelect,
}

#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) kind: String,
    /// Linked: the table linked to.
    pub(super) linked_table: Option<String>,
    /// Multi-select: the option names.
    pub(super) choices: Vec<String>,
}

/// A record's cells, keyed by field id, so that renaming a field keeps its
/// cells as it does in Airtable.
#[derive(Debug, Clone)]
pub(super) struct StoredRecord {
    pub(super) id: String,
    pub(super) cells: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub(super) struct Table {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) fields: Vec<Field>,
    pub(super) records: Vec<StoredRecord>,
}

impl Table {
    /// A field by exact name or by id, as Airtable takes either.
    pub(super) fn field(&self, name_or_id: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name == name_or_id || f.id == name_or_id)
    }

    pub(super) fn record(&self, id: &str) -> Option<&StoredRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// A record's non-empty cells keyed by field name, or by id.
    pub(super) fn shown(
        &self,
        record: &StoredRecord,
        by_id: bool,
        only: &[&Field],
    ) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|f| only.is_empty() || only.iter().any(|o| o.id == f.id))
            .filter_map(|f| {
                let value = record.cells.get(&f.id).filter(|v| !is_empty_cell(v))?;
                let key = if by_id { &f.id } else { &f.name };
                Some((key.clone(), value.clone()))
            })
            .collect()
    }
}

/// Airtable leaves empty cells out of records.
pub(super) fn is_empty_cell(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// A Lectures table (`Name`, `external_id`, `Tags` as `tags` says) and a
/// Tags table (`Name`, `tag_id`), empty.
pub(super) fn starting(tags: TagsFieldKind) -> Vec<Table> {
    let tags_table = Table {
        id: "tblTags0000000001".into(),
        name: "Tags".into(),
        fields: vec![
            text_field("fldTagName0000001", "Name"),
            text_field("fldTagId000000001", "tag_id"),
        ],
        records: Vec::new(),
    };
    let (kind, linked_table) = match tags {
        TagsFieldKind::Linked => ("multipleRecordLinks", Some(tags_table.id.clone())),
        TagsFieldKind::MultiSelect => ("multipleSelects", None),
    };
    let tags_field = Field {
        id: "fldLectureTags001".into(),
        name: "Tags".into(),
        kind: kind.into(),
        linked_table,
        choices: Vec::new(),
    };
    let lectures = Table {
        id: "tblLectures000001".into(),
        name: "Lectures".into(),
        fields: vec![
            text_field("fldLectureName001", "Name"),
            text_field("fldLectureExtId01", "external_id"),
            tags_field,
        ],
        records: Vec::new(),
    };
    vec![lectures, tags_table]
}

fn text_field(id: &str, name: &str) -> Field {
    Field {
        id: id.into(),
        name: name.into(),
        kind: "singleLineText".into(),
        linked_table: None,
        choices: Vec::new(),
    }
}
