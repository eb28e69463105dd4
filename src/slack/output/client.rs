//! One Web API call, as every part of [`crate::slack::output`] makes it:
//! through slack-morphism's client, whose rate controller paces each
//! method by its tier and `chat.postMessage` to one message per second per
//! channel (the numbers are [`crate::slack::output::pacing`]'s) and honours
//! a 429's `Retry-After` before retrying; given up after a deadline; its
//! failure classified once into a [`SlackApiError`].

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::cache::LookUpStopped;
use crate::config::SlackSettings;
use crate::slack::output::pacing::{Pacing, TEAM_KEY};

/// Retries after a 429 before the call fails.
const MAX_RETRIES: usize = 5;
/// The longest a write (including waits for Slack's rate limits) may take.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a lookup (a user's workspace, a group's members) may take.
/// Whoever waits for one is answered late rather than wrongly: a click is
/// acknowledged at once and decided in the background, and a slash
/// command not answered within 2 s is answered through its `response_url`
/// (valid for 30 minutes). So "Slack is busy" means Slack refused or did
/// not answer in this long, not that it was slow.
pub(super) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

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

/// A directory lookup whose task stopped before Slack answered.
impl From<LookUpStopped> for SlackApiError {
    fn from(stopped: LookUpStopped) -> SlackApiError {
        SlackApiError::Transport {
            method: "lookup",
            message: stopped.to_string(),
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

/// The bot's client: the token, slack-morphism's paced client, the pacing
/// of each method. Clones share the client (and its rate controller).
#[derive(Clone)]
pub(super) struct WebApi {
    client: Arc<SlackHyperClient>,
    token: SecretString,
    pub(super) pacing: Pacing,
}

impl WebApi {
    pub(super) fn new(settings: &SlackSettings) -> Result<WebApi, SlackApiError> {
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
        Ok(WebApi {
            client: Arc::new(SlackClient::new(connector)),
            token: settings.bot_token.clone(),
            pacing: Pacing::per(settings.tier_window),
        })
    }

    /// The underlying client, for Socket Mode's listener.
    pub(super) fn socket_client(&self) -> Arc<SlackHyperClient> {
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

    pub(super) async fn post<RQ: Serialize + Send + Sync, RS: for<'de> Deserialize<'de> + Send>(
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
    pub(super) async fn get<RS: for<'de> Deserialize<'de> + Send>(
        &self,
        method: &'static str,
        param: (&str, &str),
        rate: &SlackApiMethodRateControlConfig,
    ) -> Result<RS, SlackApiError> {
        self.get_within(method, param, rate, LOOKUP_TIMEOUT).await
    }

    /// A lookup given up after `limit`.
    pub(super) async fn get_within<RS: for<'de> Deserialize<'de> + Send>(
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
