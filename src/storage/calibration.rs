//! Calibration's reads: decided suggestions summed per model, tag and
//! score hundredth, with how many were approved, synced, rejected for
//! each reason (migration 0020), and removed in Airtable since.
//! `calibration_bins` is kept by a trigger as decisions happen (migration
//! 0013), so reading it costs no scan of the suggestions (nothing in
//! tagbot writes it); the removed ones are counted from `airtable_drift`,
//! which holds only those, in a read of their own.

use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};

use super::Error;
use crate::domain::RejectReason;

/// One (model, tag, bin)'s counts: owned (`BinRow`), or borrowed from
/// the row being read (`BinRow<&str>`, see [`each_bin`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BinRow<S = String> {
    pub model: S,
    pub tag_id: S,
    pub tag_name: S,
    /// The score's hundredth, 0..=99 (a score of 1 is in 99).
    pub bin: i32,
    pub decisions: u64,
    /// Approved by a reviewer: approved, synced, or failed to sync.
    pub approved: u64,
    pub synced: u64,
    /// Synced, then removed in Airtable.
    pub removed: u64,
    /// Rejected for each reason (see [`BinRow::rejected_because`]); a
    /// rejection without one is counted in none of them.
    pub wrong_topic: u64,
    pub too_broad: u64,
    pub too_narrow: u64,
    pub duplicate: u64,
    pub other: u64,
}

/// Read by position, in [`each_bin`]'s column order, the text borrowed
/// from the row: 100,000 rows each looking 12 columns up by name and
/// copying three strings was most of the time the figures waited for
/// (BENCHMARKS.md, issue 27). The tag's name is its id here: the names
/// are read apart (`catalogue::tags`), once per tag, not once per bin.
impl<'r> sqlx::FromRow<'r, PgRow> for BinRow<&'r str> {
    fn from_row(row: &'r PgRow) -> Result<BinRow<&'r str>, sqlx::Error> {
        let count = |index: usize| -> Result<u64, sqlx::Error> {
            let value: i64 = row.try_get(index)?;
            u64::try_from(value).map_err(|source| sqlx::Error::ColumnDecode {
                index: index.to_string(),
                source: Box::new(source),
            })
        };
        let tag_id = row.try_get(1)?;
        Ok(BinRow {
            model: row.try_get(0)?,
            tag_id,
            tag_name: tag_id,
            bin: row.try_get(2)?,
            decisions: count(3)?,
            approved: count(4)?,
            synced: count(5)?,
            removed: 0,
            wrong_topic: count(6)?,
            too_broad: count(7)?,
            too_narrow: count(8)?,
            duplicate: count(9)?,
            other: count(10)?,
        })
    }
}

impl BinRow<String> {
    /// The same counts, borrowing the text.
    pub fn borrowed(&self) -> BinRow<&str> {
        BinRow {
            model: &self.model,
            tag_id: &self.tag_id,
            tag_name: &self.tag_name,
            bin: self.bin,
            decisions: self.decisions,
            approved: self.approved,
            synced: self.synced,
            removed: self.removed,
            wrong_topic: self.wrong_topic,
            too_broad: self.too_broad,
            too_narrow: self.too_narrow,
            duplicate: self.duplicate,
            other: self.other,
        }
    }
}

impl<S> BinRow<S> {
    /// How many of the bin's suggestions were rejected for `reason`.
    pub fn rejected_because(&self, reason: RejectReason) -> u64 {
        match reason {
            RejectReason::WrongTopic => self.wrong_topic,
            RejectReason::TooBroad => self.too_broad,
            RejectReason::TooNarrow => self.too_narrow,
            RejectReason::Duplicate => self.duplicate,
            RejectReason::Other => self.other,
        }
    }
}

/// Hands every bin with decisions to `visit` as it is read, in no order
/// (`removed` left 0: see [`removed`]; `tag_name` the tag's id): the figures key them by model,
/// tag and bin themselves, and ordering 100,000 rows (a walk of the
/// primary key fetching each row, or a sort) was about a third of the
/// query's time (BENCHMARKS.md, issue 25). Streamed, not collected: the
/// figures are built while the database is still sending.
pub async fn each_bin(pool: &PgPool, mut visit: impl FnMut(BinRow<&str>)) -> Result<(), Error> {
    let mut rows = sqlx::query(
        "SELECT c.model, c.tag_id, c.bin,
                c.decisions, c.approved, c.synced,
                c.wrong_topic, c.too_broad, c.too_narrow, c.duplicate, c.other
         FROM calibration_bins c
         WHERE c.decisions > 0",
    )
    .fetch(pool);
    while let Some(row) = rows.try_next().await? {
        visit(BinRow::from_row(&row)?);
    }
    Ok(())
}

/// Synced suggestions removed in Airtable since (and not put back), per
/// model, tag and bin.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RemovedRow {
    pub model: String,
    pub tag_id: String,
    pub bin: i32,
    #[sqlx(try_from = "i64")]
    pub removed: u64,
}

/// Every (model, tag, bin) with removed suggestions, in no order: read
/// apart from [`each_bin`], beside it, since looking each removal's
/// suggestion up is most of its time.
pub async fn removed(pool: &PgPool) -> Result<Vec<RemovedRow>, Error> {
    sqlx::query_as(
        "SELECT s.suggested_by AS model, s.tag_id, tagbot_calibration_bin(s.score) AS bin,
                count(DISTINCT s.id) AS removed
         FROM airtable_drift d
         JOIN lecture_tag_suggestions s ON s.id = d.suggestion_id AND s.status = 'synced'
         WHERE d.readded_at IS NULL
         GROUP BY 1, 2, 3",
    )
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}
