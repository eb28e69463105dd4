//! `slack_review_messages`: one review message per lecture. A lecture's
//! message is claimed before it is posted (so several processes post it
//! once), its ts recorded after; the content version a trigger bumps on
//! every change of the lecture's suggestions tells which messages are
//! behind, and a short hold keeps two processes from updating one message
//! at once.

use sqlx::{PgConnection, PgPool};

use super::review_queue::{self, QueueOrder};
use super::Error;

/// How long a claim to post a lecture's message holds before another
/// process may take it over (the first one died before posting).
const POST_CLAIM_SECS: f64 = 60.0;

/// A review message as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MessageRef {
    pub lecture_external_id: String,
    pub channel: String,
    pub ts: String,
    pub content_version: i64,
}

/// A lecture let into the review channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Admitted {
    pub lecture_external_id: String,
    /// Its message is claimed for posting (None), or it already has one,
    /// to be brought up to date (the ts).
    pub ts: Option<String>,
}

/// A key for the advisory lock that lets one process at a time count the
/// open lectures and admit more, so several `serve` processes together
/// keep to the limit ("tagbot" in ASCII).
const ADMISSION_LOCK: i64 = 0x7461_6762_6f74;

/// Admits waiting lectures (pending suggestions, not open) in `order`
/// until `open_limit` are open, at most `limit` in this call. (A lecture
/// closes when its message is brought up to date with nothing pending:
/// [`finish_refresh`].) A lecture without a message is
/// claimed for posting by `claimant`; one with a message is reopened.
pub async fn admit(
    pool: &PgPool,
    channel: &str,
    claimant: &str,
    open_limit: u32,
    order: &QueueOrder,
    limit: i64,
) -> Result<Vec<Admitted>, Error> {
    let mut tx = super::serialized(pool, ADMISSION_LOCK).await?;
    let open: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM slack_review_messages m WHERE {OPEN}"
    ))
    .fetch_one(&mut *tx)
    .await?;
    let room = (i64::from(open_limit) - open).clamp(0, limit);
    if room == 0 {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    // A lecture open in the channel is there already; one a review
    // session holds is being decided there; one the catalogue does not
    // have cannot be shown.
    let waiting = review_queue::waiting(
        order,
        &format!(
            "NOT EXISTS (SELECT 1 FROM slack_review_messages m
                         WHERE m.lecture_external_id = s.lecture_external_id AND {OPEN})
             AND NOT EXISTS (SELECT 1 FROM review_holds h
                             WHERE h.lecture_external_id = s.lecture_external_id
                               AND h.held_until > now())
             AND EXISTS (SELECT 1 FROM enriched_lectures l
                         WHERE l.lecture_external_id = s.lecture_external_id)"
        ),
        "$3",
        5,
    );
    let (models, thresholds, default) = order.params();
    let admitted = sqlx::query_as(&format!(
        "{waiting}
         INSERT INTO slack_review_messages
             (lecture_external_id, channel, claimed_by, claimed_until, opened_at)
         SELECT lecture_external_id, $1, $2, now() + $4 * interval '1 second', now() FROM waiting
         ON CONFLICT (lecture_external_id) DO UPDATE
             SET opened_at = now(),
                 claimed_by = CASE WHEN slack_review_messages.ts IS NULL
                                   THEN EXCLUDED.claimed_by END,
                 claimed_until = CASE WHEN slack_review_messages.ts IS NULL
                                      THEN EXCLUDED.claimed_until END
         RETURNING lecture_external_id, ts"
    ))
    .bind(channel)
    .bind(claimant)
    .bind(room)
    .bind(POST_CLAIM_SECS)
    .bind(models)
    .bind(thresholds)
    .bind(default)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(admitted)
}

/// A message row that holds a place in the channel: admitted, and posted
/// or being posted by a live process.
const OPEN: &str = "m.opened_at IS NOT NULL AND (m.ts IS NOT NULL OR m.claimed_until > now())";

/// Records that the claimed lecture's message was posted, showing
/// `version`; false when the claim was lost meanwhile (another process
/// took the lecture over), and the post is an orphan.
pub async fn record_posted(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
    ts: &str,
    version: i64,
) -> Result<bool, Error> {
    let recorded = sqlx::query(
        "UPDATE slack_review_messages
         SET ts = $3, rendered_version = $4, posted_at = now(), updated_at = now(),
             claimed_by = NULL, claimed_until = NULL
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(ts)
    .bind(version)
    .execute(pool)
    .await?;
    Ok(recorded.rows_affected() == 1)
}

/// Extends a claim to post right before posting, and returns the version
/// the message will show; None when the claim was lost.
pub async fn renew_post_claim(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
) -> Result<Option<i64>, Error> {
    sqlx::query_scalar(
        "UPDATE slack_review_messages SET claimed_until = now() + $3 * interval '1 second'
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL
         RETURNING content_version",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(POST_CLAIM_SECS)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// Gives a claim back when posting failed, so it is retried soon.
pub async fn release_claim(pool: &PgPool, lecture: &str, claimant: &str) -> Result<(), Error> {
    sqlx::query(
        "DELETE FROM slack_review_messages
         WHERE lecture_external_id = $1 AND claimed_by = $2 AND ts IS NULL",
    )
    .bind(lecture)
    .bind(claimant)
    .execute(pool)
    .await?;
    Ok(())
}

/// The lecture's posted message, if any.
pub async fn message_for(pool: &PgPool, lecture: &str) -> Result<Option<MessageRef>, Error> {
    sqlx::query_as(
        "SELECT lecture_external_id, channel, ts, content_version FROM slack_review_messages
         WHERE lecture_external_id = $1 AND ts IS NOT NULL",
    )
    .bind(lecture)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// The lecture a Slack message of tagbot's is about: a lecture's review
/// message, or a report-channel failure post (its Retry button).
pub async fn lecture_of_message(
    pool: &PgPool,
    channel: &str,
    ts: &str,
) -> Result<Option<String>, Error> {
    sqlx::query_scalar(
        "SELECT lecture_external_id FROM slack_review_messages WHERE channel = $1 AND ts = $2
         UNION ALL
         SELECT e.lecture_external_id FROM slack_channel_posts p
         -- The post's key names its event (`failure:<id>`): found by the
         -- events' primary key, never by scanning them. CASE keeps the cast
         -- to failure keys whatever order Postgres evaluates in.
         JOIN events e ON e.id = CASE WHEN p.post_key LIKE 'failure:%'
                                      THEN split_part(p.post_key, ':', 2)::bigint END
         WHERE p.channel = $1 AND p.ts = $2
         LIMIT 1",
    )
    .bind(channel)
    .bind(ts)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// Posted messages that show an older version than the lecture is at,
/// and that no other process is updating.
pub async fn behind(pool: &PgPool, limit: i64) -> Result<Vec<MessageRef>, Error> {
    sqlx::query_as(
        "SELECT lecture_external_id, channel, ts, content_version FROM slack_review_messages m
         WHERE rendered_version < content_version AND ts IS NOT NULL
           AND (refreshing_until IS NULL OR refreshing_until < now())
           -- A closed lecture with new pending suggestions waits its turn
           -- in the queue; admitted, it is brought up to date.
           AND (opened_at IS NOT NULL
                OR NOT EXISTS (SELECT 1 FROM lecture_tag_suggestions s
                               WHERE s.lecture_external_id = m.lecture_external_id
                                 AND s.status = 'pending'))
         ORDER BY updated_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// How long a process may hold a message it is updating.
const REFRESH_HOLD_SECS: f64 = 30.0;

/// Takes a behind message to update it; returns the version it is to
/// show, or None when another process has it or it is current.
pub async fn claim_refresh(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
) -> Result<Option<i64>, Error> {
    sqlx::query_scalar(
        "UPDATE slack_review_messages
         SET refreshing_by = $2, refreshing_until = now() + $3 * interval '1 second'
         WHERE lecture_external_id = $1 AND ts IS NOT NULL
           AND rendered_version < content_version
           AND (refreshing_until IS NULL OR refreshing_until < now())
         RETURNING content_version",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(REFRESH_HOLD_SECS)
    .fetch_optional(pool)
    .await
    .map_err(Error::from)
}

/// Lets go of a message after updating it: it now shows `version` (or,
/// with None, the update failed and it stays behind); with `closes`, it
/// shows nothing pending and its lecture leaves the open ones.
pub async fn finish_refresh(
    pool: &PgPool,
    lecture: &str,
    claimant: &str,
    version: Option<i64>,
    closes: bool,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE slack_review_messages
         SET rendered_version = greatest(rendered_version, coalesce($3, rendered_version)),
             opened_at = CASE WHEN $4 THEN NULL ELSE opened_at END,
             refreshing_by = NULL, refreshing_until = NULL
         WHERE lecture_external_id = $1 AND refreshing_by = $2",
    )
    .bind(lecture)
    .bind(claimant)
    .bind(version)
    .bind(closes)
    .execute(pool)
    .await?;
    Ok(())
}

/// Opens the lecture's posted message again if it had closed, at once and
/// outside the open limit: an undo put its decisions back to pending, and
/// whoever took them back expects to find them where they were, not at
/// the back of the queue. (The open count is over the limit until it
/// closes again; admission waits meanwhile.)
pub(crate) async fn reopen(conn: &mut PgConnection, lecture: &str) -> Result<(), Error> {
    sqlx::query(
        "UPDATE slack_review_messages SET opened_at = now()
         WHERE lecture_external_id = $1 AND ts IS NOT NULL AND opened_at IS NULL",
    )
    .bind(lecture)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a message Slack no longer has (someone deleted it): the lecture
/// is posted again while it has pending suggestions.
pub async fn forget_message(pool: &PgPool, lecture: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM slack_review_messages WHERE lecture_external_id = $1")
        .bind(lecture)
        .execute(pool)
        .await?;
    Ok(())
}
