//! Undo in Slack, through signed payloads: the **Undo** beside a decision
//! on the review message while its window is open; the decider's press
//! takes the action back (and the next refresh shows the tags pending, no
//! Undo); a press after the window, or by someone else, is told so
//! ephemerally; a lead's is on record; a closed lecture reopens at once
//! outside the open limit; a review session's next view offers Undo of the
//! save.

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::{interaction_body, view_block_actions, view_submission};
use tagbot::slack::card::actions;

use crate::slack_world::{all_text, eventually, Signing, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";

/// The Undo buttons of a lecture's message: their values.
async fn undo_values(w: &SlackWorld, lecture: &str) -> Vec<String> {
    let message = w.message_of(lecture).await;
    let mut values = Vec::new();
    for block in message["blocks"].as_array().unwrap() {
        if block["accessory"]["action_id"] == actions::UNDO {
            values.push(block["accessory"]["value"].as_str().unwrap().to_owned());
        }
    }
    values
}

async fn told_eventually(w: &SlackWorld, user: &str, words: &str) -> String {
    eventually(&format!("{user} is told {words:?}"), || async {
        w.told(user).iter().any(|t| t.contains(words))
    })
    .await;
    w.told(user)
        .into_iter()
        .find(|t| t.contains(words))
        .unwrap_or_default()
}

#[sqlx::test]
async fn the_decider_presses_undo_on_the_message_and_the_approve_all_is_taken_back(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let a = w.db.suggestion("L1", "t1", 0.95).await;
    let b = w.db.suggestion("L1", "t2", 0.93).await;
    w.db.suggestion("L1", "t3", 0.2).await;
    w.settle().await;
    assert!(
        undo_values(&w, "L1").await.is_empty(),
        "nothing decided yet"
    );

    assert_eq!(w.click(DANA, "L1", actions::APPROVE_TOP, "L1").await, 200);
    eventually("both are approved", || async {
        w.db.status(a).await == "approved" && w.db.status(b).await == "approved"
    })
    .await;
    w.settle().await;
    let mut shown = undo_values(&w, "L1").await;
    shown.sort();
    assert_eq!(shown, [a.to_string(), b.to_string()]);

    // One press beside either takes back both.
    assert_eq!(
        w.click(DANA, "L1", actions::UNDO, &b.to_string()).await,
        200
    );
    told_eventually(&w, DANA, "Took back 2 decision(s)").await;
    assert_eq!(
        (w.db.status(a).await, w.db.status(b).await),
        ("pending".to_owned(), "pending".to_owned())
    );
    assert_eq!(w.db.actions(a).await, ["approve", "enqueue", "undo"]);
    assert_eq!(
        w.db.count("SELECT count(*) FROM airtable_sync_items").await,
        0
    );
    w.settle().await;
    assert!(undo_values(&w, "L1").await.is_empty());
    let text = all_text(&w.message_of("L1").await);
    assert!(text.contains("Approve"), "{text}");
    w.close().await;
}

#[sqlx::test]
async fn someone_else_is_told_who_may_and_a_lead_may(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(
        pool,
        options,
        &[
            ("TAGBOT_UNDO_SECS", "30"),
            ("SLACK_REVIEWERS", "U0DANA0001,U0YOSI0001"),
            // Not a listed reviewer: a lead may review all the same.
            ("SLACK_LEADS", "U0LEAD0001"),
        ],
    )
    .await;
    w.slack.add_user("U0LEAD0001", "ראש צוות");
    let id = w.db.suggestion("L1", "t1", 0.9).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::REJECT, &id.to_string()).await,
        200
    );
    eventually("rejected", || async { w.db.status(id).await == "rejected" }).await;

    assert_eq!(
        w.click(YOSI, "L1", actions::UNDO, &id.to_string()).await,
        200
    );
    let told = told_eventually(&w, YOSI, "may take this back").await;
    assert!(
        told.contains("Only \u{2068}דנה\u{2069}, who decided") && told.contains("SLACK_LEADS"),
        "{told}"
    );
    assert_eq!(w.db.status(id).await, "rejected");

    assert_eq!(
        w.click("U0LEAD0001", "L1", actions::UNDO, &id.to_string())
            .await,
        200
    );
    eventually("the lead took it back", || async {
        w.db.status(id).await == "pending"
    })
    .await;
    let as_lead: Option<bool> = sqlx::query_scalar(
        "SELECT (details->>'as_lead')::boolean FROM events WHERE action = 'undo'",
    )
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(as_lead, Some(true));
    // Someone neither reviewer nor lead is told they are not a reviewer.
    assert_eq!(
        w.click("U0STRANGER", "L1", actions::APPROVE, &id.to_string())
            .await,
        200
    );
    told_eventually(&w, "U0STRANGER", "not one of the tag reviewers").await;
    assert_eq!(w.db.status(id).await, "pending");
    w.close().await;
}

#[sqlx::test]
async fn a_press_after_the_window_is_told_it_is_too_late(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "1")]).await;
    let id = w.db.suggestion("L1", "t1", 0.9).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    eventually("approved", || async { w.db.status(id).await == "approved" }).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    assert_eq!(
        w.click(DANA, "L1", actions::UNDO, &id.to_string()).await,
        200
    );
    told_eventually(&w, DANA, "too late").await;
    assert_eq!(w.db.status(id).await, "approved");
    w.close().await;
}

#[sqlx::test]
async fn an_undo_on_a_closed_lecture_reopens_it_at_once_past_the_open_limit(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_UNDO_SECS", "30"),
            ("TAGBOT_REVIEW_OPEN_LIMIT", "1"),
        ],
    )
    .await;
    let l1 = w.db.suggestion("L1", "t1", 0.9).await;
    w.db.suggestion("L2", "t1", 0.9).await;
    w.post_reviews().await;
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &l1.to_string()).await,
        200
    );
    eventually("approved", || async { w.db.status(l1).await == "approved" }).await;
    // L1 closes (nothing pending), L2 takes the one place.
    w.post_reviews().await;
    w.post_reviews().await;
    let open = "SELECT count(*) FROM slack_review_messages WHERE opened_at IS NOT NULL";
    assert_eq!(w.db.count(open).await, 1);
    assert_eq!(w.slack.messages(REVIEW).len(), 2);

    assert_eq!(
        w.click(DANA, "L1", actions::UNDO, &l1.to_string()).await,
        200
    );
    eventually("taken back", || async {
        w.db.status(l1).await == "pending"
    })
    .await;
    assert_eq!(
        w.db.count(open).await,
        2,
        "L1 is open again, past the limit"
    );
    w.post_reviews().await;
    let text = all_text(&w.message_of("L1").await);
    assert!(text.contains("Approve"), "L1 shows its pending tag: {text}");
    w.close().await;
}

#[sqlx::test]
async fn a_session_offers_undo_of_the_save_on_its_next_view(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let yes = w.db.suggestion("L1", "t1", 0.95).await;
    let no = w.db.suggestion("L1", "t2", 0.4).await;
    w.db.suggestion("L2", "t1", 0.9).await;

    let minted = w.slack.mint(REVIEW, DANA);
    let body = standins::sender::command_body(DANA, REVIEW, "review", &minted);
    assert_eq!(
        w.send("/slack/commands", &body, Signing::Valid).await.0,
        200
    );
    eventually("the session opens", || async {
        w.slack
            .views()
            .iter()
            .any(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()))
    })
    .await;
    let view = w
        .slack
        .views()
        .into_iter()
        .find(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()))
        .unwrap();
    let mut values = json!({});
    for (id, pick) in [(yes, "approve"), (no, "reject")] {
        let block_id = view.view["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["block_id"].as_str())
            .find(|b| b.starts_with(&format!("choice:{id}:")))
            .unwrap()
            .to_owned();
        values[block_id] = json!({ actions::SESSION_CHOICE: {
            "type": "radio_buttons",
            "selected_option": { "value": pick, "text": { "type": "plain_text", "text": pick } },
        }});
    }
    let payload = view_submission(DANA, &view, &w.slack.mint(REVIEW, DANA), values);
    let (_, answer) = w
        .send(
            "/slack/interactions",
            &interaction_body(&payload),
            Signing::Valid,
        )
        .await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let next = &answer["view"];
    assert!(all_text(next).contains("Saved 2 decision(s)"));
    let undo = next["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["accessory"]["action_id"] == actions::UNDO)
        .expect("an Undo beside the notice");
    let value = undo["accessory"]["value"].as_str().unwrap().to_owned();

    // The reviewer is now on L2; the Undo takes L1's save back. Slack
    // shows the answer's view (with its own hash).
    w.slack
        .answer_submission(&view.id, &answer)
        .expect("Slack takes the answer");
    let shown = w
        .slack
        .views()
        .into_iter()
        .find(|v| v.id == view.id)
        .unwrap();
    assert_eq!(&shown.view, next);
    let press = view_block_actions(
        DANA,
        &shown,
        &w.slack.mint(REVIEW, DANA),
        actions::UNDO,
        &value,
    );
    assert_eq!(w.interact(&press).await, 200);
    eventually("the save is taken back", || async {
        w.db.status(yes).await == "pending" && w.db.status(no).await == "pending"
    })
    .await;
    eventually("the view says so, still on L2", || async {
        w.slack.views().iter().any(|v| {
            v.id == view.id
                && all_text(&v.view).contains("back in the queue")
                && v.view["private_metadata"]
                    .as_str()
                    .unwrap_or("")
                    .contains("\"l\":\"L2\"")
        })
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn an_undo_acts_only_on_its_own_message_lecture_and_works_from_details(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let l1 = w.db.suggestion("L1", "t1", 0.9).await;
    let l2 = w.db.suggestion("L2", "t1", 0.9).await;
    w.db.suggestion("L1", "t2", 0.5).await;
    w.settle().await;
    for (lecture, id) in [("L1", l1), ("L2", l2)] {
        assert_eq!(
            w.click(DANA, lecture, actions::APPROVE, &id.to_string())
                .await,
            200
        );
    }
    eventually("both approved", || async {
        w.db.status(l1).await == "approved" && w.db.status(l2).await == "approved"
    })
    .await;

    // L2's suggestion pressed on L1's message (a forged, if signed,
    // payload): nothing changes.
    assert_eq!(
        w.click(DANA, "L1", actions::UNDO, &l2.to_string()).await,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.db.status(l2).await, "approved");
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action = 'undo'")
            .await,
        0
    );

    // From the Details modal: taken back, and the modal shown afresh.
    let details = w.open_details(DANA, "L1").await;
    assert!(serde_json::to_string(&details.view)
        .unwrap()
        .contains(actions::UNDO));
    let press = view_block_actions(
        DANA,
        &details,
        &w.slack.mint(REVIEW, DANA),
        actions::UNDO,
        &l1.to_string(),
    );
    assert_eq!(w.interact(&press).await, 200);
    eventually("taken back from Details", || async {
        w.db.status(l1).await == "pending"
    })
    .await;
    eventually("the modal no longer offers Undo", || async {
        w.slack.views().iter().any(|v| {
            v.id == details.id
                && !serde_json::to_string(&v.view)
                    .unwrap()
                    .contains(actions::UNDO)
        })
    })
    .await;
    assert_eq!(w.db.status(l2).await, "approved");
    w.close().await;
}
