//! The training-data export's query: every decided suggestion with its
//! lecture, tag, the decision from the audit log (the last approve or
//! reject event: who, when), why it was rejected (the row's
//! `reject_reason`, which the status trigger keeps: no look into the
//! event's details), when it reached Airtable, and whether someone
//! removed it there since, and the votes that made the decision (the
//! decision event's `details.votes`, written by the status trigger in the
//! second-opinion band). Rows stream in suggestion order; it writes
//! nothing.

use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use super::Error;
use crate::domain::RejectReason;

/// One decided suggestion as a training example.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Example {
    pub suggestion_id: i64,
    pub lecture_id: String,
    pub lecture_title: String,
    pub tag_id: String,
    pub tag_name: String,
    pub score: f64,
    pub model: String,
    pub rationale: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// Why it was rejected, when the reviewer said (none for an approval).
    pub reject_reason: Option<RejectReason>,
    /// The reviewer's actor id (`slack:U…`, `cli:…`) and display name.
    pub reviewer: String,
    pub reviewer_name: Option<String>,
    pub decided_at: DateTime<Utc>,
    /// The suggestion's status now (`approved`, `synced`, `failed`, `rejected`).
    pub status: String,
    pub synced_at: Option<DateTime<Utc>>,
    pub removed_in_airtable_at: Option<DateTime<Utc>>,
    pub removed_in_airtable_by: Option<String>,
    /// The votes on the decision (`voter`, `voter_name`, `verdict`,
    /// `reason`, `voted_at`): empty when one reviewer decided.
    #[sqlx(json)]
    pub votes: Votes,
}

/// An example's votes: a list in JSON Lines; in CSV, whose cells hold no
/// lists, the list's JSON text in one cell ([`Votes::into_cell`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Votes {
    List(Value),
    Cell(String),
}

impl Votes {
    pub fn into_cell(self) -> Votes {
        match self {
            Votes::List(list) => Votes::Cell(list.to_string()),
            cell => cell,
        }
    }
}

/// The examples' statement, unordered (counted as is, streamed in order).
macro_rules! examples {
    () => {
        "
    SELECT s.id AS suggestion_id, s.lecture_external_id AS lecture_id,
           coalesce(l.title, '') AS lecture_title, s.tag_id, coalesce(t.name, s.tag_id) AS tag_name,
           s.score, s.suggested_by AS model, s.rationale,
           CASE d.action WHEN 'approve' THEN 'approved' ELSE 'rejected' END AS decision,
           s.reject_reason,
           d.actor AS reviewer, d.actor_name AS reviewer_name, d.created_at AS decided_at,
           s.status, sy.created_at AS synced_at,
           dr.removed_at AS removed_in_airtable_at,
           coalesce(nullif(btrim(dr.removed_by_name), ''), dr.removed_by_email, dr.source)
               AS removed_in_airtable_by,
           coalesce(d.votes, '[]'::jsonb) AS votes
    FROM lecture_tag_suggestions s
    JOIN LATERAL (SELECT e.action, e.actor, e.actor_name, e.created_at,
                         e.details->'votes' AS votes FROM events e
                  WHERE e.suggestion_id = s.id AND e.action IN ('approve', 'reject')
                  ORDER BY e.id DESC LIMIT 1) d ON true
    LEFT JOIN enriched_lectures l ON l.lecture_external_id = s.lecture_external_id
    LEFT JOIN tags t ON t.tag_id = s.tag_id
    LEFT JOIN LATERAL (SELECT e.created_at FROM events e
                       WHERE e.suggestion_id = s.id AND e.action = 'sync_ok'
                       ORDER BY e.id DESC LIMIT 1) sy ON true
    LEFT JOIN LATERAL (SELECT x.removed_at, x.removed_by_name, x.removed_by_email, x.source
                       FROM airtable_drift x WHERE x.suggestion_id = s.id
                       ORDER BY x.removed_at DESC LIMIT 1) dr ON true
    WHERE s.status <> 'pending' AND ($1::timestamptz IS NULL OR d.created_at >= $1)"
    };
}

/// Every decided suggestion decided at or after `since`, by id, as a
/// stream: memory stays flat however many there are.
pub fn examples(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
) -> BoxStream<'_, Result<Example, Error>> {
    sqlx::query_as(concat!(examples!(), " ORDER BY s.id"))
        .bind(since)
        .fetch(pool)
        .map_err(Error::from)
        .boxed()
}

/// How many examples [`examples`] will give, for a progress bar.
pub async fn count(pool: &PgPool, since: Option<DateTime<Utc>>) -> Result<i64, Error> {
    sqlx::query_scalar(concat!("SELECT count(*) FROM (", examples!(), ") x"))
        .bind(since)
        .fetch_one(pool)
        .await
        .map_err(Error::from)
}
