//! The end-of-run report: what a sync run did, stored per run in
//! `sync_runs` and printed by `tagbot report [--json]`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;

use crate::domain::{Failure, FailureCategory, SuggestionStatus};
use crate::storage::{drift, events, repairs, runs, suggestions, sync_queue};
use crate::text::one_line;

/// Lectures listed by name in a report; the count covers the rest.
const MAX_LISTED: i64 = 50;
/// Removed tags listed in a report; the count covers the rest.
const MAX_DRIFT_LISTED: i64 = 10;

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
    /// The change stream: "on", or "off: why" (empty in reports from
    /// before it existed).
    #[serde(default)]
    pub change_stream: String,
    /// Batches written from the stream's cells, without reading first.
    #[serde(default)]
    pub reads_skipped: u64,
    /// tagbot writes the stream showed to have overwritten people's
    /// edits, each repaired.
    #[serde(default)]
    pub repairs: u64,
    /// Synced tags the stream showed people removed in Airtable.
    #[serde(default)]
    pub drift: u64,
    /// From the database, in the day before the run ended (whichever
    /// process found them): repairs, and synced tags people removed, the
    /// latest listed.
    #[serde(default)]
    pub repairs_last_day: i64,
    #[serde(default)]
    pub drift_last_day: i64,
    #[serde(default)]
    pub recent_drift: Vec<DriftLine>,
    /// Approved tags held back for their undo window when the run ended
    /// (`TAGBOT_UNDO_SECS`): left for a later run.
    #[serde(default)]
    pub held: u64,
}

/// A synced tag someone removed in Airtable, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftLine {
    pub lecture: String,
    pub tag: String,
    pub removed_by: String,
    pub removed_at: DateTime<Utc>,
}

impl From<drift::Drift> for DriftLine {
    fn from(d: drift::Drift) -> DriftLine {
        DriftLine {
            lecture: d.lecture_external_id,
            tag: d.tag_id,
            removed_by: d.removed_by,
            removed_at: d.removed_at,
        }
    }
}

impl fmt::Display for DriftLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} removed by {} at {}",
            one_line(&self.lecture),
            one_line(&self.tag),
            one_line(&self.removed_by),
            self.removed_at.format("%Y-%m-%d %H:%M UTC")
        )
    }
}

/// `tagbot report --drift`: the synced tags people removed in Airtable,
/// newest first, at most `limit`.
pub async fn drift_lines(
    pool: &PgPool,
    limit: i64,
) -> Result<Vec<DriftLine>, crate::storage::Error> {
    Ok(drift::latest(pool, limit)
        .await?
        .into_iter()
        .map(DriftLine::from)
        .collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Counts failures by category, most frequent first (ties by name).
pub fn count_reasons<'a>(failures: impl Iterator<Item = &'a Failure>) -> Vec<ReasonCount> {
    let mut counts: BTreeMap<FailureCategory, u64> = BTreeMap::new();
    for failure in failures {
        *counts.entry(failure.category).or_default() += 1;
    }
    let mut reasons: Vec<ReasonCount> = counts
        .into_iter()
        .map(|(category, count)| ReasonCount {
            reason: category.as_str().to_owned(),
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
            change_stream: String::new(),
            reads_skipped: 0,
            repairs: 0,
            drift: 0,
            repairs_last_day: 0,
            drift_last_day: 0,
            recent_drift: Vec::new(),
            held: 0,
        }
    }

    /// Counts what a read of the change stream found.
    pub fn count_stream(&mut self, done: &super::stream::CatchUp) {
        self.repairs += done.repairs_found as u64;
        self.drift += done.drift;
    }

    /// Whether the run touched anything worth keeping a report of.
    pub fn did_something(&self) -> bool {
        self.synced + self.retried + self.failed + self.repairs + self.drift > 0
            || !self.dry_run_payloads.is_empty()
            || self.aborted.is_some()
    }

    /// Fills in what the database knows: decisions during the run and the
    /// lectures still waiting for Airtable.
    pub async fn add_database_view(&mut self, pool: &PgPool) -> Result<(), crate::storage::Error> {
        (self.approved, self.rejected) =
            events::decisions_between(pool, self.started_at, self.finished_at).await?;
        self.unsynced_lecture_count =
            suggestions::lectures_in(pool, SuggestionStatus::Approved).await?;
        self.unsynced_lectures =
            suggestions::first_lectures_in(pool, SuggestionStatus::Approved, MAX_LISTED).await?;
        self.held = sync_queue::held_count(pool).await?;
        let day_before = self.finished_at - chrono::TimeDelta::days(1);
        self.repairs_last_day = repairs::count_since(pool, day_before).await?;
        self.drift_last_day = drift::count_since(pool, day_before).await?;
        self.recent_drift = drift::since(pool, day_before, MAX_DRIFT_LISTED)
            .await?
            .into_iter()
            .map(DriftLine::from)
            .collect();
        Ok(())
    }

    pub async fn store(&self, pool: &PgPool) -> Result<(), crate::storage::Error> {
        let columns = runs::RunColumns {
            worker_id: &self.worker_id,
            dry_run: self.dry_run,
            started_at: self.started_at,
            finished_at: self.finished_at,
        };
        runs::store(pool, columns, self).await
    }

    /// The most recent stored report.
    pub async fn latest(pool: &PgPool) -> Result<Option<RunReport>, crate::storage::Error> {
        runs::latest(pool).await
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_counts(f)?;
        self.write_stream(f)?;
        self.write_left_over(f)
    }
}

/// The report's text, in three parts.
impl RunReport {
    /// The run, the decisions meanwhile, what was synced or failed and
    /// why, and the requests it took.
    fn write_counts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
        )
    }

    /// What the change stream did, in this run and in the day before it.
    fn write_stream(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.change_stream.is_empty() {
            writeln!(f, "  change stream: {}", one_line(&self.change_stream))?;
        }
        if self.reads_skipped + self.repairs + self.drift > 0 {
            writeln!(
                f,
                "  batches written without reading first: {}   people's edits repaired: {}   synced tags removed in Airtable: {}",
                self.reads_skipped, self.repairs, self.drift
            )?;
        }
        if self.repairs_last_day + self.drift_last_day > 0 {
            writeln!(
                f,
                "  in Airtable in the last day: {} write(s) found to have overwritten people's edits, each put right; {} synced tag(s) removed by people, left removed",
                self.repairs_last_day, self.drift_last_day
            )?;
            for line in &self.recent_drift {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }

    /// What is left for Airtable, why the run stopped early, and what a
    /// dry run would have written.
    fn write_left_over(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            if self.held > 0 {
                writeln!(
                    f,
                    "  held for the undo window: {} approved tag(s), left for a later run",
                    self.held
                )?;
            }
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
    fn reasons_are_counted_by_category_most_frequent_first() {
        let failures = [
            Failure::new(FailureCategory::TagMissing, "t1"),
            Failure::new(FailureCategory::LectureMissing, "L1"),
            Failure::new(FailureCategory::TagMissing, "t2"),
            Failure::new(FailureCategory::Validation, "Airtable answered 422 X"),
        ];
        let reasons = count_reasons(failures.iter());
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
