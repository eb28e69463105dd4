//! A lecture card's pieces that more than one surface shows: its tag
//! labels, its pending suggestions, the header and summary the review
//! message and the details modal open with, a suggestion as a select
//! option, and the lines that say who decided or removed a tag.

use super::*;

pub(super) fn tag_label(s: &SuggestionCard) -> String {
    or_placeholder(&s.tag_name, &s.tag_id)
}

pub(super) fn is_pending(s: &SuggestionCard) -> bool {
    s.status == SuggestionStatus::Pending
}

pub(super) fn pending(card: &LectureCard) -> Vec<&SuggestionCard> {
    card.suggestions.iter().filter(|s| is_pending(s)).collect()
}

/// Pending suggestions "Approve all" would take.
pub(super) fn top_count(card: &LectureCard) -> usize {
    card.suggestions
        .iter()
        .filter(|s| is_pending(s) && s.score >= card.approve_threshold)
        .count()
}

/// The lecture id as a button value, or `None` when it would not fit: a cut
/// id could name another lecture, so such buttons are left out instead.
pub(super) fn lecture_value(card: &LectureCard) -> Option<&str> {
    (card.lecture_id.chars().count() <= limits::BUTTON_VALUE).then_some(card.lecture_id.as_str())
}

pub(super) fn header_block(card: &LectureCard) -> Value {
    let title = or_placeholder(&clean(&card.title), "(untitled lecture)");
    json!({"type": "header", "block_id": "header", "text": plain(&title, limits::HEADER_TEXT)})
}

/// "Lecture {FSI}id{PDI} · 3 pending · 1 approved …"; only statuses present.
pub(super) fn summary_block(card: &LectureCard) -> Value {
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
pub(super) fn select_option(s: &SuggestionCard) -> Value {
    let score = format!(" {}", score_label(s.score));
    let room = limits::OPTION_TEXT - score.chars().count();
    option(
        &format!("{}{score}", embed_plain(&tag_label(s), room)),
        &s.id.to_string(),
    )
}

/// A synced tag someone then removed in Airtable: tagbot leaves it
/// removed, and says so.
pub(super) fn removed_line(s: &SuggestionCard) -> Option<String> {
    s.removed_in_airtable.as_ref().map(|(by, at)| {
        format!(
            ":wastebasket: Removed in Airtable by {} {}",
            embed_mrkdwn(by, ACTOR_CHARS),
            slack_date(*at)
        )
    })
}

/// **Undo** beside a decision that can still be taken back (it goes at
/// the next refresh: a press after the window is told it is too late).
pub(super) fn undo_button(s: &SuggestionCard) -> Option<Value> {
    (s.status.is_decided() && s.undo_until.is_some())
        .then(|| button("Undo", actions::UNDO, &s.id.to_string(), None))
}

pub(super) fn decision_line(s: &SuggestionCard) -> Option<String> {
    if !s.status.is_decided() {
        return None;
    }
    let who = s
        .decided_by
        .as_deref()
        .map(|who| format!(" by {}", embed_mrkdwn(who, ACTOR_CHARS)));
    let when = s.decided_at.map(|at| format!(" {}", slack_date(at)));
    let why = s
        .reject_reason
        .map(|reason| format!(" · _{}_", reason.label()));
    (who.is_some() || when.is_some() || why.is_some()).then(|| {
        format!(
            "Decided{}{}{}",
            who.unwrap_or_default(),
            when.unwrap_or_default(),
            why.unwrap_or_default()
        )
    })
}

/// A pending tag's votes (the second-opinion band): "approved by דנה ·
/// needs one more", or, disputed, both votes and their reasons and who
/// decides now.
pub(super) fn votes_line(s: &SuggestionCard) -> Option<String> {
    match s.votes.as_slice() {
        [] => None,
        [one] => Some(format!(
            ":ballot_box_with_ballot: {} · needs one more",
            vote_words(one)
        )),
        votes => Some(format!(
            ":scales: Disputed: {} · a lead decides",
            votes.iter().map(vote_words).collect::<Vec<_>>().join(" · ")
        )),
    }
}

fn vote_words(vote: &Vote) -> String {
    let who = embed_mrkdwn(
        vote.voter_name.as_deref().unwrap_or(&vote.voter),
        ACTOR_CHARS,
    );
    let what = match vote.verdict {
        Verdict::Approve => "approved",
        Verdict::Reject => "rejected",
    };
    let why = vote
        .reason
        .map(|reason| format!(" (_{}_)", reason.label()))
        .unwrap_or_default();
    format!("{what} by {who}{why}")
}

/// "Reject because…": a select of the five reasons (DESIGN.md); picking
/// one rejects the tag with it. Option values `<reason>:<suggestion id>`.
pub(super) fn reject_because_menu(id: i64) -> Value {
    let options: Vec<Value> = RejectReason::ALL
        .iter()
        .map(|reason| option(reason.label(), &format!("{}:{id}", reason.as_str())))
        .collect();
    json!({
        "type": "static_select",
        "action_id": actions::REJECT_BECAUSE,
        "placeholder": plain("Reject because…", limits::SELECT_PLACEHOLDER),
        "options": options,
    })
}
