//! Calibration's one query: decided suggestions summed per model, tag and
//! score hundredth, with how many were approved, synced, and removed in
//! Airtable since (a read of `lecture_tag_suggestions`, `tags` and
//! `airtable_drift`; it writes nothing).

use sqlx::PgPool;

/// One (model, tag, bin)'s counts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BinRow {
    pub model: String,
    pub tag_id: String,
    pub tag_name: String,
    /// The score's hundredth, 0..=99 (a score of 1 is in 99).
    pub bin: i32,
    #[sqlx(try_from = "i64")]
    pub decisions: u64,
    /// Approved by a reviewer: approved, synced, or failed to sync.
    #[sqlx(try_from = "i64")]
    pub approved: u64,
    #[sqlx(try_from = "i64")]
    pub synced: u64,
    /// Synced, then removed in Airtable.
    #[sqlx(try_from = "i64")]
    pub removed: u64,
}

pub async fn bins(pool: &PgPool) -> Result<Vec<BinRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.suggested_by AS model, s.tag_id, coalesce(t.name, s.tag_id) AS tag_name, b.bin,
                count(*) AS decisions,
                count(*) FILTER (WHERE s.status IN ('approved', 'synced', 'failed')) AS approved,
                count(*) FILTER (WHERE s.status = 'synced') AS synced,
                count(*) FILTER (WHERE s.status = 'synced' AND EXISTS
                    (SELECT 1 FROM airtable_drift d WHERE d.suggestion_id = s.id)) AS removed
         FROM lecture_tag_suggestions s
         LEFT JOIN tags t ON t.tag_id = s.tag_id
         CROSS JOIN LATERAL (SELECT least(floor(s.score * 100 + 1e-9)::int, 99) AS bin) b
         WHERE s.status <> 'pending'
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 4",
    )
    .fetch_all(pool)
    .await
}
