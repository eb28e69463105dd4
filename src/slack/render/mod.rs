//! Block Kit rendering: turns a [`LectureCard`] into the review message and
//! the details modal, as `serde_json::Value` blocks.
//!
//! This module owns what reviewers see and every Block Kit limit that
//! applies to it; it owns no state and does no I/O. JSON (rather than
//! slack-morphism's typed blocks) keeps the limits checkable in one place
//! and the tests readable.
//!
//! # Limits
//!
//! Every number below is Slack's documented limit (see [`limits`]); every
//! text this module emits is cut to its limit on a `char` boundary, with
//! "…" when something was cut.
//!
//! | what | limit | source |
//! |---|---|---|
//! | blocks in a message / in a modal | 50 / 100 | docs.slack.dev/reference/block-kit/blocks ("up to 50 blocks in each message, and 100 blocks in modals") |
//! | message `text` | 40,000 chars | api.slack.com/changelog/2018-04-truncating-really-long-messages |
//! | section `text` | 3,000 chars | docs.slack.dev/reference/block-kit/blocks/section-block |
//! | section `fields` | 10 items, 2,000 chars each | same |
//! | context `elements` | 10 | docs.slack.dev/reference/block-kit/blocks/context-block |
//! | text object (context element) | 3,000 chars | docs.slack.dev/reference/block-kit/composition-objects/text-object |
//! | header `text` | 150 chars | docs.slack.dev/reference/block-kit/blocks/header-block |
//! | `block_id`, `action_id` | 255 chars; block ids unique per message, action ids unique per block | header/section block pages, button element page |
//! | button `text` / `value` | 75 / 2,000 chars | docs.slack.dev/reference/block-kit/block-elements/button-element |
//! | actions block `elements` | 25 | docs.slack.dev/reference/block-kit/blocks/actions-block (`@slack/types` ActionsBlock) |
//! | multi_static_select `options` / `placeholder` | 100 / 150 chars; works in section and input blocks only | docs.slack.dev/reference/block-kit/block-elements/multi-select-menu-element |
//! | option `text` / `value` | 75 / 150 chars | docs.slack.dev/reference/block-kit/composition-objects/option-object |
//! | overflow `options` | up to 5 | docs.slack.dev/reference/block-kit/block-elements/overflow-menu-element |
//! | confirm dialog title / text / buttons | 100 / 300 / 30 chars | api.slack.com/reference/block-kit/composition-objects (confirmation dialog) |
//! | modal `title` / `close` | 24 chars each | docs.slack.dev/reference/views/modal-views |
//! | a view's JSON | 250 kB (`view_too_large`, "provided view is greater than 250kb"; taken as 250,000 bytes of UTF-8, the stricter reading) | docs.slack.dev/reference/methods/views.open (errors) |
//!
//! # Review message layout
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
//!   Approve / Reject for each pending one;
//! - **compact**, when normal does not fit: one section per suggestion, the
//!   pending ones carrying an overflow menu (Approve / Reject);
//! - **folded**, when even compact does not fit: pending suggestions are
//!   kept first (best score first), decided ones fill what is left, and a
//!   context line says "N more — open Details".
//!
//! # Details modal layout
//!
//! Header, summary, the "Approve these tags" input, then the suggestions:
//! two blocks each (details, history) when 100 blocks and 250 kB allow;
//! else one block each, history as a field, the long texts (rationale,
//! last error, history) cut to the most characters per suggestion that
//! keeps the view under 250 kB. Past 96 suggestions the rest are listed in
//! short (tag, score, status) in a last block, which also says that texts
//! were shortened: nothing is left out without saying so.
//!
//! # Right-to-left text and escaping
//!
//! Tag names, titles, rationales and other user text embedded in a
//! left-to-right line are wrapped in FIRST STRONG ISOLATE … POP DIRECTIONAL
//! ISOLATE, so a Hebrew name does not drag the score or punctuation after it
//! into its own direction. In mrkdwn, user text has `&`, `<`, `>` escaped
//! (Slack's "Escaping text" rule), so a rationale cannot post a link or a
//! mention; plain_text objects are not parsed by Slack and are left as is.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::domain::SuggestionStatus;
use crate::slack::card::{actions, HistoryLine, LectureCard, SuggestionCard};

mod details;
mod home;
mod notices;
mod reports;
mod review_message;
mod session;

pub use details::{details_modal, details_notice, view_bytes};
pub use home::{home_notice, home_view, FailedLecture, HomeFigures, HOME_FAILED_LECTURES};
pub use notices::{
    calibration_comment, digest_notice, failure_notice, progress_text, start_reviewing_block,
    Digest, FailureNotice,
};
pub use reports::{report_block, run_report_post};
pub use review_message::{review_message, unstamped};
pub use session::{
    choice_block_id, choice_block_suggestion, session_modal, session_notice, SessionLecture,
    SessionState, SESSION_TAGS,
};

/// Slack's documented Block Kit limits (characters, or items where said).
pub mod limits {
    /// Blocks in one message.
    pub const MESSAGE_BLOCKS: usize = 50;
    /// Blocks in one modal view.
    pub const MODAL_BLOCKS: usize = 100;
    /// A message's top-level `text` (Slack truncates past this).
    pub const MESSAGE_TEXT: usize = 40_000;
    /// A section block's `text`; also any text object.
    pub const SECTION_TEXT: usize = 3_000;
    /// Items in a section's `fields`.
    pub const SECTION_FIELDS: usize = 10;
    /// Each of a section's `fields`.
    pub const SECTION_FIELD_TEXT: usize = 2_000;
    /// Elements of a context block.
    pub const CONTEXT_ELEMENTS: usize = 10;
    /// A header block's text.
    pub const HEADER_TEXT: usize = 150;
    /// `block_id` and `action_id`.
    pub const ID: usize = 255;
    /// A button's label.
    pub const BUTTON_TEXT: usize = 75;
    /// A button's value.
    pub const BUTTON_VALUE: usize = 2_000;
    /// Elements of an actions block.
    pub const ACTIONS_ELEMENTS: usize = 25;
    /// Options of a static (multi-)select.
    pub const SELECT_OPTIONS: usize = 100;
    /// A select's placeholder.
    pub const SELECT_PLACEHOLDER: usize = 150;
    /// An option's text.
    pub const OPTION_TEXT: usize = 75;
    /// An option's value.
    pub const OPTION_VALUE: usize = 150;
    /// Options of an overflow menu.
    pub const OVERFLOW_OPTIONS: usize = 5;
    /// A confirmation dialog's title.
    pub const CONFIRM_TITLE: usize = 100;
    /// A confirmation dialog's text.
    pub const CONFIRM_TEXT: usize = 300;
    /// A confirmation dialog's confirm / deny labels.
    pub const CONFIRM_BUTTON: usize = 30;
    /// A modal's title, close and submit labels.
    pub const MODAL_TITLE: usize = 24;
    /// An input block's label.
    pub const INPUT_LABEL: usize = 2000;
    /// A modal's `private_metadata`.
    pub const PRIVATE_METADATA: usize = 3000;
    /// A view's JSON, in bytes (views.open / views.update: `view_too_large`,
    /// "provided view is greater than 250kb"; read as 250,000 bytes, the
    /// stricter).
    pub const VIEW_BYTES: usize = 250_000;
}

/// A rendered review message: `text` is the notification fallback (and what
/// screen readers and old clients show), `blocks` the Block Kit layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub text: String,
    pub blocks: Vec<Value>,
}

const FSI: char = '\u{2068}';
const PDI: char = '\u{2069}';
const ELLIPSIS: char = '…';

// Budgets for user text inside one suggestion's section: they keep the
// whole section far below the 3,000-character limit, so the final clamp
// never has to cut through a `<!date…>` token.
const TAG_CHARS: usize = 150;
const RATIONALE_CHARS: usize = 150;
const MODEL_CHARS: usize = 80;
const ACTOR_CHARS: usize = 80;
const ERROR_CHARS: usize = 300;
const LECTURE_ID_CHARS: usize = 100;
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

const MODAL_TITLE: &str = "Tag suggestions";

/// Text of our own (already escaped mrkdwn) as section blocks of at most
/// 3,000 characters each, split at line ends (a line longer than that is
/// shortened).
pub fn text_sections(text: &str) -> Vec<Value> {
    let mut sections = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = shorten(line, limits::SECTION_TEXT);
        if !current.is_empty()
            && current.chars().count() + 1 + line.chars().count() > limits::SECTION_TEXT
        {
            sections.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() {
        sections.push(current);
    }
    sections
        .into_iter()
        .map(|text| json!({ "type": "section", "text": mrkdwn(&text, limits::SECTION_TEXT) }))
        .collect()
}

/// The status as an emoji and a word, for badges.
pub fn status_badge(status: SuggestionStatus) -> &'static str {
    match status {
        SuggestionStatus::Pending => ":hourglass_flowing_sand: pending",
        SuggestionStatus::Approved => ":white_check_mark: approved",
        SuggestionStatus::Rejected => ":x: rejected",
        SuggestionStatus::Synced => ":cloud: synced",
        SuggestionStatus::Failed => ":warning: failed",
    }
}

/// `text` cut to at most `max_chars` characters, on a char boundary, ending
/// in "…" when something was cut.
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max_chars - 1).collect();
    out.push(ELLIPSIS);
    out
}

/// Text tagbot did not write (catalogue titles and tag names, rationales,
/// Airtable's messages, Slack display names, what a user typed), made safe
/// for any mrkdwn surface: the one escaping function every surface uses.
///
/// - `&`, `<`, `>` become entities, so the text cannot form links,
///   mentions (`<@U…>`) or pings (`<!channel>`, `<!here>`): the three
///   characters Slack asks apps to escape
///   (<https://docs.slack.dev/messaging/formatting-message-text#escaping>).
/// - Slack has no escape for its formatting characters, so `*`, `~` and
///   `` ` `` become look-alikes (`∗`, `∼`, `ˋ`): a name cannot turn the
///   rest of a line bold or close a code block with ```` ``` ````. (`_` is
///   left: ids use it, and italics cannot hide or forge anything.)
/// - Direction controls (embeddings, overrides, isolates, marks) are
///   dropped: they could reorder the text around them, or close the
///   isolate tagbot puts a Hebrew name in.
/// - Line breaks and other control characters become spaces, so the text
///   cannot forge a line of its own in an answer. (Only a long text shown
///   in a block of its own, a rationale or an error in the details modal,
///   keeps its paragraphs: `Breaks::Keep`.)
pub fn escape_mrkdwn(text: &str) -> String {
    escape_text(text, Breaks::Join)
}

/// What [`escape_mrkdwn`] does with line breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaks {
    /// Every line break becomes a space: the text is part of a line.
    Join,
    /// `\n` stays: the text has a block of its own.
    Keep,
}

fn escape_text(text: &str, breaks: Breaks) -> String {
    text.chars().map(|c| escape_char(c, breaks)).collect()
}

/// `text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: it takes
/// its own direction without reordering what surrounds it.
pub fn isolate(text: &str) -> String {
    format!("{FSI}{text}{PDI}")
}

fn escape_char(c: char, breaks: Breaks) -> String {
    match c {
        '\n' if breaks == Breaks::Keep => "\n".to_owned(),
        '&' => "&amp;".to_owned(),
        '<' => "&lt;".to_owned(),
        '>' => "&gt;".to_owned(),
        '*' => "\u{2217}".to_owned(),
        '~' => "\u{223C}".to_owned(),
        '`' => "\u{02CB}".to_owned(),
        c if is_direction_control(c) => String::new(),
        c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => " ".to_owned(),
        other => other.to_string(),
    }
}

/// Unicode's explicit direction formatting characters (UAX #9): LRE, RLE,
/// PDF, LRO, RLO, LRI, RLI, FSI, PDI, and the LRM, RLM and ALM marks.
fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Escaped and shortened to `max_chars` counting the entities, cutting
/// between characters so an entity is never split.
fn escape_within(text: &str, max_chars: usize, breaks: Breaks) -> String {
    let full = escape_text(text, breaks);
    if full.chars().count() <= max_chars {
        return full;
    }
    if max_chars == 0 {
        return String::new();
    }
    let budget = max_chars - 1;
    let mut out = String::new();
    let mut used = 0;
    for piece in text.chars().map(|c| escape_char(c, breaks)) {
        let len = piece.chars().count();
        if used + len > budget {
            break;
        }
        out.push_str(&piece);
        used += len;
    }
    out.push(ELLIPSIS);
    out
}

/// Plain text on one line: direction controls a user may have typed (a
/// stray isolate or override would break ours) dropped, line breaks and
/// other controls made spaces. (Mrkdwn text goes through
/// [`escape_mrkdwn`], which does the same and escapes.)
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !is_direction_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// User text inside a mrkdwn line: escaped, isolated, at most `max_chars`
/// in total.
fn embed_mrkdwn(text: &str, max_chars: usize) -> String {
    isolate(&escape_within(
        text,
        max_chars.saturating_sub(2),
        Breaks::Join,
    ))
}

/// User text inside a plain_text line: Slack does not parse it, so it is
/// not escaped, only kept to one line without direction controls.
fn embed_plain(text: &str, max_chars: usize) -> String {
    isolate(&shorten(&clean(text), max_chars.saturating_sub(2)))
}

fn or_placeholder(text: &str, placeholder: &str) -> String {
    if text.trim().is_empty() {
        placeholder.to_owned()
    } else {
        text.to_owned()
    }
}

fn tag_label(s: &SuggestionCard) -> String {
    or_placeholder(&s.tag_name, &s.tag_id)
}

/// Two decimals; cut because a corrupt score could print hundreds of digits.
fn score_label(score: f64) -> String {
    shorten(&format!("{score:.2}"), 8)
}

/// Slack date formatting: each reader sees their own time zone; the
/// fallback (UTC) is for clients that cannot format.
fn slack_date(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

fn plain(text: &str, max_chars: usize) -> Value {
    json!({"type": "plain_text", "text": shorten(text, max_chars), "emoji": true})
}

fn mrkdwn(text: &str, max_chars: usize) -> Value {
    json!({"type": "mrkdwn", "text": shorten(text, max_chars)})
}

fn button(label: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "action_id": action_id,
        "text": plain(label, limits::BUTTON_TEXT),
        "value": value,
    });
    if let (Some(style), Some(obj)) = (style, b.as_object_mut()) {
        obj.insert("style".into(), Value::from(style));
    }
    b
}

fn option(text: &str, value: &str) -> Value {
    json!({"text": plain(text, limits::OPTION_TEXT), "value": value})
}

fn context(block_id: &str, text: &str) -> Value {
    json!({
        "type": "context",
        "block_id": block_id,
        "elements": [mrkdwn(text, limits::SECTION_TEXT)],
    })
}

fn is_pending(s: &SuggestionCard) -> bool {
    s.status == SuggestionStatus::Pending
}

fn pending(card: &LectureCard) -> Vec<&SuggestionCard> {
    card.suggestions.iter().filter(|s| is_pending(s)).collect()
}

/// Pending suggestions "Approve all" would take.
fn top_count(card: &LectureCard) -> usize {
    card.suggestions
        .iter()
        .filter(|s| is_pending(s) && s.score >= card.approve_threshold)
        .count()
}

/// The lecture id as a button value, or `None` when it would not fit: a cut
/// id could name another lecture, so such buttons are left out instead.
fn lecture_value(card: &LectureCard) -> Option<&str> {
    (card.lecture_id.chars().count() <= limits::BUTTON_VALUE).then_some(card.lecture_id.as_str())
}

// ------------------------------------------- shared by message and modal

fn header_block(card: &LectureCard) -> Value {
    let title = or_placeholder(&clean(&card.title), "(untitled lecture)");
    json!({"type": "header", "block_id": "header", "text": plain(&title, limits::HEADER_TEXT)})
}

/// "Lecture {FSI}id{PDI} · 3 pending · 1 approved …"; only statuses present.
fn summary_block(card: &LectureCard) -> Value {
    let mut parts = vec![format!(
        "Lecture {}",
        embed_mrkdwn(&card.lecture_id, LECTURE_ID_CHARS)
    )];
    for status in SuggestionStatus::ALL {
        let n = card
            .suggestions
            .iter()
            .filter(|s| s.status == status)
            .count();
        if n > 0 {
            parts.push(format!("{n} {status}"));
        }
    }
    if card.suggestions.is_empty() {
        parts.push("no suggestions".to_owned());
    }
    context("summary", &parts.join(" · "))
}

/// "{FSI}tag{PDI} 0.91": the tag cut so that the score always shows.
fn select_option(s: &SuggestionCard) -> Value {
    let score = format!(" {}", score_label(s.score));
    let room = limits::OPTION_TEXT - score.chars().count();
    option(
        &format!("{}{score}", embed_plain(&tag_label(s), room)),
        &s.id.to_string(),
    )
}

/// A synced tag someone then removed in Airtable: tagbot leaves it
/// removed, and says so.
fn removed_line(s: &SuggestionCard) -> Option<String> {
    s.removed_in_airtable.as_ref().map(|(by, at)| {
        format!(
            ":wastebasket: Removed in Airtable by {} {}",
            embed_mrkdwn(by, ACTOR_CHARS),
            slack_date(*at)
        )
    })
}

fn decision_line(s: &SuggestionCard) -> Option<String> {
    if !s.status.is_decided() {
        return None;
    }
    let who = s
        .decided_by
        .as_deref()
        .map(|who| format!(" by {}", embed_mrkdwn(who, ACTOR_CHARS)));
    let when = s.decided_at.map(|at| format!(" {}", slack_date(at)));
    (who.is_some() || when.is_some()).then(|| {
        format!(
            "Decided{}{}",
            who.unwrap_or_default(),
            when.unwrap_or_default()
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::details::*;
    use super::review_message::*;
    use super::*;

    // ------------------------------------------------------------ fixtures

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_714_564_800 + secs, 0).unwrap()
    }

    fn suggestion(id: i64, score: f64, status: SuggestionStatus) -> SuggestionCard {
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
            last_error: (status == SuggestionStatus::Failed).then(|| "tag_missing".to_owned()),
            removed_in_airtable: None,
        }
    }

    fn card(suggestions: Vec<SuggestionCard>) -> LectureCard {
        LectureCard {
            lecture_id: "lec-42".to_owned(),
            title: "מבוא ללמידת מכונה".to_owned(),
            suggestions,
            approve_threshold: 0.88,
            threshold_note: None,
        }
    }

    fn pending_card(n: i64) -> LectureCard {
        card(
            (1..=n)
                .map(|id| suggestion(id, 0.5, SuggestionStatus::Pending))
                .collect(),
        )
    }

    fn events(suggestion_id: i64, n: i64) -> Vec<HistoryLine> {
        (0..n)
            .map(|i| HistoryLine {
                suggestion_id,
                action: if i % 2 == 0 { "sync_fail" } else { "retry" }.to_owned(),
                actor: "worker".to_owned(),
                at: at(10_000 + i),
                error: (i % 2 == 0).then(|| format!("HTTP 503 attempt {i}")),
            })
            .collect()
    }

    // -------------------------------------------------- the limit checker

    fn chars(v: &Value) -> usize {
        v.as_str().map_or(0, |s| s.chars().count())
    }

    fn text_of(obj: &Value) -> &str {
        obj["text"].as_str().unwrap_or_default()
    }

    /// A text object: typed, non-empty, within `max`.
    fn check_text(t: &Value, max: usize, plain_only: bool, at: &str) {
        let kind = t["type"].as_str().unwrap_or_default();
        assert!(
            kind == "plain_text" || (!plain_only && kind == "mrkdwn"),
            "{at}: text type {kind:?}"
        );
        let n = chars(&t["text"]);
        assert!(n >= 1, "{at}: empty text");
        assert!(n <= max, "{at}: text of {n} chars > {max}");
    }

    fn check_id(v: &Value, at: &str) {
        let n = chars(v);
        assert!((1..=limits::ID).contains(&n), "{at}: id of {n} chars");
    }

    fn check_options(options: &Value, max: usize, at: &str) {
        let options = options.as_array().expect("options");
        assert!(
            (1..=max).contains(&options.len()),
            "{at}: {} options",
            options.len()
        );
        let mut values = HashSet::new();
        for o in options {
            check_text(&o["text"], limits::OPTION_TEXT, true, at);
            let n = chars(&o["value"]);
            assert!(
                (1..=limits::OPTION_VALUE).contains(&n),
                "{at}: option value {n}"
            );
            assert!(
                values.insert(o["value"].clone()),
                "{at}: duplicate option value"
            );
        }
    }

    fn check_element(e: &Value, in_actions: bool, at: &str) {
        check_id(&e["action_id"], at);
        match e["type"].as_str().unwrap_or_default() {
            "button" => {
                check_text(&e["text"], limits::BUTTON_TEXT, true, at);
                assert!(chars(&e["value"]) <= limits::BUTTON_VALUE, "{at}: value");
                if let Some(style) = e.get("style") {
                    assert!(style == "primary" || style == "danger", "{at}: style");
                }
                if let Some(c) = e.get("confirm") {
                    check_text(&c["title"], limits::CONFIRM_TITLE, true, at);
                    check_text(&c["text"], limits::CONFIRM_TEXT, false, at);
                    check_text(&c["confirm"], limits::CONFIRM_BUTTON, true, at);
                    check_text(&c["deny"], limits::CONFIRM_BUTTON, true, at);
                }
            }
            "overflow" => check_options(&e["options"], limits::OVERFLOW_OPTIONS, at),
            "multi_static_select" => {
                assert!(!in_actions, "{at}: multi-select in an actions block");
                check_text(&e["placeholder"], limits::SELECT_PLACEHOLDER, true, at);
                check_options(&e["options"], limits::SELECT_OPTIONS, at);
            }
            other => panic!("{at}: unexpected element {other}"),
        }
    }

    fn check_block(b: &Value, at: &str) {
        match b["type"].as_str().unwrap_or_default() {
            "header" => check_text(&b["text"], limits::HEADER_TEXT, true, at),
            "section" => {
                check_text(&b["text"], limits::SECTION_TEXT, false, at);
                if let Some(fields) = b.get("fields").and_then(Value::as_array) {
                    assert!(fields.len() <= limits::SECTION_FIELDS, "{at}: fields");
                    for f in fields {
                        check_text(f, limits::SECTION_FIELD_TEXT, false, at);
                    }
                }
                if let Some(acc) = b.get("accessory") {
                    check_element(acc, false, at);
                }
            }
            "context" => {
                let elements = b["elements"].as_array().expect("elements");
                assert!((1..=limits::CONTEXT_ELEMENTS).contains(&elements.len()));
                for e in elements {
                    check_text(e, limits::SECTION_TEXT, false, at);
                }
            }
            "actions" => {
                let elements = b["elements"].as_array().expect("elements");
                assert!(
                    (1..=limits::ACTIONS_ELEMENTS).contains(&elements.len()),
                    "{at}: {} elements",
                    elements.len()
                );
                let mut ids = HashSet::new();
                for e in elements {
                    check_element(e, true, at);
                    assert!(
                        ids.insert(e["action_id"].clone()),
                        "{at}: duplicate action_id"
                    );
                }
            }
            "input" => {
                check_text(&b["label"], limits::INPUT_LABEL, true, at);
                check_element(&b["element"], false, at);
            }
            other => panic!("{at}: unexpected block {other}"),
        }
    }

    fn check_blocks(blocks: &[Value], max_blocks: usize) {
        assert!(blocks.len() <= max_blocks, "{} blocks", blocks.len());
        let mut block_ids = HashSet::new();
        for (i, b) in blocks.iter().enumerate() {
            let at = format!("block {i} ({})", b["block_id"]);
            check_id(&b["block_id"], &at);
            assert!(
                block_ids.insert(b["block_id"].clone()),
                "{at}: duplicate block_id"
            );
            check_block(b, &at);
        }
    }

    fn check_message(m: &Message) {
        let n = m.text.chars().count();
        assert!((1..=limits::MESSAGE_TEXT).contains(&n), "message text {n}");
        check_blocks(&m.blocks, limits::MESSAGE_BLOCKS);
    }

    fn check_modal(v: &Value) {
        assert_eq!(v["type"], "modal");
        assert!(
            view_bytes(v) <= limits::VIEW_BYTES,
            "{} bytes",
            view_bytes(v)
        );
        check_text(&v["title"], limits::MODAL_TITLE, true, "title");
        check_text(&v["close"], limits::MODAL_TITLE, true, "close");
        check_blocks(
            v["blocks"].as_array().expect("blocks"),
            limits::MODAL_BLOCKS,
        );
    }

    /// The checker itself must catch what it claims to.
    #[test]
    fn the_checker_rejects_what_slack_rejects() {
        let too_long = json!([{"type": "header", "block_id": "h",
            "text": {"type": "plain_text", "text": "x".repeat(151)}}]);
        let dup = json!([context("x", "a"), context("x", "b")]);
        let select_in_actions = json!([{"type": "actions", "block_id": "a", "elements": [
            {"type": "multi_static_select", "action_id": "s",
             "placeholder": {"type": "plain_text", "text": "p"},
             "options": [option("a", "1")]}]}]);
        for bad in [too_long, dup, select_in_actions] {
            let blocks = bad.as_array().unwrap().clone();
            assert!(std::panic::catch_unwind(|| check_blocks(&blocks, 50)).is_err());
        }
    }

    // ------------------------------------------------------ JSON helpers

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

    fn with_action<'a>(blocks: &'a [Value], action_id: &str) -> Vec<&'a Value> {
        objects(blocks)
            .into_iter()
            .filter(|o| o["action_id"] == action_id)
            .collect()
    }

    fn block<'a>(blocks: &'a [Value], block_id: &str) -> Option<&'a Value> {
        blocks
            .iter()
            .find(|b| b["block_id"].as_str().map(unstamped) == Some(block_id))
    }

    fn section_text(blocks: &[Value], id: i64) -> &str {
        text_of(&block(blocks, &format!("s:{id}")).expect("section")["text"])
    }

    /// Ids a reviewer can decide on: buttons, overflow options, select options.
    fn decidable(blocks: &[Value]) -> HashSet<i64> {
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

    // --------------------------------------------------------------- tests

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("שלום עולם", 5), "שלום…");
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("abc", 0), "");
        assert_eq!(shorten("👍👍👍", 2), "👍…");
    }

    #[test]
    fn escaping_never_splits_an_entity() {
        assert_eq!(escape_within("a&b", 10, Breaks::Join), "a&amp;b");
        // "a&amp;" would be 6 chars; with the ellipsis only "a" fits in 5.
        assert_eq!(escape_within("a&bcdef", 5, Breaks::Join), "a…");
        assert!(
            escape_within(&"<".repeat(1000), 100, Breaks::Join)
                .chars()
                .count()
                <= 100
        );
    }

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
    fn status_badges_name_every_status() {
        for status in SuggestionStatus::ALL {
            assert!(status_badge(status).ends_with(status.as_str()));
            assert!(status_badge(status).starts_with(':'));
        }
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
