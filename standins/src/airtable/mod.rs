//! A fake Airtable Web API: one base, its tables and records in memory,
//! served over HTTP on loopback.
//!
//! It enforces what tagbot relies on: bearer-token auth, the 16,000-character
//! URL limit, `pageSize` <= 100 with `offset` paging, `fields[]` and
//! `filterByFormula`, at most 10 records per PATCH (422 past it), linked
//! cells written as arrays of record-id strings, unknown multi-select options
//! refused without `typecast`, and 5 requests per second per base with a 429
//! and a 30-second penalty (window, limit and penalty configurable). Error
//! bodies have Airtable's shape. Tests can script failures, add latency,
//! edit records "by hand", and read the request log.

mod formula;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// Airtable's URL limit.
const MAX_URL_CHARS: usize = 16_000;
const MAX_RECORDS_PER_WRITE: usize = 10;

/// How the fake paces its callers.
#[derive(Debug, Clone)]
pub struct RateLimit {
    pub requests: usize,
    pub window: Duration,
    pub penalty: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests: 5,
            window: Duration::from_secs(1),
            penalty: Duration::from_secs(30),
        }
    }
}

/// How the Lectures table holds tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagsFieldKind {
    Linked,
    MultiSelect,
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// The ids of the records a successful PATCH wrote, in body order.
    pub records_written: Vec<String>,
}

#[derive(Debug, Clone)]
struct Field {
    id: String,
    name: String,
    kind: String,
    /// Linked: the table linked to. Multi-select: the option names.
    linked_table: Option<String>,
    choices: Vec<String>,
}

#[derive(Debug, Clone)]
struct Table {
    id: String,
    name: String,
    fields: Vec<Field>,
    records: Vec<(String, Map<String, Value>)>,
}

#[derive(Debug)]
struct Fault {
    method: Method,
    status: u16,
    body: Value,
    remaining: usize,
}

#[derive(Debug)]
struct Base {
    base_id: String,
    token: String,
    tables: Vec<Table>,
    rate: RateLimit,
    recent: VecDeque<Instant>,
    penalized_until: Option<Instant>,
    latency: Duration,
    response_delay: Duration,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
    next_id: u64,
}

/// A running fake; dropping it leaves the server running until `shutdown`.
#[derive(Clone)]
pub struct FakeAirtable {
    base: Arc<Mutex<Base>>,
    pub url: String,
    served: crate::Served,
}

type Reply = (StatusCode, Value);

fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Reply {
    (
        status,
        json!({ "error": { "type": kind, "message": message.into() } }),
    )
}

impl FakeAirtable {
    /// Starts a fake for `base_id` accepting `token`, with a Lectures table
    /// (`Name`, `external_id`, `Tags`) and a Tags table (`Name`, `tag_id`).
    pub async fn start(
        base_id: &str,
        token: &str,
        tags: TagsFieldKind,
        rate: RateLimit,
    ) -> std::io::Result<FakeAirtable> {
        let tags_table = Table {
            id: "tblTags000000001".into(),
            name: "Tags".into(),
            fields: vec![
                text_field("fldTagName", "Name"),
                text_field("fldTagId", "tag_id"),
            ],
            records: Vec::new(),
        };
        let tags_field = match tags {
            TagsFieldKind::Linked => Field {
                id: "fldLectureTags".into(),
                name: "Tags".into(),
                kind: "multipleRecordLinks".into(),
                linked_table: Some(tags_table.id.clone()),
                choices: Vec::new(),
            },
            TagsFieldKind::MultiSelect => Field {
                id: "fldLectureTags".into(),
                name: "Tags".into(),
                kind: "multipleSelects".into(),
                linked_table: None,
                choices: Vec::new(),
            },
        };
        let lectures = Table {
            id: "tblLectures00001".into(),
            name: "Lectures".into(),
            fields: vec![
                text_field("fldLectureName", "Name"),
                text_field("fldLectureExtId", "external_id"),
                tags_field,
            ],
            records: Vec::new(),
        };
        let base = Arc::new(Mutex::new(Base {
            base_id: base_id.to_owned(),
            token: token.to_owned(),
            tables: vec![lectures, tags_table],
            rate,
            recent: VecDeque::new(),
            penalized_until: None,
            latency: Duration::ZERO,
            response_delay: Duration::ZERO,
            faults: Vec::new(),
            log: Vec::new(),
            next_id: 1,
        }));
        let app = Router::new()
            .route("/v0/meta/bases/{base}/tables", get(schema))
            .route("/v0/{base}/{table}", get(list_get).patch(update))
            .route("/v0/{base}/{table}/listRecords", post(list_post))
            .fallback(not_found)
            .with_state(Arc::clone(&base));
        let served = crate::Served::start(app, "fake Airtable").await?;
        Ok(FakeAirtable {
            base,
            url: served.url.clone(),
            served,
        })
    }

    pub fn shutdown(&self) {
        self.served.shutdown();
    }

    fn lock(&self) -> MutexGuard<'_, Base> {
        self.base
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a record and returns its id.
    pub fn add_record(&self, table: &str, fields: Value) -> String {
        let mut base = self.lock();
        let id = base.new_record_id();
        if let Some(t) = base.table_mut(table) {
            t.records
                .push((id.clone(), fields.as_object().cloned().unwrap_or_default()));
        }
        id
    }

    pub fn add_lecture(&self, external_id: &str, name: &str) -> String {
        self.add_record(
            "Lectures",
            json!({ "Name": name, "external_id": external_id }),
        )
    }

    pub fn add_tag(&self, tag_id: &str, name: &str) -> String {
        self.add_record("Tags", json!({ "Name": name, "tag_id": tag_id }))
    }

    /// Adds a multi-select option to the Lectures `Tags` field.
    pub fn add_tag_option(&self, name: &str) {
        let mut base = self.lock();
        if let Some(field) = base
            .table_mut("Lectures")
            .and_then(|t| t.fields.iter_mut().find(|f| f.name == "Tags"))
        {
            field.choices.push(name.to_owned());
        }
    }

    /// Sets a cell as a person would in the Airtable UI.
    pub fn set_cell(&self, table: &str, record_id: &str, field: &str, value: Value) {
        let mut base = self.lock();
        if let Some(t) = base.table_mut(table) {
            if let Some((_, fields)) = t.records.iter_mut().find(|(id, _)| id == record_id) {
                fields.insert(field.to_owned(), value);
            }
        }
    }

    /// A cell's current value (Null when empty).
    pub fn cell(&self, table: &str, record_id: &str, field: &str) -> Value {
        let base = self.lock();
        base.table(table)
            .and_then(|t| t.records.iter().find(|(id, _)| id == record_id))
            .and_then(|(_, fields)| fields.get(field).cloned())
            .unwrap_or(Value::Null)
    }

    /// Removes a field from the schema (to test configuration checks).
    pub fn remove_field(&self, table: &str, field: &str) {
        let mut base = self.lock();
        if let Some(t) = base.table_mut(table) {
            t.fields.retain(|f| f.name != field);
        }
    }

    /// The next `count` requests with `method` get `status` and `body`.
    pub fn fail_next(&self, method: Method, count: usize, status: u16, body: Value) {
        self.lock().faults.push(Fault {
            method,
            status,
            body,
            remaining: count,
        });
    }

    /// Every request waits this long before it is looked at.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Every request is carried out, then waits this long before the answer
    /// is sent: a client that dies meanwhile has changed Airtable without
    /// learning it.
    pub fn set_response_delay(&self, delay: Duration) {
        self.lock().response_delay = delay;
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    pub fn count(&self, method: &str, status: u16) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.method == method && r.status == status)
            .count()
    }

    pub fn rate_limited(&self) -> usize {
        self.lock().log.iter().filter(|r| r.status == 429).count()
    }
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

impl Base {
    fn new_record_id(&mut self) -> String {
        self.next_id += 1;
        format!("rec{:014}", self.next_id)
    }

    fn table(&self, name_or_id: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }

    fn table_mut(&mut self, name_or_id: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }

    /// Auth, base, URL length, rate limit and scripted faults, in that order.
    fn admit(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        base_id: &str,
    ) -> Result<(), Reply> {
        if uri.to_string().len() > MAX_URL_CHARS {
            return Err(error(
                StatusCode::URI_TOO_LONG,
                "URL_TOO_LONG",
                "The URL exceeds the limit of 16000 characters; use the POST listRecords endpoint",
            ));
        }
        let expected = format!("Bearer {}", self.token);
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "AUTHENTICATION_REQUIRED",
                "Authentication required",
            ));
        }
        if base_id != self.base_id {
            return Err(error(
                StatusCode::FORBIDDEN,
                "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
                "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
            ));
        }
        let now = Instant::now();
        let rate_limited = (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "errors": [{ "error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later" }] }),
        );
        if self.penalized_until.is_some_and(|until| now < until) {
            return Err(rate_limited);
        }
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.rate.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= self.rate.requests {
            self.penalized_until = Some(now + self.rate.penalty);
            return Err(rate_limited);
        }
        self.recent.push_back(now);
        if let Some(fault) = self
            .faults
            .iter_mut()
            .find(|f| f.method == method && f.remaining > 0)
        {
            fault.remaining -= 1;
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err((status, fault.body.clone()));
        }
        Ok(())
    }

    fn log(
        &mut self,
        method: &Method,
        uri: &Uri,
        status: StatusCode,
        records_written: Vec<String>,
    ) {
        self.log.push(LoggedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            status: status.as_u16(),
            at: Instant::now(),
            records_written,
        });
    }
}

type Shared = State<Arc<Mutex<Base>>>;

/// Runs one request: latency, admission, the handler, and the log entry.
async fn handle(
    state: &Arc<Mutex<Base>>,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    base_id: &str,
    records_written: Vec<String>,
    work: impl FnOnce(&mut Base) -> Reply,
) -> Response {
    let latency = state.lock().map(|b| b.latency).unwrap_or_default();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    // The guard must not live across an await: scope it.
    let (status, body, response_delay) = {
        let mut base = state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (status, body) = match base.admit(&method, uri, headers, base_id) {
            Ok(()) => work(&mut base),
            Err(reply) => reply,
        };
        let written = if status.is_success() {
            records_written
        } else {
            Vec::new()
        };
        base.log(&method, uri, status, written);
        (status, body, base.response_delay)
    };
    if !response_delay.is_zero() {
        tokio::time::sleep(response_delay).await;
    }
    (status, Json(body)).into_response()
}

async fn schema(
    State(state): Shared,
    Path(base_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    handle(&state, method, &uri, &headers, &base_id, Vec::new(), |base| {
        let tables: Vec<Value> = base
            .tables
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "name": t.name,
                    "primaryFieldId": t.fields.first().map(|f| f.id.clone()),
                    "fields": t.fields.iter().map(|f| {
                        let mut field = json!({ "id": f.id, "name": f.name, "type": f.kind });
                        if let Some(linked) = &f.linked_table {
                            field["options"] = json!({ "linkedTableId": linked });
                        } else if f.kind == "multipleSelects" {
                            field["options"] = json!({ "choices": f.choices.iter().enumerate().map(|(i, name)| json!({ "id": format!("sel{i:014}"), "name": name })).collect::<Vec<_>>() });
                        }
                        field
                    }).collect::<Vec<_>>(),
                })
            })
            .collect();
        (StatusCode::OK, json!({ "tables": tables }))
    })
    .await
}

/// The options of a list request, from either the query string or a body.
#[derive(Default)]
struct ListOptions {
    page_size: Option<String>,
    offset: Option<String>,
    fields: Vec<String>,
    formula: Option<String>,
}

async fn list_get(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut options = ListOptions::default();
    for (key, value) in url_pairs(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "pageSize" => options.page_size = Some(value),
            "offset" => options.offset = Some(value),
            "fields[]" => options.fields.push(value),
            "filterByFormula" => options.formula = Some(value),
            _ => {}
        }
    }
    handle(
        &state,
        method,
        &uri,
        &headers,
        &base_id,
        Vec::new(),
        |base| list(base, &table, &options),
    )
    .await
}

async fn list_post(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    handle(
        &state,
        method,
        &uri,
        &headers,
        &base_id,
        Vec::new(),
        |base| {
            let Ok(body) = parsed else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST_BODY",
                    "Could not parse the request body as JSON",
                );
            };
            let text = |key: &str| match body.get(key) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let options = ListOptions {
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
            };
            list(base, &table, &options)
        },
    )
    .await
}

fn list(base: &Base, table: &str, options: &ListOptions) -> Reply {
    let Some(table) = base.table(table) else {
        return error(
            StatusCode::NOT_FOUND,
            "TABLE_NOT_FOUND",
            format!("Could not find table {table} in the base"),
        );
    };
    let page_size = match options.page_size.as_deref().map(str::parse::<usize>) {
        None => 100,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_REQUEST_UNKNOWN",
                "pageSize must be from 1 to 100",
            )
        }
    };
    for field in &options.fields {
        if !table.fields.iter().any(|f| &f.name == field) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "UNKNOWN_FIELD_NAME",
                format!("Unknown field name: \"{field}\""),
            );
        }
    }
    let filter = match options
        .formula
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(formula::parse)
    {
        None => None,
        Some(Ok(expr)) => {
            let mut referenced = Vec::new();
            formula::fields(&expr, &mut referenced);
            if let Some(unknown) = referenced
                .iter()
                .find(|name| !table.fields.iter().any(|f| &f.name == *name))
            {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_FILTER_BY_FORMULA",
                    format!("Unknown field names: {unknown}"),
                );
            }
            Some(expr)
        }
        Some(Err(reason)) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_FILTER_BY_FORMULA",
                format!("The formula for filtering records is invalid: {reason}"),
            )
        }
    };
    let start = match options.offset.as_deref() {
        None => 0,
        Some(offset) => match offset
            .strip_prefix("itr")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) => n,
            None => {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "LIST_RECORDS_ITERATOR_NOT_AVAILABLE",
                    "Invalid offset",
                )
            }
        },
    };
    let matching: Vec<&(String, Map<String, Value>)> = table
        .records
        .iter()
        .filter(|(_, fields)| {
            filter
                .as_ref()
                .is_none_or(|expr| formula::matches(expr, fields))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .map(|(id, fields)| {
            let shown: Map<String, Value> = fields
                .iter()
                .filter(|(name, value)| {
                    (options.fields.is_empty() || options.fields.contains(name))
                        && !is_empty_cell(value)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            json!({ "id": id, "createdTime": "2026-01-01T00:00:00.000Z", "fields": shown })
        })
        .collect();
    let mut reply = json!({ "records": page });
    if start + page_size < matching.len() {
        reply["offset"] = Value::String(format!("itr{}", start + page_size));
    }
    (StatusCode::OK, reply)
}

/// Airtable leaves empty cells out of records.
fn is_empty_cell(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

async fn update(
    State(state): Shared,
    Path((base_id, table)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let ids: Vec<String> = parsed
        .as_ref()
        .ok()
        .and_then(|b| b.get("records"))
        .and_then(Value::as_array)
        .map(|records| {
            records
                .iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    handle(&state, method, &uri, &headers, &base_id, ids, |base| {
        let Ok(body) = parsed else {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_BODY",
                "Could not parse the request body as JSON",
            );
        };
        patch(base, &table, &body)
    })
    .await
}

/// Validates the whole request, then applies it: all or nothing.
fn patch(base: &mut Base, table_name: &str, body: &Value) -> Reply {
    let typecast = body
        .get("typecast")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_RECORDS",
            "records must be an array",
        );
    };
    if records.is_empty() || records.len() > MAX_RECORDS_PER_WRITE {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_RECORDS",
            format!(
                "You must provide an array of up to 10 record objects, got {}",
                records.len()
            ),
        );
    }
    let Some(table) = base.table(table_name).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "TABLE_NOT_FOUND",
            format!("Could not find table {table_name} in the base"),
        );
    };
    let mut new_options: Vec<String> = Vec::new();
    let mut changes: Vec<(String, Map<String, Value>)> = Vec::new();
    for record in records {
        let Some(id) = record.get("id").and_then(Value::as_str) else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_RECORDS",
                "Each record needs an id",
            );
        };
        if !table.records.iter().any(|(rid, _)| rid == id) {
            return error(
                StatusCode::NOT_FOUND,
                "ROW_DOES_NOT_EXIST",
                format!("Record ID {id} does not exist in this table"),
            );
        }
        let fields = record
            .get("fields")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (name, value) in &fields {
            let Some(field) = table.fields.iter().find(|f| &f.name == name) else {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "UNKNOWN_FIELD_NAME",
                    format!("Unknown field name: \"{name}\""),
                );
            };
            if let Err(reply) = check_cell(base, field, value, typecast, &mut new_options) {
                return reply;
            }
        }
        changes.push((id.to_owned(), fields));
    }
    let Some(table) = base.table_mut(table_name) else {
        return error(StatusCode::NOT_FOUND, "TABLE_NOT_FOUND", "table vanished");
    };
    if let Some(field) = table
        .fields
        .iter_mut()
        .find(|f| f.kind == "multipleSelects")
    {
        for option in new_options {
            if !field.choices.contains(&option) {
                field.choices.push(option);
            }
        }
    }
    let mut written = Vec::new();
    for (id, fields) in changes {
        if let Some((_, current)) = table.records.iter_mut().find(|(rid, _)| *rid == id) {
            current.extend(fields);
            written.push(json!({ "id": id, "createdTime": "2026-01-01T00:00:00.000Z", "fields": current.clone() }));
        }
    }
    (StatusCode::OK, json!({ "records": written }))
}

fn check_cell(
    base: &Base,
    field: &Field,
    value: &Value,
    typecast: bool,
    new_options: &mut Vec<String>,
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
                if !linked.is_some_and(|t| t.records.iter().any(|(rid, _)| rid == id)) {
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
                    new_options.push(name.to_owned());
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

async fn not_found(method: Method, uri: Uri) -> Response {
    let (status, body) = error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!(
            "Could not find what you are looking for: {method} {}",
            uri.path()
        ),
    );
    (status, Json(body)).into_response()
}

/// Decodes `application/x-www-form-urlencoded` pairs.
fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}
