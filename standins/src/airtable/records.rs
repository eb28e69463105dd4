//! The record endpoints: list records (`GET /v0/{base}/{table}`, or `POST
//! …/listRecords` when the URL would be too long) and update records
//! (`PATCH /v0/{base}/{table}`).
//!
//! Listing: `pageSize` 1..=100 with `offset` paging; `fields[]` by field
//! name or field id (`fld…`), records keyed by id with
//! `returnFieldsByFieldId`; `filterByFormula` naming fields by `{name}`
//! only (developers/web/api/list-records). Updating: at most 10 records per
//! PATCH ("Updates up to 10 records", developers/web/api/
//! update-multiple-records), keys by name or id; linked cells written as
//! arrays of record-id strings; unknown multi-select options refused
//! without `typecast`; the whole request checked before any of it is
//! applied. Refusals: 422 `UNKNOWN_FIELD_NAME` for an unknown field,
//! 422 `INVALID_FILTER_BY_FORMULA` for a bad formula, 422
//! `ROW_DOES_NOT_EXIST` for a PATCH of a record that is not in the table,
//! 403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND` for an unknown table.
//! Airtable documents the families (404 not found, 422 "most of the
//! base-specific validations") but not each type: these are what the API
//! is seen to answer.
//!
//! Every cell a PATCH changes is a payload for the webhooks that watch it.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::admission::Needs;
use super::base::Base;
use super::errors::{error, invalid_body, not_permitted, unknown_field, Reply};
use super::formula;
use super::server::{handle, Call, Shared, Written};
use super::tables::{Field, StoredRecord, Table};
use super::webhooks::{CellChange, Source};
use crate::form::url_pairs;

/// "Updates up to 10 records" (developers/web/api/update-multiple-records).
const MAX_RECORDS_PER_WRITE: usize = 10;
/// The `createdTime` every record shows.
const CREATED_TIME: &str = "2026-01-01T00:00:00.000Z";

/// The options of a list request, from either the query string or a body.
#[derive(Default)]
struct ListOptions {
    page_size: Option<String>,
    offset: Option<String>,
    fields: Vec<String>,
    formula: Option<String>,
    by_field_id: bool,
}

impl ListOptions {
    fn from_query(query: &str) -> ListOptions {
        let mut options = ListOptions::default();
        for (key, value) in url_pairs(query) {
            match key.as_str() {
                "pageSize" => options.page_size = Some(value),
                "offset" => options.offset = Some(value),
                "fields[]" => options.fields.push(value),
                "filterByFormula" => options.formula = Some(value),
                "returnFieldsByFieldId" => options.by_field_id = value == "true" || value == "1",
                _ => {}
            }
        }
        options
    }

    fn from_body(body: &Value) -> ListOptions {
        let text = |key: &str| match body.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        ListOptions {
            page_size: text("pageSize"),
            offset: text("offset"),
            fields: body
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            formula: text("filterByFormula"),
            by_field_id: body.get("returnFieldsByFieldId") == Some(&Value::Bool(true)),
        }
    }
}

pub(super) async fn list_get(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    call: Call,
) -> Response {
    let options = ListOptions::from_query(query.as_deref().unwrap_or(""));
    let request = call.to(&base_id, Needs::ReadRecords);
    handle(&state, request, Written::default(), |base| {
        list(base, &table, &options)
    })
    .await
}

pub(super) async fn list_post(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    call: Call,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let request = call.to(&base_id, Needs::ReadRecords);
    handle(&state, request, Written::default(), |base| {
        let Ok(body) = parsed else {
            return invalid_body();
        };
        list(base, &table, &ListOptions::from_body(&body))
    })
    .await
}

fn list(base: &Base, table: &str, options: &ListOptions) -> Reply {
    let Some(table) = base.table(table) else {
        return not_permitted();
    };
    listed(table, options).unwrap_or_else(|refused| refused)
}

/// One page of `table`'s records, as `options` ask.
fn listed(table: &Table, options: &ListOptions) -> Result<Reply, Reply> {
    let page_size = page_size(options)?;
    let mut shown_fields = Vec::new();
    for key in &options.fields {
        match table.field(key) {
            Some(field) => shown_fields.push(field),
            None => return Err(unknown_field(key)),
        }
    }
    let filter = filter(table, options)?;
    let start = start(options)?;
    let matching: Vec<&StoredRecord> = table
        .records
        .iter()
        .filter(|record| {
            filter.as_ref().is_none_or(|expr| {
                formula::matches(expr, &record.id, &table.shown(record, false, &[]))
            })
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .map(|record| {
            let fields = table.shown(record, options.by_field_id, &shown_fields);
            json!({ "id": record.id, "createdTime": CREATED_TIME, "fields": fields })
        })
        .collect();
    let mut reply = json!({ "records": page });
    if start + page_size < matching.len() {
        reply["offset"] = Value::String(format!("itr{}", start + page_size));
    }
    Ok((StatusCode::OK, reply))
}

fn page_size(options: &ListOptions) -> Result<usize, Reply> {
    match options.page_size.as_deref().map(str::parse::<usize>) {
        None => Ok(100),
        Some(Ok(n)) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_REQUEST_UNKNOWN",
            "pageSize must be from 1 to 100",
        )),
    }
}

/// The `filterByFormula`, parsed, its fields known to `table` by name.
fn filter(table: &Table, options: &ListOptions) -> Result<Option<formula::Expr>, Reply> {
    let invalid = |why: String| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FILTER_BY_FORMULA",
            format!("The formula for filtering records is invalid: {why}"),
        )
    };
    let Some(parsed) = options
        .formula
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(formula::parse)
    else {
        return Ok(None);
    };
    let expr = parsed.map_err(invalid)?;
    let mut referenced = Vec::new();
    formula::fields(&expr, &mut referenced);
    // Formulas name fields by {name}; an id in braces is unknown.
    if let Some(unknown) = referenced
        .iter()
        .find(|name| !table.fields.iter().any(|f| &f.name == *name))
    {
        return Err(invalid(format!("Unknown field names: {unknown}")));
    }
    Ok(Some(expr))
}

/// Where the page starts: the `offset` a previous page gave.
fn start(options: &ListOptions) -> Result<usize, Reply> {
    let Some(offset) = options.offset.as_deref() else {
        return Ok(0);
    };
    offset
        .strip_prefix("itr")
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                "Invalid offset",
            )
        })
}

pub(super) async fn update(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    call: Call,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let records = parsed
        .as_ref()
        .ok()
        .and_then(|b| b.get("records"))
        .and_then(Value::as_array);
    let written = Written {
        records: records
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
        keys: records
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("fields").and_then(Value::as_object))
            .flat_map(|fields| fields.keys().cloned())
            .collect(),
    };
    let request = call.to(&base_id, Needs::WriteRecords);
    handle(&state, request, written, |base| {
        let Ok(body) = parsed else {
            return invalid_body();
        };
        patch(base, &table, &body).unwrap_or_else(|refused| refused)
    })
    .await
}

/// What a checked PATCH will do: each record's cells by field id, and the
/// multi-select options `typecast` adds (field id, option).
#[derive(Default)]
struct Patch {
    cells: Vec<(String, Map<String, Value>)>,
    new_options: Vec<(String, String)>,
}

/// Validates the whole request, then applies it: all or nothing.
fn patch(base: &mut Base, table_key: &str, body: &Value) -> Result<Reply, Reply> {
    let typecast = body.get("typecast") == Some(&Value::Bool(true));
    let by_field_id = body.get("returnFieldsByFieldId") == Some(&Value::Bool(true));
    let records = records_of(body)?;
    let table = base.table(table_key).ok_or_else(not_permitted)?;
    let patch = checked(base, table, records, typecast)?;
    let table_id = apply(base, table_key, patch).ok_or_else(not_permitted)?;
    let table = base.table(&table_id).ok_or_else(not_permitted)?;
    let written: Vec<Value> = records
        .iter()
        .filter_map(|record| record.get("id").and_then(Value::as_str))
        .filter_map(|id| table.record(id))
        .map(|stored| {
            let fields = table.shown(stored, by_field_id, &[]);
            json!({ "id": stored.id, "createdTime": CREATED_TIME, "fields": fields })
        })
        .collect();
    Ok((StatusCode::OK, json!({ "records": written })))
}

/// The body's `records`: 1 to 10 of them.
fn records_of(body: &Value) -> Result<&Vec<Value>, Reply> {
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_RECORDS",
            "records must be an array",
        ));
    };
    if records.is_empty() || records.len() > MAX_RECORDS_PER_WRITE {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_RECORDS",
            format!(
                "You must provide an array of up to 10 record objects, got {}",
                records.len()
            ),
        ));
    }
    Ok(records)
}

/// Every record and cell of the request checked against `table`.
fn checked(base: &Base, table: &Table, records: &[Value], typecast: bool) -> Result<Patch, Reply> {
    let mut patch = Patch::default();
    for record in records {
        let Some(id) = record.get("id").and_then(Value::as_str) else {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_RECORDS",
                "Each record needs an id",
            ));
        };
        if table.record(id).is_none() {
            return Err(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ROW_DOES_NOT_EXIST",
                format!("Record ID {id} does not exist in this table"),
            ));
        }
        let mut cells = Map::new();
        for (key, value) in record
            .get("fields")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let field = table.field(key).ok_or_else(|| unknown_field(key))?;
            check_cell(base, field, value, typecast, &mut patch.new_options)?;
            cells.insert(field.id.clone(), value.clone());
        }
        patch.cells.push((id.to_owned(), cells));
    }
    Ok(patch)
}

/// Writes a checked patch and hands its changes to the webhooks; the
/// table's id, or None when it is gone.
fn apply(base: &mut Base, table_key: &str, patch: Patch) -> Option<String> {
    let table = base.table_mut(table_key)?;
    for (field_id, option) in patch.new_options {
        if let Some(field) = table.fields.iter_mut().find(|f| f.id == field_id) {
            if !field.choices.contains(&option) {
                field.choices.push(option);
            }
        }
    }
    let mut cell_changes = Vec::new();
    for (id, cells) in patch.cells {
        if let Some(record) = table.records.iter_mut().find(|r| r.id == id) {
            for (field, value) in cells {
                let previous = record.cells.insert(field.clone(), value.clone());
                cell_changes.push(CellChange {
                    record: id.clone(),
                    field,
                    previous: previous.unwrap_or(Value::Null),
                    current: value,
                });
            }
        }
    }
    let table_id = table.id.clone();
    base.record_changes(&table_id, &cell_changes, &Source::PublicApi);
    Some(table_id)
}

fn check_cell(
    base: &Base,
    field: &Field,
    value: &Value,
    typecast: bool,
    new_options: &mut Vec<(String, String)>,
) -> Result<(), Reply> {
    let invalid = |why: &str| {
        error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_VALUE_FOR_COLUMN",
            format!(
                "Field \"{}\" cannot accept the provided value: {why}",
                field.name
            ),
        )
    };
    match field.kind.as_str() {
        "multipleRecordLinks" => {
            let Some(items) = value.as_array() else {
                return Err(invalid("expected an array of record ids"));
            };
            let linked = field.linked_table.as_deref().and_then(|t| base.table(t));
            for item in items {
                let Some(id) = item.as_str() else {
                    return Err(invalid(
                        "linked records are written as an array of record id strings",
                    ));
                };
                if linked.is_none_or(|t| t.record(id).is_none()) {
                    return Err(error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "ROW_DOES_NOT_EXIST",
                        format!("Record ID {id} does not exist in the linked table"),
                    ));
                }
            }
        }
        "multipleSelects" => {
            let Some(items) = value.as_array() else {
                return Err(invalid("expected an array of option names"));
            };
            for item in items {
                let Some(name) = item.as_str() else {
                    return Err(invalid("options are written as names"));
                };
                if !field.choices.iter().any(|c| c == name) {
                    if !typecast {
                        return Err(error(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "INVALID_MULTIPLE_CHOICE_OPTIONS",
                            format!("Insufficient permissions to create new select option \"\"{name}\"\""),
                        ));
                    }
                    new_options.push((field.id.clone(), name.to_owned()));
                }
            }
        }
        _ => {
            if !(value.is_string() || value.is_null()) {
                return Err(invalid("expected text"));
            }
        }
    }
    Ok(())
}
