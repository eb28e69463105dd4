//! The review message: one lecture with its suggestions and controls,
//! laid out to fit Slack's 50 blocks (see the layout notes on [`super`]).

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
    let mut blocks = vec![suggestion_section(s)];
    if is_pending(s) {
        let id = s.id.to_string();
        blocks.push(json!({
            "type": "actions",
            "block_id": format!("a:{}", s.id),
            "elements": [
                button("Approve", actions::APPROVE, &id, Some("primary")),
                button("Reject", actions::REJECT, &id, Some("danger")),
            ],
        }));
    }
    blocks
}

pub(super) fn compact_block(s: &SuggestionCard) -> Value {
    let mut block = suggestion_section(s);
    if is_pending(s) {
        if let Some(obj) = block.as_object_mut() {
            obj.insert("accessory".into(), decide_menu(s.id));
        }
    }
    block
}

pub(super) fn decide_menu(id: i64) -> Value {
    json!({
        "type": "overflow",
        "action_id": actions::DECIDE_MENU,
        "options": [
            option("Approve", &format!("approve:{id}")),
            option("Reject", &format!("reject:{id}")),
        ],
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
