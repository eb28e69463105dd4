//! `tagbot doctor`: checks everything tagbot depends on and says, for each
//! failure, what to do. Each check is one line, ✓ or ✗, with a fix hint
//! under a failure; a check that cannot run because an earlier one failed
//! is skipped (–) with the reason.
//!
//! What it checks: the configuration is complete and well-formed; the
//! database answers, its schema is current and the run-time role's
//! privileges are right; the Slack token is valid (`auth.test`), the bot is
//! in the review and report channels, the signing secret is set; the
//! Airtable token is valid, the base, tables and fields exist, the tags
//! field's type matches `AIRTABLE_FIELD_TAGS_TYPE`, and every catalogue tag
//! is mapped in Airtable.

use std::fmt;

use sqlx::PgPool;

use crate::airtable::{resolve_tags_field, AirtableClient, BaseSchema, RequestBudget, TagsField};
use crate::config::{
    AirtableSettings, ConfigError, DatabaseSettings, Env, ReviewSettings, SlackSettings,
    SyncSettings,
};
use crate::slack::app::SlackError;
use crate::slack::output::api::SlackApi;
use crate::storage::{self, check_privileges, DbError};
use crate::sync::unmapped_tags;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass(String),
    /// Works, but something is wider or weaker than it should be; not a
    /// failure.
    Warn {
        problem: String,
        fix: String,
    },
    Fail {
        problem: String,
        fix: String,
    },
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Pass(what) => write!(f, "✓ {}: {what}", self.name),
            Outcome::Warn { problem, fix } => {
                write!(f, "! {}: {problem}\n    fix: {fix}", self.name)
            }
            Outcome::Fail { problem, fix } => {
                write!(f, "✗ {}: {problem}\n    fix: {fix}", self.name)
            }
            Outcome::Skipped(why) => write!(f, "– {}: skipped ({why})", self.name),
        }
    }
}

/// Every check's outcome, in order.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub checks: Vec<Check>,
}

impl Diagnosis {
    pub fn healthy(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Fail { .. }))
    }

    pub fn failures(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Fail { .. }))
            .count()
    }

    fn pass(&mut self, name: &'static str, what: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Pass(what.into()),
        });
    }

    fn warn(&mut self, name: &'static str, problem: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Warn {
                problem: problem.into(),
                fix: fix.into(),
            },
        });
    }

    fn fail(&mut self, name: &'static str, problem: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Fail {
                problem: problem.into(),
                fix: fix.into(),
            },
        });
    }

    fn skip(&mut self, name: &'static str, why: impl Into<String>) {
        self.checks.push(Check {
            name,
            outcome: Outcome::Skipped(why.into()),
        });
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        match self.failures() {
            0 => write!(f, "All checks passed."),
            n => write!(f, "{n} check(s) failed."),
        }
    }
}

/// Runs every check against the environment.
pub async fn diagnose(env: &Env) -> Diagnosis {
    let mut diagnosis = Diagnosis::default();
    let database = settings(
        &mut diagnosis,
        "database settings",
        DatabaseSettings::from_env(env),
        "DATABASE_URL",
    );
    let slack = settings(
        &mut diagnosis,
        "Slack settings",
        SlackSettings::from_env(env),
        "SLACK_*",
    );
    let airtable = settings(
        &mut diagnosis,
        "Airtable settings",
        AirtableSettings::from_env(env),
        "AIRTABLE_*",
    );
    let review = settings(
        &mut diagnosis,
        "review settings",
        ReviewSettings::from_env(env),
        "TAGBOT_APPROVE_THRESHOLD, DRY_RUN",
    );
    let sync = settings(
        &mut diagnosis,
        "sync settings",
        SyncSettings::from_env(env),
        "the sync settings",
    );

    let pool = match &database {
        Some(database) => check_database(&mut diagnosis, database).await,
        None => {
            diagnosis.skip("database", "its settings are wrong");
            None
        }
    };
    match &slack {
        Some(slack) => check_slack(&mut diagnosis, slack).await,
        None => diagnosis.skip("Slack", "its settings are wrong"),
    }
    match (&airtable, &sync, &pool) {
        (Some(airtable), Some(sync), Some(pool)) => {
            check_airtable(&mut diagnosis, airtable, sync, pool).await;
        }
        (Some(_), Some(_), None) => diagnosis.skip(
            "Airtable",
            "it needs the database for its request budget and the tag list",
        ),
        _ => diagnosis.skip("Airtable", "its settings are wrong"),
    }
    match (&slack, &pool) {
        (Some(slack), Some(pool)) => check_home_tab(&mut diagnosis, slack, pool).await,
        _ => diagnosis.skip(
            "Slack Home tab",
            "it needs the Slack settings and the database",
        ),
    }
    if let Some(pool) = pool {
        let dry_run = review.as_ref().is_some_and(|review| review.dry_run);
        check_stranded(&mut diagnosis, &pool, dry_run).await;
        pool.close().await;
    }
    diagnosis
}

/// Approved tags nothing will sync (approved during a dry run, or by a
/// hand fix in SQL): a warning naming `tagbot enqueue`.
async fn check_stranded(diagnosis: &mut Diagnosis, pool: &PgPool, dry_run: bool) {
    const CHECK: &str = "approved tags queued";
    match storage::sync_queue::stranded_count(pool).await {
        Ok(0) => diagnosis.pass(CHECK, "every approved tag is queued for Airtable or synced"),
        Ok(count) => {
            let stranded = crate::review::Stranded { count, dry_run };
            let fix = if dry_run {
                "turn DRY_RUN off, then run `tagbot enqueue`"
            } else {
                "run `tagbot enqueue` (add --as NAME to name yourself in the audit log)"
            };
            diagnosis.warn(CHECK, stranded.to_string(), fix);
        }
        Err(err) => diagnosis.fail(CHECK, err.to_string(), "check the database connection"),
    }
}

/// Whether the app's Home tab is enabled. Slack tells only when a Home tab
/// is published (`not_enabled`), so the first user in SLACK_REVIEWERS gets
/// theirs published, with what it would show them anyway.
async fn check_home_tab(diagnosis: &mut Diagnosis, settings: &SlackSettings, pool: &PgPool) {
    const CHECK: &str = "Slack Home tab";
    let Some(user) = settings
        .reviewers
        .iter()
        .find(|id| id.starts_with('U') || id.starts_with('W'))
    else {
        diagnosis.skip(
            CHECK,
            "tagbot can tell only by publishing a reviewer's Home tab, and SLACK_REVIEWERS names no user; open the app's Home tab in Slack to check",
        );
        return;
    };
    let app =
        match crate::startup::slack_app(pool.clone(), settings.clone(), ReviewSettings::default())
            .await
        {
            Ok(app) => app,
            Err(err) => {
                diagnosis.skip(CHECK, format!("the Slack token does not work ({err})"));
                return;
            }
        };
    match crate::slack::handlers::home::publish(&app, user).await {
        Ok(()) => diagnosis.pass(CHECK, format!("enabled (published {user}'s Home tab)")),
        Err(SlackError::Api(err)) if err.code() == Some("not_enabled") => diagnosis.fail(
            CHECK,
            "the app's Home tab is not enabled",
            "turn on the Home tab (app settings → App Home → Show Tabs → Home Tab, or features.app_home.home_tab_enabled in manifest.yml) and subscribe to the app_home_opened bot event",
        ),
        Err(err) => diagnosis.fail(
            CHECK,
            err.to_string(),
            "try again; if it persists, check the token's workspace and that the user exists",
        ),
    }
}

fn settings<T>(
    diagnosis: &mut Diagnosis,
    name: &'static str,
    parsed: Result<T, ConfigError>,
    vars: &str,
) -> Option<T> {
    match parsed {
        Ok(value) => {
            diagnosis.pass(name, "complete and well-formed");
            Some(value)
        }
        Err(err) => {
            diagnosis.fail(
                name,
                err.to_string(),
                format!("set {vars} as the README's configuration table says"),
            );
            None
        }
    }
}

async fn check_database(diagnosis: &mut Diagnosis, settings: &DatabaseSettings) -> Option<PgPool> {
    let options = match settings.runtime_options() {
        Ok(options) => options,
        Err(err) => {
            diagnosis.fail("database", err.to_string(), "fix DATABASE_URL");
            return None;
        }
    };
    let pool = match storage::connect(options, 2).await {
        Ok(pool) => {
            diagnosis.pass("database reachable", "connected as DATABASE_URL");
            pool
        }
        Err(err) => {
            diagnosis.fail(
                "database reachable",
                err.to_string(),
                "check DATABASE_URL's host, port, user and password, and that Postgres is running",
            );
            return None;
        }
    };
    match storage::ensure_schema_current(&pool).await {
        Ok(()) => diagnosis.pass("migrations", "the schema is current"),
        Err(DbError::SchemaBehind { pending }) => diagnosis.fail(
            "migrations",
            format!("{pending} migration(s) not applied"),
            "run `tagbot migrate` with DATABASE_ADMIN_URL set to the schema owner",
        ),
        Err(err) => diagnosis.fail("migrations", err.to_string(), "run `tagbot migrate`"),
    }
    match check_privileges(&pool).await {
        Ok(report) if report.is_ok() => diagnosis.pass("run-time role", report.to_string()),
        Ok(report) => {
            let problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
            diagnosis.fail(
                "run-time role",
                format!("role {:?}: {}", report.role, problems.join("; ")),
                "connect DATABASE_URL as a login role that is a member of tagbot_runtime and nothing more (README, \"Database and role\")",
            );
        }
        Err(err) => diagnosis.fail(
            "run-time role",
            err.to_string(),
            "run `tagbot migrate`, then check the role's grants",
        ),
    }
    check_temporary_tables(diagnosis, &pool).await;
    Some(pool)
}

/// Temporary tables: harmless to the audit log since migration 0014, and
/// of no use to tagbot, so a warning with the statement that takes them
/// away.
async fn check_temporary_tables(diagnosis: &mut Diagnosis, pool: &PgPool) {
    const CHECK: &str = "temporary tables";
    match storage::temporary_tables_allowed(pool).await {
        Ok(None) => diagnosis.pass(CHECK, "the run-time role may not create them"),
        Ok(Some((database, role))) => diagnosis.warn(
            CHECK,
            "the run-time role may create temporary tables (PUBLIC holds TEMPORARY by default); tagbot needs none, and its triggers ignore them",
            format!(
                "a DBA may run: REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC, {}; (grant it back to any other role that needs it)",
                quote_ident(&database),
                quote_ident(&role)
            ),
        ),
        Err(err) => diagnosis.fail(CHECK, err.to_string(), "check the database connection"),
    }
}

/// A name as SQL writes an identifier: in double quotes, inner ones doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn check_slack(diagnosis: &mut Diagnosis, settings: &SlackSettings) {
    diagnosis.pass("Slack signing secret", "set");
    let api = match SlackApi::new(settings) {
        Ok(api) => api,
        Err(err) => {
            diagnosis.fail(
                "Slack token",
                err.to_string(),
                "check the machine's TLS root certificates",
            );
            return;
        }
    };
    match api.auth_test().await {
        Ok(identity) => diagnosis.pass(
            "Slack token",
            format!(
                "valid: bot user {} in workspace {}",
                identity.user_id,
                identity.team.as_deref().unwrap_or("?")
            ),
        ),
        Err(err) => {
            diagnosis.fail(
                "Slack token",
                err.to_string(),
                "copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page into SLACK_BOT_TOKEN; reinstall the app if it was revoked",
            );
            diagnosis.skip("Slack channels", "the token does not work");
            return;
        }
    }
    for (var, channel) in [
        ("SLACK_REVIEW_CHANNEL", &settings.review_channel),
        ("SLACK_REPORT_CHANNEL", &settings.report_channel),
    ] {
        match api.bot_in_channel(channel).await {
            Ok(true) => diagnosis.pass("Slack channel", format!("the bot is in {channel} ({var})")),
            Ok(false) => diagnosis.fail(
                "Slack channel",
                format!("the bot is not a member of {channel} ({var})"),
                "in that channel, type /invite @tagbot",
            ),
            Err(err) => diagnosis.fail(
                "Slack channel",
                format!("{channel} ({var}): {err}"),
                format!("check {var} is a channel id (C…) the bot can see; private channels need the groups:read scope"),
            ),
        }
    }
}

/// The base schema, with the token's check passed; None (and the checks
/// that depend on it skipped) when Airtable refuses.
async fn read_schema(
    diagnosis: &mut Diagnosis,
    settings: &AirtableSettings,
    client: &AirtableClient,
) -> Option<BaseSchema> {
    match client.schema().await {
        Ok(schema) => {
            diagnosis.pass(
                "Airtable token",
                format!("valid, and it can read base {}", settings.base_id),
            );
            Some(schema)
        }
        Err(err) if err.is_quota() => {
            diagnosis.fail(
                "Airtable quota",
                err.to_string(),
                "the workspace has used up its monthly Airtable API calls (Free and Team plans have a monthly limit): nothing syncs until the limit resets next month, or upgrade the workspace's plan; approved tags wait in the queue",
            );
            diagnosis.skip("Airtable tables and fields", "the base cannot be read");
            None
        }
        Err(err) => {
            let fix = match err.status {
                Some(401) => "AIRTABLE_TOKEN is wrong or expired: create a personal access token at https://airtable.com/create/tokens",
                Some(403) | Some(404) => "give the token the scopes data.records:read, data.records:write and schema.bases:read, add the base to its access list, and check AIRTABLE_BASE_ID (app… in the base's URL)",
                _ => "check AIRTABLE_API_URL and the network, then try again",
            };
            diagnosis.fail("Airtable token", err.to_string(), fix);
            diagnosis.skip("Airtable tables and fields", "the base cannot be read");
            None
        }
    }
}

async fn check_airtable(
    diagnosis: &mut Diagnosis,
    settings: &AirtableSettings,
    sync: &SyncSettings,
    pool: &PgPool,
) {
    let budget = RequestBudget::new(
        pool.clone(),
        &settings.base_id,
        sync.requests_per_second,
        sync.rate_limit_pause,
    );
    let client = match AirtableClient::new(settings, budget, sync.request_timeout) {
        Ok(client) => client,
        Err(err) => {
            diagnosis.fail(
                "Airtable token",
                err.to_string(),
                "check the machine's TLS setup",
            );
            return;
        }
    };
    let Some(schema) = read_schema(diagnosis, settings, &client).await else {
        return;
    };
    let field = match resolve_tags_field(&schema, settings) {
        Ok(field) => {
            let kind = match &field {
                TagsField::Linked => "linked records to the Tags table",
                TagsField::MultiSelect { .. } => "a multiple-select field",
            };
            diagnosis.pass(
                "Airtable tables and fields",
                format!(
                    "{} has {} and {} ({kind})",
                    settings.lectures_table,
                    settings.lectures_id_field,
                    settings.lectures_tags_field
                ),
            );
            field
        }
        Err(problem) => {
            diagnosis.fail(
                "Airtable tables and fields",
                problem.to_string(),
                "create the table or field in Airtable, or point the AIRTABLE_* variable named above at the right one",
            );
            diagnosis.skip("Airtable tag mapping", "the tables or fields are missing");
            return;
        }
    };
    check_tag_mapping(diagnosis, &client, pool, settings, schema, &field).await;
    check_change_stream(diagnosis, &client).await;
}

/// Which way the sync worker knows each record's tags: from the base's
/// change stream (the token may manage webhooks), or by reading before
/// each write; and what would turn the change stream on.
async fn check_change_stream(diagnosis: &mut Diagnosis, client: &AirtableClient) {
    const NAME: &str = "Airtable change stream";
    match client.list_webhooks().await {
        Ok(hooks) => diagnosis.pass(
            NAME,
            format!(
                "on: the token may manage webhooks ({} in the base); the worker repairs edits a write overwrites, records synced tags people remove, and writes without reading first while the stream is current",
                hooks.len()
            ),
        ),
        Err(err) if matches!(err.status, Some(401 | 403 | 404)) => diagnosis.pass(
            NAME,
            format!(
                "off: the worker reads each record right before writing it, so a person's edit made in the second between is lost (README, Guarantees). Airtable said: {err}. To turn it on, give the token the webhook:manage scope (with data.records:read) and a creator's access to the base"
            ),
        ),
        Err(err) => diagnosis.skip(NAME, format!("Airtable could not be asked: {err}")),
    }
}

/// Whether every tag in the catalogue has its value in Airtable.
async fn check_tag_mapping(
    diagnosis: &mut Diagnosis,
    client: &AirtableClient,
    pool: &PgPool,
    settings: &AirtableSettings,
    schema: BaseSchema,
    field: &TagsField,
) {
    match unmapped_tags(client, pool, settings, schema).await {
        Ok(unmapped) if unmapped.is_empty() => {
            diagnosis.pass(
                "Airtable tag mapping",
                "every tag in the catalogue is mapped in Airtable",
            );
        }
        Ok(unmapped) => {
            let listed: Vec<&str> = unmapped.iter().take(10).map(String::as_str).collect();
            let more = unmapped.len().saturating_sub(listed.len());
            diagnosis.fail(
                "Airtable tag mapping",
                format!(
                    "{} tag(s) have no match in Airtable: {}{}",
                    unmapped.len(),
                    listed.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ),
                match field {
                    TagsField::Linked => "add a record per tag to the Tags table with its tag_id (AIRTABLE_TAGS_ID_FIELD)",
                    TagsField::MultiSelect { .. } => "add the tag names as options of the tags field, or set AIRTABLE_TYPECAST=true",
                },
            );
        }
        Err(err) => diagnosis.fail(
            "Airtable tag mapping",
            err.to_string(),
            "try again; if it persists, check the Tags table",
        ),
    }
}
