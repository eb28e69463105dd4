//! What a review message shows, as plain data: one lecture and its
//! suggestions, read from the database in one round trip. Rendering
//! ([`crate::slack::render`]) turns a card into Block Kit; interactions refer back
//! to it through the action ids below.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{RejectReason, SuggestionStatus};
use crate::storage::votes::{self, Vote};
use crate::storage::{self, drift, suggestions};

/// One lecture's review message.
#[derive(Debug, Clone, PartialEq)]
pub struct LectureCard {
    pub lecture_id: String,
    pub title: String,
    /// Best score first (ties: oldest first).
    pub suggestions: Vec<SuggestionCard>,
    /// "Approve all ≥ threshold" takes pending scores at or above this.
    pub approve_threshold: f64,
    /// What past decisions say of that threshold ("96% approved at this
    /// score, 412 decisions"), when there are any.
    pub threshold_note: Option<String>,
}

/// One suggestion on a card.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestionCard {
    pub id: i64,
    pub tag_id: String,
    /// The tag's display name (Hebrew, right-to-left).
    pub tag_name: String,
    pub score: f64,
    pub rationale: String,
    /// The model that suggested it.
    pub model: String,
    pub created_at: DateTime<Utc>,
    pub status: SuggestionStatus,
    /// Who made the last decision (display name, else `slack:U…`/`worker`/`cli:…`), and when.
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Until when that decision can be taken back (an **Undo** shows),
    /// while it could as the card was read.
    pub undo_until: Option<DateTime<Utc>>,
    /// Why it was rejected, when the reviewer said.
    pub reject_reason: Option<RejectReason>,
    /// A pending suggestion's active votes (the second-opinion band),
    /// oldest first: one waits for a second reviewer, two disagree.
    pub votes: Vec<Vote>,
    /// Why the sync failed, for failed suggestions.
    pub last_error: Option<String>,
    /// Synced, then removed from the record in Airtable: by whom, when.
    pub removed_in_airtable: Option<(String, DateTime<Utc>)>,
}

pub use crate::storage::events::HistoryLine;

/// Action ids of the review message's interactive elements. The
/// interaction handler dispatches on these; values carry the ids.
pub mod actions {
    /// Button; value: the suggestion id.
    pub const APPROVE: &str = "tagbot_approve";
    /// Button; value: the suggestion id.
    pub const REJECT: &str = "tagbot_reject";
    /// Static select beside a pending tag's buttons (review message) or on
    /// it (Details): reject with a reason. Option values
    /// `<reason>:<id>` (`too_broad:17`).
    pub const REJECT_BECAUSE: &str = "tagbot_reject_because";
    /// Overflow menu (compact layout); option values `approve:<id>` / `reject:<id>`.
    pub const DECIDE_MENU: &str = "tagbot_decide";
    /// Multi static select of pending suggestions; option values: suggestion ids.
    pub const SELECT: &str = "tagbot_select";
    /// Button; value: the lecture id. Approves what is selected in [`SELECT`].
    pub const APPROVE_SELECTED: &str = "tagbot_approve_selected";
    /// Button; value: the lecture id.
    pub const APPROVE_TOP: &str = "tagbot_approve_top";
    /// Button; value: the lecture id. Opens the details modal.
    pub const DETAILS: &str = "tagbot_details";
    /// Button; value: the lecture id.
    pub const RETRY_FAILED: &str = "tagbot_retry_failed";
    /// Button beside a decision (review message, Details, a session's
    /// "saved" line) while it can be taken back; value: the suggestion id.
    /// Takes back everything the action that decided it decided.
    pub const UNDO: &str = "tagbot_undo";
    /// Button beside a pending tag's vote (the second-opinion band) while
    /// it can be taken back; value: the suggestion id. Takes back only the
    /// presser's own vote, never a decision.
    pub const UNDO_VOTE: &str = "tagbot_undo_vote";
    /// The block id of the block holding [`SELECT`], before the message's
    /// revision is stamped on it (`render::review_message`); a click's
    /// selection is found by [`SELECT`], whatever the block id.
    pub const SELECT_BLOCK: &str = "tagbot_select_block";
    /// The details modal's `callback_id`; its `private_metadata` is the
    /// lecture id.
    pub const DETAILS_MODAL: &str = "tagbot_details_modal";
    /// The details modal's input of pending suggestions (values: suggestion
    /// ids), approved on submission.
    pub const MODAL_SELECT_BLOCK: &str = "tagbot_modal_select_block";
    pub const MODAL_SELECT: &str = "tagbot_modal_select";
    /// Button (App Home, digest, `/tags pending`): opens a review session.
    pub const START_REVIEW: &str = "tagbot_start_review";
    /// A review session modal's `callback_id`; its `private_metadata` is
    /// the session's state (`render::SessionState`).
    pub const SESSION_MODAL: &str = "tagbot_session";
    /// A session's per-tag radio buttons; option values `approve`,
    /// `reject`, `reject:<reason>`, `pending`. Their block id is `choice:<id>:<revision>`.
    pub const SESSION_CHOICE: &str = "tagbot_session_choice";
    /// Button in a session: pre-selects Approve for every pending tag at or
    /// above the threshold.
    pub const SESSION_TOP: &str = "tagbot_session_top";
    /// Button in a session: the next lecture, deciding nothing.
    pub const SESSION_SKIP: &str = "tagbot_session_skip";
}

fn votes_of(votes: &std::collections::BTreeMap<i64, Vec<Vote>>, suggestion: i64) -> &[Vote] {
    votes.get(&suggestion).map_or(&[], Vec::as_slice)
}

/// The lecture's card, or None when the lecture has no suggestions (or
/// is not in the catalogue).
pub async fn load_card(
    pool: &PgPool,
    lecture: &str,
    approve_threshold: f64,
) -> Result<Option<LectureCard>, storage::Error> {
    let rows = suggestions::of_lecture(pool, lecture).await?;
    let Some(title) = rows.first().map(|row| row.title.clone()) else {
        return Ok(None);
    };
    let removed = drift::of_lectures(pool, &[lecture.to_owned()]).await?;
    let pending: Vec<i64> = rows
        .iter()
        .filter(|row| row.status == SuggestionStatus::Pending)
        .map(|row| row.id)
        .collect();
    let votes = if pending.is_empty() {
        Default::default()
    } else {
        votes::active(pool, &pending).await?
    };
    Ok(Some(LectureCard {
        lecture_id: lecture.to_owned(),
        title,
        approve_threshold,
        threshold_note: None,
        suggestions: rows
            .into_iter()
            .map(|row| SuggestionCard {
                removed_in_airtable: removed
                    .iter()
                    .find(|d| d.tag_id == row.tag_id && row.status == SuggestionStatus::Synced)
                    .map(|d| (d.removed_by.clone(), d.removed_at)),
                id: row.id,
                tag_id: row.tag_id,
                tag_name: row.tag_name,
                score: row.score,
                rationale: row.rationale,
                model: row.suggested_by,
                created_at: row.created_at,
                status: row.status,
                decided_by: row.decided_by,
                decided_at: row.decided_at,
                // A pending tag's vote can be taken back while its window
                // is open, as a decision can.
                undo_until: row.undo_until.or_else(|| {
                    votes_of(&votes, row.id)
                        .iter()
                        .map(|vote| vote.withdrawable_until)
                        .max()
                        .filter(|until| *until > chrono::Utc::now())
                }),
                reject_reason: row.reject_reason,
                votes: votes_of(&votes, row.id).to_vec(),
                last_error: row.last_error,
            })
            .collect(),
    }))
}
