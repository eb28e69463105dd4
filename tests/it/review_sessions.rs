//! Review sessions: `/tags review` and Start reviewing open a modal with
//! the next lecture of the queue; submitting saves every choice in one
//! transaction and answers with the next lecture; two sessions never share
//! a lecture; a lecture someone else decided meanwhile is refused whole.

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::{interaction_body, view_block_actions, view_closed, view_submission};
use standins::slack::{check_response_view, OpenedView};
use tagbot::domain::SuggestionId;
use tagbot::slack::card::actions;

use crate::helpers::reviewer;
use crate::slack_world::{all_text, eventually, Signing, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";

/// The lecture a user's session shows now, from the modal's own state.
fn shown_lecture(view: &OpenedView) -> Option<String> {
    let metadata = view.view["private_metadata"].as_str()?;
    let state: Value = serde_json::from_str(metadata).ok()?;
    state["l"].as_str().map(str::to_owned)
}

/// The session modal `user` opens with `/tags review`.
async fn opened_session(w: &SlackWorld, user: &str) -> OpenedView {
    // The trigger names the modal: several reviewers may open at once.
    let minted = w.slack.mint(REVIEW, user);
    let body = standins::sender::command_body(user, REVIEW, "review", &minted);
    let (status, answer) = w.send("/slack/commands", &body, Signing::Valid).await;
    assert_eq!(status, 200, "{answer}");
    // Answered at once, or (on a loaded machine) at the response URL.
    let answer = if answer.is_empty() {
        w.late_answer(&minted.response_url).await
    } else {
        answer
    };
    assert!(answer.contains("Review session opened."), "{answer}");
    w.slack
        .views()
        .into_iter()
        .find(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()))
        .expect("a session modal")
}

/// A choice for one tag, as `state.values` carries a radio group.
fn choice(values: &mut Value, view: &OpenedView, suggestion: SuggestionId, pick: &str) {
    let block_id = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["block_id"].as_str())
        .find(|id| id.starts_with(&format!("choice:{suggestion}:")))
        .expect("a choice block for the suggestion")
        .to_owned();
    values[block_id] = json!({ actions::SESSION_CHOICE: {
        "type": "radio_buttons",
        "selected_option": { "value": pick, "text": { "type": "plain_text", "text": pick } },
    }});
}

/// Submits the session modal; returns Slack's HTTP status and tagbot's
/// answer, which the stand-in then applies to the modal as Slack does.
async fn submit(w: &SlackWorld, user: &str, view: &OpenedView, values: Value) -> (u16, Value) {
    let payload = view_submission(user, view, &w.slack.mint(REVIEW, user), values);
    let (status, body) = w
        .send(
            "/slack/interactions",
            &interaction_body(&payload),
            Signing::Valid,
        )
        .await;
    let answer = serde_json::from_str(&body).unwrap_or(Value::Null);
    if status == 200 {
        w.slack
            .answer_submission(&view.id, &answer)
            .expect("an answer Slack applies");
    }
    (status, answer)
}

/// The session modal `view` as the stand-in shows it now.
fn current(w: &SlackWorld, view: &OpenedView) -> OpenedView {
    w.slack
        .views()
        .into_iter()
        .find(|v| v.id == view.id)
        .expect("the session modal is open")
}

/// The lecture `user` holds in review_holds.
async fn held_by(w: &SlackWorld, user: &str) -> Option<String> {
    sqlx::query_scalar("SELECT lecture_external_id FROM review_holds WHERE held_by = $1")
        .bind(user)
        .fetch_optional(&w.db.app)
        .await
        .unwrap()
}

/// A click on a button of the session modal as the reviewer saw it
/// (`view`, with its hash at the time).
async fn press(w: &SlackWorld, user: &str, view: &OpenedView, action_id: &str) {
    let lecture = shown_lecture(view).unwrap_or_default();
    let payload = view_block_actions(user, view, &w.slack.mint(REVIEW, user), action_id, &lecture);
    assert_eq!(w.interact(&payload).await, 200);
}

/// The views.update calls refused with `hash_conflict`, and the hash each
/// carried.
fn conflicts(w: &SlackWorld) -> Vec<Value> {
    w.slack
        .calls_to("views.update")
        .iter()
        .filter(|c| c.error() == Some("hash_conflict"))
        .map(|c| c.body["hash"].clone())
        .collect()
}

async fn events_by(w: &SlackWorld, actor: &str) -> Vec<(i64, String)> {
    sqlx::query_as(
        "SELECT suggestion_id, action FROM events
         WHERE actor = $1 AND action IN ('approve', 'reject') ORDER BY suggestion_id, id",
    )
    .bind(actor)
    .fetch_all(&w.db.app)
    .await
    .unwrap()
}

#[sqlx::test]
async fn a_submit_saves_each_choice_once_and_shows_the_next_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let approve = w.db.suggestion("L1", "t1", 0.95).await;
    let reject = w.db.suggestion("L1", "t2", 0.40).await;
    let leave = w.db.suggestion("L1", "t3", 0.60).await;
    w.db.suggestion("L2", "t1", 0.90).await;

    let view = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&view).as_deref(), Some("L1"), "oldest first");
    let text = all_text(&view.view);
    for tag in ["תגית t1", "תגית t2", "תגית t3"] {
        assert!(text.contains(tag), "{tag} in {text}");
    }

    let mut values = json!({});
    choice(&mut values, &view, approve, "approve");
    choice(&mut values, &view, reject, "reject");
    choice(&mut values, &view, leave, "pending");
    let (status, answer) = submit(&w, DANA, &view, values).await;

    assert_eq!(status, 200);
    assert_eq!(answer["response_action"], "update", "{answer}");
    check_response_view(&answer["view"]).expect("a view Slack accepts");
    let next: Value =
        serde_json::from_str(answer["view"]["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(next["l"], "L2");
    assert!(all_text(&answer["view"]).contains("Saved 2 decision(s)"));
    assert_eq!(
        events_by(&w, &format!("slack:{DANA}")).await,
        [
            (approve.get(), "approve".to_owned()),
            (reject.get(), "reject".to_owned())
        ],
        "one event per decision, the reviewer as actor"
    );
    assert_eq!(w.db.status(leave).await, "pending");
    w.close().await;
}

/// A session's Reject can carry a reason: each rejected tag's event has
/// its own (one reason per tag, several reasons in one save), a plain
/// Reject none; the modal offers all five reasons for every tag.
#[sqlx::test]
async fn a_session_save_carries_each_reject_reason(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let broad = w.db.suggestion("L1", "t1", 0.40).await;
    let dup = w.db.suggestion("L1", "t2", 0.45).await;
    let plain = w.db.suggestion("L1", "t3", 0.50).await;
    let yes = w.db.suggestion("L1", "t4", 0.95).await;

    let view = opened_session(&w, DANA).await;
    let radio = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "input")
        .expect("a choice")["element"]
        .clone();
    let offered: Vec<&str> = radio["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        offered,
        [
            "approve",
            "reject",
            "reject:wrong_topic",
            "reject:too_broad",
            "reject:too_narrow",
            "reject:duplicate",
            "reject:other",
            "pending"
        ]
    );

    let mut values = json!({});
    choice(&mut values, &view, broad, "reject:too_broad");
    choice(&mut values, &view, dup, "reject:duplicate");
    choice(&mut values, &view, plain, "reject");
    choice(&mut values, &view, yes, "approve");
    let (status, answer) = submit(&w, DANA, &view, values).await;
    assert_eq!(status, 200);
    assert!(all_text(&answer["view"]).contains("Saved 4 decision(s)"));
    let reasons: Vec<(i64, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT e.suggestion_id, e.action, e.details->>'reason', s.reject_reason
         FROM events e JOIN lecture_tag_suggestions s ON s.id = e.suggestion_id
         WHERE e.action IN ('approve', 'reject') ORDER BY e.suggestion_id",
    )
    .fetch_all(&w.db.app)
    .await
    .unwrap();
    let reason = |r: &str| Some(r.to_owned());
    assert_eq!(
        reasons,
        [
            (
                broad.get(),
                "reject".to_owned(),
                reason("too_broad"),
                reason("too_broad")
            ),
            (
                dup.get(),
                "reject".to_owned(),
                reason("duplicate"),
                reason("duplicate")
            ),
            (plain.get(), "reject".to_owned(), None, None),
            (yes.get(), "approve".to_owned(), None, None),
        ]
    );
    // One save, one action: an undo takes back all four together.
    assert_eq!(
        w.db.count("SELECT count(DISTINCT details->>'action_id') FROM events WHERE action IN ('approve', 'reject')")
            .await,
        1
    );
    w.close().await;
}

/// The second-opinion band in sessions: a vote is saved (the lecture
/// stays pending) and its voter is not served that tag again; a second
/// reviewer's agreeing vote decides; a disputed tag is served to a lead
/// first (before an older lecture) and hidden from everyone else, who is
/// shown only the lecture's other tags; the lead's choice decides it.
#[sqlx::test]
async fn sessions_collect_votes_and_serve_disputes_to_leads_first(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    const LEAD: &str = "U0LEAD0001";
    const OTHER: &str = "U0OTHER001";
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", LEAD),
        ],
    )
    .await;
    w.slack.add_user(LEAD, "ראש צוות");
    w.slack.add_user(OTHER, "אחר");
    let agreed = w.db.suggestion("L1", "t1", 0.6).await;
    let disputed = w.db.suggestion("L2", "t1", 0.5).await;
    let beside = w.db.suggestion("L2", "t2", 0.95).await;

    // Dana votes on both unsure tags (and leaves L2's sure one pending).
    let view = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&view).as_deref(), Some("L1"));
    let mut values = json!({});
    choice(&mut values, &view, agreed, "approve");
    let (_, answer) = submit(&w, DANA, &view, values).await;
    assert!(
        all_text(&answer["view"]).contains("Saved 0 decision(s) and 1 vote(s)"),
        "{answer}"
    );
    assert_eq!(w.db.status(agreed).await, "pending");
    let view = current(&w, &view);
    assert_eq!(shown_lecture(&view).as_deref(), Some("L2"));
    let mut values = json!({});
    choice(&mut values, &view, disputed, "approve");
    choice(&mut values, &view, beside, "pending");
    submit(&w, DANA, &view, values).await;

    // Dana opens a new session: she voted on L1's only pending tag, so L1
    // is not hers; L2 shows only its sure tag.
    let again = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&again).as_deref(), Some("L2"));
    let text = all_text(&again.view);
    assert!(
        text.contains("תגית t2") && !text.contains("תגית t1"),
        "{text}"
    );
    w.interact(&view_closed(DANA, &again)).await;

    // Yosi agrees on L1 (decided) and disagrees on L2's t1 (disputed).
    let yosi = opened_session(&w, YOSI).await;
    assert_eq!(shown_lecture(&yosi).as_deref(), Some("L1"));
    let mut values = json!({});
    choice(&mut values, &yosi, agreed, "approve");
    submit(&w, YOSI, &yosi, values).await;
    assert_eq!(w.db.status(agreed).await, "approved");
    let yosi = current(&w, &yosi);
    assert_eq!(shown_lecture(&yosi).as_deref(), Some("L2"));
    let mut values = json!({});
    choice(&mut values, &yosi, disputed, "reject:too_broad");
    choice(&mut values, &yosi, beside, "pending");
    submit(&w, YOSI, &yosi, values).await;
    assert_eq!(w.db.status(disputed).await, "pending");

    // Someone else sees L2 without its disputed tag.
    let other = opened_session(&w, OTHER).await;
    assert_eq!(shown_lecture(&other).as_deref(), Some("L2"));
    let text = all_text(&other.view);
    assert!(!text.contains("תגית t1"), "{text}");
    w.interact(&view_closed(OTHER, &other)).await;

    // A lead is served the dispute first, with both votes, and rules.
    w.db.suggestion("L0", "t3", 0.99).await;
    let lead = opened_session(&w, LEAD).await;
    assert_eq!(
        shown_lecture(&lead).as_deref(),
        Some("L2"),
        "disputes first"
    );
    let text = all_text(&lead.view).replace(['\u{2068}', '\u{2069}'], "");
    assert!(
        text.contains("Disputed: approved by דנה · rejected by יוסי (_Too broad_)"),
        "{text}"
    );
    let mut values = json!({});
    choice(&mut values, &lead, disputed, "reject:too_broad");
    submit(&w, LEAD, &lead, values).await;
    assert_eq!(w.db.status(disputed).await, "rejected");
    let ruling: bool = sqlx::query_scalar(
        "SELECT (details->>'ruling')::boolean FROM events WHERE suggestion_id = $1 AND action = 'reject'",
    )
    .bind(disputed.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert!(ruling);
    w.close().await;
}

/// A tag that two others disputed while a reviewer looked at it in a
/// session is not silently dropped from their save: the next view says it
/// was not changed and why.
#[sqlx::test]
async fn a_tag_disputed_while_a_reviewer_looked_is_named_as_not_changed(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "U0LEAD0001"),
        ],
    )
    .await;
    let unsure = w.db.suggestion("L1", "t1", 0.6).await;
    let view = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&view).as_deref(), Some("L1"));

    crate::votes::cast(
        &w.db,
        "L1",
        unsure,
        &[
            (YOSI, "יוסי", tagbot::domain::Transition::Approve),
            ("U0OTHER001", "אחר", tagbot::domain::Transition::Reject),
        ],
    )
    .await;

    let mut values = json!({});
    choice(&mut values, &view, unsure, "approve");
    let (_, answer) = submit(&w, DANA, &view, values).await;
    let text = all_text(&answer["view"]);
    assert!(text.contains("Saved 0 decision(s) on lecture"), "{text}");
    assert!(
        text.contains("Not changed: \u{2068}תגית t1\u{2069}: reviewers disagree (\u{2068}יוסי\u{2069} voted to approve, \u{2068}אחר\u{2069} voted to reject): only a lead may decide it."),
        "{text}"
    );
    assert_eq!(w.db.status(unsure).await, "pending");
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_votes").await,
        2,
        "Dana's pick was not added to the dispute"
    );
    w.close().await;
}

#[sqlx::test]
async fn two_sessions_never_get_the_same_lecture(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    for n in 0..4 {
        w.db.suggestion(&format!("L{n}"), "t1", 0.9).await;
    }
    let (dana, yosi) = tokio::join!(opened_session(&w, DANA), opened_session(&w, YOSI));
    let (a, b) = (shown_lecture(&dana).unwrap(), shown_lecture(&yosi).unwrap());
    assert_ne!(a, b, "each session holds its own lecture");

    // Dana skips: she gets a lecture neither holds.
    let skip = view_block_actions(
        DANA,
        &dana,
        &w.slack.mint(REVIEW, DANA),
        actions::SESSION_SKIP,
        &a,
    );
    assert_eq!(w.interact(&skip).await, 200);
    eventually("Dana's modal shows the next lecture", || async {
        w.slack
            .views()
            .iter()
            .find(|v| v.id == dana.id)
            .and_then(shown_lecture)
            .is_some_and(|shown| shown != a && shown != b)
    })
    .await;

    // Yossi closes his modal: his lecture is free again at once.
    assert_eq!(w.interact(&view_closed(YOSI, &yosi)).await, 200);
    eventually("Yossi's lecture is let go", || async {
        w.db.count("SELECT count(*) FROM review_holds WHERE held_by = 'U0YOSI0001'")
            .await
            == 0
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn many_reviewers_starting_at_once_each_get_a_lecture_of_their_own(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    for n in 0..12 {
        w.db.suggestion(&format!("L{n:02}"), "t1", 0.9).await;
    }
    let users: Vec<String> = (0..8).map(|n| format!("U0REVIEW{n:02}")).collect();
    for user in &users {
        w.slack.add_user(user, "reviewer");
    }
    futures_util::future::join_all(users.iter().map(|u| opened_session(&w, u))).await;
    let mut shown: Vec<String> = w
        .slack
        .views()
        .iter()
        .filter(|v| v.view["callback_id"] == actions::SESSION_MODAL)
        .filter_map(shown_lecture)
        .collect();
    assert_eq!(shown.len(), users.len(), "a lecture for every reviewer");
    shown.sort();
    shown.dedup();
    assert_eq!(shown.len(), users.len(), "no lecture served twice");
    assert_eq!(
        w.db.count("SELECT count(DISTINCT held_by) FROM review_holds")
            .await,
        8,
        "each reviewer holds one lecture"
    );
    w.close().await;
}

#[sqlx::test]
async fn a_tag_decided_elsewhere_meanwhile_refuses_the_whole_lecture_and_says_who(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let t1 = w.db.suggestion("L1", "t1", 0.9).await;
    let t2 = w.db.suggestion("L1", "t2", 0.8).await;
    let view = opened_session(&w, DANA).await;
    // Yossi rejects t1 from the channel while Dana looks at it.
    w.db.review()
        .reject(t1, &reviewer(YOSI, "יוסי"))
        .await
        .unwrap();

    let mut values = json!({});
    choice(&mut values, &view, t1, "approve");
    choice(&mut values, &view, t2, "approve");
    let (status, answer) = submit(&w, DANA, &view, values).await;

    assert_eq!(status, 200);
    assert_eq!(answer["response_action"], "errors", "{answer}");
    let errors = answer["errors"].as_object().unwrap();
    assert_eq!(errors.len(), 1);
    let (block, said) = errors.iter().next().unwrap();
    assert!(block.starts_with(&format!("choice:{t1}:")), "{block}");
    let said = said.as_str().unwrap();
    assert!(
        said.contains("rejected by \u{2068}יוסי\u{2069} at "),
        "{said}"
    );
    assert!(said.contains("nothing of this lecture was saved"), "{said}");
    assert!(events_by(&w, &format!("slack:{DANA}")).await.is_empty());
    assert_eq!(w.db.status(t2).await, "pending", "refused whole");
    w.close().await;
}

#[sqlx::test]
async fn approve_all_above_the_threshold_preselects_the_choices(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let high = w.db.suggestion("L1", "t1", 0.95).await;
    let low = w.db.suggestion("L1", "t2", 0.30).await;
    let view = opened_session(&w, DANA).await;
    let press = view_block_actions(
        DANA,
        &view,
        &w.slack.mint(REVIEW, DANA),
        actions::SESSION_TOP,
        "L1",
    );
    assert_eq!(w.interact(&press).await, 200);
    eventually("the modal is updated", || async {
        w.slack
            .views()
            .iter()
            .any(|v| v.id == view.id && v.updates > 0)
    })
    .await;
    let updated = w
        .slack
        .views()
        .into_iter()
        .find(|v| v.id == view.id)
        .unwrap();
    let initial = |id: SuggestionId| -> String {
        updated.view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| {
                b["block_id"]
                    .as_str()
                    .is_some_and(|bid| bid.starts_with(&format!("choice:{id}:")))
            })
            .map(|b| {
                b["element"]["initial_option"]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    };
    assert_eq!(initial(high), "approve");
    assert_eq!(initial(low), "pending");
    assert_eq!(
        w.db.status(high).await,
        "pending",
        "nothing decided until submit"
    );
    w.close().await;
}

#[sqlx::test]
async fn hostile_text_is_escaped_in_the_session_modal(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    sqlx::query(
        "UPDATE lecture_tag_suggestions SET rationale = '<!channel> *bold* <https://evil.example|click>',
                suggested_by = '<@U0ADMIN>'",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    let view = opened_session(&w, DANA).await;
    let text = all_text(&view.view);
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(!text.contains("<https://evil"), "{text}");
    assert!(!text.contains("<@U0ADMIN>"), "{text}");
    assert!(text.contains("&lt;!channel&gt;"), "{text}");
    w.close().await;
}

#[sqlx::test]
async fn with_nothing_waiting_the_session_says_so(pool: PgPoolOptions, options: PgConnectOptions) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let view = opened_session(&w, DANA).await;
    assert!(shown_lecture(&view).is_none());
    assert!(all_text(&view.view).contains("Nothing is waiting for review"));
    assert!(view.view.get("submit").is_none());
    w.close().await;
}

#[sqlx::test]
async fn someone_who_may_not_decide_is_told_in_the_modal(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("SLACK_REVIEWERS", DANA)]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    let view = opened_session(&w, YOSI).await;
    assert!(shown_lecture(&view).is_none());
    assert!(all_text(&view.view).contains("not one of the tag reviewers"));
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_holds").await,
        0,
        "nothing held for someone who may not decide"
    );
    w.close().await;
}

/// Slack timed the first answer out, the reviewer saves again: the same
/// choices are no conflict with themselves.
#[sqlx::test]
async fn saving_the_same_choices_twice_is_not_refused(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let t1 = w.db.suggestion("L1", "t1", 0.9).await;
    let view = opened_session(&w, DANA).await;
    let mut values = json!({});
    choice(&mut values, &view, t1, "approve");

    let (_, first) = submit(&w, DANA, &view, values.clone()).await;
    let (_, again) = submit(&w, DANA, &view, values).await;

    assert_eq!(first["response_action"], "update", "{first}");
    assert_eq!(again["response_action"], "update", "{again}");
    assert_eq!(
        events_by(&w, &format!("slack:{DANA}")).await,
        [(t1.get(), "approve".to_owned())],
        "decided once"
    );
    w.close().await;
}

/// Two quick Skips: the second click was made on the modal before the
/// first one's update reached it, so its update carries a stale hash.
/// Slack refuses it; the modal then shows the lecture the reviewer holds
/// now, not the one the first Skip showed.
#[sqlx::test]
async fn a_second_quick_skip_shows_the_lecture_held_now(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.db.suggestion("L1", "t1", 0.9).await;
    let second = w.db.suggestion("L2", "t1", 0.9).await;
    w.db.suggestion("L3", "t1", 0.9).await;
    let first_seen = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&first_seen).as_deref(), Some("L1"));

    press(&w, DANA, &first_seen, actions::SESSION_SKIP).await;
    eventually("the first Skip shows L2", || async {
        shown_lecture(&current(&w, &first_seen)).as_deref() == Some("L2")
    })
    .await;
    // L2 is decided in the channel meanwhile: the second Skip (made on the
    // modal still showing L1) lets go of L2 and is handed L3.
    w.db.review()
        .reject(second, &reviewer(YOSI, "יוסי"))
        .await
        .unwrap();
    press(&w, DANA, &first_seen, actions::SESSION_SKIP).await;

    eventually("the modal shows the lecture Dana holds", || async {
        shown_lecture(&current(&w, &first_seen)).as_deref() == Some("L3")
    })
    .await;
    assert_eq!(held_by(&w, DANA).await.as_deref(), Some("L3"));
    assert_eq!(
        conflicts(&w),
        [json!(first_seen.hash)],
        "the second update carried the hash of the view it was clicked on"
    );
    let updates = w.slack.calls_to("views.update");
    let last = updates.last().unwrap();
    assert!(last.ok(), "{:?}", last.response);
    assert!(
        last.body.get("hash").is_none(),
        "the current state goes without the hash Slack did not give"
    );
    w.close().await;
}

/// "Approve all ≥" pressed, then Save before its update reached Slack:
/// the save moved the modal on to L2, so the pre-select's late update of
/// L1 is refused and the modal shows L2, which the reviewer holds.
#[sqlx::test]
async fn a_preselect_landing_after_a_save_leaves_the_modal_on_the_next_lecture(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let high = w.db.suggestion("L1", "t1", 0.95).await;
    let low = w.db.suggestion("L1", "t2", 0.30).await;
    let next = w.db.suggestion("L2", "t1", 0.90).await;
    let view = opened_session(&w, DANA).await;
    assert_eq!(shown_lecture(&view).as_deref(), Some("L1"));

    // The pre-select's update is slow to reach Slack.
    let slow = w.slack.hold("views.update");
    press(&w, DANA, &view, actions::SESSION_TOP).await;
    eventually("the pre-select's update is on its way", || async {
        slow.waiting() == 1
    })
    .await;
    let mut values = json!({});
    choice(&mut values, &view, high, "approve");
    choice(&mut values, &view, low, "reject");
    let (_, saved) = submit(&w, DANA, &view, values).await;
    assert_eq!(saved["response_action"], "update", "{saved}");
    assert_eq!(shown_lecture(&current(&w, &view)).as_deref(), Some("L2"));
    slow.release();

    eventually(
        "the refused update is followed by the current state",
        || async {
            let updates = w.slack.calls_to("views.update");
            updates.len() == 2 && updates[1].ok()
        },
    )
    .await;
    assert_eq!(conflicts(&w), [json!(view.hash)]);
    let shown = current(&w, &view);
    assert_eq!(shown_lecture(&shown).as_deref(), Some("L2"));
    assert_eq!(held_by(&w, DANA).await.as_deref(), Some("L2"));
    let blocks = shown.view["blocks"].to_string();
    assert!(blocks.contains(&format!("choice:{next}:")), "{blocks}");
    assert!(
        all_text(&shown.view).contains("got there first"),
        "the reviewer is told why"
    );
    assert_eq!(w.db.status(high).await, "approved", "the save stands");
    w.close().await;
}
