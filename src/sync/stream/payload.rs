//! Webhook payloads (api/model/webhooks-payload) read as changes to the
//! Lectures table's tags cells: which record, the cell before and after,
//! the lecture id when the payload carries it, who made the change and in
//! which base transaction.
//!
//! Cells arrive in the V2 format (api/field-model): a linked record as
//! `{id, name}`, a select option as `{id, name, color}`. tagbot writes
//! record ids and option names, so each value is read back as that.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::airtable::TagsField;
pub use crate::domain::Author;

/// One change to one record's tags cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagsChange {
    pub transaction: i64,
    pub at: DateTime<Utc>,
    pub author: Author,
    pub record_id: String,
    /// The lecture id cell, when the payload carries it.
    pub lecture: Option<String>,
    /// None when the payload does not say (a webhook without previous
    /// values); a record created in the change had nothing.
    pub previous: Option<Vec<String>>,
    /// In the cell's order.
    pub current: Vec<String>,
}

/// Which cells of which table to read from payloads.
#[derive(Debug, Clone)]
pub struct Watched<'a> {
    pub table_id: &'a str,
    pub tags_field_id: &'a str,
    pub lecture_field_id: &'a str,
    pub field: &'a TagsField,
}

/// The webhook stopped for good: its specification no longer fits the
/// base (a field or table deleted), and Airtable says to create a new one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the change-stream webhook reported {code}; a new one is needed")]
pub struct BrokenHook {
    pub code: String,
}

/// The payloads' changes to the watched tags cells, in stream order.
pub fn tags_changes(payloads: &[Value], watched: &Watched) -> Result<Vec<TagsChange>, BrokenHook> {
    let mut changes = Vec::new();
    for payload in payloads {
        if payload["error"] == true {
            let code = payload["code"].as_str().unwrap_or("an error").to_owned();
            return Err(BrokenHook { code });
        }
        let transaction = payload["baseTransactionNumber"].as_i64().unwrap_or(0);
        let at = payload["timestamp"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        let author = author(&payload["actionMetadata"]);
        let table = &payload["changedTablesById"][watched.table_id];
        let changed = table["changedRecordsById"]
            .as_object()
            .into_iter()
            .flatten();
        for (record_id, change) in changed {
            let Some(current) = change["current"]["cellValuesByFieldId"].get(watched.tags_field_id)
            else {
                continue;
            };
            let previous = change["previous"]["cellValuesByFieldId"]
                .get(watched.tags_field_id)
                .map(|cell| values(cell, watched.field));
            let lecture = ["current", "unchanged", "previous"]
                .iter()
                .find_map(|part| {
                    change[part]["cellValuesByFieldId"][watched.lecture_field_id]
                        .as_str()
                        .map(str::to_owned)
                });
            changes.push(TagsChange {
                transaction,
                at,
                author: author.clone(),
                record_id: record_id.clone(),
                lecture,
                previous,
                current: values(current, watched.field),
            });
        }
        let created = table["createdRecordsById"]
            .as_object()
            .into_iter()
            .flatten();
        for (record_id, record) in created {
            let cells = &record["cellValuesByFieldId"];
            changes.push(TagsChange {
                transaction,
                at,
                author: author.clone(),
                record_id: record_id.clone(),
                lecture: cells[watched.lecture_field_id].as_str().map(str::to_owned),
                previous: Some(Vec::new()),
                current: values(&cells[watched.tags_field_id], watched.field),
            });
        }
    }
    Ok(changes)
}

/// A record that no longer holds the lecture the stream knew it by: its
/// lecture id changed (`Some`: the new one) or was emptied, or the record
/// was deleted (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relabel {
    pub record_id: String,
    pub lecture: Option<String>,
}

/// The payloads' changes to which lecture each record is, in stream order.
pub fn relabels(payloads: &[Value], watched: &Watched) -> Vec<Relabel> {
    let mut relabels = Vec::new();
    for payload in payloads {
        let table = &payload["changedTablesById"][watched.table_id];
        for (record_id, change) in table["changedRecordsById"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if let Some(cell) =
                change["current"]["cellValuesByFieldId"].get(watched.lecture_field_id)
            {
                relabels.push(Relabel {
                    record_id: record_id.clone(),
                    lecture: cell.as_str().filter(|l| !l.is_empty()).map(str::to_owned),
                });
            }
        }
        for record_id in table["destroyedRecordIds"].as_array().into_iter().flatten() {
            if let Some(record_id) = record_id.as_str() {
                relabels.push(Relabel {
                    record_id: record_id.to_owned(),
                    lecture: None,
                });
            }
        }
    }
    relabels
}

fn author(action: &Value) -> Author {
    let user = &action["sourceMetadata"]["user"];
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Author {
        source: action["source"].as_str().unwrap_or("unknown").to_owned(),
        user_id: text(&user["id"]),
        name: text(&user["name"]),
        email: text(&user["email"]),
    }
}

/// A V2 tags cell as the values tagbot writes, in the cell's order:
/// linked records by id, select options by name. Null (an empty cell) is
/// no values.
pub fn values(cell: &Value, field: &TagsField) -> Vec<String> {
    let key = match field {
        TagsField::Linked => "id",
        TagsField::MultiSelect { .. } => "name",
    };
    cell.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get(key).and_then(Value::as_str).map(str::to_owned),
            _ => None,
        })
        .fold(Vec::new(), |mut values, value| {
            if !values.contains(&value) {
                values.push(value);
            }
            values
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WATCHED: Watched = Watched {
        table_id: "tblLectures",
        tags_field_id: "fldTags",
        lecture_field_id: "fldLecture",
        field: &TagsField::Linked,
    };

    #[test]
    fn a_person_changing_linked_tags_reads_as_ids_before_and_after() {
        let payload = json!({
            "timestamp": "2026-11-29T10:00:00.000Z",
            "baseTransactionNumber": 7,
            "actionMetadata": { "source": "client", "sourceMetadata": { "user": { "id": "usrDana", "email": "dana@example.com", "name": "דנה" } } },
            "payloadFormat": "v0",
            "changedTablesById": { "tblLectures": { "changedRecordsById": {
                "recA": {
                    "current": { "cellValuesByFieldId": { "fldTags": [{ "id": "recT1", "name": "א" }, { "id": "recT2", "name": "ב" }] } },
                    "previous": { "cellValuesByFieldId": { "fldTags": [{ "id": "recT1", "name": "א" }] } },
                    "unchanged": { "cellValuesByFieldId": { "fldLecture": "L1" } },
                },
                "recB": { "current": { "cellValuesByFieldId": { "fldOther": "x" } } },
            } } },
        });
        let changes = tags_changes(&[payload], &WATCHED).unwrap();
        assert_eq!(changes.len(), 1, "only the tags cell is read");
        let change = &changes[0];
        assert_eq!(change.record_id, "recA");
        assert_eq!(change.lecture.as_deref(), Some("L1"));
        assert_eq!(change.transaction, 7);
        assert_eq!(change.author.describe(), "דנה");
        assert!(!change.author.is_api());
        assert_eq!(change.previous, Some(vec!["recT1".to_owned()]));
        assert_eq!(change.current, ["recT1", "recT2"]);
    }

    #[test]
    fn a_changed_lecture_id_or_a_deleted_record_is_a_relabel() {
        let payload = json!({
            "baseTransactionNumber": 9,
            "actionMetadata": { "source": "client" },
            "changedTablesById": { "tblLectures": {
                "changedRecordsById": { "recA": { "current": { "cellValuesByFieldId": { "fldLecture": "L9" } } } },
                "destroyedRecordIds": ["recB"],
            } },
        });
        assert_eq!(
            relabels(&[payload], &WATCHED),
            [
                Relabel {
                    record_id: "recA".into(),
                    lecture: Some("L9".into())
                },
                Relabel {
                    record_id: "recB".into(),
                    lecture: None
                },
            ]
        );
    }

    #[test]
    fn select_options_read_by_name_and_an_emptied_cell_reads_as_none() {
        let field = TagsField::MultiSelect { options: None };
        let cell = json!([{ "id": "selX", "name": "אמנות", "color": "blueLight2" }]);
        assert_eq!(values(&cell, &field), ["אמנות"]);
        assert!(values(&Value::Null, &field).is_empty());
    }

    #[test]
    fn an_error_payload_says_the_webhook_must_be_made_again() {
        let payload =
            json!({ "error": true, "code": "INVALID_FILTERS", "baseTransactionNumber": 3 });
        let err = tags_changes(&[payload], &WATCHED).unwrap_err();
        assert_eq!(err.code, "INVALID_FILTERS");
    }

    #[test]
    fn who_made_a_change_falls_back_from_name_to_email_to_its_kind() {
        let mut author = Author {
            source: "automation".into(),
            user_id: None,
            name: Some(" ".into()),
            email: None,
        };
        assert_eq!(author.describe(), "an Airtable automation");
        author.email = Some("ops@example.com".into());
        assert_eq!(author.describe(), "ops@example.com");
    }
}
