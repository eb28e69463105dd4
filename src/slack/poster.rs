//! The poster: every lecture with pending suggestions gets one review
//! message in `SLACK_REVIEW_CHANNEL`, and every message that is behind its
//! lecture (new suggestions, decisions, sync progress) is updated in place.
//!
//! "Once" holds across restarts and processes: a lecture is claimed in
//! `slack_review_messages` before it is posted, and the message's `ts` is
//! stored when Slack accepts it. The one gap Slack leaves open: a process
//! killed after Slack accepted a post but before the `ts` was stored; the
//! claim then expires and the lecture is posted again.

use std::time::Duration;

use sqlx::postgres::PgListener;

use super::app::{SlackApp, SlackError};
use super::{render, store};
use crate::shutdown::Shutdown;

/// Lectures posted per pass; Slack paces posting to about one a second
/// per channel anyway.
const POSTS_PER_PASS: i64 = 20;
const UPDATES_PER_PASS: i64 = 50;
/// The channel the suggestions trigger notifies.
pub const NOTIFY_CHANNEL: &str = "tagbot_slack";
/// An idle poster looks for work this often without a notification.
const POLL: Duration = Duration::from_secs(30);

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub posted: usize,
    pub updated: usize,
}

/// Posts new lectures and updates stale messages until nothing is left.
pub async fn run_once(app: &SlackApp, claimant: &str) -> Result<Pass, SlackError> {
    let mut total = Pass::default();
    loop {
        let pass = Pass {
            posted: post_new(app, claimant).await?,
            updated: update_behind(app).await?,
        };
        total.posted += pass.posted;
        total.updated += pass.updated;
        if pass == Pass::default() {
            return Ok(total);
        }
    }
}

async fn post_new(app: &SlackApp, claimant: &str) -> Result<usize, SlackError> {
    let channel = &app.settings.review_channel;
    let lectures = store::claim_unposted(&app.pool, channel, claimant, POSTS_PER_PASS).await?;
    let mut posted = 0;
    for lecture in lectures {
        let version = store::content_version(&app.pool, &lecture).await?;
        let Some(card) = store::load_card(&app.pool, &lecture, app.threshold()).await? else {
            store::release_claim(&app.pool, &lecture, claimant).await?;
            continue;
        };
        let message = render::review_message(&card);
        match app
            .api
            .post_message(channel, &message.text, &message.blocks)
            .await
        {
            Ok(ts) => {
                store::record_posted(&app.pool, &lecture, claimant, &ts, version).await?;
                posted += 1;
            }
            Err(err) => {
                store::release_claim(&app.pool, &lecture, claimant).await?;
                return Err(err.into());
            }
        }
    }
    Ok(posted)
}

async fn update_behind(app: &SlackApp) -> Result<usize, SlackError> {
    let behind = store::behind(&app.pool, UPDATES_PER_PASS).await?;
    for message in &behind {
        refresh(app, message).await?;
    }
    Ok(behind.len())
}

/// Re-renders a posted message in place and records the version it shows
/// (read before rendering, so a change that lands meanwhile leaves the
/// message behind for the next pass).
async fn refresh(app: &SlackApp, message: &store::MessageRef) -> Result<(), SlackError> {
    let lecture = &message.lecture_external_id;
    let version = store::content_version(&app.pool, lecture).await?;
    let Some(card) = store::load_card(&app.pool, lecture, app.threshold()).await? else {
        return Ok(());
    };
    let rendered = render::review_message(&card);
    app.api
        .update_message(
            &message.channel,
            &message.ts,
            &rendered.text,
            &rendered.blocks,
        )
        .await?;
    store::record_rendered(&app.pool, lecture, version).await?;
    Ok(())
}

/// Runs passes on every notification (and every 30 s) until shutdown.
pub async fn run_until_shutdown(
    app: &SlackApp,
    claimant: &str,
    shutdown: &Shutdown,
) -> Result<(), SlackError> {
    let mut listener = PgListener::connect_with(&app.pool).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    tracing::info!(channel = %app.settings.review_channel, "review poster started");
    while !shutdown.is_requested() {
        let pause = match run_once(app, claimant).await {
            Ok(pass) => {
                if pass != Pass::default() {
                    tracing::info!(
                        posted = pass.posted,
                        updated = pass.updated,
                        "review messages posted and updated"
                    );
                }
                POLL
            }
            Err(err) => {
                tracing::error!(error = %err, "posting review messages failed; trying again shortly");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = shutdown.requested() => {}
            _ = tokio::time::sleep(pause) => {}
            notified = listener.recv() => {
                if let Err(err) = notified {
                    tracing::warn!(error = %err, "lost the notification connection; polling until it is back");
                }
            }
        }
    }
    tracing::info!("review poster stopped");
    Ok(())
}
