//! Who Slack says people are: a user's display name, workspace and Grid
//! organisation (`users.info`), a user group's members
//! (`usergroups.users.list`). Every click needs them and Slack
//! rate-limits the lookups, so each is a [`Cache`] for
//! `SlackSettings::directory_ttl` (five minutes): one lookup per user or
//! group at a time, in a task of its own, and when a refresh fails (rate
//! limited past the lookup timeout, or Slack erring) the last known entry
//! is used, however old: a reviewer's group does not stop being theirs
//! because Slack is busy.

use std::time::Duration;

use serde::Deserialize;

use crate::cache::Cache;
use crate::config::SlackSettings;
use crate::slack::output::client::{SlackApiError, WebApi, CALL_TIMEOUT, LOOKUP_TIMEOUT};
use crate::slack::output::pacing::Tier;

/// Slack's answer for a user group that does not exist.
pub const NO_SUCH_GROUP: &str = "no_such_subteam";
/// How long a click waits for its reviewer's display name. The name only
/// labels the audit log (the click carries the user's handle as a
/// fallback), so a lookup held up by users.info's rate tier finishes in
/// the background and serves the next click instead of holding this one.
const NAME_WAIT: Duration = Duration::from_secs(1);
/// Users remembered: everyone who clicks, commands or opens the Home tab,
/// a workspace's worth; past it the older half is forgotten.
const USERS_KEPT: usize = 20_000;
/// Groups remembered: those SLACK_REVIEWERS names, a handful.
const GROUPS_KEPT: usize = 1_000;

/// What `users.info` says of a user that tagbot uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownUser {
    /// The display name, else the real name.
    pub name: Option<String>,
    /// The workspace the user belongs to (for a guest from another
    /// organisation in a Slack Connect channel: theirs, not ours).
    pub team_id: Option<String>,
    /// Their Enterprise Grid organisation, when they are in one.
    pub enterprise_id: Option<String>,
}

/// The users and groups as last read. Clones share them.
#[derive(Clone)]
pub(super) struct Directory {
    web: WebApi,
    users: Cache<String, KnownUser, SlackApiError>,
    groups: Cache<String, Vec<String>, SlackApiError>,
}

impl Directory {
    pub(super) fn new(web: WebApi, settings: &SlackSettings) -> Directory {
        Directory {
            web,
            users: Cache::new(settings.directory_ttl, USERS_KEPT),
            groups: Cache::new(settings.directory_ttl, GROUPS_KEPT),
        }
    }

    /// A user's display name (else real name); the last known one when
    /// Slack cannot be asked (or while another lookup of theirs is under
    /// way); None when Slack does not know the user or never could be
    /// asked.
    pub(super) async fn display_name(&self, user: &str) -> Option<String> {
        // The lookup may wait its turn in users.info's rate tier (up to a
        // write's timeout) instead of timing out and losing it.
        let look_up = || look_up_user(self.web.clone(), user.to_owned(), CALL_TIMEOUT);
        self.users
            .peek_or_look_up(user.to_owned(), NAME_WAIT, look_up)
            .await
            .and_then(|known| known.name)
    }

    /// The workspace and Grid organisation `user` belongs to, with their
    /// name; the last known answer when Slack cannot be asked now; an
    /// error only when it never could be. Waits at most [`LOOKUP_TIMEOUT`]:
    /// a caller arriving while a name lookup of theirs is under way joins
    /// it, and that one may wait its turn in users.info's tier for up to a
    /// write's timeout, so past the bound the caller stops waiting (the
    /// lookup goes on and serves the next one) and takes the last known
    /// answer, if any.
    pub(super) async fn user_home(&self, user: &str) -> Result<KnownUser, SlackApiError> {
        let look_up = || look_up_user(self.web.clone(), user.to_owned(), LOOKUP_TIMEOUT);
        let key = user.to_owned();
        match tokio::time::timeout(LOOKUP_TIMEOUT, self.users.get_or_look_up(key, look_up)).await {
            Ok(answer) => answer,
            Err(_) => {
                self.users
                    .last_known(&user.to_owned())
                    .ok_or_else(|| SlackApiError::Transport {
                        method: "users.info",
                        message: format!(
                        "no answer within {} s (a lookup of this user is still waiting for Slack)",
                        LOOKUP_TIMEOUT.as_secs()
                    ),
                    })
            }
        }
    }

    /// The members of a user group; the last known members when a refresh
    /// fails. An error only when no membership was ever read, or when
    /// Slack says the group does not exist (`no_such_subteam`).
    pub(super) async fn group_members(&self, group: &str) -> Result<Vec<String>, SlackApiError> {
        let (web, groups, id) = (self.web.clone(), self.groups.clone(), group.to_owned());
        let look_up = || async move {
            match fetch_group(&web, &id).await {
                // Slack's definite answer that the group is gone is not a
                // failure to refresh: its old members are no longer in it.
                Err(err) if err.code() == Some(NO_SUCH_GROUP) => {
                    groups.forget(&id);
                    Err(err)
                }
                Err(err) => {
                    tracing::warn!(group = %id, error = %err, "could not refresh a user group's members; using the last known ones, if any");
                    Err(err)
                }
                Ok(members) => Ok(members),
            }
        };
        self.groups.get_or_look_up(group.to_owned(), look_up).await
    }
}

/// [`fetch_user`] as a cache's look-up: owning what it needs, its failure
/// logged (the cache serves the last known answer instead, if any).
async fn look_up_user(
    web: WebApi,
    user: String,
    limit: Duration,
) -> Result<KnownUser, SlackApiError> {
    let fetched = fetch_user(&web, &user, limit).await;
    if let Err(err) = &fetched {
        tracing::warn!(user, error = %err, "could not look up a Slack user; using what was last known of them, if anything");
    }
    fetched
}

/// `users.info`: the user's name, workspace and Grid organisation
/// (<https://docs.slack.dev/reference/methods/users.info>).
async fn fetch_user(web: &WebApi, user: &str, limit: Duration) -> Result<KnownUser, SlackApiError> {
    #[derive(Deserialize)]
    struct Info {
        user: UserInfo,
    }
    #[derive(Deserialize)]
    struct UserInfo {
        #[serde(default)]
        real_name: Option<String>,
        #[serde(default)]
        profile: Option<Profile>,
        #[serde(default)]
        team_id: Option<String>,
        #[serde(default)]
        enterprise_user: Option<EnterpriseUser>,
    }
    #[derive(Deserialize)]
    struct Profile {
        #[serde(default)]
        display_name: Option<String>,
        #[serde(default)]
        real_name: Option<String>,
    }
    #[derive(Deserialize)]
    struct EnterpriseUser {
        #[serde(default)]
        enterprise_id: Option<String>,
    }
    let info: Info = web
        .get_within(
            "users.info",
            ("user", user),
            &web.pacing.method("users.info", Tier::Four),
            limit,
        )
        .await?;
    let profile = info.user.profile;
    let name = [
        profile.as_ref().and_then(|p| p.display_name.clone()),
        profile.and_then(|p| p.real_name),
        info.user.real_name,
    ]
    .into_iter()
    .flatten()
    .find(|name| !name.trim().is_empty());
    Ok(KnownUser {
        name,
        team_id: info.user.team_id.filter(|id| !id.is_empty()),
        enterprise_id: info
            .user
            .enterprise_user
            .and_then(|e| e.enterprise_id)
            .filter(|id| !id.is_empty()),
    })
}

/// `usergroups.users.list`: a group's members.
async fn fetch_group(web: &WebApi, group: &str) -> Result<Vec<String>, SlackApiError> {
    #[derive(Deserialize)]
    struct Members {
        users: Vec<String>,
    }
    let members: Members = web
        .get(
            "usergroups.users.list",
            ("usergroup", group),
            &web.pacing.method("usergroups.users.list", Tier::Two),
        )
        .await?;
    Ok(members.users)
}
