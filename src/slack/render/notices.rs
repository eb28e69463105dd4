//! Notices in the report channel: a permanent sync failure, with a Retry
//! button for its lecture.

use super::*;

/// One permanent failure, as the worker recorded it.
#[derive(Debug, Clone, Copy)]
pub struct FailureNotice<'a> {
    pub lecture: &'a str,
    pub title: Option<&'a str>,
    pub tag_name: &'a str,
    /// Airtable's words, or the mapping's (`tag_missing: …`).
    pub reason: Option<&'a str>,
}

/// The notice's fallback text and blocks.
pub fn failure_notice(failure: &FailureNotice) -> (String, Vec<Value>) {
    let title = failure.title.unwrap_or("");
    let reason = failure.reason.unwrap_or("no reason recorded");
    let text = format!(
        ":warning: Tag {} of lecture {} could not be synced to Airtable: {}",
        isolate(&escape_mrkdwn(failure.tag_name)),
        escape_mrkdwn(failure.lecture),
        escape_mrkdwn(reason),
    );
    let section = format!(
        ":warning: *Sync failed* — {} `{}`\nTag {}: {}",
        isolate(&escape_mrkdwn(title)),
        escape_mrkdwn(failure.lecture),
        isolate(&escape_mrkdwn(failure.tag_name)),
        escape_mrkdwn(reason),
    );
    let blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": shorten(&section, limits::SECTION_TEXT) } }),
        json!({ "type": "actions", "elements": [{
            "type": "button", "action_id": actions::RETRY_FAILED,
            "text": { "type": "plain_text", "text": "Retry failed" },
            "value": shorten(failure.lecture, limits::BUTTON_VALUE),
        }] }),
    ];
    (shorten(&text, limits::SECTION_TEXT), blocks)
}
