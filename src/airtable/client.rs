//! The Airtable Web API client: list (with paging and the POST variant for
//! long queries), update, and the base schema. Every request first waits for
//! the shared [`RequestBudget`]; a 429 pauses the whole base.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::budget::RequestBudget;
use super::error::{AirtableError, FailureCategory};
use super::schema::{BaseSchema, TableSchema};
use crate::config::AirtableSettings;

/// Airtable refuses writes of more than 10 records per request.
pub const MAX_RECORDS_PER_WRITE: usize = 10;
/// Airtable refuses URLs longer than 16,000 characters; stay clear of it.
const MAX_URL_CHARS: usize = 15_000;
const MAX_PAGE_SIZE: u8 = 100;

/// One Airtable record.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// New values for some fields of one record (PATCH semantics: fields not
/// named are left alone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordUpdate {
    pub id: String,
    pub fields: Map<String, Value>,
}

/// Which records to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Field names, or field ids when `by_field_id`.
    pub fields: Vec<String>,
    /// Formulas name fields by `{name}`, never by id.
    pub formula: Option<String>,
    /// Records come back keyed by field id (`returnFieldsByFieldId`), so a
    /// field renamed in the base reads under the same key.
    pub by_field_id: bool,
}

/// Requests sent and 429s received by one client.
#[derive(Debug, Default)]
pub struct RequestStats {
    pub requests: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl RequestStats {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
pub struct AirtableClient {
    http: reqwest::Client,
    api_url: Url,
    base_id: String,
    token: SecretString,
    budget: RequestBudget,
    stats: Arc<RequestStats>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    records: Vec<Record>,
    offset: Option<String>,
}

#[derive(Deserialize)]
struct WrittenRecords {
    #[serde(default)]
    records: Vec<Record>,
}

impl AirtableClient {
    pub fn new(
        settings: &AirtableSettings,
        budget: RequestBudget,
        timeout: Duration,
    ) -> Result<AirtableClient, AirtableError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tagbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| AirtableError::from_transport(&err))?;
        Ok(AirtableClient {
            http,
            api_url: settings.api_url.clone(),
            base_id: settings.base_id.clone(),
            token: settings.token.clone(),
            budget,
            stats: Arc::new(RequestStats::default()),
        })
    }

    pub fn stats(&self) -> &Arc<RequestStats> {
        &self.stats
    }

    /// Every record of `table` matching `query`, across all pages.
    pub async fn list_records(
        &self,
        table: &str,
        query: &ListQuery,
    ) -> Result<Vec<Record>, AirtableError> {
        Ok(self.list_records_read_at(table, query).await?.0)
    }

    /// Every record of `table` matching `query`, and when the first page's
    /// request left: what the records say is at least that fresh, however
    /// long the request waited for its slot before.
    pub async fn list_records_read_at(
        &self,
        table: &str,
        query: &ListQuery,
    ) -> Result<(Vec<Record>, Instant), AirtableError> {
        let mut records = Vec::new();
        let mut offset: Option<String> = None;
        let mut first_sent = None;
        loop {
            let (page, sent) = self.list_page(table, query, offset.as_deref()).await?;
            let read_at = *first_sent.get_or_insert(sent);
            records.extend(page.records);
            match page.offset {
                Some(next) => offset = Some(next),
                None => return Ok((records, read_at)),
            }
        }
    }

    /// One page, and when its request left.
    async fn list_page(
        &self,
        table: &str,
        query: &ListQuery,
        offset: Option<&str>,
    ) -> Result<(ListPage, Instant), AirtableError> {
        let mut url = self.table_url(table, None);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("pageSize", &MAX_PAGE_SIZE.to_string());
            for field in &query.fields {
                pairs.append_pair("fields[]", field);
            }
            if let Some(formula) = &query.formula {
                pairs.append_pair("filterByFormula", formula);
            }
            if let Some(offset) = offset {
                pairs.append_pair("offset", offset);
            }
            if query.by_field_id {
                pairs.append_pair("returnFieldsByFieldId", "true");
            }
        }
        if url.as_str().len() <= MAX_URL_CHARS {
            return self.send_json_timed(Method::GET, url, None).await;
        }
        // Too long for a GET: the same query as a JSON body.
        let mut body = json!({ "pageSize": MAX_PAGE_SIZE, "fields": query.fields });
        if let Some(formula) = &query.formula {
            body["filterByFormula"] = Value::String(formula.clone());
        }
        if let Some(offset) = offset {
            body["offset"] = Value::String(offset.to_owned());
        }
        if query.by_field_id {
            body["returnFieldsByFieldId"] = Value::Bool(true);
        }
        let url = self.table_url(table, Some("listRecords"));
        self.send_json_timed(Method::POST, url, Some(body)).await
    }

    /// Updates up to [`MAX_RECORDS_PER_WRITE`] records in one request.
    ///
    /// `not_after` bounds how late the request may leave: when waiting for
    /// the shared budget (say, behind a 429 pause) takes past it, nothing is
    /// sent and `Ok(None)` says so, so that a read-modify-write can read
    /// again instead of writing what it read long ago.
    pub async fn update_records(
        &self,
        table: &str,
        updates: &[RecordUpdate],
        typecast: bool,
        not_after: Option<Instant>,
    ) -> Result<Option<Vec<Record>>, AirtableError> {
        if updates.len() > MAX_RECORDS_PER_WRITE {
            return Err(AirtableError {
                kind: super::ErrorKind::Permanent,
                category: super::FailureCategory::Validation,
                status: None,
                error_type: None,
                message: format!(
                    "refusing to send {} records in one write; Airtable takes at most {MAX_RECORDS_PER_WRITE}",
                    updates.len()
                ),
            });
        }
        let mut body = json!({ "records": updates });
        if typecast {
            body["typecast"] = Value::Bool(true);
        }
        self.acquire_slot().await?;
        if not_after.is_some_and(|deadline| Instant::now() > deadline) {
            return Ok(None);
        }
        let written: WrittenRecords = self
            .send_now(Method::PATCH, self.table_url(table, None), Some(body))
            .await?;
        Ok(Some(written.records))
    }

    /// The base's tables and fields (needs the `schema.bases:read` scope).
    pub async fn schema(&self) -> Result<BaseSchema, AirtableError> {
        #[derive(Deserialize)]
        struct Tables {
            tables: Vec<TableSchema>,
        }
        let mut url = self.api_url.clone();
        url.path_segments_mut()
            .map_err(|()| AirtableError::unexpected("AIRTABLE_API_URL cannot be a base"))?
            .pop_if_empty()
            .extend(["v0", "meta", "bases", &self.base_id, "tables"]);
        let tables: Tables = self.send_json(Method::GET, url, None).await?;
        Ok(BaseSchema {
            tables: tables.tables,
        })
    }

    fn table_url(&self, table: &str, suffix: Option<&str>) -> Url {
        let mut url = self.api_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["v0", &self.base_id, table]);
            if let Some(suffix) = suffix {
                segments.push(suffix);
            }
        }
        url
    }

    /// `{AIRTABLE_API_URL}/v0/bases/{base}/…`: the base's webhooks API.
    pub(super) fn bases_url(&self, rest: &[&str]) -> Result<Url, AirtableError> {
        let mut url = self.api_url.clone();
        url.path_segments_mut()
            .map_err(|()| AirtableError::unexpected("AIRTABLE_API_URL cannot be a base"))?
            .pop_if_empty()
            .extend(["v0", "bases", &self.base_id])
            .extend(rest);
        Ok(url)
    }

    /// Sends one request within the budget and decodes a JSON success body.
    pub(super) async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<T, AirtableError> {
        Ok(self.send_json_timed(method, url, body).await?.0)
    }

    /// As [`Self::send_json`], with when the request left its slot.
    async fn send_json_timed<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<(T, Instant), AirtableError> {
        self.acquire_slot().await?;
        let sent = Instant::now();
        Ok((self.send_now(method, url, body).await?, sent))
    }

    /// Waits for this process's turn in the base's shared request budget.
    async fn acquire_slot(&self) -> Result<(), AirtableError> {
        self.budget
            .acquire()
            .instrument(tracing::debug_span!("slot_wait"))
            .await
            .map_err(|err| AirtableError::unexpected(format!("request budget unavailable: {err}")))
    }

    /// Sends one request (its budget slot already taken) and decodes a
    /// JSON success body; a 429 pauses the base for every process.
    async fn send_now<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<T, AirtableError> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .bearer_auth(self.token.expose_secret());
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::metrics::AIRTABLE_REQUESTS).increment(1);
        let answered = async {
            let response = request
                .send()
                .await
                .map_err(|err| AirtableError::from_transport(&err.without_url()))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|err| AirtableError::from_transport(&err.without_url()))?;
            Ok::<_, AirtableError>((status, text))
        };
        let (status, text) = answered.instrument(tracing::debug_span!("request")).await?;
        let err =
            (!status.is_success()).then(|| AirtableError::from_response(status.as_u16(), &text));
        if let Some(err) = err
            .as_ref()
            .filter(|e| e.category == FailureCategory::RateLimit)
        {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(crate::metrics::AIRTABLE_RATE_LIMITED).increment(1);
            tracing::debug!(error = %err, "Airtable rate limit: pausing the base");
            if let Err(err) = self.budget.pause().await {
                tracing::warn!(error = %err, "could not record the Airtable pause for other workers");
            }
        }
        if let Some(err) = err {
            // A token without webhook:manage is a configuration, not a
            // failure: the worker says once which mode it runs in.
            if status.as_u16() == 403 && url.path().contains("/webhooks") {
                tracing::debug!(%method, path = url.path(), error = %err, "Airtable refused a webhooks request");
            } else {
                tracing::warn!(%method, path = url.path(), status = status.as_u16(), error = %err, "Airtable request failed");
            }
            return Err(err);
        }
        // Some endpoints answer success with an empty body (delete a
        // webhook): read it as null.
        let text = if text.trim().is_empty() {
            "null"
        } else {
            text.as_str()
        };
        serde_json::from_str(text).map_err(|err| {
            AirtableError::unexpected(format!(
                "Airtable sent a response tagbot cannot read: {err}"
            ))
        })
    }
}
