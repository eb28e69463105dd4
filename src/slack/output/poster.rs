//! The poster: lectures with pending suggestions get one review message
//! each in `SLACK_REVIEW_CHANNEL`, at most `TAGBOT_REVIEW_OPEN_LIMIT` open
//! at a time (the rest wait in the queue, in `TAGBOT_REVIEW_ORDER`; when an
//! open lecture has nothing pending left, the next is let in), and every
//! open message that is behind its lecture (new suggestions, decisions,
//! sync progress) is updated in place. A lecture that closed and later got
//! new suggestions waits in the queue, and its old message is updated when
//! its turn comes.
//!
//! "Once" holds across restarts and processes: a lecture is claimed in
//! `slack_review_messages` before it is posted, and the message's `ts` is
//! stored when Slack accepts it. The one gap Slack leaves open: a process
//! killed after Slack accepted a post but before the `ts` was stored; the
//! claim then expires and the lecture is posted again.

use std::time::{Duration, Instant};

use crate::domain::SuggestionStatus;
use crate::shutdown::Shutdown;
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::render;
use crate::storage::{self, review_messages};

/// Lectures posted per pass; Slack paces posting to about one a second
/// per channel anyway.
const POSTS_PER_PASS: i64 = 20;
const UPDATES_PER_PASS: i64 = 50;
/// The channel the suggestions trigger notifies.
pub const NOTIFY_CHANNEL: &str = "tagbot_slack";
/// An idle poster looks for work this often without a notification.
const POLL: Duration = Duration::from_secs(30);
/// After a pass with failures, the next one comes this soon.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(5);

/// What one pass did. Failures are logged and left for the next pass; one
/// message Slack refuses never holds up the others.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub posted: usize,
    pub updated: usize,
    pub failed: usize,
    /// Lectures that closed (nothing pending left): room for the next.
    pub closed: usize,
}

impl Pass {
    fn progressed(&self) -> bool {
        self.posted + self.updated > 0
    }
}

/// Posts new lectures and updates stale messages until a pass gets
/// nothing more done.
pub async fn run_once(app: &SlackApp, claimant: &str) -> Result<Pass, SlackError> {
    run_passes(app, claimant, Admit::EveryPass).await
}

/// When a run of passes lets waiting lectures into the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    EveryPass,
    /// The first pass only: the background poster admits at most every
    /// [`ADMIT_EVERY`], since a busy channel wakes it for every decision.
    FirstPass,
    Not,
}

/// How often the background poster lets waiting lectures in, at most.
/// Counting the open lectures on every wake would cost more than all the
/// updates of a busy channel; a lecture waits at most this long for room.
const ADMIT_EVERY: Duration = Duration::from_millis(500);

async fn run_passes(app: &SlackApp, claimant: &str, admit: Admit) -> Result<Pass, SlackError> {
    let mut total = Pass::default();
    let mut first = true;
    loop {
        let mut pass = Pass::default();
        if admit == Admit::EveryPass || (admit == Admit::FirstPass && first) {
            post_new(app, claimant, &mut pass).await?;
        }
        first = false;
        update_behind(app, claimant, &mut pass).await?;
        total.posted += pass.posted;
        total.updated += pass.updated;
        total.failed += pass.failed;
        total.closed += pass.closed;
        if !pass.progressed() {
            return Ok(total);
        }
    }
}

async fn post_new(app: &SlackApp, claimant: &str, pass: &mut Pass) -> Result<(), SlackError> {
    let channel = &app.settings.review_channel;
    let admitted = review_messages::admit(
        &app.pool,
        channel,
        claimant,
        app.settings.open_limit,
        &app.queue_order().await,
        POSTS_PER_PASS,
    )
    .await?;
    // A reopened lecture already has a message; the update pass brings it
    // up to date.
    let to_post = admitted.into_iter().filter(|a| a.ts.is_none());
    for lecture in to_post.map(|a| a.lecture_external_id) {
        // Slack paces posts; a claim taken over meanwhile is left alone.
        let Some(version) =
            review_messages::renew_post_claim(&app.pool, &lecture, claimant).await?
        else {
            continue;
        };
        let Some(card) = app.card(&lecture).await? else {
            review_messages::release_claim(&app.pool, &lecture, claimant).await?;
            continue;
        };
        let message = render::review_message(&card, version);
        match app
            .api
            .post_message(channel, &message.text, &message.blocks)
            .await
        {
            Ok(ts) => {
                if review_messages::record_posted(&app.pool, &lecture, claimant, &ts, version)
                    .await?
                {
                    pass.posted += 1;
                } else {
                    tracing::warn!(lecture, ts, "posted a review message after losing the lecture to another process; this copy will not be updated");
                }
            }
            Err(err) => {
                tracing::error!(lecture, error = %err, "could not post a review message; trying again on the next pass");
                review_messages::release_claim(&app.pool, &lecture, claimant).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(())
}

async fn update_behind(app: &SlackApp, claimant: &str, pass: &mut Pass) -> Result<(), SlackError> {
    for message in review_messages::behind(&app.pool, UPDATES_PER_PASS).await? {
        let lecture = &message.lecture_external_id;
        let Some(version) = review_messages::claim_refresh(&app.pool, lecture, claimant).await?
        else {
            continue;
        };
        // A message that shows nothing pending any more closes its lecture,
        // which makes room in the channel for the next one.
        let mut closes = false;
        let shown = match refresh(app, &message, version).await {
            Ok(still_pending) => {
                pass.updated += 1;
                closes = !still_pending;
                Some(version)
            }
            Err(Refresh::Gone) => {
                tracing::warn!(
                    lecture,
                    "the review message was deleted in Slack; posting it again if tags are pending"
                );
                review_messages::forget_message(&app.pool, lecture).await?;
                continue;
            }
            Err(Refresh::NothingToShow) => {
                closes = true;
                Some(version)
            }
            Err(Refresh::Failed(err)) => {
                tracing::error!(lecture, error = %err, "could not update a review message; trying again on the next pass");
                pass.failed += 1;
                None
            }
        };
        review_messages::finish_refresh(&app.pool, lecture, claimant, shown, closes).await?;
        if closes {
            pass.closed += 1;
        }
    }
    Ok(())
}

enum Refresh {
    /// Slack no longer has the message.
    Gone,
    /// The lecture has no suggestions left to show (it left the catalogue).
    NothingToShow,
    Failed(SlackError),
}

/// Re-renders a posted message in place as revision `version` (the
/// content version claimed, greater than the one the message shows);
/// whether the lecture still has pending tags.
async fn refresh(
    app: &SlackApp,
    message: &review_messages::MessageRef,
    version: i64,
) -> Result<bool, Refresh> {
    let lecture = &message.lecture_external_id;
    let card = app
        .card(lecture)
        .await
        .map_err(|err| Refresh::Failed(err.into()))?
        .ok_or(Refresh::NothingToShow)?;
    let rendered = render::review_message(&card, version);
    match app
        .api
        .update_message(
            &message.channel,
            &message.ts,
            &rendered.text,
            &rendered.blocks,
        )
        .await
    {
        Ok(()) => Ok(card
            .suggestions
            .iter()
            .any(|s| s.status == SuggestionStatus::Pending)),
        Err(err)
            if matches!(
                err.code(),
                Some("message_not_found" | "channel_not_found" | "cant_update_message")
            ) =>
        {
            Err(Refresh::Gone)
        }
        Err(err) => Err(Refresh::Failed(err.into())),
    }
}

/// Pool connections the running poster holds for good: its notification
/// listener. The pool is sized with them on top of `DATABASE_POOL_SIZE`.
pub const HELD_CONNECTIONS: u32 = 1;

/// Runs passes on every notification (and every 30 s) until shutdown;
/// holds [`HELD_CONNECTIONS`] of the pool meanwhile.
pub async fn run_until_shutdown(
    app: &SlackApp,
    claimant: &str,
    shutdown: &Shutdown,
) -> Result<(), SlackError> {
    let mut listener = storage::Listener::listen(&app.pool, NOTIFY_CHANNEL).await?;
    tracing::info!(channel = %app.settings.review_channel, "review poster started");
    let mut admitted_at: Option<Instant> = None;
    while !shutdown.is_requested() {
        let admit = match admitted_at {
            Some(at) if at.elapsed() < ADMIT_EVERY => Admit::Not,
            _ => Admit::FirstPass,
        };
        if admit != Admit::Not {
            admitted_at = Some(Instant::now());
        }
        let pause = match run_passes(app, claimant, admit).await {
            Ok(pass) => {
                if pass.progressed() {
                    tracing::info!(
                        posted = pass.posted,
                        updated = pass.updated,
                        "review messages posted and updated"
                    );
                }
                let pause = if pass.failed > 0 {
                    RETRY_FAILED_AFTER
                } else {
                    POLL
                };
                // Room was made, or letting lectures in was put off: the
                // next admission comes soon, notification or not.
                if pass.closed > 0 || admit == Admit::Not {
                    pause.min(ADMIT_EVERY)
                } else {
                    pause
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "posting review messages failed; trying again shortly");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            () = shutdown.requested() => {}
            _ = tokio::time::sleep(pause) => {}
            notified = listener.notified() => {
                if let Err(err) = notified {
                    tracing::warn!(error = %err, "lost the notification connection; polling until it is back");
                }
            }
        }
    }
    tracing::info!("review poster stopped");
    Ok(())
}
