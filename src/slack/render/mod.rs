//! Block Kit rendering, as `serde_json::Value` blocks: a [`LectureCard`]
//! as the review message (`review_message`) and the details modal
//! (`details`), and tagbot's other surfaces, each in a module of its own:
//! review sessions (`session`), the App Home (`home`), run reports
//! (`reports`), failure posts and the digest (`notices`).
//!
//! This module owns what every surface shares: the text primitives
//! (escaping, isolating, shortening, the blocks made of them) and Slack's
//! limits ([`limits`], each with where Slack states it); what the surfaces
//! that show a lecture card share is in `lecture`. Rendering owns no state
//! and does no I/O. JSON (rather than slack-morphism's typed blocks) keeps
//! the limits checkable in one place and the tests readable; the tests
//! check what they render with the Slack stand-in's Block Kit checker
//! (`testing`).
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

use crate::domain::{RejectReason, SuggestionStatus};
use crate::slack::card::{actions, HistoryLine, LectureCard, SuggestionCard};
use crate::storage::votes::{Verdict, Vote};

mod details;
mod home;
mod lecture;
pub mod limits;
mod notices;
mod reports;
mod review_message;
mod session;
#[cfg(test)]
mod testing;

pub use details::{details_modal, details_notice, view_bytes};
pub use home::{home_notice, home_view, FailedLecture, HomeFigures, HOME_FAILED_LECTURES};
pub use notices::{
    calibration_comment, digest_notice, failure_notice, progress_text, start_reviewing_block,
    Digest, FailureNotice, Overdue, OverdueLecture, DIGEST_OVERDUE_NAMED,
};
pub use reports::{report_block, run_report_post};
pub use review_message::{review_message, unstamped};
pub use session::{
    choice_block_id, choice_block_suggestion, read_choice, session_modal, session_notice,
    session_notice_with_undo, SessionChoice, SessionLecture, SessionState, SESSION_TAGS,
};

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

/// A sentence of tagbot's that names people, for a mrkdwn line: each name
/// escaped, shortened and direction-isolated (tagbot's own words around
/// them need neither).
pub fn words(sentence: &dyn crate::text::Words) -> String {
    sentence.words_with(&person)
}

/// [`words`] for a plain_text object (a modal's input error): names
/// shortened, kept to one line and isolated; nothing escaped, since Slack
/// shows plain text as it is.
pub fn plain_words(sentence: &dyn crate::text::Words) -> String {
    sentence.words_with(&|name| embed_plain(name, ACTOR_CHARS))
}

/// What a lecture-wide operation (Approve selected, Approve all, a
/// session's save) left unchanged, one entry per suggestion, in words:
/// decided already, voted already, disputed. `lead_unconfirmed`: the
/// asker may be a lead Slack could not confirm just now, so a dispute
/// says to try again rather than that only a lead may decide it.
/// Each entry names its tag (`tag_names`, by suggestion; the catalogue's
/// text, escaped and isolated).
pub fn not_changed(
    decisions: &crate::review::LectureDecisions,
    tag_names: &std::collections::HashMap<crate::domain::SuggestionId, String>,
    lead_unconfirmed: bool,
) -> Vec<String> {
    use crate::review::Decision;
    decisions
        .unchanged()
        .map(|d| {
            let why = match d {
                Decision::NeedsLead { .. } if lead_unconfirmed => {
                    "reviewers disagree on it, and Slack could not confirm just now that you are a lead (SLACK_LEADS): try again in a minute".to_owned()
                }
                other => words(other),
            };
            match tag_names.get(&d.suggestion()) {
                Some(tag) => format!("{}: {why}", embed_mrkdwn(tag, TAG_CHARS)),
                None => why,
            }
        })
        .collect()
}

/// A person's name (a Slack display name, else `slack:U…`) inside a mrkdwn
/// line: escaped, shortened, direction-isolated.
pub fn person(name: &str) -> String {
    embed_mrkdwn(name, ACTOR_CHARS)
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

/// A span as a setting writes it, in its largest whole unit: `90m`,
/// `12h`, `3d`.
fn span_label(span: std::time::Duration) -> String {
    match span.as_secs() / 60 {
        m if m % (24 * 60) == 0 => format!("{}d", m / (24 * 60)),
        m if m % 60 == 0 => format!("{}h", m / 60),
        m => format!("{m}m"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_the_setting_writes_them() {
        let label = |secs| span_label(std::time::Duration::from_secs(secs));
        assert_eq!(label(72 * 3600), "3d");
        assert_eq!(label(36 * 3600), "36h");
        assert_eq!(label(90 * 60), "90m");
        assert_eq!(label(3600), "1h");
    }

    #[test]
    fn names_in_tagbots_sentences_are_escaped_and_isolated_one_by_one() {
        use crate::review::{Decision, Verdict, Vote};
        let vote = |voter: &str, name: Option<&str>, verdict| Vote {
            id: 1,
            suggestion_id: 7,
            voter: voter.to_owned(),
            voter_name: name.map(str::to_owned),
            verdict,
            reason: None,
            voted_at: chrono::Utc::now(),
            withdrawable_until: chrono::Utc::now(),
        };
        let dispute = Decision::NeedsLead {
            suggestion: crate::domain::SuggestionId::new(7).unwrap(),
            votes: vec![
                vote(
                    "slack:U1",
                    Some("דנה <!here> *x*\u{202E}"),
                    Verdict::Approve,
                ),
                vote("slack:U2", None, Verdict::Reject),
            ],
        };
        assert_eq!(
            words(&dispute),
            "reviewers disagree (\u{2068}דנה &lt;!here&gt; \u{2217}x\u{2217}\u{2069} voted to approve, \u{2068}slack:U2\u{2069} voted to reject): only a lead may decide it"
        );
        // Display, for logs and the terminal, writes them as typed.
        assert!(dispute
            .to_string()
            .starts_with("reviewers disagree (דנה <!here>"));
    }

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
    fn status_badges_name_every_status() {
        for status in SuggestionStatus::ALL {
            assert!(status_badge(status).ends_with(status.as_str()));
            assert!(status_badge(status).starts_with(':'));
        }
    }

    /// The checks these tests rely on catch what they claim to.
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
            assert!(
                standins::block_kit::check_message_blocks(&bad).is_err(),
                "{bad}"
            );
        }
    }
}
