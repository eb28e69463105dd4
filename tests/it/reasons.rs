//! Why a tag was rejected, from Slack: "Reject because…" beside each
//! pending tag's buttons on the review message, the reasons in Details when
//! the message uses a ⋮ menu per tag, the reason in the reject's event and
//! on the row, shown on the message, in Details and by `/tags show`, and
//! taken back with the decision by an undo. The one-click Reject records
//! none. (A session's reasons: `review_sessions.rs`.)

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::view_block_actions;
use standins::slack::OpenedView;
use tagbot::domain::SuggestionId;
use tagbot::slack::card::actions;

use crate::slack_world::{all_text, eventually, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";

/// Every "Reject because…" menu in `blocks` (a message's or a view's).
fn reason_menus(blocks: &Value) -> Vec<Value> {
    let mut menus = Vec::new();
    for block in blocks.as_array().unwrap() {
        let elements = block["elements"].as_array().cloned().unwrap_or_default();
        for element in elements.iter().chain(std::iter::once(&block["accessory"])) {
            if element["action_id"] == actions::REJECT_BECAUSE {
                menus.push(element.clone());
            }
        }
    }
    menus
}

fn option_values(menu: &Value) -> Vec<String> {
    menu["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .collect()
}

/// A pick in a "Reject because…" menu, as Slack reports a static select.
fn pick(value: &str) -> Value {
    json!({
        "type": "static_select",
        "selected_option": { "value": value, "text": { "type": "plain_text", "text": "x" } },
    })
}

/// The reason recorded in the suggestion's reject event(s) and on its row.
async fn recorded(w: &SlackWorld, id: SuggestionId) -> (Vec<Option<String>>, Option<String>) {
    let events: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT details->>'reason' FROM events WHERE suggestion_id = $1 AND action = 'reject' ORDER BY id",
    )
    .bind(id.get())
    .fetch_all(&w.db.app)
    .await
    .unwrap();
    let row: Option<String> =
        sqlx::query_scalar("SELECT reject_reason FROM lecture_tag_suggestions WHERE id = $1")
            .bind(id.get())
            .fetch_one(&w.db.app)
            .await
            .unwrap();
    (events, row)
}

async fn pick_on_message(w: &SlackWorld, lecture: &str, value: &str) -> u16 {
    let ts = w.message_ts(lecture).await;
    w.interact(&w.block_actions(DANA, &ts, actions::REJECT_BECAUSE, pick(value), json!({})))
        .await
}

#[sqlx::test]
async fn a_reason_picked_on_the_message_lands_in_the_event_and_shows(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let broad = w.db.suggestion("L1", "t1", 0.6).await;
    let plain = w.db.suggestion("L1", "t2", 0.4).await;
    w.settle().await;

    // One menu per pending tag, the five reasons in DESIGN.md's order.
    let menus = reason_menus(&w.message_of("L1").await["blocks"]);
    assert_eq!(menus.len(), 2);
    assert_eq!(
        option_values(&menus[0]),
        [
            "wrong_topic",
            "too_broad",
            "too_narrow",
            "duplicate",
            "other"
        ]
        .map(|r| format!("{r}:{broad}"))
    );
    let labels: Vec<&str> = menus[0]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "Wrong topic",
            "Too broad",
            "Too narrow",
            "Duplicate of another tag",
            "Other"
        ]
    );

    assert_eq!(
        pick_on_message(&w, "L1", &format!("too_broad:{broad}")).await,
        200
    );
    eventually("rejected", || async {
        w.db.status(broad).await == "rejected"
    })
    .await;
    assert_eq!(
        recorded(&w, broad).await,
        (
            vec![Some("too_broad".to_owned())],
            Some("too_broad".to_owned())
        )
    );

    // The one-click Reject stays, and records no reason.
    assert_eq!(
        w.click(DANA, "L1", actions::REJECT, &plain.to_string())
            .await,
        200
    );
    eventually("rejected", || async {
        w.db.status(plain).await == "rejected"
    })
    .await;
    assert_eq!(recorded(&w, plain).await, (vec![None], None));

    w.settle().await;
    let message = w.message_of("L1").await;
    assert!(reason_menus(&message["blocks"]).is_empty(), "none pending");
    let text = all_text(&message);
    assert!(text.contains("Too broad"), "{text}");
    let shown = w.command(DANA, "show L1").await;
    assert_eq!(shown.matches("Too broad").count(), 1, "{shown}");
    w.close().await;
}

#[sqlx::test]
async fn a_reason_tagbot_does_not_offer_decides_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    let other = w.db.suggestion("L2", "t1", 0.6).await;
    w.settle().await;
    for value in [
        format!("bogus:{id}"),
        format!("Too broad:{id}"),
        format!("approve:{id}"),
        "too_broad".to_owned(),
        // Another lecture's tag, from this lecture's message.
        format!("too_broad:{other}"),
    ] {
        assert_eq!(pick_on_message(&w, "L1", &value).await, 200, "{value}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.db.status(id).await, "pending");
    assert_eq!(w.db.status(other).await, "pending");
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action = 'reject'")
            .await,
        0
    );
    w.close().await;
}

/// The message of a lecture with this many pending tags uses a ⋮ menu per
/// tag (two blocks each would not fit in 50).
const COMPACT: usize = 24;

#[sqlx::test]
async fn where_the_message_has_a_menu_per_tag_details_offers_the_reasons(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let mut ids = Vec::new();
    for i in 0..COMPACT {
        ids.push(
            w.db.suggestion("L1", &format!("t{i}"), 0.5 + i as f64 / 100.0)
                .await,
        );
    }
    w.settle().await;
    let message = w.message_of("L1").await;
    assert!(reason_menus(&message["blocks"]).is_empty());
    assert!(
        serde_json::to_string(&message)
            .unwrap()
            .contains(actions::DECIDE_MENU),
        "the compact layout's ⋮ menus"
    );

    let details: OpenedView = w.open_details(DANA, "L1").await;
    let menus = reason_menus(&details.view["blocks"]);
    assert_eq!(menus.len(), COMPACT, "one per pending tag");
    let target = ids[3];
    let mut press = view_block_actions(
        DANA,
        &details,
        &w.slack.mint(REVIEW, DANA),
        actions::REJECT_BECAUSE,
        "",
    );
    press["actions"][0] = {
        let mut action = pick(&format!("duplicate:{target}"));
        action["action_id"] = json!(actions::REJECT_BECAUSE);
        action["block_id"] = json!(format!("s:{target}"));
        action
    };
    assert_eq!(w.interact(&press).await, 200);
    eventually("rejected from Details", || async {
        w.db.status(target).await == "rejected"
    })
    .await;
    assert_eq!(
        recorded(&w, target).await,
        (
            vec![Some("duplicate".to_owned())],
            Some("duplicate".to_owned())
        )
    );
    // The modal is shown afresh: the tag's menu gives way to its Undo,
    // and its decision and history say why.
    eventually("Details shows the decision", || async {
        w.slack
            .views()
            .iter()
            .any(|v| v.id == details.id && reason_menus(&v.view["blocks"]).len() == COMPACT - 1)
    })
    .await;
    let now = w
        .slack
        .views()
        .into_iter()
        .find(|v| v.id == details.id)
        .unwrap();
    let text = serde_json::to_string(&now.view).unwrap();
    assert!(text.contains("Duplicate of another tag"), "{text}");
    assert!(text.contains(actions::UNDO), "{text}");
    w.close().await;
}

#[sqlx::test]
async fn an_undo_takes_the_reason_back_with_the_decision(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("TAGBOT_UNDO_SECS", "30")]).await;
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    w.settle().await;
    assert_eq!(
        pick_on_message(&w, "L1", &format!("wrong_topic:{id}")).await,
        200
    );
    eventually("rejected", || async { w.db.status(id).await == "rejected" }).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::UNDO, &id.to_string()).await,
        200
    );
    eventually("taken back", || async {
        w.db.status(id).await == "pending"
    })
    .await;
    assert_eq!(
        recorded(&w, id).await,
        (vec![Some("wrong_topic".to_owned())], None),
        "the log keeps what was decided; the row no longer has a reason"
    );
    w.settle().await;
    let message = w.message_of("L1").await;
    let section = message["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| {
            b["block_id"]
                .as_str()
                .is_some_and(|block| block.starts_with(&format!("s:{id}~")))
        })
        .expect("the tag's section")
        .clone();
    assert!(!all_text(&section).contains("Wrong topic"), "{section}");
    assert_eq!(reason_menus(&message["blocks"]).len(), 1, "pending again");
    let shown = w.command(DANA, "show L1").await;
    assert!(!shown.contains("Wrong topic"), "{shown}");
    w.close().await;
}
