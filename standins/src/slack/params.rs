//! A Web API call's arguments as the Slack stand-in reads them: the query
//! string, then a JSON or form-encoded body (with `blocks`, `view` and
//! `attachments` as JSON strings), as one JSON object; the bearer token.

use axum::http::{header, HeaderMap};
use serde_json::{Map, Value};

use crate::form::url_pairs;

/// A non-empty string parameter.
pub(super) fn str_param<'a>(params: &'a Value, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

pub(super) fn bearer_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
}

/// The call's arguments as one JSON object: query string, then the body
/// (JSON, or form-encoded with `blocks` / `view` as JSON strings).
pub(super) fn parse_params(
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Value, &'static str> {
    let mut params = Map::new();
    for (key, value) in url_pairs(query.unwrap_or_default()) {
        params.insert(key, Value::String(value));
    }
    if !body.is_empty() {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            let text = std::str::from_utf8(body).map_err(|_| "invalid_form_data")?;
            for (key, value) in url_pairs(text) {
                params.insert(key, Value::String(value));
            }
        } else {
            match serde_json::from_slice(body) {
                Ok(Value::Object(fields)) => params.extend(fields),
                _ => return Err("invalid_json"),
            }
        }
    }
    for key in ["blocks", "view", "attachments"] {
        let decoded = match params.get(key) {
            Some(Value::String(encoded)) => serde_json::from_str::<Value>(encoded).ok(),
            _ => None,
        };
        // Undecodable JSON stays a string, which the method then refuses.
        if let Some(decoded) = decoded {
            params.insert(key.to_owned(), decoded);
        }
    }
    Ok(Value::Object(params))
}
