//! The one way a status changes: inside a caller's transaction, lock the
//! suggestions, decide in Rust with [`Transition`], update, and (for
//! approvals) enqueue the sync items.
//!
//! The database triggers check the same state machine and write the
//! transition events; this module names the actor for them through
//! transaction-local settings, and writes the `enqueue` events itself.

use std::collections::HashMap;

use serde_json::Value;
use sqlx::{PgConnection, Postgres, Transaction};

use super::outcome::{Applied, DecidedBy, Decision, PriorDecision};
use crate::domain::{Action, Actor, LectureId, SuggestionId, SuggestionStatus, Transition};

/// A suggestion row held under `FOR UPDATE` for the rest of the transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LockedSuggestion {
    pub id: i64,
    pub tag_id: String,
    pub score: f64,
    pub status: SuggestionStatus,
}

const LOCKED_COLUMNS: &str = "id, tag_id, score, status";

/// Locks one suggestion; `None` when it does not exist, or is not one of
/// `lecture` when a lecture is given.
pub(crate) async fn lock_one(
    conn: &mut PgConnection,
    id: SuggestionId,
    lecture: Option<&LectureId>,
) -> Result<Option<LockedSuggestion>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LOCKED_COLUMNS} FROM lecture_tag_suggestions
         WHERE id = $1 AND ($2::text IS NULL OR lecture_external_id = $2) FOR UPDATE"
    ))
    .bind(id.get())
    .bind(lecture.map(LectureId::as_str))
    .fetch_optional(conn)
    .await
}

/// Locks every suggestion of a lecture, in id order so that two lecture-wide
/// operations on one lecture queue behind each other instead of deadlocking.
pub(crate) async fn lock_lecture(
    conn: &mut PgConnection,
    lecture: &str,
) -> Result<Vec<LockedSuggestion>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {LOCKED_COLUMNS} FROM lecture_tag_suggestions
         WHERE lecture_external_id = $1 ORDER BY id FOR UPDATE"
    ))
    .bind(lecture)
    .fetch_all(conn)
    .await
}

/// Names the actor (and event details) for the audit trigger, for this
/// transaction only.
pub(crate) async fn set_actor(
    conn: &mut PgConnection,
    actor: &Actor,
    details: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT set_config('tagbot.actor', $1, true),
                set_config('tagbot.actor_name', $2, true),
                set_config('tagbot.details', $3, true)",
    )
    .bind(actor.as_db())
    .bind(actor.display_name().unwrap_or(""))
    .bind(details.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// What to do with the sync queue when a transition lands on `approved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueue {
    Yes,
    /// Dry-run: decide, audit, but put nothing in the queue.
    No,
}

/// Applies `transition` to every locked row that is in its `from` status and
/// explains every other row. Returns one decision per row, in row order.
pub(crate) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[LockedSuggestion],
    transition: Transition,
    actor: &Actor,
    details: &Value,
    enqueue: Enqueue,
) -> Result<Vec<Decision>, sqlx::Error> {
    let (ready, blocked): (Vec<&LockedSuggestion>, Vec<&LockedSuggestion>) =
        rows.iter().partition(|row| row.status == transition.from());

    let mut enqueued = Vec::new();
    if !ready.is_empty() {
        set_actor(tx, actor, details).await?;
        let ids: Vec<i64> = ready.iter().map(|row| row.id).collect();
        sqlx::query(
            "UPDATE lecture_tag_suggestions
             SET status = $2, last_error = NULL
             WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(transition.to())
        .execute(&mut **tx)
        .await?;
        if transition.to() == SuggestionStatus::Approved && enqueue == Enqueue::Yes {
            enqueued = enqueue_sync_items(tx, &ids, actor).await?;
        }
    }

    let blocked_ids: Vec<i64> = blocked.iter().map(|row| row.id).collect();
    let mut latest = latest_decisions(tx, &blocked_ids).await?;

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
        // The worker owns these; a mismatch is a bug, not a race.
        Transition::SyncOk | Transition::SyncFail => false,
    }
}

/// Puts (or puts back) the sync items of the approved suggestions `ids` in
/// the queue and writes one `enqueue` event for each item that moved. An item
/// already queued or in flight is left alone; a failed or done one is
/// requeued from attempt zero. Returns the suggestion ids enqueued.
async fn enqueue_sync_items(
    conn: &mut PgConnection,
    ids: &[i64],
    actor: &Actor,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH approved AS (
             SELECT id, lecture_external_id, tag_id
             FROM lecture_tag_suggestions WHERE id = ANY($1)
         ), upserted AS (
             INSERT INTO airtable_sync_items (lecture_external_id, tag_id)
             SELECT lecture_external_id, tag_id FROM approved
             ON CONFLICT (lecture_external_id, tag_id) DO UPDATE
                 SET status = 'queued', attempt = 0, last_error = NULL,
                     next_attempt_at = now(), leased_by = NULL,
                     lease_expires_at = NULL, updated_at = now()
                 WHERE airtable_sync_items.status IN ('failed', 'done')
             RETURNING id, lecture_external_id, tag_id
         )
         INSERT INTO events (suggestion_id, lecture_external_id, tag_id, actor,
                             actor_name, action, from_status, to_status, details)
         SELECT a.id, a.lecture_external_id, a.tag_id, $2, nullif($3, ''),
                'enqueue', 'approved', 'approved',
                jsonb_build_object('sync_item_id', u.id)
         FROM approved a
         JOIN upserted u USING (lecture_external_id, tag_id)
         RETURNING suggestion_id",
    )
    .bind(ids)
    .bind(actor.as_db())
    .bind(actor.display_name().unwrap_or(""))
    .fetch_all(conn)
    .await
}

/// The latest human decision (approve, reject, retry) on each suggestion.
async fn latest_decisions(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<HashMap<i64, DecidedBy>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<LatestDecisionRow> = sqlx::query_as(
        "SELECT DISTINCT ON (suggestion_id)
                suggestion_id, actor, actor_name, action, created_at
         FROM events
         WHERE suggestion_id = ANY($1) AND action IN ('approve', 'reject', 'retry')
         ORDER BY suggestion_id, id DESC",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.suggestion_id,
                DecidedBy {
                    actor: row.actor,
                    actor_name: row.actor_name,
                    action: row.action,
                    at: row.created_at,
                },
            )
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct LatestDecisionRow {
    suggestion_id: i64,
    actor: String,
    actor_name: Option<String>,
    action: Action,
    created_at: chrono::DateTime<chrono::Utc>,
}
