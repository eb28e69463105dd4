//! Who may call the Slack stand-in, and `auth.test`: the bot token (or,
//! with Socket Mode on, the app-level token for `apps.connections.open`),
//! `not_authed` without one and `invalid_auth` for another.

use serde_json::{json, Value};

use super::reply::Reply;
use super::state::Workspace;
use crate::workspace::{BOT_ID, BOT_USER_ID, TEAM_ID, TEAM_NAME};

impl Workspace {
    /// The token of a call to `method`: the app-level token where Socket
    /// Mode takes it (see [`crate::socket_mode`]), else the bot token.
    pub(super) fn authenticate(&self, method: &str, token: Option<&str>) -> Result<(), Reply> {
        let app_level = self
            .socket_mode
            .as_ref()
            .and_then(|s| s.admit(method, token));
        if let Some(Err(code)) = app_level {
            return Err(Reply::error(code));
        }
        match token {
            None => Err(Reply::error("not_authed")),
            Some(token) if token != self.token && app_level.is_none() => {
                Err(Reply::error("invalid_auth"))
            }
            Some(_) => Ok(()),
        }
    }

    /// `auth.test` (<https://docs.slack.dev/reference/methods/auth.test>):
    /// "When working against a team within an Enterprise organization, you'll
    /// also find their enterprise_id here."
    pub(super) fn auth_test(&self) -> Value {
        let mut answer = json!({
            "url": format!("https://{TEAM_NAME}.slack.com/"),
            "team": TEAM_NAME,
            "user": "tagbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": false,
        });
        if let Some(enterprise) = &self.enterprise_id {
            answer["enterprise_id"] = json!(enterprise);
        }
        answer
    }
}
