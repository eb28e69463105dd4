//! The one cache type: values tagbot reads often and may show a little
//! old, each kept for a stated freshness, at most a stated number of them.
//! Every cache of the process is one of these, made where its freshness
//! and size bound are named: the Slack app's (a message's lecture, the
//! count of waiting lectures, calibration, who opened the Home tab), the
//! Web API's directory (users, user-group members) and the `/metrics`
//! queue reading.
//!
//! Two ways to ask, besides reading and storing by hand:
//!
//! - [`Cache::get_or_look_up`]: the fresh value, else one look-up at a
//!   time per key (single-flight: whoever asks meanwhile waits for it),
//!   run in a task of its own so that a caller who stops waiting (a
//!   modal's 3-second trigger) does not lose the answer for the next one.
//!   When it fails, the last value known is served however old
//!   (serve-stale); the error only when none ever was.
//! - [`Cache::peek_or_look_up`]: the same, for a value a caller can do
//!   without: nobody waits for another's look-up (the last value known is
//!   taken meanwhile, or none), and the one who started it waits at most
//!   as long as it was given.
//!
//! When full, storing a new key drops the older half of the entries (the
//! ones stored longest ago): one pass now and then rather than an order
//! kept on every read, and the newer half, the likelier to be asked
//! again, stays.
//!
//! Not moka: moka would bring freshness and a size bound, and its
//! `try_get_with` coalesces look-ups, but an entry past its freshness is
//! gone from it, so serve-stale would need a second map of last values
//! beside it; "show the old value while one task refreshes" and "the
//! look-up outlives a caller who stops waiting" would still be written
//! here. For that it adds six crates to the lock file (moka, async-lock,
//! crossbeam-channel, event-listener-strategy, tagptr, uuid: about 62,000
//! lines of Rust, moka alone 36,000) to compile on a 2-core machine, where
//! this module is three hundred lines on tokio's `watch`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::Instrument;

/// A cache of `V` by `K`, whose look-ups fail with `E`. Clones share the
/// entries.
pub struct Cache<K, V, E = std::convert::Infallible> {
    /// How long a stored value is served without asking again
    /// (`Duration::MAX`: for as long as it is kept).
    fresh_for: Duration,
    /// The most entries kept.
    capacity: usize,
    shared: Arc<Mutex<Shared<K, V, E>>>,
}

/// What every caller waiting on a look-up gets: None until it lands.
type Outcome<V, E> = Option<Result<V, E>>;

struct Shared<K, V, E> {
    entries: HashMap<K, Entry<V>>,
    /// The look-ups under way, one per key.
    flights: HashMap<K, watch::Receiver<Outcome<V, E>>>,
}

struct Entry<V> {
    value: V,
    stored_at: Instant,
}

/// A look-up's task ended without an answer (it panicked, or the runtime
/// is shutting down): what those waiting on it are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the look-up stopped before it answered")]
pub struct LookUpStopped;

/// Where a caller stands with a key: its fresh value, a look-up to wait
/// on, or the look-up it has just been given to run.
enum Turn<V, E> {
    Fresh(V),
    Joined(watch::Receiver<Outcome<V, E>>),
    Started(watch::Sender<Outcome<V, E>>, watch::Receiver<Outcome<V, E>>),
}

impl<K, V, E> Clone for Cache<K, V, E> {
    fn clone(&self) -> Self {
        Cache {
            fresh_for: self.fresh_for,
            capacity: self.capacity,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, V, E> std::fmt::Debug for Cache<K, V, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("fresh_for", &self.fresh_for)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone, E> Cache<K, V, E> {
    /// A cache serving a value for `fresh_for`, keeping at most `capacity`
    /// (at least one).
    pub fn new(fresh_for: Duration, capacity: usize) -> Self {
        Cache {
            fresh_for,
            capacity: capacity.max(1),
            shared: Arc::new(Mutex::new(Shared {
                entries: HashMap::new(),
                flights: HashMap::new(),
            })),
        }
    }

    /// The value for `key` if it was stored less than the freshness ago.
    pub fn fresh(&self, key: &K) -> Option<V> {
        self.lock().fresh(key, self.fresh_for)
    }

    /// Stores `value` for `key`, fresh from now.
    pub fn insert(&self, key: K, value: V) {
        self.lock().store(key, value, self.capacity);
    }

    /// Forgets `key`'s value: a look-up that learns it is gone (not merely
    /// unreadable) calls this before it fails, so that nothing stale is
    /// served for it.
    pub fn forget(&self, key: &K) {
        self.lock().entries.remove(key);
    }

    /// The fresh value, else `read`'s, stored: for a read whose failure
    /// the caller should see (nothing stale is served) and cheap enough to
    /// be made twice at once (it runs in the caller's task, not single-flight).
    pub async fn get_or_read<Er>(
        &self,
        key: K,
        read: impl Future<Output = Result<V, Er>>,
    ) -> Result<V, Er> {
        if let Some(value) = self.fresh(&key) {
            return Ok(value);
        }
        let value = read.await?;
        self.insert(key, value.clone());
        Ok(value)
    }

    /// The last value stored for `key`, however old: for a caller that
    /// stopped waiting for a look-up and takes what was known instead.
    pub fn last_known(&self, key: &K) -> Option<V> {
        self.lock()
            .entries
            .get(key)
            .map(|entry| entry.value.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Shared<K, V, E>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The fresh value, the look-up under way, or a new one registered for
    /// the caller to start: decided under one lock, so two callers never
    /// both start one.
    fn turn(&self, key: &K) -> Turn<V, E> {
        let mut shared = self.lock();
        if let Some(value) = shared.fresh(key, self.fresh_for) {
            return Turn::Fresh(value);
        }
        if let Some(flight) = shared.flights.get(key) {
            return Turn::Joined(flight.clone());
        }
        let (sender, receiver) = watch::channel(None);
        shared.flights.insert(key.clone(), receiver.clone());
        Turn::Started(sender, receiver)
    }
}

impl<K, V, E> Cache<K, V, E>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    /// The fresh value; else the look-up's, one at a time per key (a
    /// caller arriving meanwhile waits for the one under way), stored; the
    /// last value known when it fails; its error when none ever was.
    /// `look_up` is called only by the caller who starts one.
    pub async fn get_or_look_up<F, Fut>(&self, key: K, look_up: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
        E: Clone + From<LookUpStopped>,
    {
        let mut flight = match self.turn(&key) {
            Turn::Fresh(value) => return Ok(value),
            Turn::Joined(flight) => flight,
            Turn::Started(sender, flight) => {
                self.launch(key, sender, look_up);
                flight
            }
        };
        let landed = match flight.wait_for(Option::is_some).await {
            Ok(landed) => (*landed).clone(),
            Err(_) => None,
        };
        landed.unwrap_or(Err(LookUpStopped.into()))
    }

    /// The fresh value; else, when a look-up is under way, the last value
    /// known (None if none) at once; else a look-up is started and waited
    /// for at most `wait` (`Duration::MAX`: until it lands), the last value
    /// known past that or when it fails. The look-up goes on after `wait`
    /// and its answer serves the next caller; its failure is the look-up's
    /// own to log.
    pub async fn peek_or_look_up<F, Fut>(&self, key: K, wait: Duration, look_up: F) -> Option<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        let mut flight = match self.turn(&key) {
            Turn::Fresh(value) => return Some(value),
            Turn::Joined(_) => return self.last_known(&key),
            Turn::Started(sender, flight) => {
                self.launch(key.clone(), sender, look_up);
                flight
            }
        };
        let landed = tokio::time::timeout(wait, async {
            let landed = flight.wait_for(Option::is_some).await.ok()?;
            landed.as_ref()?.as_ref().ok().cloned()
        })
        .await;
        match landed {
            Ok(Some(value)) => Some(value),
            _ => self.last_known(&key),
        }
    }

    /// Runs `look_up`'s future in a task of its own and lands its outcome.
    fn launch<F, Fut>(&self, key: K, sender: watch::Sender<Outcome<V, E>>, look_up: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>> + Send + 'static,
    {
        // Made first: should `look_up` panic, the guard still makes way.
        let flight = Flight {
            cache: self.clone(),
            key,
            sender: Some(sender),
        };
        let look_up = look_up();
        tokio::spawn(
            async move {
                let outcome = look_up.await;
                flight.land(outcome);
            }
            .instrument(tracing::Span::current()),
        );
    }
}

impl<K: Eq + Hash, V: Clone, E> Shared<K, V, E> {
    fn fresh(&self, key: &K, fresh_for: Duration) -> Option<V> {
        self.entries
            .get(key)
            .filter(|entry| entry.stored_at.elapsed() < fresh_for)
            .map(|entry| entry.value.clone())
    }

    fn store(&mut self, key: K, value: V, capacity: usize) {
        if self.entries.len() >= capacity && !self.entries.contains_key(&key) {
            self.drop_older_half();
        }
        let stored_at = Instant::now();
        self.entries.insert(key, Entry { value, stored_at });
    }

    /// Drops the entries stored longest ago, at least half of them.
    fn drop_older_half(&mut self) {
        let mut ages: Vec<Instant> = self.entries.values().map(|e| e.stored_at).collect();
        if ages.is_empty() {
            return;
        }
        let middle = (ages.len() - 1) / 2;
        let (_, newest_dropped, _) = ages.select_nth_unstable(middle);
        let newest_dropped = *newest_dropped;
        self.entries
            .retain(|_, entry| entry.stored_at > newest_dropped);
    }
}

/// A look-up under way: landing stores its value (or serves the last
/// known one) and tells those waiting; dropped without landing (its task
/// panicked or was dropped), it still makes way for the next look-up.
struct Flight<K: Eq + Hash, V, E> {
    cache: Cache<K, V, E>,
    key: K,
    /// Taken when it lands.
    sender: Option<watch::Sender<Outcome<V, E>>>,
}

impl<K: Eq + Hash + Clone, V: Clone, E> Flight<K, V, E> {
    fn land(mut self, outcome: Result<V, E>) {
        let outcome = {
            let mut shared = self.cache.lock();
            shared.flights.remove(&self.key);
            match outcome {
                Ok(value) => {
                    shared.store(self.key.clone(), value.clone(), self.cache.capacity);
                    Ok(value)
                }
                Err(err) => match shared.entries.get(&self.key) {
                    Some(last) => Ok(last.value.clone()),
                    None => Err(err),
                },
            }
        };
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(outcome));
        }
    }
}

impl<K: Eq + Hash, V, E> Drop for Flight<K, V, E> {
    fn drop(&mut self) {
        // Not landed: the flight registered under this key is this one
        // (no other starts while it is registered).
        if self.sender.is_some() {
            self.cache
                .shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flights
                .remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Failed {
        Refused,
        Stopped,
    }

    impl From<LookUpStopped> for Failed {
        fn from(_: LookUpStopped) -> Failed {
            Failed::Stopped
        }
    }

    type Counted = Cache<&'static str, u32, Failed>;

    /// The freshness of the tests' caches, and a wait that outlasts it.
    const FRESH: Duration = Duration::from_millis(40);
    const STALE: Duration = Duration::from_millis(60);

    /// A look-up answering `answer` after `delay`, counting its calls.
    fn look_up(
        calls: &Arc<AtomicUsize>,
        delay: Duration,
        answer: Result<u32, Failed>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, Failed>> + Send>> {
        let calls = Arc::clone(calls);
        move || {
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                answer
            })
        }
    }

    #[tokio::test]
    async fn a_fresh_value_is_served_without_a_look_up() {
        let cache = Counted::new(Duration::from_secs(60), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        cache.insert("k", 1);
        let got = cache
            .get_or_look_up("k", look_up(&calls, Duration::ZERO, Ok(2)))
            .await;
        assert_eq!(got, Ok(1));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn one_look_up_at_a_time_per_key_and_everyone_gets_its_answer() {
        let cache = Counted::new(Duration::from_secs(60), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        let asks = (0..5)
            .map(|_| cache.get_or_look_up("k", look_up(&calls, Duration::from_millis(50), Ok(7))));
        let other = cache.get_or_look_up("j", look_up(&calls, Duration::ZERO, Ok(8)));
        let (answers, other) = tokio::join!(futures_util::future::join_all(asks), other);
        assert_eq!(answers, vec![Ok(7); 5]);
        assert_eq!(other, Ok(8));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one per key");
        assert_eq!(cache.fresh(&"k"), Some(7), "stored");
    }

    #[tokio::test]
    async fn a_stale_value_is_looked_up_again_and_served_when_the_look_up_fails() {
        let cache = Counted::new(FRESH, 10);
        let calls = Arc::new(AtomicUsize::new(0));
        cache.insert("k", 1);
        tokio::time::sleep(STALE).await;
        assert_eq!(cache.fresh(&"k"), None);
        let got = cache
            .get_or_look_up("k", look_up(&calls, Duration::ZERO, Err(Failed::Refused)))
            .await;
        assert_eq!(got, Ok(1), "the last known value");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The failure is not stored: the next caller asks again.
        let got = cache
            .get_or_look_up("k", look_up(&calls, Duration::ZERO, Ok(2)))
            .await;
        assert_eq!(got, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failure_with_nothing_known_is_everyones_error() {
        let cache = Counted::new(Duration::from_secs(10), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            cache.get_or_look_up(
                "k",
                look_up(&calls, Duration::from_millis(20), Err(Failed::Refused))
            ),
            cache.get_or_look_up("k", look_up(&calls, Duration::ZERO, Ok(3))),
        );
        assert_eq!((a, b), (Err(Failed::Refused), Err(Failed::Refused)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_value_the_look_up_forgets_is_not_served_stale() {
        let cache = Counted::new(FRESH, 10);
        cache.insert("k", 1);
        tokio::time::sleep(STALE).await;
        let forgetting = cache.clone();
        let got = cache
            .get_or_look_up("k", move || async move {
                forgetting.forget(&"k");
                Err(Failed::Refused)
            })
            .await;
        assert_eq!(got, Err(Failed::Refused));
    }

    #[tokio::test]
    async fn a_look_up_goes_on_when_its_caller_stops_waiting() {
        let cache = Counted::new(Duration::from_secs(60), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        let gave_up = tokio::time::timeout(
            Duration::from_millis(5),
            cache.get_or_look_up("k", look_up(&calls, Duration::from_millis(50), Ok(4))),
        )
        .await;
        assert!(gave_up.is_err());
        let got = cache
            .get_or_look_up("k", look_up(&calls, Duration::ZERO, Ok(5)))
            .await;
        assert_eq!(got, Ok(4), "the next caller waits for the one under way");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_look_up_that_panics_makes_way_for_the_next() {
        let cache = Counted::new(Duration::from_secs(60), 10);
        let calls = Arc::new(AtomicUsize::new(0));
        let got = cache
            .get_or_look_up("k", || async { panic!("a bug in a look-up") })
            .await;
        assert_eq!(got, Err(Failed::Stopped));
        let got = cache
            .get_or_look_up("k", look_up(&calls, Duration::ZERO, Ok(6)))
            .await;
        assert_eq!(got, Ok(6));
    }

    #[tokio::test]
    async fn a_peek_never_waits_for_anothers_look_up() {
        let cache = Counted::new(FRESH, 10);
        let calls = Arc::new(AtomicUsize::new(0));
        cache.insert("k", 1);
        tokio::time::sleep(STALE).await;
        let slow = look_up(&calls, Duration::from_millis(100), Ok(2));
        let (first, second) =
            tokio::join!(cache.peek_or_look_up("k", Duration::MAX, slow), async {
                tokio::task::yield_now().await;
                cache
                    .peek_or_look_up("k", Duration::MAX, look_up(&calls, Duration::ZERO, Ok(3)))
                    .await
            },);
        assert_eq!(first, Some(2), "the starter waits for its look-up");
        assert_eq!(second, Some(1), "the other takes the last known value");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Nothing known and a look-up under way: none.
        let empty = Counted::new(Duration::from_secs(10), 10);
        let _started = empty
            .peek_or_look_up(
                "k",
                Duration::ZERO,
                look_up(&calls, Duration::from_secs(5), Ok(9)),
            )
            .await;
        let meanwhile = empty
            .peek_or_look_up("k", Duration::MAX, look_up(&calls, Duration::ZERO, Ok(3)))
            .await;
        assert_eq!(meanwhile, None);
    }

    #[tokio::test]
    async fn a_peek_past_its_wait_takes_the_last_value_and_the_look_up_serves_the_next() {
        let cache = Counted::new(FRESH, 10);
        let calls = Arc::new(AtomicUsize::new(0));
        cache.insert("k", 1);
        tokio::time::sleep(STALE).await;
        let got = cache
            .peek_or_look_up(
                "k",
                Duration::from_millis(20),
                look_up(&calls, Duration::from_millis(100), Ok(2)),
            )
            .await;
        assert_eq!(got, Some(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(cache.last_known(&"k"), Some(2));
        let failed = cache
            .peek_or_look_up(
                "j",
                Duration::MAX,
                look_up(&calls, Duration::ZERO, Err(Failed::Refused)),
            )
            .await;
        assert_eq!(failed, None, "a failure with nothing known");
    }

    #[test]
    fn a_full_cache_drops_its_older_half_for_a_new_key() {
        let cache: Cache<u32, u32> = Cache::new(Duration::MAX, 4);
        for key in 0..4 {
            cache.insert(key, key);
            std::thread::sleep(Duration::from_millis(2));
        }
        cache.insert(2, 20);
        assert_eq!(cache.lock().entries.len(), 4, "a stored key takes no room");
        std::thread::sleep(Duration::from_millis(2));
        cache.insert(4, 4);
        let mut kept: Vec<u32> = cache.lock().entries.keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![2, 3, 4], "0 and 1 were stored longest ago");
        assert_eq!(cache.fresh(&2), Some(20), "never stale with Duration::MAX");
    }

    #[tokio::test]
    async fn a_read_failing_is_the_callers_and_stores_nothing() {
        let cache: Cache<(), u32> = Cache::new(Duration::from_secs(60), 1);
        let failed: Result<u32, &str> = cache.get_or_read((), async { Err("down") }).await;
        assert_eq!(failed, Err("down"));
        assert_eq!(cache.fresh(&()), None);
        let read: Result<u32, &str> = cache.get_or_read((), async { Ok(3) }).await;
        assert_eq!(read, Ok(3));
        let again: Result<u32, &str> = cache.get_or_read((), async { Ok(4) }).await;
        assert_eq!(again, Ok(3), "fresh");
    }
}
