//! A stand-in for the Airtable Web API: one base, its tables and records in
//! memory, served over HTTP on loopback.
//!
//! It enforces the documented contract tagbot relies on, in this order for
//! every request:
//!
//! | rule | answer | source |
//! |---|---|---|
//! | the full URL (scheme, host, path, query) is at most 16,000 characters | 414 `URL_TOO_LONG` (status undocumented: the stricter refusal) | support.airtable.com/docs/enforcement-of-url-length-limit-for-web-api-requests |
//! | a bearer token | 401 `AUTHENTICATION_REQUIRED` | airtable.com/developers/web/api/errors |
//! | the token's base, and the scope the endpoint needs (`data.records:read`, `data.records:write`, `schema.bases:read`) | 403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND` | developers/web/api/scopes, …/get-base-schema, …/errors |
//! | 50 requests per second per token, across bases | 429, then 30 s refused | developers/web/api/rate-limits |
//! | 5 requests per second per base | 429, then 30 s refused | developers/web/api/rate-limits |
//! | the workspace's monthly API calls (Free and Team plans) | 429 `PUBLIC_API_BILLING_LIMIT_EXCEEDED` | support.airtable.com/docs/managing-api-call-limits-in-airtable |
//!
//! and then per endpoint: `pageSize` 1..=100 with `offset` paging;
//! `fields[]` and PATCH keys by field name or field id (`fld…`), records
//! keyed by id with `returnFieldsByFieldId`; `filterByFormula` naming
//! fields by `{name}` only; at most 10 records per PATCH; linked cells
//! written as arrays of record-id strings; unknown multi-select options
//! refused without `typecast`. Refusals have Airtable's error body
//! (`{"error": {"type", "message"}}`), with the status and type Airtable
//! returns: 422 `UNKNOWN_FIELD_NAME` for an unknown field,
//! 422 `INVALID_FILTER_BY_FORMULA` for a bad formula, 422
//! `ROW_DOES_NOT_EXIST` for a PATCH of a record that is not in the table,
//! 403 `INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND` for an unknown table.
//!
//! Airtable documents the families (404 not found, 422 "most of the
//! base-specific validations") but not each type: the types above are what
//! the API is seen to answer. The monthly limit's answer is not documented
//! either; the stand-in refuses every endpoint, schema included, which is
//! the stricter reading.
//!
//! Webhooks (the base's change stream) follow their own pages: see
//! `webhooks.rs`. Every change to a cell, by the API or by a test editing
//! "as a person" (`set_cell`, `set_cell_as`), is a payload for the
//! webhooks that watch it.
//!
//! Tests script failures, add latency, edit records and the schema "by
//! hand" as a person would, move the clock on, and read the request log.

mod formula;
mod webhooks;

pub use webhooks::{Source, WEBHOOK_LIFE};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// Airtable's URL limit, counted over the whole URL.
const MAX_URL_CHARS: usize = 16_000;
/// "Updates up to 10 records" (developers/web/api/update-multiple-records).
const MAX_RECORDS_PER_WRITE: usize = 10;

/// The scopes of a personal access token (developers/web/api/scopes).
pub const SCOPE_RECORDS_READ: &str = "data.records:read";
pub const SCOPE_RECORDS_WRITE: &str = "data.records:write";
pub const SCOPE_SCHEMA_READ: &str = "schema.bases:read";
pub const SCOPE_WEBHOOKS: &str = "webhook:manage";

/// How the stand-in paces its callers.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Requests per `window` to the base.
    pub requests: usize,
    /// Requests per `window` with the token, across every base.
    pub per_token: usize,
    pub window: Duration,
    /// How long every request is refused after a 429.
    pub penalty: Duration,
}

impl Default for RateLimit {
    /// "5 requests per second per base", "50 requests per second for all
    /// traffic using personal access tokens from a given user", "wait 30
    /// seconds before subsequent requests will succeed"
    /// (developers/web/api/rate-limits).
    fn default() -> Self {
        RateLimit {
            requests: 5,
            per_token: 50,
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

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// The ids of the records a successful PATCH wrote, in body order.
    pub records_written: Vec<String>,
    /// The fields a successful PATCH wrote, as the request keyed them.
    pub keys_written: Vec<String>,
    /// The ids of the records a successful list answered with.
    pub records_read: Vec<String>,
}

#[derive(Debug, Clone)]
struct Field {
    id: String,
    name: String,
    kind: String,
    /// Linked: the table linked to.
    linked_table: Option<String>,
    /// Multi-select: the option names.
    choices: Vec<String>,
}

/// A record's cells, keyed by field id, so that renaming a field keeps its
/// cells as it does in Airtable.
#[derive(Debug, Clone)]
struct StoredRecord {
    id: String,
    cells: Map<String, Value>,
}

#[derive(Debug, Clone)]
struct Table {
    id: String,
    name: String,
    fields: Vec<Field>,
    records: Vec<StoredRecord>,
}

impl Table {
    /// A field by exact name or by id, as Airtable takes either.
    fn field(&self, name_or_id: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name == name_or_id || f.id == name_or_id)
    }

    fn record(&self, id: &str) -> Option<&StoredRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    /// A record's non-empty cells keyed by field name, or by id.
    fn shown(&self, record: &StoredRecord, by_id: bool, only: &[&Field]) -> Map<String, Value> {
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

#[derive(Debug)]
struct Fault {
    method: Method,
    status: u16,
    body: Value,
    remaining: usize,
}

/// A window of recent request times.
#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<Instant>,
}

impl Window {
    /// Counts a request at `now`, or refuses it when `limit` were made in
    /// the last `window`.
    fn admit(&mut self, now: Instant, window: Duration, limit: usize) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= limit {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

#[derive(Debug)]
struct Base {
    base_id: String,
    token: String,
    scopes: Vec<String>,
    tables: Vec<Table>,
    rate: RateLimit,
    per_base: Window,
    per_token: Window,
    penalized_until: Option<Instant>,
    /// (calls allowed this month, calls made).
    monthly: Option<(u64, u64)>,
    latency: Duration,
    response_delay: Duration,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
    next_id: u64,
    hooks: webhooks::Hooks,
    /// Added to the wall clock: tests move time on to expire webhooks.
    clock_offset: chrono::TimeDelta,
}

/// A running stand-in; dropping it leaves the server running until `shutdown`.
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

/// Airtable's answer for an unknown base or table, or a token without the
/// scope or access (developers/web/api/errors).
fn not_permitted() -> Reply {
    error(
        StatusCode::FORBIDDEN,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
    )
}

fn unknown_field(name: &str) -> Reply {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_FIELD_NAME",
        format!("Unknown field name: \"{name}\""),
    )
}

impl FakeAirtable {
    /// Starts a stand-in for `base_id` accepting `token` (with the scopes
    /// tagbot's README asks for), with a Lectures table (`Name`,
    /// `external_id`, `Tags`) and a Tags table (`Name`, `tag_id`).
    pub async fn start(
        base_id: &str,
        token: &str,
        tags: TagsFieldKind,
        rate: RateLimit,
    ) -> std::io::Result<FakeAirtable> {
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
        let base = Arc::new(Mutex::new(Base {
            base_id: base_id.to_owned(),
            token: token.to_owned(),
            scopes: [SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ]
                .map(str::to_owned)
                .to_vec(),
            tables: vec![lectures, tags_table],
            rate,
            per_base: Window::default(),
            per_token: Window::default(),
            penalized_until: None,
            monthly: None,
            latency: Duration::ZERO,
            response_delay: Duration::ZERO,
            faults: Vec::new(),
            log: Vec::new(),
            next_id: 1,
            hooks: webhooks::Hooks::default(),
            clock_offset: chrono::TimeDelta::zero(),
        }));
        let app = Router::new()
            .route("/v0/meta/bases/{base}/tables", get(schema))
            .route("/v0/{base}/{table}", get(list_get).patch(update))
            .route("/v0/{base}/{table}/listRecords", post(list_post))
            .route(
                "/v0/bases/{base}/webhooks",
                get(list_webhooks).post(create_webhook),
            )
            .route(
                "/v0/bases/{base}/webhooks/{hook}",
                axum::routing::delete(delete_webhook),
            )
            .route(
                "/v0/bases/{base}/webhooks/{hook}/refresh",
                post(refresh_webhook),
            )
            .route(
                "/v0/bases/{base}/webhooks/{hook}/payloads",
                get(list_payloads),
            )
            .fallback(not_found)
            .with_state(Arc::clone(&base));
        let served = crate::Served::start(app, "Airtable stand-in").await?;
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

    /// Adds a record (cells keyed by field name or id) and returns its id.
    /// Keys that name no field are left out, as the UI would.
    pub fn add_record(&self, table: &str, fields: Value) -> String {
        let mut base = self.lock();
        let id = base.new_record_id();
        if let Some(t) = base.table_mut(table) {
            let mut cells = Map::new();
            for (key, value) in fields.as_object().cloned().unwrap_or_default() {
                match t.field(&key) {
                    Some(field) => {
                        cells.insert(field.id.clone(), value);
                    }
                    None => tracing::warn!(table, field = key, "no such field; cell left out"),
                }
            }
            t.records.push(StoredRecord {
                id: id.clone(),
                cells,
            });
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

    /// Sets a cell (field by name or id) as a person would in the UI; the
    /// base's webhooks see a change by a person.
    pub fn set_cell(&self, table: &str, record_id: &str, field: &str, value: Value) {
        let person = Source::Person {
            id: "usrPerson00000001".into(),
            email: "person@example.com".into(),
            name: "A person".into(),
        };
        self.set_cell_as(table, record_id, field, value, &person);
    }

    /// [`Self::set_cell`], by `source` (a named person, say).
    pub fn set_cell_as(
        &self,
        table: &str,
        record_id: &str,
        field: &str,
        value: Value,
        source: &Source,
    ) {
        self.edit_cell_as(table, record_id, field, source, |_| value);
    }

    /// Changes a cell from what it holds at that instant, as `source`: a
    /// person adding or removing one tag in the UI, atomically with
    /// respect to API writes. Returns the cell before and after (None
    /// when there is no such table, field or record).
    pub fn edit_cell_as(
        &self,
        table: &str,
        record_id: &str,
        field: &str,
        source: &Source,
        edit: impl FnOnce(Value) -> Value,
    ) -> Option<(Value, Value)> {
        let mut base = self.lock();
        let t = base.table_mut(table)?;
        let table_id = t.id.clone();
        let field_id = t.field(field).map(|f| f.id.clone())?;
        let record = t.records.iter_mut().find(|r| r.id == record_id)?;
        let before = record.cells.get(&field_id).cloned().unwrap_or(Value::Null);
        let value = edit(before.clone());
        record.cells.insert(field_id.clone(), value.clone());
        let change = webhooks::CellChange {
            record: record_id.to_owned(),
            field: field_id,
            previous: before.clone(),
            current: value.clone(),
        };
        base.record_changes(&table_id, &[change], source);
        Some((before, value))
    }

    /// Moves the stand-in's clock on (webhooks expire, payloads go).
    pub fn advance_clock(&self, by: Duration) {
        let mut base = self.lock();
        base.clock_offset += chrono::TimeDelta::from_std(by).unwrap_or_default();
    }

    /// The base's webhooks as list webhooks shows them.
    pub fn webhooks(&self) -> Vec<Value> {
        let base = self.lock();
        let now = base.now();
        base.hooks.list.iter().map(|h| h.as_listed(now)).collect()
    }

    /// A field's id (`fld…`), as the schema reports it.
    pub fn field_id(&self, table: &str, field: &str) -> Option<String> {
        let base = self.lock();
        base.table(table)?.field(field).map(|f| f.id.clone())
    }

    /// A cell's current value (field by name or id; Null when empty).
    pub fn cell(&self, table: &str, record_id: &str, field: &str) -> Value {
        let base = self.lock();
        base.table(table)
            .and_then(|t| {
                let field = t.field(field)?;
                t.record(record_id)?.cells.get(&field.id).cloned()
            })
            .unwrap_or(Value::Null)
    }

    /// Removes a field from the schema, with its cells.
    pub fn remove_field(&self, table: &str, field: &str) {
        let mut base = self.lock();
        if let Some(t) = base.table_mut(table) {
            let Some(field_id) = t.field(field).map(|f| f.id.clone()) else {
                return;
            };
            t.fields.retain(|f| f.id != field_id);
            for record in &mut t.records {
                record.cells.remove(&field_id);
            }
        }
    }

    /// Renames a field as a person would: its id and cells stay.
    pub fn rename_field(&self, table: &str, field: &str, new_name: &str) {
        let mut base = self.lock();
        if let Some(f) = base.table_mut(table).and_then(|t| {
            t.fields
                .iter_mut()
                .find(|f| f.name == field || f.id == field)
        }) {
            new_name.clone_into(&mut f.name);
        }
    }

    /// Renames a table: its id stays.
    pub fn rename_table(&self, table: &str, new_name: &str) {
        if let Some(t) = self.lock().table_mut(table) {
            new_name.clone_into(&mut t.name);
        }
    }

    /// The token's scopes from now on (see the `SCOPE_*` constants).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.lock().scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// The workspace may make `calls` more API calls this month; past them
    /// every request is refused as Airtable refuses a used-up plan.
    pub fn set_monthly_quota(&self, calls: u64) {
        self.lock().monthly = Some((calls, 0));
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

/// The scope an endpoint needs.
#[derive(Debug, Clone, Copy)]
enum Needs {
    ReadRecords,
    WriteRecords,
    ReadSchema,
    Webhooks,
}

impl Needs {
    fn scope(self) -> &'static str {
        match self {
            Needs::ReadRecords => SCOPE_RECORDS_READ,
            Needs::WriteRecords => SCOPE_RECORDS_WRITE,
            Needs::ReadSchema => SCOPE_SCHEMA_READ,
            Needs::Webhooks => SCOPE_WEBHOOKS,
        }
    }
}

impl Base {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Hands changes to `table`'s cells to the webhooks.
    fn record_changes(&mut self, table: &str, changes: &[webhooks::CellChange], source: &Source) {
        let now = self.now();
        let Base { hooks, tables, .. } = self;
        if let Some(table) = tables.iter().find(|t| t.id == table || t.name == table) {
            hooks.record(table, tables, changes, source, now);
        }
    }

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

    /// Every check of the module doc's table, in its order.
    fn admit(
        &mut self,
        method: &Method,
        full_url_chars: usize,
        headers: &HeaderMap,
        base_id: &str,
        needs: Needs,
    ) -> Result<(), Reply> {
        if full_url_chars > MAX_URL_CHARS {
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
        if base_id != self.base_id || !self.scopes.iter().any(|s| s == needs.scope()) {
            return Err(not_permitted());
        }
        let now = Instant::now();
        let rate_limited = (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "errors": [{ "error": "RATE_LIMIT_REACHED", "message": "Rate limit exceeded. Please try again later" }] }),
        );
        if self.penalized_until.is_some_and(|until| now < until) {
            return Err(rate_limited);
        }
        let window = self.rate.window;
        if !self.per_token.admit(now, window, self.rate.per_token)
            || !self.per_base.admit(now, window, self.rate.requests)
        {
            self.penalized_until = Some(now + self.rate.penalty);
            return Err(rate_limited);
        }
        if let Some((allowed, used)) = &mut self.monthly {
            if *used >= *allowed {
                return Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "error": { "type": "PUBLIC_API_BILLING_LIMIT_EXCEEDED", "message": "You have exceeded the monthly API call limit of your workspace's billing plan. Upgrade the plan or wait until next month." } }),
                ));
            }
            *used += 1;
        }
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
        written: Written,
        body: &Value,
    ) {
        let ok = status.is_success();
        let listed = method == Method::GET || uri.path().ends_with("/listRecords");
        let records_read = if ok && listed {
            body["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        } else {
            Vec::new()
        };
        self.log.push(LoggedRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            status: status.as_u16(),
            at: Instant::now(),
            records_written: if ok { written.records } else { Vec::new() },
            keys_written: if ok { written.keys } else { Vec::new() },
            records_read,
        });
    }
}

/// What a PATCH body names, for the log.
#[derive(Debug, Default)]
struct Written {
    records: Vec<String>,
    keys: Vec<String>,
}

type Shared = State<Arc<Mutex<Base>>>;

/// One request as the handlers see it.
struct Request<'a> {
    method: Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    base_id: &'a str,
    needs: Needs,
}

impl Request<'_> {
    /// The whole URL the client used: Airtable counts scheme and host too.
    fn full_url_chars(&self) -> usize {
        let host = self
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        "http://".len() + host.len() + self.uri.to_string().len()
    }
}

/// Runs one request: latency, admission, the handler, and the log entry.
async fn handle(
    state: &Arc<Mutex<Base>>,
    request: Request<'_>,
    written: Written,
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
        let admitted = base.admit(
            &request.method,
            request.full_url_chars(),
            request.headers,
            request.base_id,
            request.needs,
        );
        let (status, body) = match admitted {
            Ok(()) => work(&mut base),
            Err(reply) => reply,
        };
        base.log(&request.method, request.uri, status, written, &body);
        (status, body, base.response_delay)
    };
    if !response_delay.is_zero() {
        tokio::time::sleep(response_delay).await;
    }
    if body.is_null() {
        // An empty response (delete a webhook), not the JSON `null`.
        return status.into_response();
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
    let request = Request {
        method,
        uri: &uri,
        headers: &headers,
        base_id: &base_id,
        needs: Needs::ReadSchema,
    };
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

/// The options of a list request, from either the query string or a body.
#[derive(Default)]
struct ListOptions {
    page_size: Option<String>,
    offset: Option<String>,
    fields: Vec<String>,
    formula: Option<String>,
    by_field_id: bool,
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
            "returnFieldsByFieldId" => options.by_field_id = value == "true" || value == "1",
            _ => {}
        }
    }
    let request = Request {
        method,
        uri: &uri,
        headers: &headers,
        base_id: &base_id,
        needs: Needs::ReadRecords,
    };
    handle(&state, request, Written::default(), |base| {
        list(base, &table, &options)
    })
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
    let request = Request {
        method,
        uri: &uri,
        headers: &headers,
        base_id: &base_id,
        needs: Needs::ReadRecords,
    };
    handle(&state, request, Written::default(), |base| {
        let Ok(body) = parsed else {
            return invalid_body();
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
            by_field_id: body.get("returnFieldsByFieldId") == Some(&Value::Bool(true)),
        };
        list(base, &table, &options)
    })
    .await
}

fn invalid_body() -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST_BODY",
        "Could not parse the request body as JSON",
    )
}

fn list(base: &Base, table: &str, options: &ListOptions) -> Reply {
    let Some(table) = base.table(table) else {
        return not_permitted();
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
    let mut shown_fields = Vec::new();
    for key in &options.fields {
        match table.field(key) {
            Some(field) => shown_fields.push(field),
            None => return unknown_field(key),
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
            // Formulas name fields by {name}; an id in braces is unknown.
            if let Some(unknown) = referenced
                .iter()
                .find(|name| !table.fields.iter().any(|f| &f.name == *name))
            {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_FILTER_BY_FORMULA",
                    format!("The formula for filtering records is invalid: Unknown field names: {unknown}"),
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
    let matching: Vec<&StoredRecord> = table
        .records
        .iter()
        .filter(|record| {
            filter
                .as_ref()
                .is_none_or(|expr| formula::matches(expr, &table.shown(record, false, &[])))
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(page_size)
        .map(|record| {
            let fields = table.shown(record, options.by_field_id, &shown_fields);
            json!({ "id": record.id, "createdTime": "2026-01-01T00:00:00.000Z", "fields": fields })
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
    let request = Request {
        method,
        uri: &uri,
        headers: &headers,
        base_id: &base_id,
        needs: Needs::WriteRecords,
    };
    handle(&state, request, written, |base| {
        let Ok(body) = parsed else {
            return invalid_body();
        };
        patch(base, &table, &body)
    })
    .await
}

/// Validates the whole request, then applies it: all or nothing.
fn patch(base: &mut Base, table_key: &str, body: &Value) -> Reply {
    let typecast = body.get("typecast") == Some(&Value::Bool(true));
    let by_field_id = body.get("returnFieldsByFieldId") == Some(&Value::Bool(true));
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
    let Some(table) = base.table(table_key) else {
        return not_permitted();
    };
    let mut new_options: Vec<(String, String)> = Vec::new();
    let mut changes: Vec<(String, Map<String, Value>)> = Vec::new();
    for record in records {
        let Some(id) = record.get("id").and_then(Value::as_str) else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_RECORDS",
                "Each record needs an id",
            );
        };
        if table.record(id).is_none() {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ROW_DOES_NOT_EXIST",
                format!("Record ID {id} does not exist in this table"),
            );
        }
        let mut cells = Map::new();
        for (key, value) in record
            .get("fields")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let Some(field) = table.field(key) else {
                return unknown_field(key);
            };
            if let Err(reply) = check_cell(base, field, value, typecast, &mut new_options) {
                return reply;
            }
            cells.insert(field.id.clone(), value.clone());
        }
        changes.push((id.to_owned(), cells));
    }
    let Some(table) = base.table_mut(table_key) else {
        return not_permitted();
    };
    for (field_id, option) in new_options {
        if let Some(field) = table.fields.iter_mut().find(|f| f.id == field_id) {
            if !field.choices.contains(&option) {
                field.choices.push(option);
            }
        }
    }
    let mut written = Vec::new();
    let mut cell_changes = Vec::new();
    for (id, cells) in changes {
        if let Some(record) = table.records.iter_mut().find(|r| r.id == id) {
            for (field, value) in cells {
                let previous = record.cells.insert(field.clone(), value.clone());
                cell_changes.push(webhooks::CellChange {
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
    let Some(table) = base.table(&table_id) else {
        return not_permitted();
    };
    for record in records {
        if let Some(stored) = record
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| table.record(id))
        {
            let fields = table.shown(stored, by_field_id, &[]);
            written.push(json!({ "id": stored.id, "createdTime": "2026-01-01T00:00:00.000Z", "fields": fields }));
        }
    }
    (StatusCode::OK, json!({ "records": written }))
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

// ---------------------------------------------------------------- webhooks

fn webhook_request<'a>(
    method: Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    base_id: &'a str,
) -> Request<'a> {
    Request {
        method,
        uri,
        headers,
        base_id,
        needs: Needs::Webhooks,
    }
}

fn no_such_webhook() -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Could not find the webhook",
    )
}

async fn create_webhook(
    State(state): Shared,
    Path(base_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = webhook_request(method, &uri, &headers, &base_id);
    handle(&state, request, Written::default(), |base| {
        let Ok(body) = serde_json::from_slice::<Value>(&body) else {
            return invalid_body();
        };
        let specification = body["specification"].clone();
        if let Err(problem) = webhooks::check_specification(&specification, &base.tables) {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_REQUEST_UNKNOWN",
                problem,
            );
        }
        let wants_data = specification["options"]["filters"]["dataTypes"]
            .as_array()
            .is_some_and(|t| t.iter().any(|k| k == "tableData"));
        if wants_data && !base.has_scope(SCOPE_RECORDS_READ) {
            return not_permitted();
        }
        if base.hooks.list.len() >= webhooks::MAX_WEBHOOKS {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "TOO_MANY_WEBHOOKS",
                "The number of webhooks per base is limited to 10",
            );
        }
        let now = base.now();
        (StatusCode::OK, base.hooks.create(specification, now))
    })
    .await
}

async fn list_webhooks(
    State(state): Shared,
    Path(base_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = webhook_request(method, &uri, &headers, &base_id);
    handle(&state, request, Written::default(), |base| {
        let now = base.now();
        let listed: Vec<Value> = base.hooks.list.iter().map(|h| h.as_listed(now)).collect();
        (StatusCode::OK, json!({ "webhooks": listed }))
    })
    .await
}

async fn delete_webhook(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = webhook_request(method, &uri, &headers, &base_id);
    handle(&state, request, Written::default(), |base| {
        let before = base.hooks.list.len();
        base.hooks.list.retain(|h| h.id != hook);
        if base.hooks.list.len() == before {
            return no_such_webhook();
        }
        // "This endpoint returns an empty response on success."
        // (api/delete-a-webhook): no body at all.
        (StatusCode::OK, Value::Null)
    })
    .await
}

async fn refresh_webhook(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request = webhook_request(method, &uri, &headers, &base_id);
    handle(&state, request, Written::default(), |base| {
        let now = base.now();
        let Some(hook) = base.hooks.get_mut(&hook) else {
            return no_such_webhook();
        };
        match hook.refresh(now) {
            Ok(answer) => (StatusCode::OK, answer),
            Err(()) => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "CANNOT_REFRESH_EXPIRED_WEBHOOK",
                "Only an active webhook can be refreshed; create a new one",
            ),
        }
    })
    .await
}

async fn list_payloads(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let (mut cursor, mut limit) = (Some(1_u64), Some(50_u64));
    for (key, value) in url_pairs(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "cursor" => cursor = value.parse().ok().filter(|c| *c >= 1),
            "limit" => limit = value.parse().ok().filter(|l| (1..=50).contains(l)),
            _ => {}
        }
    }
    let request = webhook_request(method, &uri, &headers, &base_id);
    handle(&state, request, Written::default(), |base| {
        let (Some(cursor), Some(limit)) = (cursor, limit) else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "INVALID_REQUEST_UNKNOWN",
                "cursor must be a number from 1; limit a number from 1 to 50",
            );
        };
        let now = base.now();
        let records_scope = base.has_scope(SCOPE_RECORDS_READ);
        let Some(hook) = base.hooks.get_mut(&hook) else {
            return no_such_webhook();
        };
        if hook.needs_records_scope() && !records_scope {
            return not_permitted();
        }
        (StatusCode::OK, hook.payloads(cursor, limit, now))
    })
    .await
}
