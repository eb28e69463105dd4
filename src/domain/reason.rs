//! Why a tag was rejected: one of a fixed list (DESIGN.md, "Reasons").
//!
//! A reason travels from a Slack choice to the reject's event
//! (`details.reason`), and from there the status trigger copies it onto the
//! row while it stays rejected (migration 0020, whose list of reasons a
//! test compares with [`RejectReason::ALL`]). The model team reads the
//! counts per model and tag; reviewers read the labels.

use std::fmt;
use std::str::FromStr;

/// Why a reviewer rejected a suggested tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    WrongTopic,
    TooBroad,
    TooNarrow,
    Duplicate,
    Other,
}

impl RejectReason {
    /// Every reason, in the order menus offer them.
    pub const ALL: [RejectReason; 5] = [
        RejectReason::WrongTopic,
        RejectReason::TooBroad,
        RejectReason::TooNarrow,
        RejectReason::Duplicate,
        RejectReason::Other,
    ];

    /// The stored name: in events, exports, and `--json` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::WrongTopic => "wrong_topic",
            RejectReason::TooBroad => "too_broad",
            RejectReason::TooNarrow => "too_narrow",
            RejectReason::Duplicate => "duplicate",
            RejectReason::Other => "other",
        }
    }

    /// What people read.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::WrongTopic => "Wrong topic",
            RejectReason::TooBroad => "Too broad",
            RejectReason::TooNarrow => "Too narrow",
            RejectReason::Duplicate => "Duplicate of another tag",
            RejectReason::Other => "Other",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Written by its stored name, as exports and `--json` reports give it.
impl serde::Serialize for RejectReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A string that names no reject reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown reject reason {0:?} (one of wrong_topic, too_broad, too_narrow, duplicate, other)"
)]
pub struct RejectReasonParseError(pub String);

impl FromStr for RejectReason {
    type Err = RejectReasonParseError;

    fn from_str(s: &str) -> Result<RejectReason, RejectReasonParseError> {
        RejectReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| RejectReasonParseError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_reads_back_from_its_name() {
        for reason in RejectReason::ALL {
            assert_eq!(reason.as_str().parse::<RejectReason>(), Ok(reason));
        }
    }

    #[test]
    fn names_outside_the_list_are_refused() {
        for name in ["", "Wrong topic", "WRONG_TOPIC", "wrong_topic ", "none"] {
            assert!(name.parse::<RejectReason>().is_err(), "{name:?}");
        }
    }
}
