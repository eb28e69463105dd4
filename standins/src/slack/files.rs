//! `files.getUploadURLExternal` and `files.completeUploadExternal` as the
//! Web API answers them: the bot token's `files:write` scope and the
//! channel shared to; the upload flow itself is [`crate::slack_files`]'s.

use serde_json::{json, Value};

use super::params::str_param;
use super::reply::{Outcome, Reply};
use super::state::Workspace;

impl Workspace {
    pub(super) fn get_upload_url(&mut self, params: &Value) -> Outcome {
        if !self.files_scope {
            return Err(Reply::error("missing_scope"));
        }
        self.next_id += 1;
        let (id, mut fields) = self
            .files
            .get_upload_url(params, self.next_id)
            .map_err(Reply::error)?;
        fields["upload_url"] = json!(format!("{}/upload/v1/{id}", self.base_url));
        Ok(fields)
    }

    pub(super) fn complete_upload(&mut self, params: &Value) -> Outcome {
        if !self.files_scope {
            return Err(Reply::error("missing_scope"));
        }
        let channel = match str_param(params, "channel_id") {
            None => None,
            Some(key) => {
                let channel = self
                    .channels
                    .iter()
                    .find(|c| c.id == key)
                    .ok_or_else(|| Reply::error("channel_not_found"))?;
                if !channel.bot_is_member {
                    return Err(Reply::error("not_in_channel"));
                }
                Some(channel.id.clone())
            }
        };
        self.files
            .complete(params, channel.as_deref())
            .map_err(Reply::error)
    }
}
