//! Why a sync item did not reach Airtable, typed: a category that reports,
//! metrics and the database group by, and the detail people read.
//!
//! A failure is made once, where it happens (the tag mapping, the batch
//! planner, the Airtable client), and travels as this type to the queue,
//! the run report and Slack. Its category is stored in a column of its own
//! (`last_error_category`), so nothing ever splits a message to find it.

use std::fmt;
use std::str::FromStr;

/// The family a failure is counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureCategory {
    /// The lecture has no record in the Lectures table.
    LectureMissing,
    /// The lecture is on more than one record: which to write is unknown.
    LectureAmbiguous,
    /// The tag has no value to write (no tag record, no select option).
    TagMissing,
    /// Airtable's rate limit held the request back.
    RateLimit,
    /// The workspace's monthly API calls are used up.
    Quota,
    /// Airtable answered 5xx.
    Server,
    /// No answer arrived (connection, timeout).
    Network,
    /// The token was refused.
    Auth,
    NotFound,
    /// Airtable refused the values (422).
    Validation,
    Other,
}

impl FailureCategory {
    pub const ALL: [FailureCategory; 11] = [
        FailureCategory::LectureMissing,
        FailureCategory::LectureAmbiguous,
        FailureCategory::TagMissing,
        FailureCategory::RateLimit,
        FailureCategory::Quota,
        FailureCategory::Server,
        FailureCategory::Network,
        FailureCategory::Auth,
        FailureCategory::NotFound,
        FailureCategory::Validation,
        FailureCategory::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCategory::LectureMissing => "lecture_missing",
            FailureCategory::LectureAmbiguous => "lecture_ambiguous",
            FailureCategory::TagMissing => "tag_missing",
            FailureCategory::RateLimit => "rate_limit",
            FailureCategory::Quota => "quota",
            FailureCategory::Server => "server",
            FailureCategory::Network => "network",
            FailureCategory::Auth => "auth",
            FailureCategory::NotFound => "not_found",
            FailureCategory::Validation => "validation",
            FailureCategory::Other => "other",
        }
    }
}

impl fmt::Display for FailureCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure category {0:?}")]
pub struct FailureCategoryParseError(pub String);

impl FromStr for FailureCategory {
    type Err = FailureCategoryParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FailureCategory::ALL
            .into_iter()
            .find(|category| category.as_str() == s)
            .ok_or_else(|| FailureCategoryParseError(s.to_owned()))
    }
}

/// One failure: its category and what happened, in words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Failure {
    pub category: FailureCategory,
    pub detail: String,
}

impl Failure {
    pub fn new(category: FailureCategory, detail: impl Into<String>) -> Failure {
        Failure {
            category,
            detail: detail.into(),
        }
    }

    /// The same failure, with a note on how it ended ("gave up after 5
    /// tries") added to its detail.
    pub fn noted(&self, note: &str) -> Failure {
        Failure::new(self.category, format!("{} ({note})", self.detail))
    }
}

/// As people read it (and as `last_error` stores it): `tag_missing: t9`.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.category, self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_reads_back_from_its_stored_word() {
        for category in FailureCategory::ALL {
            assert_eq!(category.as_str().parse::<FailureCategory>(), Ok(category));
        }
        assert!("tag_gone".parse::<FailureCategory>().is_err());
    }

    #[test]
    fn a_failure_reads_category_first_and_keeps_notes_in_its_detail() {
        let failure = Failure::new(FailureCategory::TagMissing, "t9");
        assert_eq!(failure.to_string(), "tag_missing: t9");
        let gave_up = failure.noted("gave up after 5 tries");
        assert_eq!(gave_up.category, FailureCategory::TagMissing);
        assert_eq!(
            gave_up.to_string(),
            "tag_missing: t9 (gave up after 5 tries)"
        );
    }
}
