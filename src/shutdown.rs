//! One shutdown path for every long-running task: SIGTERM or Ctrl-C flips
//! a watch channel that every part of `serve` (the HTTP server, Socket
//! Mode, the poster, the notifier) and the sync worker listen to.

use tokio::sync::watch;

/// Tells tasks when the process is asked to stop.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

impl Shutdown {
    /// Fires on SIGTERM or Ctrl-C.
    pub fn on_signal() -> Shutdown {
        let (sender, shutdown) = Shutdown::manual();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested; finishing or releasing work in flight");
            let _ = sender.send(true);
        });
        shutdown
    }

    /// Fires when the returned sender sends `true` (tests, embedding).
    pub fn manual() -> (watch::Sender<bool>, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (sender, Shutdown { receiver })
    }

    /// Never fires: for one-shot work.
    pub fn never() -> Shutdown {
        let (_sender, receiver) = watch::channel(false);
        Shutdown { receiver }
    }

    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes when shutdown is requested; never, if it cannot be.
    pub async fn requested(&self) {
        let mut receiver = self.receiver.clone();
        if receiver.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
