//! The end-of-run report: what a sync run did, stored per run in
//! `sync_runs` and printed by `tagbot report [--json]`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

/// Lectures listed by name in a report; the count covers the rest.
const MAX_LISTED: i64 = 50;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run_id: String,
    pub worker_id: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// Reviewer decisions recorded while the run went on.
    pub approved: i64,
    pub rejected: i64,
    /// Suggestions this run synced (written now, or found already there).
    pub synced: u64,
    /// Of those, how many needed a write.
    pub written: u64,
    /// Transient failures that will be tried again.
    pub retried: u64,
    /// Suggestions this run failed for good.
    pub failed: u64,
    /// Why items failed (permanent and transient), most frequent first.
    pub failure_reasons: Vec<ReasonCount>,
    /// Lectures that still have approved tags not yet in Airtable.
    pub unsynced_lectures: Vec<String>,
    pub unsynced_lecture_count: i64,
    pub requests: u64,
    pub rate_limited: u64,
    /// Why the run stopped early, if it did.
    pub aborted: Option<String>,
    /// Dry-run: the writes that would have been sent.
    pub dry_run_payloads: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Groups failure messages by their family: the text before the first ':'
/// (`lecture_missing`, `tag_missing`, `rate_limit`, `validation`, ...).
pub fn count_reasons<'a>(messages: impl Iterator<Item = &'a str>) -> Vec<ReasonCount> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for message in messages {
        let family = message.split(':').next().unwrap_or(message).trim();
        *counts.entry(family).or_default() += 1;
    }
    let mut reasons: Vec<ReasonCount> = counts
        .into_iter()
        .map(|(reason, count)| ReasonCount {
            reason: reason.to_owned(),
            count,
        })
        .collect();
    reasons.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    reasons
}

impl RunReport {
    /// The report of a run that has not done anything yet.
    pub fn new(
        run_id: String,
        worker_id: String,
        dry_run: bool,
        started_at: DateTime<Utc>,
    ) -> RunReport {
        RunReport {
            run_id,
            worker_id,
            dry_run,
            started_at,
            finished_at: started_at,
            duration_ms: 0,
            approved: 0,
            rejected: 0,
            synced: 0,
            written: 0,
            retried: 0,
            failed: 0,
            failure_reasons: Vec::new(),
            unsynced_lectures: Vec::new(),
            unsynced_lecture_count: 0,
            requests: 0,
            rate_limited: 0,
            aborted: None,
            dry_run_payloads: Vec::new(),
        }
    }

    /// Whether the run touched anything worth keeping a report of.
    pub fn did_something(&self) -> bool {
        self.synced + self.retried + self.failed > 0
            || !self.dry_run_payloads.is_empty()
            || self.aborted.is_some()
    }

    /// Fills in what the database knows: decisions during the run and the
    /// lectures still waiting for Airtable.
    pub async fn add_database_view(&mut self, pool: &PgPool) -> Result<(), sqlx::Error> {
        let (approved, rejected): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE action = 'approve'), count(*) FILTER (WHERE action = 'reject')
             FROM events WHERE created_at BETWEEN $1 AND $2",
        )
        .bind(self.started_at)
        .bind(self.finished_at)
        .fetch_one(pool)
        .await?;
        self.approved = approved;
        self.rejected = rejected;
        self.unsynced_lecture_count = sqlx::query_scalar(
            "SELECT count(DISTINCT lecture_external_id) FROM lecture_tag_suggestions WHERE status = 'approved'",
        )
        .fetch_one(pool)
        .await?;
        self.unsynced_lectures = sqlx::query_scalar(
            "SELECT DISTINCT lecture_external_id FROM lecture_tag_suggestions
             WHERE status = 'approved' ORDER BY 1 LIMIT $1",
        )
        .bind(MAX_LISTED)
        .fetch_all(pool)
        .await?;
        Ok(())
    }

    pub async fn store(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sync_runs (worker_id, dry_run, started_at, finished_at, report)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&self.worker_id)
        .bind(self.dry_run)
        .bind(self.started_at)
        .bind(self.finished_at)
        .bind(sqlx::types::Json(self))
        .execute(pool)
        .await?;
        Ok(())
    }

    /// The most recent stored report.
    pub async fn latest(pool: &PgPool) -> Result<Option<RunReport>, sqlx::Error> {
        let row: Option<sqlx::types::Json<RunReport>> = sqlx::query_scalar(
            "SELECT report FROM sync_runs ORDER BY finished_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(pool)
        .await?;
        Ok(row.map(|json| json.0))
    }
}

/// Text from elsewhere (Airtable's messages, lecture ids) on one line of
/// the report: a line break in it cannot pose as a line of the report.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Sync run {}{} — {} to {} ({:.1} s, worker {})",
            self.run_id,
            if self.dry_run {
                " (dry run: nothing written)"
            } else {
                ""
            },
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.finished_at.format("%H:%M:%S"),
            self.duration_ms as f64 / 1000.0,
            self.worker_id
        )?;
        writeln!(
            f,
            "  decisions during the run: {} approved, {} rejected",
            self.approved, self.rejected
        )?;
        writeln!(
            f,
            "  synced: {} ({} written, {} already in Airtable)",
            self.synced,
            self.written,
            self.synced.saturating_sub(self.written)
        )?;
        writeln!(
            f,
            "  failed: {}   will retry: {}",
            self.failed, self.retried
        )?;
        if !self.failure_reasons.is_empty() {
            let reasons: Vec<String> = self
                .failure_reasons
                .iter()
                .map(|r| format!("{} ×{}", one_line(&r.reason), r.count))
                .collect();
            writeln!(f, "  failure reasons: {}", reasons.join(", "))?;
        }
        writeln!(
            f,
            "  Airtable requests: {}   429s: {}",
            self.requests, self.rate_limited
        )?;
        if self.unsynced_lecture_count > 0 {
            let more = self.unsynced_lecture_count - self.unsynced_lectures.len() as i64;
            write!(
                f,
                "  lectures with approved tags not yet in Airtable: {} ({}",
                self.unsynced_lecture_count,
                self.unsynced_lectures
                    .iter()
                    .map(|id| one_line(id))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            if more > 0 {
                write!(f, ", and {more} more")?;
            }
            writeln!(f, ")")?;
        } else {
            writeln!(f, "  every approved tag is in Airtable")?;
        }
        if let Some(reason) = &self.aborted {
            writeln!(f, "  stopped early: {}", one_line(reason))?;
        }
        for payload in &self.dry_run_payloads {
            writeln!(f, "  would write: {payload}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_counted_by_family_most_frequent_first() {
        let reasons = count_reasons(
            [
                "tag_missing: t1",
                "lecture_missing: L1",
                "tag_missing: t2",
                "validation: Airtable answered 422 X",
            ]
            .into_iter(),
        );
        let flat: Vec<(&str, u64)> = reasons
            .iter()
            .map(|r| (r.reason.as_str(), r.count))
            .collect();
        assert_eq!(
            flat,
            vec![
                ("tag_missing", 2),
                ("lecture_missing", 1),
                ("validation", 1)
            ]
        );
    }
}
