//! Test databases: the owner's pool (migrations, catalogue fixtures), the
//! run-time role's pool (everything tagbot itself does), and fixtures.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use tagbot::config::ReviewSettings;
use tagbot::domain::{Actor, SuggestionId};
use tagbot::review::Review;

/// A login role in `tagbot_runtime`, shared by every test database.
pub const APP_ROLE: &str = "tagbot_test_app";
pub const APP_PASSWORD: &str = "tagbot_test";

pub struct TestDb {
    /// Connected as the owner (a superuser in tests).
    pub admin: PgPool,
    /// Connected as the restricted run-time role.
    pub app: PgPool,
    pub app_options: PgConnectOptions,
}

impl TestDb {
    pub async fn new(_: PgPoolOptions, options: PgConnectOptions) -> TestDb {
        let admin = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await
            .expect("connect as owner");
        ensure_login_role(&admin, APP_ROLE).await;
        let app_options = options.username(APP_ROLE).password(APP_PASSWORD);
        let app = PgPoolOptions::new()
            .max_connections(24)
            .connect_with(app_options.clone())
            .await
            .expect("connect as the run-time role");
        TestDb {
            admin,
            app,
            app_options,
        }
    }

    /// Runs the `tagbot` binary with `args` against this database as the
    /// run-time role, from a directory with no `.env`.
    pub async fn tagbot(&self, args: &'static [&'static str]) -> std::process::Output {
        let url = self.app_url();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
                .args(args)
                .current_dir(std::env::temp_dir())
                .env("DATABASE_URL", url)
                .output()
                .expect("run tagbot")
        })
        .await
        .expect("the tagbot process")
    }

    /// A `DATABASE_URL` for this database as the run-time role, for
    /// running the binary against it.
    pub fn app_url(&self) -> String {
        let options = &self.app_options;
        format!(
            "postgres://{APP_ROLE}:{APP_PASSWORD}@{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("postgres")
        )
    }

    /// A `DATABASE_URL` for this database as the owner (a superuser in
    /// tests): what a misconfigured deployment would use.
    pub fn owner_url(&self) -> String {
        let server = std::env::var("DATABASE_URL").expect("DATABASE_URL names the test server");
        let mut url = url::Url::parse(&server).expect("DATABASE_URL is a URL");
        url.set_path(self.app_options.get_database().unwrap_or("postgres"));
        url.to_string()
    }

    /// Closes both pools so `#[sqlx::test]` can drop the database.
    pub async fn close(self) {
        self.app.close().await;
        self.admin.close().await;
    }

    /// The review operations as before undo: decisions final, approved
    /// tags due for Airtable at once (see [`no_undo`]).
    pub fn review(&self) -> Review {
        Review::new(self.app.clone(), no_undo())
    }

    pub fn review_with(&self, settings: ReviewSettings) -> Review {
        Review::new(self.app.clone(), settings)
    }

    /// A catalogue lecture (the owner writes the source tables).
    pub async fn lecture(&self, id: &str, title: &str) {
        sqlx::query("INSERT INTO enriched_lectures (lecture_external_id, title) VALUES ($1, $2)")
            .bind(id)
            .bind(title)
            .execute(&self.admin)
            .await
            .expect("insert lecture");
    }

    pub async fn tag(&self, id: &str, name: &str) {
        sqlx::query("INSERT INTO tags (tag_id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&self.admin)
            .await
            .expect("insert tag");
    }

    /// A pending suggestion, inserted as the tagging pipeline would; the
    /// lecture and tag are created when missing.
    pub async fn suggestion(&self, lecture: &str, tag: &str, score: f64) -> SuggestionId {
        sqlx::query(
            "INSERT INTO enriched_lectures (lecture_external_id, title) VALUES ($1, 'הרצאה ' || $1)
             ON CONFLICT DO NOTHING",
        )
        .bind(lecture)
        .execute(&self.admin)
        .await
        .expect("insert lecture");
        sqlx::query(
            "INSERT INTO tags (tag_id, name) VALUES ($1, 'תגית ' || $1) ON CONFLICT DO NOTHING",
        )
        .bind(tag)
        .execute(&self.admin)
        .await
        .expect("insert tag");
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, rationale, suggested_by)
             VALUES ($1, $2, $3, 'because', 'test-model') RETURNING id",
        )
        .bind(lecture)
        .bind(tag)
        .bind(score)
        .fetch_one(&self.app)
        .await
        .expect("insert suggestion");
        SuggestionId::new(id).expect("positive id")
    }

    pub async fn status(&self, id: SuggestionId) -> String {
        sqlx::query_scalar("SELECT status FROM lecture_tag_suggestions WHERE id = $1")
            .bind(id.get())
            .fetch_one(&self.app)
            .await
            .expect("read status")
    }

    /// The actions of a suggestion's events, oldest first.
    pub async fn actions(&self, id: SuggestionId) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM events WHERE suggestion_id = $1 ORDER BY id")
            .bind(id.get())
            .fetch_all(&self.app)
            .await
            .expect("read events")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.admin)
            .await
            .expect("count")
    }

    /// An approved suggestion failed for good with `reason`, recorded as
    /// the sync worker records it (status, `last_error`, the event's
    /// details).
    pub async fn fail_as_worker(&self, id: SuggestionId, reason: &str) {
        self.force_status(id, "approved", "cli:test")
            .await
            .expect("approve");
        self.fail_as_worker_now(id, reason).await;
    }

    /// An approved suggestion failed for good with `reason`, as
    /// [`Self::fail_as_worker`] without approving it first.
    pub async fn fail_as_worker_now(&self, id: SuggestionId, reason: &str) {
        let mut tx = self.app.begin().await.expect("begin");
        sqlx::query(
            "SELECT set_config('tagbot.actor', 'worker', true), set_config('tagbot.details', $1, true)",
        )
        .bind(serde_json::json!({ "error": reason }).to_string())
        .execute(&mut *tx)
        .await
        .expect("set the actor");
        sqlx::query(
            "UPDATE lecture_tag_suggestions SET status = 'failed', last_error = $2 WHERE id = $1",
        )
        .bind(id.get())
        .bind(reason)
        .execute(&mut *tx)
        .await
        .expect("fail the suggestion");
        tx.commit().await.expect("commit");
    }

    /// A stored sync run report (run r1 of worker w1): `fields` over a
    /// report that did nothing.
    pub async fn store_run_report(&self, fields: serde_json::Value) {
        let mut report = serde_json::json!({
            "run_id": "r1", "worker_id": "w1", "dry_run": false,
            "started_at": "2026-11-25T09:00:00Z", "finished_at": "2026-11-25T09:00:02Z",
            "duration_ms": 2000, "approved": 0, "rejected": 0, "synced": 0, "written": 0,
            "retried": 0, "failed": 0, "failure_reasons": [],
            "unsynced_lectures": [], "unsynced_lecture_count": 0, "requests": 0,
            "rate_limited": 0, "aborted": null, "dry_run_payloads": []
        });
        if let (Some(report), Some(fields)) = (report.as_object_mut(), fields.as_object()) {
            report.extend(fields.clone());
        }
        sqlx::query(
            "INSERT INTO sync_runs (worker_id, dry_run, started_at, finished_at, report)
             VALUES ('w1', false, now(), now(), $1)",
        )
        .bind(report)
        .execute(&self.app)
        .await
        .expect("store the report");
    }

    /// Moves a suggestion along a legal path, as `actor`, through raw SQL.
    pub async fn force_status(
        &self,
        id: SuggestionId,
        status: &str,
        actor: &str,
    ) -> Result<(), sqlx::Error> {
        self.hand_update(id, status, &[("tagbot.actor", actor)])
            .await
    }

    /// A hand-written status change as the run-time role, in a
    /// transaction that sets `settings` (`tagbot.actor`,
    /// `tagbot.undo_secs`, `tagbot.undo_as_lead`) first.
    pub async fn hand_update(
        &self,
        id: SuggestionId,
        status: &str,
        settings: &[(&str, &str)],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.app.begin().await?;
        for (name, value) in settings {
            sqlx::query("SELECT set_config($1, $2, true)")
                .bind(name)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("UPDATE lecture_tag_suggestions SET status = $2 WHERE id = $1")
            .bind(id.get())
            .bind(status)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }
}

/// Review settings without an undo window (`TAGBOT_UNDO_SECS=0`): what
/// tests that sync right after deciding want. Undo tests set their own.
pub fn no_undo() -> ReviewSettings {
    ReviewSettings {
        undo_window: std::time::Duration::ZERO,
        ..ReviewSettings::default()
    }
}

pub fn reviewer(user: &str, name: &str) -> Actor {
    Actor::slack(user, Some(name.to_owned())).expect("valid Slack user id")
}

/// Creates a login role in `tagbot_runtime` (shared by every test database).
pub async fn ensure_login_role(admin: &PgPool, role: &str) {
    standins::scratch::ensure_login_role(admin, role, APP_PASSWORD, tagbot::storage::RUNTIME_ROLE)
        .await
        .expect("create the login role");
}
