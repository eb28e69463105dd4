//! One Web API call, start to end: checked in Slack's order (token,
//! scripted faults, the method's rate budget), handed to its method
//! family, and logged with its answer.

use std::time::Instant;

use axum::http::Method;
use serde_json::Value;

use super::reply::{Outcome, Reply};
use super::state::{FaultKind, SlackCall, Workspace};

impl Workspace {
    /// Serves one request and logs it.
    pub(super) fn serve(
        &mut self,
        http_method: &Method,
        method: &str,
        params: Result<Value, &'static str>,
        token: Option<&str>,
    ) -> Reply {
        let body = params.as_ref().cloned().unwrap_or(Value::Null);
        let reply = match params {
            Err(code) => Reply::error(code),
            Ok(params) => match self.admit(method, token) {
                Err(reply) => reply,
                Ok(()) => match self.dispatch(method, &params) {
                    Ok(fields) => Reply::ok(fields),
                    Err(reply) => reply,
                },
            },
        };
        self.log.push(SlackCall {
            method: method.to_owned(),
            http_method: http_method.to_string(),
            body,
            status: reply.status.as_u16(),
            response: reply.body.clone(),
            at: Instant::now(),
        });
        reply
    }

    /// Token, scripted faults and the method's rate budget, in that order.
    fn admit(&mut self, method: &str, token: Option<&str>) -> Result<(), Reply> {
        self.authenticate(method, token)?;
        if let Some(fault) = self
            .faults
            .iter_mut()
            .find(|f| f.method == method && f.remaining > 0)
        {
            fault.remaining -= 1;
            return Err(match &fault.kind {
                FaultKind::Error(code) => Reply::error(code),
                FaultKind::RateLimited(secs) => Reply::rate_limited(*secs),
            });
        }
        self.pacing.within_method_budget(method)
    }

    /// The method, by its family.
    fn dispatch(&mut self, method: &str, params: &Value) -> Outcome {
        match method {
            "auth.test" => Ok(self.auth_test()),
            "chat.postMessage" => self.post_message(params),
            "chat.update" => self.update_message(params),
            "chat.postEphemeral" => self.post_ephemeral(params),
            "views.open" => self.open_view(params, false),
            "views.push" => self.open_view(params, true),
            "views.update" => self.update_view(params),
            "views.publish" => self.publish_view(params),
            "users.info" => self.user_info(params),
            "conversations.info" => self.conversation_info(params),
            "usergroups.users.list" => self.usergroup_users(params),
            "files.getUploadURLExternal" => self.get_upload_url(params),
            "files.completeUploadExternal" => self.complete_upload(params),
            "apps.connections.open" => {
                crate::socket_mode::ConnectionsOpen::open(self.socket_mode.as_ref(), params)
                    .map_err(Reply::error)
            }
            _ => Err(Reply::error("unknown_method")),
        }
    }
}
