//! The Slack Web API as tagbot uses it, through slack-morphism's client:
//! its rate controller paces each method by its tier and
//! `chat.postMessage` to one message per second per channel (the numbers
//! are [`crate::slack::output::pacing`]'s), and honours a 429's `Retry-After` before
//! retrying. Messages and views are sent as the
//! Block Kit JSON that [`crate::slack::render`] builds.
//!
//! Display names and user-group members are cached for a few minutes:
//! every click needs them and Slack rate-limits `users.info`. When a
//! refresh fails (rate limited past the lookup timeout, or Slack erring),
//! the last known entry is used, however old: a reviewer's group does not
//! stop being theirs because Slack is busy.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio::sync::Mutex;

use crate::config::SlackSettings;
use crate::slack::output::pacing::{Pacing, Tier, TEAM_KEY};

/// Slack's answer for a user group that does not exist.
pub const NO_SUCH_GROUP: &str = "no_such_subteam";
/// Retries after a 429 before the call fails.
const MAX_RETRIES: usize = 5;
/// The longest a write (including waits for Slack's rate limits) may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a lookup (a user's workspace, a group's members) may take.
/// Whoever waits for one is answered late rather than wrongly: a click is
/// acknowledged at once and decided in the background, and a slash
/// command not answered within 2 s is answered through its `response_url`
/// (valid for 30 minutes). So "Slack is busy" means Slack refused or did
/// not answer in this long, not that it was slow.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a click waits for its reviewer's display name. The name only
/// labels the audit log (the click carries the user's handle as a
/// fallback), so a lookup held up by users.info's rate tier finishes in
/// the background and serves the next click instead of holding this one.
const NAME_WAIT: Duration = Duration::from_secs(1);

/// A Web API call that did not succeed, in words for the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackApiError {
    /// Slack answered `ok: false` with this error code.
    #[error("Slack refused {method}: {code}{hint}", hint = hint(code))]
    Refused { method: &'static str, code: String },
    #[error("Slack rate-limited {method} past {MAX_RETRIES} retries")]
    RateLimited { method: &'static str },
    #[error("could not reach Slack for {method}: {message}")]
    Transport {
        method: &'static str,
        message: String,
    },
    /// A `response_url` that is not Slack's: a signed request carried it,
    /// but tagbot posts answers only to Slack's hooks.
    #[error("refused to answer through a response_url outside https://hooks.slack.com (its host: {host})")]
    UntrustedResponseUrl { host: String },
}

impl SlackApiError {
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackApiError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What an operator should do about an error code.
fn hint(code: &str) -> &'static str {
    match code {
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
            " (check SLACK_BOT_TOKEN: it is wrong or revoked)"
        }
        "not_in_channel" => " (invite the bot to the channel: /invite @tagbot)",
        "channel_not_found" => " (check the channel id, and that the bot can see it)",
        "missing_scope" => " (add the scope in the app's OAuth & Permissions page and reinstall)",
        _ => "",
    }
}

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackHyperClient>,
    token: SecretString,
    pacing: Pacing,
    /// How long a directory entry is reused before it is refreshed.
    directory_ttl: Duration,
    directory: Arc<Mutex<Directory>>,
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

#[derive(Default)]
struct Directory {
    users: HashMap<String, (KnownUser, Instant)>,
    /// Users whose name is being looked up now: one lookup per user at a
    /// time, however many of their clicks arrive meanwhile.
    names_fetching: HashSet<String>,
    groups: HashMap<String, (Vec<String>, Instant)>,
}

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
    view: &'a Value,
}

#[derive(Serialize)]
struct PublishView<'a> {
    user_id: &'a str,
    view: &'a Value,
}

/// The `view` views.open and views.update answer with.
#[derive(Deserialize)]
struct ViewAnswer {
    view: ViewId,
}

#[derive(Deserialize)]
struct ViewId {
    id: String,
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
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|err| SlackApiError::Transport {
                method: "setup",
                message: format!("no TLS root certificates: {err}"),
            })?
            // http:// is for the local stand-ins the tests and demo use.
            .https_or_http()
            .enable_http1()
            .build();
        let rate_control = SlackApiRateControlConfig::new()
            .with_max_retries(MAX_RETRIES)
            .with_tiers_limits(Pacing::per(settings.tier_window).tier_limits());
        let connector = SlackClientHyperConnector::from(https)
            .with_slack_api_url(&settings.api_base())
            .with_rate_control(rate_control);
        let hooks = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|err| SlackApiError::Transport {
                method: "setup",
                message: format!("no HTTP client for response URLs: {err}"),
            })?;
        Ok(SlackApi {
            client: Arc::new(SlackClient::new(connector)),
            token: settings.bot_token.clone(),
            pacing: Pacing::per(settings.tier_window),
            directory_ttl: settings.directory_ttl,
            directory: Arc::new(Mutex::new(Directory::default())),
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
        Arc::clone(&self.client)
    }

    /// The bot token, carrying the team key without which slack-morphism
    /// would not pace a method by its tier (see [`crate::slack::output::pacing`]).
    fn api_token(&self) -> SlackApiToken {
        SlackApiToken::new(SlackApiTokenValue::new(
            self.token.expose_secret().to_owned(),
        ))
        .with_team_id(SlackTeamId::new(TEAM_KEY.to_owned()))
    }

    async fn post<RQ: Serialize + Send + Sync, RS: for<'de> Deserialize<'de> + Send>(
        &self,
        method: &'static str,
        request: &RQ,
        rate: &SlackApiMethodRateControlConfig,
    ) -> Result<RS, SlackApiError> {
        let token = self.api_token();
        let session = self.client.open_session(&token);
        let call = session
            .http_session_api
            .http_post(method, request, Some(rate));
        within(method, CALL_TIMEOUT, call).await
    }

    /// A lookup: `param` = `value` in the query string. Lookups are on a
    /// reviewer's click path: they may not hold it long.
    async fn get<RS: for<'de> Deserialize<'de> + Send>(
        &self,
        method: &'static str,
        param: (&str, &str),
        rate: &SlackApiMethodRateControlConfig,
    ) -> Result<RS, SlackApiError> {
        self.get_within(method, param, rate, LOOKUP_TIMEOUT).await
    }

    /// A lookup given up after `limit`.
    async fn get_within<RS: for<'de> Deserialize<'de> + Send>(
        &self,
        method: &'static str,
        (param, value): (&str, &str),
        rate: &SlackApiMethodRateControlConfig,
        limit: Duration,
    ) -> Result<RS, SlackApiError> {
        let token = self.api_token();
        let session = self.client.open_session(&token);
        let params = [(param, Some(value))];
        let call = session
            .http_session_api
            .http_get(method, &params, Some(rate));
        within(method, limit, call).await
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
            .post(
                "chat.postMessage",
                &request,
                &per_channel(channel, &self.pacing),
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
            .post(
                "chat.update",
                &request,
                &self.pacing.method("chat.update", Tier::Three),
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
            .post(
                "chat.postEphemeral",
                &request,
                &self.pacing.method("chat.postEphemeral", Tier::Four),
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

    /// Opens a modal; returns its view id, for [`Self::update_view`].
    pub async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<String, SlackApiError> {
        let request = OpenView { trigger_id, view };
        let opened: ViewAnswer = self
            .post(
                "views.open",
                &request,
                &self.pacing.method("views.open", Tier::Four),
            )
            .await?;
        Ok(opened.view.id)
    }

    /// Replaces an open modal's view (no trigger needed).
    pub async fn update_view(&self, view_id: &str, view: &Value) -> Result<(), SlackApiError> {
        let request = UpdateView { view_id, view };
        let _: ViewAnswer = self
            .post(
                "views.update",
                &request,
                &self.pacing.method("views.update", Tier::Four),
            )
            .await?;
        Ok(())
    }

    /// Publishes `user`'s App Home tab (views.publish, Tier 4), replacing
    /// what it showed.
    pub async fn publish_home(&self, user_id: &str, view: &Value) -> Result<(), SlackApiError> {
        let request = PublishView { user_id, view };
        let _: ViewAnswer = self
            .post(
                "views.publish",
                &request,
                &self.pacing.method("views.publish", Tier::Four),
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
            .post(GET_URL, &asked, &self.pacing.method(GET_URL, Tier::Four))
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
            .post(
                COMPLETE,
                &complete,
                &self.pacing.method(COMPLETE, Tier::Four),
            )
            .await?;
        Ok(url.file_id)
    }

    pub async fn auth_test(&self) -> Result<Identity, SlackApiError> {
        self.post(
            "auth.test",
            &serde_json::json!({}),
            &self.pacing.method("auth.test", Tier::Four),
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
            .get(
                "conversations.info",
                ("channel", channel),
                &self.pacing.method("conversations.info", Tier::Three),
            )
            .await?;
        Ok(info.channel.is_member)
    }

    /// A user's display name (else real name), cached; the last known one
    /// when Slack cannot be asked; None when Slack does not know the user
    /// or never could be asked.
    pub async fn display_name(&self, user: &str) -> Option<String> {
        let (known, already_fetching) = {
            let mut directory = self.directory.lock().await;
            let known = directory.users.get(user).cloned();
            if let Some((known, at)) = &known {
                if at.elapsed() < self.directory_ttl {
                    return known.name.clone();
                }
            }
            (known, !directory.names_fetching.insert(user.to_owned()))
        };
        let last_known = known.and_then(|(known, _)| known.name);
        if already_fetching {
            return last_known;
        }
        let api = self.clone();
        let user_id = user.to_owned();
        let fetch = tokio::spawn(async move {
            // In the background: it may wait its turn in users.info's rate
            // tier instead of timing out and losing it.
            let fetched = api.fetch_user(&user_id, CALL_TIMEOUT).await;
            let mut directory = api.directory.lock().await;
            directory.names_fetching.remove(&user_id);
            match fetched {
                Ok(known) => {
                    let name = known.name.clone();
                    directory.users.insert(user_id, (known, Instant::now()));
                    Some(name)
                }
                // A failure is not cached: the next click asks again.
                Err(err) => {
                    tracing::warn!(user = %user_id, error = %err, "could not look up a Slack user's name; using the last known one");
                    None
                }
            }
        });
        match tokio::time::timeout(NAME_WAIT, fetch).await {
            Ok(Ok(Some(name))) => name,
            _ => last_known,
        }
    }

    /// The workspace and Grid organisation `user` belongs to, cached with
    /// their name; the last known answer when Slack cannot be asked now;
    /// an error only when it never could be.
    pub async fn user_home(&self, user: &str) -> Result<KnownUser, SlackApiError> {
        let known = self.directory.lock().await.users.get(user).cloned();
        if let Some((known, at)) = &known {
            if at.elapsed() < self.directory_ttl {
                return Ok(known.clone());
            }
        }
        let (api, user) = (self.clone(), user.to_owned());
        in_own_task(
            "users.info",
            async move { api.refresh_user(&user, known).await },
        )
        .await
    }

    /// Asks Slack about `user` and keeps the answer (see [`Self::user_home`]).
    async fn refresh_user(
        &self,
        user: &str,
        known: Option<(KnownUser, Instant)>,
    ) -> Result<KnownUser, SlackApiError> {
        let fetched = self.fetch_user(user, LOOKUP_TIMEOUT).await;
        match (fetched, known) {
            (Ok(fetched), _) => {
                self.directory
                    .lock()
                    .await
                    .users
                    .insert(user.to_owned(), (fetched.clone(), Instant::now()));
                Ok(fetched)
            }
            (Err(err), Some((known, _))) => {
                tracing::warn!(user, error = %err, "could not look up a Slack user; using what was last known of them");
                Ok(known)
            }
            (Err(err), None) => Err(err),
        }
    }

    /// `users.info`: the user's name, workspace and Grid organisation
    /// (<https://docs.slack.dev/reference/methods/users.info>).
    async fn fetch_user(&self, user: &str, limit: Duration) -> Result<KnownUser, SlackApiError> {
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
        let info: Info = self
            .get_within(
                "users.info",
                ("user", user),
                &self.pacing.method("users.info", Tier::Four),
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

    /// The members of a user group, cached; the last known members when a
    /// refresh fails. An error only when no membership was ever read, or
    /// when Slack says the group does not exist (`no_such_subteam`).
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, SlackApiError> {
        let known = self.directory.lock().await.groups.get(group).cloned();
        if let Some((members, at)) = &known {
            if at.elapsed() < self.directory_ttl {
                return Ok(members.clone());
            }
        }
        let (api, group) = (self.clone(), group.to_owned());
        in_own_task("usergroups.users.list", async move {
            api.refresh_group(&group, known).await
        })
        .await
    }

    /// Asks Slack for `group`'s members and keeps them (see
    /// [`Self::group_members`]).
    async fn refresh_group(
        &self,
        group: &str,
        known: Option<(Vec<String>, Instant)>,
    ) -> Result<Vec<String>, SlackApiError> {
        #[derive(Deserialize)]
        struct Members {
            users: Vec<String>,
        }
        let fetched: Result<Members, _> = self
            .get(
                "usergroups.users.list",
                ("usergroup", group),
                &self.pacing.method("usergroups.users.list", Tier::Two),
            )
            .await;
        let mut directory = self.directory.lock().await;
        match (fetched, known) {
            (Ok(members), _) => {
                directory
                    .groups
                    .insert(group.to_owned(), (members.users.clone(), Instant::now()));
                Ok(members.users)
            }
            // Slack's definite answer that the group is gone is not a
            // failure to refresh: its old members are no longer in it.
            (Err(err), _) if err.code() == Some(NO_SUCH_GROUP) => {
                directory.groups.remove(group);
                Err(err)
            }
            (Err(err), Some((members, _))) => {
                tracing::warn!(group, error = %err, "could not refresh a user group's members; using the last known ones");
                Ok(members)
            }
            (Err(err), None) => Err(err),
        }
    }
}

/// Runs a directory lookup in a task of its own: a caller that stops
/// waiting (a modal's 3-second trigger, a submission's deadline) does not
/// lose the answer, which the task keeps for the next caller.
async fn in_own_task<T: Send + 'static>(
    method: &'static str,
    lookup: impl std::future::Future<Output = Result<T, SlackApiError>> + Send + 'static,
) -> Result<T, SlackApiError> {
    tokio::spawn(lookup).await.unwrap_or_else(|stopped| {
        Err(SlackApiError::Transport {
            method,
            message: format!("the lookup stopped: {stopped}"),
        })
    })
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

/// A call's answer, or a transport error when it takes longer than `limit`.
async fn within<RS>(
    method: &'static str,
    limit: Duration,
    call: impl std::future::Future<Output = Result<RS, SlackClientError>>,
) -> Result<RS, SlackApiError> {
    match tokio::time::timeout(limit, call).await {
        Ok(answer) => answer.map_err(|err| classify(method, err)),
        Err(_) => Err(SlackApiError::Transport {
            method,
            message: format!("no answer within {} s", limit.as_secs()),
        }),
    }
}

fn classify(method: &'static str, err: SlackClientError) -> SlackApiError {
    match err {
        SlackClientError::ApiError(api) => SlackApiError::Refused {
            method,
            code: api.code,
        },
        SlackClientError::RateLimitError(_) => SlackApiError::RateLimited { method },
        other => SlackApiError::Transport {
            method,
            message: other.to_string(),
        },
    }
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
