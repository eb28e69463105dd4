//! Review sessions: a reviewer works through the queue one lecture at a
//! time in a modal (`/tags review`, or **Start reviewing**). Each lecture
//! is held for them under a lease (`storage::review_holds`), so two
//! reviewers in sessions never see the same one; submitting applies their
//! choices in one transaction and the same modal shows the next lecture,
//! inside Slack's 3 s (`response_action: update`). "Skip" moves on
//! deciding nothing; "Approve all ≥" pre-selects; closing the modal lets
//! go of the lecture. The view after a save says what was saved and, while
//! `TAGBOT_UNDO_SECS` lasts, offers **Undo** of it (`undo`: the saved
//! lecture is kept in the view's state, the Undo checked against it).
//!
//! A lecture whose marked tags someone else decided meanwhile is refused
//! whole: the reviewer sees, on each such tag, who decided it, and nothing
//! of that lecture is saved.
//!
//! Skip and pre-select update the modal with the hash of the version the
//! reviewer clicked on. When something else of theirs changed it first
//! (two quick Skips, a save racing a pre-select), Slack refuses the update
//! (`hash_conflict`) and the modal may show a lecture they no longer hold:
//! the session is read again from `review_holds` and shown as it stands.

use std::time::Duration;

use serde_json::{json, Value};

use crate::domain::{Actor, LectureId, SuggestionId, SuggestionStatus};
use crate::review::{Choices, ChoicesOutcome, LectureDecisions, ReviewError};
use crate::slack::app::{SlackApp, SlackError};
use crate::slack::card::{actions, LectureCard};
use crate::slack::handlers::undo;
use crate::slack::output::api::HASH_CONFLICT;
use crate::slack::payload::{State, View, ViewSubmission};
use crate::slack::render::{self, SessionLecture, SessionState};
use crate::slack::reviewers::Requester;
use crate::storage::review_holds::{self, Standing};

/// How long a reviewer holds the lecture they are shown without doing
/// anything; the lease is renewed with each submit, skip or pre-select.
pub const HOLD_LEASE: Duration = Duration::from_secs(15 * 60);

/// How long a session waits for Slack to say whether its reviewer may
/// decide: a modal opens on a trigger that lasts 3 s, and a submission is
/// answered in its acknowledgement, so past this it says "Slack is busy"
/// (the lookup goes on, and the next try has its answer).
const STANDING_WAIT: Duration = Duration::from_millis(1_500);

/// Above the lecture a modal shows after its update lost a race.
const MOVED_ON: &str = "Something else you did in this session got there first; this is where your session stands now.";

/// Opens a session for `requester` with the first lecture of the queue.
pub async fn start(
    app: &SlackApp,
    requester: &Requester<'_>,
    trigger_id: &str,
) -> Result<(), SlackError> {
    let view = next_view(app, requester, SessionState::default(), None).await?;
    if let Err(err) = app.api.open_view(trigger_id, &view).await {
        // The modal never opened: the lecture is not the reviewer's.
        review_holds::release(&app.pool, requester.id).await?;
        return Err(err.into());
    }
    Ok(())
}

/// The answer to a session's submission: `response_action: update` with
/// the next lecture, or `errors` on the tags someone else decided.
pub async fn submit(app: &SlackApp, submission: &ViewSubmission) -> Result<Value, SlackError> {
    let requester = Requester::from(&submission.user);
    let user = requester.id;
    let state = session_state(submission.view.private_metadata.as_deref());
    let Some(lecture) = state
        .lecture
        .as_deref()
        .and_then(|raw| LectureId::parse(raw).ok())
    else {
        // A view without a lecture has no submit button; nothing to save.
        return Ok(update(next_view(app, &requester, state, None).await?));
    };
    let actor = match app.reviewer_within(&requester, STANDING_WAIT).await {
        Ok(actor) => actor,
        Err(refused) => {
            return Ok(update(render::session_notice(
                &render::escape_mrkdwn(&refused.to_string()),
                &state,
            )))
        }
    };
    // Saving is working on it: the lease runs from now (a reviewer who read
    // for long may have lost it; the decision is checked row by row anyway).
    review_holds::renew(&app.pool, user, lecture.as_str(), HOLD_LEASE).await?;
    let (choices, left_pending) = read_choices(&submission.view.state);
    let mut state = state;
    let mut undo = None;
    let lead = app.rules_disputes(&requester).await;
    let notice = match app
        .review
        .decide_choices(&lecture, &choices, &actor, lead == Ok(true))
        .await
    {
        Ok(ChoicesOutcome::Applied(decided)) => {
            // The next view offers to take the save back, while it can be.
            undo = decided
                .applied()
                .next()
                .filter(|_| !app.review.settings().undo_window.is_zero())
                .map(|applied| applied.suggestion.get());
            state.saved = undo.map(|_| lecture.as_str().to_owned());
            let unchanged = super::not_changed(app, &decided, lead.is_err()).await?;
            saved_notice(&lecture, &decided, &unchanged)
        }
        Ok(ChoicesOutcome::Refused(taken)) => {
            let errors: serde_json::Map<String, Value> = taken
                .iter()
                .map(|prior| {
                    (
                        render::choice_block_id(prior.suggestion.get(), state.revision),
                        // An input error is plain text: names isolated,
                        // nothing escaped.
                        Value::String(format!(
                            "{}; nothing of this lecture was saved. Change or clear this tag's choice and save again.",
                            render::plain_words(prior)
                        )),
                    )
                })
                .collect();
            review_holds::renew(&app.pool, user, lecture.as_str(), HOLD_LEASE).await?;
            return Ok(json!({ "response_action": "errors", "errors": errors }));
        }
        // Its suggestions went away (or the view was forged): move on.
        Err(ReviewError::LectureNotFound(_) | ReviewError::NotInLecture { .. }) => format!(
            "Lecture `{}` changed while you looked at it; nothing was saved.",
            render::escape_mrkdwn(lecture.as_str())
        ),
        Err(ReviewError::Database(err)) => return Err(SlackError::Database(err)),
        Err(other) => return Err(SlackError::Review(other)),
    };
    // Tags left pending stay for others (or a later session): this session
    // moves on rather than showing the lecture again. A lecture with more
    // tags than one round shows, all of them decided, comes back with the
    // rest.
    if left_pending > 0 {
        state.skipped.push(lecture.as_str().to_owned());
    }
    let notice = Notice {
        text: &notice,
        undo,
    };
    Ok(update(
        next_view(app, &requester, state, Some(notice)).await?,
    ))
}

/// A line at the top of the next view, and the suggestion its **Undo**
/// takes back (with the rest of its save).
#[derive(Debug, Clone, Copy)]
struct Notice<'a> {
    text: &'a str,
    undo: Option<i64>,
}

/// An Undo of the last save, pressed on the view after it (`shown`): the
/// save is taken back (if it still can be) and the view shows what became
/// of it, the lecture on it kept as it was.
pub async fn undo(
    app: &SlackApp,
    requester: &Requester<'_>,
    shown: &View,
    suggestion: SuggestionId,
) -> Result<(), SlackError> {
    let mut state = session_state(shown.private_metadata.as_deref());
    let Some(saved) = state
        .saved
        .take()
        .and_then(|raw| LectureId::parse(&raw).ok())
    else {
        tracing::warn!(user = requester.id, %suggestion, "refused a session's Undo with no saved lecture on its view");
        return Ok(());
    };
    let text = match undo::press(app, requester, &saved, suggestion).await? {
        undo::Pressed::Ran { undo, text } if undo.undone_count() > 0 => format!(
            ":leftwards_arrow_with_hook: {text} Lecture `{}` is back in the queue.",
            render::escape_mrkdwn(saved.as_str())
        ),
        undo::Pressed::Ran { text, .. } | undo::Pressed::NotAllowed(text) => text,
        undo::Pressed::Refused => return Ok(()),
    };
    let view = match state.lecture.clone() {
        Some(lecture) => {
            review_holds::renew(&app.pool, requester.id, &lecture, HOLD_LEASE).await?;
            match session_card(app, requester, &lecture).await? {
                Some(card) => render::session_modal(&SessionLecture {
                    card: &card,
                    state: &state,
                    waiting: app.waiting_lectures().await?,
                    preselect: false,
                    notice: Some(&text),
                    undo: None,
                }),
                None => render::session_notice(&text, &state),
            }
        }
        None => render::session_notice(&text, &state),
    };
    show(app, requester, shown, &view).await
}

/// "Skip": the next lecture, this one left for others. `shown` is the
/// session modal as the reviewer clicked on it.
pub async fn skip(
    app: &SlackApp,
    requester: &Requester<'_>,
    shown: &View,
) -> Result<(), SlackError> {
    let mut state = session_state(shown.private_metadata.as_deref());
    if let Some(lecture) = state.lecture.take() {
        state.skipped.push(lecture);
    }
    let view = next_view(app, requester, state, None).await?;
    if let Err(err) = show(app, requester, shown, &view).await {
        review_holds::release(&app.pool, requester.id).await?;
        return Err(err);
    }
    Ok(())
}

/// "Approve all ≥": the same lecture with Approve chosen for every pending
/// tag at or above the threshold.
pub async fn preselect(
    app: &SlackApp,
    requester: &Requester<'_>,
    shown: &View,
) -> Result<(), SlackError> {
    let user = requester.id;
    let mut state = session_state(shown.private_metadata.as_deref());
    let Some(lecture) = state.lecture.clone() else {
        return Ok(());
    };
    if !review_holds::renew(&app.pool, user, &lecture, HOLD_LEASE).await? {
        tracing::info!(
            user,
            lecture,
            "a pre-select for a lecture the reviewer no longer holds; ignored"
        );
        return Ok(());
    }
    let Some(card) = session_card(app, requester, &lecture).await? else {
        return Ok(());
    };
    // New block ids: Slack keeps a choice the reviewer made under the old
    // ones, and would not show the new initial options.
    state.revision += 1;
    let waiting = app.waiting_lectures().await?;
    let view = render::session_modal(&SessionLecture {
        card: &card,
        state: &state,
        waiting,
        preselect: true,
        notice: None,
        undo: None,
    });
    show(app, requester, shown, &view).await
}

/// Shows `view` in the session modal `shown`, if the modal is still the
/// version the reviewer clicked on (its hash, passed to views.update; see
/// docs.slack.dev/surfaces/modals#handling_race_conditions). If something
/// else updated it first, what it shows now was rendered from an older
/// reading and may be a lecture the reviewer no longer holds: the session
/// is read again and shown as it stands.
async fn show(
    app: &SlackApp,
    requester: &Requester<'_>,
    shown: &View,
    view: &Value,
) -> Result<(), SlackError> {
    let Some(view_id) = shown.id.as_deref() else {
        return Ok(());
    };
    match app
        .api
        .update_view(view_id, shown.hash.as_deref(), view)
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.code() == Some(HASH_CONFLICT) => {
            let attempted = session_state(view["private_metadata"].as_str());
            tracing::info!(
                user = requester.id,
                view_id,
                lecture = attempted.lecture.as_deref().unwrap_or("none"),
                error = %err,
                "a session modal changed after the click (another click or a save got there first); showing the session as it stands"
            );
            let current = current_view(app, requester, view, attempted).await?;
            // Slack's refusal does not carry the view's new hash, so this
            // update goes without one: it shows what the database says now.
            app.api.update_view(view_id, None, &current).await?;
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// The session as the database has it now, after an update of its modal
/// lost a race: `attempted` (the view that lost, with its state) when it
/// shows the lecture the reviewer holds; else that lecture, or the next
/// one when they hold none (a lecture the lost view showed and they no
/// longer hold counts as skipped).
async fn current_view(
    app: &SlackApp,
    requester: &Requester<'_>,
    attempted_view: &Value,
    attempted: SessionState,
) -> Result<Value, SlackError> {
    let held = review_holds::held_by(&app.pool, requester.id).await?;
    if held.is_some() && held == attempted.lecture {
        return Ok(attempted_view.clone());
    }
    let mut state = attempted;
    if let Some(lost) = state.lecture.take() {
        state.skipped.push(lost);
    }
    if let Some(lecture) = held {
        if let Some(card) = session_card(app, requester, &lecture)
            .await?
            .filter(has_pending)
        {
            let waiting = app.waiting_lectures().await?;
            state.lecture = Some(lecture);
            state.revision = 0;
            return Ok(render::session_modal(&SessionLecture {
                card: &card,
                state: &state,
                waiting,
                preselect: false,
                notice: Some(MOVED_ON),
                undo: None,
            }));
        }
    }
    let moved_on = Notice {
        text: MOVED_ON,
        undo: None,
    };
    next_view(app, requester, state, Some(moved_on)).await
}

/// The modal was closed: the lecture is free for others at once.
pub async fn closed(app: &SlackApp, user: &str) -> Result<(), SlackError> {
    review_holds::release(&app.pool, user).await?;
    Ok(())
}

/// The next lecture for `requester`, held for them, as a session view; a
/// notice view when nothing is left or they may not decide.
async fn next_view(
    app: &SlackApp,
    requester: &Requester<'_>,
    mut state: SessionState,
    notice: Option<Notice<'_>>,
) -> Result<Value, SlackError> {
    let user = requester.id;
    state.lecture = None;
    state.revision = 0;
    if let Err(refused) = app.reviewer_within(requester, STANDING_WAIT).await {
        review_holds::release(&app.pool, user).await?;
        return Ok(render::session_notice(
            &render::escape_mrkdwn(&refused.to_string()),
            &state,
        ));
    }
    let order = app.queue_order().await;
    let (voter, lead) = voter_standing(app, requester).await;
    let standing = Standing {
        actor: &voter,
        lead,
    };
    // A lecture decided (or gone) between the hand-out and loading its
    // card is passed over, a few times at most.
    for _ in 0..3 {
        let Some(lecture) = review_holds::take_next(
            &app.pool,
            user,
            standing,
            &order,
            &state.skipped,
            HOLD_LEASE,
        )
        .await?
        else {
            break;
        };
        let Some(card) = session_card(app, requester, &lecture)
            .await?
            .filter(has_pending)
        else {
            // Decided (or gone) since the hand-out: not served again.
            state.skipped.push(lecture);
            continue;
        };
        let waiting = app.waiting_lectures().await?;
        state.lecture = Some(lecture);
        return Ok(render::session_modal(&SessionLecture {
            card: &card,
            state: &state,
            waiting,
            preselect: false,
            notice: notice.map(|n| n.text),
            undo: notice.and_then(|n| n.undo),
        }));
    }
    review_holds::release(&app.pool, user).await?;
    let done = match notice {
        Some(notice) => format!(
            "{}\nNothing else is waiting for review. :tada:",
            notice.text
        ),
        None => "Nothing is waiting for review. :tada:".to_owned(),
    };
    Ok(render::session_notice_with_undo(
        &done,
        &state,
        notice.and_then(|n| n.undo),
    ))
}

/// The reviewer's voter id (as `review_votes.voter`) and whether they
/// settle disputes. Whether they may review at all is asked elsewhere.
async fn voter_standing(app: &SlackApp, requester: &Requester<'_>) -> (String, bool) {
    let voter = Actor::slack(requester.id, None)
        .map(|actor| actor.as_db())
        .unwrap_or_default();
    // A lead Slack cannot confirm now is served as a reviewer: the
    // disputes wait for their next session.
    (voter, app.rules_disputes(requester).await == Ok(true))
}

/// The lecture as `requester` reviews it in a session: without the pending
/// tags they voted on (one vote each) and the disputed ones, unless they
/// lead (a lead decides every dispute, their own vote in it or not); the
/// rest as the channel shows them.
async fn session_card(
    app: &SlackApp,
    requester: &Requester<'_>,
    lecture: &str,
) -> Result<Option<LectureCard>, SlackError> {
    let Some(mut card) = app.card(lecture).await? else {
        return Ok(None);
    };
    if card.suggestions.iter().all(|s| s.votes.is_empty()) {
        return Ok(Some(card));
    }
    let (voter, lead) = voter_standing(app, requester).await;
    card.suggestions.retain(|s| {
        let disputed = s.votes.len() >= 2;
        let voted = s.votes.iter().any(|v| v.voter == voter);
        s.status != SuggestionStatus::Pending
            || if lead {
                !voted || disputed
            } else {
                !voted && !disputed
            }
    });
    Ok(Some(card))
}

fn has_pending(card: &LectureCard) -> bool {
    card.suggestions
        .iter()
        .any(|s| s.status == SuggestionStatus::Pending)
}

fn session_state(metadata: Option<&str>) -> SessionState {
    metadata
        .and_then(SessionState::from_metadata)
        .unwrap_or_default()
}

fn update(view: Value) -> Value {
    json!({ "response_action": "update", "view": view })
}

/// What a save did, and what it left unchanged (a tag disputed or voted
/// on by someone else while the reviewer looked): said, not dropped.
fn saved_notice(lecture: &LectureId, decided: &LectureDecisions, unchanged: &[String]) -> String {
    let voted = decided.voted_count();
    let votes = if voted > 0 {
        format!(" and {voted} vote(s)")
    } else {
        String::new()
    };
    let mut notice = format!(
        ":white_check_mark: Saved {} decision(s){votes} on lecture `{}`.",
        decided.applied_count(),
        render::escape_mrkdwn(lecture.as_str())
    );
    if !unchanged.is_empty() {
        notice.push_str(&format!(" Not changed: {}.", unchanged.join("; ")));
    }
    notice
}

/// The choices in a submitted session view (one radio group per tag), and
/// how many of its tags were left pending.
fn read_choices(state: &State) -> (Choices, usize) {
    let mut choices = Choices::default();
    let mut left_pending = 0;
    for (block_id, block) in &state.values {
        let Some(id) =
            render::choice_block_suggestion(block_id).and_then(|raw| SuggestionId::parse(raw).ok())
        else {
            continue;
        };
        let picked = block
            .get(actions::SESSION_CHOICE)
            .and_then(|value| value.selected_option.as_ref())
            .and_then(|option| render::read_choice(&option.value));
        match picked {
            Some(render::SessionChoice::Approve) => {
                choices.approve.insert(id);
            }
            Some(render::SessionChoice::Reject(reason)) => {
                choices.reject.insert(id, reason);
            }
            None => left_pending += 1,
        }
    }
    (choices, left_pending)
}
