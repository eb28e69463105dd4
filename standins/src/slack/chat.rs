//! `chat.postMessage`, `chat.update` and `chat.postEphemeral`, and the
//! check of a message's text and blocks they share with answers at a
//! response URL.
//!
//! | rule | limit | Slack's documentation |
//! |---|---|---|
//! | message `text` | 40,000 chars (`msg_too_long`) | changelog 2018-04 "Truncating really long messages" |
//! | message `blocks` | Block Kit's limits (`invalid_blocks`, see [`crate::block_kit`]) | reference/block-kit/blocks |
//! | `chat.postMessage` / `chat.postEphemeral` `blocks: []` | refused (`invalid_blocks`) | docs silent; Slack observed to refuse it |
//! | an ephemeral's user | in the channel (`user_not_in_channel`: "Intended recipient is not in the specified channel") | chat.postEphemeral errors |
//!
//! Slack itself truncates a `text` over 40,000 characters and warns; the fake
//! refuses it with `msg_too_long` (an error chat.postMessage documents), so
//! tagbot can never rely on silent truncation. An empty `blocks` array on a
//! post is refused rather than ignored, the stricter reading.
//!
//! Channels: posting to an unknown channel answers `channel_not_found`, to a
//! channel the bot is not in `not_in_channel`; a post spends the channel's
//! allowance ([`super::RateLimits::post_per_channel`]) even when its
//! payload is then refused.

use serde_json::{json, Map, Value};

use super::params::str_param;
use super::reply::{Outcome, Reply};
use super::state::{Ephemeral, StoredMessage, Workspace};
use crate::block_kit;
use crate::workspace::{BOT_ID, BOT_USER_ID, TEAM_ID};

/// Longest message `text`.
const MAX_MESSAGE_TEXT: usize = 40_000;

impl StoredMessage {
    /// The message as `chat.postMessage` echoes it.
    fn as_posted(&self) -> Value {
        let mut message = self.content();
        message.insert("type".into(), json!("message"));
        message.insert("ts".into(), json!(self.ts));
        message.insert("team".into(), json!(TEAM_ID));
        if let Some(thread_ts) = &self.thread_ts {
            message.insert("thread_ts".into(), json!(thread_ts));
        }
        Value::Object(message)
    }

    /// The message as `chat.update` echoes it.
    fn as_updated(&self, edited_ts: &str) -> Value {
        let mut message = self.content();
        message.insert("type".into(), json!("message"));
        message.insert(
            "edited".into(),
            json!({ "user": BOT_USER_ID, "ts": edited_ts }),
        );
        Value::Object(message)
    }

    /// Sender, text and blocks, leaving out what the message lacks.
    fn content(&self) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("user".into(), json!(BOT_USER_ID));
        message.insert("bot_id".into(), json!(BOT_ID));
        if let Some(text) = &self.text {
            message.insert("text".into(), json!(text));
        }
        if let Some(blocks) = &self.blocks {
            message.insert("blocks".into(), blocks.clone());
        }
        message
    }

    /// What tests read: the current text and blocks.
    pub(super) fn as_seen(&self) -> Value {
        json!({
            "channel": self.channel,
            "ts": self.ts,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "blocks": self.blocks.clone().unwrap_or_else(|| json!([])),
            "edits": self.edits,
        })
    }
}

impl Workspace {
    /// Keeps a new message, found again by its channel and `ts`.
    pub(super) fn keep_message(&mut self, message: StoredMessage) {
        self.message_index.insert(
            (message.channel.clone(), message.ts.clone()),
            self.messages.len(),
        );
        self.messages.push(message);
    }

    /// A message as it now stands.
    pub(super) fn message(&self, channel: &str, ts: &str) -> Option<&StoredMessage> {
        self.message_index
            .get(&(channel.to_owned(), ts.to_owned()))
            .and_then(|&index| self.messages.get(index))
    }

    /// The id of a channel the bot may post in.
    fn postable_channel(&self, params: &Value) -> Result<String, Reply> {
        let channel = self
            .find_channel(str_param(params, "channel").unwrap_or_default())
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        if !channel.bot_is_member {
            return Err(Reply::error("not_in_channel"));
        }
        Ok(channel.id.clone())
    }

    pub(super) fn post_message(&mut self, params: &Value) -> Outcome {
        let channel = self.postable_channel(params)?;
        // A refused payload still spent the request.
        self.pacing.take_post(&channel)?;
        let (text, blocks) = check_post_content(params)?;
        let message = StoredMessage {
            channel: channel.clone(),
            ts: self.next_ts(),
            text,
            blocks,
            thread_ts: str_param(params, "thread_ts").map(str::to_owned),
            edits: 0,
        };
        let reply = json!({ "channel": channel, "ts": message.ts, "message": message.as_posted() });
        self.keep_message(message);
        Ok(reply)
    }

    pub(super) fn update_message(&mut self, params: &Value) -> Outcome {
        let channel = self
            .find_channel(str_param(params, "channel").unwrap_or_default())
            .map(|c| c.id.clone())
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        let (text, blocks) = check_content(params)?;
        let ts = str_param(params, "ts").unwrap_or_default().to_owned();
        let edited_ts = self.next_ts();
        let message = self
            .message_index
            .get(&(channel.clone(), ts.clone()))
            .and_then(|&index| self.messages.get_mut(index))
            .ok_or_else(|| Reply::error("message_not_found"))?;
        if text.is_some() {
            message.text = text;
        }
        // Leaving `blocks` out keeps the old ones; `[]` removes them.
        if let Some(blocks) = blocks {
            message.blocks = Some(blocks).filter(|b| b.as_array().is_none_or(|a| !a.is_empty()));
        }
        message.edits += 1;
        Ok(json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": message.as_updated(&edited_ts),
        }))
    }

    pub(super) fn post_ephemeral(&mut self, params: &Value) -> Outcome {
        let channel = self.postable_channel(params)?;
        let user = str_param(params, "user")
            .ok_or_else(|| Reply::error("user_not_found"))?
            .to_owned();
        let is_member = self
            .channels
            .iter()
            .any(|c| c.id == channel && c.members.contains(&user));
        if !is_member {
            return Err(Reply::error("user_not_in_channel"));
        }
        let (text, blocks) = check_post_content(params)?;
        let message_ts = self.next_ts();
        self.ephemerals.push(Ephemeral {
            channel,
            user,
            text,
            blocks,
            message_ts: message_ts.clone(),
        });
        Ok(json!({ "message_ts": message_ts }))
    }
}

/// A message's text and blocks, checked the way chat.postMessage,
/// chat.update and chat.postEphemeral check them.
pub(super) fn check_content(params: &Value) -> Result<(Option<String>, Option<Value>), Reply> {
    let text = params
        .get("text")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let blocks = params.get("blocks").filter(|b| !b.is_null()).cloned();
    let has_text = text.as_deref().is_some_and(|t| !t.is_empty());
    let has_blocks = blocks
        .as_ref()
        .is_some_and(|b| b.as_array().is_none_or(|a| !a.is_empty()));
    if !has_text && !has_blocks && params.get("attachments").is_none() {
        return Err(Reply::error("no_text"));
    }
    if text
        .as_deref()
        .is_some_and(|t| t.chars().count() > MAX_MESSAGE_TEXT)
    {
        return Err(Reply::error("msg_too_long"));
    }
    if let Some(blocks) = &blocks {
        if !blocks.is_array() {
            return Err(Reply::error("invalid_blocks_format"));
        }
        block_kit::check_message_blocks(blocks)
            .map_err(|violation| Reply::refused("invalid_blocks", &violation))?;
    }
    Ok((text, blocks))
}

/// [`check_content`] for a new message: `blocks: []` is refused. Slack's
/// docs are silent on an empty array; Slack was observed answering
/// `invalid_blocks`, and the fake takes that stricter answer over ignoring it.
fn check_post_content(params: &Value) -> Result<(Option<String>, Option<Value>), Reply> {
    if params
        .get("blocks")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        return Err(Reply::error("invalid_blocks"));
    }
    check_content(params)
}
