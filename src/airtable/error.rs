//! Airtable errors, classified once: transient ones are retried with
//! backoff, permanent ones fail the item. Airtable's own error type and
//! message are kept so a reviewer sees what Airtable said.

use std::fmt;

use serde_json::Value;

use crate::domain::Failure;
pub use crate::domain::FailureCategory;

/// Whether trying again later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Transient,
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirtableError {
    pub kind: ErrorKind,
    pub category: FailureCategory,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Airtable's error type, like `INVALID_MULTIPLE_CHOICE_OPTIONS`.
    pub error_type: Option<String>,
    pub message: String,
}

impl std::error::Error for AirtableError {}

impl fmt::Display for AirtableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.failure().fmt(f)
    }
}

impl AirtableError {
    /// Classifies an HTTP error response from its status and body.
    pub fn from_response(status: u16, body: &str) -> AirtableError {
        let (error_type, message) = parse_error_body(body);
        let (kind, category) = match status {
            // Free and Team plans have a monthly call limit; past it Airtable
            // answers 429 with this type until the month ends. Waiting 30 s
            // does not help, so it is not a rate limit.
            // (support.airtable.com/docs/managing-api-call-limits-in-airtable)
            429 if error_type.as_deref() == Some(QUOTA_EXCEEDED) => {
                (ErrorKind::Permanent, FailureCategory::Quota)
            }
            429 => (ErrorKind::Transient, FailureCategory::RateLimit),
            500..=599 => (ErrorKind::Transient, FailureCategory::Server),
            401 | 403 => (ErrorKind::Permanent, FailureCategory::Auth),
            404 => (ErrorKind::Permanent, FailureCategory::NotFound),
            422 => (ErrorKind::Permanent, FailureCategory::Validation),
            _ => (ErrorKind::Permanent, FailureCategory::Other),
        };
        AirtableError {
            kind,
            category,
            status: Some(status),
            error_type,
            message: message.unwrap_or_else(|| format!("(no error message; HTTP {status})")),
        }
    }

    /// A request that got no response: timeouts and connection failures
    /// are transient.
    pub fn from_transport(err: &reqwest::Error) -> AirtableError {
        let what = if err.is_timeout() {
            "request timed out"
        } else if err.is_connect() {
            "could not connect"
        } else {
            "request failed"
        };
        AirtableError {
            kind: ErrorKind::Transient,
            category: FailureCategory::Network,
            status: None,
            error_type: None,
            // reqwest's message names the URL, never the Authorization header.
            message: format!("{what}: {err}"),
        }
    }

    /// A response Airtable should never send (unparseable success body).
    pub fn unexpected(message: impl Into<String>) -> AirtableError {
        AirtableError {
            kind: ErrorKind::Transient,
            category: FailureCategory::Server,
            status: None,
            error_type: None,
            message: message.into(),
        }
    }

    /// What a sync item that met this error failed of: the category, and
    /// Airtable's status, error type and message as the detail.
    pub fn failure(&self) -> Failure {
        let mut detail = String::new();
        if let Some(status) = self.status {
            detail.push_str(&format!("Airtable answered {status} "));
        }
        if let Some(error_type) = &self.error_type {
            detail.push_str(error_type);
            detail.push(' ');
        }
        detail.push_str(&self.message);
        Failure::new(self.category, detail)
    }

    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// 401/403: nothing else in the run can succeed either.
    pub fn is_auth(&self) -> bool {
        self.category == FailureCategory::Auth
    }

    /// The monthly API call limit is used up.
    pub fn is_quota(&self) -> bool {
        self.category == FailureCategory::Quota
    }

    /// Airtable does not know a table or field tagbot was configured with
    /// (renamed or deleted in the base, or a wrong variable): no item is at
    /// fault, and every other item would fail the same way.
    pub fn is_unknown_model(&self) -> bool {
        match self.error_type.as_deref() {
            Some(
                "UNKNOWN_FIELD_NAME"
                | "TABLE_NOT_FOUND"
                | "NOT_FOUND"
                | "INVALID_PERMISSIONS_OR_MODEL_NOT_FOUND",
            ) => true,
            // tagbot's formulas name only the configured id field; any
            // other formula problem is about the values in it, an item's.
            Some("INVALID_FILTER_BY_FORMULA") => self.message.contains("Unknown field name"),
            _ => false,
        }
    }

    /// Whether the error stops the whole run, leaving every item queued
    /// with its tries: bad credentials, a used-up quota, or a base that no
    /// longer matches the configuration.
    pub fn stops_run(&self) -> bool {
        self.is_auth() || self.is_quota() || self.is_unknown_model()
    }
}

/// Airtable's error type for a used-up monthly API call limit.
pub const QUOTA_EXCEEDED: &str = "PUBLIC_API_BILLING_LIMIT_EXCEEDED";

/// Airtable sends `{"error": {"type", "message"}}`, sometimes
/// `{"error": "NOT_FOUND"}`, and for rate limits
/// `{"errors": [{"error", "message"}]}`; anything else is kept as text.
fn parse_error_body(body: &str) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match serde_json::from_str::<Value>(body) {
        Ok(json) => {
            if let Some(error) = json.get("error") {
                if error.is_string() {
                    return (text(Some(error)), text(json.get("message")));
                }
                return (text(error.get("type")), text(error.get("message")));
            }
            if let Some(first) = json.get("errors").and_then(|e| e.get(0)) {
                return (text(first.get("error")), text(first.get("message")));
            }
            (None, Some(clip(body)))
        }
        Err(_) if body.trim().is_empty() => (None, None),
        Err(_) => (None, Some(clip(body))),
    }
}

fn clip(text: &str) -> String {
    const MAX: usize = 300;
    let trimmed = text.trim();
    match trimmed.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let cases = [
            (429, ErrorKind::Transient, FailureCategory::RateLimit),
            (503, ErrorKind::Transient, FailureCategory::Server),
            (401, ErrorKind::Permanent, FailureCategory::Auth),
            (403, ErrorKind::Permanent, FailureCategory::Auth),
            (404, ErrorKind::Permanent, FailureCategory::NotFound),
            (422, ErrorKind::Permanent, FailureCategory::Validation),
            (400, ErrorKind::Permanent, FailureCategory::Other),
        ];
        for (status, kind, category) in cases {
            let err = AirtableError::from_response(status, "");
            assert_eq!((err.kind, err.category), (kind, category), "{status}");
        }
    }

    #[test]
    fn airtable_error_bodies_keep_type_and_message() {
        let err = AirtableError::from_response(
            422,
            r#"{"error":{"type":"INVALID_MULTIPLE_CHOICE_OPTIONS","message":"Insufficient permissions to create new select option \"x\""}}"#,
        );
        assert_eq!(
            err.error_type.as_deref(),
            Some("INVALID_MULTIPLE_CHOICE_OPTIONS")
        );
        assert_eq!(
            err.to_string(),
            "validation: Airtable answered 422 INVALID_MULTIPLE_CHOICE_OPTIONS Insufficient permissions to create new select option \"x\""
        );
        let err = AirtableError::from_response(
            429,
            r#"{"errors":[{"error":"RATE_LIMIT_REACHED","message":"Rate limit exceeded. Please try again later"}]}"#,
        );
        assert_eq!(err.error_type.as_deref(), Some("RATE_LIMIT_REACHED"));
        let err = AirtableError::from_response(404, r#"{"error":"NOT_FOUND"}"#);
        assert_eq!(err.error_type.as_deref(), Some("NOT_FOUND"));
        let err = AirtableError::from_response(
            429,
            r#"{"error":{"type":"PUBLIC_API_BILLING_LIMIT_EXCEEDED","message":"monthly limit"}}"#,
        );
        assert!(err.is_quota() && err.stops_run() && !err.is_transient());
        let err = AirtableError::from_response(
            422,
            r#"{"error":{"type":"UNKNOWN_FIELD_NAME","message":"Unknown field name: \"Tags\""}}"#,
        );
        assert!(err.is_unknown_model() && err.stops_run());
        let err = AirtableError::from_response(
            422,
            r#"{"error":{"type":"ROW_DOES_NOT_EXIST","message":"Record ID rec1 does not exist"}}"#,
        );
        assert!(!err.stops_run());
        let err = AirtableError::from_response(502, "<html>Bad gateway</html>");
        assert_eq!(err.message, "<html>Bad gateway</html>");
    }
}
