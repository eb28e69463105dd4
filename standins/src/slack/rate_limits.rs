//! How the Slack stand-in paces its callers, as Slack's rate limits page
//! (<https://docs.slack.dev/apis/web-api/rate-limits>) says:
//!
//! | rule | limit | Slack's documentation |
//! |---|---|---|
//! | `chat.postMessage` | 1 per second per channel, short bursts (HTTP 429) | <https://docs.slack.dev/apis/web-api/rate-limits> |
//! | other methods | Tier 2: 20, Tier 3: 50, Tier 4: 100 per minute; `auth.test` 200 (HTTP 429) | <https://docs.slack.dev/apis/web-api/rate-limits> |
//!
//! A refused call answers HTTP 429 with `Retry-After: <seconds>` and
//! `{"ok":false,"error":"ratelimited"}`. The burst size of the posting
//! limit is not documented: the fake allows 3 ([`PostRate`]). Where the
//! page is loose the fake takes the stricter reading: a tier's "N+ per
//! minute" is at most N calls in *any* 60 s (a sliding window, no extra
//! burst).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::reply::Reply;

/// Slack's rate tiers, in requests per minute
/// (<https://docs.slack.dev/apis/web-api/rate-limits>: "Tier 2 20+ per
/// minute", …; the fake allows the floor and no more).
const TIER_2: usize = 20;
const TIER_3: usize = 50;
const TIER_4: usize = 100;
/// `auth.test` is "special": "hundreds of requests per minute". The fake
/// takes the least that reads as "hundreds".
const AUTH_TEST: usize = 200;
/// The window Slack counts a tier's requests in.
const TIER_WINDOW: Duration = Duration::from_secs(60);

/// How the fake paces its callers. `Default` is Slack's documented pacing;
/// [`RateLimits::off`] is for load tests and benchmarks.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// `chat.postMessage`, per channel; `None` lets every post through.
    pub post_per_channel: Option<PostRate>,
    /// Budgets per method across the workspace (Slack's rate tiers).
    pub per_method: Vec<MethodRate>,
}

/// Slack's "1 per second, short bursts >1 allowed" for posting: each
/// channel holds `burst` posts and regains one every `interval`.
#[derive(Debug, Clone, Copy)]
pub struct PostRate {
    pub interval: Duration,
    pub burst: u32,
}

/// At most `requests` calls to `method` in any `window`.
#[derive(Debug, Clone)]
pub struct MethodRate {
    pub method: String,
    pub requests: usize,
    pub window: Duration,
}

impl Default for RateLimits {
    /// One post per second per channel after a burst of 3, and each other
    /// method at the floor of its tier per minute.
    fn default() -> Self {
        RateLimits::scaled(TIER_WINDOW)
    }
}

impl RateLimits {
    /// Slack's pacing with its minute shortened (or stretched) to `window`:
    /// every method keeps its tier's count of calls, per `window` instead of
    /// per 60 s, and a channel regains a post every `window / 60`. A test
    /// sees exactly the bursts Slack allows, in seconds instead of minutes.
    ///
    /// Tiers as Slack's own SDK assigns them (java-slack-sdk
    /// `MethodsRateLimits`): chat.update, conversations.info Tier 3;
    /// chat.postEphemeral, users.info, conversations.members, views.*
    /// Tier 4; usergroups.users.list Tier 2.
    pub fn scaled(window: Duration) -> Self {
        let tier = |method: &str, requests| MethodRate {
            method: method.to_owned(),
            requests,
            window,
        };
        RateLimits {
            post_per_channel: Some(PostRate {
                interval: window / 60,
                burst: 3,
            }),
            per_method: vec![
                tier("auth.test", AUTH_TEST),
                tier("chat.update", TIER_3),
                tier("chat.postEphemeral", TIER_4),
                tier("views.open", TIER_4),
                tier("views.push", TIER_4),
                tier("views.update", TIER_4),
                tier("views.publish", TIER_4),
                tier("users.info", TIER_4),
                tier("conversations.info", TIER_3),
                tier("conversations.members", TIER_4),
                tier("usergroups.users.list", TIER_2),
                tier("files.getUploadURLExternal", TIER_4),
                tier("files.completeUploadExternal", TIER_4),
            ],
        }
    }

    /// The budget of `method` (calls per window), if it has one.
    pub fn budget(&self, method: &str) -> Option<&MethodRate> {
        self.per_method.iter().find(|r| r.method == method)
    }

    /// No rate limits at all.
    pub fn off() -> Self {
        RateLimits {
            post_per_channel: None,
            per_method: Vec::new(),
        }
    }

    /// Only the per-channel posting limit, with the given pacing: a short
    /// interval keeps a rate-limit test fast.
    pub fn posting(interval: Duration, burst: u32) -> Self {
        RateLimits {
            post_per_channel: Some(PostRate { interval, burst }),
            per_method: Vec::new(),
        }
    }
}

/// A channel's posting allowance (a token bucket).
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// Takes one post, or says how long until one is available.
    fn take(&mut self, rate: PostRate, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(rate.burst);
        if rate.interval.is_zero() {
            return Ok(());
        }
        let regained = now.duration_since(self.last).as_secs_f64() / rate.interval.as_secs_f64();
        self.tokens = (self.tokens + regained).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(rate.interval.mul_f64(1.0 - self.tokens))
        }
    }
}

/// The limits in force and what callers have spent of them: each
/// channel's posting bucket and each method's recent calls.
#[derive(Debug)]
pub(super) struct Pacing {
    limits: RateLimits,
    buckets: HashMap<String, Bucket>,
    recent: HashMap<String, VecDeque<Instant>>,
}

impl Pacing {
    /// `limits`, nothing spent yet.
    pub(super) fn new(limits: RateLimits) -> Pacing {
        Pacing {
            limits,
            buckets: HashMap::new(),
            recent: HashMap::new(),
        }
    }

    /// One call from `method`'s budget (a sliding window), if it has one.
    pub(super) fn within_method_budget(&mut self, method: &str) -> Result<(), Reply> {
        let Some(rate) = self.limits.budget(method) else {
            return Ok(());
        };
        let now = Instant::now();
        let recent = self.recent.entry(method.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= rate.window)
        {
            recent.pop_front();
        }
        if recent.len() >= rate.requests {
            let wait = recent.front().map_or(rate.window, |oldest| {
                rate.window.saturating_sub(now.duration_since(*oldest))
            });
            return Err(Reply::rate_limited(retry_after_secs(wait)));
        }
        recent.push_back(now);
        Ok(())
    }

    /// One post from `channel`'s allowance.
    pub(super) fn take_post(&mut self, channel: &str) -> Result<(), Reply> {
        let Some(rate) = self.limits.post_per_channel else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = self
            .buckets
            .entry(channel.to_owned())
            .or_insert_with(|| Bucket {
                tokens: f64::from(rate.burst),
                last: now,
            });
        bucket
            .take(rate, now)
            .map_err(|wait| Reply::rate_limited(retry_after_secs(wait)))
    }
}

/// `Retry-After` is whole seconds: round up, and never say 0.
fn retry_after_secs(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}
