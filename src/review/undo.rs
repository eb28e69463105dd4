//! Taking a decision back: one Undo takes back everything one action
//! decided (a single tag, an Approve selected, an Approve all, a session's
//! save), in one transaction, with a typed outcome per suggestion.
//!
//! An action is the transaction that made it: the status trigger stamps
//! its id on every decision (`details.action_id`, migration 0018), and
//! every action decides one lecture. Review checks the rules the trigger
//! enforces (the window, the decider or a lead, the tag not yet on its
//! way to Airtable, the decision still the latest) so that each
//! suggestion's outcome can be told in words; the trigger checks them
//! again under the same locks and is the last line.
//!
//! Lock order, as everywhere in review: the lecture's suggestions (id
//! order), then the sync items of the approvals taken back. A lecture
//! whose review message had closed is opened again at once
//! (`review_messages::reopen`), outside the open limit.

use std::fmt;

use serde_json::json;

use super::apply::UndoTerms;
use super::{lock_known_lecture, Review, ReviewError};
use crate::domain::{Action, Actor, LectureId, SuggestionId, Transition};
use crate::storage::events::{self, ActionDecision, DecidedBy};
use crate::storage::{self, review_messages, suggestions, sync_queue, UndoRefusal};
use crate::text::{as_typed, Words};

/// On what standing someone asks to take a decision back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoAs {
    /// Only their own decisions.
    Decider,
    /// A lead (`SLACK_LEADS`): anyone's, on record as a lead's when not
    /// their own.
    Lead,
}

/// What became of one suggestion of the action taken back.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoOutcome {
    /// Back to pending; an approval's sync item is gone.
    Undone {
        suggestion: SuggestionId,
        tag_id: String,
        was: Action,
    },
    /// Its window has passed.
    TooLate { suggestion: SuggestionId },
    /// Someone else's decision, and the asker is not a lead.
    NotYours {
        suggestion: SuggestionId,
        decider: String,
    },
    /// The tag has left for Airtable: on its way (its sync item taken by
    /// the worker, `since` None), or synced, failed or retried since.
    /// Undo cannot take a tag out of Airtable.
    Left {
        suggestion: SuggestionId,
        since: Option<Action>,
    },
    /// Taken back already (or decided again since), by `by`.
    AlreadyUndone {
        suggestion: SuggestionId,
        by: String,
    },
}

impl UndoOutcome {
    pub fn suggestion(&self) -> SuggestionId {
        match self {
            UndoOutcome::Undone { suggestion, .. }
            | UndoOutcome::TooLate { suggestion }
            | UndoOutcome::NotYours { suggestion, .. }
            | UndoOutcome::Left { suggestion, .. }
            | UndoOutcome::AlreadyUndone { suggestion, .. } => *suggestion,
        }
    }
}

/// An Undo's outcomes: who made the action taken back, and each of its
/// suggestions. No decisions: nothing of the suggestion can be undone.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    pub lecture: LectureId,
    pub decided_by: Option<DecidedBy>,
    pub outcomes: Vec<UndoOutcome>,
}

impl Undo {
    pub fn undone_count(&self) -> usize {
        undone_count(&self.outcomes)
    }
}

/// What the asker is told: "Took back 3 decisions", or why not.
impl Words for Undo {
    fn write_words(&self, f: &mut dyn fmt::Write, name: &dyn Fn(&str) -> String) -> fmt::Result {
        let undone = self.undone_count();
        if self.outcomes.is_empty() {
            return f.write_str("There is no decision on this tag to take back.");
        }
        if undone > 0 {
            write!(
                f,
                "Took back {undone} decision(s); the tag(s) are pending again."
            )?;
        }
        let first_refusal = self.outcomes.iter().find_map(|o| match o {
            UndoOutcome::Undone { .. } => None,
            UndoOutcome::TooLate { .. } => {
                Some("It is too late to take this back: the undo window has passed.".to_owned())
            }
            UndoOutcome::NotYours { decider, .. } => Some(format!(
                "Only {}, who decided, or a lead (SLACK_LEADS) may take this back.",
                name(decider)
            )),
            UndoOutcome::Left { since: None, .. } => Some(
                "The tag is already on its way to Airtable, so it cannot be taken back.".to_owned(),
            ),
            UndoOutcome::Left {
                since: Some(since), ..
            } => Some(format!(
                "The tag was {} since, so it cannot be taken back.",
                since.past_tense()
            )),
            UndoOutcome::AlreadyUndone { by, .. } => {
                Some(format!("{} already changed this decision.", name(by)))
            }
        });
        match (undone, first_refusal) {
            (0, Some(refusal)) => write!(f, "{refusal} Nothing was changed."),
            (_, Some(refusal)) => write!(f, " The rest stay: {refusal}"),
            (_, None) => Ok(()),
        }
    }
}

impl fmt::Display for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_words(f, &as_typed)
    }
}

impl Review {
    /// Takes back the action that made `suggestion`'s latest decision, as
    /// `actor` on the standing `undo_as` (see the module doc). A
    /// suggestion of another lecture is refused whole.
    pub async fn undo(
        &self,
        lecture: &LectureId,
        suggestion: SuggestionId,
        actor: &Actor,
        undo_as: UndoAs,
    ) -> Result<Undo, ReviewError> {
        let mut tx = storage::begin(&self.pool).await?;
        let rows = lock_known_lecture(&mut tx, lecture).await?;
        if !rows.iter().any(|row| row.id == suggestion.get()) {
            return Err(ReviewError::NotInLecture {
                lecture: lecture.clone(),
                ids: vec![suggestion],
            });
        }
        let action = events::action_of(&mut tx, lecture.as_str(), suggestion.get()).await?;
        let left = left_for_airtable(&mut tx, lecture, &action).await?;
        let mut outcomes: Vec<UndoOutcome> = action
            .iter()
            .map(|decision| judge(decision, actor, undo_as, left.contains(&decision.tag_id)))
            .collect();
        // On record as a lead's only when it is someone else's decision.
        let as_lead = undo_as == UndoAs::Lead
            && action
                .first()
                .is_some_and(|d| d.decided_by.actor != actor.as_db());
        match take_back(&mut tx, &outcomes, actor, as_lead).await {
            Ok(()) => {
                let undone = undone_count(&outcomes);
                if undone > 0 {
                    review_messages::reopen(&mut tx, lecture.as_str()).await?;
                }
                storage::commit(tx).await?;
                metrics::counter!(crate::metrics::DECISIONS, "action" => Action::Undo.as_str())
                    .increment(undone as u64);
            }
            // The trigger saw it otherwise at the rules' edge (the window
            // closed in between): nothing was taken back.
            Err(storage::Error::UndoRefused(refusal, err)) => {
                tracing::info!(lecture = %lecture, error = %err, "the database refused an undo review had allowed");
                refuse_all(&mut outcomes, refusal, &action);
            }
            Err(err) => return Err(err.into()),
        }
        Ok(Undo {
            lecture: lecture.clone(),
            decided_by: action.first().map(|d| d.decided_by.clone()),
            outcomes,
        })
    }
}

/// The tags of `action`'s approvals whose sync item is no longer queued at
/// attempt 0 (locked until the transaction ends).
async fn left_for_airtable(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    lecture: &LectureId,
    action: &[ActionDecision],
) -> Result<Vec<String>, ReviewError> {
    let approved: Vec<String> = action
        .iter()
        .filter(|d| d.is_latest && d.decided_by.action == Action::Approve)
        .map(|d| d.tag_id.clone())
        .collect();
    if approved.is_empty() {
        return Ok(Vec::new());
    }
    let items = sync_queue::lock_items_of(tx, lecture.as_str(), &approved).await?;
    Ok(items
        .into_iter()
        .filter(|(_, status, attempt)| status != "queued" || *attempt != 0)
        .map(|(tag, _, _)| tag)
        .collect())
}

fn undone_count(outcomes: &[UndoOutcome]) -> usize {
    outcomes
        .iter()
        .filter(|o| matches!(o, UndoOutcome::Undone { .. }))
        .count()
}

/// One decision's outcome, before anything changes.
fn judge(decision: &ActionDecision, actor: &Actor, undo_as: UndoAs, left: bool) -> UndoOutcome {
    let suggestion = SuggestionId::from_db(decision.suggestion_id);
    if !decision.is_latest {
        return match decision.latest_action {
            Action::Approve | Action::Reject | Action::Undo => UndoOutcome::AlreadyUndone {
                suggestion,
                by: decision.latest_by.clone(),
            },
            since => UndoOutcome::Left {
                suggestion,
                since: Some(since),
            },
        };
    }
    if decision.expired {
        return UndoOutcome::TooLate { suggestion };
    }
    if decision.decided_by.actor != actor.as_db() && undo_as != UndoAs::Lead {
        return UndoOutcome::NotYours {
            suggestion,
            decider: decision.decided_by.who().to_owned(),
        };
    }
    if left {
        return UndoOutcome::Left {
            suggestion,
            since: None,
        };
    }
    UndoOutcome::Undone {
        suggestion,
        tag_id: decision.tag_id.clone(),
        was: decision.decided_by.action,
    }
}

/// Moves every suggestion judged `Undone` back to pending: approvals and
/// rejections each in one statement.
async fn take_back(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    outcomes: &[UndoOutcome],
    actor: &Actor,
    as_lead: bool,
) -> Result<(), storage::Error> {
    let terms = UndoTerms {
        window: std::time::Duration::ZERO,
        as_lead,
    };
    let details = json!({ "via": "undo" });
    for (decided, transition) in [
        (Action::Approve, Transition::UndoApproval),
        (Action::Reject, Transition::UndoRejection),
    ] {
        let ids: Vec<i64> = outcomes
            .iter()
            .filter_map(|o| match o {
                UndoOutcome::Undone {
                    suggestion, was, ..
                } if *was == decided => Some(suggestion.get()),
                _ => None,
            })
            .collect();
        suggestions::transition(tx, &ids, transition, actor, &details, None, terms).await?;
    }
    Ok(())
}

/// Every suggestion the database refused to take back, told why.
fn refuse_all(outcomes: &mut [UndoOutcome], refusal: UndoRefusal, action: &[ActionDecision]) {
    let decider = action
        .first()
        .map(|d| d.decided_by.who().to_owned())
        .unwrap_or_default();
    for outcome in outcomes.iter_mut() {
        let UndoOutcome::Undone { suggestion, .. } = outcome else {
            continue;
        };
        let suggestion = *suggestion;
        let decider = decider.clone();
        *outcome = match refusal {
            UndoRefusal::TooLate => UndoOutcome::TooLate { suggestion },
            UndoRefusal::NotTheDecider => UndoOutcome::NotYours {
                suggestion,
                decider,
            },
            UndoRefusal::Left | UndoRefusal::NotLatest => UndoOutcome::Left {
                suggestion,
                since: None,
            },
        };
    }
}
