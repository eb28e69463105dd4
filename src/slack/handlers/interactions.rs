//! What a click does: each interactive element of the review message (and
//! the details modal's submission) runs its review operation with the
//! clicking user as the actor. A click that lost a race, or by someone not
//! allowed to decide, changes nothing and gets an ephemeral message saying
//! why; when Slack will not deliver that ephemeral (the user is not in the
//! channel), it goes through the click's `response_url` instead.
//!
//! Details opens its modal within the trigger's 3 s: when the lecture
//! takes longer to load, a small "loading" modal opens at once and is
//! updated with the details when they are ready.
//!
//! Runs after the request was acknowledged, so a slow database or Slack
//! never makes a reviewer see Slack's "didn't respond" error. The message
//! itself is brought up to date by the poster ([`crate::slack::output::poster`]), which
//! every decision wakes: one `chat.update` per changed message, however
//! many clicks changed it, within Slack's rate limit for updates.

use std::time::Duration;

use crate::domain::{Actor, LectureId, RejectReason, SuggestionId};
use crate::review::{Decision, LectureDecisions, ReviewError};
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::card::{actions, HistoryLine, LectureCard};
use crate::slack::handlers::click::{self, Click, Verb};
use crate::slack::output::api::{ShownView, SlackApiError, HASH_CONFLICT};
use crate::slack::payload::{Action, BlockActions, Interaction, View, ViewSubmission};
use crate::slack::reviewers::{NotAllowed, Requester};
use crate::slack::{handlers::home, handlers::sessions, handlers::undo, render};
use crate::storage::{self, review_messages, suggestions};

/// How long Details waits for the lecture before it opens a "loading"
/// modal: a trigger opens a view only within 3 s of the click, and the
/// acknowledgement and views.open take some of them.
const DETAILS_LOAD_BUDGET: Duration = Duration::from_millis(1_500);

/// Who clicked or submitted, and where something only they see reaches
/// them: an ephemeral in `channel`, else the interaction's response URL.
struct Clicker<'a> {
    id: &'a str,
    handle: Option<&'a str>,
    /// The clicker's own workspace, as the payload says.
    team_id: Option<&'a str>,
    channel: String,
    response_url: Option<&'a str>,
}

impl Clicker<'_> {
    fn requester(&self) -> Requester<'_> {
        Requester {
            id: self.id,
            handle: self.handle,
            team_id: self.team_id,
        }
    }

    fn tell(&self, app: &SlackApp, text: &str) {
        app.tell_or_respond(&self.channel, self.id, self.response_url, text);
    }
}

/// How long a review session's submit may take: Slack's 3 s, less room for
/// the answer's way back.
const SESSION_ANSWER_BUDGET: Duration = Duration::from_millis(2_500);

/// The details modal's callback id and its approve-selected input.
pub use crate::slack::card::actions::{
    DETAILS_MODAL as DETAILS_CALLBACK, MODAL_SELECT, MODAL_SELECT_BLOCK,
};

/// The answer Slack waits for in the acknowledgement itself, for the
/// interactions that have one: a review session's submission answers with
/// the next lecture (or the errors). Everything else is acknowledged empty
/// and handled after ([`handle`]). HTTP and Socket Mode alike call this.
pub async fn answer_now(app: &SlackApp, interaction: &Interaction) -> Option<serde_json::Value> {
    let Interaction::ViewSubmission(submission) = interaction else {
        return None;
    };
    if submission.view.callback_id.as_deref() != Some(actions::SESSION_MODAL) {
        return None;
    }
    // Slack shows an error past 3 s even when the choices were saved.
    let answered =
        tokio::time::timeout(SESSION_ANSWER_BUDGET, sessions::submit(app, submission)).await;
    home::refresh_after_decision(app, &submission.user.id);
    match answered {
        Ok(Ok(answer)) => Some(answer),
        Err(_) => {
            tracing::warn!(user = %submission.user.id, "a review session's submission took too long to answer");
            Some(serde_json::json!({
                "response_action": "update",
                "view": render::session_notice(
                    "Saving took longer than Slack waits, so this lecture may or may not have been saved. Close this and open `/tags review` again: a saved lecture is not shown again, and saving the same choices twice is harmless.",
                    &render::SessionState::default(),
                ),
            }))
        }
        Ok(Err(err)) => {
            tracing::error!(user = %submission.user.id, error = %err, "a review session's submission failed");
            Some(serde_json::json!({
                "response_action": "update",
                "view": render::session_notice(
                    "Something went wrong on tagbot's side; your choices may not have been saved. Close this and start again with `/tags review`.",
                    &render::SessionState::default(),
                ),
            }))
        }
    }
}

pub async fn handle(app: &SlackApp, interaction: Interaction) {
    match interaction {
        Interaction::BlockActions(click) => {
            let clicker = Clicker {
                id: &click.user.id,
                handle: click.user.name.as_deref(),
                team_id: click.user.team_id.as_deref(),
                channel: click
                    .message()
                    .map(|(channel, _)| channel)
                    .unwrap_or_else(|| app.settings.review_channel.clone()),
                response_url: click.response_url.as_deref(),
            };
            let mut decided = false;
            for action in &click.actions {
                match on_action(app, &click, &clicker, action).await {
                    Ok(decides) => decided |= decides,
                    Err(err) => {
                        tracing::error!(action = %action.action_id, user = %click.user.id, error = %err, "a Slack action failed");
                        clicker.tell(app, "Something went wrong on tagbot's side; nothing may have changed. Try again in a moment.");
                    }
                }
            }
            if decided {
                home::refresh_after_decision(app, &click.user.id);
            }
        }
        Interaction::ViewSubmission(submission) => {
            if let Err(err) = on_submission(app, &submission).await {
                tracing::error!(user = %submission.user.id, error = %err, "a modal submission failed");
            }
            home::refresh_after_decision(app, &submission.user.id);
        }
        Interaction::ViewClosed(closed) => {
            if closed.view.callback_id.as_deref() == Some(actions::SESSION_MODAL) {
                if let Err(err) = sessions::closed(app, &closed.user.id).await {
                    tracing::warn!(user = %closed.user.id, error = %err, "could not let go of a closed session's lecture; its lease will run out");
                }
            }
        }
        Interaction::Other => {}
    }
}

async fn on_action(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    action: &Action,
) -> Result<bool, SlackError> {
    let parsed = match click::parse(action, click.state.as_ref()) {
        Ok(parsed) => parsed,
        Err(unreadable) => {
            tracing::warn!(user = %clicker.id, action = %action.action_id, reason = %unreadable, "refused a click tagbot cannot read; nothing was decided");
            return Ok(false);
        }
    };
    let decides = parsed.decides();
    handle_click(app, click, clicker, parsed)
        .await
        .map(|()| decides)
}

/// Runs one typed click.
async fn handle_click(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    parsed: Click,
) -> Result<(), SlackError> {
    match parsed {
        Click::SelectionChanged => Ok(()),
        Click::Decide {
            verb,
            suggestion,
            reason,
        } => decide_one(app, click, clicker, verb, suggestion, reason).await,
        Click::Undo { suggestion } => undo(app, click, clicker, suggestion).await,
        Click::UndoVote { suggestion } => undo_vote(app, click, clicker, suggestion).await,
        Click::Details { lecture } => open_details(app, click, clicker, &lecture).await,
        Click::ApproveSelected { lecture, selected } => {
            if !clicked_on_own_message(app, click, &lecture).await? {
                return Ok(());
            }
            approve_selected(app, clicker, &lecture, &selected).await
        }
        Click::ApproveTop { lecture } => {
            let Some(actor) = lecture_wide(app, click, clicker, &lecture).await? else {
                return Ok(());
            };
            let result = app.review.approve_top(&lecture, None, &actor).await;
            report_lecture_result(app, clicker, result, false).await
        }
        Click::RetryFailed { lecture } => {
            // The Home tab lists failed lectures with a Retry each: no
            // message to check the lecture against, the reviewer's own tab.
            let actor = if from_home_tab(click) {
                reviewer(app, clicker).await
            } else {
                lecture_wide(app, click, clicker, &lecture).await?
            };
            let Some(actor) = actor else {
                return Ok(());
            };
            let result = app.review.retry_failed(&lecture, &actor).await;
            report_lecture_result(app, clicker, result, false).await
        }
        Click::StartReview => match click.trigger_id.as_deref() {
            Some(trigger) => sessions::start(app, &clicker.requester(), trigger).await,
            None => Ok(()),
        },
        Click::SessionSkip => match session_view(click) {
            Some(shown) => sessions::skip(app, &clicker.requester(), shown).await,
            None => Ok(()),
        },
        Click::SessionPreselect => match session_view(click) {
            Some(shown) => sessions::preselect(app, &clicker.requester(), shown).await,
            None => Ok(()),
        },
    }
}

fn from_home_tab(click: &BlockActions) -> bool {
    click
        .view
        .as_ref()
        .is_some_and(|view| view.kind.as_deref() == Some("home"))
}

/// The session modal a click came from, as the reviewer saw it (its id,
/// hash and state).
fn session_view(click: &BlockActions) -> Option<&View> {
    click.view.as_ref().filter(|view| view.id.is_some())
}

/// The actor of a lecture-wide click, when the click is on its lecture's
/// own message and the clicker may decide.
async fn lecture_wide(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    lecture: &LectureId,
) -> Result<Option<Actor>, SlackError> {
    if !clicked_on_own_message(app, click, lecture).await? {
        return Ok(None);
    }
    Ok(reviewer(app, clicker).await)
}

/// Whether the click's lecture is the one its message is about. Slack
/// builds action values from tagbot's own blocks, so a mismatch is a
/// forged (if signed) payload: refused whole and logged.
async fn clicked_on_own_message(
    app: &SlackApp,
    click: &BlockActions,
    lecture: &LectureId,
) -> Result<bool, SlackError> {
    let own = message_lecture(app, click).await?;
    if own.as_ref() == Some(lecture) {
        return Ok(true);
    }
    tracing::warn!(user = %click.user.id, %lecture, message_lecture = ?own, "refused a click whose lecture is not its message's");
    Ok(false)
}

/// The lecture of the message the click is on, when it is tagbot's.
async fn message_lecture(
    app: &SlackApp,
    click: &BlockActions,
) -> Result<Option<LectureId>, SlackError> {
    Ok(match click.message() {
        Some((channel, ts)) => app.lecture_of_message(&channel, &ts).await?,
        None => None,
    })
}

/// Where a click on a decision (or its Undo) was made, as tagbot knows
/// it: the lecture of its review message, or of the Details modal it was
/// made in (that view, to show afresh); never the click's own word.
struct ClickedOn<'a> {
    lecture: LectureId,
    details: Option<&'a View>,
}

async fn clicked_on<'a>(
    app: &SlackApp,
    click: &'a BlockActions,
) -> Result<Option<ClickedOn<'a>>, SlackError> {
    let details = click
        .view
        .as_ref()
        .filter(|view| view.callback_id.as_deref() == Some(DETAILS_CALLBACK));
    let lecture = match details {
        Some(view) => view
            .private_metadata
            .as_deref()
            .and_then(|raw| LectureId::parse(raw).ok()),
        None => message_lecture(app, click).await?,
    };
    Ok(lecture.map(|lecture| ClickedOn { lecture, details }))
}

async fn decide_one(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    verb: Verb,
    id: SuggestionId,
    reason: Option<RejectReason>,
) -> Result<(), SlackError> {
    let Some(ClickedOn { lecture, details }) = clicked_on(app, click).await? else {
        tracing::warn!(user = %clicker.id, %id, "refused a decision from a message or modal that is not tagbot's");
        return Ok(());
    };
    let Some(actor) = reviewer(app, clicker).await else {
        return Ok(());
    };
    let transition = verb.transition();
    // Decides only a suggestion of the clicked lecture: another's is
    // NotFound (a forged, if signed, payload), and nothing changes.
    let lead = app.rules_disputes(&clicker.requester()).await;
    let decided = app
        .review
        .decide_as(id, &lecture, transition, reason, &actor, lead == Ok(true))
        .await;
    let decision = match decided {
        Ok(decision) => decision,
        Err(err) => return Err(review_failure(err)),
    };
    match &decision {
        // The message (or the Details modal, shown afresh) says what
        // happened: a vote shows beside its tag. No ephemeral per vote:
        // at a busy hour that many would outrun chat.postEphemeral's tier.
        Decision::Applied(_) | Decision::Voted(_) => {
            if let Some(shown) = details {
                refresh_details(app, shown, &lecture).await?;
            }
        }
        Decision::NotFound(_) => {
            tracing::warn!(user = %clicker.id, %id, %lecture, "refused a decision for a suggestion that is not of its message's lecture (or no longer exists)");
        }
        // A double click, or the same click delivered twice: the decision
        // stands as this reviewer made it, nothing to say.
        Decision::AlreadyDecided(prior)
            if prior.decided_by.as_ref().is_some_and(|by| {
                by.actor == actor.as_db() && by.action == transition.action()
            }) => {}
        Decision::NeedsLead { .. } if lead.is_err() => {
            let unconfirmed = NotAllowed::LeadUnconfirmed.to_string();
            tell_about(app, clicker, id, &render::escape_mrkdwn(&unconfirmed)).await?;
        }
        other => {
            let said = format!("{}. Nothing was changed.", render::words(other));
            tell_about(app, clicker, id, &said).await?;
        }
    }
    Ok(())
}

/// Tells the clicker, only them, `said` (escaped mrkdwn) about their
/// click on one tag.
async fn tell_about(
    app: &SlackApp,
    clicker: &Clicker<'_>,
    id: SuggestionId,
    said: &str,
) -> Result<(), SlackError> {
    let tag = suggestions::tag_name(&app.pool, id)
        .await?
        .unwrap_or_else(|| id.to_string());
    // The tag's name is the catalogue's: escaped and isolated.
    clicker.tell(
        app,
        &format!("{}: {said}", render::isolate(&render::escape_mrkdwn(&tag)),),
    );
    Ok(())
}

/// An Undo pressed where a decision shows: a review message (its
/// lecture), the Details modal (its lecture; the modal is shown afresh)
/// or a review session (`sessions::undo`). The one who pressed is told
/// what became of it.
async fn undo(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    suggestion: SuggestionId,
) -> Result<(), SlackError> {
    let modal = click
        .view
        .as_ref()
        .and_then(|view| view.callback_id.as_deref());
    if modal == Some(actions::SESSION_MODAL) {
        return match session_view(click) {
            Some(shown) => sessions::undo(app, &clicker.requester(), shown, suggestion).await,
            None => Ok(()),
        };
    }
    let Some(ClickedOn { lecture, details }) = clicked_on(app, click).await? else {
        tracing::warn!(user = %clicker.id, %suggestion, "refused an Undo from a message or modal that is not tagbot's");
        return Ok(());
    };
    match undo::press(app, &clicker.requester(), &lecture, suggestion).await? {
        undo::Pressed::Ran { undo, text } => {
            clicker.tell(app, &text);
            if let (Some(shown), true) = (details, undo.undone_count() > 0) {
                refresh_details(app, shown, &lecture).await?;
            }
        }
        undo::Pressed::NotAllowed(text) => clicker.tell(app, &text),
        undo::Pressed::Refused => {}
    }
    Ok(())
}

/// An Undo vote pressed beside a pending tag's vote on its message: the
/// presser's own vote is taken back (never a decision: a tag decided
/// since says so), and they are told what became of it.
async fn undo_vote(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    suggestion: SuggestionId,
) -> Result<(), SlackError> {
    let Some(ClickedOn { lecture, .. }) = clicked_on(app, click).await? else {
        tracing::warn!(user = %clicker.id, %suggestion, "refused an Undo vote from a message that is not tagbot's");
        return Ok(());
    };
    let Some(actor) = reviewer(app, clicker).await else {
        return Ok(());
    };
    match app.review.withdraw_vote(&lecture, suggestion, &actor).await {
        // The voters' and deciders' names are whatever they chose in Slack.
        Ok(withdrawal) => clicker.tell(app, &render::words(&withdrawal)),
        Err(ReviewError::NotInLecture { .. } | ReviewError::LectureNotFound(_)) => {
            tracing::warn!(user = %clicker.id, %suggestion, %lecture, "refused an Undo vote for a suggestion that is not of its message's lecture");
        }
        Err(err) => return Err(review_failure(err)),
    }
    Ok(())
}

/// Shows the Details modal `shown` afresh after a decision or an Undo on it, if it is
/// still the version clicked on (its hash): one that changed meanwhile was
/// updated by something newer than this.
async fn refresh_details(
    app: &SlackApp,
    shown: &View,
    lecture: &LectureId,
) -> Result<(), SlackError> {
    let (Some(view_id), Some((card, history))) =
        (shown.id.as_deref(), load_details(app, lecture).await?)
    else {
        return Ok(());
    };
    let view = render::details_modal(&card, &history);
    match app
        .api
        .update_view(view_id, shown.hash.as_deref(), &view)
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some(HASH_CONFLICT) => {
            tracing::info!(view_id, error = %err, "a Details modal changed before it could show an Undo; left as it is");
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

async fn approve_selected(
    app: &SlackApp,
    clicker: &Clicker<'_>,
    lecture: &LectureId,
    ids: &[SuggestionId],
) -> Result<(), SlackError> {
    let Some(actor) = reviewer(app, clicker).await else {
        return Ok(());
    };
    if ids.is_empty() {
        clicker.tell(
            app,
            "Pick one or more tags in the menu first, then press \"Approve selected\".",
        );
        return Ok(());
    }
    let lead = app.rules_disputes(&clicker.requester()).await;
    let result = app
        .review
        .approve_selected(lecture, ids, &actor, lead == Ok(true))
        .await;
    report_lecture_result(app, clicker, result, lead.is_err()).await
}

/// Tells the user about every suggestion a lecture-wide operation could
/// not decide. `lead_unconfirmed`: they may be a lead Slack could not
/// confirm, so a dispute says that rather than "only a lead".
async fn report_lecture_result(
    app: &SlackApp,
    clicker: &Clicker<'_>,
    result: Result<LectureDecisions, ReviewError>,
    lead_unconfirmed: bool,
) -> Result<(), SlackError> {
    let decisions = match result {
        Ok(decisions) => decisions,
        Err(ReviewError::Database(err)) => return Err(SlackError::Database(err)),
        Err(refused) => {
            clicker.tell(
                app,
                &format!(
                    "Nothing was changed: {}.",
                    render::escape_mrkdwn(&refused.to_string())
                ),
            );
            return Ok(());
        }
    };
    let voted = decisions.voted_count();
    let skipped = super::not_changed(app, &decisions, lead_unconfirmed).await?;
    if decisions.applied_count() == 0 && voted == 0 && skipped.is_empty() {
        clicker.tell(
            app,
            "There was nothing to do: no suggestion of this lecture qualifies.",
        );
        return Ok(());
    }
    let mut parts = vec![format!("{} done", decisions.applied_count())];
    // In the second-opinion band a pick is a vote: said, not hidden.
    if voted > 0 {
        parts.push(format!(
            "{voted} vote(s) cast in the second-opinion band (each needs a second reviewer who agrees)"
        ));
    }
    if !skipped.is_empty() {
        parts.push(format!("not changed: {}", skipped.join("; ")));
    }
    if voted > 0 || !skipped.is_empty() {
        clicker.tell(app, &format!("{}.", parts.join("; ")));
    }
    Ok(())
}

async fn open_details(
    app: &SlackApp,
    click: &BlockActions,
    clicker: &Clicker<'_>,
    lecture: &LectureId,
) -> Result<(), SlackError> {
    let Some(trigger) = click.trigger_id.as_deref() else {
        return Ok(());
    };
    // A lecture's history names the team's reviewers: not for guests.
    if let Err(refused) = app.may_see(&clicker.requester()).await {
        clicker.tell(app, &render::escape_mrkdwn(&refused.to_string()));
        return Ok(());
    }
    let mut load = Box::pin(load_details(app, lecture));
    // Within the budget: one views.open with the details. Past it: the
    // trigger would expire, so a loading modal opens now and is updated.
    let (loaded, loading_view) = match tokio::time::timeout(DETAILS_LOAD_BUDGET, &mut load).await {
        Ok(loaded) => (loaded?, None),
        Err(_) => {
            let loading = render::details_notice(
                lecture.as_str(),
                &format!(
                    "Loading the suggestions of lecture `{}`…",
                    render::escape_mrkdwn(lecture.as_str())
                ),
            );
            let shown = app.api.open_view(trigger, &loading).await?;
            match load.await {
                Ok(loaded) => (loaded, Some(shown)),
                Err(err) => {
                    // Not left "loading" for ever.
                    let failed = render::details_notice(
                        lecture.as_str(),
                        "Something went wrong on tagbot's side while loading; close this and try again in a moment.",
                    );
                    if let Err(update) = replace_loading(app, &shown, &failed).await {
                        tracing::warn!(error = %update, "could not replace a loading modal");
                    }
                    return Err(err.into());
                }
            }
        }
    };
    let view = match loaded {
        Some((card, history)) => render::details_modal(&card, &history),
        None => {
            let gone = format!(
                "Lecture `{}` has no suggestions any more.",
                render::escape_mrkdwn(lecture.as_str())
            );
            if loading_view.is_none() {
                clicker.tell(app, &gone);
                return Ok(());
            }
            render::details_notice(lecture.as_str(), &gone)
        }
    };
    match loading_view {
        Some(shown) => replace_loading(app, &shown, &view).await?,
        None => {
            app.api.open_view(trigger, &view).await?;
        }
    }
    Ok(())
}

/// Replaces the loading modal `shown` with `view`, with the hash
/// views.open answered: should anything have changed the modal since, it
/// is left as it is (logged), not overwritten.
async fn replace_loading(
    app: &SlackApp,
    shown: &ShownView,
    view: &serde_json::Value,
) -> Result<(), SlackApiError> {
    match app
        .api
        .update_view(&shown.id, shown.hash.as_deref(), view)
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some(HASH_CONFLICT) => {
            tracing::info!(view_id = %shown.id, error = %err, "a details modal changed after it opened; left as it is");
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// The lecture's card and history, or `None` when it has no suggestions.
async fn load_details(
    app: &SlackApp,
    lecture: &LectureId,
) -> Result<Option<(LectureCard, Vec<HistoryLine>)>, storage::Error> {
    let Some(card) = app.card(lecture.as_str()).await? else {
        return Ok(None);
    };
    let history = crate::storage::events::history(&app.pool, lecture.as_str()).await?;
    Ok(Some((card, history)))
}

async fn on_submission(app: &SlackApp, submission: &ViewSubmission) -> Result<(), SlackError> {
    if submission.view.callback_id.as_deref() != Some(DETAILS_CALLBACK) {
        return Ok(());
    }
    let Some(lecture) = submission
        .view
        .private_metadata
        .as_deref()
        .and_then(|raw| LectureId::parse(raw).ok())
    else {
        return Ok(());
    };
    let selected = submission
        .view
        .state
        .selected(MODAL_SELECT_BLOCK, MODAL_SELECT);
    if selected.is_empty() {
        return Ok(());
    }
    let channel = review_messages::message_for(&app.pool, lecture.as_str())
        .await?
        .map(|m| m.channel)
        .unwrap_or_else(|| app.settings.review_channel.clone());
    // A submission carries no response URL (unless the modal asks for
    // one, which this one does not).
    let clicker = Clicker {
        id: &submission.user.id,
        handle: submission.user.name.as_deref(),
        team_id: submission.user.team_id.as_deref(),
        channel,
        response_url: None,
    };
    let ids: Vec<SuggestionId> = selected
        .iter()
        .filter_map(|raw| SuggestionId::parse(raw).ok())
        .collect();
    approve_selected(app, &clicker, &lecture, &ids).await
}

/// The clicking user as the decision's actor; when they may not decide,
/// they are told why and None is returned.
async fn reviewer(app: &SlackApp, clicker: &Clicker<'_>) -> Option<Actor> {
    match app.reviewer(&clicker.requester()).await {
        Ok(actor) => Some(actor),
        Err(refused) => {
            clicker.tell(app, &render::escape_mrkdwn(&refused.to_string()));
            None
        }
    }
}

fn review_failure(err: ReviewError) -> SlackError {
    match err {
        ReviewError::Database(err) => SlackError::Database(err),
        // Single decisions report their outcome as a Decision, never these.
        other => SlackError::Review(other),
    }
}
