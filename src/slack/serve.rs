//! `tagbot serve`: the HTTP endpoints, the review poster, the channel
//! notifier and the sync worker in one process, stopped together by one shutdown signal (the
//! HTTP server stops accepting, finishes the requests it has, and the
//! poster and worker give back what they hold).

use tokio::net::TcpListener;

use super::app::{SlackApp, SlackError};
use super::{http, notify, poster, socket};
use crate::shutdown::Shutdown;
use crate::sync::Syncer;

/// Runs everything until `shutdown`; returns the first part's failure.
pub async fn run(
    app: SlackApp,
    syncer: Option<Syncer>,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<(), SlackError> {
    let claimant = format!("serve-{}-{:04x}", std::process::id(), rand::random::<u16>());
    let address = listener.local_addr().ok();
    tracing::info!(?address, "listening for Slack");

    let server = {
        let shutdown = shutdown.clone();
        let router = http::router(app.clone());
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.requested().await })
                .await
        })
    };
    let posting = {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move { poster::run_until_shutdown(&app, &claimant, &shutdown).await })
    };
    // Socket Mode carries Slack's requests; the HTTP endpoints stay up for
    // the health probes (and still verify anything sent to them).
    let socket_mode = app.settings.app_token.clone().map(|token| {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move { socket::run(app, &token, &shutdown).await })
    });
    let notifying = {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move { notify::run_until_shutdown(&app, &shutdown).await })
    };
    let following = syncer.as_ref().map(|syncer| {
        let (app, shutdown, progress) = (app.clone(), shutdown.clone(), syncer.progress());
        tokio::spawn(async move { notify::follow_sync_progress(&app, progress, &shutdown).await })
    });
    let syncing = syncer.map(|syncer| {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { syncer.run_until_shutdown(&shutdown).await })
    });

    let served = server.await;
    let posted = posting.await;
    if let Some(socket_mode) = socket_mode {
        match socket_mode.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "Socket Mode stopped"),
            Err(err) => tracing::error!(error = %err, "Socket Mode panicked"),
        }
    }
    if let Some(following) = following {
        if let Err(err) = following.await {
            tracing::error!(error = %err, "the sync progress poster panicked");
        }
    }
    if let Err(err) = notifying.await {
        tracing::error!(error = %err, "the channel notifier panicked");
    }
    if let Some(syncing) = syncing {
        match syncing.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = %err, "the sync worker stopped with an error"),
            Err(err) => tracing::error!(error = %err, "the sync worker panicked"),
        }
    }
    match served {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::error!(error = %err, "the HTTP server stopped with an error"),
        Err(err) => tracing::error!(error = %err, "the HTTP server panicked"),
    }
    match posted {
        Ok(result) => result,
        Err(err) => {
            tracing::error!(error = %err, "the poster panicked");
            Ok(())
        }
    }
}
