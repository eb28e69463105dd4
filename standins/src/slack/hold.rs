//! A test's hold on the calls to one method: they wait, before the fake
//! looks at them, until the test lets them go. A test orders a race this
//! way (an update of a modal sent first but landing last) instead of
//! hoping the scheduler does. Nothing of Slack's: a slow network, at the
//! moment the test picks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// The fake's side: what a call to a held method waits on.
#[derive(Debug, Clone)]
pub(super) struct Gate {
    open: watch::Receiver<bool>,
    waiting: Arc<AtomicUsize>,
}

impl Gate {
    /// Whether the test let go (a let-go gate is forgotten).
    pub(super) fn is_open(&self) -> bool {
        *self.open.borrow()
    }

    /// Waits until the test lets go.
    pub(super) async fn pass(mut self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // An error means the test's handle is gone: that lets go too.
        let _ = self.open.wait_for(|open| *open).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The test's side ([`super::FakeSlack::hold`]): the method's calls wait
/// until [`HeldCalls::release`], or until this is dropped.
#[derive(Debug)]
pub struct HeldCalls {
    open: watch::Sender<bool>,
    waiting: Arc<AtomicUsize>,
}

impl HeldCalls {
    /// How many calls are waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Lets every waiting call (and every later one) through.
    pub fn release(self) {}
}

impl Drop for HeldCalls {
    fn drop(&mut self) {
        self.open.send_replace(true);
    }
}

/// A closed gate and the handle that opens it.
pub(super) fn hold() -> (Gate, HeldCalls) {
    let (sender, receiver) = watch::channel(false);
    let waiting = Arc::new(AtomicUsize::new(0));
    (
        Gate {
            open: receiver,
            waiting: Arc::clone(&waiting),
        },
        HeldCalls {
            open: sender,
            waiting,
        },
    )
}
