//! Configuration from the environment (and a `.env` file, read by `main`).
//!
//! Each part of tagbot loads only the section it needs, so `tagbot migrate`
//! does not ask for Slack tokens. A missing or malformed setting is reported
//! with the variable's name and what it expects; a secret's value is never
//! repeated in an error or a log line.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;

use crate::domain::Score;

mod airtable;
mod slack;

pub use airtable::{AirtableSettings, SyncSettings, TagsFieldType};
pub use slack::{user_groups, HttpLimits, ReviewOrder, SlackSettings};

/// The approval threshold when `TAGBOT_APPROVE_THRESHOLD` is not set.
pub const DEFAULT_APPROVE_THRESHOLD: Score = Score::constant(0.88);
/// The share of past decisions a recommended threshold must have seen approved.
pub const DEFAULT_TARGET_PRECISION: Score = Score::constant(0.95);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: expected {expects}")]
    Missing {
        var: &'static str,
        expects: &'static str,
    },
    #[error("{var} is {shown}: expected {expects}", shown = shown_value(.got))]
    Invalid {
        var: &'static str,
        expects: &'static str,
        /// The offending value, or None when it is a secret.
        got: Option<String>,
    },
    /// A setting that only works with another one, which is not set.
    #[error("{var} is set, but {needs} is not: {why}")]
    Needs {
        var: &'static str,
        needs: &'static str,
        why: &'static str,
    },
}

fn shown_value(got: &Option<String>) -> String {
    match got {
        Some(value) => format!("{value:?}"),
        None => "malformed (value not shown: it may hold a secret)".to_owned(),
    }
}

/// How log lines are written: `LOG_FORMAT=json` for one JSON object per
/// line, else text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// The format, and the value when it was neither `text` nor `json`
    /// (logged as a warning once logging is up: a bad value must not keep
    /// the process from saying what is wrong).
    pub fn from_env(env: &Env) -> (LogFormat, Option<String>) {
        let value = env.get("LOG_FORMAT").unwrap_or_default();
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => (LogFormat::Json, None),
            "" | "text" => (LogFormat::Text, None),
            _ => (LogFormat::Text, Some(value.to_owned())),
        }
    }
}

/// A snapshot of the variables tagbot reads.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// The first of `vars` that is set.
    pub fn get_any(&self, vars: &[&str]) -> Option<&str> {
        vars.iter().find_map(|var| self.get(var))
    }

    /// A variable's value; set-but-blank counts as unset.
    fn get(&self, var: &str) -> Option<&str> {
        self.vars
            .get(var)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    fn required_secret(
        &self,
        var: &'static str,
        expects: &'static str,
    ) -> Result<SecretString, ConfigError> {
        self.get(var)
            .map(SecretString::from)
            .ok_or(ConfigError::Missing { var, expects })
    }

    fn parsed_or<T: FromStr>(
        &self,
        var: &'static str,
        default: T,
        expects: &'static str,
    ) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| ConfigError::Invalid {
                var,
                expects,
                got: Some(raw.to_owned()),
            }),
        }
    }

    /// A table or field name, with a default.
    fn name_or(&self, var: &str, default: &str) -> String {
        self.get(var).unwrap_or(default).to_owned()
    }

    /// An http(s) base URL, with a default.
    fn url_or(&self, var: &'static str, default: &str) -> Result<reqwest::Url, ConfigError> {
        let raw = self.get(var).unwrap_or(default);
        match reqwest::Url::parse(raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
            _ => Err(ConfigError::Invalid {
                var,
                expects: "an http or https URL like https://api.example.com",
                got: Some(raw.to_owned()),
            }),
        }
    }

    /// A span of time written as a positive whole number and a unit
    /// among `units` (`m` minutes, `h` hours, `d` days: `45m`, `12h`,
    /// `30d`), at most a century; or `off` (None). Anything else is
    /// refused whole, naming `var`.
    fn span_or_off(
        &self,
        var: &'static str,
        default: Option<Duration>,
        units: &[char],
        expects: &'static str,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        if raw.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let invalid = || ConfigError::Invalid {
            var,
            expects,
            got: Some(raw.to_owned()),
        };
        let unit = raw.chars().last().map(|c| c.to_ascii_lowercase());
        let secs_per_unit: u64 = match unit {
            Some('m') if units.contains(&'m') => 60,
            Some('h') if units.contains(&'h') => 3600,
            Some('d') if units.contains(&'d') => 24 * 3600,
            _ => return Err(invalid()),
        };
        // The unit is one ASCII byte; a sign or a space before it is refused.
        let number = &raw[..raw.len() - 1];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match number.parse::<u64>() {
            Ok(n) if n > 0 && n <= CENTURY_SECS / secs_per_unit => {
                Ok(Some(Duration::from_secs(n * secs_per_unit)))
            }
            _ => Err(invalid()),
        }
    }

    fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        match self.get(var).map(str::to_ascii_lowercase).as_deref() {
            None | Some("false" | "0" | "no" | "off") => Ok(false),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some(_) => Err(ConfigError::Invalid {
                var,
                expects: "true or false",
                got: self.get(var).map(str::to_owned),
            }),
        }
    }
}

/// The longest span a setting takes: longer means "never" in practice,
/// and keeps the seconds far from overflowing.
const CENTURY_SECS: u64 = 36_500 * 24 * 3600;

const DATABASE_URL_EXPECTS: &str =
    "a Postgres URL like postgres://user:password@host:5432/database";

/// Where the database is and how to reach it.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The run-time role's connection (`DATABASE_URL`).
    pub url: SecretString,
    /// The owner's connection for migrations (`DATABASE_ADMIN_URL`), when it
    /// differs from the run-time one.
    pub admin_url: Option<SecretString>,
    /// Connections for work (`DATABASE_POOL_SIZE`); what a process holds
    /// for good comes on top (`storage::connect_runtime_holding`).
    pub pool_size: u32,
}

impl DatabaseSettings {
    pub fn from_env(env: &Env) -> Result<DatabaseSettings, ConfigError> {
        let url = env.required_secret("DATABASE_URL", DATABASE_URL_EXPECTS)?;
        parse_database_url("DATABASE_URL", &url)?;
        let admin_url = match env.get("DATABASE_ADMIN_URL") {
            None => None,
            Some(raw) => {
                let admin = SecretString::from(raw);
                parse_database_url("DATABASE_ADMIN_URL", &admin)?;
                Some(admin)
            }
        };
        let pool_size =
            env.parsed_or("DATABASE_POOL_SIZE", 10u32, "a whole number from 1 to 100")?;
        if !(1..=100).contains(&pool_size) {
            return Err(ConfigError::Invalid {
                var: "DATABASE_POOL_SIZE",
                expects: "a whole number from 1 to 100",
                got: Some(pool_size.to_string()),
            });
        }
        Ok(DatabaseSettings {
            url,
            admin_url,
            pool_size,
        })
    }

    pub fn runtime_options(&self) -> Result<PgConnectOptions, ConfigError> {
        parse_database_url("DATABASE_URL", &self.url)
    }

    /// The connection migrations use: the admin URL when set.
    pub fn admin_options(&self) -> Result<PgConnectOptions, ConfigError> {
        match &self.admin_url {
            Some(admin) => parse_database_url("DATABASE_ADMIN_URL", admin),
            None => self.runtime_options(),
        }
    }
}

fn parse_database_url(
    var: &'static str,
    url: &SecretString,
) -> Result<PgConnectOptions, ConfigError> {
    let raw = url.expose_secret();
    let looks_postgres = raw.starts_with("postgres://") || raw.starts_with("postgresql://");
    match PgConnectOptions::from_str(raw) {
        Ok(options) if looks_postgres => Ok(options),
        _ => Err(ConfigError::Invalid {
            var,
            expects: DATABASE_URL_EXPECTS,
            got: None,
        }),
    }
}

/// How long a decision can be taken back when `TAGBOT_UNDO_SECS` is not set.
pub const DEFAULT_UNDO_WINDOW: Duration = Duration::from_secs(30);
/// The longest undo window: approved tags wait this long before syncing, so
/// a longer one would hold Airtable back for more than a mistake needs. The
/// database keeps to the same bound (migration 0018, `tagbot_undo_secs_asked`).
pub const MAX_UNDO_SECS: u64 = 3600;

/// How review decisions behave.
#[derive(Debug, Clone, Copy)]
pub struct ReviewSettings {
    /// "Approve all >= threshold" takes pending suggestions scored at least this.
    pub approve_threshold: Score,
    /// Decide freely, but enqueue nothing for Airtable.
    pub dry_run: bool,
    /// Calibration recommends the lowest threshold whose past decisions
    /// were approved at least this often (`TAGBOT_TARGET_PRECISION`).
    pub target_precision: Score,
    /// How long a decision can be taken back, and how long an approved
    /// tag waits before it is due for Airtable (`TAGBOT_UNDO_SECS`); zero:
    /// no undo, and approved tags are due at once.
    pub undo_window: Duration,
    /// Suggestions scored in this band need two agreeing reviewers
    /// (`TAGBOT_SECOND_OPINION`); `None`: one reviewer decides every one.
    pub second_opinion: Option<ScoreBand>,
}

/// Scores from `low` to `high`, both included (`0.45-0.75`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBand {
    pub low: Score,
    pub high: Score,
}

impl ScoreBand {
    pub fn contains(&self, score: f64) -> bool {
        self.low.get() <= score && score <= self.high.get()
    }
}

impl std::fmt::Display for ScoreBand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.low.get(), self.high.get())
    }
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            approve_threshold: DEFAULT_APPROVE_THRESHOLD,
            dry_run: false,
            target_precision: DEFAULT_TARGET_PRECISION,
            undo_window: DEFAULT_UNDO_WINDOW,
            second_opinion: None,
        }
    }
}

impl ReviewSettings {
    pub fn from_env(env: &Env) -> Result<ReviewSettings, ConfigError> {
        const EXPECTS: &str = "a number from 0 to 1, like 0.88";
        let raw = env.parsed_or(
            "TAGBOT_APPROVE_THRESHOLD",
            DEFAULT_APPROVE_THRESHOLD.get(),
            EXPECTS,
        )?;
        let approve_threshold = Score::new(raw).map_err(|_| ConfigError::Invalid {
            var: "TAGBOT_APPROVE_THRESHOLD",
            expects: EXPECTS,
            got: Some(raw.to_string()),
        })?;
        const PRECISION: &str = "a share from 0 to 1, like 0.95";
        let raw = env.parsed_or(
            "TAGBOT_TARGET_PRECISION",
            DEFAULT_TARGET_PRECISION.get(),
            PRECISION,
        )?;
        let target_precision = Score::new(raw)
            .ok()
            .filter(|p| p.get() > 0.0)
            .ok_or_else(|| ConfigError::Invalid {
                var: "TAGBOT_TARGET_PRECISION",
                expects: PRECISION,
                got: Some(raw.to_string()),
            })?;
        Ok(ReviewSettings {
            approve_threshold,
            dry_run: env.flag("DRY_RUN")?,
            target_precision,
            undo_window: undo_window(env)?,
            second_opinion: second_opinion(env)?,
        })
    }
}

/// `TAGBOT_SECOND_OPINION`: `off` (the default) or a band `LO-HI` of
/// scores from 0 to 1, LO at most HI. A disputed suggestion is decided by
/// a lead, so the band needs `SLACK_LEADS`.
fn second_opinion(env: &Env) -> Result<Option<ScoreBand>, ConfigError> {
    const VAR: &str = "TAGBOT_SECOND_OPINION";
    const EXPECTS: &str = "off, or a score band LO-HI with 0 <= LO <= HI <= 1, like 0.45-0.75";
    let raw = match env.get(VAR) {
        None => return Ok(None),
        Some(raw) if raw.eq_ignore_ascii_case("off") => return Ok(None),
        Some(raw) => raw,
    };
    let invalid = || ConfigError::Invalid {
        var: VAR,
        expects: EXPECTS,
        got: Some(raw.to_owned()),
    };
    let score = |part: &str| {
        part.trim()
            .parse::<f64>()
            .ok()
            .and_then(|value| Score::new(value).ok())
    };
    let (low, high) = raw.split_once('-').ok_or_else(invalid)?;
    let band = match (score(low), score(high)) {
        (Some(low), Some(high)) if low.get() <= high.get() => ScoreBand { low, high },
        _ => return Err(invalid()),
    };
    if env.get("SLACK_LEADS").is_none() {
        return Err(ConfigError::Needs {
            var: VAR,
            needs: "SLACK_LEADS",
            why: "when two reviewers disagree, only a lead may decide; name the leads (user or user-group ids) or set TAGBOT_SECOND_OPINION=off",
        });
    }
    Ok(Some(band))
}

/// `TAGBOT_UNDO_SECS`: whole seconds from 0 (no undo) to [`MAX_UNDO_SECS`].
fn undo_window(env: &Env) -> Result<Duration, ConfigError> {
    const EXPECTS: &str = "a whole number of seconds from 0 (no undo) to 3600, like 30";
    let Some(raw) = env.get("TAGBOT_UNDO_SECS") else {
        return Ok(DEFAULT_UNDO_WINDOW);
    };
    match raw.parse::<u64>() {
        Ok(secs) if secs <= MAX_UNDO_SECS => Ok(Duration::from_secs(secs)),
        _ => Err(ConfigError::Invalid {
            var: "TAGBOT_UNDO_SECS",
            expects: EXPECTS,
            got: Some(raw.to_owned()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_database_url_names_the_variable() {
        let err = DatabaseSettings::from_env(&Env::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DATABASE_URL is not set: expected a Postgres URL like postgres://user:password@host:5432/database"
        );
    }

    #[test]
    fn malformed_database_url_is_refused_without_echoing_it() {
        let env = Env::from_pairs([("DATABASE_URL", "mysql://root:hunter2@db/x")]);
        let err = DatabaseSettings::from_env(&env).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL is malformed"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn database_url_and_pool_size_are_read() {
        let env = Env::from_pairs([
            ("DATABASE_URL", "postgres://tagbot:pw@127.0.0.1:5432/tagbot"),
            ("DATABASE_POOL_SIZE", "4"),
        ]);
        let settings = DatabaseSettings::from_env(&env).unwrap();
        assert_eq!(settings.pool_size, 4);
        assert_eq!(
            settings.runtime_options().unwrap().get_database(),
            Some("tagbot")
        );
        assert!(settings.admin_url.is_none());
    }

    #[test]
    fn pool_size_out_of_range_is_refused() {
        let env = Env::from_pairs([
            ("DATABASE_URL", "postgres://h/db"),
            ("DATABASE_POOL_SIZE", "0"),
        ]);
        let err = DatabaseSettings::from_env(&env).unwrap_err().to_string();
        assert_eq!(
            err,
            "DATABASE_POOL_SIZE is \"0\": expected a whole number from 1 to 100"
        );
    }

    #[test]
    fn review_settings_default_and_override() {
        let defaults = ReviewSettings::from_env(&Env::default()).unwrap();
        assert_eq!(defaults.approve_threshold.get(), 0.88);
        assert!(!defaults.dry_run);

        let env = Env::from_pairs([("TAGBOT_APPROVE_THRESHOLD", "0.9"), ("DRY_RUN", "TRUE")]);
        let custom = ReviewSettings::from_env(&env).unwrap();
        assert_eq!(custom.approve_threshold.get(), 0.9);
        assert!(custom.dry_run);
    }

    #[test]
    fn the_undo_window_defaults_to_thirty_seconds_and_zero_turns_it_off() {
        let defaults = ReviewSettings::from_env(&Env::default()).unwrap();
        assert_eq!(defaults.undo_window, Duration::from_secs(30));
        let off = ReviewSettings::from_env(&Env::from_pairs([("TAGBOT_UNDO_SECS", "0")])).unwrap();
        assert_eq!(off.undo_window, Duration::ZERO);
        let long =
            ReviewSettings::from_env(&Env::from_pairs([("TAGBOT_UNDO_SECS", "3600")])).unwrap();
        assert_eq!(long.undo_window, Duration::from_secs(3600));
        for bad in ["-1", "3601", "30s", "1.5"] {
            let err = ReviewSettings::from_env(&Env::from_pairs([("TAGBOT_UNDO_SECS", bad)]))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!("TAGBOT_UNDO_SECS is {bad:?}: expected a whole number of seconds from 0 (no undo) to 3600, like 30")
            );
        }
    }

    #[test]
    fn bad_review_settings_are_refused() {
        let env = Env::from_pairs([("TAGBOT_APPROVE_THRESHOLD", "1.5")]);
        assert_eq!(
            ReviewSettings::from_env(&env).unwrap_err().to_string(),
            "TAGBOT_APPROVE_THRESHOLD is \"1.5\": expected a number from 0 to 1, like 0.88"
        );
        let env = Env::from_pairs([("DRY_RUN", "maybe")]);
        assert_eq!(
            ReviewSettings::from_env(&env).unwrap_err().to_string(),
            "DRY_RUN is \"maybe\": expected true or false"
        );
    }

    #[test]
    fn the_second_opinion_band_includes_its_edges_and_needs_leads() {
        let settings = |pairs: &[(&str, &str)]| {
            ReviewSettings::from_env(&Env::from_pairs(pairs.iter().copied()))
        };
        assert_eq!(settings(&[]).unwrap().second_opinion, None);
        assert_eq!(
            settings(&[("TAGBOT_SECOND_OPINION", "off")])
                .unwrap()
                .second_opinion,
            None
        );
        let band = settings(&[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "U0LEAD0001"),
        ])
        .unwrap()
        .second_opinion
        .unwrap();
        for (score, inside) in [
            (0.4499, false),
            (0.45, true),
            (0.6, true),
            (0.75, true),
            (0.7501, false),
        ] {
            assert_eq!(band.contains(score), inside, "{score}");
        }
        let err = settings(&[("TAGBOT_SECOND_OPINION", "0.45-0.75")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TAGBOT_SECOND_OPINION") && err.contains("SLACK_LEADS"),
            "{err}"
        );
        for bad in [
            "0.75-0.45",
            "0.45",
            "0.45-1.2",
            "-0.1-0.5",
            "low-high",
            "0.45–0.75",
        ] {
            let err = settings(&[
                ("TAGBOT_SECOND_OPINION", bad),
                ("SLACK_LEADS", "U0LEAD0001"),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains("TAGBOT_SECOND_OPINION"), "{bad}: {err}");
        }
    }
}
