//! The Airtable section: where the base is, which tables and fields hold
//! lectures and tags, and how the sync worker paces itself.

use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use super::{ConfigError, Env};

/// How the Lectures table holds its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagsFieldType {
    /// Linked records to the Tags table: cells are arrays of record ids.
    Linked,
    /// A multiple-select field: cells are arrays of option names.
    MultiSelect,
    /// Read the base schema and use what the field is.
    Auto,
}

/// Where tagbot writes approved tags.
#[derive(Debug, Clone)]
pub struct AirtableSettings {
    pub token: SecretString,
    pub base_id: String,
    pub api_url: Url,
    pub lectures_table: String,
    pub lectures_id_field: String,
    pub lectures_tags_field: String,
    pub tags_table: String,
    pub tags_id_field: String,
    pub tags_field_type: TagsFieldType,
    pub typecast: bool,
}

const TOKEN_EXPECTS: &str =
    "an Airtable personal access token (pat…, from https://airtable.com/create/tokens), without quotes or \"Bearer\"";

impl AirtableSettings {
    pub fn from_env(env: &Env) -> Result<AirtableSettings, ConfigError> {
        let token = env.required_secret("AIRTABLE_TOKEN", TOKEN_EXPECTS)?;
        if !looks_like_token(token.expose_secret()) {
            return Err(ConfigError::Invalid {
                var: "AIRTABLE_TOKEN",
                expects: TOKEN_EXPECTS,
                got: None,
            });
        }
        const BASE_EXPECTS: &str =
            "a base id: app followed by 14 letters and digits, as in the base's URL";
        let base_id = env
            .get("AIRTABLE_BASE_ID")
            .ok_or(ConfigError::Missing {
                var: "AIRTABLE_BASE_ID",
                expects: BASE_EXPECTS,
            })?
            .to_owned();
        if !looks_like_base_id(&base_id) {
            return Err(ConfigError::Invalid {
                var: "AIRTABLE_BASE_ID",
                expects: BASE_EXPECTS,
                got: Some(base_id),
            });
        }
        let api_url = env.url_or("AIRTABLE_API_URL", "https://api.airtable.com")?;
        let tags_field_type = match env
            .get("AIRTABLE_FIELD_TAGS_TYPE")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => TagsFieldType::Auto,
            Some("linked") => TagsFieldType::Linked,
            Some("multiselect") => TagsFieldType::MultiSelect,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    var: "AIRTABLE_FIELD_TAGS_TYPE",
                    expects: "linked, multiselect or auto",
                    got: Some(other.to_owned()),
                })
            }
        };
        Ok(AirtableSettings {
            token,
            base_id,
            api_url,
            lectures_table: env.name_or("AIRTABLE_LECTURES_TABLE", "Lectures"),
            lectures_id_field: env.name_or("AIRTABLE_LECTURES_ID_FIELD", "external_id"),
            lectures_tags_field: env.name_or("AIRTABLE_LECTURES_TAGS_FIELD", "Tags"),
            tags_table: env.name_or("AIRTABLE_TAGS_TABLE", "Tags"),
            tags_id_field: env.name_or("AIRTABLE_TAGS_ID_FIELD", "tag_id"),
            tags_field_type,
            typecast: env.flag("AIRTABLE_TYPECAST")?,
        })
    }
}

/// A personal access token is `pat` + an id, a dot, and a hex secret. A
/// value with spaces, quotes or a "Bearer " prefix was pasted wrong.
fn looks_like_token(token: &str) -> bool {
    token.starts_with("pat")
        && token.len() >= 20
        && token.contains('.')
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

fn looks_like_base_id(id: &str) -> bool {
    id.len() == 17 && id.starts_with("app") && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Airtable's per-base request rate.
pub const MAX_REQUESTS_PER_SECOND: u32 = 5;
/// How long Airtable refuses requests after a 429.
pub const MIN_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(30);

/// How the sync worker paces and retries itself.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Requests per second per base, shared by every worker process.
    pub requests_per_second: u32,
    /// How long the whole base pauses after a 429.
    pub rate_limit_pause: Duration,
    /// How long a claimed lecture stays with its worker without renewal.
    pub lease: Duration,
    /// Tries before a transient failure becomes permanent.
    pub max_attempts: u32,
    /// First retry delay; doubles with each attempt (1-2-4-8-16 s).
    pub backoff_base: Duration,
    /// How often an idle worker looks for due work without a notification.
    pub poll_interval: Duration,
    /// Per-request timeout towards Airtable.
    pub request_timeout: Duration,
    /// Never write to Airtable; log and report what would be written.
    pub dry_run: bool,
    /// What this process's worker is called in leases, run ids and logs:
    /// the host's name (`HOSTNAME`, set in containers), else "tagbot".
    pub host_name: String,
    /// How long a done sync item is kept (`TAGBOT_SYNC_DONE_RETENTION`);
    /// None: forever.
    pub done_retention: Option<Duration>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings {
            requests_per_second: 5,
            rate_limit_pause: Duration::from_secs(30),
            lease: Duration::from_secs(120),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            poll_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            dry_run: false,
            host_name: "tagbot".to_owned(),
            done_retention: Some(DEFAULT_DONE_RETENTION),
        }
    }
}

impl SyncSettings {
    pub fn from_env(env: &Env) -> Result<SyncSettings, ConfigError> {
        let defaults = SyncSettings::default();
        let seconds = |var, default: Duration, expects| -> Result<Duration, ConfigError> {
            let value: u64 = env.parsed_or(var, default.as_secs(), expects)?;
            if value == 0 {
                return Err(ConfigError::Invalid {
                    var,
                    expects,
                    got: Some(value.to_string()),
                });
            }
            Ok(Duration::from_secs(value))
        };
        // Airtable allows "5 requests per second per base" and, after a 429,
        // "wait 30 seconds before subsequent requests will succeed"
        // (https://airtable.com/developers/web/api/rate-limits): a setting
        // may be more careful than that, never less.
        const RATE_EXPECTS: &str =
            "a whole number of requests per second from 1 to 5 (Airtable allows 5 per second per base)";
        let requests_per_second: u32 = env.parsed_or(
            "AIRTABLE_REQUESTS_PER_SECOND",
            defaults.requests_per_second,
            RATE_EXPECTS,
        )?;
        if !(1..=MAX_REQUESTS_PER_SECOND).contains(&requests_per_second) {
            return Err(ConfigError::Invalid {
                var: "AIRTABLE_REQUESTS_PER_SECOND",
                expects: RATE_EXPECTS,
                got: Some(requests_per_second.to_string()),
            });
        }
        const PAUSE_EXPECTS: &str =
            "a whole number of seconds, at least 30 (Airtable refuses every request for 30 s after a 429)";
        let rate_limit_pause = seconds(
            "AIRTABLE_RATE_LIMIT_PAUSE_SECS",
            defaults.rate_limit_pause,
            PAUSE_EXPECTS,
        )?;
        if rate_limit_pause < MIN_RATE_LIMIT_PAUSE {
            return Err(ConfigError::Invalid {
                var: "AIRTABLE_RATE_LIMIT_PAUSE_SECS",
                expects: PAUSE_EXPECTS,
                got: Some(rate_limit_pause.as_secs().to_string()),
            });
        }
        Ok(SyncSettings {
            requests_per_second,
            rate_limit_pause,
            lease: seconds(
                "TAGBOT_SYNC_LEASE_SECS",
                defaults.lease,
                "a whole number of seconds, at least 1",
            )?,
            max_attempts: defaults.max_attempts,
            backoff_base: defaults.backoff_base,
            poll_interval: seconds(
                "TAGBOT_SYNC_POLL_SECS",
                defaults.poll_interval,
                "a whole number of seconds, at least 1",
            )?,
            request_timeout: seconds(
                "AIRTABLE_TIMEOUT_SECS",
                defaults.request_timeout,
                "a whole number of seconds, at least 1",
            )?,
            dry_run: env.flag("DRY_RUN")?,
            host_name: env.name_or("HOSTNAME", &defaults.host_name),
            done_retention: done_retention(env)?,
        })
    }
}

/// A month of finished items answers "what synced lately"; the audit log
/// keeps every sync for good.
const DEFAULT_DONE_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
const RETENTION_EXPECTS: &str =
    "a number of days or hours like 30d or 12h (at least 1h), or off to keep done items forever";

/// `TAGBOT_SYNC_DONE_RETENTION`: `Nd`, `Nh`, or `off`.
fn done_retention(env: &Env) -> Result<Option<Duration>, ConfigError> {
    env.span_or_off(
        "TAGBOT_SYNC_DONE_RETENTION",
        Some(DEFAULT_DONE_RETENTION),
        &['d', 'h'],
        RETENTION_EXPECTS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "patAbCdEfGh123456.0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_design() {
        let env = Env::from_pairs([
            ("AIRTABLE_TOKEN", TOKEN),
            ("AIRTABLE_BASE_ID", "appABCDEFGH123456"),
        ]);
        let settings = AirtableSettings::from_env(&env).unwrap();
        assert_eq!(settings.api_url.as_str(), "https://api.airtable.com/");
        assert_eq!(settings.lectures_table, "Lectures");
        assert_eq!(settings.lectures_id_field, "external_id");
        assert_eq!(settings.lectures_tags_field, "Tags");
        assert_eq!(settings.tags_table, "Tags");
        assert_eq!(settings.tags_id_field, "tag_id");
        assert_eq!(settings.tags_field_type, TagsFieldType::Auto);
        assert!(!settings.typecast);
    }

    #[test]
    fn a_token_pasted_wrong_is_named_but_not_shown() {
        for pasted in [
            format!("Bearer {TOKEN}"),
            format!("\"{TOKEN}\""),
            "keyABC".to_owned(),
        ] {
            let env = Env::from_pairs([
                ("AIRTABLE_TOKEN", pasted.as_str()),
                ("AIRTABLE_BASE_ID", "appABCDEFGH123456"),
            ]);
            let err = AirtableSettings::from_env(&env).unwrap_err().to_string();
            assert!(err.starts_with("AIRTABLE_TOKEN is malformed"), "{err}");
            assert!(!err.contains("0123456789abcdef"), "{err}");
        }
    }

    #[test]
    fn a_bad_base_id_or_field_type_is_refused() {
        let env = Env::from_pairs([
            ("AIRTABLE_TOKEN", TOKEN),
            ("AIRTABLE_BASE_ID", "https://airtable.com/appX"),
        ]);
        assert!(AirtableSettings::from_env(&env)
            .unwrap_err()
            .to_string()
            .starts_with("AIRTABLE_BASE_ID is"));
        let env = Env::from_pairs([
            ("AIRTABLE_TOKEN", TOKEN),
            ("AIRTABLE_BASE_ID", "appABCDEFGH123456"),
            ("AIRTABLE_FIELD_TAGS_TYPE", "links"),
        ]);
        assert_eq!(
            AirtableSettings::from_env(&env).unwrap_err().to_string(),
            "AIRTABLE_FIELD_TAGS_TYPE is \"links\": expected linked, multiselect or auto"
        );
    }

    #[test]
    fn sync_settings_read_and_refuse_zero() {
        let env = Env::from_pairs([
            ("AIRTABLE_RATE_LIMIT_PAUSE_SECS", "45"),
            ("AIRTABLE_REQUESTS_PER_SECOND", "3"),
            ("DRY_RUN", "yes"),
        ]);
        let settings = SyncSettings::from_env(&env).unwrap();
        assert_eq!(settings.rate_limit_pause, Duration::from_secs(45));
        assert_eq!(settings.requests_per_second, 3);
        assert!(settings.dry_run);
        let env = Env::from_pairs([("TAGBOT_SYNC_LEASE_SECS", "0")]);
        assert!(SyncSettings::from_env(&env).is_err());
    }

    #[test]
    fn done_retention_is_days_hours_or_off() {
        let read = |raw: &str| {
            SyncSettings::from_env(&Env::from_pairs([("TAGBOT_SYNC_DONE_RETENTION", raw)]))
                .map(|settings| settings.done_retention)
        };
        assert_eq!(
            SyncSettings::from_env(&Env::default())
                .unwrap()
                .done_retention,
            Some(Duration::from_secs(30 * 24 * 3600))
        );
        assert_eq!(
            read("7d").unwrap(),
            Some(Duration::from_secs(7 * 24 * 3600))
        );
        assert_eq!(read("12h").unwrap(), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(read("off").unwrap(), None);
        for bad in ["0d", "30", "1w", "d", "-3d", "99999999d", "30m", "+3d"] {
            let err = read(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("TAGBOT_SYNC_DONE_RETENTION is \"{bad}\"")),
                "{err}"
            );
        }
    }

    #[test]
    fn settings_faster_than_airtable_allows_are_refused_with_the_reason() {
        let env = Env::from_pairs([("AIRTABLE_REQUESTS_PER_SECOND", "6")]);
        let err = SyncSettings::from_env(&env).unwrap_err().to_string();
        assert!(
            err.starts_with("AIRTABLE_REQUESTS_PER_SECOND is \"6\""),
            "{err}"
        );
        assert!(
            err.contains("Airtable allows 5 per second per base"),
            "{err}"
        );
        let env = Env::from_pairs([("AIRTABLE_RATE_LIMIT_PAUSE_SECS", "29")]);
        let err = SyncSettings::from_env(&env).unwrap_err().to_string();
        assert!(
            err.starts_with("AIRTABLE_RATE_LIMIT_PAUSE_SECS is \"29\""),
            "{err}"
        );
        assert!(err.contains("30 s after a 429"), "{err}");
        let env = Env::from_pairs([
            ("AIRTABLE_REQUESTS_PER_SECOND", "5"),
            ("AIRTABLE_RATE_LIMIT_PAUSE_SECS", "30"),
        ]);
        assert!(SyncSettings::from_env(&env).is_ok());
    }
}
