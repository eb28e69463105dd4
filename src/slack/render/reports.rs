//! The sync run report as it appears in the report channel and `/tags
//! report`: a headline, and the report in a code block whose contents are
//! escaped.

use super::*;

/// A sync run's report as a mrkdwn code block within one text's limit.
pub fn report_block(report: &crate::sync::RunReport) -> String {
    // The report's lines are tagbot's; what is in them (lecture ids,
    // Airtable's messages) is escaped line by line, so nothing in it can
    // close the code block or ping anyone.
    let escaped: Vec<String> = report.to_string().lines().map(escape_mrkdwn).collect();
    // Room for the six backticks.
    format!(
        "```{}```",
        shorten(&escaped.join("\n"), limits::SECTION_TEXT - 6)
    )
}

/// A run's post in the report channel: its headline (also the fallback
/// text) and blocks, the report in a code block under it.
pub fn run_report_post(report: &crate::sync::RunReport) -> (String, Vec<Value>) {
    let headline = match &report.aborted {
        // The body carries the reason; the headline says it stopped.
        Some(_) => format!(
            ":octagonal_sign: Sync stopped: {} synced, {} failed before it stopped; approved tags wait in the queue",
            report.synced, report.failed
        ),
        None => format!(
            ":bar_chart: Sync run: {} synced, {} failed, {} to retry{}",
            report.synced,
            report.failed,
            report.retried,
            if report.dry_run { " (dry run)" } else { "" }
        ),
    };
    let blocks = vec![
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": headline } }),
        json!({ "type": "section", "text": { "type": "mrkdwn", "text": report_block(report) } }),
    ];
    (headline, blocks)
}
