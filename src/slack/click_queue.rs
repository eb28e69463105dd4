//! The bounded queue of work acknowledged to Slack and not yet done: a
//! click decided in the background, a `/tags` answer posted late. At most
//! [`MAX_OUTSTANDING_CLICKS`] at once: past it, a burst slows the
//! acknowledgements down a little instead of queueing work without bound
//! (and timing out waiting for a database connection). A graceful
//! shutdown waits for all of it ([`ClickQueue::drain`]).
//!
//! No wait for a permit is unbounded: past [`ACCEPT_WAIT`] the
//! acknowledgement would miss Slack's 3 s, so the work is refused (Slack
//! tells the reviewer it failed, and nothing was decided) rather than
//! acknowledged late and done behind the reviewer's back. HTTP and Socket
//! Mode wait the same. State only: what runs under a permit is the
//! dispatcher's ([`crate::slack::dispatch`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// Clicks acknowledged but not yet decided, at most.
pub const MAX_OUTSTANDING_CLICKS: u32 = 128;

/// The permits of work acknowledged to Slack and not yet done.
#[derive(Debug, Clone)]
pub struct ClickQueue {
    permits: Arc<Semaphore>,
}

impl Default for ClickQueue {
    fn default() -> Self {
        ClickQueue {
            permits: Arc::new(Semaphore::new(MAX_OUTSTANDING_CLICKS as usize)),
        }
    }
}

/// How long a click or a command may wait for a permit: Slack's 3 s, less
/// room for the acknowledgement's way back.
pub const ACCEPT_WAIT: Duration = Duration::from_millis(2_500);

/// Why no permit was handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPermit {
    /// None came free within [`ACCEPT_WAIT`]: a burst is being worked off.
    Busy,
    /// The queue is closed: the process is shutting down.
    Closed,
}

impl ClickQueue {
    /// A permit for one piece of acknowledged work, once one is free
    /// within [`ACCEPT_WAIT`].
    pub async fn permit(&self) -> Result<OwnedSemaphorePermit, NoPermit> {
        // The usual case, a slot free at once, sets no timer.
        match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => return Ok(permit),
            Err(TryAcquireError::Closed) => return Err(NoPermit::Closed),
            Err(TryAcquireError::NoPermits) => {}
        }
        let free = Arc::clone(&self.permits).acquire_owned();
        match tokio::time::timeout(ACCEPT_WAIT, free).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(NoPermit::Closed),
            Err(_) => Err(NoPermit::Busy),
        }
    }

    /// Waits (up to `within`) until every accepted piece of work is done;
    /// false when some were still running.
    pub async fn drain(&self, within: Duration) -> bool {
        let all = self.permits.acquire_many(MAX_OUTSTANDING_CLICKS);
        matches!(tokio::time::timeout(within, all).await, Ok(Ok(_)))
    }
}
