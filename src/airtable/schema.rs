//! The base schema (`GET /v0/meta/bases/{base}/tables`) and what tagbot
//! needs from it: that the configured tables and fields exist, and how the
//! Lectures table holds its tags.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::config::{AirtableSettings, TagsFieldType};

#[derive(Debug, Clone, Deserialize)]
pub struct BaseSchema {
    pub tables: Vec<TableSchema>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TableSchema {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub fields: Vec<FieldSchema>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldSchema {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default)]
    pub options: Option<Value>,
}

impl BaseSchema {
    /// A table by name or id, as Airtable accepts either.
    pub fn table(&self, name_or_id: &str) -> Option<&TableSchema> {
        self.tables
            .iter()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }
}

impl TableSchema {
    pub fn field(&self, name_or_id: &str) -> Option<&FieldSchema> {
        self.fields
            .iter()
            .find(|f| f.name == name_or_id || f.id == name_or_id)
    }
}

/// How tag values are written, resolved from settings and schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub enum TagsField {
    /// Linked records: write Tags-table record ids.
    Linked,
    /// Multiple select: write option names; `options` are the existing ones
    /// when the schema was read.
    MultiSelect { options: Option<BTreeSet<String>> },
}

/// Something in the base does not match the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem(pub String);

impl fmt::Display for SchemaProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SchemaProblem {}

const LINKED: &str = "multipleRecordLinks";
const MULTI_SELECT: &str = "multipleSelects";

/// Checks the configured tables and fields against the base and decides
/// how tags are written.
pub fn resolve_tags_field(
    schema: &BaseSchema,
    settings: &AirtableSettings,
) -> Result<TagsField, SchemaProblem> {
    let lectures = schema.table(&settings.lectures_table).ok_or_else(|| {
        SchemaProblem(format!(
            "the base has no table {:?} (AIRTABLE_LECTURES_TABLE); tables: {}",
            settings.lectures_table,
            names(schema.tables.iter().map(|t| t.name.as_str()))
        ))
    })?;
    let field = |table: &TableSchema, name: &str, var: &str| {
        table.field(name).cloned().ok_or_else(|| {
            SchemaProblem(format!(
                "table {:?} has no field {name:?} ({var}); fields: {}",
                table.name,
                names(table.fields.iter().map(|f| f.name.as_str()))
            ))
        })
    };
    field(
        lectures,
        &settings.lectures_id_field,
        "AIRTABLE_LECTURES_ID_FIELD",
    )?;
    let tags = field(
        lectures,
        &settings.lectures_tags_field,
        "AIRTABLE_LECTURES_TAGS_FIELD",
    )?;

    let resolved = match (tags.field_type.as_str(), settings.tags_field_type) {
        (LINKED, TagsFieldType::Linked | TagsFieldType::Auto) => TagsField::Linked,
        (MULTI_SELECT, TagsFieldType::MultiSelect | TagsFieldType::Auto) => TagsField::MultiSelect {
            options: Some(choice_names(tags.options.as_ref())),
        },
        (actual, configured) => {
            return Err(SchemaProblem(format!(
                "field {:?} of {:?} is {actual}, but AIRTABLE_FIELD_TAGS_TYPE is {}; set it to auto, or change the field to a linked-record or multiple-select field",
                tags.name,
                lectures.name,
                match configured {
                    TagsFieldType::Linked => "linked",
                    TagsFieldType::MultiSelect => "multiselect",
                    TagsFieldType::Auto => "auto",
                }
            )))
        }
    };
    if resolved == TagsField::Linked {
        let tags_table = schema.table(&settings.tags_table).ok_or_else(|| {
            SchemaProblem(format!(
                "the base has no table {:?} (AIRTABLE_TAGS_TABLE)",
                settings.tags_table
            ))
        })?;
        field(
            tags_table,
            &settings.tags_id_field,
            "AIRTABLE_TAGS_ID_FIELD",
        )?;
        let linked_to = tags
            .options
            .as_ref()
            .and_then(|o| o.get("linkedTableId"))
            .and_then(Value::as_str);
        if linked_to.is_some_and(|id| id != tags_table.id) {
            return Err(SchemaProblem(format!(
                "field {:?} links to another table than {:?} (AIRTABLE_TAGS_TABLE)",
                tags.name, tags_table.name
            )));
        }
    }
    Ok(resolved)
}

fn choice_names(options: Option<&Value>) -> BTreeSet<String> {
    options
        .and_then(|o| o.get("choices"))
        .and_then(Value::as_array)
        .map(|choices| {
            choices
                .iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let listed: Vec<String> = names.map(|n| format!("{n:?}")).collect();
    if listed.is_empty() {
        "none".to_owned()
    } else {
        listed.join(", ")
    }
}
