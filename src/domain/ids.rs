//! Identifiers: a lecture's external id, a tag id, a suggestion's row id.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains a control character")]
    ControlCharacter { kind: &'static str },
    #[error("a suggestion id is a positive whole number; got {0:?}")]
    Suggestion(String),
}

const MAX_ID_CHARS: usize = 255;

fn parse_text_id(kind: &'static str, raw: &str) -> Result<String, IdError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(IdError::TooLong {
            kind,
            max: MAX_ID_CHARS,
        });
    }
    if id.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter { kind });
    }
    Ok(id.to_owned())
}

/// Unicode's format characters (general category Cf, Unicode 15): they
/// render as nothing, or only steer the text around them (zero-width
/// spaces and joiners, direction marks, embeddings and isolates, the byte
/// order mark, soft hyphen, tag characters). An id holding one looks like
/// `L1042` and is not, so it matches nothing in Airtable: `tagbot import`
/// refuses such ids. Ids already in the catalogue are taken as they are
/// (and shown escaped).
pub fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                parse_text_id($kind, raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_id!(
    /// A lecture's external id, the key shared with the Airtable Lectures table.
    LectureId,
    "lecture id"
);
text_id!(
    /// A tag's id in the catalogue's `tags` table.
    TagId,
    "tag id"
);

/// A row of `lecture_tag_suggestions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SuggestionId(i64);

impl SuggestionId {
    pub fn new(id: i64) -> Result<Self, IdError> {
        if id > 0 {
            Ok(SuggestionId(id))
        } else {
            Err(IdError::Suggestion(id.to_string()))
        }
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        raw.trim()
            .parse::<i64>()
            .ok()
            .and_then(|id| SuggestionId::new(id).ok())
            .ok_or_else(|| IdError::Suggestion(raw.to_owned()))
    }

    /// An id read back from the identity column, which only hands out
    /// positive numbers.
    pub(crate) fn from_db(id: i64) -> Self {
        SuggestionId(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for SuggestionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_are_trimmed_and_checked() {
        assert_eq!(LectureId::parse("  L-1 ").unwrap().as_str(), "L-1");
        assert_eq!(
            TagId::parse(" ").unwrap_err(),
            IdError::Empty { kind: "tag id" }
        );
        assert!(LectureId::parse("a\u{0}b").is_err());
        for hidden in [
            '\u{200B}', '\u{200F}', '\u{202E}', '\u{2067}', '\u{FEFF}', '\u{00AD}',
        ] {
            assert!(is_invisible_format(hidden), "{:04X}", u32::from(hidden));
        }
        assert!(!is_invisible_format('א') && !is_invisible_format('L'));
        assert_eq!(TagId::parse("פילוסופיה").unwrap().as_str(), "פילוסופיה");
        assert!(LectureId::parse(&"x".repeat(256)).is_err());
        // Quotes, braces and Hebrew are ordinary id characters.
        assert!(LectureId::parse("הרצאה \"1\" {x}").is_ok());
    }

    #[test]
    fn suggestion_ids_are_positive() {
        assert_eq!(SuggestionId::parse("42").unwrap().get(), 42);
        assert!(SuggestionId::parse("0").is_err());
        assert!(SuggestionId::parse("-3").is_err());
        assert!(SuggestionId::parse("4x").is_err());
    }
}
