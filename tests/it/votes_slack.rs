//! A second pair of eyes from the review message, through signed payloads,
//! with `TAGBOT_SECOND_OPINION=0.45-0.75`: a click in the band is a vote
//! the message shows ("approved by דנה · needs one more"), a repeated vote
//! is told so, the voter may take it back, a second agreeing vote
//! decides; a disagreeing one shows both votes, anyone but a lead is told
//! only a lead may decide, and a lead's Reject decides at once.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::slack::card::actions;

use crate::slack_world::{all_text, eventually, SlackWorld};

const DANA: &str = "U0DANA0001";
const YOSI: &str = "U0YOSI0001";
const LEAD: &str = "U0LEAD0001";
const OTHER: &str = "U0OTHER001";

async fn banded(pool: PgPoolOptions, options: PgConnectOptions) -> SlackWorld {
    let w = SlackWorld::with_env(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", LEAD),
            ("TAGBOT_UNDO_SECS", "30"),
        ],
    )
    .await;
    w.slack.add_user(LEAD, "ראש צוות");
    w.slack.add_user(OTHER, "אחר");
    w
}

async fn told_eventually(w: &SlackWorld, user: &str, words: &str) {
    eventually(&format!("{user} is told {words:?}"), || async {
        w.told(user).iter().any(|t| t.contains(words))
    })
    .await;
}

async fn message_says(w: &SlackWorld, lecture: &str, words: &str) {
    eventually(&format!("the message says {words:?}"), || async {
        // Names we did not write are isolated (FSI … PDI) in the text.
        all_text(&w.message_of(lecture).await)
            .replace(['\u{2068}', '\u{2069}'], "")
            .contains(words)
    })
    .await;
}

#[sqlx::test]
async fn two_agreeing_votes_from_the_message_decide(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    let sure = w.db.suggestion("L1", "t2", 0.9).await;
    w.settle().await;

    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    assert_eq!(w.db.status(id).await, "pending");
    message_says(&w, "L1", "approved by דנה · needs one more").await;
    // Outside the band one reviewer decides, as ever.
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &sure.to_string())
            .await,
        200
    );
    eventually("approved at once", || async {
        w.db.status(sure).await == "approved"
    })
    .await;

    assert_eq!(
        w.click(DANA, "L1", actions::REJECT, &id.to_string()).await,
        200
    );
    told_eventually(&w, DANA, "you voted to approve already").await;
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_votes").await,
        1,
        "one vote each"
    );

    assert_eq!(
        w.click(YOSI, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    eventually("decided", || async { w.db.status(id).await == "approved" }).await;
    let (actor, votes): (String, i64) = sqlx::query_as(
        "SELECT actor, jsonb_array_length(details->'votes')::bigint FROM events
         WHERE suggestion_id = $1 AND action = 'approve'",
    )
    .bind(id.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), votes), ("slack:U0YOSI0001", 2));
    w.close().await;
}

#[sqlx::test]
async fn a_voter_takes_back_their_vote_and_no_one_else_can(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.5).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    message_says(&w, "L1", "needs one more").await;
    let message = w.message_of("L1").await;
    assert!(
        serde_json::to_string(&message)
            .unwrap()
            .contains("Undo vote"),
        "{message}"
    );

    assert_eq!(
        w.click(YOSI, "L1", actions::UNDO_VOTE, &id.to_string())
            .await,
        200
    );
    told_eventually(
        &w,
        YOSI,
        "only its voter (\u{2068}דנה\u{2069}) may take a vote back",
    )
    .await;
    assert_eq!(
        w.click(DANA, "L1", actions::UNDO_VOTE, &id.to_string())
            .await,
        200
    );
    told_eventually(&w, DANA, "Took back your vote").await;
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_votes WHERE verdict = 'withdraw' AND withdraws IS NOT NULL")
            .await,
        1
    );
    eventually("the message no longer shows the vote", || async {
        !all_text(&w.message_of("L1").await).contains("needs one more")
    })
    .await;
    assert_eq!(w.db.status(id).await, "pending");
    w.close().await;
}

/// A lecture with many tags gets the compact layout, each pending tag in
/// a menu: once a vote is cast, the tag's menu offers "Undo vote", and
/// the vote is taken back from there.
#[sqlx::test]
async fn a_vote_is_taken_back_from_the_compact_layouts_menu(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t00", 0.5).await;
    // Two blocks each would pass the message's 50: one section each.
    for n in 1..30 {
        w.db.suggestion("L1", &format!("t{n:02}"), 0.55).await;
    }
    w.settle().await;
    let menu_of = |message: &serde_json::Value| {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            // Block ids carry the message's revision: `s:<id>~r<n>`.
            .find(|b| {
                b["block_id"].as_str().and_then(|b| b.split('~').next())
                    == Some(format!("s:{id}").as_str())
            })
            .map(|b| b["accessory"].clone())
            .unwrap_or_default()
    };
    let pick = |value: &str| {
        json!({
            "type": "overflow",
            "selected_option": { "value": value, "text": { "type": "plain_text", "text": "x" } },
        })
    };
    let menu = menu_of(&w.message_of("L1").await);
    assert_eq!(menu["action_id"], actions::DECIDE_MENU, "compact: {menu}");
    let ts = w.message_ts("L1").await;
    assert_eq!(
        w.interact(&w.block_actions(
            DANA,
            &ts,
            actions::DECIDE_MENU,
            pick(&format!("approve:{id}")),
            json!({})
        ))
        .await,
        200
    );
    message_says(&w, "L1", "needs one more").await;

    let offered: Vec<String> = menu_of(&w.message_of("L1").await)["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["value"].as_str().unwrap().to_owned())
        .collect();
    let undo_vote = format!("undo_vote:{id}");
    assert!(offered.contains(&undo_vote), "{offered:?}");
    assert_eq!(
        w.interact(&w.block_actions(DANA, &ts, actions::DECIDE_MENU, pick(&undo_vote), json!({})))
            .await,
        200
    );
    told_eventually(&w, DANA, "Took back your vote").await;
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_votes WHERE verdict = 'withdraw'")
            .await,
        1
    );
    assert_eq!(w.db.status(id).await, "pending");
    w.close().await;
}

#[sqlx::test]
async fn a_dispute_shows_both_votes_and_only_a_lead_decides_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.7).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    message_says(&w, "L1", "needs one more").await;
    let ts = w.message_ts("L1").await;
    let because = json!({
        "type": "static_select",
        "selected_option": { "value": format!("too_broad:{id}"), "text": { "type": "plain_text", "text": "x" } },
    });
    assert_eq!(
        w.interact(&w.block_actions(YOSI, &ts, actions::REJECT_BECAUSE, because, json!({})))
            .await,
        200
    );
    message_says(
        &w,
        "L1",
        "Disputed: approved by דנה · rejected by יוסי (_Too broad_)",
    )
    .await;

    assert_eq!(
        w.click(OTHER, "L1", actions::APPROVE, &id.to_string())
            .await,
        200
    );
    told_eventually(&w, OTHER, "only a lead may decide it").await;
    assert_eq!(w.db.status(id).await, "pending");

    assert_eq!(
        w.click(LEAD, "L1", actions::REJECT, &id.to_string()).await,
        200
    );
    eventually("the lead's ruling decides", || async {
        w.db.status(id).await == "rejected"
    })
    .await;
    let ruling: (String, bool) = sqlx::query_as(
        "SELECT actor, (details->>'ruling')::boolean FROM events WHERE suggestion_id = $1 AND action = 'reject'",
    )
    .bind(id.get())
    .fetch_one(&w.db.app)
    .await
    .unwrap();
    assert_eq!(ruling, ("slack:U0LEAD0001".to_owned(), true));
    w.close().await;
}

/// An Undo vote pressed on a message that is out of date (the tag was
/// decided since by a second agreeing vote) takes back nothing, even a
/// lead's press: the decision has its own Undo, and the presser is told
/// who decided.
#[sqlx::test]
async fn an_undo_vote_after_the_decision_takes_back_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    w.settle().await;
    assert_eq!(
        w.click(LEAD, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    message_says(&w, "L1", "needs one more").await;
    assert_eq!(
        w.click(YOSI, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    eventually("decided", || async { w.db.status(id).await == "approved" }).await;
    assert_eq!(
        w.click(LEAD, "L1", actions::UNDO_VOTE, &id.to_string())
            .await,
        200
    );
    told_eventually(&w, LEAD, "already approved by \u{2068}יוסי\u{2069} at ").await;
    assert_eq!(w.db.status(id).await, "approved");
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE action = 'undo'")
            .await,
        0
    );
    w.close().await;
}

/// From Details: a "Reject because…" on a tag in the band is a vote (the
/// modal is shown afresh with it), and a lead's in a dispute rules.
#[sqlx::test]
async fn details_collects_votes_and_a_leads_choice_rules(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    w.settle().await;
    let pick = |user: &str, details: &standins::slack::OpenedView| {
        let mut press = standins::sender::view_block_actions(
            user,
            details,
            &w.slack.mint(crate::slack_world::REVIEW, user),
            actions::REJECT_BECAUSE,
            "",
        );
        press["actions"][0] = json!({
            "type": "static_select", "action_id": actions::REJECT_BECAUSE, "block_id": format!("s:{id}"),
            "selected_option": { "value": format!("too_narrow:{id}"), "text": { "type": "plain_text", "text": "x" } },
        });
        press
    };
    let details = w.open_details(DANA, "L1").await;
    assert_eq!(w.interact(&pick(DANA, &details)).await, 200);
    eventually("Details shows the vote", || async {
        w.slack.views().iter().any(|v| {
            v.id == details.id
                && serde_json::to_string(&v.view)
                    .unwrap()
                    .contains("needs one more")
        })
    })
    .await;
    assert_eq!(w.db.status(id).await, "pending");
    assert_eq!(
        w.click(YOSI, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    message_says(&w, "L1", "Disputed").await;
    let lead_view = w.open_details(LEAD, "L1").await;
    assert_eq!(w.interact(&pick(LEAD, &lead_view)).await, 200);
    eventually("the lead's choice rules", || async {
        w.db.status(id).await == "rejected"
    })
    .await;
    let reason: Option<String> =
        sqlx::query_scalar("SELECT reject_reason FROM lecture_tag_suggestions WHERE id = $1")
            .bind(id.get())
            .fetch_one(&w.db.app)
            .await
            .unwrap();
    assert_eq!(reason.as_deref(), Some("too_narrow"));
    w.close().await;
}

/// An Undo vote naming a tag of another lecture (a forged or mixed-up
/// click) takes back nothing: the vote stays, its message unchanged.
#[sqlx::test]
async fn an_undo_vote_from_another_lectures_message_takes_back_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = banded(pool, options).await;
    let id = w.db.suggestion("L1", "t1", 0.5).await;
    w.db.suggestion("L2", "t1", 0.5).await;
    w.settle().await;
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    message_says(&w, "L1", "needs one more").await;
    assert_eq!(
        w.click(DANA, "L2", actions::UNDO_VOTE, &id.to_string())
            .await,
        200
    );
    // Every click acknowledged has been handled.
    assert!(w.app.clicks.drain(std::time::Duration::from_secs(10)).await);
    assert_eq!(
        w.db.count("SELECT count(*) FROM review_votes WHERE verdict = 'withdraw'")
            .await,
        0
    );
    assert!(all_text(&w.message_of("L1").await).contains("needs one more"));
    assert_eq!(w.db.status(id).await, "pending");
    w.close().await;
}

/// A lead named through a user group Slack cannot be asked about just now
/// is not told that only a lead may decide (they may be one): they are
/// told Slack could not confirm it, and once Slack answers, their click
/// settles the dispute.
#[sqlx::test]
async fn a_lead_slack_cannot_confirm_is_told_to_try_again_not_that_only_a_lead_may(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::uncached(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "S0LEADS001"),
        ],
    )
    .await;
    w.slack.add_user(LEAD, "ראש צוות");
    w.slack.add_usergroup("S0LEADS001", &[LEAD]);
    let id = w.db.suggestion("L1", "t1", 0.6).await;
    w.post_reviews().await;
    // The dispute, cast without asking Slack about the lead group: no
    // member list of it is known when the lead presses.
    crate::votes::cast(
        &w.db,
        "L1",
        id,
        &[
            (DANA, "דנה", tagbot::domain::Transition::Approve),
            (YOSI, "יוסי", tagbot::domain::Transition::Reject),
        ],
    )
    .await;

    w.slack
        .fail_next("usergroups.users.list", 1, "internal_error");
    assert_eq!(
        w.click(LEAD, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    told_eventually(&w, LEAD, "could not confirm that you are one").await;
    let told = w.told(LEAD).join("\n");
    assert!(!told.contains("only a lead may decide it"), "{told}");
    assert_eq!(w.db.status(id).await, "pending");

    assert_eq!(
        w.click(LEAD, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    eventually("the lead's ruling decides", || async {
        w.db.status(id).await == "approved"
    })
    .await;
    w.close().await;
}
