//! `review_holds`: which lecture each reviewer in a review session is
//! working on. A reviewer holds at most one lecture, under a lease renewed
//! while they work; a lecture is held by at most one reviewer (the primary
//! key), so two sessions never serve the same lecture. Taking the next
//! lecture runs under an advisory lock, so two reviewers asking at the
//! same moment are served one after the other.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};

use super::review_queue::{self, QueueOrder};
use super::Error;

/// "tagbot-s" in ASCII: the advisory lock key of session hand-outs.
const HANDOUT_LOCK: i64 = 0x7461_6762_6f74_2d73;

/// Who a session serves, as the queue sees them: a suggestion they voted
/// on is not theirs to review again, and a disputed one (two votes that
/// disagree, migration 0022) is only a lead's.
#[derive(Debug, Clone, Copy)]
pub struct Standing<'a> {
    /// As `events.actor` and `review_votes.voter` (`slack:U…`).
    pub actor: &'a str,
    pub lead: bool,
}

/// Lets go of whatever `reviewer` holds, then holds the next lecture in
/// the queue for them: in `order`, with something pending they may act on
/// (`standing`), held by nobody else, not in `skipped`. A lead is served
/// lectures with a disputed suggestion first; then lectures not open in
/// the review channel (fewer reviewers meet on one lecture); then the
/// channel's own. None when nothing is left.
pub async fn take_next(
    pool: &PgPool,
    reviewer: &str,
    standing: Standing<'_>,
    order: &QueueOrder,
    skipped: &[String],
    lease: Duration,
) -> Result<Option<String>, Error> {
    let mut tx = super::serialized(pool, HANDOUT_LOCK).await?;
    sqlx::query("DELETE FROM review_holds WHERE held_by = $1 OR held_until < now()")
        .bind(reviewer)
        .execute(&mut *tx)
        .await?;
    let mut next = if standing.lead {
        first_disputed(&mut tx, skipped).await?
    } else {
        None
    };
    for outside_channel in [true, false] {
        if next.is_some() {
            break;
        }
        next = first_free(&mut tx, order, skipped, standing, outside_channel).await?;
    }
    if let Some(lecture) = &next {
        sqlx::query(
            "INSERT INTO review_holds (lecture_external_id, held_by, held_until)
             VALUES ($1, $2, now() + $3 * interval '1 second')",
        )
        .bind(lecture)
        .bind(reviewer)
        .bind(lease.as_secs_f64())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(next)
}

/// A lead's first: the lecture with the oldest disputed suggestion that
/// nobody holds and `skipped` does not name. Found from the votes (few)
/// rather than by walking the queue (many), so a lead's hand-out costs
/// nothing extra when nothing is disputed.
async fn first_disputed(
    conn: &mut PgConnection,
    skipped: &[String],
) -> Result<Option<String>, Error> {
    sqlx::query_scalar(
        "SELECT s.lecture_external_id
         FROM review_votes v JOIN lecture_tag_suggestions s ON s.id = v.suggestion_id
         WHERE s.status = 'pending' AND v.verdict <> 'withdraw'
           AND NOT EXISTS (SELECT 1 FROM review_votes w WHERE w.withdraws = v.id)
           AND NOT (s.lecture_external_id = ANY($1))
           AND NOT EXISTS (SELECT 1 FROM review_holds h
                           WHERE h.lecture_external_id = s.lecture_external_id)
           AND EXISTS (SELECT 1 FROM enriched_lectures l
                       WHERE l.lecture_external_id = s.lecture_external_id)
         GROUP BY s.id
         HAVING count(*) >= 2
         ORDER BY min(s.created_at), min(s.lecture_external_id)
         LIMIT 1",
    )
    .bind(skipped)
    .fetch_optional(conn)
    .await
    .map_err(Error::from)
}

/// The first lecture in `order` with a pending suggestion `standing` may
/// act on (not one they voted on, unless it is disputed and they lead; not
/// a disputed one, unless they lead), that nobody holds and `skipped` does
/// not name; with `outside_channel`, only one not open in the review
/// channel. Walks the pending suggestions by the queue's index and stops
/// at the first lectures (`review_queue::waiting`).
async fn first_free(
    conn: &mut PgConnection,
    order: &QueueOrder,
    skipped: &[String],
    standing: Standing<'_>,
    outside_channel: bool,
) -> Result<Option<String>, Error> {
    let waiting = review_queue::waiting(
        order,
        &format!(
            "NOT (s.lecture_external_id = ANY($1))
             AND NOT EXISTS (SELECT 1 FROM review_holds h
                             WHERE h.lecture_external_id = s.lecture_external_id)
             AND EXISTS (SELECT 1 FROM enriched_lectures l
                         WHERE l.lecture_external_id = s.lecture_external_id)
             AND NOT ($2 AND EXISTS (SELECT 1 FROM slack_review_messages m
                                     WHERE m.lecture_external_id = s.lecture_external_id
                                       AND m.opened_at IS NOT NULL))
             AND CASE WHEN $4 THEN NOT EXISTS ({voted} AND v.voter = $3) OR {disputed}
                      ELSE NOT EXISTS ({voted} AND v.voter = $3) AND NOT {disputed} END",
            voted = super::votes::ACTIVE_ON_S,
            disputed = super::votes::DISPUTED_S,
        ),
        "1",
        5,
    );
    let (models, thresholds, default) = order.params();
    sqlx::query_scalar(&format!(
        "{waiting} SELECT lecture_external_id FROM waiting"
    ))
    .bind(skipped)
    .bind(outside_channel)
    .bind(standing.actor)
    .bind(standing.lead)
    .bind(models)
    .bind(thresholds)
    .bind(default)
    .fetch_optional(conn)
    .await
    .map_err(Error::from)
}

/// Whether `reviewer` holds `lecture` now (and renews the lease if so).
pub async fn renew(
    pool: &PgPool,
    reviewer: &str,
    lecture: &str,
    lease: Duration,
) -> Result<bool, Error> {
    let renewed = sqlx::query(
        "UPDATE review_holds SET held_until = now() + $3 * interval '1 second'
         WHERE lecture_external_id = $1 AND held_by = $2",
    )
    .bind(lecture)
    .bind(reviewer)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// The lecture `reviewer` holds now, if any (its lease not run out): what
/// their session modal should show.
pub async fn held_by(pool: &PgPool, reviewer: &str) -> Result<Option<String>, Error> {
    // One row at most (take_next lets go of the old before it holds the
    // next); the latest lease wins should that ever not be so.
    sqlx::query_scalar(
        "SELECT lecture_external_id FROM review_holds
         WHERE held_by = $1 AND held_until > now()
         ORDER BY held_until DESC
         LIMIT 1",
    )
    .bind(reviewer)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// Lets go of what `reviewer` holds (the session ended).
pub async fn release(pool: &PgPool, reviewer: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM review_holds WHERE held_by = $1")
        .bind(reviewer)
        .execute(pool)
        .await?;
    Ok(())
}
