//! Users and user groups: `users.info` and `usergroups.users.list`, and
//! the directory tests seed. Users are members of the channels they joined
//! (a user added joins every channel that exists at the time); a user may
//! belong to another workspace or Enterprise Grid organisation.

use serde_json::{json, Value};

use super::params::str_param;
use super::reply::{Outcome, Reply};
use super::state::{User, Workspace};

impl User {
    /// As `users.info` returns it
    /// (<https://docs.slack.dev/reference/methods/users.info>): `team_id`
    /// is the user's own workspace, and a Grid user carries
    /// `enterprise_user` with their organisation's `enterprise_id`.
    fn as_json(&self) -> Value {
        let mut user = self.as_json_base();
        if let Some(enterprise) = &self.enterprise_id {
            user["enterprise_user"] = json!({
                "id": self.id,
                "enterprise_id": enterprise,
                "enterprise_name": format!("{enterprise} org"),
                "is_admin": false,
                "is_owner": false,
                "teams": [self.team_id],
            });
        }
        user
    }

    fn as_json_base(&self) -> Value {
        json!({
            "id": self.id,
            "team_id": self.team_id,
            "name": self.id.to_lowercase(),
            "real_name": self.real_name,
            "deleted": false,
            "is_bot": false,
            "profile": {
                "display_name": self.display_name,
                "display_name_normalized": self.display_name,
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
            },
        })
    }
}

impl Workspace {
    /// Adds (or replaces) `user`, who joins every channel that exists now.
    pub(super) fn add_user(&mut self, user: User) {
        for channel in &mut self.channels {
            channel.members.insert(user.id.clone());
        }
        self.users.retain(|u| u.id != user.id);
        self.users.push(user);
    }

    pub(super) fn user_info(&self, params: &Value) -> Outcome {
        let id = str_param(params, "user").unwrap_or_default();
        let user = self
            .users
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| Reply::error("user_not_found"))?;
        Ok(json!({ "user": user.as_json() }))
    }

    pub(super) fn usergroup_users(&self, params: &Value) -> Outcome {
        let id = str_param(params, "usergroup").unwrap_or_default();
        let users = self
            .usergroups
            .get(id)
            .ok_or_else(|| Reply::error("no_such_subteam"))?;
        Ok(json!({ "users": users }))
    }
}
