//! One request to the Airtable stand-in, whichever endpoint: the latency a
//! test set, admission, the endpoint's work on the base, the log entry,
//! then the response delay; and the answer for a path no endpoint serves.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;

use super::admission::Needs;
use super::base::{Base, LoggedRequest};
use super::errors::{error, Reply};

pub(super) type Shared = State<Arc<Mutex<Base>>>;

/// What admission and the log read of any request: its method, URI and
/// headers, taken by every endpoint alike.
pub(super) struct Call {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Call, Infallible> {
        Ok(Call {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        })
    }
}

impl Call {
    /// The call, to `base_id`, at an endpoint that `needs` a scope.
    pub(super) fn to(self, base_id: &str, needs: Needs) -> Request<'_> {
        Request {
            call: self,
            base_id,
            needs,
        }
    }

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

/// One request as [`handle`] runs it.
pub(super) struct Request<'a> {
    call: Call,
    base_id: &'a str,
    needs: Needs,
}

/// What a PATCH body names, for the log.
#[derive(Debug, Default)]
pub(super) struct Written {
    pub(super) records: Vec<String>,
    pub(super) keys: Vec<String>,
}

/// Runs one request: latency, admission, the handler, and the log entry.
pub(super) async fn handle(
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
        let call = &request.call;
        let admitted = base.admit(
            &call.method,
            call.uri.path(),
            call.full_url_chars(),
            &call.headers,
            request.base_id,
            request.needs,
        );
        let (status, body) = match admitted {
            Ok(()) => work(&mut base),
            Err(reply) => reply,
        };
        base.log(&call.method, &call.uri, status, written, &body);
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

impl Base {
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

/// A path no endpoint serves.
pub(super) async fn not_found(method: Method, uri: Uri) -> Response {
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
