//! Plain-text helpers shared by the terminal's reports (a sync run's
//! report, calibration): text from elsewhere kept to one line. The Slack
//! surfaces escape with `slack::render` instead.

/// Text from elsewhere (Airtable's messages, lecture ids, model names) on
/// one line of a report: a line break in it cannot pose as a line of the
/// report.
pub(crate) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// A rate as a whole percentage: "81%".
pub fn percent(rate: f64) -> String {
    format!("{:.0}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_controls_become_spaces() {
        assert_eq!(one_line("a\nb\r\u{2028}c\td"), "a b  c d");
        assert_eq!(one_line("הרצאה"), "הרצאה");
    }
}
