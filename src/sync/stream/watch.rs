//! What tagbot's webhook watches: the Lectures table, its tags field and
//! its lecture id field, by id.

use serde_json::Value;

use crate::airtable::webhooks::tags_specification;
use crate::sync::mapping::BaseKeys;

/// What tagbot's webhook watches, by id as webhooks require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub table_id: String,
    pub tags_field_id: String,
    pub lecture_field_id: String,
}

impl Watch {
    /// The watch for a mapping whose keys are ids; otherwise why there
    /// can be none.
    pub fn of(keys: &BaseKeys) -> Result<Watch, String> {
        match (&keys.lectures_table_id, keys.by_field_id) {
            (Some(table_id), true) => Ok(Watch {
                table_id: table_id.clone(),
                tags_field_id: keys.tags.clone(),
                lecture_field_id: keys.lecture_id.clone(),
            }),
            _ => Err("the change stream names tables and fields by id, which needs the schema.bases:read scope".to_owned()),
        }
    }

    /// The watch as one string, to compare with the stored one.
    pub(super) fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.table_id, self.tags_field_id, self.lecture_field_id
        )
    }

    pub(super) fn specification(&self) -> Value {
        tags_specification(&self.table_id, &self.tags_field_id, &self.lecture_field_id)
    }
}
