//! Response URLs: where the app answers a slash command or a click after it
//! acknowledged.
//!
//! A slash command or a click carries a `response_url` the app may answer
//! through after it acknowledged. The fake mints them
//! (`FakeSlack::response_url`) on its own server, as
//! `{url}/response/{id}`, and records every answer posted there
//! (`FakeSlack::responses`). As documented
//! (docs.slack.dev/interactivity/implementing-slash-commands: "up to 5
//! times within 30 minutes"), each URL takes 5 answers within 30 minutes
//! (the lifetime is settable for tests). The body is JSON: `text` and/or
//! `blocks` (checked as a message's), `response_type` `ephemeral` (the
//! default) or `in_channel`, `replace_original`, `delete_original`
//! (docs.slack.dev/messaging/modifying-messages); the fake records those
//! two flags but does not change the original message. Slack's pages do not
//! say what an unknown, expired or used-up URL answers: the fake answers
//! HTTP 404 with `no_service` for an unknown one (the incoming-webhook
//! error for a URL that is "disabled, removed, or invalid") and `expired_url`
//! for the others, counts every request to a live URL as a use (refused
//! ones too), and refuses a bad body with HTTP 400 as incoming webhooks do.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::chat::check_content;
use super::reply::Reply;
use super::state::{ResponseAnswer, ResponseUrl, SlackCall, Workspace};

/// How long a `response_url` takes answers, and how many it takes
/// (docs.slack.dev/interactivity/implementing-slash-commands).
pub(super) const RESPONSE_URL_LIFETIME: Duration = Duration::from_secs(30 * 60);
const RESPONSE_URL_USES: u32 = 5;

impl Workspace {
    /// A fresh response URL on the server at `base_url`, for an answer to
    /// `user` in `channel`.
    pub(super) fn mint_response_url(
        &mut self,
        base_url: &str,
        channel: &str,
        user: &str,
    ) -> String {
        let (count, scrambled) = self.new_secret();
        let id = format!("R{count:08}{scrambled:016x}");
        let url = format!("{base_url}/response/{id}");
        self.response_urls.insert(
            id,
            ResponseUrl {
                url: url.clone(),
                channel: channel.to_owned(),
                user: user.to_owned(),
                minted: Instant::now(),
                uses: 0,
            },
        );
        url
    }

    /// An answer posted to the response URL `id`; logged as a call to
    /// the method `response_url`.
    pub(super) fn answer(&mut self, id: &str, body: &[u8]) -> Reply {
        let reply = self.take_answer(id, body).unwrap_or_else(|refused| refused);
        self.log.push(SlackCall {
            method: "response_url".to_owned(),
            http_method: "POST".to_owned(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            status: reply.status.as_u16(),
            response: reply.body.clone(),
            at: Instant::now(),
        });
        reply
    }

    fn take_answer(&mut self, id: &str, body: &[u8]) -> Result<Reply, Reply> {
        let lifetime = self.response_url_lifetime;
        let minted = self
            .response_urls
            .get_mut(id)
            .ok_or_else(|| Reply::hook_error(StatusCode::NOT_FOUND, "no_service"))?;
        if minted.minted.elapsed() > lifetime || minted.uses >= RESPONSE_URL_USES {
            return Err(Reply::hook_error(StatusCode::NOT_FOUND, "expired_url"));
        }
        minted.uses += 1;
        let minted = minted.clone();
        let invalid = || Reply::hook_error(StatusCode::BAD_REQUEST, "invalid_payload");
        let params: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
        if !params.is_object() {
            return Err(invalid());
        }
        let response_type = match params.get("response_type") {
            None | Some(Value::Null) => "ephemeral",
            Some(Value::String(kind)) if kind == "ephemeral" || kind == "in_channel" => kind,
            Some(_) => return Err(invalid()),
        }
        .to_owned();
        let flag = |key: &str| params.get(key).and_then(Value::as_bool).unwrap_or(false);
        let delete_original = flag("delete_original");
        let (text, blocks) = if delete_original {
            (None, None)
        } else {
            check_content(&params).map_err(|refused| Reply {
                status: StatusCode::BAD_REQUEST,
                ..refused
            })?
        };
        self.responses.push(ResponseAnswer {
            url: minted.url,
            channel: minted.channel,
            user: minted.user,
            response_type,
            text,
            blocks,
            replace_original: flag("replace_original"),
            delete_original,
        });
        Ok(Reply::ok(json!({})))
    }
}
