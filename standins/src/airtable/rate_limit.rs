//! How the Airtable stand-in paces its callers: "5 requests per second per
//! base", "50 requests per second for all traffic using personal access
//! tokens from a given user", and 30 seconds refused after a 429
//! (developers/web/api/rate-limits).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How the stand-in paces its callers.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Requests per `window` to the base.
    pub requests: usize,
    /// Requests per `window` with the token, across every base.
    pub per_token: usize,
    pub window: Duration,
    /// How long every request is refused after a 429.
    pub penalty: Duration,
}

impl Default for RateLimit {
    /// "5 requests per second per base", "50 requests per second for all
    /// traffic using personal access tokens from a given user", "wait 30
    /// seconds before subsequent requests will succeed"
    /// (developers/web/api/rate-limits).
    fn default() -> Self {
        RateLimit {
            requests: 5,
            per_token: 50,
            window: Duration::from_secs(1),
            penalty: Duration::from_secs(30),
        }
    }
}

/// A window of recent request times.
#[derive(Debug, Default)]
pub(super) struct Window {
    recent: VecDeque<Instant>,
}

impl Window {
    /// Counts a request at `now`, or refuses it when `limit` were made in
    /// the last `window`.
    pub(super) fn admit(&mut self, now: Instant, window: Duration, limit: usize) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= limit {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}
