//! Airtable's error answers (developers/web/api/errors): a status and
//! `{"error": {"type", "message"}}`, with the types the API is seen to
//! answer where the documentation names only the family.

use axum::http::StatusCode;
use serde_json::{json, Value};

/// A status and Airtable's JSON body.
pub(super) type Reply = (StatusCode, Value);

pub(super) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Reply {
    (
        status,
        json!({ "error": { "type": kind, "message": message.into() } }),
    )
}

/// Airtable's answer for an unknown base or table, or a token without the
/// scope or access (developers/web/api/errors).
pub(super) fn not_permitted() -> Reply {
    error(
        StatusCode::FORBIDDEN,
        "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
        "Invalid permissions, or the requested model was not found. Check that both your user and your token have the required permissions, and that the model names and/or ids are correct.",
    )
}

pub(super) fn unknown_field(name: &str) -> Reply {
    error(
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNKNOWN_FIELD_NAME",
        format!("Unknown field name: \"{name}\""),
    )
}

pub(super) fn invalid_body() -> Reply {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST_BODY",
        "Could not parse the request body as JSON",
    )
}
