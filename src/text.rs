//! Plain-text helpers shared by the terminal's reports (a sync run's
//! report, calibration): text from elsewhere kept to one line. The Slack
//! surfaces escape with `slack::render` instead. Also [`Words`]: a
//! sentence tagbot says to a person that names other people, written so
//! each surface can show the names its own way.

use std::fmt;

/// A sentence of tagbot's own ("already approved by Dana at …") with
/// people's names in it. The names are whatever people chose, so a surface
/// passes each through `name`: a Slack surface escapes it and isolates its
/// direction (a Hebrew name in an English sentence would otherwise reorder
/// the words around it); a log line or the terminal writes it as typed
/// (`Display`). Everything else written is tagbot's own words.
pub trait Words {
    fn write_words(&self, out: &mut dyn fmt::Write, name: &dyn Fn(&str) -> String) -> fmt::Result;

    /// The sentence with each name shown by `name`.
    fn words_with(&self, name: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_words(&mut out, name);
        out
    }
}

/// A name as typed, for `Display`: `Words::write_words(f, &as_typed)`.
pub fn as_typed(name: &str) -> String {
    name.to_owned()
}

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
