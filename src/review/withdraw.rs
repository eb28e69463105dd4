//! Taking back one's own vote (the second-opinion band's "Undo vote"):
//! only the presser's own active vote, within its window, on a suggestion
//! still pending; never a decision (a suggestion decided since says who
//! decided, and its decision has its own Undo). The database checks the
//! same (migration 0022) and is the last line.

use super::outcome::PriorDecision;
use super::{lock_known_lecture, Review, ReviewError};
use crate::domain::{Actor, LectureId, SuggestionId, SuggestionStatus};
use crate::storage::{self, events, votes};
use crate::text::{as_typed, Words};

/// What came of taking a vote back ("Undo vote").
#[derive(Debug, Clone, PartialEq)]
pub enum Withdrawal {
    /// The asker's vote is taken back; the tag needs two agreeing votes.
    Withdrawn,
    /// The asker has no vote on it (`voters`: whose votes it has).
    NoVoteOfYours { voters: Vec<String> },
    /// The vote's window has passed.
    TooLate,
    /// The tag was decided since; its decision has its own Undo.
    Decided(PriorDecision),
}

impl Words for Withdrawal {
    fn write_words(
        &self,
        f: &mut dyn std::fmt::Write,
        name: &dyn Fn(&str) -> String,
    ) -> std::fmt::Result {
        match self {
            Withdrawal::Withdrawn => f.write_str("Took back your vote on this tag."),
            Withdrawal::NoVoteOfYours { voters } if voters.is_empty() => {
                f.write_str("There is no vote on this tag to take back. Nothing was changed.")
            }
            Withdrawal::NoVoteOfYours { voters } => write!(
                f,
                "You have no vote on this tag; only its voter ({}) may take a vote back. Nothing was changed.",
                voters.iter().map(|v| name(v)).collect::<Vec<_>>().join(", ")
            ),
            Withdrawal::TooLate => f.write_str(
                "It is too late to take your vote back: the undo window has passed. Nothing was changed.",
            ),
            Withdrawal::Decided(prior) => write!(
                f,
                "The tag was {} since; its decision has its own Undo. Nothing was changed.",
                prior.words_with(name)
            ),
        }
    }
}

impl std::fmt::Display for Withdrawal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_words(f, &as_typed)
    }
}

impl Review {
    /// Takes back `actor`'s own vote on `suggestion` of `lecture` while its
    /// window is open (a new `withdraw` row; the table is append-only). A
    /// suggestion of another lecture is refused whole.
    pub async fn withdraw_vote(
        &self,
        lecture: &LectureId,
        suggestion: SuggestionId,
        actor: &Actor,
    ) -> Result<Withdrawal, ReviewError> {
        let mut tx = storage::begin(&self.pool).await?;
        let rows = lock_known_lecture(&mut tx, lecture).await?;
        let Some(row) = rows.iter().find(|row| row.id == suggestion.get()) else {
            return Err(ReviewError::NotInLecture {
                lecture: lecture.clone(),
                ids: vec![suggestion],
            });
        };
        if row.status != SuggestionStatus::Pending {
            let mut latest = events::latest_decisions(&mut tx, &[row.id]).await?;
            return Ok(Withdrawal::Decided(PriorDecision {
                suggestion,
                status: row.status,
                decided_by: latest.remove(&row.id),
            }));
        }
        let standing = votes::active(&mut *tx, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let Some(mine) = standing.iter().find(|v| v.voter == actor.as_db()) else {
            return Ok(Withdrawal::NoVoteOfYours {
                voters: standing
                    .iter()
                    .map(|v| v.voter_name.clone().unwrap_or_else(|| v.voter.clone()))
                    .collect(),
            });
        };
        match votes::withdraw(&mut tx, row.id, mine.id, actor, false).await {
            Ok(()) => {
                storage::commit(tx).await?;
                Ok(Withdrawal::Withdrawn)
            }
            // The vote's window, by the database's clock.
            Err(storage::Error::UndoRefused(storage::UndoRefusal::TooLate, _)) => {
                Ok(Withdrawal::TooLate)
            }
            Err(err) => Err(err.into()),
        }
    }
}
