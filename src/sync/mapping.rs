//! From tagbot's tag ids to what the Lectures table's tags field holds:
//! Tags-table record ids (linked field) or option names (multiple select).
//! Built at the start of a run from the base schema and the Tags table (or
//! the catalogue's tag names), and cached.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde_json::Value;
use sqlx::PgPool;

use super::SyncError;
use crate::airtable::{
    resolve_tags_field, AirtableClient, AirtableError, BaseSchema, ListQuery, TagsField,
};
use crate::config::{AirtableSettings, TagsFieldType};

#[derive(Debug, Clone)]
pub struct TagMap {
    pub field: TagsField,
    /// tag id → the value written into the tags field.
    values: HashMap<String, String>,
    typecast: bool,
    /// The fields' names as records carry them.
    pub names: FieldNames,
    pub built_at: Instant,
}

/// Field names as Airtable keys them in records. The configuration may
/// name a field by id (`fld…`), but records come back keyed by name: a
/// tags cell looked up by id would read as empty, and the union written
/// back would drop every tag a person put there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldNames {
    pub lecture_id: String,
    pub tags: String,
    pub tag_id: String,
}

impl FieldNames {
    fn resolve(schema: Option<&BaseSchema>, settings: &AirtableSettings) -> FieldNames {
        let name = |table: &str, field: &str| {
            schema
                .and_then(|s| s.table(table))
                .and_then(|t| t.field(field))
                .map_or_else(|| field.to_owned(), |f| f.name.clone())
        };
        FieldNames {
            lecture_id: name(&settings.lectures_table, &settings.lectures_id_field),
            tags: name(&settings.lectures_table, &settings.lectures_tags_field),
            tag_id: name(&settings.tags_table, &settings.tags_id_field),
        }
    }
}

impl TagMap {
    /// Reads the schema (when it can) and the tag mapping.
    pub async fn build(
        client: &AirtableClient,
        pool: &PgPool,
        settings: &AirtableSettings,
    ) -> Result<TagMap, SyncError> {
        Self::build_with(client, pool, settings, client.schema().await).await
    }

    /// The tag mapping, given the outcome of reading the schema.
    async fn build_with(
        client: &AirtableClient,
        pool: &PgPool,
        settings: &AirtableSettings,
        schema: Result<BaseSchema, AirtableError>,
    ) -> Result<TagMap, SyncError> {
        let names = FieldNames::resolve(schema.as_ref().ok(), settings);
        let field = match schema {
            Ok(schema) => resolve_tags_field(&schema, settings).map_err(SyncError::Schema)?,
            Err(err) => match settings.tags_field_type {
                // Without the schema scope an explicit type still works.
                TagsFieldType::Linked if !err.is_transient() => {
                    tracing::warn!(error = %err, "cannot read the base schema; using AIRTABLE_FIELD_TAGS_TYPE=linked unchecked");
                    TagsField::Linked
                }
                TagsFieldType::MultiSelect if !err.is_transient() => {
                    tracing::warn!(error = %err, "cannot read the base schema; using AIRTABLE_FIELD_TAGS_TYPE=multiselect unchecked");
                    TagsField::MultiSelect { options: None }
                }
                _ => return Err(SyncError::Airtable(err)),
            },
        };
        let values = match &field {
            TagsField::Linked => linked_tags(client, settings, &names.tag_id).await?,
            TagsField::MultiSelect { .. } => {
                sqlx::query_as::<_, (String, String)>("SELECT tag_id, name FROM tags")
                    .fetch_all(pool)
                    .await?
                    .into_iter()
                    .collect()
            }
        };
        Ok(TagMap {
            field,
            values,
            typecast: settings.typecast,
            names,
            built_at: Instant::now(),
        })
    }

    /// The value to write for `tag_id`, or why there is none.
    pub fn value_for(&self, tag_id: &str) -> Result<&str, String> {
        let Some(value) = self.values.get(tag_id) else {
            return Err(format!("tag_missing: {tag_id}"));
        };
        if let TagsField::MultiSelect {
            options: Some(options),
        } = &self.field
        {
            if !self.typecast && !options.contains(value) {
                return Err(format!(
                    "tag_missing: {tag_id} (no option {value:?} in the tags field; add it in Airtable or set AIRTABLE_TYPECAST=true)"
                ));
            }
        }
        Ok(value)
    }

    pub fn knows(&self, tag_id: &str) -> bool {
        self.value_for(tag_id).is_ok()
    }
}

/// tag id → record id, from every record of the Tags table. A tag id on
/// two records is ambiguous and left unmapped.
async fn linked_tags(
    client: &AirtableClient,
    settings: &AirtableSettings,
    tag_id_field: &str,
) -> Result<HashMap<String, String>, SyncError> {
    let query = ListQuery {
        fields: vec![tag_id_field.to_owned()],
        formula: None,
    };
    let records = client.list_records(&settings.tags_table, &query).await?;
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
    let tag_ids: Vec<String> = sqlx::query_scalar("SELECT tag_id FROM tags ORDER BY tag_id")
        .fetch_all(pool)
        .await?;
    Ok(tag_ids.into_iter().filter(|id| !map.knows(id)).collect())
}
