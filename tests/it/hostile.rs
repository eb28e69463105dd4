//! Every Slack surface shows text tagbot did not write as text: the same
//! hostile catalogue (quotes, braces, backslashes, line breaks, code
//! fences, pings, mentions, links, bold, a direction override) and a
//! hostile Slack display name go through each one, and none of it pings,
//! links, formats, closes a code block or forges a line.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::slack::card::actions;
use tagbot::slack::output::notify;

use serde_json::Value;

use crate::slack_world::{eventually, SlackWorld, REPORT};

const DANA: &str = "U0DANA0001";
const MALLORY: &str = "U0MALLORY1";

/// A lecture id with no whitespace (so `/tags show` takes it) that still
/// carries a fence, a ping, a mention, bold and a direction override.
const LECTURE: &str = "L```<!here><@U0EVIL0001>*bold*\u{202E}1";

/// Catalogue text: everything at once, with a line break before a line
/// that would pose as tagbot's.
fn hostile(what: &str) -> String {
    format!(
        "{what} \"q\" 'q' {{b}} \\ back\nFORGED {what} ``` <!channel> <!here> <@U0EVIL0001> <https://evil.example|click> *bold* \u{202E}desrever"
    )
}

/// What a surface must not contain. `fences` is how many ``` tagbot
/// itself writes there.
fn assert_inert(surface: &str, text: &str, fences: usize) {
    for raw in [
        "<!channel>",
        "<!here>",
        "<@U0EVIL0001>",
        "<https://evil",
        "*bold*",
        "\u{202E}",
    ] {
        assert!(!text.contains(raw), "{surface} shows {raw:?} raw:\n{text}");
    }
    // A rationale shown in a block of its own keeps its paragraphs (the
    // details modal); a name never starts a line.
    assert!(
        text.lines().all(|line| {
            let line = line.trim_start();
            !line.starts_with("FORGED") || line.starts_with("FORGED נימוק")
        }),
        "{surface} has a forged line:\n{text}"
    );
    assert_eq!(
        text.matches("```").count(),
        fences,
        "{surface}: a fence opened or closed by catalogue text:\n{text}"
    );
}

/// The text of every mrkdwn object in `value`, one per line: what Slack
/// formats, and so what must carry no formatting of the catalogue's.
fn mrkdwn(value: &Value) -> String {
    let mut out = Vec::new();
    collect(value, "mrkdwn", &mut out);
    out.join("\n")
}

/// The text of every plain_text object: Slack shows it as it is, so only
/// line breaks and direction overrides matter there.
fn plain(value: &Value) -> String {
    let mut out = Vec::new();
    collect(value, "plain_text", &mut out);
    out.join("\n")
}

fn collect(value: &Value, kind: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some(kind) {
                if let Some(text) = object.get("text").and_then(Value::as_str) {
                    out.push(text.to_owned());
                }
            }
            object.values().for_each(|v| collect(v, kind, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, kind, out)),
        _ => {}
    }
}

fn assert_plain_inert(surface: &str, text: &str) {
    assert!(
        !text.contains('\u{202E}'),
        "{surface} keeps a direction override:\n{text}"
    );
    assert!(
        text.lines()
            .all(|line| !line.trim_start().starts_with("FORGED")),
        "{surface} has a forged line:\n{text}"
    );
}

/// A lecture and a tag named with hostile text, a hostile rationale, and
/// a reviewer with a hostile display name.
async fn hostile_world(pool: PgPoolOptions, options: PgConnectOptions) -> SlackWorld {
    let w = SlackWorld::new(pool, options).await;
    w.slack.add_user(MALLORY, &hostile("מלורי"));
    w.db.lecture(LECTURE, &hostile("הרצאה")).await;
    w.db.tag("t1", &hostile("תגית")).await;
    w.db.tag("t2", "אתיקה").await;
    for tag in ["t1", "t2"] {
        sqlx::query(
            "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, rationale, suggested_by)
             VALUES ($1, $2, 0.9, $3, $4)",
        )
        .bind(LECTURE)
        .bind(tag)
        .bind(hostile("נימוק"))
        .bind(hostile("model"))
        .execute(&w.db.app)
        .await
        .unwrap();
    }
    w.settle().await;
    w
}

async fn suggestion(w: &SlackWorld, tag: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM lecture_tag_suggestions WHERE tag_id = $1")
        .bind(tag)
        .fetch_one(&w.db.app)
        .await
        .unwrap()
}

/// Mallory, of the hostile name, approves the hostile tag t1: the
/// decider's name now shows wherever a decision does.
async fn mallory_approves_t1(w: &SlackWorld) -> i64 {
    let id = suggestion(w, "t1").await;
    w.click(MALLORY, LECTURE, actions::APPROVE, &id.to_string())
        .await;
    eventually("Mallory decided", || async {
        w.db.count("SELECT count(*) FROM events WHERE action = 'approve'")
            .await
            == 1
    })
    .await;
    id
}

#[sqlx::test]
async fn the_review_message_and_details_show_hostile_text_as_text(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = hostile_world(pool, options).await;
    let id = suggestion(&w, "t1").await;
    w.click(MALLORY, LECTURE, actions::APPROVE, &id.to_string())
        .await;
    eventually("decided", || async {
        w.db.status(tagbot::domain::SuggestionId::new(id).unwrap())
            .await
            == "approved"
    })
    .await;
    w.settle().await;

    let message = w.message_of(LECTURE).await;
    assert_inert("the review message", &mrkdwn(&message["blocks"]), 0);
    assert_plain_inert("the review message", &plain(&message["blocks"]));
    assert_inert(
        "the review message's fallback",
        message["text"].as_str().unwrap_or(""),
        0,
    );

    w.click(DANA, LECTURE, actions::DETAILS, LECTURE).await;
    eventually("the details modal opens", || async {
        !w.slack.views().is_empty()
    })
    .await;
    let view = &w.slack.views()[0].view;
    assert_inert("the details modal", &mrkdwn(view), 0);
    assert_plain_inert("the details modal", &plain(view));
    w.close().await;
}

#[sqlx::test]
async fn the_race_losers_answer_escapes_the_tag_and_the_deciders_name(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = hostile_world(pool, options).await;
    let id = mallory_approves_t1(&w).await;

    w.click(DANA, LECTURE, actions::REJECT, &id.to_string())
        .await;
    eventually("Dana is told", || async { !w.told(DANA).is_empty() }).await;

    let told = w.told(DANA).join("\n");
    // The name sits in a direction isolate of its own: a right-to-left
    // name does not carry " at <time>" along with it.
    assert!(
        told.contains("already approved by \u{2068}מלורי") && told.contains("\u{2069} at "),
        "{told}"
    );
    assert_inert("the race loser's answer", &told, 0);
    w.close().await;
}

#[sqlx::test]
async fn tags_show_and_pending_show_hostile_text_as_text(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = hostile_world(pool, options).await;
    mallory_approves_t1(&w).await;

    let show = w.command(DANA, &format!("show {LECTURE}")).await;
    let pending = w.command(DANA, "pending").await;
    let unknown = w.command(DANA, &hostile("frobnicate")).await;

    assert!(show.contains("הרצאה"), "{show}");
    assert!(
        show.contains(" by \u{2068}מלורי"),
        "the decider's name is isolated: {show}"
    );
    assert_inert("/tags show", &show, 0);
    assert_inert("/tags pending", &pending, 0);
    assert_inert("/tags with an unknown command", &unknown, 0);
    w.close().await;
}

#[sqlx::test]
async fn the_run_report_and_failure_posts_show_hostile_text_as_text(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = hostile_world(pool, options).await;
    let id = tagbot::domain::SuggestionId::new(suggestion(&w, "t1").await).unwrap();
    let reason = hostile("Airtable said");
    w.db.fail_as_worker(id, &reason).await;
    w.db.store_run_report(json!({
        "approved": 1, "failed": 1, "failure_reasons": [{ "reason": reason, "count": 1 }],
        "unsynced_lectures": [LECTURE], "unsynced_lecture_count": 1, "requests": 2,
        "aborted": reason
    }))
    .await;

    notify::run_once(&w.app, chrono::Utc::now()).await.unwrap();
    let report_answer = w.command(DANA, "report").await;

    let posts = w.slack.messages(REPORT);
    let failure = posts
        .iter()
        .find(|p| mrkdwn(&p["blocks"]).contains("Sync failed"))
        .expect("the failure post");
    assert_inert("the failure post", &mrkdwn(&failure["blocks"]), 0);
    assert_inert(
        "the failure post's fallback",
        failure["text"].as_str().unwrap_or(""),
        0,
    );
    let report = posts
        .iter()
        .find(|p| mrkdwn(&p["blocks"]).contains("r1"))
        .expect("the run report post");
    let report = mrkdwn(&report["blocks"]);
    assert!(
        report.contains("01 · ") || report.contains("Lˋ"),
        "{report}"
    );
    assert_inert("the run report post", &report, 2);
    assert_inert("/tags report", &report_answer, 2);
    w.close().await;
}
