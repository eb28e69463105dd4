//! Events API callbacks, however they arrive (HTTP or Socket Mode): they
//! change nothing in tagbot; losing the app is worth an error line, once (a
//! retry of the same event is not logged again).

use serde_json::Value;

/// Notes an `event_callback` body; `retry` when Slack sends it again.
pub fn note(callback: &Value, retry: bool) {
    let kind = callback["event"]["type"].as_str().unwrap_or_default();
    if !retry && matches!(kind, "app_uninstalled" | "tokens_revoked") {
        tracing::error!(event = kind, "tagbot was uninstalled or its tokens revoked: reinstall the app and update SLACK_BOT_TOKEN (and SLACK_APP_TOKEN in Socket Mode)");
    }
}
