//! The App Home tab: the queue and **Start reviewing**, the reviewer's own
//! decisions and the team's, sync health with a Retry per failed lecture,
//! the last run and when the digest comes. Its size does not grow with the
//! catalogue: counts, and at most [`HOME_FAILED_LECTURES`] lectures listed.

use chrono::NaiveTime;

use super::*;
use crate::domain::FailureCategory;

/// Failed lectures listed with a Retry button; the rest are counted.
pub const HOME_FAILED_LECTURES: usize = 10;
/// Reviewers named in the team's week; the rest are counted.
const HOME_TOP_REVIEWERS: usize = 5;

/// What the Home tab shows one reviewer.
#[derive(Debug, Clone, Default)]
pub struct HomeFigures {
    pub waiting_lectures: i64,
    pub waiting_tags: i64,
    pub oldest_waiting: Option<DateTime<Utc>>,
    /// `TAGBOT_REVIEW_SLA` (None: off, and nothing is said of it).
    pub review_sla: Option<std::time::Duration>,
    /// Lectures waiting longer than the SLA.
    pub overdue_lectures: i64,
    pub mine_today: i64,
    pub mine_this_week: i64,
    /// The team's decisions in the last 7 days: (who, how many), most first.
    pub team_week: Vec<(String, i64)>,
    /// Sync items queued or in flight.
    pub sync_queued: i64,
    /// Failed suggestions per category (None: recorded before categories).
    pub failed_by_category: Vec<(Option<FailureCategory>, i64)>,
    pub failed_lectures: Vec<FailedLecture>,
    pub failed_lecture_count: i64,
    /// The last sync run, in one line.
    pub last_run: Option<String>,
    pub digest_at: NaiveTime,
    /// What past decisions say: None before the figures could be read.
    pub calibration: Option<std::sync::Arc<crate::calibration::Calibration>>,
    /// The "Approve all" threshold reviewers use.
    pub approve_threshold: f64,
}

pub use crate::storage::suggestions::FailedLecture;

/// The Home tab view (`views.publish`).
pub fn home_view(f: &HomeFigures) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "block_id": "home_header", "text": plain("Tag review", limits::HEADER_TEXT)}),
        queue_section(f),
    ];
    if f.waiting_lectures > 0 {
        blocks.push(json!({
            "type": "actions", "block_id": "home_start",
            "elements": [button("Start reviewing", actions::START_REVIEW, "home", Some("primary"))],
        }));
    }
    blocks.push(json!({"type": "divider"}));
    blocks.push(decisions_section(f));
    if let Some(section) = calibration_section(f) {
        blocks.push(section);
    }
    blocks.push(json!({"type": "divider"}));
    blocks.extend(sync_blocks(f));
    blocks.push(context(
        "home_digest",
        &format!(
            "The daily digest is posted at {} UTC.",
            f.digest_at.format("%H:%M")
        ),
    ));
    json!({ "type": "home", "callback_id": "tagbot_home", "blocks": blocks })
}

/// The Home tab of someone who may not review here (a guest from another
/// organisation), or whose standing Slack could not confirm: `notice`
/// (text tagbot wrote) and nothing of the team's figures.
pub fn home_notice(notice: &str) -> Value {
    let blocks = vec![
        json!({"type": "header", "block_id": "home_header", "text": plain("Tag review", limits::HEADER_TEXT)}),
        json!({"type": "section", "block_id": "home_notice", "text": {"type": "mrkdwn", "text": shorten(notice, limits::SECTION_TEXT)}}),
    ];
    json!({ "type": "home", "callback_id": "tagbot_home", "blocks": blocks })
}

fn queue_section(f: &HomeFigures) -> Value {
    let text = if f.waiting_lectures == 0 {
        "*Nothing is waiting for review.* :tada:".to_owned()
    } else {
        let since = f
            .oldest_waiting
            .map(|at| format!(", the oldest waiting since {}", slack_date(at)))
            .unwrap_or_default();
        format!(
            "*{} lecture(s) waiting for review*, {} tag(s) in all{since}.{}",
            f.waiting_lectures,
            f.waiting_tags,
            overdue_line(f)
        )
    };
    json!({"type": "section", "block_id": "home_queue", "text": mrkdwn(&text, limits::SECTION_TEXT)})
}

/// How many lectures waited longer than the review SLA, on a line of its
/// own; nothing with the SLA off.
fn overdue_line(f: &HomeFigures) -> String {
    let Some(sla) = f.review_sla else {
        return String::new();
    };
    let sla = span_label(sla);
    match f.overdue_lectures {
        0 => format!("\nNothing overdue: none has waited longer than {sla}."),
        n => format!("\n:alarm_clock: *{n} overdue*: waiting longer than {sla}."),
    }
}

/// Models shown on the Home tab's calibration, most decided first.
const HOME_MODELS: usize = 3;

/// How often reviewers approved each model's suggestions, the threshold
/// past decisions support, and what they say of "Approve all".
fn calibration_section(f: &HomeFigures) -> Option<Value> {
    let calibration = f.calibration.as_ref()?;
    if calibration.models.is_empty() {
        return None;
    }
    let mut lines = vec![format!(
        "*Calibration* (target {} approved):",
        crate::calibration::percent(calibration.target)
    )];
    if let Some(note) = calibration.beside_threshold(f.approve_threshold) {
        lines.push(format!(
            "Approve all ≥ {}: {note}",
            score_label(f.approve_threshold)
        ));
    }
    let mut models: Vec<&crate::calibration::ModelCalibration> =
        calibration.models.iter().collect();
    models.sort_by_key(|m| std::cmp::Reverse(m.share.decisions));
    for model in models.iter().take(HOME_MODELS) {
        lines.push(format!(
            "• {}: {}",
            embed_mrkdwn(&model.model, MODEL_CHARS),
            model.summary()
        ));
        for tag in model.drifting.iter().take(2) {
            lines.push(format!(
                "   removed in Airtable after syncing: {} ({} of {})",
                embed_mrkdwn(&tag.tag_name, TAG_CHARS),
                tag.removed,
                tag.synced
            ));
        }
    }
    Some(json!({
        "type": "section", "block_id": "home_calibration",
        "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT),
    }))
}

fn decisions_section(f: &HomeFigures) -> Value {
    let mut lines = vec![format!(
        "*Your decisions:* {} today, {} this week",
        f.mine_today, f.mine_this_week
    )];
    let team_total: i64 = f.team_week.iter().map(|(_, n)| n).sum();
    if team_total == 0 {
        lines.push("*The team, last 7 days:* no decisions".to_owned());
    } else {
        let named: Vec<String> = f
            .team_week
            .iter()
            .take(HOME_TOP_REVIEWERS)
            .map(|(who, n)| format!("{} {n}", embed_mrkdwn(who, ACTOR_CHARS)))
            .collect();
        let others = f.team_week.len().saturating_sub(HOME_TOP_REVIEWERS);
        let more = if others > 0 {
            format!(" and {others} more")
        } else {
            String::new()
        };
        lines.push(format!(
            "*The team, last 7 days:* {team_total} decision(s) by {} reviewer(s): {}{more}",
            f.team_week.len(),
            named.join(", ")
        ));
    }
    json!({"type": "section", "block_id": "home_decisions", "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT)})
}

fn sync_blocks(f: &HomeFigures) -> Vec<Value> {
    let failed: i64 = f.failed_by_category.iter().map(|(_, n)| n).sum();
    let mut lines = vec![format!(
        "*Sync to Airtable:* {} tag(s) queued, {failed} failed",
        f.sync_queued
    )];
    if failed > 0 {
        let by_category: Vec<String> = f
            .failed_by_category
            .iter()
            .map(|(category, n)| {
                format!(
                    "{} ×{n}",
                    category.map_or("unknown", FailureCategory::as_str)
                )
            })
            .collect();
        lines.push(format!("Why: {}", by_category.join(", ")));
    }
    lines.push(match &f.last_run {
        Some(run) => format!("Last run: {}", escape_mrkdwn(run)),
        None => "No sync run yet.".to_owned(),
    });
    let mut blocks = vec![json!({
        "type": "section", "block_id": "home_sync",
        "text": mrkdwn(&lines.join("\n"), limits::SECTION_TEXT),
    })];
    for failed in f.failed_lectures.iter().take(HOME_FAILED_LECTURES) {
        blocks.push(failed_lecture_block(failed));
    }
    let unlisted =
        f.failed_lecture_count - f.failed_lectures.len().min(HOME_FAILED_LECTURES) as i64;
    if unlisted > 0 {
        blocks.push(context(
            "home_failed_more",
            &format!(
                "…and {unlisted} more lecture(s) with failed tags (`/tags retry &lt;lecture&gt;`)."
            ),
        ));
    }
    blocks
}

fn failed_lecture_block(failed: &FailedLecture) -> Value {
    let reason = failed.reason.as_deref().unwrap_or("no reason recorded");
    let text = format!(
        ":warning: {} `{}`: {} failed — {}",
        embed_mrkdwn(
            &or_placeholder(&failed.title, "(untitled lecture)"),
            TAG_CHARS
        ),
        escape_mrkdwn(&shorten(&failed.lecture, LECTURE_ID_CHARS)),
        failed.failed,
        embed_mrkdwn(reason, ERROR_CHARS),
    );
    let mut block = json!({
        "type": "section",
        "text": mrkdwn(&text, limits::SECTION_TEXT),
    });
    // A cut id could name another lecture: no button rather than a wrong one.
    if failed.lecture.chars().count() <= limits::BUTTON_VALUE {
        block["accessory"] = button("Retry", actions::RETRY_FAILED, &failed.lecture, None);
    }
    block
}
