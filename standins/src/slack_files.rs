//! Slack's file upload flow, as documented since `files.upload` was retired
//! for new apps (docs.slack.dev/changelog/2024-04-a-better-way-to-upload-
//! files-is-here-to-stay):
//!
//! | rule | source |
//! |---|---|
//! | `files.getUploadURLExternal` takes `filename` and `length` (bytes), optional `alt_txt` (at most 1,000 characters), returns `upload_url` and `file_id`; Tier 4 | reference/methods/files.getUploadURLExternal |
//! | the bytes are POSTed to `upload_url` (raw body or a multipart form); 200 is success | docs.slack.dev/messaging/working-with-files |
//! | `files.completeUploadExternal` takes `files` (a JSON array of `{id, title}`), optional `channel_id`, `initial_comment`, `thread_ts`; returns `files`; once per file; `file_not_found`, `channel_not_found`, `not_in_channel`; Tier 4 | reference/methods/files.completeUploadExternal |
//! | every call needs the `files:write` scope | api.slack.com/scopes/files:write |
//!
//! Not documented, so the stand-in picks the stricter reading: an upload
//! whose size differs from the announced `length` is refused (400), and a
//! file completed before it was uploaded is `file_not_found`.

use serde_json::{json, Value};

/// `alt_txt` is at most this long.
const MAX_ALT_TXT: usize = 1_000;

/// A file on its way up, or shared.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedFile {
    pub id: String,
    pub filename: String,
    pub length: u64,
    pub alt_txt: Option<String>,
    /// The bytes, once uploaded.
    pub bytes: Option<Vec<u8>>,
    /// Set once completed.
    pub title: Option<String>,
    pub channel: Option<String>,
    pub initial_comment: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Files {
    pub list: Vec<UploadedFile>,
}

/// A refusal: an `error` code for the Web API, or an HTTP status for the
/// upload URL.
pub(crate) type Refusal = &'static str;

impl Files {
    /// `files.getUploadURLExternal`: the file's id; the caller makes the URL.
    pub fn get_upload_url(
        &mut self,
        params: &Value,
        next_id: u64,
    ) -> Result<(String, Value), Refusal> {
        let filename = params["filename"].as_str().filter(|f| !f.is_empty());
        let length = match &params["length"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        };
        let (Some(filename), Some(length)) = (filename, length) else {
            return Err("invalid_arguments");
        };
        if length == 0 {
            return Err("missing_argument");
        }
        let alt_txt = params["alt_txt"].as_str().map(str::to_owned);
        if alt_txt
            .as_ref()
            .is_some_and(|a| a.chars().count() > MAX_ALT_TXT)
        {
            return Err("alt_txt_too_large");
        }
        let id = format!("F{next_id:010}");
        self.list.push(UploadedFile {
            id: id.clone(),
            filename: filename.to_owned(),
            length,
            alt_txt,
            bytes: None,
            title: None,
            channel: None,
            initial_comment: None,
        });
        Ok((id.clone(), json!({ "file_id": id })))
    }

    /// The bytes POSTed to a file's upload URL.
    pub fn upload(&mut self, id: &str, bytes: &[u8]) -> Result<(), u16> {
        let Some(file) = self.list.iter_mut().find(|f| f.id == id) else {
            return Err(404);
        };
        if file.title.is_some() || file.length != bytes.len() as u64 {
            return Err(400);
        }
        file.bytes = Some(bytes.to_vec());
        Ok(())
    }

    /// `files.completeUploadExternal`, the channel already checked.
    pub fn complete(&mut self, params: &Value, channel: Option<&str>) -> Result<Value, Refusal> {
        let files = match &params["files"] {
            Value::Array(files) => files.clone(),
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(files)) => files,
                _ => return Err("invalid_arguments"),
            },
            _ => return Err("invalid_arguments"),
        };
        if files.is_empty() {
            return Err("invalid_arguments");
        }
        for wanted in &files {
            let id = wanted["id"].as_str().unwrap_or_default();
            let ready = self
                .list
                .iter()
                .any(|f| f.id == id && f.bytes.is_some() && f.title.is_none());
            if !ready {
                return Err("file_not_found");
            }
        }
        let mut done = Vec::new();
        for wanted in &files {
            let id = wanted["id"].as_str().unwrap_or_default();
            if let Some(file) = self.list.iter_mut().find(|f| f.id == id) {
                let title = wanted["title"]
                    .as_str()
                    .unwrap_or(&file.filename)
                    .to_owned();
                file.title = Some(title.clone());
                file.channel = channel.map(str::to_owned);
                file.initial_comment = params["initial_comment"].as_str().map(str::to_owned);
                done.push(json!({ "id": id, "title": title }));
            }
        }
        Ok(json!({ "files": done }))
    }
}
