//! What the render tests share: cards to render, the checks everything
//! rendered must pass, and ways to find a block or an action in it.
//!
//! The Block Kit rules are the Slack stand-in's (`standins::block_kit`,
//! each citing Slack's page): one checker, the one the fake Web API
//! enforces, so a test here and an integration test refuse the same
//! things.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use standins::block_kit;

use super::review_message::unstamped;
use super::{limits, Message};
use crate::domain::SuggestionStatus;
use crate::slack::card::{actions, HistoryLine, LectureCard, SuggestionCard};

// ------------------------------------------------------------ fixtures

pub(super) fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_714_564_800 + secs, 0).unwrap()
}

pub(super) fn suggestion(id: i64, score: f64, status: SuggestionStatus) -> SuggestionCard {
    let decided = status.is_decided();
    SuggestionCard {
        id,
        tag_id: format!("tag-{id}"),
        tag_name: "בינה מלאכותית".to_owned(),
        score,
        rationale: "The lecture discusses neural networks at length.".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        created_at: at(id),
        status,
        decided_by: decided.then(|| "Dana".to_owned()),
        decided_at: decided.then(|| at(3_600 + id)),
        undo_until: None,
        reject_reason: None,
        votes: Vec::new(),
        last_error: (status == SuggestionStatus::Failed).then(|| "tag_missing".to_owned()),
        removed_in_airtable: None,
    }
}

pub(super) fn card(suggestions: Vec<SuggestionCard>) -> LectureCard {
    LectureCard {
        lecture_id: "lec-42".to_owned(),
        title: "מבוא ללמידת מכונה".to_owned(),
        suggestions,
        approve_threshold: 0.88,
        threshold_note: None,
    }
}

pub(super) fn pending_card(n: i64) -> LectureCard {
    card(
        (1..=n)
            .map(|id| suggestion(id, 0.5, SuggestionStatus::Pending))
            .collect(),
    )
}

pub(super) fn events(suggestion_id: i64, n: i64) -> Vec<HistoryLine> {
    (0..n)
        .map(|i| HistoryLine {
            suggestion_id,
            action: if i % 2 == 0 { "sync_fail" } else { "retry" }.to_owned(),
            actor: "worker".to_owned(),
            at: at(10_000 + i),
            error: (i % 2 == 0).then(|| format!("HTTP 503 attempt {i}")),
            reason: None,
        })
        .collect()
}

// ------------------------------------------------------------ checks

/// A message as chat.postMessage takes it: `text` of 1 to 40,000
/// characters, blocks within Block Kit's rules.
pub(super) fn check_message(m: &Message) {
    let n = m.text.chars().count();
    assert!((1..=limits::MESSAGE_TEXT).contains(&n), "message text {n}");
    if let Err(violation) = block_kit::check_message_blocks(&Value::from(m.blocks.clone())) {
        panic!("{violation}");
    }
    assert_named(&m.blocks);
}

/// A modal as views.open takes it: Block Kit's rules and 250 kB.
pub(super) fn check_modal(view: &Value) {
    if let Err(violation) = standins::slack::check_response_view(view) {
        panic!("{violation}");
    }
    assert!(view["close"].is_object(), "a modal without Close");
    assert_named(view["blocks"].as_array().expect("blocks"));
}

/// What tagbot asks of its own blocks beyond Slack's rules (Slack makes up
/// an id that is left out): every block has a `block_id` and every element
/// an `action_id`, which the revision stamp and the click reader go by.
fn assert_named(blocks: &[Value]) {
    for b in blocks {
        assert!(chars(&b["block_id"]) >= 1, "a block without an id: {b}");
        let actions = b["elements"].as_array().filter(|_| b["type"] == "actions");
        let elements = b.get("accessory").into_iter().chain(b.get("element"));
        for e in elements.chain(actions.into_iter().flatten()) {
            assert!(chars(&e["action_id"]) >= 1, "an element without an id: {e}");
        }
    }
}

// ------------------------------------------------------ JSON helpers

pub(super) fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

pub(super) fn text_of(obj: &Value) -> &str {
    obj["text"].as_str().unwrap_or_default()
}

/// Every object in the tree, depth first.
fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            out.push(v);
            map.values().for_each(|c| walk(c, out));
        }
        Value::Array(items) => items.iter().for_each(|c| walk(c, out)),
        _ => {}
    }
}

fn objects(blocks: &[Value]) -> Vec<&Value> {
    let mut out = Vec::new();
    blocks.iter().for_each(|b| walk(b, &mut out));
    out
}

pub(super) fn with_action<'a>(blocks: &'a [Value], action_id: &str) -> Vec<&'a Value> {
    objects(blocks)
        .into_iter()
        .filter(|o| o["action_id"] == action_id)
        .collect()
}

pub(super) fn block<'a>(blocks: &'a [Value], block_id: &str) -> Option<&'a Value> {
    blocks
        .iter()
        .find(|b| b["block_id"].as_str().map(unstamped) == Some(block_id))
}

pub(super) fn section_text(blocks: &[Value], id: i64) -> &str {
    text_of(&block(blocks, &format!("s:{id}")).expect("section")["text"])
}

/// Ids a reviewer can decide on: buttons, overflow options, select options.
pub(super) fn decidable(blocks: &[Value]) -> HashSet<i64> {
    let mut ids = HashSet::new();
    for b in with_action(blocks, actions::APPROVE) {
        ids.insert(b["value"].as_str().unwrap().parse().unwrap());
    }
    for menu in with_action(blocks, actions::DECIDE_MENU) {
        for o in menu["options"].as_array().unwrap() {
            let v = o["value"].as_str().unwrap();
            if let Some(id) = v.strip_prefix("approve:") {
                ids.insert(id.parse().unwrap());
            }
        }
    }
    for select in with_action(blocks, actions::SELECT) {
        for o in select["options"].as_array().unwrap() {
            ids.insert(o["value"].as_str().unwrap().parse().unwrap());
        }
    }
    ids
}
