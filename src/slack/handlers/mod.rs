//! One module per surface a request comes from: buttons and menus
//! (`interactions`, each click read by `click`), `/tags` (`commands`),
//! Events API callbacks (`events`), review sessions (`sessions`), the
//! App Home (`home`), and an Undo pressed on any of them (`undo`). They decide through `review` and answer through
//! `output`. What a lecture-wide answer left unchanged is said the same
//! way from each (`not_changed`).
pub mod click;
pub mod commands;
pub mod events;
pub mod home;
pub mod interactions;
pub mod sessions;
pub mod undo;

use crate::domain::SuggestionId;
use crate::review::{Decision, LectureDecisions};
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::render;
use crate::storage::suggestions;

/// [`render::not_changed`] with the tags' names read in one go.
pub(crate) async fn not_changed(
    app: &SlackApp,
    decisions: &LectureDecisions,
    lead_unconfirmed: bool,
) -> Result<Vec<String>, SlackError> {
    let ids: Vec<SuggestionId> = decisions.unchanged().map(Decision::suggestion).collect();
    let names = if ids.is_empty() {
        Default::default()
    } else {
        suggestions::tag_names(&app.pool, &ids).await?
    };
    Ok(render::not_changed(decisions, &names, lead_unconfirmed))
}
