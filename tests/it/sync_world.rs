//! A test world for the sync worker: a fresh database (as in every test),
//! an Airtable stand-in on loopback, and settings pointing one at the other.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::airtable::{FakeAirtable, RateLimit, TagsFieldKind};
use tagbot::config::{AirtableSettings, Env, SyncSettings};
use tagbot::domain::SuggestionId;
use tagbot::review::Decision;
use tagbot::sync::Syncer;

use crate::helpers::{reviewer, TestDb};

pub const TOKEN: &str = "patAbCdEfGh123456.0123456789abcdef0123456789abcdef";
pub const BASE_ID: &str = "appTESTBASE000001";

pub struct World {
    pub db: TestDb,
    pub fake: FakeAirtable,
}

impl World {
    /// A base that lets tests run fast: 50 requests a second, a 2-second
    /// penalty after a burst.
    pub async fn new(pool: PgPoolOptions, options: PgConnectOptions, kind: TagsFieldKind) -> World {
        let rate = RateLimit {
            requests: 50,
            window: Duration::from_secs(1),
            penalty: Duration::from_secs(2),
            ..RateLimit::default()
        };
        World::with_rate(pool, options, kind, rate).await
    }

    pub async fn with_rate(
        pool: PgPoolOptions,
        options: PgConnectOptions,
        kind: TagsFieldKind,
        rate: RateLimit,
    ) -> World {
        let db = TestDb::new(pool, options).await;
        let fake = FakeAirtable::start(BASE_ID, TOKEN, kind, rate)
            .await
            .expect("start the Airtable stand-in");
        World { db, fake }
    }

    pub fn airtable(&self, extra: &[(&str, &str)]) -> AirtableSettings {
        let mut pairs = vec![
            ("AIRTABLE_TOKEN", TOKEN),
            ("AIRTABLE_BASE_ID", BASE_ID),
            ("AIRTABLE_API_URL", self.fake.url.as_str()),
        ];
        pairs.extend_from_slice(extra);
        AirtableSettings::from_env(&Env::from_pairs(pairs)).expect("valid Airtable settings")
    }

    pub fn syncer(&self, settings: SyncSettings) -> Syncer {
        self.syncer_with(settings, &[])
    }

    pub fn syncer_with(&self, settings: SyncSettings, extra: &[(&str, &str)]) -> Syncer {
        Syncer::new(self.db.app.clone(), self.airtable(extra), settings).expect("build a syncer")
    }

    /// The common fixture: tag t1 (פילוסופיה) in the Tags table, lecture
    /// L1 in Lectures, and L1/t1 approved. Returns the tag's and the
    /// lecture's record ids and the suggestion.
    pub async fn one_approved(&self) -> (String, String, SuggestionId) {
        let tag = self.fake.add_tag("t1", "פילוסופיה");
        let record = self.fake.add_lecture("L1", "הרצאה");
        (tag, record, self.approved("L1", "t1").await)
    }

    /// A suggestion approved by a reviewer (which enqueues its sync item).
    pub async fn approved(&self, lecture: &str, tag: &str) -> SuggestionId {
        let id = self.db.suggestion(lecture, tag, 0.9).await;
        let decision = self
            .db
            .review()
            .approve(id, &reviewer("U0REVIEW", "רותם"))
            .await
            .expect("approve");
        assert!(matches!(decision, Decision::Applied(_)), "{decision:?}");
        id
    }

    /// The record ids of every successful PATCH, one list per request.
    pub fn patches(&self) -> Vec<Vec<String>> {
        self.fake
            .requests()
            .into_iter()
            .filter(|r| r.method == "PATCH" && r.status == 200)
            .map(|r| r.records_written)
            .collect()
    }

    pub async fn item(&self, lecture: &str, tag: &str) -> (String, i32, Option<String>) {
        sqlx::query_as(
            "SELECT status, attempt, last_error FROM airtable_sync_items
             WHERE lecture_external_id = $1 AND tag_id = $2",
        )
        .bind(lecture)
        .bind(tag)
        .fetch_one(&self.db.app)
        .await
        .expect("read the sync item")
    }

    /// Leases held on lectures (none once a run is over).
    pub async fn leases(&self) -> i64 {
        self.db
            .count("SELECT count(*) FROM airtable_sync_leases")
            .await
    }

    pub async fn close(self) {
        self.fake.shutdown();
        self.db.close().await;
    }
}

/// Settings for tests: quick backoff, a fast shared budget, long leases.
pub fn fast() -> SyncSettings {
    SyncSettings {
        requests_per_second: 40,
        rate_limit_pause: Duration::from_secs(1),
        lease: Duration::from_secs(30),
        max_attempts: 5,
        backoff_base: Duration::from_millis(20),
        poll_interval: Duration::from_secs(3600),
        request_timeout: Duration::from_secs(10),
        dry_run: false,
        host_name: "tagbot-test".to_owned(),
        done_retention: None,
    }
}

/// Airtable's error body for a status.
pub fn airtable_error(kind: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "type": kind, "message": message } })
}
