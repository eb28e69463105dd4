//! The Slack app's shared state, passed to every handler: the database,
//! the review operations, the Web API, the settings. Also what every
//! handler needs of it: who may decide, who a clicking user is, and how to
//! tell them something.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Semaphore;
use tracing::Instrument;

use super::api::{SlackApi, SlackApiError, NO_SUCH_GROUP};
use crate::config::{ReviewSettings, SlackSettings};
use crate::domain::Actor;
use crate::review::Review;

/// Why a Slack-side step failed, for the operator's log.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error(transparent)]
    Api(#[from] SlackApiError),
    #[error("database error in the Slack app: {0}")]
    Database(#[from] sqlx::Error),
    /// A review operation refused in a way the click's handling did not
    /// expect (single decisions report their outcome as a `Decision`).
    #[error("review operation refused: {0}")]
    Review(crate::review::ReviewError),
}

/// Clicks acknowledged but not yet decided, at most. Past it, a new click
/// is acknowledged only once an earlier one is done: a burst slows the
/// acknowledgements down a little instead of queueing work without bound
/// (and timing out waiting for a database connection).
pub const MAX_OUTSTANDING_CLICKS: u32 = 128;

/// Why a user's decision is refused before it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    #[error("You are not one of the tag reviewers (SLACK_REVIEWERS), so nothing was changed. Ask an admin to add you.")]
    NotAReviewer,
    #[error("Slack sent a user id tagbot cannot use, so nothing was changed.")]
    UnusableUserId,
    /// A reviewer group could not be read and its members were never
    /// known: the user may well be a reviewer, so they are not told
    /// otherwise.
    #[error("Slack is busy and could not confirm that you are a tag reviewer, so nothing was changed. Please try again in a minute.")]
    SlackBusy,
}

/// Whether a user may decide, as far as Slack can tell now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Reviewer,
    NotAReviewer,
    /// A group that might hold the user could not be read.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct SlackApp {
    pub pool: PgPool,
    pub review: Review,
    pub api: SlackApi,
    pub settings: SlackSettings,
    /// Permits for clicks being decided (HTTP and Socket Mode alike).
    pub outstanding: Arc<Semaphore>,
}

impl SlackApp {
    pub fn new(
        pool: PgPool,
        review_settings: ReviewSettings,
        settings: SlackSettings,
    ) -> Result<SlackApp, SlackApiError> {
        Ok(SlackApp {
            review: Review::new(pool.clone(), review_settings),
            api: SlackApi::new(&settings)?,
            pool,
            settings,
            outstanding: Arc::new(Semaphore::new(MAX_OUTSTANDING_CLICKS as usize)),
        })
    }

    pub fn threshold(&self) -> f64 {
        self.review.settings().approve_threshold.get()
    }

    /// Whether `user` may decide: everyone when `SLACK_REVIEWERS` is unset,
    /// else the listed users and the members of the listed groups (the
    /// last known members while Slack cannot be asked). A group never read
    /// leaves the answer unknown: nobody decides through it (fail closed),
    /// but nobody is told they are not a reviewer either.
    pub async fn standing(&self, user: &str) -> Standing {
        let reviewers = &self.settings.reviewers;
        if reviewers.is_empty() || reviewers.iter().any(|id| id == user) {
            return Standing::Reviewer;
        }
        let mut standing = Standing::NotAReviewer;
        for group in reviewers.iter().filter(|id| id.starts_with('S')) {
            match self.api.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == user) => return Standing::Reviewer,
                Ok(_) => {}
                Err(err) if err.code() == Some(NO_SUCH_GROUP) => {
                    tracing::warn!(
                        group,
                        "a user group in SLACK_REVIEWERS does not exist in Slack"
                    );
                }
                Err(err) => {
                    tracing::warn!(group, error = %err, "could not read a reviewer group; its members are asked to try again");
                    standing = Standing::Unknown;
                }
            }
        }
        standing
    }

    /// The user as the actor of a decision, with the display name Slack
    /// knows (else the handle from the payload), when they may decide.
    pub async fn reviewer(&self, user: &str, handle: Option<&str>) -> Result<Actor, NotAllowed> {
        match self.standing(user).await {
            Standing::Reviewer => {}
            Standing::NotAReviewer => return Err(NotAllowed::NotAReviewer),
            Standing::Unknown => return Err(NotAllowed::SlackBusy),
        }
        let name = match self.api.display_name(user).await {
            Some(name) => Some(name),
            None => handle.map(str::to_owned),
        };
        Actor::slack(user, name).map_err(|_| NotAllowed::UnusableUserId)
    }

    /// Decides `interaction` in the background once a permit is free; the
    /// caller acknowledges Slack after this returns.
    pub async fn accept(&self, interaction: super::payload::Interaction) -> bool {
        let Ok(permit) = Arc::clone(&self.outstanding).acquire_owned().await else {
            return false;
        };
        let app = self.clone();
        tokio::spawn(
            async move {
                super::interactions::handle(&app, interaction).await;
                drop(permit);
            }
            .instrument(tracing::Span::current()),
        );
        true
    }

    /// Waits (up to `within`) until every accepted click is decided; false
    /// when some were still running.
    pub async fn drain_clicks(&self, within: Duration) -> bool {
        let all = self.outstanding.acquire_many(MAX_OUTSTANDING_CLICKS);
        matches!(tokio::time::timeout(within, all).await, Ok(Ok(_)))
    }

    /// Tells `user` something only they see. Sent in the background: Slack
    /// may pace it, and the decision it reports is already made.
    pub fn tell(&self, channel: &str, user: &str, text: &str) {
        self.tell_or_respond(channel, user, None, text);
    }

    /// [`Self::tell`], falling back to the interaction's `response_url`
    /// (ephemeral, the original message left as is) when Slack will not
    /// deliver an ephemeral in `channel` to `user`: someone who clicked a
    /// message from a channel they are not in (`user_not_in_channel`), or
    /// a channel the bot cannot post in. The response URL reaches the
    /// clicking user wherever they clicked.
    pub fn tell_or_respond(
        &self,
        channel: &str,
        user: &str,
        response_url: Option<&str>,
        text: &str,
    ) {
        let (api, channel, user, text) = (
            self.api.clone(),
            channel.to_owned(),
            user.to_owned(),
            text.to_owned(),
        );
        let response_url = response_url.map(str::to_owned);
        tokio::spawn(
            async move {
                let err = match api.post_ephemeral(&channel, &user, &text).await {
                    Ok(()) => return,
                    Err(err) => err,
                };
                let undeliverable = matches!(
                    err.code(),
                    Some("user_not_in_channel" | "channel_not_found" | "not_in_channel")
                );
                match response_url.filter(|_| undeliverable) {
                    Some(url) => {
                        if let Err(second) = api.respond_ephemeral(&url, &text).await {
                            tracing::warn!(user, channel, error = %err, fallback_error = %second, "could not tell a user, neither as an ephemeral nor through the response URL");
                        }
                    }
                    None => {
                        tracing::warn!(user, channel, error = %err, "could not send an ephemeral message");
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
    }
}
