//! Dispatching a click: acknowledged once a permit of the
//! [`ClickQueue`](crate::slack::click_queue::ClickQueue) is free and decided
//! right after, in the background, by [`crate::slack::handlers::interactions`] (HTTP and
//! Socket Mode alike).

use tracing::Instrument;

use crate::slack::app::SlackApp;
use crate::slack::click_queue::NoPermit;
use crate::slack::payload::Interaction;

/// Decides `interaction` in the background once a permit is free (within
/// [`crate::slack::click_queue::ACCEPT_WAIT`]); the caller acknowledges Slack after this returns Ok.
pub async fn accept(app: &SlackApp, interaction: Interaction) -> Result<(), NoPermit> {
    let permit = app.clicks.permit().await?;
    let app = app.clone();
    tokio::spawn(
        async move {
            crate::slack::handlers::interactions::handle(&app, interaction).await;
            drop(permit);
        }
        .instrument(tracing::Span::current()),
    );
    Ok(())
}
