//! Posts to `SLACK_REPORT_CHANNEL`: each permanent sync failure (with a
//! Retry button), the end-of-run report of each sync run that did
//! something, a daily digest at `TAGBOT_DIGEST_TIME` (UTC; with the
//! lectures overdue under `TAGBOT_REVIEW_SLA`, mentioning the reviewers'
//! user groups while any are), and for a sync run of more than 50 tags one
//! message updated as the run goes.
//!
//! Each post has a key (`failure:<event id>`, `run:<run id>`,
//! `digest:<date>`) claimed in `slack_channel_posts` before posting, so
//! restarts and several `serve` processes post each one once. Only the
//! last week is looked at, so installing tagbot on an old database does
//! not flood the channel.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::user_groups;
use crate::shutdown::Shutdown;
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::render;
use crate::storage::{
    channel_posts, drift, events, repairs, review_queue, runs, suggestions, sync_queue,
};
use crate::sync::{RunProgress, RunReport};

/// Posts of one kind made per pass; the rest wait for the next pass.
const POSTS_PER_PASS: i64 = 20;
const PASS_EVERY: Duration = Duration::from_secs(15);

/// What one pass posted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    pub failures: usize,
    pub reports: usize,
    pub digests: usize,
    /// The week's calibration chart.
    pub charts: usize,
}

pub async fn run_once(app: &SlackApp, now: DateTime<Utc>) -> Result<Posted, SlackError> {
    Ok(Posted {
        failures: post_failures(app).await?,
        reports: post_run_reports(app).await?,
        digests: post_digest(app, now).await?,
        charts: post_calibration_chart(app, now).await?,
    })
}

pub async fn run_until_shutdown(app: &SlackApp, shutdown: &Shutdown) {
    while !shutdown.is_requested() {
        if let Err(err) = run_once(app, Utc::now()).await {
            tracing::error!(error = %err, "posting to the report channel failed; trying again shortly");
        }
        tokio::select! {
            () = shutdown.requested() => {}
            _ = tokio::time::sleep(PASS_EVERY) => {}
        }
    }
}

/// Claims `key`, posts, and records the post; a failed post gives the
/// claim back so the next pass tries again.
async fn post_once(
    app: &SlackApp,
    key: &str,
    text: &str,
    blocks: &[Value],
) -> Result<bool, SlackError> {
    let channel = &app.settings.report_channel;
    if !channel_posts::claim(&app.pool, key, channel).await? {
        return Ok(false);
    }
    match app.api.post_message(channel, text, blocks).await {
        Ok(ts) => {
            channel_posts::record(&app.pool, key, &ts).await?;
            Ok(true)
        }
        Err(err) => {
            channel_posts::release(&app.pool, key).await?;
            Err(err.into())
        }
    }
}

/// Whether a post was made; a failed one is logged and left for the next
/// pass, without holding up the posts after it.
fn posted_ok(result: Result<bool, SlackError>) -> bool {
    result.unwrap_or_else(|err| {
        tracing::error!(error = %err, "could not post to the report channel; trying again on the next pass");
        false
    })
}

async fn post_failures(app: &SlackApp) -> Result<usize, SlackError> {
    let failures = events::failures_not_posted(&app.pool, POSTS_PER_PASS).await?;
    let mut posted = 0;
    for failure in &failures {
        let (text, blocks) = render::failure_notice(&render::FailureNotice {
            lecture: &failure.lecture_external_id,
            title: failure.title.as_deref(),
            tag_name: &failure.tag_name,
            reason: failure.error.as_deref(),
        });
        let key = channel_posts::failure_key(failure.event_id);
        if posted_ok(post_once(app, &key, &text, &blocks).await) {
            posted += 1;
        }
    }
    Ok(posted)
}

async fn post_run_reports(app: &SlackApp) -> Result<usize, SlackError> {
    let runs: Vec<(i64, RunReport)> = runs::not_posted(&app.pool, POSTS_PER_PASS).await?;
    let mut posted = 0;
    for (id, report) in &runs {
        let (headline, blocks) = render::run_report_post(report);
        if posted_ok(post_once(app, &channel_posts::run_key(*id), &headline, &blocks).await) {
            posted += 1;
        }
    }
    Ok(posted)
}

async fn post_digest(app: &SlackApp, now: DateTime<Utc>) -> Result<usize, SlackError> {
    if now.time() < app.settings.digest_at {
        return Ok(0);
    }
    let key = channel_posts::digest_key(now.date_naive());
    let overview = suggestions::overview(&app.pool).await?;
    let day_ago = now - chrono::TimeDelta::days(1);
    let (text, blocks) = render::digest_notice(&render::Digest {
        pending: overview.pending,
        pending_lectures: overview.pending_lectures,
        oldest: overview.oldest_pending,
        unsynced: overview.approved,
        failed: overview.failed,
        repaired: repairs::count_since(&app.pool, day_ago).await?,
        removed_in_airtable: drift::count_since(&app.pool, day_ago).await?,
        stranded: crate::review::Stranded {
            count: sync_queue::stranded_count(&app.pool).await?,
            dry_run: app.review.settings().dry_run,
        },
        overdue: overdue(app, now).await?,
    });
    Ok(usize::from(posted_ok(
        post_once(app, &key, &text, &blocks).await,
    )))
}

/// The digest's overdue part at `now`: how many lectures waited longer
/// than `TAGBOT_REVIEW_SLA`, the longest waiting, and, while any did, the
/// reviewers' user groups to mention. The digest is posted once a day
/// (its key), so they are mentioned at most once a day, however many
/// processes run. None with the SLA off.
async fn overdue(
    app: &SlackApp,
    now: DateTime<Utc>,
) -> Result<Option<render::Overdue>, SlackError> {
    let Some(sla) = app.settings.review_sla else {
        return Ok(None);
    };
    let backlog = review_queue::backlog(&app.pool, now, Some(sla)).await?;
    let (longest, mention) = if backlog.overdue_lectures > 0 {
        let named = i64::try_from(render::DIGEST_OVERDUE_NAMED).unwrap_or(5);
        let longest = review_queue::longest_overdue(&app.pool, now, Some(sla), named).await?;
        let groups = user_groups(&app.settings.reviewers).map(str::to_owned);
        (longest, groups.collect())
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Some(render::Overdue {
        sla,
        lectures: backlog.overdue_lectures,
        longest,
        mention,
    }))
}

/// Once a week, from the digest's time on its first day: the calibration
/// chart, uploaded to the report channel with a line per model. Nothing
/// when no suggestion has been decided yet.
async fn post_calibration_chart(app: &SlackApp, now: DateTime<Utc>) -> Result<usize, SlackError> {
    use chrono::Datelike;
    if now.time() < app.settings.digest_at {
        return Ok(0);
    }
    let week = now.iso_week();
    let key = channel_posts::calibration_key(week.year(), week.week());
    let Some(calibration) = app.calibration().await else {
        return Ok(0);
    };
    if calibration.models.is_empty() {
        return Ok(0);
    }
    let channel = &app.settings.report_channel;
    if !channel_posts::claim(&app.pool, &key, channel).await? {
        return Ok(0);
    }
    let png = match crate::chart::calibration_png(&calibration) {
        Ok(png) => png,
        Err(err) => {
            channel_posts::release(&app.pool, &key).await?;
            tracing::error!(error = %err, "could not draw the calibration chart");
            return Ok(0);
        }
    };
    let comment = render::calibration_comment(&calibration, app.threshold());
    let upload = crate::slack::output::api::FileUpload {
        channel,
        filename: &format!("calibration-{}-W{:02}.png", week.year(), week.week()),
        title: "Calibration: share approved by model score",
        alt_txt: "Line chart of the share of suggestions reviewers approved against the model's score, one line per model, with each model's recommended threshold marked",
        comment: &comment,
        bytes: &png,
    };
    match app.api.upload_file(&upload).await {
        Ok(file_id) => {
            channel_posts::record(&app.pool, &key, &file_id).await?;
            Ok(1)
        }
        Err(err @ crate::slack::output::api::SlackApiError::Refused { .. }) => {
            // Slack said no (a missing files:write, the bot not in the
            // channel): asking again every pass would only say it again.
            // The week is done; next week's chart tries again.
            channel_posts::record(&app.pool, &key, "refused").await?;
            tracing::error!(error = %err, "Slack refused the calibration chart; it is skipped this week (reinstall the app for files:write, or invite it to the report channel)");
            Ok(0)
        }
        Err(err) => {
            channel_posts::release(&app.pool, &key).await?;
            tracing::error!(error = %err, "could not upload the calibration chart; trying again on the next pass");
            Ok(0)
        }
    }
}

/// Runs with more than this many items get a progress message.
const PROGRESS_OVER: u64 = 50;
/// How often the progress message is updated (within Slack's `chat.update`
/// tier of about 50 a minute).
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// Posts one message per large sync run to the report channel and updates
/// it as the run goes, until shutdown.
pub async fn follow_sync_progress(
    app: &SlackApp,
    mut progress: tokio::sync::watch::Receiver<RunProgress>,
    shutdown: &Shutdown,
) {
    let mut message: Option<(String, String)> = None;
    let mut shown_at = std::time::Instant::now();
    loop {
        tokio::select! {
            () = shutdown.requested() => return,
            changed = progress.changed() => if changed.is_err() { return },
        }
        let now = progress.borrow_and_update().clone();
        if now.total <= PROGRESS_OVER {
            continue;
        }
        let text = render::progress_text(&now);
        let result = match &message {
            Some((run_id, ts)) if *run_id == now.run_id => {
                if !now.finished && shown_at.elapsed() < PROGRESS_EVERY {
                    continue;
                }
                app.api
                    .update_message(&app.settings.report_channel, ts, &text, &[])
                    .await
            }
            _ => match app
                .api
                .post_message(&app.settings.report_channel, &text, &[])
                .await
            {
                Ok(ts) => {
                    message = Some((now.run_id.clone(), ts));
                    Ok(())
                }
                Err(err) => Err(err),
            },
        };
        shown_at = std::time::Instant::now();
        if let Err(err) = result {
            tracing::warn!(error = %err, "could not post the sync progress message");
        }
    }
}
