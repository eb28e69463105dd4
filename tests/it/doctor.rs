//! `tagbot doctor` against the stand-ins: all green when everything is set
//! up, and the right check failing with the right fix when something is not.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
use standins::slack::{FakeSlack, RateLimits};
use tagbot::config::Env;
use tagbot::doctor::{diagnose, Diagnosis, Outcome};

use crate::helpers::TestDb;
use crate::slack_world::{BOT_TOKEN, REPORT, REVIEW, SECRET};
use crate::sync_world::{BASE_ID, TOKEN};

struct Setup {
    db: TestDb,
    slack: FakeSlack,
    airtable: FakeAirtable,
}

impl Setup {
    /// A working installation: catalogue tag t1, mapped in Airtable, the
    /// bot in both channels.
    async fn new(pool: PgPoolOptions, options: PgConnectOptions) -> Setup {
        let db = TestDb::new(pool, options).await;
        db.tag("t1", "פילוסופיה").await;
        let slack = FakeSlack::start(BOT_TOKEN, RateLimits::off())
            .await
            .unwrap();
        slack.add_channel(REVIEW, "tag-review", true);
        slack.add_channel(REPORT, "tag-reports", true);
        let airtable =
            FakeAirtable::start(BASE_ID, TOKEN, TagsFieldKind::Linked, RateLimit::default())
                .await
                .unwrap();
        airtable.add_tag("t1", "פילוסופיה");
        Setup {
            db,
            slack,
            airtable,
        }
    }

    async fn diagnose(&self, changes: &[(&str, &str)]) -> Diagnosis {
        let app_url = self.db.app_url();
        let mut pairs = vec![
            ("DATABASE_URL", app_url.as_str()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("SLACK_SIGNING_SECRET", SECRET),
            ("SLACK_API_URL", self.slack.url.as_str()),
            ("SLACK_REVIEW_CHANNEL", REVIEW),
            ("SLACK_REPORT_CHANNEL", REPORT),
            ("AIRTABLE_TOKEN", TOKEN),
            ("AIRTABLE_BASE_ID", BASE_ID),
            ("AIRTABLE_API_URL", self.airtable.url.as_str()),
        ];
        for (var, value) in changes {
            pairs.retain(|(v, _)| v != var);
            pairs.push((var, value));
        }
        diagnose(&Env::from_pairs(pairs)).await
    }

    async fn close(self) {
        self.slack.shutdown();
        self.airtable.shutdown();
        self.db.close().await;
    }
}

/// The failed check's problem and fix; panics when `name` did not fail.
fn failure(diagnosis: &Diagnosis, name: &str) -> (String, String) {
    diagnosis
        .checks
        .iter()
        .find_map(|check| match &check.outcome {
            Outcome::Fail { problem, fix } if check.name == name => {
                Some((problem.clone(), fix.clone()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} did not fail:\n{diagnosis}"))
}

#[sqlx::test]
async fn a_working_setup_passes_every_check(pool: PgPoolOptions, options: PgConnectOptions) {
    let setup = Setup::new(pool, options).await;
    let diagnosis = setup.diagnose(&[]).await;
    assert!(diagnosis.healthy(), "{diagnosis}");
    let text = diagnosis.to_string();
    for line in [
        "✓ Slack token",
        "✓ run-time role",
        "✓ Airtable tag mapping",
        "All checks passed.",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }
    assert_eq!(text.matches("✓ Slack channel").count(), 2);
    setup.close().await;
}

#[sqlx::test]
async fn a_wrong_slack_token_is_named_with_the_fix(pool: PgPoolOptions, options: PgConnectOptions) {
    let setup = Setup::new(pool, options).await;
    let diagnosis = setup
        .diagnose(&[("SLACK_BOT_TOKEN", "xoxb-1234567890-revokedtoken")])
        .await;
    let (problem, fix) = failure(&diagnosis, "Slack token");
    assert!(problem.contains("invalid_auth"), "{problem}");
    assert!(fix.contains("SLACK_BOT_TOKEN"), "{fix}");
    assert!(
        !diagnosis.to_string().contains("revokedtoken"),
        "the token is never shown"
    );
    setup.close().await;
}

#[sqlx::test]
async fn a_channel_without_the_bot_says_invite_it(pool: PgPoolOptions, options: PgConnectOptions) {
    let setup = Setup::new(pool, options).await;
    setup.slack.set_bot_membership(REPORT, false);
    let diagnosis = setup.diagnose(&[]).await;
    let (problem, fix) = failure(&diagnosis, "Slack channel");
    assert!(problem.contains("SLACK_REPORT_CHANNEL"), "{problem}");
    assert!(fix.contains("/invite @tagbot"), "{fix}");
    setup.close().await;
}

#[sqlx::test]
async fn a_missing_airtable_field_is_named(pool: PgPoolOptions, options: PgConnectOptions) {
    let setup = Setup::new(pool, options).await;
    setup.airtable.remove_field("Lectures", "Tags");
    let diagnosis = setup.diagnose(&[]).await;
    let (problem, fix) = failure(&diagnosis, "Airtable tables and fields");
    assert!(
        problem.contains("\"Tags\"") && problem.contains("AIRTABLE_LECTURES_TAGS_FIELD"),
        "{problem}"
    );
    assert!(fix.contains("create the table or field"), "{fix}");
    setup.close().await;
}

#[sqlx::test]
async fn a_wrong_airtable_token_and_an_unmapped_tag_are_named(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    let wrong = "patWrongWrongWrong.0123456789abcdef0123456789abcdef";
    let (_, fix) = failure(
        &setup.diagnose(&[("AIRTABLE_TOKEN", wrong)]).await,
        "Airtable token",
    );
    assert!(fix.contains("https://airtable.com/create/tokens"), "{fix}");

    setup.db.tag("t2", "היסטוריה").await;
    let (problem, fix) = failure(&setup.diagnose(&[]).await, "Airtable tag mapping");
    assert!(
        problem.contains("1 tag(s)") && problem.contains("t2"),
        "{problem}"
    );
    assert!(fix.contains("Tags table"), "{fix}");
    setup.close().await;
}

#[sqlx::test]
async fn a_privileged_role_is_refused_with_the_fix(pool: PgPoolOptions, options: PgConnectOptions) {
    let setup = Setup::new(pool, options).await;
    let owner = setup.db.owner_url();
    let diagnosis = setup.diagnose(&[("DATABASE_URL", owner.as_str())]).await;
    let (problem, fix) = failure(&diagnosis, "run-time role");
    assert!(problem.to_lowercase().contains("superuser"), "{problem}");
    assert!(fix.contains("tagbot_runtime"), "{fix}");
    setup.close().await;
}

#[sqlx::test]
async fn bad_configuration_fails_its_check_and_skips_what_depends_on_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    let diagnosis = setup
        .diagnose(&[("SLACK_REVIEW_CHANNEL", "#tag-review")])
        .await;
    let (problem, _) = failure(&diagnosis, "Slack settings");
    assert!(problem.contains("SLACK_REVIEW_CHANNEL"), "{problem}");
    assert!(diagnosis.to_string().contains("– Slack: skipped"));
    assert!(!diagnosis.healthy());
    setup.close().await;
}

#[sqlx::test]
async fn a_used_up_airtable_quota_is_named_with_what_to_do(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    setup.airtable.set_monthly_quota(0);

    let diagnosis = setup.diagnose(&[]).await;

    let (problem, fix) = failure(&diagnosis, "Airtable quota");
    assert!(
        problem.contains("PUBLIC_API_BILLING_LIMIT_EXCEEDED"),
        "{problem}"
    );
    assert!(fix.contains("monthly"), "{fix}");
    assert!(fix.contains("upgrade"), "{fix}");
    setup.close().await;
}

#[sqlx::test]
async fn the_home_tab_is_checked_by_publishing_a_reviewers_tab(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    setup.slack.add_user("U0DANA0001", "דנה");
    let reviewers = [("SLACK_REVIEWERS", "U0DANA0001")];

    let enabled = setup.diagnose(&reviewers).await;
    assert!(
        enabled.to_string().contains("✓ Slack Home tab"),
        "{enabled}"
    );
    assert!(setup.slack.home("U0DANA0001").is_some());

    setup.slack.set_home_tab_enabled(false);
    let disabled = setup.diagnose(&reviewers).await;
    let (problem, fix) = failure(&disabled, "Slack Home tab");
    assert!(problem.contains("not enabled"), "{problem}");
    assert!(
        fix.contains("App Home") && fix.contains("app_home_opened"),
        "{fix}"
    );

    // Without a reviewer's user id there is no way to tell: said, not failed.
    let unknown = setup.diagnose(&[]).await;
    assert!(unknown.healthy(), "{unknown}");
    assert!(
        unknown.to_string().contains("open the app's Home tab"),
        "{unknown}"
    );
    setup.close().await;
}

#[sqlx::test]
async fn doctor_says_whether_the_change_stream_is_on_and_which_scope_turns_it_on(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    let off = setup.diagnose(&[]).await;
    assert!(off.healthy(), "reading first is a working mode:\n{off}");
    let line = off
        .to_string()
        .lines()
        .find(|l| l.contains("Airtable change stream"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains("off:") && line.contains("webhook:manage"),
        "{line}"
    );

    setup.airtable.set_scopes(&[
        standins::airtable::SCOPE_RECORDS_READ,
        standins::airtable::SCOPE_RECORDS_WRITE,
        standins::airtable::SCOPE_SCHEMA_READ,
        standins::airtable::SCOPE_WEBHOOKS,
    ]);
    let on = setup.diagnose(&[]).await.to_string();
    assert!(on.contains("✓ Airtable change stream: on"), "{on}");
    setup.close().await;
}

/// A warning's problem and fix; panics when `name` did not warn.
fn warning(diagnosis: &Diagnosis, name: &str) -> (String, String) {
    diagnosis
        .checks
        .iter()
        .find_map(|check| match &check.outcome {
            Outcome::Warn { problem, fix } if check.name == name => {
                Some((problem.clone(), fix.clone()))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("{name} did not warn:\n{diagnosis}"))
}

/// TEMPORARY (held through PUBLIC by default) is warned of with the
/// statement that takes it away, and approvals nothing will sync are
/// counted with `tagbot enqueue` named; neither is a failure.
#[sqlx::test]
async fn temporary_tables_and_stranded_approvals_are_warned_of(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let setup = Setup::new(pool, options).await;
    let id = setup.db.suggestion("L1", "t1", 0.9).await;
    setup
        .db
        .force_status(id, "approved", "cli:ops")
        .await
        .unwrap();

    let diagnosis = setup.diagnose(&[]).await;
    assert!(diagnosis.healthy(), "{diagnosis}");
    let (problem, fix) = warning(&diagnosis, "temporary tables");
    assert!(problem.contains("temporary tables"), "{problem}");
    let database = setup.db.app_options.get_database().unwrap().to_owned();
    assert!(
        fix.contains(&format!(
            "REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC, \"tagbot_test_app\";"
        )),
        "{fix}"
    );
    let (problem, fix) = warning(&diagnosis, "approved tags queued");
    assert!(
        problem.starts_with("1 approved tag(s) are not queued"),
        "{problem}"
    );
    assert!(fix.contains("tagbot enqueue"), "{fix}");
    let (problem, fix) = warning(
        &setup.diagnose(&[("DRY_RUN", "true")]).await,
        "approved tags queued",
    );
    assert!(problem.contains("once DRY_RUN is off"), "{problem}");
    assert!(fix.contains("turn DRY_RUN off"), "{fix}");

    sqlx::query(&format!(
        "REVOKE TEMPORARY ON DATABASE \"{database}\" FROM PUBLIC"
    ))
    .execute(&setup.db.admin)
    .await
    .unwrap();
    let diagnosis = setup.diagnose(&[]).await;
    assert!(
        diagnosis
            .to_string()
            .contains("✓ temporary tables: the run-time role may not create them"),
        "{diagnosis}"
    );
    setup.close().await;
}
