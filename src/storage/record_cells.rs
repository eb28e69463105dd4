//! `airtable_record_cells`: each Lectures record's tags cell as the change
//! stream (or a read) last showed it, with its lecture id and who last
//! edited each value. Written by the stream's reader and by the sync
//! worker after a read or a write; read to write without reading first.

use std::collections::{BTreeMap, HashMap};

use sqlx::types::Json;
use sqlx::{PgPool, Postgres, Transaction};

use super::Error;
use crate::domain::{Cell, Edit};

/// The advisory lock one process at a time holds to look records up:
/// workers starting together would otherwise read the same page.
const LOOKUP_LOCK: i64 = 0x7461_6762_6f74_2d6c;

/// Waits for the look-up lock, held until the turn is released or dropped.
pub async fn looking_up(pool: &PgPool) -> Result<super::Turn, Error> {
    super::Turn::take(pool, LOOKUP_LOCK).await
}

#[derive(sqlx::FromRow)]
struct Row {
    record_id: String,
    lecture_external_id: Option<String>,
    tags: Json<Vec<String>>,
    edits: Json<BTreeMap<String, Edit>>,
}

impl Row {
    fn into_cell(self) -> (String, Cell) {
        let cell = Cell {
            lecture: self.lecture_external_id,
            tags: self.tags.0,
            edits: self.edits.0,
        };
        (self.record_id, cell)
    }
}

/// The known cells of the base whose `column` (`record_id` or
/// `lecture_external_id`: never text from outside) is one of `values`.
async fn cells_where(
    pool: &PgPool,
    base_id: &str,
    column: &'static str,
    values: &[String],
) -> Result<Vec<Row>, Error> {
    sqlx::query_as(&format!(
        "SELECT record_id, lecture_external_id, tags, edits FROM airtable_record_cells
         WHERE base_id = $1 AND {column} = ANY($2)"
    ))
    .bind(base_id)
    .bind(values)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// The known cells of `records`.
pub async fn of_records(
    pool: &PgPool,
    base_id: &str,
    records: &[String],
) -> Result<BTreeMap<String, Cell>, Error> {
    let rows = cells_where(pool, base_id, "record_id", records).await?;
    Ok(rows.into_iter().map(Row::into_cell).collect())
}

/// A lecture's record as tagbot knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownRecord {
    pub record_id: String,
    pub tags: Vec<String>,
    /// tagbot itself read or wrote the cell within the `read_within`
    /// asked for (not only the stream showed it).
    pub read_recently: bool,
}

/// The known records of `lectures`: lecture → every record carrying that
/// lecture id (more than one is ambiguous), each marked read recently when
/// tagbot read or wrote it itself within `read_within`.
pub async fn of_lectures(
    pool: &PgPool,
    base_id: &str,
    lectures: &[String],
    read_within: std::time::Duration,
) -> Result<HashMap<String, Vec<KnownRecord>>, Error> {
    #[derive(sqlx::FromRow)]
    struct Known {
        record_id: String,
        lecture_external_id: String,
        tags: Json<Vec<String>>,
        read_recently: bool,
    }
    let rows: Vec<Known> = sqlx::query_as(
        "SELECT record_id, lecture_external_id, tags,
                coalesce(read_at > now() - $3 * interval '1 millisecond', false) AS read_recently
         FROM airtable_record_cells
         WHERE base_id = $1 AND lecture_external_id = ANY($2)",
    )
    .bind(base_id)
    .bind(lectures)
    .bind(read_within.as_millis() as f64)
    .fetch_all(pool)
    .await?;
    let mut known: HashMap<String, Vec<KnownRecord>> = HashMap::new();
    for row in rows {
        known
            .entry(row.lecture_external_id)
            .or_default()
            .push(KnownRecord {
                record_id: row.record_id,
                tags: row.tags.0,
                read_recently: row.read_recently,
            });
    }
    Ok(known)
}

/// Stores what the stream says the `cells` now hold.
pub async fn store(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    cells: &BTreeMap<String, Cell>,
) -> Result<(), Error> {
    for (record, cell) in cells {
        sqlx::query(
            "INSERT INTO airtable_record_cells (base_id, record_id, lecture_external_id, tags, edits)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (base_id, record_id) DO UPDATE
                 SET lecture_external_id = coalesce(EXCLUDED.lecture_external_id, airtable_record_cells.lecture_external_id),
                     tags = EXCLUDED.tags, edits = EXCLUDED.edits, updated_at = now()",
        )
        .bind(base_id)
        .bind(record)
        .bind(&cell.lecture)
        .bind(Json(&cell.tags))
        .bind(Json(&cell.edits))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Stores cells as tagbot just read or wrote them: (record, lecture,
/// tags), read now. The edits the stream recorded are kept.
pub async fn store_seen(
    pool: &PgPool,
    base_id: &str,
    seen: &[(String, Option<String>, Vec<String>)],
) -> Result<(), Error> {
    if seen.is_empty() {
        return Ok(());
    }
    let records: Vec<&str> = seen.iter().map(|(r, _, _)| r.as_str()).collect();
    let lectures: Vec<Option<&str>> = seen.iter().map(|(_, l, _)| l.as_deref()).collect();
    let tags: Vec<Json<&Vec<String>>> = seen.iter().map(|(_, _, t)| Json(t)).collect();
    sqlx::query(
        "INSERT INTO airtable_record_cells (base_id, record_id, lecture_external_id, tags, read_at)
         SELECT $1, r, l, t, now() FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS s(r, l, t)
         ON CONFLICT (base_id, record_id) DO UPDATE
             SET lecture_external_id = coalesce(EXCLUDED.lecture_external_id, airtable_record_cells.lecture_external_id),
                 tags = EXCLUDED.tags, updated_at = now(), read_at = now()",
    )
    .bind(base_id)
    .bind(&records)
    .bind(&lectures)
    .bind(&tags)
    .execute(pool)
    .await?;
    Ok(())
}

/// Lectures with sync work due or in hand (another batch's, which may be
/// waiting for this look-up) whose record is not known yet, the first due
/// first, skipping `tried`.
pub async fn unknown_due_lectures(
    pool: &PgPool,
    base_id: &str,
    tried: &[String],
    limit: i64,
) -> Result<Vec<String>, Error> {
    sqlx::query_scalar(
        "SELECT i.lecture_external_id FROM airtable_sync_items i
         WHERE ((i.status = 'queued' AND i.next_attempt_at <= now()) OR i.status = 'in_flight')
           AND NOT (i.lecture_external_id = ANY($2))
           AND NOT EXISTS (SELECT 1 FROM airtable_record_cells c
                           WHERE c.base_id = $1 AND c.lecture_external_id = i.lecture_external_id)
         GROUP BY i.lecture_external_id
         ORDER BY min(i.next_attempt_at), i.lecture_external_id
         LIMIT $3",
    )
    .bind(base_id)
    .bind(tried)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Forgets every cell of the base (its stream is gone: they may be stale).
pub async fn forget_base(tx: &mut Transaction<'_, Postgres>, base_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM airtable_record_cells WHERE base_id = $1")
        .bind(base_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Records that hold another lecture now (`Some`), or none or no longer
/// exist (`None`): their cells are relabelled or forgotten, so a lecture
/// is never written to a record that is no longer its own.
pub async fn relabel(
    tx: &mut Transaction<'_, Postgres>,
    base_id: &str,
    moves: &[(String, Option<String>)],
) -> Result<(), Error> {
    for (record, lecture) in moves {
        match lecture {
            Some(lecture) => {
                sqlx::query(
                    "UPDATE airtable_record_cells SET lecture_external_id = $3, updated_at = now()
                     WHERE base_id = $1 AND record_id = $2",
                )
                .bind(base_id)
                .bind(record)
                .bind(lecture)
                .execute(&mut **tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM airtable_record_cells WHERE base_id = $1 AND record_id = $2",
                )
                .bind(base_id)
                .bind(record)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    Ok(())
}
