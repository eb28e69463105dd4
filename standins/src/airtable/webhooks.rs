//! Webhooks, as Airtable documents them (developers/web/api/
//! webhooks-overview and the pages it links): a base's change stream that
//! a client lists with a cursor, no public URL needed.
//!
//! | rule | source |
//! |---|---|
//! | create / list / refresh / delete / list payloads at `/v0/bases/{base}/webhooks…` | api/create-a-webhook, api/list-webhooks, api/refresh-a-webhook, api/delete-a-webhook, api/list-webhook-payloads |
//! | every endpoint needs `webhook:manage`; create and list payloads of a `tableData` webhook also `data.records:read` | webhooks-overview ("Scopes") |
//! | at most 10 webhooks per base | api/create-a-webhook |
//! | tables and fields in the specification by id, never by name | api/model/webhooks-specification |
//! | a webhook expires (and is disabled) 7 days after its creation or last refresh or payload listing; refresh applies only to an active one | api/refresh-a-webhook, api/list-webhook-payloads |
//! | payloads are numbered from 1 by a cursor that never resets; at most 50 per listing; `cursor` is the number after the last one returned; kept 7 days | api/list-webhook-payloads |
//! | a payload: `timestamp`, `baseTransactionNumber`, `actionMetadata` (`source`: `client` for a person, `publicApi` for the API, with the user), `payloadFormat: "v0"`, `changedTablesById` → `changedRecordsById` → `current` / `previous` / `unchanged` `cellValuesByFieldId` | api/model/webhooks-payload, …/webhooks-table-changed, …/webhooks-changed-record |
//! | cell values in the V2 format: a multiple select as `[{id, name, color}]`, linked records as `[{id, name}]` | api/field-model |
//! | the same 5 requests per second per base as the rest of the API | webhooks-overview |
//!
//! Not documented, so the stand-in picks the stricter reading: creating an
//! 11th webhook answers 422 `TOO_MANY_WEBHOOKS`; refreshing an expired one
//! 422 `CANNOT_REFRESH_EXPIRED_WEBHOOK`; a cursor whose payloads are gone
//! lists from the oldest kept.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::tables::{is_empty_cell, StoredRecord, Table};

/// "The number of webhooks per base is limited to 10."
pub(super) const MAX_WEBHOOKS: usize = 10;
/// "A maximum of 50 payloads can be returned in a single request."
const MAX_PAYLOADS_PER_LIST: u64 = 50;
/// Webhooks expire, and payloads are deleted, after 7 days.
const LIFE: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Who made a change: a person in Airtable's UI, or a client of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A person, in the web or mobile client.
    Person {
        id: String,
        email: String,
        name: String,
    },
    /// A client of the Web API (tagbot), as the token's user.
    PublicApi,
}

impl Source {
    fn metadata(&self) -> Value {
        match self {
            Source::Person { id, email, name } => json!({
                "source": "client",
                "sourceMetadata": { "user": { "id": id, "email": email, "name": name, "permissionLevel": "create" } },
            }),
            Source::PublicApi => json!({
                "source": "publicApi",
                "sourceMetadata": { "user": { "id": "usrTagbotToken001", "email": "tagbot@example.com", "permissionLevel": "create" } },
            }),
        }
    }
}

/// One cell that changed: (record, field id, before, after).
#[derive(Debug, Clone)]
pub(super) struct CellChange {
    pub record: String,
    pub field: String,
    pub previous: Value,
    pub current: Value,
}

#[derive(Debug)]
pub(super) struct Hook {
    pub id: String,
    specification: Value,
    expires_at: DateTime<Utc>,
    /// Turned off for good (expired, or its specification broke).
    disabled: bool,
    next_cursor: u64,
    payloads: Vec<(u64, DateTime<Utc>, Value)>,
}

impl Hook {
    fn active(&self, now: DateTime<Utc>) -> bool {
        !self.disabled && now < self.expires_at
    }

    pub fn needs_records_scope(&self) -> bool {
        self.specification["options"]["filters"]["dataTypes"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "tableData"))
    }

    fn filters(&self) -> &Value {
        &self.specification["options"]["filters"]
    }

    fn includes(&self) -> &Value {
        &self.specification["options"]["includes"]
    }

    /// Extends an active webhook's life to 7 days from now.
    pub fn refresh(&mut self, now: DateTime<Utc>) -> Result<Value, ()> {
        if !self.active(now) {
            self.disabled = true;
            return Err(());
        }
        self.expires_at = now + LIFE;
        Ok(json!({ "expirationTime": iso(self.expires_at) }))
    }

    /// Lists payloads from `cursor`, at most `limit`; extends an active
    /// webhook's life as Airtable does.
    pub fn payloads(&mut self, cursor: u64, limit: u64, now: DateTime<Utc>) -> Value {
        if self.active(now) {
            self.expires_at = now + LIFE;
        }
        self.payloads.retain(|(_, at, _)| now - *at < LIFE);
        let limit = limit.clamp(1, MAX_PAYLOADS_PER_LIST);
        let chosen: Vec<&(u64, DateTime<Utc>, Value)> = self
            .payloads
            .iter()
            .filter(|(n, _, _)| *n >= cursor)
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let next = chosen.last().map_or(cursor, |(n, _, _)| n + 1);
        let might_have_more = self.payloads.iter().any(|(n, _, _)| *n >= next);
        json!({
            "payloads": chosen.iter().map(|(_, _, p)| p.clone()).collect::<Vec<_>>(),
            "cursor": next,
            "mightHaveMore": might_have_more,
        })
    }

    pub fn as_listed(&self, now: DateTime<Utc>) -> Value {
        json!({
            "id": self.id,
            "areNotificationsEnabled": false,
            "cursorForNextPayload": self.next_cursor,
            "isHookEnabled": self.active(now),
            "lastSuccessfulNotificationTime": null,
            "notificationUrl": null,
            "lastNotificationResult": null,
            "expirationTime": iso(self.expires_at),
            "specification": self.specification,
        })
    }
}

/// The base's webhooks.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    pub list: Vec<Hook>,
    next_id: u64,
    transaction: u64,
}

fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Why a specification is refused (422 `INVALID_REQUEST_UNKNOWN`).
pub(super) fn check_specification(spec: &Value, tables: &[Table]) -> Result<(), String> {
    let filters = &spec["options"]["filters"];
    let types = filters["dataTypes"]
        .as_array()
        .filter(|t| !t.is_empty())
        .ok_or("specification.options.filters.dataTypes is required")?;
    for kind in types {
        if !matches!(
            kind.as_str(),
            Some("tableData" | "tableFields" | "tableMetadata")
        ) {
            return Err(format!("unknown dataType {kind}"));
        }
    }
    if let Some(scope) = filters.get("recordChangeScope") {
        let scope = scope.as_str().unwrap_or_default();
        if !tables.iter().any(|t| t.id == scope) {
            return Err(format!(
                "recordChangeScope must be a table id of the base, got {scope:?}"
            ));
        }
    }
    for key in ["watchDataInFieldIds", "watchSchemasOfFieldIds"] {
        for field in filters[key].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap_or_default();
            if !tables
                .iter()
                .any(|t| t.fields.iter().any(|f| f.id == field))
            {
                return Err(format!(
                    "{key} must hold field ids of the base, got {field:?}"
                ));
            }
        }
    }
    Ok(())
}

impl Hooks {
    /// Creates a webhook (the caller checked the limit and specification).
    pub fn create(&mut self, specification: Value, now: DateTime<Utc>) -> Value {
        self.next_id += 1;
        let id = format!("ach{:014}", self.next_id);
        let secret: [u8; 32] =
            std::array::from_fn(|n| (self.next_id as u8).wrapping_mul(31).wrapping_add(n as u8));
        let mac_secret = base64::engine::general_purpose::STANDARD.encode(secret);
        let hook = Hook {
            id: id.clone(),
            specification,
            expires_at: now + LIFE,
            disabled: false,
            next_cursor: 1,
            payloads: Vec::new(),
        };
        self.list.push(hook);
        json!({ "id": id, "macSecretBase64": mac_secret, "expirationTime": iso(now + LIFE) })
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Hook> {
        self.list.iter_mut().find(|h| h.id == id)
    }

    /// Records changes to `table`'s cells in every active webhook that
    /// watches them, as one transaction.
    pub fn record(
        &mut self,
        table: &Table,
        tables: &[Table],
        changes: &[CellChange],
        source: &Source,
        now: DateTime<Utc>,
    ) {
        let changes: Vec<&CellChange> =
            changes.iter().filter(|c| c.previous != c.current).collect();
        if changes.is_empty() {
            return;
        }
        self.transaction += 1;
        let transaction = self.transaction;
        for hook in self.list.iter_mut().filter(|h| h.active(now)) {
            let Some(payload) =
                payload_for(hook, table, tables, &changes, source, now, transaction)
            else {
                continue;
            };
            hook.payloads.push((hook.next_cursor, now, payload));
            hook.next_cursor += 1;
        }
    }
}

fn payload_for(
    hook: &Hook,
    table: &Table,
    tables: &[Table],
    changes: &[&CellChange],
    source: &Source,
    now: DateTime<Utc>,
    transaction: u64,
) -> Option<Value> {
    let filters = hook.filters();
    let watches_data = filters["dataTypes"]
        .as_array()
        .is_some_and(|t| t.iter().any(|k| k == "tableData"));
    let in_scope = filters
        .get("recordChangeScope")
        .and_then(Value::as_str)
        .is_none_or(|scope| scope == table.id);
    let source_word = match source {
        Source::Person { .. } => "client",
        Source::PublicApi => "publicApi",
    };
    let from_source = filters["fromSources"]
        .as_array()
        .is_none_or(|sources| sources.iter().any(|s| s == source_word));
    if !watches_data || !in_scope || !from_source {
        return None;
    }
    let watched = |field: &str| {
        filters["watchDataInFieldIds"]
            .as_array()
            .is_none_or(|ids| ids.iter().any(|id| id == field))
    };
    let includes = hook.includes();
    let with_previous = includes["includePreviousCellValues"] == true;
    let unchanged_fields: Vec<&str> = includes["includeCellValuesInFieldIds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut records = Map::new();
    for change in changes.iter().filter(|c| watched(&c.field)) {
        let entry = records
            .entry(change.record.clone())
            .or_insert_with(|| json!({ "current": { "cellValuesByFieldId": {} } }));
        let v2 = |value: &Value| cell_v2(table, tables, &change.field, value);
        entry["current"]["cellValuesByFieldId"][&change.field] = v2(&change.current);
        if with_previous {
            entry["previous"]["cellValuesByFieldId"][&change.field] = v2(&change.previous);
        }
    }
    if records.is_empty() {
        return None;
    }
    for (record_id, entry) in records.iter_mut() {
        let Some(stored) = table.record(record_id) else {
            continue;
        };
        for field in &unchanged_fields {
            if entry["current"]["cellValuesByFieldId"]
                .get(*field)
                .is_none()
            {
                let value = stored.cells.get(*field).cloned().unwrap_or(Value::Null);
                entry["unchanged"]["cellValuesByFieldId"][*field] =
                    cell_v2(table, tables, field, &value);
            }
        }
    }
    let mut action = source.metadata();
    let metadata = action["sourceMetadata"].take();
    Some(json!({
        "timestamp": iso(now),
        "baseTransactionNumber": transaction,
        "actionMetadata": { "source": action["source"], "sourceMetadata": metadata },
        "payloadFormat": "v0",
        "changedTablesById": { table.id.clone(): { "changedRecordsById": records } },
    }))
}

/// A stored cell in the V2 format webhooks use (api/field-model): select
/// options and linked records as objects.
fn cell_v2(table: &Table, tables: &[Table], field_id: &str, value: &Value) -> Value {
    let Some(field) = table.fields.iter().find(|f| f.id == field_id) else {
        return value.clone();
    };
    let Some(items) = value.as_array() else {
        return if is_empty_cell(value) {
            Value::Null
        } else {
            value.clone()
        };
    };
    if items.is_empty() {
        return Value::Null;
    }
    match field.kind.as_str() {
        "multipleSelects" => Value::Array(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|name| json!({ "id": option_id(&field.id, name), "name": name, "color": "blueLight2" }))
                .collect(),
        ),
        "multipleRecordLinks" => {
            let linked = field
                .linked_table
                .as_deref()
                .and_then(|id| tables.iter().find(|t| t.id == id));
            Value::Array(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|id| {
                        let name = linked
                            .and_then(|t| t.record(id))
                            .and_then(|r| primary_name(linked, r))
                            .unwrap_or_default();
                        json!({ "id": id, "name": name })
                    })
                    .collect(),
            )
        }
        _ => value.clone(),
    }
}

/// A linked record's primary field (the first field) as its name.
fn primary_name(table: Option<&Table>, record: &StoredRecord) -> Option<String> {
    let primary = table?.fields.first()?;
    record.cells.get(&primary.id)?.as_str().map(str::to_owned)
}

/// A stable option id (`sel…`) for a multiple-select option name.
fn option_id(field: &str, name: &str) -> String {
    let hash = name
        .bytes()
        .chain(field.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    format!("sel{:014x}", hash & 0x00ff_ffff_ffff_ffff)
}

/// How long webhooks live without a refresh, for tests.
pub const WEBHOOK_LIFE: Duration = Duration::from_secs(7 * 24 * 3600);
