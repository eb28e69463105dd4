//! The Slack Web API as tagbot uses it: messages, ephemerals, answers
//! through a `response_url`, views (modals and the App Home), file
//! uploads, and who people are. Each call goes through
//! [`crate::slack::output::client`] (paced by its tier, given up after a
//! deadline, its failure classified); who people are is
//! [`crate::slack::output::directory`]'s to look up and keep. Messages and
//! views are sent as the Block Kit JSON that [`crate::slack::render`]
//! builds.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slack_morphism::prelude::*;

use crate::config::SlackSettings;
pub use crate::slack::output::client::SlackApiError;
use crate::slack::output::client::{WebApi, CALL_TIMEOUT};
use crate::slack::output::directory::Directory;
pub use crate::slack::output::directory::{KnownUser, NO_SUCH_GROUP};
use crate::slack::output::pacing::{Pacing, Tier};

#[derive(Clone)]
pub struct SlackApi {
    web: WebApi,
    directory: Directory,
    /// For response URLs: plain JSON POSTs without the token, which
    /// slack-morphism's webhook request cannot shape (no `response_type`).
    /// It follows no redirects: an answer goes where Slack said, or nowhere.
    hooks: reqwest::Client,
    /// Where response URLs may point besides Slack's hooks: the origin of
    /// `SLACK_API_URL` when it is not Slack's own (the stand-ins of the
    /// tests and the demo).
    hooks_origin: Option<url::Origin>,
}

impl std::fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackApi { token: [redacted] }")
    }
}

#[derive(Serialize)]
struct PostMessage<'a> {
    channel: &'a str,
    text: &'a str,
    /// Left out when empty: Slack refuses `blocks: []` on a new message
    /// (`invalid_blocks`) instead of treating it as text only.
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    blocks: &'a [Value],
    unfurl_links: bool,
}

#[derive(Serialize)]
struct UpdateMessage<'a> {
    channel: &'a str,
    ts: &'a str,
    text: &'a str,
    blocks: &'a [Value],
}

#[derive(Serialize)]
struct PostEphemeral<'a> {
    channel: &'a str,
    user: &'a str,
    text: &'a str,
}

/// An answer through a `response_url`
/// (docs.slack.dev/interactivity/implementing-slash-commands,
/// docs.slack.dev/messaging/modifying-messages).
#[derive(Serialize)]
struct ResponseMessage<'a> {
    response_type: &'static str,
    text: &'a str,
    #[serde(skip_serializing_if = "<[Value]>::is_empty")]
    blocks: &'a [Value],
    /// A click's answer is a new message; the review message stays.
    replace_original: bool,
}

#[derive(Serialize)]
struct OpenView<'a> {
    trigger_id: &'a str,
    view: &'a Value,
}

#[derive(Serialize)]
struct UpdateView<'a> {
    view_id: &'a str,
    /// The hash of the version the update replaces: Slack refuses the
    /// update with [`HASH_CONFLICT`] when the view changed since
    /// (methods/views.update, argument `hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<&'a str>,
    view: &'a Value,
}

#[derive(Serialize)]
struct PublishView<'a> {
    user_id: &'a str,
    view: &'a Value,
}

/// What views.update answers when the `hash` it was given is not the
/// view's any more ("the provided hash doesn't match the current stored
/// value", methods/views.update): something else changed the view since.
pub const HASH_CONFLICT: &str = "hash_conflict";

/// The `view` views.open and views.update answer with.
#[derive(Deserialize)]
struct ViewAnswer {
    view: ShownView,
}

/// A modal as Slack shows it after a views.* call: its id, and the hash of
/// this version, which an update passes on so that Slack refuses it
/// ([`HASH_CONFLICT`]) once anything else changed the view
/// (docs.slack.dev/surfaces/modals#handling_race_conditions).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ShownView {
    pub id: String,
    #[serde(default)]
    pub hash: Option<String>,
}

#[derive(Deserialize)]
struct Posted {
    ts: String,
}

#[derive(Deserialize)]
struct Ignored {}

/// A file to share in a channel.
#[derive(Debug, Clone, Copy)]
pub struct FileUpload<'a> {
    pub channel: &'a str,
    pub filename: &'a str,
    pub title: &'a str,
    /// What a screen reader says of it.
    pub alt_txt: &'a str,
    /// The message it comes with.
    pub comment: &'a str,
    pub bytes: &'a [u8],
}

/// `auth.test`: who the token belongs to, and the workspace (and Grid
/// organisation) tagbot is installed in
/// (<https://docs.slack.dev/reference/methods/auth.test>: "When working
/// against a team within an Enterprise organization, you'll also find
/// their enterprise_id here").
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub user_id: String,
    #[serde(default)]
    pub team: Option<String>,
    /// Absent for an org-wide install's token, which carries the
    /// organisation's `enterprise_id` instead.
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
}

impl SlackApi {
    pub fn new(settings: &SlackSettings) -> Result<SlackApi, SlackApiError> {
        let web = WebApi::new(settings)?;
        let hooks = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| SlackApiError::Transport {
                method: "setup",
                message: format!("no HTTP client for response URLs: {err}"),
            })?;
        Ok(SlackApi {
            directory: Directory::new(web.clone(), settings),
            web,
            hooks,
            hooks_origin: (settings.api_url.host_str() != Some("slack.com"))
                .then(|| settings.api_url.origin())
                .filter(url::Origin::is_tuple),
        })
    }

    /// Whether tagbot may post an answer to `response_url`: Slack's hooks
    /// (`https://hooks.slack.com/…`, where Slack mints them:
    /// docs.slack.dev/interactivity/handling-user-interaction), or the
    /// origin of a `SLACK_API_URL` that is not Slack's (the stand-ins).
    fn check_response_url(&self, response_url: &str) -> Result<(), SlackApiError> {
        let parsed = url::Url::parse(response_url).ok();
        let host = parsed
            .as_ref()
            .and_then(|url| url.host_str())
            .unwrap_or("none")
            .to_owned();
        let trusted = parsed.is_some_and(|url| {
            let slack = url.scheme() == "https"
                && url.host_str() == Some(SLACK_HOOKS_HOST)
                && url.port().is_none()
                && url.username().is_empty()
                && url.password().is_none();
            slack || self.hooks_origin.as_ref() == Some(&url.origin())
        });
        if trusted {
            Ok(())
        } else {
            Err(SlackApiError::UntrustedResponseUrl { host })
        }
    }

    /// The underlying client, for Socket Mode's listener.
    pub fn socket_client(&self) -> Arc<SlackHyperClient> {
        self.web.socket_client()
    }

    /// Posts a message and returns its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<String, SlackApiError> {
        let request = PostMessage {
            channel,
            text,
            blocks,
            unfurl_links: false,
        };
        let posted: Posted = self
            .web
            .post(
                "chat.postMessage",
                &request,
                &per_channel(channel, &self.web.pacing),
            )
            .await?;
        Ok(posted.ts)
    }

    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<(), SlackApiError> {
        let request = UpdateMessage {
            channel,
            ts,
            text,
            blocks,
        };
        let _: Ignored = self
            .web
            .post(
                "chat.update",
                &request,
                &self.web.pacing.method("chat.update", Tier::Three),
            )
            .await?;
        Ok(())
    }

    /// A message only `user` sees.
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
    ) -> Result<(), SlackApiError> {
        let request = PostEphemeral {
            channel,
            user,
            text,
        };
        let _: Ignored = self
            .web
            .post(
                "chat.postEphemeral",
                &request,
                &self.web.pacing.method("chat.postEphemeral", Tier::Four),
            )
            .await?;
        Ok(())
    }

    /// Answers only the user who commanded or clicked, through the
    /// request's `response_url` (5 uses within 30 minutes). The URL is a
    /// credential of sorts: it is never logged.
    pub async fn respond_ephemeral(
        &self,
        response_url: &str,
        text: &str,
    ) -> Result<(), SlackApiError> {
        self.respond_ephemeral_blocks(response_url, text, &[]).await
    }

    /// [`Self::respond_ephemeral`] with blocks (`text` is their fallback).
    pub async fn respond_ephemeral_blocks(
        &self,
        response_url: &str,
        text: &str,
        blocks: &[Value],
    ) -> Result<(), SlackApiError> {
        const METHOD: &str = "response_url";
        self.check_response_url(response_url)?;
        let message = ResponseMessage {
            response_type: "ephemeral",
            text,
            blocks,
            replace_original: false,
        };
        let transport = |err: reqwest::Error| SlackApiError::Transport {
            method: METHOD,
            message: err.without_url().to_string(),
        };
        let response = self
            .hooks
            .post(response_url)
            .json(&message)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Slack's hooks answer a refusal with a code in the body, as text
        // or as `{"error": …}`; the status alone when neither is readable.
        let body = response.text().await.unwrap_or_default();
        let code = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .or_else(|| Some(body.trim().to_owned()).filter(|b| !b.is_empty() && b.len() < 100))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        Err(SlackApiError::Refused {
            method: METHOD,
            code,
        })
    }

    /// Opens a modal; returns its id and hash, for [`Self::update_view`].
    pub async fn open_view(
        &self,
        trigger_id: &str,
        view: &Value,
    ) -> Result<ShownView, SlackApiError> {
        let request = OpenView { trigger_id, view };
        let opened: ViewAnswer = self
            .web
            .post(
                "views.open",
                &request,
                &self.web.pacing.method("views.open", Tier::Four),
            )
            .await?;
        Ok(opened.view)
    }

    /// Replaces an open modal's view (no trigger needed); with `hash` (the
    /// version the caller saw), only while the view is still that version,
    /// else it fails with [`HASH_CONFLICT`]. Returns the new version.
    pub async fn update_view(
        &self,
        view_id: &str,
        hash: Option<&str>,
        view: &Value,
    ) -> Result<ShownView, SlackApiError> {
        let request = UpdateView {
            view_id,
            hash,
            view,
        };
        let updated: ViewAnswer = self
            .web
            .post(
                "views.update",
                &request,
                &self.web.pacing.method("views.update", Tier::Four),
            )
            .await?;
        Ok(updated.view)
    }

    /// Publishes `user`'s App Home tab (views.publish, Tier 4), replacing
    /// what it showed.
    pub async fn publish_home(&self, user_id: &str, view: &Value) -> Result<(), SlackApiError> {
        let request = PublishView { user_id, view };
        let _: ViewAnswer = self
            .web
            .post(
                "views.publish",
                &request,
                &self.web.pacing.method("views.publish", Tier::Four),
            )
            .await?;
        Ok(())
    }

    /// Shares a file in `channel` with Slack's upload flow (the one new
    /// apps may use since `files.upload` was retired): ask for an upload
    /// URL, POST the bytes there, complete the upload into the channel.
    /// Needs the `files:write` scope; returns the file's id.
    pub async fn upload_file(&self, upload: &FileUpload<'_>) -> Result<String, SlackApiError> {
        #[derive(Serialize)]
        struct GetUploadUrl<'a> {
            filename: &'a str,
            length: usize,
            alt_txt: &'a str,
        }
        #[derive(Deserialize)]
        struct UploadUrl {
            upload_url: String,
            file_id: String,
        }
        #[derive(Serialize)]
        struct FileRef<'a> {
            id: &'a str,
            title: &'a str,
        }
        #[derive(Serialize)]
        struct Complete<'a> {
            files: [FileRef<'a>; 1],
            channel_id: &'a str,
            initial_comment: &'a str,
        }
        const GET_URL: &str = "files.getUploadURLExternal";
        const COMPLETE: &str = "files.completeUploadExternal";
        let asked = GetUploadUrl {
            filename: upload.filename,
            length: upload.bytes.len(),
            alt_txt: upload.alt_txt,
        };
        let url: UploadUrl = self
            .web
            .post(
                GET_URL,
                &asked,
                &self.web.pacing.method(GET_URL, Tier::Four),
            )
            .await?;
        // The URL is the credential: no token goes with the bytes.
        let sent = self
            .hooks
            .post(&url.upload_url)
            .body(upload.bytes.to_vec())
            .send()
            .await
            .map_err(|err| SlackApiError::Transport {
                method: "file upload",
                message: err.without_url().to_string(),
            })?;
        if !sent.status().is_success() {
            return Err(SlackApiError::Refused {
                method: "file upload",
                code: format!("HTTP {}", sent.status().as_u16()),
            });
        }
        let complete = Complete {
            files: [FileRef {
                id: &url.file_id,
                title: upload.title,
            }],
            channel_id: upload.channel,
            initial_comment: upload.comment,
        };
        let _: Ignored = self
            .web
            .post(
                COMPLETE,
                &complete,
                &self.web.pacing.method(COMPLETE, Tier::Four),
            )
            .await?;
        Ok(url.file_id)
    }

    pub async fn auth_test(&self) -> Result<Identity, SlackApiError> {
        self.web
            .post(
                "auth.test",
                &serde_json::json!({}),
                &self.web.pacing.method("auth.test", Tier::Four),
            )
            .await
    }

    /// Whether the bot is a member of `channel`.
    pub async fn bot_in_channel(&self, channel: &str) -> Result<bool, SlackApiError> {
        #[derive(Deserialize)]
        struct Info {
            channel: ChannelInfo,
        }
        #[derive(Deserialize)]
        struct ChannelInfo {
            #[serde(default)]
            is_member: bool,
        }
        let info: Info = self
            .web
            .get(
                "conversations.info",
                ("channel", channel),
                &self.web.pacing.method("conversations.info", Tier::Three),
            )
            .await?;
        Ok(info.channel.is_member)
    }

    /// A user's display name (else real name), cached; the last known one
    /// when Slack cannot be asked; None when Slack does not know the user
    /// or never could be asked (see [`crate::slack::output::directory`]).
    pub async fn display_name(&self, user: &str) -> Option<String> {
        self.directory.display_name(user).await
    }

    /// The workspace and Grid organisation `user` belongs to, cached with
    /// their name; the last known answer when Slack cannot be asked now;
    /// an error only when it never could be.
    pub async fn user_home(&self, user: &str) -> Result<KnownUser, SlackApiError> {
        self.directory.user_home(user).await
    }

    /// The members of a user group, cached; the last known members when a
    /// refresh fails. An error only when no membership was ever read, or
    /// when Slack says the group does not exist (`no_such_subteam`).
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, SlackApiError> {
        self.directory.group_members(group).await
    }
}

/// The host Slack mints response URLs on.
const SLACK_HOOKS_HOST: &str = "hooks.slack.com";

/// `chat.postMessage` allows about one message per second per channel.
fn per_channel(channel: &str, pacing: &Pacing) -> SlackApiMethodRateControlConfig {
    SlackApiMethodRateControlConfig::new().with_special_rate_limit(
        SlackApiRateControlSpecialLimit::new(
            SlackApiRateControlSpecialLimitKey(format!("chat.postMessage:{channel}")),
            pacing.per_channel_post(),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Env;

    fn api(api_url: &str) -> SlackApi {
        let settings = SlackSettings::from_env(&Env::from_pairs(vec![
            ("SLACK_BOT_TOKEN", "xoxb-1234567890-tagbottesttoken"),
            ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99yyyzzz85a5"),
            ("SLACK_API_URL", api_url),
            ("SLACK_REVIEW_CHANNEL", "C0REVIEW01"),
            ("SLACK_REPORT_CHANNEL", "C0REPORT01"),
        ]))
        .unwrap();
        SlackApi::new(&settings).unwrap()
    }

    #[test]
    fn only_slacks_hooks_and_the_stand_ins_origin_take_answers() {
        let slack = api("https://slack.com/api");
        assert!(slack
            .check_response_url("https://hooks.slack.com/commands/T1/2/abc")
            .is_ok());
        for refused in [
            "http://hooks.slack.com/commands/T1/2/abc",
            "https://hooks.slack.com.evil.example/commands/T1/2/abc",
            "https://evil.example/hooks.slack.com/commands",
            "https://hooks.slack.com:8443/commands/T1/2/abc",
            "https://user@hooks.slack.com/commands/T1/2/abc",
            "https://slack.com/api/chat.postMessage",
            "not a url",
        ] {
            assert!(
                matches!(
                    slack.check_response_url(refused),
                    Err(SlackApiError::UntrustedResponseUrl { .. })
                ),
                "{refused}"
            );
        }
        let local = api("http://127.0.0.1:4000/api");
        assert!(local
            .check_response_url("http://127.0.0.1:4000/response/R1")
            .is_ok());
        assert!(local
            .check_response_url("http://127.0.0.1:4001/response/R1")
            .is_err());
        assert!(local
            .check_response_url("https://hooks.slack.com/commands/T1/2/abc")
            .is_ok());
    }
}
