//! A second pair of eyes (`TAGBOT_SECOND_OPINION`): an Approve or Reject
//! of a pending suggestion scored in the band, or of one that has votes
//! already, is a vote; the second vote that agrees makes the decision (the
//! second voter its actor), one that disagrees makes the suggestion
//! disputed, and only a lead's Approve or Reject decides a disputed one (a
//! ruling). Every other suggestion is decided at once, as ever.
//!
//! Runs inside the caller's transaction, on rows it has locked (so two
//! racing deciding votes queue on the row lock: the second finds the
//! suggestion decided and is told who decided). The rules are the
//! database's too (migration 0022); review checks them first so each
//! suggestion's outcome can be told in words.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::{Postgres, Transaction};

use super::apply::{self, LockedSuggestion, Policy};
use super::outcome::{Decision, Verdict, Vote, Voted};
use crate::config::ScoreBand;
use crate::domain::{Actor, SuggestionId, SuggestionStatus, Transition};
use crate::storage::{self, votes};

/// Who decides, and on what standing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Voter<'a> {
    pub actor: &'a Actor,
    /// A lead (`SLACK_LEADS`): their Approve or Reject decides a disputed
    /// suggestion.
    pub lead: bool,
}

/// Applies `transition` to `rows` as [`apply::apply`] does, except that an
/// approval or rejection of a suggestion that needs two reviewers is a
/// vote (see the module doc). One decision per row, in row order.
pub(crate) async fn decide(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[LockedSuggestion],
    transition: Transition,
    voter: Voter<'_>,
    details: &Value,
    policy: Policy,
    band: Option<ScoreBand>,
) -> Result<Vec<Decision>, storage::Error> {
    let Some(verdict) = verdict_of(transition) else {
        return apply::apply(tx, rows, transition, voter.actor, details, policy).await;
    };
    let pending: Vec<i64> = rows
        .iter()
        .filter(|row| row.status == SuggestionStatus::Pending)
        .map(|row| row.id)
        .collect();
    let mut active = if pending.is_empty() {
        BTreeMap::new()
    } else {
        votes::active(&mut **tx, &pending).await?
    };
    let needs_votes = |row: &LockedSuggestion, active: &BTreeMap<i64, Vec<Vote>>| {
        row.status == SuggestionStatus::Pending
            && (band.is_some_and(|band| band.contains(row.score)) || active.contains_key(&row.id))
    };
    let (voted, direct): (Vec<&LockedSuggestion>, Vec<&LockedSuggestion>) =
        rows.iter().partition(|row| needs_votes(row, &active));

    let direct: Vec<LockedSuggestion> = direct.into_iter().cloned().collect();
    let mut decided: BTreeMap<i64, Decision> =
        apply::apply(tx, &direct, transition, voter.actor, details, policy)
            .await?
            .into_iter()
            .map(|decision| (decision.suggestion().get(), decision))
            .collect();
    for row in voted {
        let standing = active.remove(&row.id).unwrap_or_default();
        let decision = vote_on(tx, row, verdict, standing, voter, details, policy).await?;
        decided.insert(row.id, decision);
    }
    Ok(rows
        .iter()
        .filter_map(|row| decided.remove(&row.id))
        .collect())
}

/// One suggestion that needs two reviewers, with its active votes.
async fn vote_on(
    tx: &mut Transaction<'_, Postgres>,
    row: &LockedSuggestion,
    verdict: Verdict,
    standing: Vec<Vote>,
    voter: Voter<'_>,
    details: &Value,
    policy: Policy,
) -> Result<Decision, storage::Error> {
    let suggestion = SuggestionId::from_db(row.id);
    let transition = transition_of(verdict);
    // A lead rules on a dispute, their own vote in it or not; anyone else,
    // one of its voters included, is told it waits for a lead (the
    // dispute is the news, not their own vote in it).
    if standing.len() >= 2 {
        if !voter.lead {
            return Ok(Decision::NeedsLead {
                suggestion,
                votes: standing,
            });
        }
        // A ruling: the lead decides at once; both votes go into the
        // event (the trigger writes them).
        let ruling = Policy {
            undo: apply::UndoTerms {
                as_lead: true,
                ..policy.undo
            },
            ..policy
        };
        return one(tx, row, transition, voter.actor, details, ruling).await;
    }
    if let Some(mine) = standing.iter().find(|v| v.voter == voter.actor.as_db()) {
        return Ok(Decision::AlreadyVoted {
            suggestion,
            verdict: mine.verdict,
        });
    }
    let reason = details
        .get("reason")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok());
    votes::cast(tx, row.id, verdict, reason, voter.actor, policy.undo.window).await?;
    match standing.into_iter().next() {
        None => Ok(Decision::Voted(Voted {
            suggestion,
            verdict,
            disagrees_with: None,
        })),
        Some(first) if first.verdict == verdict => {
            // Agreement decides. A rejection keeps a reason: this voter's,
            // else the first's.
            let mut details = details.clone();
            if let (None, Some(theirs)) = (reason, first.reason) {
                details["reason"] = Value::from(theirs.as_str());
            }
            one(tx, row, transition, voter.actor, &details, policy).await
        }
        Some(first) => Ok(Decision::Voted(Voted {
            suggestion,
            verdict,
            disagrees_with: Some(first),
        })),
    }
}

async fn one(
    tx: &mut Transaction<'_, Postgres>,
    row: &LockedSuggestion,
    transition: Transition,
    actor: &Actor,
    details: &Value,
    policy: Policy,
) -> Result<Decision, storage::Error> {
    let mut decisions = apply::apply(
        tx,
        std::slice::from_ref(row),
        transition,
        actor,
        details,
        policy,
    )
    .await?;
    Ok(decisions
        .pop()
        .unwrap_or(Decision::NotFound(SuggestionId::from_db(row.id))))
}

fn verdict_of(transition: Transition) -> Option<Verdict> {
    match transition {
        Transition::Approve => Some(Verdict::Approve),
        Transition::Reject => Some(Verdict::Reject),
        _ => None,
    }
}

fn transition_of(verdict: Verdict) -> Transition {
    match verdict {
        Verdict::Approve => Transition::Approve,
        Verdict::Reject => Transition::Reject,
    }
}
