//! How fast tagbot calls each Slack Web API method, so that Slack never has
//! to refuse a call with HTTP 429.
//!
//! Slack limits every method per workspace per app by its rate tier
//! (<https://docs.slack.dev/apis/web-api/rate-limits>): Tier 1 "1+ per
//! minute", Tier 2 "20+", Tier 3 "50+", Tier 4 "100+"; `chat.postMessage`
//! about one message per second per channel. The page does not say how a
//! minute is counted, so tagbot takes the strict reading: at most the floor
//! in *any* 60 s.
//!
//! slack-morphism's rate controller does the waiting, but it paces a method
//! by its tier only when the token carries a team id or a global limit is
//! set (`calc_throttle_delay` in slack-morphism 2.31's
//! `hyper_tokio/ratectl`); without either, a poster pass sends its
//! `chat.update`s in one burst. tagbot talks to exactly one workspace per
//! bot token, so every token it builds carries the same team key,
//! [`TEAM_KEY`], and the tier counters are shared by every call.
//!
//! The controller counts with a token bucket: a burst of `value` calls, then
//! one every `per / value`. Its default (the floor per minute, all of it as
//! a burst) lets up to twice the floor through in one minute. tagbot's
//! [`Pacing`] gives each tier a burst of a tenth of its floor and a steady
//! rate that keeps burst plus steady calls at four fifths of the floor in any
//! window: Tier 3 is 5 at once, then one every 1.72 s (40 a minute at most).

use std::collections::HashMap;
use std::time::Duration;

use slack_morphism::prelude::*;

/// The team every token is counted under. Not Slack's team id: one bot
/// token is one workspace, so any constant keys the same counters.
pub const TEAM_KEY: &str = "tagbot-workspace";

/// Slack's tiers: the documented floor of calls per window.
const TIERS: [(SlackApiMethodRateTier, u64); 4] = [
    (SlackApiMethodRateTier::Tier1, 1),
    (SlackApiMethodRateTier::Tier2, 20),
    (SlackApiMethodRateTier::Tier3, 50),
    (SlackApiMethodRateTier::Tier4, 100),
];
/// Posts per window per channel (Slack: one a second).
const POSTS_PER_WINDOW: u64 = 60;

/// A Web API method's rate tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Two,
    Three,
    Four,
}

impl Tier {
    /// The documented floor of calls per minute.
    fn floor(self) -> u64 {
        match self {
            Tier::Two => 20,
            Tier::Three => 50,
            Tier::Four => 100,
        }
    }
}

/// tagbot's pace for Slack's tiers, counted over `window` (60 s at Slack;
/// tests shorten it to match a stand-in whose tiers run faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    window: Duration,
}

impl Default for Pacing {
    /// Slack's minute.
    fn default() -> Self {
        Pacing::per(Duration::from_secs(60))
    }
}

impl Pacing {
    /// Slack's tiers counted over `window` instead of a minute.
    pub fn per(window: Duration) -> Pacing {
        Pacing { window }
    }

    /// The rate controller's limits for every tier.
    pub fn tier_limits(&self) -> HashMap<SlackApiMethodRateTier, SlackApiRateControlLimit> {
        TIERS
            .into_iter()
            .map(|(tier, floor)| (tier, self.tier_limit(floor)))
            .collect()
    }

    /// A bucket of a tenth of `floor` (at least 1) refilled at a rate that
    /// keeps bucket plus refills within four fifths of `floor` per window.
    /// Tier 1's floor is a single call: one every two windows.
    fn tier_limit(&self, floor: u64) -> SlackApiRateControlLimit {
        let burst = (floor / 10).max(1);
        let steady = (floor * 4 / 5).saturating_sub(burst);
        let interval = if steady == 0 {
            self.window.saturating_mul(2)
        } else {
            self.interval(steady)
        };
        bucket(burst, interval)
    }

    /// The controller's settings for `method` of `tier`: its own counter,
    /// as Slack counts each method on its own. (slack-morphism's tier
    /// limits are one counter per tier, shared by every method in it: a
    /// burst of ephemerals would hold up a `views.open`, whose trigger
    /// lasts 3 s.)
    pub fn method(&self, method: &'static str, tier: Tier) -> SlackApiMethodRateControlConfig {
        SlackApiMethodRateControlConfig::new().with_special_rate_limit(
            SlackApiRateControlSpecialLimit::new(
                SlackApiRateControlSpecialLimitKey(method.to_owned()),
                self.tier_limit(tier.floor()),
            ),
        )
    }

    /// One post every window / 60 per channel, no burst.
    pub fn per_channel_post(&self) -> SlackApiRateControlLimit {
        bucket(1, self.interval(POSTS_PER_WINDOW))
    }

    /// The window divided among `calls`, rounded up to a whole millisecond:
    /// the controller counts in milliseconds and would otherwise round the
    /// interval down, running a little fast.
    fn interval(&self, calls: u64) -> Duration {
        let window = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(window.div_ceil(calls.max(1)).max(1))
    }
}

/// `burst` calls at once, then one per `interval` (slack-morphism's bucket
/// holds `value` calls and regains one every `per / value`).
fn bucket(burst: u64, interval: Duration) -> SlackApiRateControlLimit {
    let value = usize::try_from(burst).unwrap_or(1).max(1);
    let per = interval.saturating_mul(u32::try_from(value).unwrap_or(u32::MAX));
    SlackApiRateControlLimit::new(value, per)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Most calls a bucket lets through in any `window`: the burst, plus
    /// one per interval, plus one at the window's edge.
    fn most_per_window(limit: &SlackApiRateControlLimit, window: Duration) -> u64 {
        let interval = limit.to_rate_limit_in_ms();
        let window = u64::try_from(window.as_millis()).unwrap();
        limit.to_rate_limit_capacity() as u64 + window / interval + 1
    }

    #[test]
    fn no_tier_goes_past_its_floor_in_any_window() {
        for window in [Duration::from_secs(60), Duration::from_millis(1_200)] {
            let limits = Pacing::per(window).tier_limits();
            for (tier, floor) in TIERS {
                let most = most_per_window(&limits[&tier], window);
                assert!(most <= floor.max(2), "{tier:?}: {most} > {floor}");
            }
        }
    }

    #[test]
    fn tier_3_bursts_five_then_paces_at_forty_a_minute() {
        let limits = Pacing::default().tier_limits();
        let tier3 = &limits[&SlackApiMethodRateTier::Tier3];
        assert_eq!(tier3.to_rate_limit_capacity(), 5);
        assert_eq!(tier3.to_rate_limit_in_ms(), 1_715);
        let tier4 = &limits[&SlackApiMethodRateTier::Tier4];
        assert_eq!(tier4.to_rate_limit_capacity(), 10);
    }

    #[test]
    fn posts_are_one_per_window_sixtieth_never_faster() {
        assert_eq!(
            Pacing::default().per_channel_post().to_rate_limit_in_ms(),
            1_000
        );
        // 1,000 / 60 = 16.67 ms: rounded up, not down.
        let short = Pacing::per(Duration::from_secs(1)).per_channel_post();
        assert_eq!(short.to_rate_limit_in_ms(), 17);
    }
}
