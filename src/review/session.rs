//! A review session's choices for one lecture, applied all or nothing: each
//! tag the reviewer marked is approved or rejected in one transaction, with
//! one event each and the reviewer as actor, exactly as buttons do. When
//! any marked tag was decided by someone else since the reviewer was shown
//! the lecture, nothing is applied and the reviewer is told who decided.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use sqlx::{Postgres, Transaction};

use super::apply::LockedSuggestion;
use super::outcome::{LectureDecisions, PriorDecision};
use super::vote::Voter;
use super::{count_applied, lock_known_lecture, with_reason, Review, ReviewError};
use crate::domain::{
    Action, Actor, LectureId, RejectReason, SuggestionId, SuggestionStatus, Transition,
};
use crate::storage::events;

/// What the reviewer marked on one lecture; tags left pending are in
/// neither, and a tag in both is approved. A rejection may carry a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub approve: BTreeSet<SuggestionId>,
    pub reject: BTreeMap<SuggestionId, Option<RejectReason>>,
}

impl Choices {
    fn marked(&self) -> impl Iterator<Item = &SuggestionId> {
        self.approve.iter().chain(self.reject.keys())
    }

    /// The rejections (of tags not also approved) grouped by reason: one
    /// transition each, since a statement's events share their details.
    fn rejections_by_reason(&self) -> BTreeMap<Option<RejectReason>, BTreeSet<SuggestionId>> {
        let mut groups: BTreeMap<_, BTreeSet<_>> = BTreeMap::new();
        for (id, reason) in &self.reject {
            if !self.approve.contains(id) {
                groups.entry(*reason).or_default().insert(*id);
            }
        }
        groups
    }

    /// Refuses choices that mark a tag not of `lecture` (`rows`, locked).
    fn all_in(&self, lecture: &LectureId, rows: &[LockedSuggestion]) -> Result<(), ReviewError> {
        let strangers: Vec<SuggestionId> = self
            .marked()
            .filter(|id| !rows.iter().any(|row| row.id == id.get()))
            .copied()
            .collect();
        if strangers.is_empty() {
            return Ok(());
        }
        Err(ReviewError::NotInLecture {
            lecture: lecture.clone(),
            ids: strangers,
        })
    }

    /// Whether `prior` is `actor`'s own decision, the one chosen here.
    fn already_made_by(&self, prior: &PriorDecision, actor: &Actor) -> bool {
        let Some(by) = &prior.decided_by else {
            return false;
        };
        let chosen = if self.approve.contains(&prior.suggestion) {
            Action::Approve
        } else {
            Action::Reject
        };
        by.actor == actor.as_db() && by.action == chosen
    }
}

/// How a session's choices landed.
#[derive(Debug, Clone, PartialEq)]
pub enum ChoicesOutcome {
    /// Every marked tag was decided as marked.
    Applied(LectureDecisions),
    /// Some marked tags were decided by someone else meanwhile: nothing
    /// was applied. Each of those, with who decided it.
    Refused(Vec<PriorDecision>),
}

impl Review {
    /// Applies a session's `choices` for `lecture` in one transaction, or
    /// none of them (see the module doc).
    pub async fn decide_choices(
        &self,
        lecture: &LectureId,
        choices: &Choices,
        actor: &Actor,
        lead: bool,
    ) -> Result<ChoicesOutcome, ReviewError> {
        let mut tx = crate::storage::begin(&self.pool).await?;
        let rows = lock_known_lecture(&mut tx, lecture).await?;
        choices.all_in(lecture, &rows)?;
        let others = decided_by_others(&mut tx, &rows, choices, actor).await?;
        if !others.is_empty() {
            return Ok(ChoicesOutcome::Refused(others));
        }
        let mut groups = vec![(Transition::Approve, None, choices.approve.clone())];
        groups.extend(
            choices
                .rejections_by_reason()
                .into_iter()
                .map(|(reason, ids)| (Transition::Reject, reason, ids)),
        );
        let mut decisions = Vec::new();
        for (transition, reason, ids) in groups {
            let chosen: Vec<_> = rows
                .iter()
                .filter(|row| ids.contains(&SuggestionId::from_db(row.id)))
                .cloned()
                .collect();
            if chosen.is_empty() {
                continue;
            }
            let details = self.details(with_reason(json!({ "via": "review_session" }), reason));
            decisions.extend(
                self.apply(
                    &mut tx,
                    &chosen,
                    transition,
                    Voter { actor, lead },
                    &details,
                )
                .await?,
            );
        }
        crate::storage::commit(tx).await?;
        count_applied(&decisions);
        Ok(ChoicesOutcome::Applied(LectureDecisions {
            lecture: lecture.clone(),
            decisions,
        }))
    }
}

/// The marked tags already decided, by someone other than `actor` or
/// otherwise than chosen now, each with who decided it. The reviewer's own
/// decision, as chosen now, is a save sent twice (Slack timed out the first
/// answer): not a conflict.
async fn decided_by_others(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[LockedSuggestion],
    choices: &Choices,
    actor: &Actor,
) -> Result<Vec<PriorDecision>, ReviewError> {
    let marked: BTreeSet<i64> = choices.marked().map(|id| id.get()).collect();
    let taken: Vec<_> = rows
        .iter()
        .filter(|row| marked.contains(&row.id) && row.status != SuggestionStatus::Pending)
        .collect();
    if taken.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = taken.iter().map(|row| row.id).collect();
    let mut latest = events::latest_decisions(tx, &ids).await?;
    Ok(taken
        .into_iter()
        .map(|row| PriorDecision {
            suggestion: SuggestionId::from_db(row.id),
            status: row.status,
            decided_by: latest.remove(&row.id),
        })
        .filter(|prior| !choices.already_made_by(prior, actor))
        .collect())
}
