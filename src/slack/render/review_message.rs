//! The review message: one lecture with its suggestions and controls,
//! laid out to fit Slack's 50 blocks.
//!
//! Header (lecture title), a context line (lecture id, counts by status),
//! the suggestions, then the per-lecture controls: a section holding the
//! multi-select of pending tags (block [`actions::SELECT_BLOCK`]; Slack
//! refuses multi-selects inside actions blocks) and an actions block with
//! "Approve selected", "Approve all ≥ t", "Details" and "Retry failed". With
//! nothing pending, only "Details" (and "Retry failed") remain.
//!
//! The suggestions take whatever blocks the rest leaves of the 50:
//!
//! - **normal**: a section per suggestion, plus an actions block with
//!   Approve / Reject (and Undo vote while a vote can be taken back) for
//!   each pending one;
//! - **compact**, when normal does not fit: one section per suggestion, the
//!   pending ones carrying an overflow menu (Approve / Reject / Undo vote);
//! - **folded**, when even compact does not fit: pending suggestions are
//!   kept first (best score first), decided ones fill what is left, and a
//!   context line says "N more — open Details".

use super::lecture::*;
use super::*;

// ---------------------------------------------------------------- message

/// The review message for one lecture, as its `revision`th version: each
/// post or update of the message a revision greater than the last.
pub fn review_message(card: &LectureCard, revision: i64) -> Message {
    let footer = footer_blocks(card);
    let mut blocks = vec![header_block(card), summary_block(card)];
    let budget = limits::MESSAGE_BLOCKS.saturating_sub(blocks.len() + footer.len());
    blocks.extend(suggestion_blocks(card, budget));
    blocks.extend(footer);
    stamp_revision(&mut blocks, revision);
    Message {
        text: fallback_text(card),
        blocks,
    }
}

/// Between a block's id and the revision it was rendered for.
pub(super) const REVISION_MARK: &str = "~r";

/// Gives every block an id of this revision's own. Slack: "block_id should
/// be unique for each message and each iteration of a message. If a
/// message is updated, use a new block_id"
/// (<https://docs.slack.dev/reference/block-kit/blocks/header-block>): a
/// client keeps an element's state (a half-made selection) across an
/// update that keeps its block id, and would submit it against options
/// that changed. Action ids stay stable, so a click is read by action id.
pub(super) fn stamp_revision(blocks: &mut [Value], revision: i64) {
    for block in blocks {
        if let Some(id) = block.get("block_id").and_then(Value::as_str) {
            block["block_id"] = Value::String(format!("{id}{REVISION_MARK}{revision}"));
        }
    }
}

/// A block id without the revision [`review_message`] stamped on it.
pub fn unstamped(block_id: &str) -> &str {
    block_id
        .rsplit_once(REVISION_MARK)
        .map_or(block_id, |(id, _)| id)
}

pub(super) fn fallback_text(card: &LectureCard) -> String {
    let text = format!(
        "Tag review: {} ({}): {} pending of {} suggestions",
        embed_mrkdwn(&card.title, limits::HEADER_TEXT),
        embed_mrkdwn(&card.lecture_id, LECTURE_ID_CHARS),
        pending(card).len(),
        card.suggestions.len()
    );
    shorten(&text, limits::MESSAGE_TEXT)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Layout {
    Normal,
    Compact,
    /// Compact, showing this many suggestions and a "N more" line.
    Folded(usize),
}

pub(super) fn choose_layout(card: &LectureCard, budget: usize) -> Layout {
    let normal: usize = card
        .suggestions
        .iter()
        .map(|s| if is_pending(s) { 2 } else { 1 })
        .sum();
    if normal <= budget {
        Layout::Normal
    } else if card.suggestions.len() <= budget {
        Layout::Compact
    } else {
        Layout::Folded(budget.saturating_sub(1))
    }
}

pub(super) fn suggestion_blocks(card: &LectureCard, budget: usize) -> Vec<Value> {
    match choose_layout(card, budget) {
        Layout::Normal => card.suggestions.iter().flat_map(normal_blocks).collect(),
        Layout::Compact => card.suggestions.iter().map(compact_block).collect(),
        Layout::Folded(shown) => folded_blocks(card, shown),
    }
}

pub(super) fn normal_blocks(s: &SuggestionCard) -> Vec<Value> {
    let mut section = suggestion_section(s);
    if let (Some(undo), Some(obj)) = (undo_button(s), section.as_object_mut()) {
        obj.insert("accessory".into(), undo);
    }
    let mut blocks = vec![section];
    if is_pending(s) {
        let id = s.id.to_string();
        let mut elements = vec![
            button("Approve", actions::APPROVE, &id, Some("primary")),
            button("Reject", actions::REJECT, &id, Some("danger")),
            reject_because_menu(s.id),
        ];
        if offers_undo_vote(s) {
            elements.push(button("Undo vote", actions::UNDO_VOTE, &id, None));
        }
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("a:{}", s.id),
            "elements": elements,
        }));
    }
    blocks
}

/// Its voter may take a vote back while its window is open (the message
/// is everyone's: whoever presses is told whether the vote is theirs).
fn offers_undo_vote(s: &SuggestionCard) -> bool {
    s.undo_until.is_some() && !s.votes.is_empty()
}

pub(super) fn compact_block(s: &SuggestionCard) -> Value {
    let mut block = suggestion_section(s);
    let accessory = if is_pending(s) {
        Some(decide_menu(s))
    } else {
        undo_button(s)
    };
    if let (Some(accessory), Some(obj)) = (accessory, block.as_object_mut()) {
        obj.insert("accessory".into(), accessory);
    }
    block
}

/// The compact layout's menu for a pending tag: Approve, Reject, and
/// "Undo vote" while a vote on it can be taken back.
pub(super) fn decide_menu(s: &SuggestionCard) -> Value {
    let id = s.id;
    let mut options = vec![
        option("Approve", &format!("approve:{id}")),
        option("Reject", &format!("reject:{id}")),
    ];
    if offers_undo_vote(s) {
        options.push(option("Undo vote", &format!("undo_vote:{id}")));
    }
    json!({
        "type": "overflow",
        "action_id": actions::DECIDE_MENU,
        "options": options,
    })
}

/// Keeps pending suggestions first (they need a decision), then decided
/// ones, up to `shown`; displays them in card order; says what was left out.
pub(super) fn folded_blocks(card: &LectureCard, shown: usize) -> Vec<Value> {
    let mut keep: Vec<usize> = (0..card.suggestions.len()).collect();
    // Stable: within each group the card's order (best score first) holds.
    keep.sort_by_key(|&i| !is_pending(&card.suggestions[i]));
    keep.truncate(shown);
    keep.sort_unstable();
    let mut blocks: Vec<Value> = keep
        .iter()
        .map(|&i| compact_block(&card.suggestions[i]))
        .collect();
    let hidden = card.suggestions.len() - keep.len();
    let hidden_pending = pending(card).len()
        - keep
            .iter()
            .filter(|&&i| is_pending(&card.suggestions[i]))
            .count();
    blocks.push(context("more", &more_note(hidden, hidden_pending)));
    blocks
}

pub(super) fn more_note(hidden: usize, hidden_pending: usize) -> String {
    let mut note = format!("{hidden} more — open *Details* to see every suggestion");
    if hidden_pending > 0 {
        note.push_str(&format!(
            "; {hidden_pending} of them pending: pick them in the menu below or use *Approve all*"
        ));
    }
    note
}

/// One suggestion: tag, score, badge; shortened rationale; model and
/// created time; who decided; why the sync failed.
pub(super) fn suggestion_section(s: &SuggestionCard) -> Value {
    let mut lines = vec![
        format!(
            "*{}*  {}  {}",
            embed_mrkdwn(&tag_label(s), TAG_CHARS),
            score_label(s.score),
            status_badge(s.status)
        ),
        format!("_Why:_ {}", embed_mrkdwn(&s.rationale, RATIONALE_CHARS)),
        format!(
            "Model {} · suggested {}",
            embed_mrkdwn(&s.model, MODEL_CHARS),
            slack_date(s.created_at)
        ),
    ];
    lines.extend(decision_line(s));
    lines.extend(votes_line(s));
    lines.extend(removed_line(s));
    lines.extend(error_line(s));
    json!({
        "type": "section",
        "block_id": format!("s:{}", s.id),
        "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT),
    })
}

pub(super) fn error_line(s: &SuggestionCard) -> Option<String> {
    (s.status == SuggestionStatus::Failed).then(|| {
        let reason = s.last_error.as_deref().unwrap_or("no reason recorded");
        format!(
            ":warning: Sync failed: {}",
            embed_mrkdwn(reason, ERROR_CHARS)
        )
    })
}

/// The per-lecture controls: the multi-select (pending only) and the
/// lecture buttons; nothing when there is nothing to show.
pub(super) fn footer_blocks(card: &LectureCard) -> Vec<Value> {
    let Some(lecture) = lecture_value(card) else {
        return Vec::new();
    };
    let pending = pending(card);
    let mut blocks = Vec::new();
    if !pending.is_empty() {
        let note = (top_count(card) > 0)
            .then(|| threshold_note(card))
            .flatten();
        blocks.push(select_block(&pending, note.as_deref()));
    }
    blocks.push(json!({
        "type": "actions",
        "block_id": "controls",
        "elements": control_buttons(card, lecture, pending.len()),
    }));
    blocks
}

/// A section, not an actions block: Slack accepts multi-selects only in
/// section and input blocks.
pub(super) fn select_block(pending: &[&SuggestionCard], note: Option<&str>) -> Value {
    let options: Vec<Value> = pending
        .iter()
        .take(limits::SELECT_OPTIONS)
        .map(|s| select_option(s))
        .collect();
    let mut text = "*Approve several:* pick tags, then press *Approve selected*.".to_owned();
    if pending.len() > limits::SELECT_OPTIONS {
        text.push_str(&format!(
            " Showing the first {} of {} pending.",
            limits::SELECT_OPTIONS,
            pending.len()
        ));
    }
    if let Some(note) = note {
        text.push('\n');
        text.push_str(note);
    }
    json!({
        "type": "section",
        "block_id": actions::SELECT_BLOCK,
        "text": mrkdwn(&text, limits::SECTION_TEXT),
        "accessory": {
            "type": "multi_static_select",
            "action_id": actions::SELECT,
            "placeholder": plain("Pending tags", limits::SELECT_PLACEHOLDER),
            "options": options,
        },
    })
}

pub(super) fn control_buttons(card: &LectureCard, lecture: &str, pending: usize) -> Vec<Value> {
    let mut buttons = Vec::new();
    if pending > 0 {
        buttons.push(button(
            "Approve selected",
            actions::APPROVE_SELECTED,
            lecture,
            Some("primary"),
        ));
        let top = top_count(card);
        if top > 0 {
            buttons.push(approve_top_button(card, lecture, top));
        }
    }
    buttons.push(button("Details", actions::DETAILS, lecture, None));
    if card
        .suggestions
        .iter()
        .any(|s| s.status == SuggestionStatus::Failed)
    {
        buttons.push(button("Retry failed", actions::RETRY_FAILED, lecture, None));
    }
    buttons
}

/// Beside "Approve all ≥ t": how often past decisions at or above t were
/// approved (":bar_chart: Approve all ≥ 0.88: 96% approved at this score,
/// 412 decisions").
pub(super) fn threshold_note(card: &LectureCard) -> Option<String> {
    card.threshold_note.as_ref().map(|note| {
        format!(
            ":bar_chart: *Approve all ≥ {}:* {note}",
            score_label(card.approve_threshold)
        )
    })
}

/// Approves several tags at once, so it asks first.
pub(super) fn approve_top_button(card: &LectureCard, lecture: &str, top: usize) -> Value {
    let threshold = score_label(card.approve_threshold);
    let mut b = button(
        &format!("Approve all ≥ {threshold}"),
        actions::APPROVE_TOP,
        lecture,
        None,
    );
    let mut question = format!("Approve {top} pending tag(s) scoring {threshold} or more?");
    if let Some(past) = &card.threshold_note {
        question.push_str(&format!(" Past decisions: {past}."));
    }
    let confirm = json!({
        "title": plain("Approve the top tags?", limits::CONFIRM_TITLE),
        "text": plain(&question, limits::CONFIRM_TEXT),
        "confirm": plain("Approve", limits::CONFIRM_BUTTON),
        "deny": plain("Cancel", limits::CONFIRM_BUTTON),
    });
    if let Some(obj) = b.as_object_mut() {
        obj.insert("confirm".into(), confirm);
    }
    b
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::super::details::details_modal;
    use super::super::testing::*;
    use super::*;

    #[test]
    fn a_synced_tag_removed_in_airtable_says_by_whom_escaped() {
        let mut s = suggestion(1, 0.9, SuggestionStatus::Synced);
        s.removed_in_airtable = Some(("<!channel> *דנה*".to_owned(), at(7_200)));
        let text = suggestion_section(&s)["text"]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(text.contains("Removed in Airtable by"), "{text}");
        assert!(
            !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
            "{text}"
        );
        let plain = suggestion(2, 0.9, SuggestionStatus::Synced);
        let text = suggestion_section(&plain)["text"]["text"].to_string();
        assert!(!text.contains("Removed in Airtable"));
    }

    #[test]
    fn each_revision_stamps_its_own_block_ids_on_the_same_blocks() {
        let c = pending_card(3);
        let (first, second) = (review_message(&c, 4), review_message(&c, 5));
        let ids = |m: &Message| -> Vec<String> {
            m.blocks
                .iter()
                .map(|b| b["block_id"].as_str().expect("block id").to_owned())
                .collect()
        };
        let (first, second) = (ids(&first), ids(&second));
        assert!(first.iter().all(|id| !second.contains(id)), "{first:?}");
        let bare = |ids: &[String]| -> Vec<String> {
            ids.iter().map(|id| unstamped(id).to_owned()).collect()
        };
        assert_eq!(bare(&first), bare(&second));
        assert!(bare(&first).contains(&actions::SELECT_BLOCK.to_owned()));
        assert_eq!(unstamped("s:12~r40"), "s:12");
        assert_eq!(unstamped("header"), "header");
    }

    #[test]
    fn hebrew_tag_names_are_isolated() {
        let c = card(vec![suggestion(7, 0.91, SuggestionStatus::Pending)]);
        let m = review_message(&c, 1);
        check_message(&m);
        let isolated = format!("{FSI}בינה מלאכותית{PDI}");
        assert!(section_text(&m.blocks, 7).contains(&format!("*{isolated}*  0.91")));
        let selects = with_action(&m.blocks, actions::SELECT);
        let select = selects[0];
        assert_eq!(
            select["options"][0]["text"]["text"],
            format!("{isolated} 0.91")
        );
        assert!(m.text.contains(&format!("{FSI}מבוא ללמידת מכונה{PDI}")));
    }

    #[test]
    fn user_text_cannot_mention_or_link() {
        let mut s = suggestion(3, 0.7, SuggestionStatus::Pending);
        s.rationale = "Ping <@U123> & <!channel> <https://evil|click>".to_owned();
        s.model = "m<@U9>".to_owned();
        let c = card(vec![s.clone()]);
        let m = review_message(&c, 1);
        check_message(&m);
        let text = section_text(&m.blocks, 3);
        assert!(text.contains("Ping &lt;@U123&gt; &amp; &lt;!channel&gt;"));
        assert!(!text.contains("<@U"));
        assert!(!text.contains("<!channel"));
        assert!(!text.contains("<https"));
        let modal = details_modal(&c, &[]);
        check_modal(&modal);
        let all = serde_json::to_string(&modal).unwrap();
        assert!(!all.contains("<@U"));
        assert!(all.contains("&lt;@U123&gt;"));
    }

    #[test]
    fn stray_directional_controls_are_dropped() {
        let mut s = suggestion(1, 0.5, SuggestionStatus::Pending);
        s.tag_name = "a\u{2069}\u{202E}b".to_owned();
        let m = review_message(&card(vec![s]), 1);
        assert!(section_text(&m.blocks, 1).contains(&format!("{FSI}ab{PDI}")));
    }

    #[test]
    fn pending_suggestions_get_approve_and_reject_buttons() {
        let c = card(vec![
            suggestion(11, 0.9, SuggestionStatus::Pending),
            suggestion(12, 0.8, SuggestionStatus::Approved),
        ]);
        let m = review_message(&c, 1);
        check_message(&m);
        let row = block(&m.blocks, "a:11").expect("actions for 11");
        assert_eq!(row["elements"][0]["action_id"], actions::APPROVE);
        assert_eq!(row["elements"][0]["value"], "11");
        assert_eq!(row["elements"][0]["style"], "primary");
        assert_eq!(row["elements"][1]["action_id"], actions::REJECT);
        assert_eq!(row["elements"][1]["value"], "11");
        assert_eq!(row["elements"][1]["style"], "danger");
        assert!(block(&m.blocks, "a:12").is_none(), "decided: no buttons");
        assert!(section_text(&m.blocks, 12).contains(&format!("Decided by {FSI}Dana{PDI}")));
        assert!(
            section_text(&m.blocks, 11).contains("<!date^1714564811^{date_short_pretty} {time}|")
        );
    }

    #[test]
    fn a_decision_inside_its_window_shows_undo_in_either_layout_and_in_details() {
        let mut open = suggestion(12, 0.8, SuggestionStatus::Rejected);
        open.undo_until = Some(at(9_000));
        let closed = suggestion(13, 0.8, SuggestionStatus::Approved);
        let c = card(vec![
            suggestion(11, 0.9, SuggestionStatus::Pending),
            open.clone(),
            closed,
        ]);
        let m = review_message(&c, 1);
        check_message(&m);
        let undo = &block(&m.blocks, "s:12").expect("section 12")["accessory"];
        assert_eq!(
            (&undo["action_id"], &undo["value"]),
            (&Value::from(actions::UNDO), &Value::from("12"))
        );
        assert!(block(&m.blocks, "s:13").unwrap().get("accessory").is_none());
        // Compact: the pending keep their menu, the open decision its Undo.
        let compact = compact_block(&open);
        assert_eq!(compact["accessory"]["action_id"], actions::UNDO);
        assert_eq!(
            compact_block(&suggestion(11, 0.9, SuggestionStatus::Pending))["accessory"]
                ["action_id"],
            actions::DECIDE_MENU
        );
        let modal = details_modal(&c, &[]);
        check_modal(&modal);
        let undos = with_action(modal["blocks"].as_array().unwrap(), actions::UNDO);
        assert_eq!(undos.len(), 1);
        assert_eq!(undos[0]["value"], "12");
    }

    #[test]
    fn a_vote_that_can_be_taken_back_offers_undo_vote_in_either_layout() {
        let mut voted = suggestion(11, 0.6, SuggestionStatus::Pending);
        voted.votes.push(crate::review::Vote {
            id: 1,
            suggestion_id: 11,
            voter: "slack:U1".to_owned(),
            voter_name: Some("דנה".to_owned()),
            verdict: crate::review::Verdict::Approve,
            reason: None,
            voted_at: at(8_000),
            withdrawable_until: at(9_000),
        });
        let menu_values = |s: &SuggestionCard| -> Vec<String> {
            compact_block(s)["accessory"]["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["value"].as_str().unwrap().to_owned())
                .collect()
        };
        // Past its window: Approve and Reject only, in either layout.
        assert_eq!(menu_values(&voted), ["approve:11", "reject:11"]);
        assert!(with_action(&normal_blocks(&voted), actions::UNDO_VOTE).is_empty());

        voted.undo_until = Some(at(9_000));
        assert_eq!(
            menu_values(&voted),
            ["approve:11", "reject:11", "undo_vote:11"]
        );
        let blocks = normal_blocks(&voted);
        let buttons = with_action(&blocks, actions::UNDO_VOTE);
        assert_eq!(buttons.len(), 1);
        assert_eq!(buttons[0]["value"], "11");
    }

    #[test]
    fn lecture_controls_carry_the_lecture_id() {
        let c = card(vec![
            suggestion(1, 0.95, SuggestionStatus::Pending),
            suggestion(2, 0.5, SuggestionStatus::Failed),
        ]);
        let m = review_message(&c, 1);
        check_message(&m);
        let select_block = block(&m.blocks, actions::SELECT_BLOCK).expect("select block");
        assert_eq!(select_block["type"], "section");
        assert_eq!(select_block["accessory"]["action_id"], actions::SELECT);
        assert_eq!(select_block["accessory"]["options"][0]["value"], "1");
        for id in [
            actions::APPROVE_SELECTED,
            actions::APPROVE_TOP,
            actions::DETAILS,
            actions::RETRY_FAILED,
        ] {
            let found = with_action(&m.blocks, id);
            assert_eq!(found.len(), 1, "{id}");
            assert_eq!(found[0]["value"], "lec-42", "{id}");
        }
        assert_eq!(
            text_of(&with_action(&m.blocks, actions::APPROVE_TOP)[0]["text"]),
            "Approve all ≥ 0.88"
        );
        assert!(section_text(&m.blocks, 2).contains("tag_missing"));
    }

    #[test]
    fn approve_top_only_when_a_pending_score_reaches_the_threshold() {
        let exactly = card(vec![suggestion(1, 0.88, SuggestionStatus::Pending)]);
        assert_eq!(
            with_action(&review_message(&exactly, 1).blocks, actions::APPROVE_TOP).len(),
            1
        );

        let below = card(vec![suggestion(1, 0.879, SuggestionStatus::Pending)]);
        assert!(with_action(&review_message(&below, 1).blocks, actions::APPROVE_TOP).is_empty());

        // A high score that is already decided does not count.
        let decided = card(vec![
            suggestion(1, 0.99, SuggestionStatus::Approved),
            suggestion(2, 0.5, SuggestionStatus::Pending),
        ]);
        let m = review_message(&decided, 1);
        check_message(&m);
        assert!(with_action(&m.blocks, actions::APPROVE_TOP).is_empty());
        assert_eq!(with_action(&m.blocks, actions::APPROVE_SELECTED).len(), 1);
    }

    #[test]
    fn retry_only_when_a_suggestion_failed() {
        let ok = card(vec![
            suggestion(1, 0.9, SuggestionStatus::Synced),
            suggestion(2, 0.9, SuggestionStatus::Pending),
        ]);
        assert!(with_action(&review_message(&ok, 1).blocks, actions::RETRY_FAILED).is_empty());
        let failed = card(vec![suggestion(1, 0.9, SuggestionStatus::Failed)]);
        let m = review_message(&failed, 1);
        check_message(&m);
        assert_eq!(with_action(&m.blocks, actions::RETRY_FAILED).len(), 1);
    }

    #[test]
    fn nothing_pending_means_no_decision_controls() {
        let c = card(vec![
            suggestion(1, 0.95, SuggestionStatus::Approved),
            suggestion(2, 0.9, SuggestionStatus::Rejected),
            suggestion(3, 0.9, SuggestionStatus::Synced),
        ]);
        let m = review_message(&c, 1);
        check_message(&m);
        for id in [
            actions::APPROVE,
            actions::REJECT,
            actions::DECIDE_MENU,
            actions::SELECT,
            actions::APPROVE_SELECTED,
            actions::APPROVE_TOP,
        ] {
            assert!(with_action(&m.blocks, id).is_empty(), "{id}");
        }
        assert!(block(&m.blocks, actions::SELECT_BLOCK).is_none());
        assert_eq!(with_action(&m.blocks, actions::DETAILS).len(), 1);
        assert!(m.text.contains("0 pending of 3"));
    }

    #[test]
    fn summary_counts_by_status() {
        let c = card(vec![
            suggestion(1, 0.9, SuggestionStatus::Pending),
            suggestion(2, 0.9, SuggestionStatus::Pending),
            suggestion(3, 0.9, SuggestionStatus::Failed),
        ]);
        let m = review_message(&c, 1);
        let summary = text_of(&block(&m.blocks, "summary").unwrap()["elements"][0]);
        assert!(summary.contains(&format!("Lecture {FSI}lec-42{PDI}")));
        assert!(summary.contains("2 pending"));
        assert!(summary.contains("1 failed"));
        assert!(!summary.contains("approved"));
    }

    #[test]
    fn forty_pending_switch_to_the_compact_layout() {
        let c = pending_card(40);
        let m = review_message(&c, 1);
        check_message(&m);
        assert!(
            with_action(&m.blocks, actions::APPROVE).is_empty(),
            "no button rows"
        );
        assert_eq!(with_action(&m.blocks, actions::DECIDE_MENU).len(), 40);
        let menu = &block(&m.blocks, "s:5").unwrap()["accessory"];
        assert_eq!(menu["options"][0]["value"], "approve:5");
        assert_eq!(menu["options"][1]["value"], "reject:5");
        let all: HashSet<i64> = (1..=40).collect();
        assert_eq!(decidable(&m.blocks), all);
        assert!(block(&m.blocks, "more").is_none());
    }

    #[test]
    fn a_short_card_keeps_the_normal_layout() {
        // 4 fixed blocks + 23 × 2 = 50: exactly fits.
        let m = review_message(&pending_card(23), 1);
        check_message(&m);
        assert_eq!(m.blocks.len(), 50);
        assert_eq!(with_action(&m.blocks, actions::APPROVE).len(), 23);
        // One more does not.
        let m = review_message(&pending_card(24), 1);
        check_message(&m);
        assert!(with_action(&m.blocks, actions::APPROVE).is_empty());
        assert_eq!(with_action(&m.blocks, actions::DECIDE_MENU).len(), 24);
    }

    #[test]
    fn folding_hides_decided_suggestions_first() {
        let mut suggestions = Vec::new();
        for id in 1..=60 {
            let status = if id % 2 == 0 {
                SuggestionStatus::Pending
            } else {
                SuggestionStatus::Rejected
            };
            suggestions.push(suggestion(id, 0.5, status));
        }
        let m = review_message(&card(suggestions), 1);
        check_message(&m);
        assert_eq!(m.blocks.len(), 50);
        let shown: HashSet<i64> = (1..=60)
            .filter(|id| block(&m.blocks, &format!("s:{id}")).is_some())
            .collect();
        assert!(
            (2..=60).step_by(2).all(|id| shown.contains(&id)),
            "all pending shown"
        );
        assert_eq!(shown.len(), 45);
        let note = text_of(&block(&m.blocks, "more").unwrap()["elements"][0]);
        assert!(note.starts_with("15 more — open *Details*"), "{note}");
        assert!(!note.contains("pending"), "no pending hidden: {note}");
    }

    #[test]
    fn two_hundred_huge_suggestions_still_fit_every_limit() {
        let mut suggestions = Vec::new();
        for id in 1..=200 {
            let status = SuggestionStatus::ALL[(id % 5) as usize];
            let mut s = suggestion(id, 0.9, status);
            s.tag_name = "תג".repeat(150);
            s.rationale = "<&>".repeat(1_000);
            s.model = "m".repeat(500);
            s.decided_by = Some("ד".repeat(500));
            s.last_error = Some("e&".repeat(2_000));
            suggestions.push(s);
        }
        let mut c = card(suggestions);
        c.title = "כותרת ".repeat(500);
        c.lecture_id = "L".repeat(1_500);
        let m = review_message(&c, 1);
        check_message(&m);
        assert_eq!(m.blocks.len(), 50);
        assert!(block(&m.blocks, "more").is_some());
        let select = with_action(&m.blocks, actions::SELECT);
        let options = select[0]["options"].as_array().unwrap();
        assert_eq!(options.len(), 40);
        for o in options {
            // The tag is cut, never the score.
            assert!(text_of(&o["text"]).ends_with(&format!("…{PDI} 0.90")));
        }
        let shown_pending = with_action(&m.blocks, actions::DECIDE_MENU).len();
        assert_eq!(shown_pending, 40, "all 40 pending get a menu");

        let history: Vec<HistoryLine> = (1..=200).flat_map(|id| events(id, 30)).collect();
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        assert_eq!(modal["blocks"].as_array().unwrap().len(), 100);
    }

    #[test]
    fn more_pending_than_a_select_holds() {
        let m = review_message(&pending_card(150), 1);
        check_message(&m);
        let select = block(&m.blocks, actions::SELECT_BLOCK).unwrap();
        assert_eq!(
            select["accessory"]["options"].as_array().unwrap().len(),
            100
        );
        assert!(text_of(&select["text"]).contains("first 100 of 150"));
        let note = text_of(&block(&m.blocks, "more").unwrap()["elements"][0]);
        assert!(note.contains("105 of them pending"), "{note}");
        assert_eq!(decidable(&m.blocks).len(), 100);
    }

    #[test]
    fn a_lecture_id_too_long_for_a_button_value_drops_the_lecture_buttons() {
        let mut c = pending_card(2);
        c.lecture_id = "x".repeat(limits::BUTTON_VALUE + 1);
        let m = review_message(&c, 1);
        check_message(&m);
        assert!(with_action(&m.blocks, actions::DETAILS).is_empty());
        assert!(with_action(&m.blocks, actions::SELECT).is_empty());
        assert_eq!(with_action(&m.blocks, actions::APPROVE).len(), 2);
    }

    #[test]
    fn an_empty_card_still_renders() {
        let m = review_message(&card(Vec::new()), 1);
        check_message(&m);
        assert_eq!(with_action(&m.blocks, actions::DETAILS).len(), 1);
        let modal = details_modal(&card(Vec::new()), &[]);
        check_modal(&modal);
    }
}
