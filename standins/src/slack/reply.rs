//! What the Slack stand-in answers, in Slack's shape: HTTP 200 with
//! `{"ok":true,…}` or `{"ok":false,"error":"…"}` (Block Kit refusals add
//! Slack's `errors` list with a JSON pointer), HTTP 429 with `Retry-After`
//! when rate limited, and a response URL's refusals.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::block_kit::Violation;

/// What a handler answers: a status, Slack's JSON, maybe a `Retry-After`.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Value,
    pub(super) retry_after: Option<u64>,
}

impl Reply {
    /// `{"ok": true, ...fields}`.
    pub(super) fn ok(fields: Value) -> Reply {
        let mut body = Map::new();
        body.insert("ok".into(), Value::Bool(true));
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        Reply {
            status: StatusCode::OK,
            body: Value::Object(body),
            retry_after: None,
        }
    }

    /// An API error: HTTP 200, as Slack answers them.
    pub(super) fn error(code: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: json!({ "ok": false, "error": code }),
            retry_after: None,
        }
    }

    /// A refused payload, with the offending place as Slack reports it.
    pub(super) fn refused(code: &str, violation: &Violation) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: json!({
                "ok": false,
                "error": code,
                "errors": [violation.to_string()],
                "response_metadata": { "messages": [format!("[ERROR] {violation}")] },
            }),
            retry_after: None,
        }
    }

    /// A response URL's refusal (see `response_urls.rs`).
    pub(super) fn hook_error(status: StatusCode, code: &str) -> Reply {
        Reply {
            status,
            body: json!({ "ok": false, "error": code }),
            retry_after: None,
        }
    }

    pub(super) fn rate_limited(retry_after_secs: u64) -> Reply {
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            body: json!({ "ok": false, "error": "ratelimited" }),
            retry_after: Some(retry_after_secs),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A method's result: the fields of an `ok` answer, or the refusal.
pub(super) type Outcome = Result<Value, Reply>;
