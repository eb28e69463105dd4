//! The Slack app's shared state, passed to every handler: the database,
//! the review operations, the Web API, the settings. Also what every
//! handler needs of it: who may decide, who a clicking user is, and how to
//! tell them something.

use sqlx::PgPool;

use super::api::{SlackApi, SlackApiError};
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
}

#[derive(Debug, Clone)]
pub struct SlackApp {
    pub pool: PgPool,
    pub review: Review,
    pub api: SlackApi,
    pub settings: SlackSettings,
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
        })
    }

    pub fn threshold(&self) -> f64 {
        self.review.settings().approve_threshold.get()
    }

    /// Whether `user` may decide: everyone when `SLACK_REVIEWERS` is unset,
    /// else the listed users and the members of the listed groups. When a
    /// group cannot be read, its members are refused (fail closed).
    pub async fn may_decide(&self, user: &str) -> bool {
        let reviewers = &self.settings.reviewers;
        if reviewers.is_empty() || reviewers.iter().any(|id| id == user) {
            return true;
        }
        for group in reviewers.iter().filter(|id| id.starts_with('S')) {
            match self.api.group_members(group).await {
                Ok(members) if members.iter().any(|m| m == user) => return true,
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(group, error = %err, "could not read a reviewer group; its members are refused until it can be read");
                }
            }
        }
        false
    }

    /// The clicking user as the actor of a decision, with the display name
    /// Slack knows (else the handle from the payload).
    pub async fn actor(&self, user: &str, handle: Option<&str>) -> Option<Actor> {
        let name = match self.api.display_name(user).await {
            Some(name) => Some(name),
            None => handle.map(str::to_owned),
        };
        Actor::slack(user, name).ok()
    }

    /// Tells `user` something only they see. Sent in the background: Slack
    /// may pace it, and the decision it reports is already made.
    pub async fn tell(&self, channel: &str, user: &str, text: &str) {
        let (api, channel, user, text) = (
            self.api.clone(),
            channel.to_owned(),
            user.to_owned(),
            text.to_owned(),
        );
        tokio::spawn(async move {
            if let Err(err) = api.post_ephemeral(&channel, &user, &text).await {
                tracing::warn!(user, channel, error = %err, "could not send an ephemeral message");
            }
        });
    }
}
