//! Review's rules for a status change: inside the caller's transaction,
//! apply a [`Transition`] to the locked suggestions that are where it
//! starts, enqueue the approved ones for sync, and explain every other row
//! (a race lost to another reviewer, or a move the state machine does not
//! have). The SQL is `storage`'s: suggestions change only through
//! `storage::suggestions::transition`, the one writer sync uses too.

use serde_json::Value;
use sqlx::{Postgres, Transaction};

use super::outcome::{Applied, Decision, PriorDecision};
use crate::domain::{Actor, SuggestionId, SuggestionStatus, Transition};
pub(crate) use crate::storage::suggestions::{lock_lecture, lock_one, LockedSuggestion, UndoTerms};
use crate::storage::{self, events, suggestions, sync_queue};

/// What to do with the sync queue when a transition lands on `approved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueue {
    Yes,
    /// Dry-run: decide, audit, but put nothing in the queue.
    No,
}

/// How review applies a transition: the queue, and the undo terms the
/// status trigger is told (an approval's window also holds its sync item
/// back that long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub enqueue: Enqueue,
    pub undo: UndoTerms,
}

/// Applies `transition` to every locked row that is in its `from` status and
/// explains every other row. Returns one decision per row, in row order.
pub(crate) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[LockedSuggestion],
    transition: Transition,
    actor: &Actor,
    details: &Value,
    policy: Policy,
) -> Result<Vec<Decision>, storage::Error> {
    let (ready, blocked): (Vec<&LockedSuggestion>, Vec<&LockedSuggestion>) =
        rows.iter().partition(|row| row.status == transition.from());

    let ids: Vec<i64> = ready.iter().map(|row| row.id).collect();
    suggestions::transition(tx, &ids, transition, actor, details, None, policy.undo).await?;
    let mut enqueued = Vec::new();
    if !ids.is_empty()
        && transition.to() == SuggestionStatus::Approved
        && policy.enqueue == Enqueue::Yes
    {
        // Only an approval can be taken back; a retry is due at once.
        let hold = match transition {
            Transition::Approve => policy.undo.window,
            _ => std::time::Duration::ZERO,
        };
        let moved = sync_queue::enqueue(tx, &ids, hold).await?;
        events::record_enqueued(tx, &moved, actor).await?;
        enqueued = moved
            .into_iter()
            .map(|(suggestion, _)| suggestion)
            .collect();
    }

    let blocked_ids: Vec<i64> = blocked.iter().map(|row| row.id).collect();
    let mut latest = events::latest_decisions(tx, &blocked_ids).await?;

    Ok(rows
        .iter()
        .map(|row| {
            let suggestion = SuggestionId::from_db(row.id);
            if row.status == transition.from() {
                Decision::Applied(Applied {
                    suggestion,
                    tag_id: row.tag_id.clone(),
                    transition,
                    enqueued: enqueued.contains(&row.id),
                })
            } else if lost_a_race(row.status, transition) {
                Decision::AlreadyDecided(PriorDecision {
                    suggestion,
                    status: row.status,
                    decided_by: latest.remove(&row.id),
                })
            } else {
                Decision::Illegal {
                    suggestion,
                    status: row.status,
                    attempted: transition,
                }
            }
        })
        .collect())
}

/// Whether a suggestion in `status` is where another actor's decision of the
/// same kind would have left it, so the caller lost a race rather than asked
/// for something impossible.
fn lost_a_race(status: SuggestionStatus, transition: Transition) -> bool {
    match transition {
        // Any decided suggestion was decided by someone: approve and reject
        // are the only ways out of pending.
        Transition::Approve | Transition::Reject => status.is_decided(),
        // Someone else retried it first.
        Transition::Retry => status == SuggestionStatus::Approved,
        // The worker owns these; a mismatch is a bug, not a race. An undo
        // has its own operation (`review::undo`), which explains itself.
        Transition::SyncOk
        | Transition::SyncFail
        | Transition::UndoApproval
        | Transition::UndoRejection => false,
    }
}
