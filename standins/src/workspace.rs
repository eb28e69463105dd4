//! Who the Slack stand-in plays, and what it hands out per interaction:
//! the workspace's ids (as `auth.test` reports them) and the trigger id and
//! response URL minted for one click or command. The stand-ins of the Web
//! API and Socket Mode and the signed-request sender all use them, so they
//! live apart from each.

/// The workspace the fake plays, as `auth.test` reports it.
pub const TEAM_ID: &str = "T0TAGBOT00";
pub const TEAM_NAME: &str = "tagbot-fake";
/// The bot user tagbot posts as.
pub const BOT_USER_ID: &str = "U0TAGBOT00";
pub const BOT_ID: &str = "B0TAGBOT00";
pub const APP_ID: &str = "A0TAGBOT00";

/// What Slack mints for each interaction and slash command: a trigger id
/// (to open a modal within 3 s, once) and a response URL (to answer later).
/// Take them from the Slack stand-in (`FakeSlack::mint`), which refuses
/// any it did not mint, so nothing is ever sent to the real Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub trigger_id: String,
    pub response_url: String,
}
