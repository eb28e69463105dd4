//! The HTTP endpoints Slack calls (`/slack/events`, `/slack/interactions`,
//! `/slack/commands`), the health probes (`/healthz`: the process is up;
//! `/readyz`: the database answers and its schema is current) and
//! `/metrics`.
//!
//! Every Slack request is verified against the signing secret before its
//! body is even parsed, and its timestamp before the body is even read; a
//! failed check gets 401 and a log line with the reason (never the secret
//! or the signature). A body must arrive within the body timeout. Interactions are answered
//! with an empty 200 at once and handled after, well inside Slack's
//! 3 seconds; slash commands answer with their (ephemeral) text directly
//! when it is ready within 2 s, else with an empty 200 and the text later
//! through the command's `response_url`.
//! Review messages are not updated here: a decision notifies the poster,
//! which brings each changed message up to date once, however many clicks
//! changed it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tracing::Instrument;

use crate::slack::app::SlackApp;
use crate::slack::click_queue::NoPermit;
use crate::slack::dispatch::{self, Dispatched};
use crate::slack::payload::{Interaction, SlashCommand};
use crate::slack::transport::signature::{self, Verifier};
use crate::storage;

/// Slack's largest payloads (a block_actions click carries the whole
/// message) stay well under this.
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct Shared {
    app: SlackApp,
    verifier: Arc<Verifier>,
    /// How long a request body may take to arrive (see [`crate::slack::transport::listen`]).
    body_timeout: std::time::Duration,
}

pub fn router(app: SlackApp) -> Router {
    crate::metrics::install();
    let verifier = Arc::new(Verifier::new(app.settings.signing_secret.clone()));
    let body_timeout = app.settings.http_limits.body;
    let shared = Shared {
        app,
        verifier,
        body_timeout,
    };
    Router::new()
        .route("/slack/events", post(events))
        .route("/slack/interactions", post(interactions))
        .route("/slack/commands", post(commands))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(observe))
        .with_state(shared)
}

/// A request body that passed Slack's signature check: a handler taking it
/// never sees an unsigned, forged or stale request (the check runs once,
/// here, before the body is parsed).
struct SignedBody {
    body: Bytes,
    headers: HeaderMap,
}

impl FromRequest<Shared> for SignedBody {
    type Rejection = Response;

    async fn from_request(request: Request, shared: &Shared) -> Result<Self, Self::Rejection> {
        let route = request.uri().path().to_owned();
        let headers = request.headers().clone();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (timestamp, signature) = (
            header(signature::TIMESTAMP_HEADER),
            header(signature::SIGNATURE_HEADER),
        );
        // Unsigned or stale: refused before a byte of the body is read.
        if let Err(reason) = signature::check_headers(timestamp, signature, signature::unix_now()) {
            return Err(refuse(&route, &reason));
        }
        let body = read_body(request, shared, &route).await?;
        match shared
            .verifier
            .verify(timestamp, signature, &body, signature::unix_now())
        {
            Ok(()) => Ok(SignedBody { body, headers }),
            Err(reason) => Err(refuse(&route, &reason)),
        }
    }
}

/// The whole body, if it arrives within the body timeout; a client still
/// sending after it gets 408 and its connection closed.
async fn read_body(request: Request, shared: &Shared, route: &str) -> Result<Bytes, Response> {
    let within = shared.body_timeout;
    match tokio::time::timeout(within, Bytes::from_request(request, shared)).await {
        Ok(read) => read.map_err(IntoResponse::into_response),
        Err(_) => {
            tracing::warn!(
                route,
                timeout_secs = within.as_secs_f64(),
                "a request body did not arrive in time; closing the connection"
            );
            Err((
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                "request body timeout",
            )
                .into_response())
        }
    }
}

fn refuse(route: &str, reason: &signature::SignatureError) -> Response {
    tracing::warn!(route, %reason, "refused a request that failed Slack's signature check");
    (StatusCode::UNAUTHORIZED, "invalid Slack signature").into_response()
}

async fn events(
    State(shared): State<Shared>,
    SignedBody { body, headers }: SignedBody,
) -> Response {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected a JSON body").into_response();
    };
    if event["type"] == "url_verification" {
        return Json(json!({ "challenge": event["challenge"] })).into_response();
    }
    // A retry (X-Slack-Retry-Num) of an event is harmless, and not noted twice.
    dispatch::event(
        &shared.app,
        &event,
        headers.contains_key("x-slack-retry-num"),
    );
    StatusCode::OK.into_response()
}

async fn interactions(
    State(shared): State<Shared>,
    SignedBody { body, .. }: SignedBody,
) -> Response {
    let payload = form_field(&body, "payload");
    let Some(interaction) = payload.and_then(|p| serde_json::from_str::<Interaction>(&p).ok())
    else {
        tracing::warn!("an interaction without a readable payload");
        return (StatusCode::BAD_REQUEST, "expected a payload form field").into_response();
    };
    // Acknowledged once a permit is free (at once, unless a burst is being
    // worked off); decided right after. Not acknowledged when none came
    // free in time: Slack shows the reviewer the click failed.
    match dispatch::interaction(&shared.app, interaction).await {
        Ok(Dispatched::Answer(answer)) => Json(answer).into_response(),
        Ok(Dispatched::Accepted) => StatusCode::OK.into_response(),
        Err(NoPermit::Closed) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response(),
        Err(NoPermit::Busy) => {
            tracing::warn!(
                "too many clicks being decided to take this one in time; not acknowledged"
            );
            (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
        }
    }
}

async fn commands(State(shared): State<Shared>, SignedBody { body, .. }: SignedBody) -> Response {
    let Ok(command) = serde_urlencoded_form::<SlashCommand>(&body) else {
        return (StatusCode::BAD_REQUEST, "expected a slash-command form").into_response();
    };
    match dispatch::command(&shared.app, command, dispatch::INLINE_ANSWER_BUDGET).await {
        Some(answer) => Json(dispatch::ephemeral(&answer)).into_response(),
        // Slack's acknowledgement: an empty 200; the answer follows at
        // the command's response_url.
        None => StatusCode::OK.into_response(),
    }
}

/// Every request gets a span with a request id, so all lines of one
/// interaction (including the work after the acknowledgement) share it;
/// Slack routes also record their time to acknowledge.
async fn observe(request: Request, next: Next) -> Response {
    let route = request.uri().path().to_owned();
    let request_id = format!("{:016x}", rand::random::<u64>());
    let span = tracing::info_span!("request", request_id = %request_id, route = %route);
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    if let Some(endpoint) = slack_endpoint(&route) {
        metrics::histogram!(crate::metrics::SLACK_ACK_SECONDS, "route" => endpoint)
            .record(started.elapsed().as_secs_f64());
    }
    response
}

/// The metric label of one of Slack's three routes. Any other path (a 404
/// under `/slack/`, however long) adds no series: labels come from this
/// fixed set, never from the request.
fn slack_endpoint(path: &str) -> Option<&'static str> {
    match path {
        "/slack/events" => Some("events"),
        "/slack/interactions" => Some("interactions"),
        "/slack/commands" => Some("commands"),
        _ => None,
    }
}

/// Prometheus text: see [`crate::metrics`] for what is there.
async fn metrics(State(shared): State<Shared>) -> Response {
    let app = &shared.app;
    match crate::metrics::render(&app.pool, &app.queue_gauges).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        // Logged with the reason where it was read.
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers and its schema is this build's. The
/// answer is a fixed word either way: the reason goes to the log, never
/// to an unauthenticated caller (a database error's text names hosts,
/// roles and tables).
async fn readyz(State(shared): State<Shared>) -> Response {
    match crate::storage::ensure_schema_current(&shared.app.pool).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            if matches!(err, storage::DbError::Query(storage::Error::PoolTimedOut)) {
                tracing::warn!(error = %err, "not ready: no database connection came free in time");
            } else {
                tracing::warn!(error = %err, "not ready");
            }
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A form body as a struct, through its fields as a JSON object.
fn serde_urlencoded_form<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, serde_json::Error> {
    let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(Value::Object(fields))
}
