//! The Slack section: credentials, channels, who may decide, where the
//! HTTP endpoints listen, and when the daily digest goes out.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::NaiveTime;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Env};

/// What tagbot needs to be a Slack app.
#[derive(Debug, Clone)]
pub struct SlackSettings {
    pub bot_token: SecretString,
    pub signing_secret: SecretString,
    /// Set: Socket Mode instead of HTTP endpoints.
    pub app_token: Option<SecretString>,
    pub api_url: Url,
    pub review_channel: String,
    pub report_channel: String,
    /// Users (`U…`/`W…`) and user groups (`S…`) allowed to decide; empty:
    /// the members of the workspace (or Grid organisation) tagbot is
    /// installed in (see `slack::reviewers`).
    pub reviewers: Vec<String>,
    /// Users and user groups (`SLACK_LEADS`) who may take back anyone's
    /// decision within the undo window; leads may always review. Empty:
    /// no leads.
    pub leads: Vec<String>,
    pub listen: SocketAddr,
    /// When the daily digest is posted (UTC).
    pub digest_at: NaiveTime,
    /// At most this many lectures have an open review message at once
    /// (`TAGBOT_REVIEW_OPEN_LIMIT`); the rest wait in the queue.
    pub open_limit: u32,
    /// Which waiting lecture is posted next (`TAGBOT_REVIEW_ORDER`).
    pub review_order: ReviewOrder,
    /// A lecture whose oldest pending suggestion is older than this is
    /// overdue (`TAGBOT_REVIEW_SLA`); None: `off`, nothing is.
    pub review_sla: Option<Duration>,
    /// The window Slack counts its rate tiers over (a minute), which
    /// `slack::pacing` paces each Web API method within. Not an
    /// environment variable; tests shorten it to match a stand-in whose
    /// tiers run faster.
    pub tier_window: Duration,
    /// How long a display name or a user group's members are reused before
    /// Slack is asked again. Not an environment variable; tests shorten it.
    pub directory_ttl: Duration,
    /// How long an HTTP client may take and how many may be connected.
    /// Not environment variables; tests shorten the timeouts.
    pub http_limits: HttpLimits,
}

/// Slack counts a method's calls per minute
/// (<https://docs.slack.dev/apis/web-api/rate-limits>).
const SLACK_TIER_WINDOW: Duration = Duration::from_secs(60);

const BOT_TOKEN_EXPECTS: &str =
    "a bot token starting with xoxb- (OAuth & Permissions page), without quotes or \"Bearer\"";
const APP_TOKEN_EXPECTS: &str =
    "an app-level token starting with xapp- with the connections:write scope (Basic Information page)";
const SIGNING_SECRET_EXPECTS: &str =
    "the app's signing secret (Basic Information page): letters and digits, no spaces";
const CHANNEL_EXPECTS: &str =
    "a channel id like C0123456789 (channel details, bottom of the About tab), not a #name";
const PEOPLE_EXPECTS: &str =
    "comma-separated user ids (U…, W…) and user-group ids (S…), like U012ABC,S03XYZ";
const DIGEST_EXPECTS: &str = "a UTC time of day as HH:MM, like 09:00";
/// Names and group members change rarely; every click needs them and Slack
/// rate-limits the lookups.
const DIRECTORY_TTL: Duration = Duration::from_secs(300);

impl SlackSettings {
    pub fn from_env(env: &Env) -> Result<SlackSettings, ConfigError> {
        let bot_token = token(env, "SLACK_BOT_TOKEN", "xoxb-", BOT_TOKEN_EXPECTS)?;
        let signing_secret = env.required_secret("SLACK_SIGNING_SECRET", SIGNING_SECRET_EXPECTS)?;
        if !is_plain(signing_secret.expose_secret(), 16) {
            return Err(ConfigError::Invalid {
                var: "SLACK_SIGNING_SECRET",
                expects: SIGNING_SECRET_EXPECTS,
                got: None,
            });
        }
        let app_token = match env.get("SLACK_APP_TOKEN") {
            None => None,
            Some(_) => Some(token(env, "SLACK_APP_TOKEN", "xapp-", APP_TOKEN_EXPECTS)?),
        };
        let listen_raw = env.get("TAGBOT_LISTEN").unwrap_or("0.0.0.0:3000");
        let listen = listen_raw.parse().map_err(|_| ConfigError::Invalid {
            var: "TAGBOT_LISTEN",
            expects: "an address and port like 0.0.0.0:3000",
            got: Some(listen_raw.to_owned()),
        })?;
        let digest_raw = env.get("TAGBOT_DIGEST_TIME").unwrap_or("09:00");
        let digest_at =
            NaiveTime::parse_from_str(digest_raw, "%H:%M").map_err(|_| ConfigError::Invalid {
                var: "TAGBOT_DIGEST_TIME",
                expects: DIGEST_EXPECTS,
                got: Some(digest_raw.to_owned()),
            })?;
        let open_limit = open_limit(env)?;
        let review_order = review_order(env)?;
        let review_sla = env.span_or_off(
            "TAGBOT_REVIEW_SLA",
            Some(DEFAULT_REVIEW_SLA),
            &['m', 'h', 'd'],
            REVIEW_SLA_EXPECTS,
        )?;
        Ok(SlackSettings {
            bot_token,
            signing_secret,
            app_token,
            api_url: env.url_or("SLACK_API_URL", "https://slack.com/api")?,
            review_channel: channel(env, "SLACK_REVIEW_CHANNEL")?,
            report_channel: channel(env, "SLACK_REPORT_CHANNEL")?,
            reviewers: people(env, "SLACK_REVIEWERS")?,
            leads: people(env, "SLACK_LEADS")?,
            listen,
            digest_at,
            open_limit,
            review_order,
            review_sla,
            tier_window: SLACK_TIER_WINDOW,
            directory_ttl: DIRECTORY_TTL,
            http_limits: HttpLimits::default(),
        })
    }

    /// The Web API base without a trailing slash, as slack-morphism joins
    /// `{base}/{method}`.
    pub fn api_base(&self) -> String {
        self.api_url.as_str().trim_end_matches('/').to_owned()
    }
}

/// The order lectures wait in for the review channel (and review sessions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewOrder {
    /// The lecture with the oldest pending suggestion first.
    Oldest,
    /// The lecture with the highest-scored pending suggestion first.
    Score,
    /// The lecture whose pending suggestions come closest to their model's
    /// recommended threshold first (calibration's, else
    /// `TAGBOT_APPROVE_THRESHOLD`): its decisions teach the most.
    Uncertain,
}

/// The user groups (`S…`) among a list of people (`SLACK_REVIEWERS`,
/// `SLACK_LEADS`); the rest are users.
pub fn user_groups(people: &[String]) -> impl Iterator<Item = &str> {
    people
        .iter()
        .map(String::as_str)
        .filter(|id| id.starts_with('S'))
}

/// Three days: a lecture waiting longer than a long weekend is overdue.
const DEFAULT_REVIEW_SLA: Duration = Duration::from_secs(72 * 3600);
const REVIEW_SLA_EXPECTS: &str =
    "a number of minutes, hours or days like 90m, 72h or 3d, or off for no review SLA";

const OPEN_LIMIT_EXPECTS: &str = "a whole number of lectures from 1 to 1000";
/// Beyond this a channel is the wall the limit exists to prevent.
const MAX_OPEN_LIMIT: u32 = 1000;

fn open_limit(env: &Env) -> Result<u32, ConfigError> {
    let Some(raw) = env.get("TAGBOT_REVIEW_OPEN_LIMIT") else {
        return Ok(20);
    };
    match raw.trim().parse::<u32>() {
        Ok(limit) if (1..=MAX_OPEN_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(ConfigError::Invalid {
            var: "TAGBOT_REVIEW_OPEN_LIMIT",
            expects: OPEN_LIMIT_EXPECTS,
            got: Some(raw.to_owned()),
        }),
    }
}

fn review_order(env: &Env) -> Result<ReviewOrder, ConfigError> {
    match env.get("TAGBOT_REVIEW_ORDER").map(str::trim) {
        None | Some("oldest") => Ok(ReviewOrder::Oldest),
        Some("score") => Ok(ReviewOrder::Score),
        Some("uncertain") => Ok(ReviewOrder::Uncertain),
        Some(other) => Err(ConfigError::Invalid {
            var: "TAGBOT_REVIEW_ORDER",
            expects: "oldest (the oldest pending suggestion first), score (the highest-scored first) or uncertain (the closest to its model's recommended threshold first)",
            got: Some(other.to_owned()),
        }),
    }
}

fn token(
    env: &Env,
    var: &'static str,
    prefix: &str,
    expects: &'static str,
) -> Result<SecretString, ConfigError> {
    let value = env.required_secret(var, expects)?;
    let raw = value.expose_secret();
    let well_formed = raw.starts_with(prefix)
        && raw.len() > prefix.len() + 8
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if well_formed {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            var,
            expects,
            got: None,
        })
    }
}

fn is_plain(value: &str, min_len: usize) -> bool {
    value.len() >= min_len && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn channel(env: &Env, var: &'static str) -> Result<String, ConfigError> {
    let raw = env.get(var).ok_or(ConfigError::Missing {
        var,
        expects: CHANNEL_EXPECTS,
    })?;
    if is_slack_id(raw, &['C', 'G']) {
        Ok(raw.to_owned())
    } else {
        Err(ConfigError::Invalid {
            var,
            expects: CHANNEL_EXPECTS,
            got: Some(raw.to_owned()),
        })
    }
}

/// A list of users and user groups (`SLACK_REVIEWERS`, `SLACK_LEADS`).
fn people(env: &Env, var: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = env.get(var) else {
        return Ok(Vec::new());
    };
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() || !ids.iter().all(|id| is_slack_id(id, &['U', 'W', 'S'])) {
        return Err(ConfigError::Invalid {
            var,
            expects: PEOPLE_EXPECTS,
            got: Some(raw.to_owned()),
        });
    }
    Ok(ids)
}

/// Slack ids are an upper-case letter and upper-case letters and digits.
fn is_slack_id(id: &str, first: &[char]) -> bool {
    id.len() >= 7
        && id.chars().next().is_some_and(|c| first.contains(&c))
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// How long a client of tagbot's HTTP endpoints may take, and how many
/// may be connected (`slack::listen` keeps to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request head (line and headers) arrives within this, counted from
    /// the moment the connection is ready for one (idle keep-alive too).
    pub head: Duration,
    /// A request body arrives whole within this once its head did.
    pub body: Duration,
    /// Open connections at once; past it new ones are turned away.
    pub max_connections: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub drain: Duration,
}

impl Default for HttpLimits {
    /// Slack sends a request whole within milliseconds; 5 s and 10 s leave
    /// room for a slow network and none for a client stalling on purpose.
    /// 512 connections stay well below the 1,024 files a process may open
    /// by default (systemd's soft `LimitNOFILE`), leaving room for the
    /// database pool and the outgoing clients. The drain of 15 s plus the
    /// click drain of 10 s fit the 30 s of the systemd unit's
    /// `TimeoutStopSec`.
    fn default() -> HttpLimits {
        HttpLimits {
            head: Duration::from_secs(5),
            body: Duration::from_secs(10),
            max_connections: 512,
            drain: Duration::from_secs(15),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "xoxb-1234567890-abcdefABCDEF";
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![
            ("SLACK_BOT_TOKEN", BOT),
            ("SLACK_SIGNING_SECRET", SECRET),
            ("SLACK_REVIEW_CHANNEL", "C0REVIEW01"),
            ("SLACK_REPORT_CHANNEL", "C0REPORT01"),
        ];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_follow_the_design() {
        let settings = SlackSettings::from_env(&env(&[])).unwrap();
        assert_eq!(settings.api_base(), "https://slack.com/api");
        assert_eq!(settings.listen.to_string(), "0.0.0.0:3000");
        assert!(settings.app_token.is_none());
        assert!(settings.reviewers.is_empty());
        assert_eq!(
            settings.digest_at,
            NaiveTime::from_hms_opt(9, 0, 0).unwrap()
        );
        assert_eq!(settings.open_limit, 20);
        assert_eq!(settings.review_order, ReviewOrder::Oldest);
    }

    #[test]
    fn the_review_queue_settings_are_read_and_checked() {
        let settings = SlackSettings::from_env(&env(&[
            ("TAGBOT_REVIEW_OPEN_LIMIT", "5"),
            ("TAGBOT_REVIEW_ORDER", "score"),
        ]))
        .unwrap();
        assert_eq!(
            (settings.open_limit, settings.review_order),
            (5, ReviewOrder::Score)
        );
        for bad in ["0", "-3", "twenty", "5000"] {
            let err = SlackSettings::from_env(&env(&[("TAGBOT_REVIEW_OPEN_LIMIT", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("TAGBOT_REVIEW_OPEN_LIMIT is"), "{err}");
        }
        let err = SlackSettings::from_env(&env(&[("TAGBOT_REVIEW_ORDER", "newest")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("TAGBOT_REVIEW_ORDER is \"newest\"")
                && err.contains("oldest")
                && err.contains("score")
                && err.contains("uncertain"),
            "{err}"
        );
    }

    #[test]
    fn the_uncertain_order_is_read() {
        let settings =
            SlackSettings::from_env(&env(&[("TAGBOT_REVIEW_ORDER", "uncertain")])).unwrap();
        assert_eq!(settings.review_order, ReviewOrder::Uncertain);
        for near_miss in ["Uncertain ", "uncertainty", "closest"] {
            assert!(
                SlackSettings::from_env(&env(&[("TAGBOT_REVIEW_ORDER", near_miss)])).is_err(),
                "{near_miss}"
            );
        }
    }

    #[test]
    fn the_review_sla_is_minutes_hours_or_days_or_off_and_72h_by_default() {
        let sla = |raw: &str| {
            SlackSettings::from_env(&env(&[("TAGBOT_REVIEW_SLA", raw)]))
                .map(|settings| settings.review_sla)
        };
        assert_eq!(
            SlackSettings::from_env(&env(&[])).unwrap().review_sla,
            Some(Duration::from_secs(72 * 3600))
        );
        assert_eq!(sla("90m").unwrap(), Some(Duration::from_secs(90 * 60)));
        assert_eq!(sla("12h").unwrap(), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(sla("3d").unwrap(), Some(Duration::from_secs(3 * 24 * 3600)));
        assert_eq!(sla("off").unwrap(), None);
        assert_eq!(sla("OFF").unwrap(), None);
        for bad in [
            "0h", "72", "1w", "h", "-3h", "+3h", "1.5h", "3 d", "72h30m", "never", "9999999d",
        ] {
            let err = sla(bad).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("TAGBOT_REVIEW_SLA is {bad:?}: expected {REVIEW_SLA_EXPECTS}")
            );
        }
    }

    #[test]
    fn user_groups_are_the_s_ids() {
        let people = vec![
            "U012ABCDE".to_owned(),
            "S03XYZ123".to_owned(),
            "W0ABCDEFG".to_owned(),
        ];
        assert_eq!(user_groups(&people).collect::<Vec<_>>(), ["S03XYZ123"]);
    }

    #[test]
    fn a_token_pasted_wrong_is_named_but_not_shown() {
        for pasted in [
            format!("Bearer {BOT}"),
            format!("\"{BOT}\""),
            "xoxp-123456789012".into(),
        ] {
            let err = SlackSettings::from_env(&env(&[("SLACK_BOT_TOKEN", pasted.as_str())]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("SLACK_BOT_TOKEN is malformed"), "{err}");
            assert!(!err.contains("abcdef"), "{err}");
        }
        let err = SlackSettings::from_env(&env(&[("SLACK_APP_TOKEN", BOT)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("xapp-"), "{err}");
    }

    #[test]
    fn a_channel_name_instead_of_an_id_is_explained() {
        let err = SlackSettings::from_env(&env(&[("SLACK_REVIEW_CHANNEL", "#tag-review")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("SLACK_REVIEW_CHANNEL is \"#tag-review\": expected {CHANNEL_EXPECTS}")
        );
    }

    #[test]
    fn reviewers_are_users_and_groups() {
        let settings =
            SlackSettings::from_env(&env(&[("SLACK_REVIEWERS", "U012ABCDE, S03XYZ123")])).unwrap();
        assert_eq!(settings.reviewers, ["U012ABCDE", "S03XYZ123"]);
        assert!(SlackSettings::from_env(&env(&[("SLACK_REVIEWERS", "@dana")])).is_err());
    }

    #[test]
    fn leads_are_users_and_groups_and_none_by_default() {
        assert!(SlackSettings::from_env(&env(&[])).unwrap().leads.is_empty());
        let settings =
            SlackSettings::from_env(&env(&[("SLACK_LEADS", "U0LEAD0001,S0LEADS001")])).unwrap();
        assert_eq!(settings.leads, ["U0LEAD0001", "S0LEADS001"]);
        let err = SlackSettings::from_env(&env(&[("SLACK_LEADS", "dana")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("SLACK_LEADS is \"dana\": expected {PEOPLE_EXPECTS}")
        );
    }
}
