//! A click, read once at the boundary: every interactive element of a
//! review message or a failure post becomes one [`Click`], with its ids
//! parsed, or is refused as [`Unreadable`]. The handler matches on the
//! type; no action id or value string travels further than this module.
//!
//! Slack builds action values from tagbot's own blocks, so an unreadable
//! one is a forged (if signed) payload or a block of an older tagbot:
//! parsing fails closed and nothing is decided.

use crate::domain::{LectureId, RejectReason, SuggestionId, Transition};
use crate::slack::card::actions;
use crate::slack::payload::{Action, State};

/// What a click asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Click {
    /// Approve or Reject one suggestion (a button, the ⋮ menu, or "Reject
    /// because…" with its reason).
    Decide {
        verb: Verb,
        suggestion: SuggestionId,
        reason: Option<RejectReason>,
    },
    /// Approve the suggestions picked in the message's menu.
    ApproveSelected {
        lecture: LectureId,
        selected: Vec<SuggestionId>,
    },
    /// Approve every pending suggestion at or above the threshold.
    ApproveTop { lecture: LectureId },
    /// Take back the action that decided this suggestion (its lecture is
    /// the message's or the modal's, never the click's word).
    Undo { suggestion: SuggestionId },
    /// Take back the presser's own vote on this pending suggestion.
    UndoVote { suggestion: SuggestionId },
    /// Send the lecture's failed tags to Airtable again.
    RetryFailed { lecture: LectureId },
    /// Open the details modal.
    Details { lecture: LectureId },
    /// The selection menu changed: Slack keeps its state, nothing to do.
    SelectionChanged,
    /// Start reviewing: open a review session.
    StartReview,
    /// In a review session: move on without deciding.
    SessionSkip,
    /// In a review session: choose Approve for every tag at or above the
    /// threshold.
    SessionPreselect,
}

impl Click {
    /// Whether it asks for a decision (a status may change), rather than
    /// for a view.
    pub fn decides(&self) -> bool {
        matches!(
            self,
            Click::Decide { .. }
                | Click::Undo { .. }
                | Click::UndoVote { .. }
                | Click::ApproveSelected { .. }
                | Click::ApproveTop { .. }
                | Click::RetryFailed { .. }
        )
    }
}

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Approve,
    Reject,
}

impl Verb {
    /// The state-machine transition it asks for.
    pub fn transition(self) -> Transition {
        match self {
            Verb::Approve => Transition::Approve,
            Verb::Reject => Transition::Reject,
        }
    }
}

/// Why a click was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("an action tagbot does not make: {0:?}")]
    UnknownAction(String),
    #[error("a decision menu value tagbot does not make: {0:?}")]
    MenuValue(String),
    #[error("a decision without a suggestion id: {0:?}")]
    SuggestionId(String),
    #[error("an action without a lecture id: {0:?}")]
    LectureId(String),
}

/// Reads one action of a `block_actions` payload; `state` is the message's
/// `state.values` (the selection menu's picks).
pub fn parse(action: &Action, state: Option<&State>) -> Result<Click, Unreadable> {
    let value = action.value.as_deref().unwrap_or_default();
    let suggestion =
        |raw: &str| SuggestionId::parse(raw).map_err(|_| Unreadable::SuggestionId(raw.to_owned()));
    let lecture = || LectureId::parse(value).map_err(|_| Unreadable::LectureId(value.to_owned()));
    match action.action_id.as_str() {
        actions::APPROVE => Ok(Click::Decide {
            verb: Verb::Approve,
            suggestion: suggestion(value)?,
            reason: None,
        }),
        actions::REJECT => Ok(Click::Decide {
            verb: Verb::Reject,
            suggestion: suggestion(value)?,
            reason: None,
        }),
        actions::REJECT_BECAUSE => {
            let (reason, id) = parse_reason_value(selected(action))?;
            Ok(Click::Decide {
                verb: Verb::Reject,
                suggestion: suggestion(id)?,
                reason: Some(reason),
            })
        }
        actions::UNDO => Ok(Click::Undo {
            suggestion: suggestion(value)?,
        }),
        actions::UNDO_VOTE => Ok(Click::UndoVote {
            suggestion: suggestion(value)?,
        }),
        actions::DECIDE_MENU => match parse_menu_value(selected(action))? {
            (MenuPick::Decide(verb), id) => Ok(Click::Decide {
                verb,
                suggestion: suggestion(id)?,
                reason: None,
            }),
            (MenuPick::UndoVote, id) => Ok(Click::UndoVote {
                suggestion: suggestion(id)?,
            }),
        },
        // A session's radio buttons report each change; the choices are
        // read from the submission.
        actions::SELECT | actions::SESSION_CHOICE => Ok(Click::SelectionChanged),
        actions::START_REVIEW => Ok(Click::StartReview),
        actions::SESSION_SKIP => Ok(Click::SessionSkip),
        actions::SESSION_TOP => Ok(Click::SessionPreselect),
        actions::APPROVE_SELECTED => Ok(Click::ApproveSelected {
            lecture: lecture()?,
            // A pick that is no suggestion id is left out; approving an
            // empty selection is refused by the handler with a hint.
            selected: state
                .map(|s| s.selected_in_action(actions::SELECT))
                .unwrap_or_default()
                .iter()
                .filter_map(|raw| SuggestionId::parse(raw).ok())
                .collect(),
        }),
        actions::APPROVE_TOP => Ok(Click::ApproveTop {
            lecture: lecture()?,
        }),
        actions::RETRY_FAILED => Ok(Click::RetryFailed {
            lecture: lecture()?,
        }),
        actions::DETAILS => Ok(Click::Details {
            lecture: lecture()?,
        }),
        other => Err(Unreadable::UnknownAction(other.to_owned())),
    }
}

/// The value of the option a menu click picked ("" when none).
fn selected(action: &Action) -> &str {
    action
        .selected_option
        .as_ref()
        .map(|o| o.value.as_str())
        .unwrap_or_default()
}

/// A "Reject because…" option's value, `<reason>:<id>`; anything else is
/// refused.
fn parse_reason_value(value: &str) -> Result<(RejectReason, &str), Unreadable> {
    let refused = || Unreadable::MenuValue(value.to_owned());
    let (reason, id) = value.split_once(':').ok_or_else(refused)?;
    let reason = reason.parse().map_err(|_| refused())?;
    Ok((reason, id))
}

/// What a pick in the compact layout's menu asks for.
enum MenuPick {
    Decide(Verb),
    /// Take back one's own vote (the second-opinion band).
    UndoVote,
}

/// A decision menu option's value, `approve:<id>`, `reject:<id>` or
/// `undo_vote:<id>`; anything else is refused.
fn parse_menu_value(value: &str) -> Result<(MenuPick, &str), Unreadable> {
    let refused = || Unreadable::MenuValue(value.to_owned());
    let (verb, id) = value.split_once(':').ok_or_else(refused)?;
    let pick = match verb {
        "approve" => MenuPick::Decide(Verb::Approve),
        "reject" => MenuPick::Decide(Verb::Reject),
        "undo_vote" => MenuPick::UndoVote,
        _ => return Err(refused()),
    };
    Ok((pick, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slack::payload::OptionValue;

    fn action(action_id: &str, value: Option<&str>, option: Option<&str>) -> Action {
        Action {
            action_id: action_id.to_owned(),
            value: value.map(str::to_owned),
            selected_option: option.map(|v| OptionValue {
                value: v.to_owned(),
            }),
            selected_options: None,
        }
    }

    #[test]
    fn each_element_reads_as_its_click() {
        let id = SuggestionId::parse("17").unwrap();
        let l1 = LectureId::parse("L1").unwrap();
        assert_eq!(
            parse(&action(actions::APPROVE, Some("17"), None), None),
            Ok(Click::Decide {
                verb: Verb::Approve,
                suggestion: id,
                reason: None,
            })
        );
        assert_eq!(
            parse(&action(actions::DECIDE_MENU, None, Some("reject:17")), None),
            Ok(Click::Decide {
                verb: Verb::Reject,
                suggestion: id,
                reason: None,
            })
        );
        assert_eq!(
            parse(
                &action(actions::REJECT_BECAUSE, None, Some("too_broad:17")),
                None
            ),
            Ok(Click::Decide {
                verb: Verb::Reject,
                suggestion: id,
                reason: Some(RejectReason::TooBroad),
            })
        );
        assert_eq!(
            parse(&action(actions::APPROVE_TOP, Some("L1"), None), None),
            Ok(Click::ApproveTop {
                lecture: l1.clone()
            })
        );
        assert_eq!(
            parse(&action(actions::RETRY_FAILED, Some("L1"), None), None),
            Ok(Click::RetryFailed { lecture: l1 })
        );
        assert_eq!(
            parse(&action(actions::SELECT, None, None), None),
            Ok(Click::SelectionChanged)
        );
        assert_eq!(
            parse(&action(actions::UNDO, Some("17"), None), None),
            Ok(Click::Undo { suggestion: id })
        );
        assert_eq!(
            parse(&action(actions::UNDO_VOTE, Some("17"), None), None),
            Ok(Click::UndoVote { suggestion: id })
        );
        assert_eq!(
            parse(
                &action(actions::DECIDE_MENU, None, Some("undo_vote:17")),
                None
            ),
            Ok(Click::UndoVote { suggestion: id })
        );
    }

    #[test]
    fn anything_tagbot_does_not_make_is_refused() {
        for (action_id, value, option) in [
            (actions::DECIDE_MENU, None, Some("delete:17")),
            (actions::DECIDE_MENU, None, Some("APPROVE:17")),
            (actions::DECIDE_MENU, None, Some("approve")),
            (actions::DECIDE_MENU, None, Some("undo_vote")),
            (actions::DECIDE_MENU, None, Some("undo:17")),
            (actions::DECIDE_MENU, None, None),
            (actions::REJECT_BECAUSE, None, Some("approve:17")),
            (actions::REJECT_BECAUSE, None, Some("Too broad:17")),
            (actions::REJECT_BECAUSE, None, Some("too_broad")),
            (actions::REJECT_BECAUSE, None, Some("too_broad:x")),
            (actions::REJECT_BECAUSE, None, None),
            (actions::APPROVE, Some("seventeen"), None),
            (actions::UNDO, Some("L1"), None),
            (actions::UNDO, None, None),
            (actions::APPROVE_TOP, Some(""), None),
            ("tagbot_delete_everything", Some("L1"), None),
        ] {
            assert!(
                parse(&action(action_id, value, option), None).is_err(),
                "{action_id} {value:?} {option:?}"
            );
        }
    }
}
