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
#[derive(Debug, Clone, Copy)]
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
}

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
        if digest.failed > 0 { " (use Retry failed on their messages, or /tags retry <lecture>)" } else { "" }
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
    let mut blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": shorten(&text, limits::SECTION_TEXT) } }),
    ];
    if digest.pending > 0 {
        blocks.push(start_reviewing_block("digest_start"));
    }
    (text, blocks)
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
        }
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
