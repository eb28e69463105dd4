//! Waking on the database's `NOTIFY`: the triggers notify a channel when
//! work appears (`tagbot_sync` for the worker, `tagbot_slack` for the
//! poster), and a [`Listener`] holds one pooled connection to hear it.

use sqlx::postgres::PgListener;
use sqlx::PgPool;

use super::Error;

/// One channel's notifications, heard on a connection of `pool` held for
/// as long as the listener lives.
#[derive(Debug)]
pub struct Listener {
    listener: PgListener,
}

impl Listener {
    /// Listens on `channel`.
    pub async fn listen(pool: &PgPool, channel: &str) -> Result<Listener, Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Listener { listener })
    }

    /// Waits for the next notification. An error means the connection was
    /// lost; the next call reconnects and listens again.
    pub async fn notified(&mut self) -> Result<(), Error> {
        self.listener.recv().await?;
        Ok(())
    }
}
