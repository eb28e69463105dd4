//! The request-head deadline of one HTTP connection, kept with one timer
//! per connection instead of one per request.
//!
//! hyper's own header-read timeout arms a timer when a connection starts
//! waiting for a head and drops it when the head is in: a timer made and
//! dropped for every request. On the keep-alive connections Slack's clicks
//! arrive on, that cost the paced click's p99 about 1.7 ms (BENCHMARKS.md,
//! "the paced tail"). Here each connection has one timer that fires at most
//! once per [`Limits::head`](super::Limits) and then looks at what the
//! connection did in the meantime:
//!
//! - a request being answered (its head is in, so its body has its own
//!   deadline where it is read): the timer moves on by a whole `head`;
//! - otherwise the connection has been waiting for a head since the last
//!   answer (or since it opened): closed if that is `head` or longer, else
//!   the timer moves to that moment.
//!
//! So a half-sent head and an idle keep-alive connection are both closed
//! `head` after the last answer, as with hyper's timer, and a busy
//! connection pays two atomic writes and a clock read per request.
//!
//! One difference from hyper's timer, on purpose: an answer counts as made
//! when the handler returns it, not when hyper has finished writing it, so
//! the wait also covers writing the answer out. A client that stops
//! reading cannot hold a connection open with an unread answer (hyper's
//! timer did not start until the answer was flushed); tagbot's answers are
//! small, and a reader taking over 5 s for one is not a client Slack runs.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// What one connection has done, as its requests report it.
pub struct Activity {
    opened: Instant,
    /// Requests whose head is in and whose answer is not yet made.
    answering: AtomicUsize,
    /// When the last answer was made, in nanoseconds after `opened`.
    last_answered: AtomicU64,
}

/// One request being answered; when dropped (answered, or abandoned with
/// its connection) the connection is waiting for a head again.
pub struct Answering(Arc<Activity>);

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            answering: AtomicUsize::new(0),
            last_answered: AtomicU64::new(0),
        })
    }

    /// A request's head has come in.
    pub fn answering(self: &Arc<Activity>) -> Answering {
        self.answering.fetch_add(1, Ordering::AcqRel);
        Answering(Arc::clone(self))
    }

    /// When the connection is due to be closed if nothing happens before:
    /// `head` after it began waiting for a head, or a whole `head` on from
    /// `now` while it answers.
    fn due(&self, head: Duration, now: Instant) -> Instant {
        if self.answering.load(Ordering::Acquire) > 0 {
            return now + head;
        }
        let since_opened = Duration::from_nanos(self.last_answered.load(Ordering::Acquire));
        self.opened + since_opened + head
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        // The time first, then the count: whoever sees nothing being
        // answered sees when the last answer was made.
        let since_opened = u64::try_from(self.0.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0
            .last_answered
            .fetch_max(since_opened, Ordering::AcqRel);
        self.0.answering.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `connection` until it ends (its output) or until it has waited
/// `head` for a request head (`None`; the connection is dropped, which
/// closes it).
pub async fn within<F: Future>(
    connection: F,
    activity: &Activity,
    head: Duration,
) -> Option<F::Output> {
    let mut connection = pin!(connection);
    let timer = tokio::time::sleep(head);
    let mut timer = pin!(timer);
    loop {
        tokio::select! {
            biased;
            ended = &mut connection => return Some(ended),
            () = &mut timer => {
                let now = Instant::now();
                let due = activity.due(head, now);
                if due <= now {
                    return None;
                }
                timer.as_mut().reset(due);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short, so the tests wait on real time for a fraction of a second.
    const HEAD: Duration = Duration::from_millis(300);
    /// Room for a loaded machine to wake the timer late.
    const LATE: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn a_connection_that_never_sends_a_head_is_closed_after_head() {
        let activity = Activity::new();
        let started = Instant::now();
        let ended = within(std::future::pending::<()>(), &activity, HEAD).await;
        assert!(ended.is_none());
        let waited = started.elapsed();
        assert!(waited >= HEAD && waited < HEAD + LATE, "{waited:?}");
    }

    #[tokio::test]
    async fn the_wait_for_a_head_counts_from_the_last_answer() {
        let activity = Activity::new();
        let started = Instant::now();
        let answered_at = Duration::from_millis(800);
        let client = {
            let activity = Arc::clone(&activity);
            async move {
                tokio::time::sleep(HEAD / 2).await;
                let answering = activity.answering();
                // Longer than a head deadline, answering all the while.
                tokio::time::sleep(answered_at - HEAD / 2).await;
                drop(answering);
                std::future::pending::<()>().await;
            }
        };
        assert!(within(client, &activity, HEAD).await.is_none());
        let waited = started.elapsed();
        assert!(
            waited >= answered_at + HEAD && waited < answered_at + HEAD + LATE,
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn an_answer_longer_than_head_is_never_cut() {
        let activity = Activity::new();
        let client = {
            let activity = Arc::clone(&activity);
            async move {
                let _answering = activity.answering();
                tokio::time::sleep(HEAD * 4).await;
                "answered"
            }
        };
        assert_eq!(within(client, &activity, HEAD).await, Some("answered"));
    }
}
