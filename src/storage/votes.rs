//! `review_votes`: the votes on suggestions in the second-opinion band,
//! append-only (migration 0022). A vote is cast or withdrawn here and
//! nowhere else; what the database checks of each (the voter is the
//! transaction's actor, one active vote per voter, none on a disputed
//! suggestion, a withdrawal within the vote's window) is written at the
//! top of the migration. The status trigger reads the active votes into a
//! decision's event and withdraws a deciding vote when its decision is
//! undone.
//!
//! Vocabulary: a vote is **active** while no later row withdraws it; a
//! suggestion with two active votes that disagree is **disputed**.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::Error;
use crate::domain::{Actor, RejectReason};

/// Approve or reject, as a vote says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
        }
    }
}

/// One active vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub id: i64,
    pub suggestion_id: i64,
    /// As `events.actor` (`slack:U…`).
    pub voter: String,
    pub voter_name: Option<String>,
    pub verdict: Verdict,
    pub reason: Option<RejectReason>,
    pub voted_at: DateTime<Utc>,
    /// Until when its voter may withdraw it.
    pub withdrawable_until: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct VoteRow {
    id: i64,
    suggestion_id: i64,
    voter: String,
    voter_name: Option<String>,
    verdict: String,
    reason: Option<RejectReason>,
    voted_at: DateTime<Utc>,
    withdrawable_until: DateTime<Utc>,
}

impl TryFrom<VoteRow> for Vote {
    type Error = Error;

    fn try_from(row: VoteRow) -> Result<Vote, Error> {
        let verdict = match row.verdict.as_str() {
            "approve" => Verdict::Approve,
            "reject" => Verdict::Reject,
            other => {
                return Err(Error::Other(sqlx::Error::Decode(
                    format!("an active vote's verdict is {other:?}").into(),
                )))
            }
        };
        Ok(Vote {
            id: row.id,
            suggestion_id: row.suggestion_id,
            voter: row.voter,
            voter_name: row.voter_name,
            verdict,
            reason: row.reason,
            voted_at: row.voted_at,
            withdrawable_until: row.withdrawable_until,
        })
    }
}

/// The one definition, in the app's SQL, of an active vote `v`: cast (not
/// a withdrawal) and withdrawn by no later row. The database's own
/// `tagbot_active_votes(suggestion)` says the same for its triggers; the
/// queue's queries read it inline, where the planner can join.
macro_rules! active_vote {
    () => {
        "v.verdict <> 'withdraw'
       AND NOT EXISTS (SELECT 1 FROM review_votes w WHERE w.withdraws = v.id)"
    };
}
const ACTIVE: &str = concat!(
    "SELECT v.id, v.suggestion_id, v.voter, v.voter_name, v.verdict, v.reason,
            v.voted_at, v.voted_at + v.undo_secs * interval '1 second' AS withdrawable_until
     FROM review_votes v
     WHERE v.suggestion_id = ANY($1) AND ",
    active_vote!(),
    "
     ORDER BY v.suggestion_id, v.id"
);

/// For queue queries over pending suggestions `s`: the active votes on
/// `s` (`SELECT 1 FROM review_votes v WHERE …`; add conditions on `v`).
pub(super) const ACTIVE_ON_S: &str = concat!(
    "SELECT 1 FROM review_votes v
     WHERE v.suggestion_id = s.id AND ",
    active_vote!()
);

/// For queue queries over pending suggestions `s`: whether `s` is
/// disputed (two active votes, which then disagree: two that agree decide).
pub(super) const DISPUTED_S: &str = concat!(
    "((SELECT count(*) FROM review_votes v
     WHERE v.suggestion_id = s.id AND ",
    active_vote!(),
    ") >= 2)"
);

/// The active votes on each of `suggestions`, oldest first; a suggestion
/// with none is absent.
pub async fn active<'e>(
    conn: impl PgExecutor<'e>,
    suggestions: &[i64],
) -> Result<BTreeMap<i64, Vec<Vote>>, Error> {
    let rows: Vec<VoteRow> = sqlx::query_as(ACTIVE)
        .bind(suggestions)
        .fetch_all(conn)
        .await?;
    let mut votes: BTreeMap<i64, Vec<Vote>> = BTreeMap::new();
    for row in rows {
        let vote = Vote::try_from(row)?;
        votes.entry(vote.suggestion_id).or_default().push(vote);
    }
    Ok(votes)
}

/// Casts `actor`'s vote on a pending suggestion (locked by the caller),
/// withdrawable for `window`. Returns its id.
pub(crate) async fn cast(
    conn: &mut PgConnection,
    suggestion: i64,
    verdict: Verdict,
    reason: Option<RejectReason>,
    actor: &Actor,
    window: Duration,
) -> Result<i64, Error> {
    // The trigger takes the voter's name and the window from the
    // transaction's settings, set by this statement before its row is
    // made (an uncorrelated subquery, evaluated once, first).
    sqlx::query_scalar(
        "INSERT INTO review_votes (suggestion_id, voter, verdict, reason)
         SELECT $1, $2, $3, $4
         WHERE (SELECT set_config('tagbot.actor', $2, true) IS NOT NULL
                   AND set_config('tagbot.actor_name', $5, true) IS NOT NULL
                   AND set_config('tagbot.undo_secs', $6, true) IS NOT NULL)
         RETURNING id",
    )
    .bind(suggestion)
    .bind(actor.as_db())
    .bind(verdict.as_str())
    .bind(reason)
    .bind(actor.display_name().unwrap_or(""))
    .bind(window.as_secs().to_string())
    .fetch_one(conn)
    .await
    .map_err(Error::from)
}

/// Withdraws vote `vote` of `suggestion` as `actor` (its voter, or a lead
/// when `as_lead`).
pub(crate) async fn withdraw(
    conn: &mut PgConnection,
    suggestion: i64,
    vote: i64,
    actor: &Actor,
    as_lead: bool,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO review_votes (suggestion_id, voter, verdict, withdraws)
         SELECT $1, $2, 'withdraw', $3
         WHERE (SELECT set_config('tagbot.actor', $2, true) IS NOT NULL
                   AND set_config('tagbot.actor_name', $4, true) IS NOT NULL
                   AND set_config('tagbot.undo_as_lead', $5, true) IS NOT NULL)",
    )
    .bind(suggestion)
    .bind(actor.as_db())
    .bind(vote)
    .bind(actor.display_name().unwrap_or(""))
    .bind(as_lead.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
