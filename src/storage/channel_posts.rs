//! `slack_channel_posts`: the once-only posts to the report channel. A
//! post's key (`failure:<event id>`, `run:<run id>`, `digest:<date>`,
//! `calibration:<ISO week>`, whose "ts" is the uploaded file's id) is
//! claimed before posting, so restarts and several `serve` processes make
//! each post once; a claim whose process died expires.

use sqlx::PgPool;

use super::Error;

/// How long a claim to post holds before another process may take it over
/// (the first one died before posting).
const POST_CLAIM_SECS: f64 = 60.0;

/// The key of a permanent failure's post.
pub fn failure_key(event_id: i64) -> String {
    format!("failure:{event_id}")
}

/// The key of a run report's post.
pub fn run_key(run_id: i64) -> String {
    format!("run:{run_id}")
}

/// The key of a day's digest.
pub fn digest_key(day: chrono::NaiveDate) -> String {
    format!("digest:{day}")
}

/// The key of a week's calibration chart (ISO year and week).
pub fn calibration_key(year: i32, week: u32) -> String {
    format!("calibration:{year}-W{week:02}")
}

/// Claims a once-only channel post by its key; false when it was made, or
/// is being made by a live process, already.
pub async fn claim(pool: &PgPool, key: &str, channel: &str) -> Result<bool, Error> {
    let claimed = sqlx::query(
        "INSERT INTO slack_channel_posts (post_key, channel, claimed_until)
         VALUES ($1, $2, now() + $3 * interval '1 second')
         ON CONFLICT (post_key) DO UPDATE SET claimed_until = EXCLUDED.claimed_until
             WHERE slack_channel_posts.ts IS NULL AND slack_channel_posts.claimed_until < now()",
    )
    .bind(key)
    .bind(channel)
    .bind(POST_CLAIM_SECS)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Records the ts of a claimed post once Slack has it.
pub async fn record(pool: &PgPool, key: &str, ts: &str) -> Result<(), Error> {
    sqlx::query("UPDATE slack_channel_posts SET ts = $2 WHERE post_key = $1")
        .bind(key)
        .bind(ts)
        .execute(pool)
        .await?;
    Ok(())
}

/// Drops a channel-post claim whose post failed, so it is tried again.
pub async fn release(pool: &PgPool, key: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM slack_channel_posts WHERE post_key = $1 AND ts IS NULL")
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}
