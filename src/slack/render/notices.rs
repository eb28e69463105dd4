//! Notices in the report channel: a permanent sync failure (with a Retry
//! button for its lecture), the daily digest, and a large run's progress.

use super::*;

/// One permanent failure, as the worker recorded it.
#[derive(Debug, Clone, Copy)]
pub struct FailureNotice<'a> {
    pub lecture: &'a str,
    pub title: Option<&'a str>,
    pub tag_name: &'a str,
    /// Airtable's words, or the mapping's (`tag_missing: …`).
    pub reason: Option<&'a str>,
}

/// The notice's fallback text and blocks.
pub fn failure_notice(failure: &FailureNotice) -> (String, Vec<Value>) {
    let title = failure.title.unwrap_or("");
    let reason = failure.reason.unwrap_or("no reason recorded");
    let text = format!(
        ":warning: Tag {} of lecture {} could not be synced to Airtable: {}",
        isolate(&escape_mrkdwn(failure.tag_name)),
        escape_mrkdwn(failure.lecture),
        escape_mrkdwn(reason),
    );
    let section = format!(
        ":warning: *Sync failed* — {} `{}`\nTag {}: {}",
        isolate(&escape_mrkdwn(title)),
        escape_mrkdwn(failure.lecture),
        isolate(&escape_mrkdwn(failure.tag_name)),
        escape_mrkdwn(reason),
    );
    let blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": shorten(&section, limits::SECTION_TEXT) } }),
        json!({ "type": "actions", "elements": [{
            "type": "button", "action_id": actions::RETRY_FAILED,
            "text": { "type": "plain_text", "text": "Retry failed" },
            "value": shorten(failure.lecture, limits::BUTTON_VALUE),
        }] }),
    ];
    (shorten(&text, limits::SECTION_TEXT), blocks)
}

/// The day's figures for the digest.
#[derive(Debug, Clone)]
pub struct Digest {
    pub pending: i64,
    pub pending_lectures: i64,
    /// When the oldest pending suggestion arrived.
    pub oldest: Option<DateTime<Utc>>,
    pub unsynced: i64,
    pub failed: i64,
    /// In the last day, from the change stream: people's edits a write
    /// overwrote and tagbot put right, and synced tags people removed.
    pub repaired: i64,
    pub removed_in_airtable: i64,
    /// Approved tags nothing will sync until `tagbot enqueue` runs.
    pub stranded: crate::review::Stranded,
    /// Lectures waiting longer than the review SLA; None with the SLA off.
    pub overdue: Option<Overdue>,
}

/// The lectures that waited too long, as the digest names them.
#[derive(Debug, Clone, PartialEq)]
pub struct Overdue {
    /// `TAGBOT_REVIEW_SLA`.
    pub sla: std::time::Duration,
    /// Lectures whose oldest pending suggestion is older than the SLA.
    pub lectures: i64,
    /// The ones that waited longest, oldest first (at most
    /// [`DIGEST_OVERDUE_NAMED`]).
    pub longest: Vec<OverdueLecture>,
    /// The user groups of `SLACK_REVIEWERS`, mentioned while any lecture
    /// is overdue.
    pub mention: Vec<String>,
}

pub use crate::storage::review_queue::OverdueLecture;

/// Overdue lectures the digest names; the rest are counted.
pub const DIGEST_OVERDUE_NAMED: usize = 5;

/// The daily digest's text and blocks.
pub fn digest_notice(digest: &Digest) -> (String, Vec<Value>) {
    let oldest = digest.oldest.map_or_else(
        || "none".to_owned(),
        |at| format!("since {}", at.format("%Y-%m-%d %H:%M UTC")),
    );
    let mut text = format!(
        ":sunrise: *Daily tag digest* — {} suggestion(s) pending on {} lecture(s) (oldest {oldest}); {} approved but not yet in Airtable; {} failed{}",
        digest.pending,
        digest.pending_lectures,
        digest.unsynced,
        digest.failed,
        if digest.failed > 0 { " (use Retry failed on their messages, or /tags retry &lt;lecture&gt;)" } else { "" }
    );
    if digest.repaired + digest.removed_in_airtable > 0 {
        text.push_str(&format!(
            ". In Airtable in the last day: {} synced tag(s) removed by people (left removed; their review messages say by whom), {} edit(s) by people that a tagbot write overwrote, put back",
            digest.removed_in_airtable, digest.repaired
        ));
    }
    if digest.stranded.count > 0 {
        text.push_str(&format!(". {}", digest.stranded));
    }
    let overdue = digest.overdue.as_ref().map(overdue_part);
    if let Some(part) = &overdue {
        text = format!("{}{text}. {}", part.mention, part.headline);
    }
    let mut blocks = vec![json!({
        "type": "section", "block_id": "digest_summary",
        "text": mrkdwn(&text, limits::SECTION_TEXT),
    })];
    if let Some(longest) = overdue.as_ref().and_then(|part| part.longest.as_ref()) {
        blocks.push(json!({
            "type": "section", "block_id": "digest_overdue",
            "text": mrkdwn(longest, limits::SECTION_TEXT),
        }));
    }
    if digest.pending > 0 {
        blocks.push(start_reviewing_block("digest_start"));
    }
    (text, blocks)
}

/// The digest's overdue part as it is shown.
struct OverduePart {
    /// The reviewers' user groups, each as a mention, to open the digest
    /// with (so that the notification carries them); empty when nothing
    /// is overdue.
    mention: String,
    /// Appended to the digest's first paragraph.
    headline: String,
    /// The lectures that waited longest, a line each, under a heading;
    /// None when nothing is overdue.
    longest: Option<String>,
}

fn overdue_part(overdue: &Overdue) -> OverduePart {
    let sla = span_label(overdue.sla);
    if overdue.lectures == 0 {
        return OverduePart {
            mention: String::new(),
            headline: format!("Nothing has waited longer than {sla}"),
            longest: None,
        };
    }
    // Slack's syntax for a user group mention, `<!subteam^ID>`
    // (<https://docs.slack.dev/messaging/formatting-message-text#mentioning-groups>);
    // the ids are the setting's, checked at start-up to be capital letters
    // and digits, so they need no escaping.
    let mention: String = overdue
        .mention
        .iter()
        .map(|group| format!("<!subteam^{group}> "))
        .collect();
    let headline = format!(
        ":alarm_clock: *{} lecture(s) overdue*, waiting longer than {sla} for review",
        overdue.lectures
    );
    let mut lines = vec!["*Waiting longest:*".to_owned()];
    for lecture in overdue.longest.iter().take(DIGEST_OVERDUE_NAMED) {
        let title = lecture.title.as_deref().unwrap_or("(not in the catalogue)");
        lines.push(format!(
            "• {} `{}` since {}",
            embed_mrkdwn(&or_placeholder(title, "(untitled lecture)"), TAG_CHARS),
            escape_mrkdwn(&shorten(&lecture.lecture_external_id, LECTURE_ID_CHARS)),
            lecture.since.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    let unnamed = overdue.lectures - overdue.longest.len().min(DIGEST_OVERDUE_NAMED) as i64;
    if unnamed > 0 {
        lines.push(format!("…and {unnamed} more"));
    }
    OverduePart {
        mention,
        headline,
        longest: Some(lines.join("\n")),
    }
}

/// An actions block with **Start reviewing** (a review session), for the
/// digest and `/tags pending`.
pub fn start_reviewing_block(block_id: &str) -> Value {
    json!({
        "type": "actions", "block_id": block_id,
        "elements": [button("Start reviewing", actions::START_REVIEW, "start", Some("primary"))],
    })
}

/// A large sync run's progress message.
pub fn progress_text(progress: &crate::sync::RunProgress) -> String {
    if progress.finished {
        format!(
            ":white_check_mark: Sync run finished: {} of {} tags handled (report below).",
            progress.done, progress.total
        )
    } else {
        let percent = progress.done * 100 / progress.total.max(1);
        format!(
            ":arrows_counterclockwise: Syncing {} tags to Airtable: {} done ({percent}%)…",
            progress.total, progress.done
        )
    }
}

/// The message the weekly calibration chart comes with: a line per model,
/// and what past decisions say of the "Approve all" threshold.
pub fn calibration_comment(
    calibration: &crate::calibration::Calibration,
    threshold: f64,
) -> String {
    use crate::calibration::percent;
    let mut lines = vec![format!(
        ":chart_with_upwards_trend: *Weekly calibration* — how often reviewers approved each model's suggestions, by score (target {} approved).",
        percent(calibration.target)
    )];
    if let Some(note) = calibration.beside_threshold(threshold) {
        lines.push(format!("Approve all ≥ {threshold:.2}: {note}."));
    }
    for model in &calibration.models {
        lines.push(format!(
            "• {}: {}",
            escape_mrkdwn(&model.model),
            model.summary()
        ));
    }
    shorten(&lines.join("\n"), limits::SECTION_TEXT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::Stranded;

    fn digest(stranded: i64, dry_run: bool) -> Digest {
        Digest {
            pending: 0,
            pending_lectures: 0,
            oldest: None,
            unsynced: stranded,
            failed: 0,
            repaired: 0,
            removed_in_airtable: 0,
            stranded: Stranded {
                count: stranded,
                dry_run,
            },
            overdue: None,
        }
    }

    fn overdue(lectures: i64, longest: usize, mention: &[&str]) -> Overdue {
        Overdue {
            sla: std::time::Duration::from_secs(72 * 3600),
            lectures,
            longest: (0..longest)
                .map(|n| OverdueLecture {
                    lecture_external_id: format!("L{n}"),
                    title: Some(format!("הרצאה {n}")),
                    since: super::super::testing::at(i64::try_from(n).unwrap() * 60),
                })
                .collect(),
            mention: mention.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn with_overdue(overdue: Overdue) -> (String, Vec<Value>) {
        let mut digest = digest(0, false);
        digest.pending = 9;
        digest.overdue = Some(overdue);
        let (text, blocks) = digest_notice(&digest);
        super::super::testing::check_message(&Message {
            text: text.clone(),
            blocks: blocks.clone(),
        });
        (text, blocks)
    }

    #[test]
    fn the_digest_counts_overdue_lectures_names_the_oldest_five_and_mentions_the_groups() {
        let (text, blocks) = with_overdue(overdue(7, 5, &["S0REVIEWRS", "S0LEADS001"]));
        assert!(
            text.starts_with("<!subteam^S0REVIEWRS> <!subteam^S0LEADS001> :sunrise:"),
            "{text}"
        );
        assert!(
            text.contains("*7 lecture(s) overdue*, waiting longer than 3d for review"),
            "{text}"
        );
        let listed = blocks
            .iter()
            .find(|b| b["block_id"] == "digest_overdue")
            .and_then(|b| b["text"]["text"].as_str())
            .expect("the overdue lectures");
        let lines: Vec<&str> = listed.lines().collect();
        assert_eq!(lines.len(), 7, "{listed}");
        assert_eq!(
            lines[1],
            "• \u{2068}הרצאה 0\u{2069} `L0` since 2024-05-01 12:00 UTC"
        );
        assert!(lines[5].contains("`L4`"), "{listed}");
        assert_eq!(lines[6], "…and 2 more");
    }

    #[test]
    fn overdue_titles_and_ids_are_escaped() {
        let mut hostile = overdue(1, 1, &[]);
        hostile.longest[0].title = Some("<!channel> *now* <https://evil|click>".to_owned());
        hostile.longest[0].lecture_external_id = "L`1`<@U0DANA0001>".to_owned();
        let (text, blocks) = with_overdue(hostile);
        let all = format!("{text}{blocks:?}");
        for raw in [
            "<!channel>",
            "<https://evil",
            "<@U0DANA0001>",
            "*now*",
            "`1`",
        ] {
            assert!(!all.contains(raw), "{raw} in {all}");
        }
        assert!(all.contains("&lt;!channel&gt;"), "{all}");
        assert!(!text.contains("subteam"), "no groups, no mention: {text}");
    }

    #[test]
    fn with_nothing_overdue_the_digest_says_so_calmly_and_mentions_nobody() {
        let (text, blocks) = with_overdue(overdue(0, 0, &["S0REVIEWRS"]));
        assert!(!text.contains("subteam"), "{text}");
        assert!(
            text.ends_with("Nothing has waited longer than 3d"),
            "{text}"
        );
        assert!(!blocks.iter().any(|b| b["block_id"] == "digest_overdue"));
        // With the SLA off, nothing at all.
        let (text, _) = digest_notice(&digest(0, false));
        assert!(
            !text.contains("overdue") && !text.contains("waited"),
            "{text}"
        );
    }

    #[test]
    fn the_digest_names_stranded_approvals_and_what_to_run() {
        let (text, _) = digest_notice(&digest(0, false));
        assert!(!text.contains("tagbot enqueue"), "{text}");
        let (text, _) = digest_notice(&digest(3, false));
        assert!(
            text.contains("3 approved tag(s) are not queued for Airtable")
                && text.contains("run `tagbot enqueue`"),
            "{text}"
        );
        let (text, _) = digest_notice(&digest(2, true));
        assert!(
            text.contains("2 approved tag(s)")
                && text.contains("will need `tagbot enqueue` once DRY_RUN is off"),
            "{text}"
        );
    }
}
