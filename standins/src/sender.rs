//! Slack's side of the conversation with tagbot's endpoints: interaction
//! payloads and slash commands shaped as Slack sends them, signed with the
//! signing secret. The demo clicks through it, the tests and the load
//! benchmark send through it.
//!
//! The signature is computed here, with this crate's own HMAC code, exactly
//! as Slack documents it (<https://api.slack.com/authentication/verifying-requests-from-slack>):
//! `v0=` + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)). A
//! sender that borrowed tagbot's verifier would check tagbot with itself.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::slack::OpenedView;

/// The headers Slack signs a request with.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Slack's `X-Slack-Signature` for `body` sent at `timestamp` (seconds).
pub fn slack_signature(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(signing_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Seconds since the Unix epoch, as Slack's timestamp header carries them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub use crate::workspace::Minted;
use crate::workspace::TEAM_ID;

/// A `block_actions` payload for one action on a message in `channel`.
/// `action` is merged into the action object (`value`, `selected_option`);
/// `state` is the message's `state.values`.
pub fn block_actions(
    user: &str,
    channel: &str,
    message_ts: &str,
    minted: &Minted,
    action_id: &str,
    action: Value,
    state: Value,
) -> Value {
    let mut action_json = json!({
        "type": "button", "action_id": action_id, "block_id": "b",
        "text": { "type": "plain_text", "text": "x" }, "action_ts": "1700000001.000200"
    });
    if let (Some(target), Some(extra)) = (action_json.as_object_mut(), action.as_object()) {
        target.extend(extra.clone());
    }
    json!({
        "type": "block_actions",
        "user": payload_user(user),
        "api_app_id": "A0TAGBOT00",
        "token": "legacy",
        "container": { "type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false },
        "trigger_id": minted.trigger_id,
        "team": { "id": TEAM_ID, "domain": "tagbot" },
        "channel": { "id": channel, "name": "tag-review" },
        "message": { "type": "message", "ts": message_ts, "text": "…", "blocks": [] },
        "state": { "values": state },
        "response_url": minted.response_url,
        "actions": [action_json],
    })
}

/// The user object of an interaction payload.
fn payload_user(user: &str) -> Value {
    json!({ "id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": TEAM_ID })
}

/// A view as an interaction payload carries it: what the app sent, with
/// the ids Slack gave it and `state.values`.
fn payload_view(view: &OpenedView, values: Value) -> Value {
    let mut shown = view.view.as_object().cloned().unwrap_or_default();
    shown.insert("id".into(), json!(view.id));
    shown.insert("root_view_id".into(), json!(view.root_view_id));
    shown.insert("hash".into(), json!(view.hash));
    shown.insert("team_id".into(), json!(TEAM_ID));
    shown.insert("app_id".into(), json!("A0TAGBOT00"));
    shown.insert("state".into(), json!({ "values": values }));
    Value::Object(shown)
}

/// A `view_submission` of `view` (a modal the stand-in has open) with
/// `values` as its `state.values` (block id → action id → value), as
/// Slack sends it when the user presses the submit button.
pub fn view_submission(user: &str, view: &OpenedView, minted: &Minted, values: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": { "id": TEAM_ID, "domain": "tagbot" },
        "user": payload_user(user),
        "api_app_id": "A0TAGBOT00",
        "token": "legacy",
        "trigger_id": minted.trigger_id,
        "view": payload_view(view, values),
        "response_urls": [],
    })
}

/// A `view_closed` of `view`, sent when the user closes a modal that asked
/// for it (`notify_on_close`).
pub fn view_closed(user: &str, view: &OpenedView) -> Value {
    json!({
        "type": "view_closed",
        "team": { "id": TEAM_ID, "domain": "tagbot" },
        "user": payload_user(user),
        "api_app_id": "A0TAGBOT00",
        "view": payload_view(view, json!({})),
        "is_cleared": false,
    })
}

/// A `block_actions` payload for a button `action_id` pressed in `view` (a
/// modal or a Home tab): its container is the view, not a message.
pub fn view_block_actions(
    user: &str,
    view: &OpenedView,
    minted: &Minted,
    action_id: &str,
    value: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": payload_user(user),
        "api_app_id": "A0TAGBOT00",
        "token": "legacy",
        "container": { "type": "view", "view_id": view.id },
        "trigger_id": minted.trigger_id,
        "team": { "id": TEAM_ID, "domain": "tagbot" },
        "view": payload_view(view, json!({})),
        "actions": [{
            "type": "button", "action_id": action_id, "block_id": "b",
            "text": { "type": "plain_text", "text": "x" }, "value": value,
            "action_ts": "1700000001.000200"
        }],
    })
}

/// An `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The body of an interaction request: `payload=<json>`.
pub fn interaction_body(payload: &Value) -> String {
    form(&[("payload", &payload.to_string())])
}

/// The body of a `/tags` command from `user` in `channel`, with what the
/// Slack stand-in minted for it (see [`Minted`]).
pub fn command_body(user: &str, channel: &str, text: &str, minted: &Minted) -> String {
    form(&[
        ("token", "legacy"),
        ("team_id", TEAM_ID),
        ("channel_id", channel),
        ("channel_name", "tag-review"),
        ("user_id", user),
        ("user_name", &user.to_lowercase()),
        ("command", "/tags"),
        ("text", text),
        ("response_url", &minted.response_url),
        ("trigger_id", &minted.trigger_id),
    ])
}

/// Sends signed requests to one tagbot's endpoints.
#[derive(Clone)]
pub struct SlackSender {
    http: reqwest::Client,
    /// `http://host:port` of tagbot.
    base: String,
    signing_secret: String,
}

impl SlackSender {
    pub fn new(base: &str, signing_secret: &str) -> SlackSender {
        SlackSender {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            signing_secret: signing_secret.to_owned(),
        }
    }

    /// POSTs a form body to `path`, signed now; returns status and body.
    pub async fn send(&self, path: &str, body: String) -> Result<(u16, String), reqwest::Error> {
        let timestamp = unix_now().to_string();
        let signature = slack_signature(&self.signing_secret, &timestamp, body.as_bytes());
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    pub async fn interact(&self, payload: &Value) -> Result<u16, reqwest::Error> {
        Ok(self
            .send("/slack/interactions", interaction_body(payload))
            .await?
            .0)
    }

    /// `/tags <text>`; returns the text answered at once (empty when the
    /// app only acknowledged and answers later at the `response_url`).
    pub async fn command(
        &self,
        user: &str,
        channel: &str,
        text: &str,
        minted: &Minted,
    ) -> Result<String, reqwest::Error> {
        let (_, body) = self
            .send("/slack/commands", command_body(user, channel, text, minted))
            .await?;
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(answer["text"].as_str().unwrap_or(&body).to_owned())
    }
}
