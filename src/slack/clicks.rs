//! The bounded queue of clicks: a click is acknowledged once a permit is
//! free and decided right after, in the background (HTTP and Socket Mode
//! alike). At most [`MAX_OUTSTANDING_CLICKS`] are acknowledged and not yet
//! decided: past it, a burst slows the acknowledgements down a little
//! instead of queueing work without bound (and timing out waiting for a
//! database connection). Late `/tags` answers hold a permit too, so a
//! graceful shutdown waits for them as it does for clicks.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use super::app::SlackApp;
use super::payload::Interaction;

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

impl ClickQueue {
    /// A permit for one piece of acknowledged work, once one is free;
    /// `None` once the queue is closed.
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).acquire_owned().await.ok()
    }

    /// Waits (up to `within`) until every accepted piece of work is done;
    /// false when some were still running.
    pub async fn drain(&self, within: Duration) -> bool {
        let all = self.permits.acquire_many(MAX_OUTSTANDING_CLICKS);
        matches!(tokio::time::timeout(within, all).await, Ok(Ok(_)))
    }
}

/// Decides `interaction` in the background once a permit is free; the
/// caller acknowledges Slack after this returns true.
pub async fn accept(app: &SlackApp, interaction: Interaction) -> bool {
    let Some(permit) = app.clicks.permit().await else {
        return false;
    };
    let app = app.clone();
    tokio::spawn(
        async move {
            super::interactions::handle(&app, interaction).await;
            drop(permit);
        }
        .instrument(tracing::Span::current()),
    );
    true
}
