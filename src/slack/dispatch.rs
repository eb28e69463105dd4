//! The one place a request Slack sent is routed to its handler, whichever
//! transport brought it (HTTP or Socket Mode): an interaction, a slash
//! command or an Events API callback. The transports read and acknowledge;
//! what a request does is the handlers' to say.
//!
//! A click is acknowledged once a permit of the
//! [`ClickQueue`](crate::slack::click_queue::ClickQueue) is free and
//! decided right after, in the background; a review session's submission
//! is answered in the acknowledgement itself.

use std::time::Duration;

use serde_json::Value;
use tracing::Instrument;

use crate::slack::app::SlackApp;
use crate::slack::click_queue::NoPermit;
use crate::slack::handlers::{commands, events, interactions};
use crate::slack::payload::{Interaction, SlashCommand};

pub use crate::slack::handlers::commands::{ephemeral, Answer, INLINE_ANSWER_BUDGET};

/// What becomes of an interaction.
#[derive(Debug)]
pub enum Dispatched {
    /// Answered in the acknowledgement (a review session's submission).
    Answer(Value),
    /// Acknowledged empty; decided in the background.
    Accepted,
}

/// Routes an interaction: answered at once when its answer goes in the
/// acknowledgement, else accepted under a permit (within
/// [`crate::slack::click_queue::ACCEPT_WAIT`]) and decided in the
/// background; the caller acknowledges Slack after this returns Ok.
pub async fn interaction(app: &SlackApp, interaction: Interaction) -> Result<Dispatched, NoPermit> {
    if let Some(answer) = interactions::answer_now(app, &interaction).await {
        return Ok(Dispatched::Answer(answer));
    }
    let permit = app.clicks.permit().await?;
    let app = app.clone();
    tokio::spawn(
        async move {
            interactions::handle(&app, interaction).await;
            drop(permit);
        }
        .instrument(tracing::Span::current()),
    );
    Ok(Dispatched::Accepted)
}

/// Routes a slash command: its answer when ready within `budget`, else
/// None (the caller acknowledges empty and the answer follows at the
/// command's `response_url`).
pub async fn command(app: &SlackApp, command: SlashCommand, budget: Duration) -> Option<Answer> {
    commands::respond_within(app, command, budget).await
}

/// Routes an Events API callback (`retry`: Slack sent it again).
pub fn event(app: &SlackApp, callback: &Value, retry: bool) {
    events::on_callback(app, callback, retry);
}
