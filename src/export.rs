//! `tagbot export`: every decided suggestion as a training example, in
//! JSON Lines or CSV, streamed from the database to a file (or stdout) in
//! constant memory, with a progress bar on a terminal.
//!
//! A file is written beside its final name and renamed at the end, so an
//! export that fails leaves no half-written file behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use sqlx::PgPool;

use crate::storage;
use crate::storage::exports;

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one row per example (RFC 4180 quoting).
    Csv,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--since {0:?} is not a date: give YYYY-MM-DD (midnight UTC) or an RFC 3339 time like 2026-11-01T09:00:00Z")]
    BadSince(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("database error during the export: {0}")]
    Database(#[from] storage::Error),
}

/// `--since`: a date (midnight UTC) or an RFC 3339 time.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, ExportError> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc());
        }
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ExportError::BadSince(text.to_owned()))
}

/// Where the examples go.
pub enum Target {
    Stdout,
    File(PathBuf),
}

/// Writes every example decided at or after `since` to `target`; returns
/// how many. `progress` follows along when given.
pub async fn export(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    format: Format,
    target: &Target,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64, ExportError> {
    if let Some(bar) = progress {
        let total = exports::count(pool, since).await?;
        bar.set_length(u64::try_from(total).unwrap_or(0));
    }
    match target {
        Target::Stdout => {
            let stdout = io::stdout();
            let written = write_all(pool, since, format, stdout.lock(), progress).await;
            written.map_err(|err| err.at("standard output"))
        }
        Target::File(path) => {
            let partial = partial_path(path);
            let file = File::create(&partial).map_err(|source| ExportError::Write {
                path: partial.display().to_string(),
                source,
            })?;
            let written = write_all(pool, since, format, file, progress).await;
            match written {
                Ok(count) => {
                    std::fs::rename(&partial, path).map_err(|source| ExportError::Write {
                        path: path.display().to_string(),
                        source,
                    })?;
                    Ok(count)
                }
                Err(err) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(err.at(&path.display().to_string()))
                }
            }
        }
    }
}

/// `FILE` is written as `FILE.partial` until it is complete.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

impl ExportError {
    /// Names the destination of a write error.
    fn at(self, path: &str) -> ExportError {
        match self {
            ExportError::Write { source, .. } => ExportError::Write {
                path: path.to_owned(),
                source,
            },
            other => other,
        }
    }
}

fn io_error(source: io::Error) -> ExportError {
    ExportError::Write {
        path: String::new(),
        source,
    }
}

/// Streams the examples into `out` in `format`.
async fn write_all<W: Write>(
    pool: &PgPool,
    since: Option<DateTime<Utc>>,
    format: Format,
    out: W,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<u64, ExportError> {
    let mut rows = exports::examples(pool, since);
    let out = BufWriter::new(out);
    let mut count = 0u64;
    match format {
        Format::Jsonl => {
            let mut out = out;
            while let Some(example) = rows.try_next().await? {
                serde_json::to_writer(&mut out, &example)?;
                out.write_all(b"\n").map_err(io_error)?;
                count += 1;
                tick(progress, count);
            }
            out.flush().map_err(io_error)?;
        }
        Format::Csv => {
            let mut out = csv::Writer::from_writer(out);
            while let Some(mut example) = rows.try_next().await? {
                example.votes = example.votes.into_cell();
                out.serialize(&example)?;
                count += 1;
                tick(progress, count);
            }
            if count == 0 {
                // A header even for nothing: the file says what it holds.
                out.write_record(HEADER)?;
            }
            out.flush().map_err(io_error)?;
        }
    }
    if let Some(bar) = progress {
        bar.set_position(count);
    }
    Ok(count)
}

/// The CSV columns, as `Example` serializes them.
const HEADER: [&str; 18] = [
    "suggestion_id",
    "lecture_id",
    "lecture_title",
    "tag_id",
    "tag_name",
    "score",
    "model",
    "rationale",
    "decision",
    "reject_reason",
    "reviewer",
    "reviewer_name",
    "decided_at",
    "status",
    "synced_at",
    "removed_in_airtable_at",
    "removed_in_airtable_by",
    "votes",
];

fn tick(progress: Option<&indicatif::ProgressBar>, count: u64) {
    if let Some(bar) = progress {
        if count % 1_000 == 0 {
            bar.set_position(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::exports::{Example, Votes};

    #[test]
    fn since_takes_a_date_or_a_time_and_names_what_it_wants() {
        assert_eq!(
            parse_since("2026-11-01").unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_since("2026-11-01T09:30:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-11-01T07:30:00+00:00"
        );
        let err = parse_since("last week").unwrap_err().to_string();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
    }

    #[test]
    fn the_csv_header_names_every_field_in_order() {
        let example = Example {
            suggestion_id: 1,
            lecture_id: "L1".into(),
            lecture_title: "t".into(),
            tag_id: "a".into(),
            tag_name: "n".into(),
            score: 0.5,
            model: "m".into(),
            rationale: "r".into(),
            decision: "rejected".into(),
            reject_reason: Some(crate::domain::RejectReason::TooBroad),
            reviewer: "slack:U1".into(),
            reviewer_name: None,
            decided_at: Utc::now(),
            status: "rejected".into(),
            synced_at: None,
            removed_in_airtable_at: None,
            removed_in_airtable_by: None,
            votes: Votes::List(serde_json::json!([{"voter": "slack:U1", "verdict": "reject"}])),
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        let as_json = serde_json::to_value(&example).unwrap();
        assert_eq!(
            as_json["votes"][0]["verdict"], "reject",
            "a list in JSON Lines"
        );
        let mut example = example;
        example.votes = example.votes.into_cell();
        out.serialize(&example).unwrap();
        let text = String::from_utf8(out.into_inner().unwrap()).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), HEADER.join(","));
        let row = lines.next().unwrap();
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[9], "too_broad", "by its stored name");
        assert!(
            row.ends_with(r#""[{""verdict"":""reject"",""voter"":""slack:U1""}]""#),
            "one JSON cell: {row}"
        );
    }
}
