//! Dispatching a click: acknowledged once a permit of the
//! [`ClickQueue`](super::click_queue::ClickQueue) is free and decided
//! right after, in the background, by [`super::interactions`] (HTTP and
//! Socket Mode alike).

use tracing::Instrument;

use super::app::SlackApp;
use super::click_queue::NoPermit;
use super::payload::Interaction;

/// Decides `interaction` in the background once a permit is free (within
/// [`super::click_queue::ACCEPT_WAIT`]); the caller acknowledges Slack after this returns Ok.
pub async fn accept(app: &SlackApp, interaction: Interaction) -> Result<(), NoPermit> {
    let permit = app.clicks.permit().await?;
    let app = app.clone();
    tokio::spawn(
        async move {
            super::interactions::handle(&app, interaction).await;
            drop(permit);
        }
        .instrument(tracing::Span::current()),
    );
    Ok(())
}
