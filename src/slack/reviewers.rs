//! Who may decide: everyone when `SLACK_REVIEWERS` is unset, else the listed
//! users and the members of the listed user groups. Group members come from
//! Slack (cached, and the last known members while Slack cannot be asked);
//! a group never read leaves a user's standing unknown, and they are told
//! Slack is busy, never that they may not decide.

use super::api::{SlackApi, NO_SUCH_GROUP};
use crate::domain::Actor;

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

/// Whether `user` may decide, given `reviewers` (`SLACK_REVIEWERS`: user
/// ids and user-group ids). A group never read fails closed: nobody
/// decides through it, but nobody is told they are not a reviewer either.
pub async fn standing(api: &SlackApi, reviewers: &[String], user: &str) -> Standing {
    if reviewers.is_empty() || reviewers.iter().any(|id| id == user) {
        return Standing::Reviewer;
    }
    let mut standing = Standing::NotAReviewer;
    for group in reviewers.iter().filter(|id| id.starts_with('S')) {
        match api.group_members(group).await {
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

/// The user as the actor of a decision, with the display name Slack knows
/// (else `handle`, from the payload), when they may decide.
pub async fn actor(
    api: &SlackApi,
    reviewers: &[String],
    user: &str,
    handle: Option<&str>,
) -> Result<Actor, NotAllowed> {
    match standing(api, reviewers, user).await {
        Standing::Reviewer => {}
        Standing::NotAReviewer => return Err(NotAllowed::NotAReviewer),
        Standing::Unknown => return Err(NotAllowed::SlackBusy),
    }
    let name = match api.display_name(user).await {
        Some(name) => Some(name),
        None => handle.map(str::to_owned),
    };
    Actor::slack(user, name).map_err(|_| NotAllowed::UnusableUserId)
}
