//! How a worker uses the change stream: whether it is on (and why not),
//! keeping it read while there is work or unchecked writes, and the
//! records a batch may write without reading first.
//!
//! Without the stream (no `webhook:manage` scope, no schema scope, or
//! Airtable refusing), every batch reads before it writes, as always.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tracing::Instrument;

use super::mapping::TagMap;
use super::queue::Claim;
use super::stream::{self, CatchUp, Reader, StreamError, Watch, PAGES_PER_READ};
use super::Syncer;
use crate::airtable::{formula, AirtableError, ListQuery, Record};
use crate::storage::airtable_writes::{self, NewWrite, Purpose};
use crate::storage::{change_streams, record_cells};

/// Writes without reading first need each cell read by tagbot (a look-up
/// or its own write) or shown by a read that emptied the stream this
/// recently: what the stream missed since is at most this old, and the
/// repair covers it.
pub const FRESH_FOR: Duration = Duration::from_secs(6);
/// While idle, with tagbot's writes waiting to be checked, the stream is
/// read this often.
const CHECK_WRITES_EVERY: Duration = Duration::from_secs(2);
/// While work is due, every request slot the stream takes is a write's:
/// the stream is read once the oldest write waiting to be checked is this
/// old (a person's edit a write overwrote is put back within about this
/// long), in full pages only (one per 50 write requests waiting, each one
/// payload: no slot spent on a page half empty), not for the batches' sake (their cells are looked
/// up). A read to the end still comes every [`IDLE_READ_EVERY`].
const CHECK_WRITES_WHILE_BUSY: Duration = Duration::from_secs(15);
/// Payloads in one page of the stream (Airtable's most per listing).
const PAYLOADS_PER_PAGE: i64 = crate::airtable::webhooks::MAX_PAYLOADS_PER_LIST as i64;
/// Otherwise it is read this often, for people's edits (drift) and to keep
/// the webhook alive.
const IDLE_READ_EVERY: Duration = Duration::from_secs(30);
/// The webhook is checked (and refreshed before it expires) this often.
const ENSURE_EVERY: Duration = Duration::from_secs(3600);
/// After Airtable was away, the stream is tried again this soon.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Records looked up in one read when learning cells the stream has not
/// shown: a page of the list API.
const LOOKUP_PAGE: i64 = 100;

/// Whether the worker reads the change stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamMode {
    /// Not tried yet, or Airtable was away when it was.
    Unknown,
    /// Each batch reads before it writes; why the stream is not used.
    Off {
        why: String,
    },
    On {
        watch: Watch,
    },
}

impl StreamMode {
    pub fn describe(&self) -> String {
        match self {
            StreamMode::Unknown => "not yet known (Airtable could not be asked)".to_owned(),
            StreamMode::Off { why } => format!("off: {why}"),
            StreamMode::On { .. } => "on".to_owned(),
        }
    }
}

/// The worker's stream state.
#[derive(Debug)]
pub(super) struct StreamState {
    pub mode: StreamMode,
    ensured_at: Option<Instant>,
    /// Lectures looked up this run and not found in the base.
    not_found: HashSet<String>,
}

impl Default for StreamState {
    fn default() -> Self {
        StreamState {
            mode: StreamMode::Unknown,
            ensured_at: None,
            not_found: HashSet::new(),
        }
    }
}

pub(super) fn watch_of(mode: &StreamMode) -> Option<Watch> {
    match mode {
        StreamMode::On { watch } => Some(watch.clone()),
        _ => None,
    }
}

/// Why a token cannot use webhooks, in words that say what to add.
pub fn missing_scope(err: &AirtableError) -> String {
    format!("{err}. Give the token the webhook:manage scope (with data.records:read) and a creator's access to the base to turn the change stream on")
}

impl Syncer {
    /// The change stream's mode as this worker last found it.
    pub async fn stream_mode(&self) -> StreamMode {
        self.stream.lock().await.mode.clone()
    }

    /// Decides (again, when due) whether the stream is on, creating,
    /// adopting or refreshing the webhook.
    pub(super) async fn ensure_stream(&self, tags: &TagMap) {
        let mut state = self.stream.lock().await;
        let due = match (&state.mode, state.ensured_at) {
            (_, None) => true,
            (StreamMode::Unknown, Some(at)) => at.elapsed() > RETRY_AFTER,
            (_, Some(at)) => at.elapsed() > ENSURE_EVERY,
        };
        if !due {
            return;
        }
        state.ensured_at = Some(Instant::now());
        let watch = match Watch::of(&tags.keys) {
            Ok(watch) => watch,
            Err(why) => {
                state.mode = StreamMode::Off { why };
                return;
            }
        };
        let base_id = &self.airtable.base_id;
        let mode = match stream::ensure(&self.client, &self.pool, base_id, &watch).await {
            Ok(_) => StreamMode::On { watch },
            Err(StreamError::Airtable(err)) if matches!(err.status, Some(401 | 403 | 404)) => {
                StreamMode::Off {
                    why: missing_scope(&err),
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot set up the change stream yet; reading before each write meanwhile");
                StreamMode::Unknown
            }
        };
        if mode != state.mode {
            tracing::info!(mode = %mode.describe(), "change stream");
        }
        state.mode = mode;
    }

    /// Forgets the run's lookups that found nothing.
    pub(super) async fn new_run_for_stream(&self) {
        self.stream.lock().await.not_found.clear();
    }

    /// How long ago a read last emptied the stream (None: never, or the
    /// database cannot say).
    async fn stream_age(&self) -> Option<Duration> {
        change_streams::caught_up_ago(&self.pool, &self.airtable.base_id)
            .await
            .ok()
            .flatten()
            .map(Duration::from_secs_f64)
    }

    /// Reads the stream when it is due (see [`pages_due`]).
    pub(super) async fn tend_stream(&self, tags: &TagMap, busy: bool) -> Option<CatchUp> {
        let watch = watch_of(&self.stream.lock().await.mode)?;
        let base_id = &self.airtable.base_id;
        let read_ago = self.stream_age().await;
        // The database cannot say: as if a page of writes had waited long.
        let (waiting, oldest) = airtable_writes::unchecked_summary(&self.pool, base_id)
            .await
            .unwrap_or((
                PAYLOADS_PER_PAGE,
                Some(CHECK_WRITES_WHILE_BUSY.as_secs_f64()),
            ));
        let waiting = Waiting {
            requests: waiting,
            oldest: oldest.map(Duration::from_secs_f64),
        };
        let pages = pages_due(read_ago, &waiting, busy)?;
        tracing::debug!(?read_ago, waiting = waiting.requests, waited = ?waiting.oldest, pages, busy, "reading the change stream");
        self.read_stream(tags, &watch, pages).await
    }

    /// Reads up to `pages` pages of the stream, checks them and repairs.
    pub(super) async fn read_stream(
        &self,
        tags: &TagMap,
        watch: &Watch,
        pages: usize,
    ) -> Option<CatchUp> {
        let reader = Reader {
            pages,
            client: &self.client,
            pool: &self.pool,
            base_id: &self.airtable.base_id,
            reader: &self.worker_id,
            tags,
            watch,
            typecast: self.airtable.typecast,
        };
        match stream::catch_up(&reader)
            .instrument(tracing::debug_span!("stream_read"))
            .await
        {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(error = %err, "could not read the change stream; reading before each write until it is back");
                if matches!(&err, StreamError::Broken(_))
                    || matches!(&err, StreamError::Airtable(e) if matches!(e.status, Some(401 | 403 | 404)))
                {
                    // Set it up again at the next run.
                    let mut state = self.stream.lock().await;
                    state.mode = StreamMode::Unknown;
                    state.ensured_at = None;
                }
                None
            }
        }
    }

    /// The claim's records as tagbot knows them, when every lecture is on
    /// exactly one known record and each cell is fresh (read by tagbot, or
    /// shown by a read that emptied the stream, within [`FRESH_FOR`]);
    /// None means read first. Lectures not known yet are looked up a page
    /// at a time (with other due lectures), far fewer requests than a read
    /// per batch; a cell known but no longer fresh makes the stream be
    /// read.
    pub(super) async fn known_records(&self, claim: &Claim, tags: &TagMap) -> Option<Vec<Record>> {
        let watch = watch_of(&self.stream.lock().await.mode)?;
        let base_id = &self.airtable.base_id;
        let of_claim =
            || record_cells::of_lectures(&self.pool, base_id, &claim.lectures, FRESH_FOR);
        let mut known = of_claim().await.ok()?;
        let unknown: Vec<String> = claim
            .lectures
            .iter()
            .filter(|l| !known.contains_key(*l))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            self.look_up(tags, &unknown)
                .instrument(tracing::debug_span!("look_up"))
                .await?;
            known = of_claim().await.ok()?;
        }
        let stale = known.values().flatten().any(|r| !r.read_recently);
        let stream_fresh = |ago: Option<Duration>| ago.is_some_and(|ago| ago <= FRESH_FOR);
        if stale && !stream_fresh(self.stream_age().await) {
            self.read_stream(tags, &watch, PAGES_PER_READ).await;
            if !stream_fresh(self.stream_age().await) {
                return None;
            }
            known = of_claim().await.ok()?;
        }
        let mut records = Vec::new();
        for lecture in &claim.lectures {
            let [record] = known.get(lecture)?.as_slice() else {
                return None;
            };
            let (record_id, cell) = (&record.record_id, &record.tags);
            let mut fields = Map::new();
            fields.insert(tags.keys.lecture_id.clone(), Value::String(lecture.clone()));
            fields.insert(tags.keys.tags.clone(), json!(cell));
            records.push(Record {
                id: record_id.clone(),
                fields,
            });
        }
        metrics::counter!(crate::metrics::SYNC_READS_SKIPPED).increment(1);
        Some(records)
    }

    /// Reads the records of `lectures` and of other due lectures not known
    /// yet (a page's worth), and remembers their cells. None when the read
    /// failed (the batch then reads for itself).
    async fn look_up(&self, tags: &TagMap, lectures: &[String]) -> Option<()> {
        let base_id = &self.airtable.base_id;
        // One process at a time; another may have just looked these up.
        let turn = record_cells::looking_up(&self.pool).await.ok()?;
        let known = record_cells::of_lectures(&self.pool, base_id, lectures, FRESH_FOR)
            .await
            .ok()?;
        let lectures: Vec<String> = lectures
            .iter()
            .filter(|l| !known.contains_key(*l))
            .cloned()
            .collect();
        if lectures.is_empty() {
            return Some(());
        }
        let tried: Vec<String> = {
            let state = self.stream.lock().await;
            if lectures.iter().all(|l| state.not_found.contains(l)) {
                return None;
            }
            state.not_found.iter().cloned().collect()
        };
        let mut wanted: Vec<String> = lectures;
        let room = LOOKUP_PAGE - wanted.len() as i64;
        if room > 0 {
            let mut tried_too = tried;
            tried_too.extend(wanted.iter().cloned());
            let more = record_cells::unknown_due_lectures(&self.pool, base_id, &tried_too, room)
                .await
                .unwrap_or_default();
            wanted.extend(more);
        }
        let keys = &tags.keys;
        let ids: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let query = ListQuery {
            fields: vec![keys.lecture_id.clone(), keys.tags.clone()],
            formula: Some(formula::field_in(&keys.lecture_id_name, &ids)),
            by_field_id: keys.by_field_id,
        };
        let records = match self.client.list_records(&keys.lectures_table, &query).await {
            Ok(records) => records,
            Err(err) => {
                tracing::warn!(error = %err, "could not look up records; the batch reads for itself");
                return None;
            }
        };
        let seen = super::batch::cells_of(&records, tags);
        let found: HashSet<&str> = seen
            .iter()
            .filter_map(|(_, lecture, _)| lecture.as_deref())
            .collect();
        {
            let mut state = self.stream.lock().await;
            for lecture in &wanted {
                if !found.contains(lecture.as_str()) {
                    state.not_found.insert(lecture.clone());
                }
            }
        }
        let stored = record_cells::store_seen(&self.pool, base_id, &seen).await;
        drop(turn);
        stored.ok()
    }

    /// Records writes about to be sent, for the stream to check; their ids
    /// (empty when the stream is off). None when they must not be sent: a
    /// basis taken from the stream's cells (`from_stream`) is only safe with
    /// the check, so a write that could not be recorded, or whose stream
    /// went away meanwhile, waits for a fresh read instead.
    pub(super) async fn writes_to_check(
        &self,
        writes: &[NewWrite<'_>],
        from_stream: bool,
    ) -> Option<Vec<i64>> {
        if watch_of(&self.stream.lock().await.mode).is_none() {
            return (!from_stream).then(Vec::new);
        }
        let recorded = crate::storage::wait_out_outage("recording writes", || {
            airtable_writes::record(&self.pool, &self.airtable.base_id, Purpose::Sync, writes)
        })
        .await;
        match recorded {
            Ok(ids) => Some(ids),
            Err(err) => {
                tracing::warn!(error = %err, "could not record writes for the change stream to check");
                (!from_stream).then(Vec::new)
            }
        }
    }

    /// Remembers cells tagbot just read or wrote, when the stream is on.
    pub(super) async fn remember_cells(&self, seen: &[(String, Option<String>, Vec<String>)]) {
        if watch_of(&self.stream.lock().await.mode).is_none() {
            return;
        }
        if let Err(err) = record_cells::store_seen(&self.pool, &self.airtable.base_id, seen).await {
            tracing::warn!(error = %err, "could not remember cells");
        }
    }
}

/// tagbot's writes waiting to be checked: how many requests' worth (each
/// one payload in the stream), and how long the oldest has waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Waiting {
    requests: i64,
    oldest: Option<Duration>,
}

/// How many pages of the stream to read now, if any: to the end every
/// 30 s since a read last emptied it (people's edits, and the webhook kept
/// alive); sooner while tagbot's writes wait to be checked: to the end
/// after 2 s when idle, and while `busy` (work is due, and each payload
/// read takes a write's slot) after 15 s, as many full pages as the
/// writes waiting fill.
fn pages_due(read_ago: Option<Duration>, waiting: &Waiting, busy: bool) -> Option<usize> {
    if read_ago.is_none_or(|ago| ago >= IDLE_READ_EVERY) {
        return Some(PAGES_PER_READ);
    }
    let waited = waiting.oldest?;
    if !busy {
        let due =
            waited >= CHECK_WRITES_EVERY && read_ago.is_none_or(|ago| ago >= CHECK_WRITES_EVERY);
        return due.then_some(PAGES_PER_READ);
    }
    let full_pages = usize::try_from(waiting.requests / PAYLOADS_PER_PAGE).unwrap_or(0);
    (waited >= CHECK_WRITES_WHILE_BUSY && full_pages > 0).then_some(full_pages.min(PAGES_PER_READ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn waiting(requests: i64, oldest: Option<u64>) -> Waiting {
        Waiting {
            requests,
            oldest: oldest.map(secs),
        }
    }

    #[test]
    fn a_stream_not_emptied_for_30_s_is_read_to_the_end_busy_or_not() {
        for busy in [false, true] {
            assert_eq!(
                pages_due(None, &waiting(0, None), busy),
                Some(PAGES_PER_READ)
            );
            assert_eq!(
                pages_due(Some(secs(30)), &waiting(0, None), busy),
                Some(PAGES_PER_READ)
            );
            assert_eq!(pages_due(Some(secs(29)), &waiting(0, None), busy), None);
        }
    }

    #[test]
    fn an_idle_worker_checks_its_writes_after_2_s() {
        assert_eq!(pages_due(Some(secs(5)), &waiting(1, Some(1)), false), None);
        assert_eq!(
            pages_due(Some(secs(5)), &waiting(1, Some(2)), false),
            Some(PAGES_PER_READ)
        );
        // Not again right after a read that did not find them yet.
        assert_eq!(pages_due(Some(secs(1)), &waiting(1, Some(9)), false), None);
    }

    #[test]
    fn a_busy_worker_reads_full_pages_once_the_oldest_write_waited_15_s() {
        let read_ago = Some(secs(20));
        assert_eq!(pages_due(read_ago, &waiting(70, Some(14)), true), None);
        assert_eq!(
            pages_due(read_ago, &waiting(49, Some(25)), true),
            None,
            "half a page waits"
        );
        assert_eq!(pages_due(read_ago, &waiting(70, Some(15)), true), Some(1));
        assert_eq!(pages_due(read_ago, &waiting(120, Some(15)), true), Some(2));
        assert_eq!(
            pages_due(read_ago, &waiting(5_000, Some(15)), true),
            Some(PAGES_PER_READ)
        );
    }
}
