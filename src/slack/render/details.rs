//! The details modal: every suggestion with its full texts and history,
//! within a view's 100 blocks and 250 kB.
//!
//! Header, summary, the "Approve these tags" input, then the suggestions:
//! two blocks each (details, history) when 100 blocks and 250 kB allow;
//! else one block each, history as a field, the long texts (rationale,
//! last error, history) cut to the most characters per suggestion that
//! keeps the view under 250 kB. Past 96 suggestions the rest are listed in
//! short (tag, score, status) in a last block, which also says that texts
//! were shortened: nothing is left out without saying so.

use super::lecture::*;
use super::*;

/// History lines shown per suggestion in the details modal.
const HISTORY_EVENTS_SHOWN: usize = 10;
/// Room kept at the end of a history text for "…and N earlier events".
const HISTORY_NOTE_RESERVE: usize = 60;
/// What the details modal aims at: Slack refuses a view over 250 kB
/// (`view_too_large`, "provided view is greater than 250kb", views.open);
/// 5% is left for whatever Slack counts that the documentation does not
/// say (e.g. a kB of 1,000 bytes rather than 1,024).
const VIEW_BYTES_AIMED: usize = limits::VIEW_BYTES / 20 * 19;
/// However crowded the modal, a rationale or an error keeps this much: a
/// short one ("tag_missing") whole, a long one its start.
const MIN_TEXT_CHARS: usize = 40;
/// A history shortened below this only counts its events.
const MIN_HISTORY_CHARS: usize = 120;
/// Below this many characters per suggestion, sharing stops and the bare
/// details are shown.
const MIN_SHARED_CHARS: usize = 40;

// ------------------------------------------------------------------ modal

/// The details modal: every suggestion with its full rationale, model,
/// created time, status, decision and recent history, as far as Slack's
/// limits for a view allow (see `detail_blocks`).
pub fn details_modal(card: &LectureCard, history: &[HistoryLine]) -> Value {
    let selection = selection_input(card);
    let mut head = vec![header_block(card), summary_block(card)];
    head.extend(selection.iter().cloned());
    let details = detail_blocks(card, history, &head, selection.is_some());
    head.extend(details);
    modal_view(card, head, selection.is_some())
}

/// A details modal with one line of text instead of the suggestions: what
/// opens at once while they load, or what they became.
pub fn details_notice(lecture: &str, text: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": actions::DETAILS_MODAL,
        "private_metadata": shorten(lecture, limits::PRIVATE_METADATA),
        "title": plain(MODAL_TITLE, limits::MODAL_TITLE),
        "close": plain("Close", limits::MODAL_TITLE),
        "blocks": [{
            "type": "section",
            "block_id": "notice",
            "text": mrkdwn(text, limits::SECTION_TEXT),
        }],
    })
}

pub(super) fn modal_view(card: &LectureCard, blocks: Vec<Value>, submit: bool) -> Value {
    let mut view = json!({
        "type": "modal",
        "callback_id": actions::DETAILS_MODAL,
        "private_metadata": shorten(&card.lecture_id, limits::PRIVATE_METADATA),
        "title": plain(MODAL_TITLE, limits::MODAL_TITLE),
        "close": plain("Close", limits::MODAL_TITLE),
        "blocks": blocks,
    });
    if submit {
        view["submit"] = plain("Approve selected", limits::MODAL_TITLE);
    }
    view
}

/// The view's size as Slack receives it: its JSON in UTF-8 (a Hebrew
/// character takes two bytes).
pub fn view_bytes(view: &Value) -> usize {
    serde_json::to_string(view).map_or(usize::MAX, |json| json.len())
}

/// The modal's input of pending suggestions, approved on submission.
pub(super) fn selection_input(card: &LectureCard) -> Option<Value> {
    let options: Vec<Value> = pending(card)
        .into_iter()
        .take(limits::SELECT_OPTIONS)
        .map(select_option)
        .collect();
    if options.is_empty() {
        return None;
    }
    Some(json!({
        "type": "input",
        "block_id": actions::MODAL_SELECT_BLOCK,
        "optional": true,
        "label": plain("Approve these tags", limits::INPUT_LABEL),
        "element": {
            "type": "multi_static_select",
            "action_id": actions::MODAL_SELECT,
            "placeholder": plain("Pick tags to approve", limits::SELECT_PLACEHOLDER),
            "options": options,
        },
    }))
}

/// How much of a suggestion's long texts the details modal shows, in
/// characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Detail {
    rationale: usize,
    error: usize,
    /// The history field; below [`MIN_HISTORY_CHARS`] it only counts events.
    history: usize,
}

impl Detail {
    /// As much as each text's own limit allows.
    const FULL: Detail = Detail {
        rationale: limits::SECTION_TEXT,
        error: 1_000,
        history: limits::SECTION_FIELD_TEXT - 20,
    };

    /// `chars` shared out: half to the rationale, a fifth to the error,
    /// the rest to the history; never more than [`Detail::FULL`].
    fn sharing(chars: usize) -> Detail {
        Detail {
            rationale: (chars / 2).min(Detail::FULL.rationale),
            error: (chars / 5).min(Detail::FULL.error),
            history: (chars - chars / 2 - chars / 5).min(Detail::FULL.history),
        }
    }
}

/// The suggestions' blocks, within the modal's 100 blocks and 250 kB:
///
/// 1. two blocks per suggestion (details, then history), full texts, when
///    both limits allow;
/// 2. else one block each (history as a field), with rationales, errors
///    and histories shortened just enough to fit the bytes; past the
///    blocks' limit, the rest are listed in short in a last block, which
///    also says that texts were shortened.
///
/// Nothing is dropped silently: every suggestion is shown or listed, and
/// the last block says how many are listed in short.
pub(super) fn detail_blocks(
    card: &LectureCard,
    history: &[HistoryLine],
    head: &[Value],
    submit: bool,
) -> Vec<Value> {
    let fits =
        |blocks: &[Value]| view_bytes(&with_head(card, head, blocks, submit)) <= VIEW_BYTES_AIMED;
    let budget = limits::MODAL_BLOCKS - head.len();
    let suggestions = &card.suggestions;
    if 2 * suggestions.len() <= budget {
        let blocks = two_blocks_each(suggestions, history);
        if fits(&blocks) {
            return blocks;
        }
    }
    // One block kept for the note when anything is shortened or folded.
    let mut shown = suggestions.len().min(budget - 1);
    loop {
        let (detailed, folded) = suggestions.split_at(shown);
        let render = |detail| one_block_each(detailed, folded, history, detail);
        let full = render(Detail::FULL);
        if fits(&full) {
            return full;
        }
        // A suggestion cannot use more than the spare bytes, one byte a
        // character.
        let bare = render(Detail::sharing(0));
        let spare =
            VIEW_BYTES_AIMED.saturating_sub(view_bytes(&with_head(card, head, &bare, submit)));
        if let Some(blocks) = most_shared(render, fits, spare / shown.max(1)) {
            return blocks;
        }
        if fits(&bare) || shown == 0 {
            return bare;
        }
        // Even bare details are too big (huge tag names and models): list
        // more of them in short.
        shown /= 2;
    }
}

/// The modal with `head` and then `blocks`, as Slack would receive it.
fn with_head(card: &LectureCard, head: &[Value], blocks: &[Value], submit: bool) -> Value {
    let mut all = head.to_vec();
    all.extend(blocks.iter().cloned());
    modal_view(card, all, submit)
}

/// Two blocks per suggestion, full texts: the details, then the history.
fn two_blocks_each(suggestions: &[SuggestionCard], history: &[HistoryLine]) -> Vec<Value> {
    suggestions
        .iter()
        .flat_map(|s| {
            let events = events_of(s, history);
            [
                detail_section(s, None, Detail::FULL),
                context(
                    &format!("h:{}", s.id),
                    &history_text(&events, limits::SECTION_TEXT),
                ),
            ]
        })
        .collect()
}

/// One block per `detailed` suggestion (its history as a field), texts
/// cut to `detail`, then the note listing `folded` in short.
fn one_block_each(
    detailed: &[SuggestionCard],
    folded: &[SuggestionCard],
    history: &[HistoryLine],
    detail: Detail,
) -> Vec<Value> {
    let mut blocks: Vec<Value> = detailed
        .iter()
        .map(|s| detail_section(s, Some(&events_of(s, history)), detail))
        .collect();
    blocks.extend(details_note(folded, detail != Detail::FULL));
    blocks
}

/// The blocks `render` makes with the most characters per suggestion, at
/// most `most`, that still `fit`; `None` when not even
/// [`MIN_SHARED_CHARS`] do. Found by bisection: a character takes one to
/// four bytes, so no estimate from the spare bytes would be exact.
fn most_shared(
    render: impl Fn(Detail) -> Vec<Value>,
    fits: impl Fn(&[Value]) -> bool,
    most: usize,
) -> Option<Vec<Value>> {
    let (mut low, mut high) = (MIN_SHARED_CHARS, most);
    let mut best = None;
    while low <= high {
        let middle = low + (high - low) / 2;
        let blocks = render(Detail::sharing(middle));
        if fits(&blocks) {
            best = Some(blocks);
            low = middle + 1;
        } else {
            high = middle - 1;
        }
    }
    best
}

/// The last block of a crowded details modal: that texts were shortened,
/// and the suggestions that did not get a block of their own, in short
/// (as many as one text holds, then how many more).
pub(super) fn details_note(folded: &[SuggestionCard], shortened: bool) -> Option<Value> {
    if folded.is_empty() && !shortened {
        return None;
    }
    let mut lines = Vec::new();
    if shortened {
        lines.push(
            "_Long rationales, errors and histories are shortened here: Slack refuses a modal over 250 kB._"
                .to_owned(),
        );
    }
    if !folded.is_empty() {
        lines.push(format!(
            "*{} more suggestion(s) listed in short* (a modal holds 100 blocks):",
            folded.len()
        ));
    }
    // Room for the closing "…and N more" line.
    let room = limits::SECTION_TEXT - 60;
    let mut used: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    for (i, s) in folded.iter().enumerate() {
        let line = format!(
            "• {} {} — {}",
            embed_mrkdwn(&tag_label(s), TAG_CHARS),
            score_label(s.score),
            status_badge(s.status)
        );
        let cost = line.chars().count() + 1;
        if used + cost > room {
            lines.push(format!("_…and {} more not listed._", folded.len() - i));
            break;
        }
        used += cost;
        lines.push(line);
    }
    Some(json!({
        "type": "section",
        "block_id": "more",
        "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT),
    }))
}

/// This suggestion's events, oldest first.
pub(super) fn events_of<'a>(
    s: &SuggestionCard,
    history: &'a [HistoryLine],
) -> Vec<&'a HistoryLine> {
    let mut events: Vec<&HistoryLine> =
        history.iter().filter(|h| h.suggestion_id == s.id).collect();
    events.sort_by_key(|h| h.at);
    events
}

/// The tag and the rationale (its own paragraphs, so not isolated) in
/// the text; the rest as fields, the history too when `events` is given.
/// Long texts are cut to `detail`.
pub(super) fn detail_section(
    s: &SuggestionCard,
    events: Option<&[&HistoryLine]>,
    detail: Detail,
) -> Value {
    let head = format!("*{}*", embed_mrkdwn(&tag_label(s), TAG_CHARS));
    let room =
        (limits::SECTION_TEXT - head.chars().count() - 1).min(detail.rationale.max(MIN_TEXT_CHARS));
    let rationale = or_placeholder(&s.rationale, "(no rationale)");
    let text = format!("{head}\n{}", escape_within(&rationale, room, Breaks::Keep));
    let mut fields = vec![
        field("Score", &score_label(s.score)),
        field("Status", status_badge(s.status)),
        field("Model", &embed_mrkdwn(&s.model, MODEL_CHARS)),
        field("Suggested", &slack_date(s.created_at)),
    ];
    if let Some(line) = decision_line(s) {
        fields.push(field("Decision", &line));
    }
    if let Some(line) = votes_line(s) {
        fields.push(field("Votes", &line));
    }
    if let Some(line) = removed_line(s) {
        fields.push(field("Airtable", &line));
    }
    if let Some(err) = s.last_error.as_deref() {
        let shown = escape_within(err, detail.error.max(MIN_TEXT_CHARS), Breaks::Keep);
        fields.push(field("Last error", &shown));
    }
    if let Some(events) = events {
        let shown = if detail.history < MIN_HISTORY_CHARS {
            format!("{} event(s)", events.len())
        } else {
            history_text(events, detail.history)
        };
        fields.push(field("History", &shown));
    }
    let mut section = json!({
        "type": "section",
        "block_id": format!("s:{}", s.id),
        "text": mrkdwn(&text, limits::SECTION_TEXT),
        "fields": fields,
    });
    // A pending tag can be rejected with a reason here (the message's
    // compact layout has no room for the reasons); a decided one may show
    // its Undo.
    let accessory = if is_pending(s) {
        Some(reject_because_menu(s.id))
    } else {
        undo_button(s)
    };
    if let (Some(accessory), Some(obj)) = (accessory, section.as_object_mut()) {
        obj.insert("accessory".into(), accessory);
    }
    section
}

pub(super) fn field(label: &str, value: &str) -> Value {
    mrkdwn(&format!("*{label}*\n{value}"), limits::SECTION_FIELD_TEXT)
}

/// The most recent events first, as many as fit in `max_chars` (at most
/// [`HISTORY_EVENTS_SHOWN`]), then how many earlier ones were left out.
pub(super) fn history_text(events: &[&HistoryLine], max_chars: usize) -> String {
    if events.is_empty() {
        return "_No events yet._".to_owned();
    }
    let room = max_chars.saturating_sub(HISTORY_NOTE_RESERVE);
    let mut lines = Vec::new();
    let mut used = 0;
    for event in events.iter().rev().take(HISTORY_EVENTS_SHOWN) {
        let Some(line) = event_line(event, room.saturating_sub(used + 1)) else {
            break;
        };
        used += line.chars().count() + 1;
        lines.push(line);
    }
    let left_out = events.len() - lines.len();
    if left_out > 0 {
        lines.push(format!("_…and {left_out} earlier event(s) not shown_"));
    }
    shorten(&lines.join("\n"), max_chars)
}

/// One event in at most `max_chars`: date, action and actor (the name cut
/// shorter before the event is left out), then as much of its error as
/// fits, up to 200 characters; `None` when even the short form does not.
pub(super) fn event_line(e: &HistoryLine, max_chars: usize) -> Option<String> {
    let action = escape_within(&e.action, 20, Breaks::Join);
    let with_actor = |actor_chars| {
        format!(
            "• {} *{action}* by {}",
            slack_date(e.at),
            embed_mrkdwn(&e.actor, actor_chars)
        )
    };
    let mut line = Some(with_actor(ACTOR_CHARS))
        .filter(|line| line.chars().count() <= max_chars)
        .or_else(|| Some(with_actor(20)).filter(|line| line.chars().count() <= max_chars))?;
    if let Some(reason) = e.reason {
        let because = format!(" · _{}_", reason.label());
        if line.chars().count() + because.chars().count() <= max_chars {
            line.push_str(&because);
        }
    }
    if let Some(err) = e.error.as_deref() {
        // " — " and the isolates take 5 characters.
        let room = (max_chars - line.chars().count())
            .saturating_sub(5)
            .min(200);
        if room >= 10 {
            line.push_str(&format!(" — {}", embed_mrkdwn(err, room + 2)));
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn details_modal_with_forty_suggestions_and_twenty_events_each() {
        let c = pending_card(40);
        let history: Vec<HistoryLine> = (1..=40).flat_map(|id| events(id, 20)).collect();
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        let blocks = modal["blocks"].as_array().unwrap();
        assert!(blocks.len() <= limits::MODAL_BLOCKS);
        // Header, summary, the approve-selected input, two per suggestion.
        assert_eq!(blocks.len(), 3 + 2 * 40);
        let h = text_of(&block(blocks, "h:7").unwrap()["elements"][0]);
        // Newest first: event 19 is the latest one.
        assert!(
            h.starts_with(&format!("• {}", slack_date(at(10_019)))),
            "{h}"
        );
        assert!(h.contains("10 earlier event(s) not shown"), "{h}");
        assert!(!h.contains(&slack_date(at(10_000))), "oldest left out");
        assert!(h.contains(&format!("{FSI}HTTP 503 attempt 18{PDI}")));
    }

    #[test]
    fn details_modal_shows_the_full_rationale_and_all_facts() {
        let mut s = suggestion(9, 0.93, SuggestionStatus::Failed);
        s.rationale = format!("{}\nsecond paragraph", "r".repeat(2_000));
        let c = card(vec![s]);
        let history = events(9, 2);
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        assert!(chars(&modal["title"]["text"]) <= 24);
        let blocks = modal["blocks"].as_array().unwrap();
        let section = block(blocks, "s:9").unwrap();
        assert!(text_of(&section["text"])
            .ends_with(&format!("{}\nsecond paragraph", "r".repeat(2_000))));
        let fields: Vec<&str> = section["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(text_of)
            .collect();
        let joined = fields.join("\n");
        for needle in [
            "*Score*\n0.93",
            ":warning: failed",
            "gpt-4o-mini",
            "<!date^1714564809^",
            "Dana",
            "tag_missing",
        ] {
            assert!(joined.contains(needle), "{needle} in {joined}");
        }
        let h = text_of(&block(blocks, "h:9").unwrap()["elements"][0]);
        assert!(h.contains("*retry* by"));
        assert!(!h.contains("not shown"));
    }

    /// A hundred suggestions whose every text is long Hebrew (two bytes a
    /// character), each with a long history.
    fn long_hebrew_card(n: i64) -> (LectureCard, Vec<HistoryLine>) {
        let suggestions = (1..=n)
            .map(|id| {
                let mut s = suggestion(id, 0.9, SuggestionStatus::ALL[(id % 5) as usize]);
                s.tag_name = format!("תגית {id:03}");
                s.rationale = "הסבר ארוך מאוד על הנושא ".repeat(150);
                s.last_error = Some("שגיאה ארוכה מאוד ".repeat(100));
                s.decided_by = Some("סוקרת ותיקה".to_owned());
                s
            })
            .collect();
        let history = (1..=n)
            .flat_map(|id| {
                (0..15).map(move |i| HistoryLine {
                    suggestion_id: id,
                    action: "sync_fail".to_owned(),
                    actor: "עובד ".repeat(30),
                    at: at(20_000 + i),
                    error: Some("תקלה בשרת ".repeat(40)),
                    reason: None,
                })
            })
            .collect();
        (card(suggestions), history)
    }

    #[test]
    fn a_hundred_long_hebrew_suggestions_fit_the_view_size_and_say_what_is_folded() {
        let (c, history) = long_hebrew_card(100);
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        let blocks = modal["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), limits::MODAL_BLOCKS);
        let all = modal.to_string();
        for id in 1..=100 {
            assert!(all.contains(&format!("תגית {id:03}")), "tag {id} missing");
        }
        let note = text_of(&block(blocks, "more").unwrap()["text"]);
        assert!(note.contains("shortened"), "{note}");
        // Header, summary and the select take 3 blocks, the note 1: 96 get
        // a block of their own.
        assert!(
            note.contains("4 more suggestion(s) listed in short"),
            "{note}"
        );
        // The room is shared out, not thrown away: each rationale keeps a
        // good part of the view.
        let first = text_of(&block(blocks, "s:1").unwrap()["text"]);
        assert!(first.chars().count() > 200, "{first}");
    }

    #[test]
    fn a_modal_that_fits_is_not_shortened() {
        let (c, history) = long_hebrew_card(10);
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        let blocks = modal["blocks"].as_array().unwrap();
        assert!(block(blocks, "more").is_none());
        // Only each text's own limit cuts the rationale.
        let first = text_of(&block(blocks, "s:1").unwrap()["text"]);
        assert_eq!(first.chars().count(), limits::SECTION_TEXT);
    }

    #[test]
    fn even_huge_tag_names_and_models_fit_by_listing_more_in_short() {
        let (mut c, history) = long_hebrew_card(100);
        for s in &mut c.suggestions {
            s.tag_name = "😀".repeat(400);
            s.model = "😀".repeat(400);
            s.decided_by = Some("😀".repeat(400));
        }
        let modal = details_modal(&c, &history);
        check_modal(&modal);
    }

    #[test]
    fn a_crowded_modal_folds_history_into_a_field() {
        let c = pending_card(60);
        let history: Vec<HistoryLine> = (1..=60).flat_map(|id| events(id, 20)).collect();
        let modal = details_modal(&c, &history);
        check_modal(&modal);
        let blocks = modal["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 63);
        let fields = block(blocks, "s:60").unwrap()["fields"].as_array().unwrap();
        assert!(text_of(fields.last().unwrap()).starts_with("*History*\n• "));
    }
}
