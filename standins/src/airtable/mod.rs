//! A stand-in for the Airtable Web API: one base, its tables and records in
//! memory, served over HTTP on loopback.
//!
//! It enforces the documented contract tagbot relies on, each rule written
//! where it is enforced with the page it comes from:
//!
//! | file | owns |
//! |---|---|
//! | `admission.rs` | what every request passes first, in order: URL length, token, base and scope, rate limits, the monthly quota, scripted faults |
//! | `records.rs` | list records (paging, fields, formulas) and update records (10 at a time, all or nothing, cells checked by field type) |
//! | `schema.rs` | the base's schema (meta) |
//! | `webhooks.rs`, `webhook_endpoints.rs` | the base's change stream: the webhooks and their payloads, and their endpoints |
//! | `server.rs` | one request end to end: latency, admission, the endpoint, the log, the response delay |
//! | `base.rs`, `tables.rs`, `rate_limit.rs` | the base in memory, its tables, the pacing |
//! | `errors.rs`, `formula.rs` | Airtable's error bodies; `filterByFormula` |
//!
//! Refusals have Airtable's error body (`{"error": {"type", "message"}}`),
//! with the status and type Airtable returns. Every change to a cell, by
//! the API or by a test editing "as a person" (`set_cell`, `set_cell_as`),
//! is a payload for the webhooks that watch it.
//!
//! Tests script failures, add latency, edit records and the schema "by
//! hand" as a person would, move the clock on, and read the request log.

mod admission;
mod base;
mod errors;
mod formula;
mod rate_limit;
mod records;
mod schema;
mod server;
mod tables;
mod webhook_endpoints;
mod webhooks;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::Method;
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use self::base::{Base, Fault};
use self::tables::StoredRecord;
use self::webhook_endpoints::{
    create_webhook, delete_webhook, list_payloads, list_webhooks, refresh_webhook,
};

pub use self::base::{
    LoggedRequest, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ, SCOPE_WEBHOOKS,
};
pub use self::rate_limit::RateLimit;
pub use self::tables::TagsFieldKind;
pub use self::webhooks::{Source, WEBHOOK_LIFE};

/// A running stand-in; dropping it leaves the server running until `shutdown`.
#[derive(Clone)]
pub struct FakeAirtable {
    base: Arc<Mutex<Base>>,
    pub url: String,
    served: crate::Served,
}

/// Every endpoint the stand-in serves, and Airtable's 404 for any other path.
fn router(base: Arc<Mutex<Base>>) -> Router {
    Router::new()
        .route("/v0/meta/bases/{base}/tables", get(schema::schema))
        .route(
            "/v0/{base}/{table}",
            get(records::list_get).patch(records::update),
        )
        .route("/v0/{base}/{table}/listRecords", post(records::list_post))
        .route(
            "/v0/bases/{base}/webhooks",
            get(list_webhooks).post(create_webhook),
        )
        .route("/v0/bases/{base}/webhooks/{hook}", delete(delete_webhook))
        .route(
            "/v0/bases/{base}/webhooks/{hook}/refresh",
            post(refresh_webhook),
        )
        .route(
            "/v0/bases/{base}/webhooks/{hook}/payloads",
            get(list_payloads),
        )
        .fallback(server::not_found)
        .with_state(base)
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
        let base = Arc::new(Mutex::new(Base::new(base_id, token, tags, rate)));
        let served = crate::Served::start(router(Arc::clone(&base)), "Airtable stand-in").await?;
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

    /// Deletes every webhook of the base, as another client of the base
    /// may (api/delete-a-webhook); their payloads go with them.
    pub fn delete_webhooks(&self) {
        self.lock().hooks.list.clear();
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
            path_ends_with: None,
            status,
            body,
            remaining: count,
        });
    }

    /// The next `count` requests with `method` to a path ending in
    /// `path_end` (say `/payloads`: the webhook payload listing) get
    /// `status` and `body`, others passing untouched. Airtable does not
    /// document when it refuses a payload cursor
    /// (developers/web/api/list-webhook-payloads: "cursors should be saved
    /// between invocations … no matter how old that cursor value is"); its
    /// errors page answers 422 for invalid request data
    /// (developers/web/api/errors): tests script that refusal here.
    pub fn fail_next_at(
        &self,
        method: Method,
        path_end: &str,
        count: usize,
        status: u16,
        body: Value,
    ) {
        self.lock().faults.push(Fault {
            method,
            path_ends_with: Some(path_end.to_owned()),
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
