//! Channels: `conversations.info`, and finding a channel by id or name as
//! the chat methods take it.

use serde_json::{json, Value};

use super::params::str_param;
use super::reply::{Outcome, Reply};
use super::state::{Channel, Workspace};

impl Channel {
    fn as_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "created": 1_700_000_000,
            "is_channel": true,
            "is_private": false,
            "is_archived": false,
            "is_member": self.bot_is_member,
        })
    }
}

impl Workspace {
    /// A channel by id, or by name with or without `#`, as chat methods take it.
    pub(super) fn find_channel(&self, key: &str) -> Option<&Channel> {
        let name = key.strip_prefix('#').unwrap_or(key);
        self.channels
            .iter()
            .find(|c| c.id == key || (!name.is_empty() && c.name == name))
    }

    /// A channel by id, to change it as a person would.
    pub(super) fn channel_mut(&mut self, id: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    pub(super) fn conversation_info(&self, params: &Value) -> Outcome {
        let id = str_param(params, "channel").unwrap_or_default();
        let channel = self
            .channels
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| Reply::error("channel_not_found"))?;
        Ok(json!({ "channel": channel.as_json() }))
    }
}
