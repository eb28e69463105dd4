//! Events API callbacks, however they arrive (HTTP or Socket Mode). Opening
//! the App Home tab publishes it (in the background: the callback is
//! acknowledged at once); losing the app is worth an error line, once (a
//! retry of the same event is not logged again). Nothing else changes
//! anything in tagbot.

use serde_json::Value;

use crate::slack::app::SlackApp;
use crate::slack::handlers::home;

/// Handles an `event_callback` body; `retry` when Slack sends it again.
pub fn on_callback(app: &SlackApp, callback: &Value, retry: bool) {
    let event = &callback["event"];
    let kind = event["type"].as_str().unwrap_or_default();
    match kind {
        "app_uninstalled" | "tokens_revoked" if !retry => {
            tracing::error!(event = kind, "tagbot was uninstalled or its tokens revoked: reinstall the app and update SLACK_BOT_TOKEN (and SLACK_APP_TOKEN in Socket Mode)");
        }
        // Sent each time a user opens one of the app's tabs; only the
        // Home tab is tagbot's to draw.
        "app_home_opened" if event["tab"] == "home" => {
            let Some(user) = event["user"].as_str().map(str::to_owned) else {
                return;
            };
            let app = app.clone();
            tokio::spawn(async move {
                if let Err(err) = home::opened(&app, &user).await {
                    tracing::warn!(user, error = %err, "could not publish the Home tab");
                }
            });
        }
        _ => {}
    }
}
