//! What a review operation tells its caller: per suggestion, the decision was
//! applied, someone else had already decided, the suggestion does not exist,
//! or the asked-for transition is not one the state machine has.

use std::fmt;

use crate::domain::{Action, LectureId, SuggestionId, SuggestionStatus, Transition};
use crate::storage;
pub use crate::storage::votes::{Verdict, Vote};
use crate::text::{as_typed, Words};

/// The result of asking for one transition of one suggestion.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Applied(Applied),
    AlreadyDecided(PriorDecision),
    NotFound(SuggestionId),
    Illegal {
        suggestion: SuggestionId,
        status: SuggestionStatus,
        attempted: Transition,
    },
    /// In the second-opinion band: the reviewer's vote was recorded and the
    /// suggestion stays pending.
    Voted(Voted),
    /// The reviewer's vote on it stands already (one vote each).
    AlreadyVoted {
        suggestion: SuggestionId,
        verdict: Verdict,
    },
    /// Two reviewers disagree on it: only a lead decides it.
    NeedsLead {
        suggestion: SuggestionId,
        votes: Vec<Vote>,
    },
}

/// A vote recorded, and where it left the suggestion.
#[derive(Debug, Clone, PartialEq)]
pub struct Voted {
    pub suggestion: SuggestionId,
    pub verdict: Verdict,
    /// The other reviewer's vote when this one disagrees with it (the
    /// suggestion is disputed now); `None`: it needs one more.
    pub disagrees_with: Option<Vote>,
}

impl Decision {
    pub fn is_applied(&self) -> bool {
        matches!(self, Decision::Applied(_))
    }

    pub fn suggestion(&self) -> SuggestionId {
        match self {
            Decision::Applied(applied) => applied.suggestion,
            Decision::AlreadyDecided(prior) => prior.suggestion,
            Decision::NotFound(id) => *id,
            Decision::Illegal { suggestion, .. } => *suggestion,
            Decision::Voted(voted) => voted.suggestion,
            Decision::AlreadyVoted { suggestion, .. } | Decision::NeedsLead { suggestion, .. } => {
                *suggestion
            }
        }
    }
}

/// Words a reviewer can read: "approved", "already rejected by Dana at …".
impl Words for Decision {
    fn write_words(&self, f: &mut dyn fmt::Write, name: &dyn Fn(&str) -> String) -> fmt::Result {
        match self {
            Decision::Applied(applied) => {
                write!(f, "{}", applied.transition.action().past_tense())?;
                if applied.enqueued {
                    f.write_str(" and queued for Airtable")?;
                }
                Ok(())
            }
            Decision::AlreadyDecided(prior) => prior.write_words(f, name),
            Decision::NotFound(id) => write!(f, "suggestion {id} does not exist"),
            Decision::Illegal {
                suggestion,
                status,
                attempted,
            } => write!(
                f,
                "suggestion {suggestion} is {status}; it cannot be {}",
                attempted.action().past_tense()
            ),
            Decision::Voted(Voted {
                verdict,
                disagrees_with: None,
                ..
            }) => write!(
                f,
                "your vote to {} is in; it needs one more reviewer who agrees",
                verdict.as_str()
            ),
            Decision::Voted(Voted {
                verdict,
                disagrees_with: Some(other),
                ..
            }) => write!(
                f,
                "your vote to {} disagrees with {}'s vote to {}: a lead decides it now",
                verdict.as_str(),
                name(voter_name(other)),
                other.verdict.as_str()
            ),
            Decision::AlreadyVoted { verdict, .. } => {
                write!(f, "you voted to {} already", verdict.as_str())
            }
            Decision::NeedsLead { votes, .. } => {
                let said: Vec<String> = votes
                    .iter()
                    .map(|v| format!("{} voted to {}", name(voter_name(v)), v.verdict.as_str()))
                    .collect();
                write!(
                    f,
                    "reviewers disagree ({}): only a lead may decide it",
                    said.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_words(f, &as_typed)
    }
}

/// The name people know a voter by, else the stored voter.
fn voter_name(vote: &Vote) -> &str {
    vote.voter_name.as_deref().unwrap_or(&vote.voter)
}

/// A transition that happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub suggestion: SuggestionId,
    pub tag_id: String,
    pub transition: Transition,
    /// Whether this decision put (or put back) the sync item in the queue.
    pub enqueued: bool,
}

/// The suggestion had already left the state the decision needed.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorDecision {
    pub suggestion: SuggestionId,
    /// Where the suggestion is now.
    pub status: SuggestionStatus,
    /// The latest human decision on it, when there is one.
    pub decided_by: Option<DecidedBy>,
}

impl Words for PriorDecision {
    fn write_words(&self, f: &mut dyn fmt::Write, name: &dyn Fn(&str) -> String) -> fmt::Result {
        match &self.decided_by {
            Some(by) => {
                write!(
                    f,
                    "already {} by {} at {}",
                    by.action.past_tense(),
                    name(by.who()),
                    by.at.format("%Y-%m-%d %H:%M UTC")
                )?;
                if Some(self.status) != transition_target(by.action) {
                    write!(f, " (now {})", self.status)?;
                }
                Ok(())
            }
            None => write!(f, "already {}", self.status),
        }
    }
}

impl fmt::Display for PriorDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_words(f, &as_typed)
    }
}

fn transition_target(action: Action) -> Option<SuggestionStatus> {
    Transition::ALL
        .into_iter()
        .find(|t| t.action() == action)
        .map(Transition::to)
}

pub use crate::storage::events::DecidedBy;

/// The per-suggestion decisions of one lecture-wide operation.
#[derive(Debug, Clone, PartialEq)]
pub struct LectureDecisions {
    pub lecture: LectureId,
    pub decisions: Vec<Decision>,
}

impl LectureDecisions {
    pub fn applied(&self) -> impl Iterator<Item = &Applied> {
        self.decisions.iter().filter_map(|d| match d {
            Decision::Applied(applied) => Some(applied),
            _ => None,
        })
    }

    pub fn applied_count(&self) -> usize {
        self.applied().count()
    }

    /// What changed nothing: decided already, voted already, disputed.
    pub fn unchanged(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|d| !d.is_applied() && !matches!(d, Decision::Voted(_)))
    }

    /// The votes cast (the second-opinion band): recorded, deciding nothing yet.
    pub fn voted_count(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| matches!(d, Decision::Voted(_)))
            .count()
    }
}

/// A review operation that could not run at all; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("lecture {0} has no suggestions")]
    LectureNotFound(LectureId),
    #[error("no suggestions were selected")]
    EmptySelection,
    #[error("suggestion(s) {} are not suggestions of lecture {lecture}", join_ids(.ids))]
    NotInLecture {
        lecture: LectureId,
        ids: Vec<SuggestionId>,
    },
    /// `tagbot enqueue` under `DRY_RUN=true`: it would queue writes to
    /// Airtable that a dry run promises never to make.
    #[error("DRY_RUN is on, and a dry run queues nothing for Airtable: nothing was queued. Run `tagbot enqueue` once DRY_RUN is off.")]
    DryRun,
    #[error("database error during review: {0}")]
    Database(#[from] storage::Error),
}

fn join_ids(ids: &[SuggestionId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
