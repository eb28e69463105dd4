//! The webhook endpoints (`/v0/bases/{base}/webhooks…`: create, list,
//! delete, refresh, list payloads), each needing `webhook:manage`; the
//! webhooks themselves, their rules and their payloads are `webhooks.rs`'s.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::admission::Needs;
use super::base::SCOPE_RECORDS_READ;
use super::errors::{error, invalid_body, not_permitted, Reply};
use super::server::{handle, Call, Shared, Written};
use super::webhooks;
use crate::form::url_pairs;

fn no_such_webhook() -> Reply {
    error(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "Could not find the webhook",
    )
}

pub(super) async fn create_webhook(
    State(state): Shared,
    Path(base_id): Path<String>,
    call: Call,
    body: Bytes,
) -> Response {
    let request = call.to(&base_id, Needs::Webhooks);
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

pub(super) async fn list_webhooks(
    State(state): Shared,
    Path(base_id): Path<String>,
    call: Call,
) -> Response {
    let request = call.to(&base_id, Needs::Webhooks);
    handle(&state, request, Written::default(), |base| {
        let now = base.now();
        let listed: Vec<Value> = base.hooks.list.iter().map(|h| h.as_listed(now)).collect();
        (StatusCode::OK, json!({ "webhooks": listed }))
    })
    .await
}

pub(super) async fn delete_webhook(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    call: Call,
) -> Response {
    let request = call.to(&base_id, Needs::Webhooks);
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

pub(super) async fn refresh_webhook(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    call: Call,
) -> Response {
    let request = call.to(&base_id, Needs::Webhooks);
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

pub(super) async fn list_payloads(
    State(state): Shared,
    Path((base_id, hook)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    call: Call,
) -> Response {
    let (mut cursor, mut limit) = (Some(1_u64), Some(50_u64));
    for (key, value) in url_pairs(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "cursor" => cursor = value.parse().ok().filter(|c| *c >= 1),
            "limit" => limit = value.parse().ok().filter(|l| (1..=50).contains(l)),
            _ => {}
        }
    }
    let request = call.to(&base_id, Needs::Webhooks);
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
