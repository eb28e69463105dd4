//! From tagbot's tag ids to what the Lectures table's tags field holds:
//! Tags-table record ids (linked field) or option names (multiple select).
//! Built at the start of a run from the base schema and the Tags table (or
//! the catalogue's tag names), and cached.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::error::SyncError;
use crate::airtable::{
    resolve_tags_field, AirtableClient, AirtableError, BaseSchema, ListQuery, SchemaProblem,
    TableSchema, TagsField,
};
use crate::config::{AirtableSettings, TagsFieldType};
use crate::domain::{Failure, FailureCategory};
use crate::storage::{catalogue, tag_maps};

/// What worker processes share of a mapping (`airtable_tag_maps`).
#[derive(Serialize, Deserialize)]
struct Shared {
    field: TagsField,
    values: HashMap<String, String>,
    keys: BaseKeys,
}

#[derive(Debug, Clone)]
pub struct TagMap {
    pub field: TagsField,
    /// tag id → the value written into the tags field.
    values: HashMap<String, String>,
    typecast: bool,
    /// The tables and fields as requests name them.
    pub keys: BaseKeys,
    pub built_at: Instant,
}

/// How requests name the tables and fields, and how records key their
/// cells: one key per field for reading and writing alike.
///
/// A cell must never be written under a key it was not read under. Records
/// come back keyed by field name unless `returnFieldsByFieldId` is asked
/// for; a tags field configured by id (`fld…`) and read by name would read
/// as empty, and the union written back would drop every tag a person put
/// there. So with the schema known every table and field is named by id
/// and records are read by id (which also survives a rename in the base);
/// without the schema everything is named as configured, which must then
/// be names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseKeys {
    /// Tables are named as configured: the URLs stay readable in logs, and
    /// a renamed table stops the run with the variable to fix.
    pub lectures_table: String,
    pub tags_table: String,
    /// The Lectures table's id, when the schema was read: the change
    /// stream's webhook names tables by id only.
    pub lectures_table_id: Option<String>,
    /// Cells are keyed by field id (`returnFieldsByFieldId`).
    pub by_field_id: bool,
    pub lecture_id: String,
    pub tags: String,
    pub tag_id: String,
    /// The lecture id field's name: formulas name fields by `{name}` only.
    pub lecture_id_name: String,
    /// The tags field's name, for what people read (dry-run payloads).
    pub tags_name: String,
}

impl BaseKeys {
    fn resolve(
        schema: Option<&BaseSchema>,
        settings: &AirtableSettings,
    ) -> Result<BaseKeys, SchemaProblem> {
        let Some(schema) = schema else {
            return BaseKeys::as_configured(settings);
        };
        let lectures = schema.table(&settings.lectures_table);
        let tags_table = schema.table(&settings.tags_table);
        let id = |table: Option<&TableSchema>, field: &str| {
            table
                .and_then(|t| t.field(field))
                .map_or_else(|| field.to_owned(), |f| f.id.clone())
        };
        let name = |table: Option<&TableSchema>, field: &str| {
            table
                .and_then(|t| t.field(field))
                .map_or_else(|| field.to_owned(), |f| f.name.clone())
        };
        Ok(BaseKeys {
            lectures_table: settings.lectures_table.clone(),
            tags_table: settings.tags_table.clone(),
            lectures_table_id: lectures.map(|t| t.id.clone()),
            by_field_id: true,
            lecture_id: id(lectures, &settings.lectures_id_field),
            tags: id(lectures, &settings.lectures_tags_field),
            tag_id: id(tags_table, &settings.tags_id_field),
            lecture_id_name: name(lectures, &settings.lectures_id_field),
            tags_name: name(lectures, &settings.lectures_tags_field),
        })
    }

    /// Without the schema: names as configured. A field given by id could
    /// be neither read under the key it is written under nor named in a
    /// formula, so it is refused with the variable to change.
    fn as_configured(settings: &AirtableSettings) -> Result<BaseKeys, SchemaProblem> {
        for (var, field) in [
            ("AIRTABLE_LECTURES_ID_FIELD", &settings.lectures_id_field),
            (
                "AIRTABLE_LECTURES_TAGS_FIELD",
                &settings.lectures_tags_field,
            ),
            ("AIRTABLE_TAGS_ID_FIELD", &settings.tags_id_field),
        ] {
            if looks_like_field_id(field) {
                return Err(SchemaProblem(format!(
                    "{var}={field} names a field by id, but the token cannot read the base schema to match it to the records' cells; set {var} to the field's name, or give the token the schema.bases:read scope"
                )));
            }
        }
        Ok(BaseKeys {
            lectures_table: settings.lectures_table.clone(),
            tags_table: settings.tags_table.clone(),
            lectures_table_id: None,
            by_field_id: false,
            lecture_id: settings.lectures_id_field.clone(),
            tags: settings.lectures_tags_field.clone(),
            tag_id: settings.tags_id_field.clone(),
            lecture_id_name: settings.lectures_id_field.clone(),
            tags_name: settings.lectures_tags_field.clone(),
        })
    }
}

/// Airtable field ids are `fld` and 14 letters and digits.
fn looks_like_field_id(field: &str) -> bool {
    field.len() == 17
        && field.starts_with("fld")
        && field.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl TagMap {
    /// The mapping another process of the base built less than
    /// `shared_within` ago under the same settings; otherwise reads the
    /// schema (when it can) and the tag mapping, and shares them.
    pub async fn build(
        client: &AirtableClient,
        pool: &PgPool,
        settings: &AirtableSettings,
        shared_within: std::time::Duration,
    ) -> Result<TagMap, SyncError> {
        let configuration = Self::configuration(settings);
        // One process builds while the others wait, then use its mapping.
        let turn = tag_maps::building(pool).await?;
        let shared =
            tag_maps::fresh(pool, &settings.base_id, &configuration, shared_within).await?;
        if let Some((map, age)) = shared {
            match serde_json::from_value::<Shared>(map) {
                Ok(shared) => {
                    return Ok(TagMap {
                        field: shared.field,
                        values: shared.values,
                        typecast: settings.typecast,
                        keys: shared.keys,
                        built_at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
                    })
                }
                Err(err) => {
                    tracing::warn!(error = %err, "a shared tag mapping could not be read; building one")
                }
            }
        }
        let map = Self::build_with(client, pool, settings, client.schema().await).await?;
        let shared = Shared {
            field: map.field.clone(),
            values: map.values.clone(),
            keys: map.keys.clone(),
        };
        match serde_json::to_value(&shared) {
            Ok(value) => {
                tag_maps::store(pool, &settings.base_id, &configuration, &value).await?;
            }
            Err(err) => tracing::warn!(error = %err, "could not share the tag mapping"),
        }
        drop(turn);
        Ok(map)
    }

    /// The settings a mapping depends on, as one string.
    fn configuration(settings: &AirtableSettings) -> String {
        format!(
            "{:?}",
            (
                &settings.lectures_table,
                &settings.lectures_id_field,
                &settings.lectures_tags_field,
                &settings.tags_table,
                &settings.tags_id_field,
                &settings.tags_field_type,
                settings.typecast,
            )
        )
    }

    /// The tag mapping, given the outcome of reading the schema.
    async fn build_with(
        client: &AirtableClient,
        pool: &PgPool,
        settings: &AirtableSettings,
        schema: Result<BaseSchema, AirtableError>,
    ) -> Result<TagMap, SyncError> {
        let (keys, field) = match schema {
            Ok(schema) => (
                BaseKeys::resolve(Some(&schema), settings).map_err(SyncError::Schema)?,
                resolve_tags_field(&schema, settings).map_err(SyncError::Schema)?,
            ),
            // A token without the schema scope (403; 404 from older API
            // answers) is a configuration: it works with fields named by
            // name and an explicit type. Any other failure (Airtable away,
            // a 429, a revoked token, a used-up quota) says nothing about
            // the configuration and is the run's to report.
            Err(err) if matches!(err.status, Some(403 | 404)) => {
                let keys = BaseKeys::resolve(None, settings).map_err(SyncError::Schema)?;
                let field = match settings.tags_field_type {
                    TagsFieldType::Linked => {
                        tracing::warn!(error = %err, "cannot read the base schema; using AIRTABLE_FIELD_TAGS_TYPE=linked unchecked");
                        TagsField::Linked
                    }
                    TagsFieldType::MultiSelect => {
                        tracing::warn!(error = %err, "cannot read the base schema; using AIRTABLE_FIELD_TAGS_TYPE=multiselect unchecked");
                        TagsField::MultiSelect { options: None }
                    }
                    TagsFieldType::Auto => {
                        return Err(SyncError::Schema(SchemaProblem(format!(
                            "cannot read the base schema ({err}); AIRTABLE_FIELD_TAGS_TYPE=auto needs the token's schema.bases:read scope: add the scope (and check AIRTABLE_BASE_ID), or set AIRTABLE_FIELD_TAGS_TYPE to linked or multiselect"
                        ))))
                    }
                };
                (keys, field)
            }
            Err(err) => return Err(SyncError::Airtable(err)),
        };
        let values = match &field {
            TagsField::Linked => linked_tags(client, &keys).await?,
            TagsField::MultiSelect { .. } => catalogue::tags(pool).await?.into_iter().collect(),
        };
        Ok(TagMap {
            field,
            values,
            typecast: settings.typecast,
            keys,
            built_at: Instant::now(),
        })
    }

    /// The value to write for `tag_id`, or why there is none.
    pub fn value_for(&self, tag_id: &str) -> Result<&str, Failure> {
        let Some(value) = self.values.get(tag_id) else {
            return Err(Failure::new(FailureCategory::TagMissing, tag_id));
        };
        if let TagsField::MultiSelect {
            options: Some(options),
        } = &self.field
        {
            if !self.typecast && !options.contains(value) {
                return Err(Failure::new(
                    FailureCategory::TagMissing,
                    format!("{tag_id} (no option {value:?} in the tags field; add it in Airtable or set AIRTABLE_TYPECAST=true)"),
                ));
            }
        }
        Ok(value)
    }

    /// The tag ids written as `value` (one, unless the catalogue names
    /// two tags alike).
    pub fn tags_with_value(&self, value: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(_, v)| v.as_str() == value)
            .map(|(tag, _)| tag.as_str())
            .collect()
    }

    pub fn knows(&self, tag_id: &str) -> bool {
        self.value_for(tag_id).is_ok()
    }
}

/// tag id → record id, from every record of the Tags table. A tag id on
/// two records is ambiguous and left unmapped.
async fn linked_tags(
    client: &AirtableClient,
    keys: &BaseKeys,
) -> Result<HashMap<String, String>, SyncError> {
    let tag_id_field = keys.tag_id.as_str();
    let query = ListQuery {
        fields: vec![tag_id_field.to_owned()],
        formula: None,
        by_field_id: keys.by_field_id,
    };
    let records = client.list_records(&keys.tags_table, &query).await?;
    let mut map = HashMap::new();
    let mut ambiguous = BTreeSet::new();
    for record in records {
        let Some(tag_id) = record.fields.get(tag_id_field).and_then(Value::as_str) else {
            continue;
        };
        if map.insert(tag_id.to_owned(), record.id).is_some() {
            ambiguous.insert(tag_id.to_owned());
        }
    }
    for tag_id in &ambiguous {
        tracing::warn!(
            tag_id,
            "tag id appears on several Tags records; leaving it unmapped"
        );
        map.remove(tag_id);
    }
    Ok(map)
}

/// The catalogue's tag ids that have no value in Airtable (for `tagbot
/// doctor`): no Tags record (linked), or no option and no typecast
/// (multiple select).
pub async fn unmapped_tags(
    client: &AirtableClient,
    pool: &PgPool,
    settings: &AirtableSettings,
    schema: BaseSchema,
) -> Result<Vec<String>, SyncError> {
    let map = TagMap::build_with(client, pool, settings, Ok(schema)).await?;
    let tags = catalogue::tags(pool).await?;
    Ok(tags
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !map.knows(id))
        .collect())
}
