//! What every request to the Airtable stand-in must pass before its
//! endpoint looks at it, in this order:
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
//! then a test's scripted faults. The monthly limit's answer is not
//! documented: the stand-in refuses every endpoint, schema included, which
//! is the stricter reading.

use std::time::Instant;

use axum::http::{HeaderMap, Method, StatusCode};
use serde_json::json;

use super::base::{
    Base, SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ, SCOPE_WEBHOOKS,
};
use super::errors::{error, not_permitted, Reply};

/// Airtable's URL limit, counted over the whole URL.
const MAX_URL_CHARS: usize = 16_000;

/// The scope an endpoint needs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Needs {
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
    /// Every check of the module doc's table, in its order.
    pub(super) fn admit(
        &mut self,
        method: &Method,
        path: &str,
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
        if base_id != self.base_id || !self.has_scope(needs.scope()) {
            return Err(not_permitted());
        }
        self.within_rate_limits()?;
        self.within_monthly_quota()?;
        self.scripted_fault(method, path)
    }

    /// The token's and the base's requests per second; a request over
    /// either is refused, and so is every one for the penalty after it.
    fn within_rate_limits(&mut self) -> Result<(), Reply> {
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
        Ok(())
    }

    fn within_monthly_quota(&mut self) -> Result<(), Reply> {
        if let Some((allowed, used)) = &mut self.monthly {
            if *used >= *allowed {
                return Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "error": { "type": "PUBLIC_API_BILLING_LIMIT_EXCEEDED", "message": "You have exceeded the monthly API call limit of your workspace's billing plan. Upgrade the plan or wait until next month." } }),
                ));
            }
            *used += 1;
        }
        Ok(())
    }

    fn scripted_fault(&mut self, method: &Method, path: &str) -> Result<(), Reply> {
        if let Some(fault) = self.faults.iter_mut().find(|f| {
            f.method == method
                && f.remaining > 0
                && f.path_ends_with
                    .as_ref()
                    .is_none_or(|end| path.ends_with(end.as_str()))
        }) {
            fault.remaining -= 1;
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Err((status, fault.body.clone()));
        }
        Ok(())
    }
}
