//! The base the Airtable stand-in holds in memory: its tables, webhooks
//! and token, what callers spent of the rate limits and the monthly quota,
//! the scripted faults and the request log, and the clock tests move on.

use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::Value;

use super::rate_limit::{RateLimit, Window};
use super::tables::{self, Table, TagsFieldKind};
use super::webhooks::{self, Source};

/// The scopes of a personal access token (developers/web/api/scopes).
pub const SCOPE_RECORDS_READ: &str = "data.records:read";
pub const SCOPE_RECORDS_WRITE: &str = "data.records:write";
pub const SCOPE_SCHEMA_READ: &str = "schema.bases:read";
pub const SCOPE_WEBHOOKS: &str = "webhook:manage";

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
    /// The ids of the records a successful PATCH wrote, in body order.
    pub records_written: Vec<String>,
    /// The fields a successful PATCH wrote, as the request keyed them.
    pub keys_written: Vec<String>,
    /// The ids of the records a successful list answered with.
    pub records_read: Vec<String>,
}

/// A test's scripted answer to the next `remaining` requests with `method`
/// (and, when set, a path ending so).
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) method: Method,
    pub(super) path_ends_with: Option<String>,
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) remaining: usize,
}

#[derive(Debug)]
pub(super) struct Base {
    pub(super) base_id: String,
    pub(super) token: String,
    pub(super) scopes: Vec<String>,
    pub(super) tables: Vec<Table>,
    pub(super) rate: RateLimit,
    pub(super) per_base: Window,
    pub(super) per_token: Window,
    pub(super) penalized_until: Option<Instant>,
    /// (calls allowed this month, calls made).
    pub(super) monthly: Option<(u64, u64)>,
    pub(super) latency: Duration,
    pub(super) response_delay: Duration,
    pub(super) faults: Vec<Fault>,
    pub(super) log: Vec<LoggedRequest>,
    pub(super) next_id: u64,
    pub(super) hooks: webhooks::Hooks,
    /// Added to the wall clock: tests move time on to expire webhooks.
    pub(super) clock_offset: chrono::TimeDelta,
}

impl Base {
    /// `base_id` with its starting tables, accepting `token` with the
    /// scopes tagbot's README asks for.
    pub(super) fn new(base_id: &str, token: &str, tags: TagsFieldKind, rate: RateLimit) -> Base {
        Base {
            base_id: base_id.to_owned(),
            token: token.to_owned(),
            scopes: [SCOPE_RECORDS_READ, SCOPE_RECORDS_WRITE, SCOPE_SCHEMA_READ]
                .map(str::to_owned)
                .to_vec(),
            tables: tables::starting(tags),
            rate,
            per_base: Window::default(),
            per_token: Window::default(),
            penalized_until: None,
            monthly: None,
            latency: Duration::ZERO,
            response_delay: Duration::ZERO,
            faults: Vec::new(),
            log: Vec::new(),
            next_id: 1,
            hooks: webhooks::Hooks::default(),
            clock_offset: chrono::TimeDelta::zero(),
        }
    }

    pub(super) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + self.clock_offset
    }

    pub(super) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Hands changes to `table`'s cells to the webhooks.
    pub(super) fn record_changes(
        &mut self,
        table: &str,
        changes: &[webhooks::CellChange],
        source: &Source,
    ) {
        let now = self.now();
        let Base { hooks, tables, .. } = self;
        if let Some(table) = tables.iter().find(|t| t.id == table || t.name == table) {
            hooks.record(table, tables, changes, source, now);
        }
    }

    pub(super) fn new_record_id(&mut self) -> String {
        self.next_id += 1;
        format!("rec{:014}", self.next_id)
    }

    pub(super) fn table(&self, name_or_id: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }

    pub(super) fn table_mut(&mut self, name_or_id: &str) -> Option<&mut Table> {
        self.tables
            .iter_mut()
            .find(|t| t.name == name_or_id || t.id == name_or_id)
    }
}
