//! Taking a decision back from Slack, wherever its **Undo** showed (a
//! review message, the Details modal, a review session's "saved" line):
//! who may (the decider; a lead, `SLACK_LEADS`, anyone's) and what they
//! are told. The surfaces find the lecture the click is about (its message
//! or its modal, never the click's word) and show the outcome their way.

use crate::domain::{LectureId, SuggestionId};
use crate::review::{ReviewError, Undo, UndoAs};
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::render;
use crate::slack::reviewers::Requester;

/// What came of an Undo press, to be told to the one who pressed it.
#[derive(Debug)]
pub enum Pressed {
    /// The operation ran: its outcomes, and the words for them (escaped).
    Ran { undo: Undo, text: String },
    /// They may not decide at all (or Slack could not say): why, escaped.
    NotAllowed(String),
    /// The suggestion is not of the lecture (a forged, if signed, payload)
    /// or the lecture is gone: nothing to say.
    Refused,
}

/// Takes back the action that decided `suggestion` of `lecture` for
/// `requester`, on their standing: their own decisions, or anyone's as a
/// lead.
pub async fn press(
    app: &SlackApp,
    requester: &Requester<'_>,
    lecture: &LectureId,
    suggestion: SuggestionId,
) -> Result<Pressed, SlackError> {
    let actor = match app.reviewer(requester).await {
        Ok(actor) => actor,
        Err(refused) => {
            return Ok(Pressed::NotAllowed(render::escape_mrkdwn(
                &refused.to_string(),
            )))
        }
    };
    let undo_as = match app.is_lead(requester).await {
        Ok(true) => UndoAs::Lead,
        Ok(false) => UndoAs::Decider,
        Err(refused) => {
            return Ok(Pressed::NotAllowed(render::escape_mrkdwn(
                &refused.to_string(),
            )))
        }
    };
    match app.review.undo(lecture, suggestion, &actor, undo_as).await {
        Ok(undo) => {
            // The decider's name is whatever they chose in Slack.
            let text = render::words(&undo);
            Ok(Pressed::Ran { undo, text })
        }
        Err(ReviewError::NotInLecture { .. } | ReviewError::LectureNotFound(_)) => {
            tracing::warn!(user = requester.id, %suggestion, %lecture, "refused an Undo for a suggestion that is not of its message's lecture");
            Ok(Pressed::Refused)
        }
        Err(ReviewError::Database(err)) => Err(SlackError::Database(err)),
        Err(other) => Err(SlackError::Review(other)),
    }
}
