//! The base's change stream through Airtable's webhooks API (developers/
//! web/api/webhooks-overview): create, list and refresh webhooks, and list
//! their payloads with a cursor. No public URL is needed: tagbot reads
//! payloads, it does not take notifications. Every call goes through the
//! shared request budget, as the overview says the webhooks API counts
//! against the base's 5 requests a second.
//!
//! Scopes: `webhook:manage` for every call, and `data.records:read` to
//! create and read a webhook of record data; without them Airtable answers
//! 403 and tagbot reads before each write, as it always has.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{AirtableClient, AirtableError};

/// A webhook as list webhooks shows it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub id: String,
    /// The cursor the next payload will have.
    pub cursor_for_next_payload: u64,
    pub is_hook_enabled: bool,
    /// None: it never expires (legacy API keys).
    #[serde(default)]
    pub expiration_time: Option<chrono::DateTime<chrono::Utc>>,
    pub specification: Value,
}

/// A webhook just made.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    pub id: String,
    #[serde(default)]
    pub expiration_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// One listing of payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadPage {
    /// Each as Airtable sends it (`payloadFormat` "v0").
    pub payloads: Vec<Value>,
    /// Where the next listing starts: the number after the last payload.
    pub cursor: u64,
    /// More are waiting: list again at once from `cursor`.
    pub might_have_more: bool,
}

/// "A maximum of 50 payloads can be returned in a single request."
pub const MAX_PAYLOADS_PER_LIST: u32 = 50;

/// The specification of tagbot's webhook: changes to the tags cells and
/// the lecture id cells of one table (a record given another lecture id
/// must not be written as the old lecture), with the values before each
/// change and the record's lecture id whether or not it changed. Tables
/// and fields by id, as the specification requires
/// (api/model/webhooks-specification).
pub fn tags_specification(table_id: &str, tags_field_id: &str, lecture_field_id: &str) -> Value {
    json!({ "options": {
        "filters": {
            "dataTypes": ["tableData"],
            "recordChangeScope": table_id,
            "watchDataInFieldIds": [tags_field_id, lecture_field_id],
        },
        "includes": {
            "includePreviousCellValues": true,
            "includeCellValuesInFieldIds": [lecture_field_id],
        },
    } })
}

impl AirtableClient {
    /// The base's webhooks (needs `webhook:manage`).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>, AirtableError> {
        #[derive(Deserialize)]
        struct Listed {
            webhooks: Vec<Webhook>,
        }
        let url = self.bases_url(&["webhooks"])?;
        let listed: Listed = self.send_json(Method::GET, url, None).await?;
        Ok(listed.webhooks)
    }

    /// Creates a webhook with `specification`, without a notification URL.
    pub async fn create_webhook(
        &self,
        specification: &Value,
    ) -> Result<CreatedWebhook, AirtableError> {
        let url = self.bases_url(&["webhooks"])?;
        let body = json!({ "specification": specification });
        self.send_json(Method::POST, url, Some(body)).await
    }

    /// Deletes a webhook (an empty answer on success).
    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<(), AirtableError> {
        let url = self.bases_url(&["webhooks", webhook_id])?;
        let _: Value = self.send_json(Method::DELETE, url, None).await?;
        Ok(())
    }

    /// Extends an active webhook's life to 7 days from now.
    pub async fn refresh_webhook(
        &self,
        webhook_id: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, AirtableError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Refreshed {
            #[serde(default)]
            expiration_time: Option<chrono::DateTime<chrono::Utc>>,
        }
        let url = self.bases_url(&["webhooks", webhook_id, "refresh"])?;
        let refreshed: Refreshed = self.send_json(Method::POST, url, None).await?;
        Ok(refreshed.expiration_time)
    }

    /// Payloads from `cursor` on, at most 50.
    pub async fn webhook_payloads(
        &self,
        webhook_id: &str,
        cursor: u64,
    ) -> Result<PayloadPage, AirtableError> {
        let mut url = self.bases_url(&["webhooks", webhook_id, "payloads"])?;
        url.query_pairs_mut()
            .append_pair("cursor", &cursor.max(1).to_string())
            .append_pair("limit", &MAX_PAYLOADS_PER_LIST.to_string());
        self.send_json(Method::GET, url, None).await
    }
}
