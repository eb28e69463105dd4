//! The review session modal: one lecture from the queue, each pending tag
//! with its score, rationale, model and time and a choice of approve,
//! reject or leave pending; "Approve all ≥ threshold" and "Skip" above.
//! Submitting saves the choices and shows the next lecture in the same
//! modal (see `slack::sessions`).

use serde::{Deserialize, Serialize};

use super::lecture::*;
use super::review_message::threshold_note;
use super::*;

/// Tags shown per round: two blocks each inside a view's 100. The rest stay
/// pending and the lecture comes back in a later round.
pub const SESSION_TAGS: usize = 45;
/// A rationale keeps this much in a session: more than in the channel,
/// since deciding is what the modal is for.
const SESSION_RATIONALE_CHARS: usize = 1_000;
const SESSION_TITLE: &str = "Review session";

/// What a session carries from one view to the next, in the view's
/// `private_metadata` (at most 3,000 characters).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The lecture shown; None on a view with no lecture (queue empty).
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub lecture: Option<String>,
    /// Bumped when the choices are re-set ("Approve all ≥"): new block ids
    /// make Slack show the new initial options.
    #[serde(rename = "r", default)]
    pub revision: u32,
    /// Lectures skipped in this session, most recent last.
    #[serde(rename = "k", default)]
    pub skipped: Vec<String>,
    /// The lecture whose choices the last submit saved: an **Undo** on
    /// this view takes them back (checked against it).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<String>,
}

impl SessionState {
    /// As `private_metadata`: the oldest skips are dropped until it fits
    /// (a dropped skip only means that lecture may be served again).
    pub fn to_metadata(&self) -> String {
        let mut state = self.clone();
        loop {
            let text = serde_json::to_string(&state).unwrap_or_default();
            if text.chars().count() <= limits::PRIVATE_METADATA || state.skipped.is_empty() {
                return text;
            }
            state.skipped.remove(0);
        }
    }

    pub fn from_metadata(raw: &str) -> Option<SessionState> {
        serde_json::from_str(raw).ok()
    }
}

/// One lecture of a session.
#[derive(Debug, Clone, Copy)]
pub struct SessionLecture<'a> {
    pub card: &'a LectureCard,
    pub state: &'a SessionState,
    /// Lectures with pending tags in all, this one included.
    pub waiting: i64,
    /// Approve pre-selected for the tags at or above the threshold.
    pub preselect: bool,
    /// A line above the lecture (what happened to the last submit).
    pub notice: Option<&'a str>,
    /// Beside the notice, an **Undo** of the save it reports (a
    /// suggestion it decided), while the window is open.
    pub undo: Option<i64>,
}

/// The session modal showing one lecture.
pub fn session_modal(session: &SessionLecture) -> Value {
    let card = session.card;
    let pending = pending(card);
    let shown = &pending[..pending.len().min(SESSION_TAGS)];
    let mut blocks = vec![header_block(card), session_summary(session, pending.len())];
    if let Some(notice) = session.notice {
        blocks.push(notice_block(notice, session.undo));
    }
    blocks.push(session_buttons(card));
    for s in shown {
        blocks.push(session_section(s));
        blocks.push(choice_input(s, session));
    }
    if pending.len() > shown.len() {
        blocks.push(context(
            "more",
            &format!(
                "{} more pending tag(s) of this lecture come back in a later round.",
                pending.len() - shown.len()
            ),
        ));
    }
    json!({
        "type": "modal",
        "callback_id": actions::SESSION_MODAL,
        "private_metadata": session.state.to_metadata(),
        "notify_on_close": true,
        "title": plain(SESSION_TITLE, limits::MODAL_TITLE),
        "submit": plain("Save and next", limits::MODAL_TITLE),
        "close": plain("Stop", limits::MODAL_TITLE),
        "blocks": blocks,
    })
}

/// A session view with a line of text and no lecture: the queue is empty,
/// or the reviewer may not decide.
pub fn session_notice(text: &str, state: &SessionState) -> Value {
    session_notice_with_undo(text, state, None)
}

/// [`session_notice`] with an **Undo** beside the text (of a save it
/// reports: `undo` is a suggestion the save decided).
pub fn session_notice_with_undo(text: &str, state: &SessionState, undo: Option<i64>) -> Value {
    json!({
        "type": "modal",
        "callback_id": actions::SESSION_MODAL,
        "private_metadata": state.to_metadata(),
        "notify_on_close": true,
        "title": plain(SESSION_TITLE, limits::MODAL_TITLE),
        "close": plain("Close", limits::MODAL_TITLE),
        "blocks": [notice_block(text, undo)],
    })
}

/// What happened to the last submit, with an **Undo** of it when given.
fn notice_block(text: &str, undo: Option<i64>) -> Value {
    let mut block = json!({
        "type": "section", "block_id": "notice",
        "text": mrkdwn(text, limits::SECTION_TEXT),
    });
    if let (Some(id), Some(obj)) = (undo, block.as_object_mut()) {
        obj.insert(
            "accessory".into(),
            button("Undo", actions::UNDO, &id.to_string(), None),
        );
    }
    block
}

/// The block id of a tag's choice, stamped with the view's revision.
pub fn choice_block_id(suggestion: i64, revision: u32) -> String {
    format!("choice:{suggestion}:{revision}")
}

/// The suggestion id a choice's block id names.
pub fn choice_block_suggestion(block_id: &str) -> Option<&str> {
    let rest = block_id.strip_prefix("choice:")?;
    Some(rest.split(':').next().unwrap_or(rest))
}

fn session_summary(session: &SessionLecture, pending: usize) -> Value {
    let others = (session.waiting - 1).max(0);
    let mut text = format!(
        "Lecture {} · {pending} pending · {others} more lecture(s) waiting",
        embed_mrkdwn(&session.card.lecture_id, LECTURE_ID_CHARS)
    );
    if let Some(note) = threshold_note(session.card) {
        text.push_str(" · ");
        text.push_str(&note);
    }
    context("summary", &text)
}

fn session_buttons(card: &LectureCard) -> Value {
    let value = lecture_value(card).unwrap_or_default();
    let mut elements = Vec::new();
    let top = top_count(card);
    if top > 0 {
        elements.push(button(
            &format!(
                "Approve all ≥ {} ({top})",
                score_label(card.approve_threshold)
            ),
            actions::SESSION_TOP,
            value,
            None,
        ));
    }
    elements.push(button("Skip", actions::SESSION_SKIP, value, None));
    json!({ "type": "actions", "block_id": "session_actions", "elements": elements })
}

/// A pending tag as the session shows it: name, score, the rationale at
/// length, model and time.
fn session_section(s: &SuggestionCard) -> Value {
    let mut lines = vec![
        format!(
            "*{}*  {}",
            embed_mrkdwn(&tag_label(s), TAG_CHARS),
            score_label(s.score)
        ),
        format!(
            "_Why:_ {}",
            embed_mrkdwn(&s.rationale, SESSION_RATIONALE_CHARS)
        ),
        format!(
            "Model {} · suggested {}",
            embed_mrkdwn(&s.model, MODEL_CHARS),
            slack_date(s.created_at)
        ),
    ];
    // A lead settling a dispute sees both votes and their reasons.
    lines.extend(votes_line(s));
    json!({
        "type": "section",
        "block_id": format!("s:{}", s.id),
        "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT),
    })
}

/// A tag's choices: Approve, Reject (no reason), Reject with each reason,
/// Leave pending: eight of the ten options a radio group may have.
fn choice_options() -> Vec<Value> {
    let mut options = vec![option("Approve", "approve"), option("Reject", "reject")];
    options.extend(RejectReason::ALL.iter().map(|reason| {
        option(
            &format!("Reject — {}", reason.label()),
            &format!("reject:{}", reason.as_str()),
        )
    }));
    options.push(option("Leave pending", "pending"));
    options
}

/// What a choice's option value asks for; `None`: leave pending (or a
/// value tagbot does not make).
pub fn read_choice(value: &str) -> Option<SessionChoice> {
    match value {
        "approve" => Some(SessionChoice::Approve),
        "reject" => Some(SessionChoice::Reject(None)),
        _ => value
            .strip_prefix("reject:")
            .and_then(|reason| reason.parse().ok())
            .map(|reason| SessionChoice::Reject(Some(reason))),
    }
}

/// A tag's choice in a submitted session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChoice {
    Approve,
    Reject(Option<RejectReason>),
}

fn choice_input(s: &SuggestionCard, session: &SessionLecture) -> Value {
    let preselected = session.preselect && s.score >= session.card.approve_threshold;
    let initial = if preselected { "approve" } else { "pending" };
    let options = choice_options();
    let initial_option = options
        .iter()
        .find(|o| o["value"] == initial)
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "type": "input",
        "block_id": choice_block_id(s.id, session.state.revision),
        "optional": true,
        "label": plain(&format!("{} {}", embed_plain(&tag_label(s), 150), score_label(s.score)), limits::INPUT_LABEL),
        "element": {
            "type": "radio_buttons",
            "action_id": actions::SESSION_CHOICE,
            "options": options,
            "initial_option": initial_option,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn the_view_after_a_save_offers_its_undo_beside_the_notice() {
        let c = pending_card(2);
        let state = SessionState {
            lecture: Some("lec-42".to_owned()),
            saved: Some("L7".to_owned()),
            ..SessionState::default()
        };
        let view = session_modal(&SessionLecture {
            card: &c,
            state: &state,
            waiting: 3,
            preselect: false,
            notice: Some("Saved 2 decision(s) on lecture `L7`."),
            undo: Some(70),
        });
        check_modal(&view);
        let blocks = view["blocks"].as_array().unwrap();
        let undo = &block(blocks, "notice").expect("the notice")["accessory"];
        assert_eq!(
            (&undo["action_id"], &undo["value"]),
            (&Value::from(actions::UNDO), &Value::from("70"))
        );
        let back = SessionState::from_metadata(view["private_metadata"].as_str().unwrap());
        assert_eq!(back, Some(state.clone()));

        let done = session_notice_with_undo("Saved. Nothing else is waiting.", &state, Some(70));
        check_modal(&done);
        assert_eq!(done["blocks"][0]["accessory"]["action_id"], actions::UNDO);
        let plain = session_notice("Nothing is waiting.", &SessionState::default());
        assert!(plain["blocks"][0].get("accessory").is_none());
    }
}
