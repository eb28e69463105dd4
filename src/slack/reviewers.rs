//! Who may decide. With `SLACK_REVIEWERS` set: the listed users and the
//! members of the listed user groups. Leads (`SLACK_LEADS`, listed the
//! same way) may always decide, and take back anyone's decision. Unset: the members of the workspace
//! tagbot is installed in, or of its Enterprise Grid organisation; never a
//! guest from another organisation (a Slack Connect channel's external
//! members), unless listed by id.
//!
//! A click carries its user's workspace (`user.team_id`); a slash command
//! or an event does not, so `users.info` is asked (cached). Group members
//! come from Slack (cached, and the last known members while Slack cannot
//! be asked). A lookup Slack never answered leaves a user's standing
//! unknown: they are told Slack is busy, never that they may not decide.

use crate::domain::Actor;
use crate::slack::output::api::{Identity, SlackApi, NO_SUCH_GROUP};

/// `users.info`'s answer for a user Slack does not know
/// (<https://docs.slack.dev/reference/methods/users.info>, errors).
const NO_SUCH_USER: &str = "user_not_found";

/// The workspace (and Grid organisation) tagbot is installed in, as
/// `auth.test` says at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// None for an org-wide install, known by its organisation alone.
    pub team_id: Option<String>,
    pub enterprise_id: Option<String>,
}

impl From<Identity> for Workspace {
    fn from(identity: Identity) -> Workspace {
        Workspace {
            team_id: identity.team_id.filter(|id| !id.is_empty()),
            enterprise_id: identity.enterprise_id.filter(|id| !id.is_empty()),
        }
    }
}

impl Workspace {
    /// Whether a user of `team_id` (and `enterprise_id`) is one of ours.
    fn includes(&self, team_id: Option<&str>, enterprise_id: Option<&str>) -> bool {
        let same = |ours: &Option<String>, theirs: Option<&str>| {
            ours.is_some() && ours.as_deref() == theirs
        };
        same(&self.team_id, team_id) || same(&self.enterprise_id, enterprise_id)
    }
}

/// Who asks to decide: a Slack user id, the handle the payload gives
/// (a display name's fallback), and the workspace the payload says they
/// belong to (a click's `user.team_id`; none for commands and events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester<'a> {
    pub id: &'a str,
    pub handle: Option<&'a str>,
    pub team_id: Option<&'a str>,
}

impl<'a> From<&'a crate::slack::payload::User> for Requester<'a> {
    /// The user of an interaction payload, with the workspace it names.
    fn from(user: &'a crate::slack::payload::User) -> Requester<'a> {
        Requester {
            id: &user.id,
            handle: user.name.as_deref(),
            team_id: user.team_id.as_deref(),
        }
    }
}

impl<'a> Requester<'a> {
    /// A user known only by id (a slash command, an event).
    pub fn by_id(id: &'a str, handle: Option<&'a str>) -> Requester<'a> {
        Requester {
            id,
            handle,
            team_id: None,
        }
    }
}

/// Why a user's decision is refused before it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    #[error("You are not one of the tag reviewers (SLACK_REVIEWERS), so nothing was changed. Ask an admin to add you.")]
    NotAReviewer,
    /// Someone from outside the workspace (a guest from another
    /// organisation in a shared channel) with `SLACK_REVIEWERS` unset.
    #[error("You cannot review tags here: only members of the workspace tagbot is installed in may decide, so nothing was changed. An admin can add you by id to SLACK_REVIEWERS.")]
    NotAMember,
    #[error("Slack sent a user id tagbot cannot use, so nothing was changed.")]
    UnusableUserId,
    /// A lookup (a reviewer group, a user's workspace) failed and its
    /// answer was never known: the user may well be allowed, so they are
    /// not told otherwise.
    #[error("Slack is busy and could not confirm that you are a tag reviewer, so nothing was changed. Please try again in a minute.")]
    SlackBusy,
    /// A disputed suggestion pressed by someone whose lead group
    /// (`SLACK_LEADS`) Slack could not be asked about: they may be a
    /// lead, so they are not told only a lead may decide.
    #[error("reviewers disagree on it and only a lead (SLACK_LEADS) may decide it, but Slack is busy and could not confirm that you are one, so nothing was changed. Please try again in a minute.")]
    LeadUnconfirmed,
}

/// Whether a user may decide, as far as Slack can tell now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Reviewer,
    NotAReviewer,
    /// From outside the workspace, with `SLACK_REVIEWERS` unset.
    NotAMember,
    /// A lookup that might have allowed the user could not be made.
    Unknown,
}

/// Whether `requester` may decide, given `reviewers` (`SLACK_REVIEWERS`:
/// user ids and user-group ids), `leads` (`SLACK_LEADS`, who may always
/// review) and the `workspace` tagbot is installed in. A lookup never
/// answered fails closed: nobody decides through it, but nobody is told
/// they may not either.
pub async fn standing(
    api: &SlackApi,
    reviewers: &[String],
    leads: &[String],
    workspace: &Workspace,
    requester: &Requester<'_>,
) -> Standing {
    let as_reviewer = if reviewers.is_empty() {
        membership(api, workspace, requester).await
    } else {
        listed(api, reviewers, "SLACK_REVIEWERS", requester)
            .await
            .standing()
    };
    if as_reviewer == Standing::Reviewer || leads.is_empty() {
        return as_reviewer;
    }
    match listed(api, leads, "SLACK_LEADS", requester).await {
        Listed::Yes => Standing::Reviewer,
        Listed::No => as_reviewer,
        Listed::Unknown => Standing::Unknown,
    }
}

/// Whether `requester` is a lead (`SLACK_LEADS`): one who may take back
/// anyone's decision. A group Slack could not be asked about is "Slack
/// is busy", never "no".
pub async fn is_lead(
    api: &SlackApi,
    leads: &[String],
    requester: &Requester<'_>,
) -> Result<bool, NotAllowed> {
    match listed(api, leads, "SLACK_LEADS", requester).await {
        Listed::Yes => Ok(true),
        Listed::No => Ok(false),
        Listed::Unknown => Err(NotAllowed::SlackBusy),
    }
}

/// Whether someone is among a list of users and user groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listed {
    Yes,
    No,
    /// A group that might hold them could not be read.
    Unknown,
}

impl Listed {
    fn standing(self) -> Standing {
        match self {
            Listed::Yes => Standing::Reviewer,
            Listed::No => Standing::NotAReviewer,
            Listed::Unknown => Standing::Unknown,
        }
    }
}

/// Whether `requester` is listed in `people` (the setting `var`) by id or
/// as a member of a listed user group.
async fn listed(
    api: &SlackApi,
    people: &[String],
    var: &'static str,
    requester: &Requester<'_>,
) -> Listed {
    if people.iter().any(|id| id == requester.id) {
        return Listed::Yes;
    }
    let mut listed = Listed::No;
    for group in crate::config::user_groups(people) {
        match api.group_members(group).await {
            Ok(members) if members.iter().any(|m| m == requester.id) => return Listed::Yes,
            Ok(_) => {}
            Err(err) if err.code() == Some(NO_SUCH_GROUP) => {
                tracing::warn!(
                    group,
                    var,
                    "a user group in the setting does not exist in Slack"
                );
            }
            Err(err) => {
                tracing::warn!(group, var, error = %err, "could not read a user group of the setting; its members are asked to try again");
                listed = Listed::Unknown;
            }
        }
    }
    listed
}

/// Whether `requester` may see the team's figures and lectures (the queue,
/// `/tags show`, `pending`, `stats`, `report`, Details, the App Home): a
/// member of the workspace, or someone listed by id in `SLACK_REVIEWERS`
/// or `SLACK_LEADS`.
/// A guest from another organisation sees none of it.
pub async fn may_see(
    api: &SlackApi,
    reviewers: &[String],
    leads: &[String],
    workspace: &Workspace,
    requester: &Requester<'_>,
) -> Result<(), NotAllowed> {
    if reviewers.iter().chain(leads).any(|id| id == requester.id) {
        return Ok(());
    }
    match membership(api, workspace, requester).await.refusal() {
        None => Ok(()),
        Some(refused) => Err(refused),
    }
}

/// Whether `requester` is a member of `workspace`: by the payload's team
/// when it is ours; else by `users.info` (their team, or their Grid
/// organisation when tagbot is installed in one). A payload naming
/// another team settles it without asking Slack, unless tagbot is in a
/// Grid organisation that team may belong to.
async fn membership(api: &SlackApi, workspace: &Workspace, requester: &Requester<'_>) -> Standing {
    if workspace.includes(requester.team_id, None) {
        return Standing::Reviewer;
    }
    if requester.team_id.is_some() && workspace.enterprise_id.is_none() {
        return Standing::NotAMember;
    }
    match api.user_home(requester.id).await {
        Ok(user) if workspace.includes(user.team_id.as_deref(), user.enterprise_id.as_deref()) => {
            Standing::Reviewer
        }
        Ok(_) => Standing::NotAMember,
        // Slack's definite answer: no such user here.
        Err(err) if err.code() == Some(NO_SUCH_USER) => Standing::NotAMember,
        Err(err) => {
            tracing::warn!(user = requester.id, error = %err, "could not look up which workspace a Slack user belongs to; they are asked to try again");
            Standing::Unknown
        }
    }
}

impl Standing {
    /// Why a user who is not a reviewer is refused.
    pub fn refusal(self) -> Option<NotAllowed> {
        match self {
            Standing::Reviewer => None,
            Standing::NotAReviewer => Some(NotAllowed::NotAReviewer),
            Standing::NotAMember => Some(NotAllowed::NotAMember),
            Standing::Unknown => Some(NotAllowed::SlackBusy),
        }
    }
}

/// The user as the actor of a decision, with the display name Slack knows
/// (else `handle`, from the payload), when they may decide.
pub async fn actor(
    api: &SlackApi,
    reviewers: &[String],
    leads: &[String],
    workspace: &Workspace,
    requester: &Requester<'_>,
) -> Result<Actor, NotAllowed> {
    if let Some(refused) = standing(api, reviewers, leads, workspace, requester)
        .await
        .refusal()
    {
        return Err(refused);
    }
    let name = match api.display_name(requester.id).await {
        Some(name) => Some(name),
        None => requester.handle.map(str::to_owned),
    };
    Actor::slack(requester.id, name).map_err(|_| NotAllowed::UnusableUserId)
}
