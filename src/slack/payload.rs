//! The parts of Slack's interaction payloads tagbot reads (`block_actions`,
//! `view_submission`) and of slash-command bodies.
//!
//! Parsed with small serde types that ignore what they do not name, rather
//! than slack-morphism's full models: those model every block of the
//! message the click came from, and one block kind they do not know would
//! make a reviewer's click fail to parse.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum Interaction {
    #[serde(rename = "block_actions")]
    BlockActions(BlockActions),
    #[serde(rename = "view_submission")]
    ViewSubmission(ViewSubmission),
    #[serde(rename = "view_closed")]
    ViewClosed(ViewSubmission),
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The user's own workspace: for a guest from another organisation
    /// in a Slack Connect channel, theirs, not the app's.
    #[serde(default)]
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BlockActions {
    pub user: User,
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub state: Option<State>,
    /// Where the click may be answered (ephemerally, or by replacing the
    /// message) for 30 minutes.
    #[serde(default)]
    pub response_url: Option<String>,
    /// The modal or Home tab clicked in, when the click came from a view.
    #[serde(default)]
    pub view: Option<View>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub message_ts: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<OptionValue>,
    #[serde(default)]
    pub selected_options: Option<Vec<OptionValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OptionValue {
    pub value: String,
}

/// `state.values`: block id → action id → the element's current value.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct State {
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, StateValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StateValue {
    #[serde(default)]
    pub selected_options: Option<Vec<OptionValue>>,
    #[serde(default)]
    pub selected_option: Option<OptionValue>,
}

impl State {
    /// The values selected in the element `action_id`, whichever block
    /// holds it: a review message's block ids change with every revision,
    /// its action ids never do.
    pub fn selected_in_action(&self, action_id: &str) -> Vec<String> {
        self.values
            .values()
            .filter_map(|block| block.get(action_id))
            .filter_map(|value| value.selected_options.as_ref())
            .flatten()
            .map(|o| o.value.clone())
            .collect()
    }

    /// The values selected in the element `action_id` of block `block_id`.
    pub fn selected(&self, block_id: &str, action_id: &str) -> Vec<String> {
        self.values
            .get(block_id)
            .and_then(|block| block.get(action_id))
            .and_then(|value| value.selected_options.as_ref())
            .map(|options| options.iter().map(|o| o.value.clone()).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewSubmission {
    pub user: User,
    pub view: View,
}

#[derive(Debug, Clone, Deserialize)]
pub struct View {
    #[serde(default)]
    pub id: Option<String>,
    /// `modal` or `home`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub callback_id: Option<String>,
    #[serde(default)]
    pub private_metadata: Option<String>,
    /// The view's version when the user acted
    /// (reference/interaction-payloads): an update passes it on, so that
    /// Slack refuses the update if the view changed since.
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub state: State,
}

impl BlockActions {
    /// The channel and ts of the message the click came from.
    pub fn message(&self) -> Option<(String, String)> {
        let container = self.container.as_ref()?;
        let ts = container.message_ts.clone()?;
        let channel = container
            .channel_id
            .clone()
            .or_else(|| self.channel.as_ref().map(|c| c.id.clone()))?;
        Some((channel, ts))
    }
}

/// A slash command, as form fields.
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    pub channel_id: String,
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// Where the answer goes when it is not ready within Slack's 3 s.
    #[serde(default)]
    pub response_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_is_found_by_action_id_whatever_its_block_id() {
        let state: State = serde_json::from_value(serde_json::json!({ "values": {
            "tagbot_select_block~r7": { "tagbot_select": { "type": "multi_static_select",
                "selected_options": [{ "text": { "type": "plain_text", "text": "t" }, "value": "42" }] } },
            "other": { "tagbot_other": { "type": "multi_static_select",
                "selected_options": [{ "text": { "type": "plain_text", "text": "u" }, "value": "43" }] } }
        } }))
        .unwrap();
        assert_eq!(state.selected_in_action("tagbot_select"), vec!["42"]);
        assert!(state.selected_in_action("tagbot_none").is_empty());
    }

    #[test]
    fn a_block_actions_payload_as_slack_sends_it_parses() {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": { "id": "U0CLICKER", "username": "dana", "name": "dana", "team_id": "T1" },
            "api_app_id": "A1", "token": "legacy", "trigger_id": "123.456.abc",
            "team": { "id": "T1", "domain": "lectures" },
            "container": { "type": "message", "message_ts": "1700000000.000100", "channel_id": "C0REVIEW01", "is_ephemeral": false },
            "channel": { "id": "C0REVIEW01", "name": "tag-review" },
            "message": { "type": "message", "ts": "1700000000.000100", "blocks": [{ "type": "rich_text", "elements": [] }] },
            "state": { "values": { "tagbot_select_block": { "tagbot_select": {
                "type": "multi_static_select",
                "selected_options": [{ "text": { "type": "plain_text", "text": "x" }, "value": "7" }] } } } },
            "actions": [{ "type": "button", "action_id": "tagbot_approve", "block_id": "a:7",
                          "text": { "type": "plain_text", "text": "Approve" }, "value": "7", "action_ts": "1700000001.1" }]
        });
        let Interaction::BlockActions(actions) = serde_json::from_value(payload).unwrap() else {
            panic!("not block_actions");
        };
        assert_eq!(actions.user.id, "U0CLICKER");
        assert_eq!(
            actions.message(),
            Some(("C0REVIEW01".into(), "1700000000.000100".into()))
        );
        assert_eq!(actions.actions[0].value.as_deref(), Some("7"));
        let state = actions.state.unwrap_or_default();
        assert_eq!(
            state.selected("tagbot_select_block", "tagbot_select"),
            ["7"]
        );
        assert!(state.selected("other", "tagbot_select").is_empty());
    }

    #[test]
    fn unknown_interaction_types_are_recognised_as_other() {
        let payload = serde_json::json!({ "type": "shortcut", "user": { "id": "U1" } });
        assert!(matches!(
            serde_json::from_value::<Interaction>(payload).unwrap(),
            Interaction::Other
        ));
    }
}
