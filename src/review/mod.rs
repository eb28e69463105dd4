//! Review operations: every decision a reviewer (or the command line) can
//! make, each one transaction against Postgres.
//!
//! Each operation locks the suggestions it touches, decides with the state
//! machine of [`crate::domain::Transition`], and lets the database triggers
//! check the same machine again and write the audit events. Two reviewers
//! clicking the same button at once serialize on the row lock: the first
//! applies, the second is told who decided first ([`Decision::AlreadyDecided`]).

mod apply;
mod outcome;
mod session;
mod undo;
mod vote;
mod withdraw;

use apply::{lock_lecture, lock_one, Enqueue, LockedSuggestion, Policy, UndoTerms};
pub use outcome::{
    Applied, DecidedBy, Decision, LectureDecisions, PriorDecision, ReviewError, Verdict, Vote,
    Voted,
};
pub use session::{Choices, ChoicesOutcome};
pub use undo::{Undo, UndoAs, UndoOutcome};
use vote::Voter;
pub use withdraw::Withdrawal;

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use serde_json::{json, Value};
use sqlx::{PgPool, Postgres, Transaction};

use crate::config::ReviewSettings;
use crate::domain::{Actor, LectureId, RejectReason, SuggestionId, SuggestionStatus, Transition};
use crate::storage::{self, events, sync_queue};

/// The review operations over one database.
#[derive(Debug, Clone)]
pub struct Review {
    pool: PgPool,
    settings: ReviewSettings,
}

impl Review {
    pub fn new(pool: PgPool, settings: ReviewSettings) -> Review {
        Review { pool, settings }
    }

    pub fn settings(&self) -> &ReviewSettings {
        &self.settings
    }

    /// Approves one pending suggestion and enqueues its sync item.
    pub async fn approve(&self, id: SuggestionId, actor: &Actor) -> Result<Decision, ReviewError> {
        self.decide_one(id, None, Transition::Approve, None, reviewer(actor))
            .await
    }

    /// Rejects one pending suggestion.
    pub async fn reject(&self, id: SuggestionId, actor: &Actor) -> Result<Decision, ReviewError> {
        self.decide_one(id, None, Transition::Reject, None, reviewer(actor))
            .await
    }

    /// Approves or rejects suggestion `id` only if it is one of `lecture`
    /// (a click on a lecture's message decides that lecture's suggestions
    /// only); another lecture's suggestion is `NotFound`, and nothing
    /// changes. The check is part of the decision's lock: no extra round
    /// trip.
    pub async fn decide_in(
        &self,
        id: SuggestionId,
        lecture: &LectureId,
        transition: Transition,
        actor: &Actor,
    ) -> Result<Decision, ReviewError> {
        self.decide_one(id, Some(lecture), transition, None, reviewer(actor))
            .await
    }

    /// [`Review::decide_in`] with everything a click can say: a
    /// rejection's reason, and whether the actor is a lead (whose Approve
    /// or Reject decides a disputed suggestion; see `review::vote`).
    pub async fn decide_as(
        &self,
        id: SuggestionId,
        lecture: &LectureId,
        transition: Transition,
        reason: Option<RejectReason>,
        actor: &Actor,
        lead: bool,
    ) -> Result<Decision, ReviewError> {
        self.decide_one(id, Some(lecture), transition, reason, Voter { actor, lead })
            .await
    }

    async fn decide_one(
        &self,
        id: SuggestionId,
        lecture: Option<&LectureId>,
        transition: Transition,
        reason: Option<RejectReason>,
        voter: Voter<'_>,
    ) -> Result<Decision, ReviewError> {
        let mut tx = storage::begin(&self.pool).await?;
        let Some(row) = lock_one(&mut tx, id, lecture).await? else {
            return Ok(Decision::NotFound(id));
        };
        let details = self.details(with_reason(
            json!({ "via": transition.action().as_str() }),
            reason,
        ));
        let mut decisions = vote::decide(
            &mut tx,
            &[row],
            transition,
            voter,
            &details,
            self.policy(),
            self.settings.second_opinion,
        )
        .await?;
        storage::commit(tx).await?;
        count_applied(&decisions);
        Ok(decisions.pop().unwrap_or(Decision::NotFound(id)))
    }

    /// Approves the selected suggestions of one lecture. A selection naming a
    /// suggestion of another lecture (or none at all) is refused whole. In
    /// the second-opinion band each pick is a vote; a lead's pick of a
    /// disputed one decides it (they chose it by name).
    pub async fn approve_selected(
        &self,
        lecture: &LectureId,
        selected: &[SuggestionId],
        actor: &Actor,
        lead: bool,
    ) -> Result<LectureDecisions, ReviewError> {
        let wanted: BTreeSet<i64> = selected.iter().map(|id| id.get()).collect();
        if wanted.is_empty() {
            return Err(ReviewError::EmptySelection);
        }
        let details = json!({ "via": "approve_selected" });
        let voter = Voter { actor, lead };
        self.decide_lecture(lecture, Transition::Approve, voter, details, |rows| {
            let strangers: Vec<SuggestionId> = wanted
                .iter()
                .filter(|id| !rows.iter().any(|row| row.id == **id))
                .map(|id| SuggestionId::from_db(*id))
                .collect();
            if !strangers.is_empty() {
                return Err(ReviewError::NotInLecture {
                    lecture: lecture.clone(),
                    ids: strangers,
                });
            }
            Ok(rows
                .into_iter()
                .filter(|row| wanted.contains(&row.id))
                .collect())
        })
        .await
    }

    /// Approves every pending suggestion of the lecture scored at or above
    /// the configured threshold, best first, at most `cap` of them. Equal
    /// scores are taken in the order they were suggested (lower id first).
    pub async fn approve_top(
        &self,
        lecture: &LectureId,
        cap: Option<NonZeroU32>,
        actor: &Actor,
    ) -> Result<LectureDecisions, ReviewError> {
        let threshold = self.settings.approve_threshold.get();
        let details = json!({
            "via": "approve_top",
            "threshold": threshold,
            "cap": cap.map(NonZeroU32::get),
        });
        self.decide_lecture(
            lecture,
            Transition::Approve,
            reviewer(actor),
            details,
            |rows| {
                let mut chosen: Vec<LockedSuggestion> = rows
                    .into_iter()
                    .filter(|row| row.status == SuggestionStatus::Pending && row.score >= threshold)
                    .collect();
                chosen.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
                if let Some(cap) = cap {
                    chosen.truncate(usize::try_from(cap.get()).unwrap_or(usize::MAX));
                }
                Ok(chosen)
            },
        )
        .await
    }

    /// Sends every failed suggestion of the lecture back to approved and
    /// requeues its sync item from attempt zero.
    pub async fn retry_failed(
        &self,
        lecture: &LectureId,
        actor: &Actor,
    ) -> Result<LectureDecisions, ReviewError> {
        let details = json!({ "via": "retry" });
        self.decide_lecture(
            lecture,
            Transition::Retry,
            reviewer(actor),
            details,
            |rows| {
                Ok(rows
                    .into_iter()
                    .filter(|row| row.status == SuggestionStatus::Failed)
                    .collect())
            },
        )
        .await
    }

    /// One lecture-wide decision: lock the lecture's suggestions, let
    /// `choose` pick the ones to decide (or refuse the whole operation), and
    /// apply `transition` to them, all in one transaction.
    async fn decide_lecture(
        &self,
        lecture: &LectureId,
        transition: Transition,
        voter: Voter<'_>,
        details: Value,
        choose: impl FnOnce(Vec<LockedSuggestion>) -> Result<Vec<LockedSuggestion>, ReviewError>,
    ) -> Result<LectureDecisions, ReviewError> {
        let mut tx = storage::begin(&self.pool).await?;
        let rows = lock_known_lecture(&mut tx, lecture).await?;
        let chosen = choose(rows)?;
        let details = self.details(details);
        let decisions = self
            .apply(&mut tx, &chosen, transition, voter, &details)
            .await?;
        storage::commit(tx).await?;
        count_applied(&decisions);
        Ok(LectureDecisions {
            lecture: lecture.clone(),
            decisions,
        })
    }

    /// Queues every approved suggestion whose sync item is missing, failed
    /// or done (approved during a dry run, or by a hand fix in SQL), one
    /// audited `enqueue` event each with `actor`; returns how many. Run
    /// again, it finds nothing and changes nothing. Refused under
    /// `DRY_RUN`.
    pub async fn enqueue_stranded(&self, actor: &Actor) -> Result<usize, ReviewError> {
        if self.settings.dry_run {
            return Err(ReviewError::DryRun);
        }
        let mut tx = storage::begin(&self.pool).await?;
        let stranded = sync_queue::lock_stranded(&mut tx).await?;
        // Not a decision: nothing to take back, so nothing held.
        let moved = sync_queue::enqueue(&mut tx, &stranded, std::time::Duration::ZERO).await?;
        events::record_enqueued(&mut tx, &moved, actor).await?;
        storage::commit(tx).await?;
        Ok(moved.len())
    }

    /// Applies `transition` to `rows` inside `tx`, queueing approvals for
    /// Airtable unless this is a dry run; in the second-opinion band an
    /// approval or rejection is a vote ([`vote`]).
    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        rows: &[LockedSuggestion],
        transition: Transition,
        voter: Voter<'_>,
        details: &Value,
    ) -> Result<Vec<Decision>, ReviewError> {
        Ok(vote::decide(
            tx,
            rows,
            transition,
            voter,
            details,
            self.policy(),
            self.settings.second_opinion,
        )
        .await?)
    }

    /// Decisions open the configured undo window; a dry run queues nothing.
    fn policy(&self) -> Policy {
        Policy {
            enqueue: if self.settings.dry_run {
                Enqueue::No
            } else {
                Enqueue::Yes
            },
            undo: UndoTerms {
                window: self.settings.undo_window,
                as_lead: false,
            },
        }
    }

    /// Event details, marked when the decision was made in dry-run.
    fn details(&self, mut details: Value) -> Value {
        if self.settings.dry_run {
            details["dry_run"] = Value::Bool(true);
        }
        details
    }
}

/// Approved tags nothing will sync (see [`Review::enqueue_stranded`]), as
/// doctor, the digest and `tagbot report` say it: how many, and what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stranded {
    pub count: i64,
    /// Under `DRY_RUN` they cannot be queued yet.
    pub dry_run: bool,
}

impl std::fmt::Display for Stranded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dry_run {
            write!(
                f,
                "{} approved tag(s) are not queued for Airtable (dry run): they will need `tagbot enqueue` once DRY_RUN is off",
                self.count
            )
        } else {
            write!(
                f,
                "{} approved tag(s) are not queued for Airtable (approved during a dry run or by hand): run `tagbot enqueue`",
                self.count
            )
        }
    }
}

/// A reviewer who is not acting as a lead.
fn reviewer(actor: &Actor) -> Voter<'_> {
    Voter { actor, lead: false }
}

/// `details` with `"reason"` when a rejection gives one (the status
/// trigger copies it onto the row and refuses it with anything but a
/// reject).
fn with_reason(mut details: Value, reason: Option<RejectReason>) -> Value {
    if let Some(reason) = reason {
        details["reason"] = Value::from(reason.as_str());
    }
    details
}

/// Locks `lecture`'s suggestions in `tx`; a lecture with none is not found.
async fn lock_known_lecture(
    tx: &mut Transaction<'_, Postgres>,
    lecture: &LectureId,
) -> Result<Vec<LockedSuggestion>, ReviewError> {
    let rows = lock_lecture(tx, lecture.as_str()).await?;
    if rows.is_empty() {
        return Err(ReviewError::LectureNotFound(lecture.clone()));
    }
    Ok(rows)
}

/// Counts committed decisions for `/metrics`, by action.
fn count_applied(decisions: &[Decision]) {
    for decision in decisions {
        if let Decision::Applied(applied) = decision {
            metrics::counter!(crate::metrics::DECISIONS, "action" => applied.transition.action().as_str())
                .increment(1);
        }
    }
}
