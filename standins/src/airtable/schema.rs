//! The base's schema (`GET /v0/meta/bases/{base}/tables`,
//! developers/web/api/get-base-schema): every table with its primary
//! field and its fields' ids, names, types and options.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::admission::Needs;
use super::server::{handle, Call, Shared, Written};
use super::tables::Table;

pub(super) async fn schema(
    State(state): Shared,
    Path(base_id): Path<String>,
    call: Call,
) -> Response {
    let request = call.to(&base_id, Needs::ReadSchema);
    handle(&state, request, Written::default(), |base| {
        let tables: Vec<Value> = base.tables.iter().map(table_schema).collect();
        (StatusCode::OK, json!({ "tables": tables }))
    })
    .await
}

fn table_schema(table: &Table) -> Value {
    let fields: Vec<Value> = table
        .fields
        .iter()
        .map(|f| {
            let mut field = json!({ "id": f.id, "name": f.name, "type": f.kind });
            if let Some(linked) = &f.linked_table {
                field["options"] = json!({ "linkedTableId": linked });
            } else if f.kind == "multipleSelects" {
                let choices: Vec<Value> = f
                    .choices
                    .iter()
                    .enumerate()
                    .map(|(i, name)| json!({ "id": format!("sel{i:014}"), "name": name }))
                    .collect();
                field["options"] = json!({ "choices": choices });
            }
            field
        })
        .collect();
    json!({
        "id": table.id,
        "name": table.name,
        "primaryFieldId": table.fields.first().map(|f| f.id.clone()),
        "fields": fields,
    })
}
