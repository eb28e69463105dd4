//! The suggestion state machine, the one place its transitions are written in
//! Rust. The database mirrors it in `tagbot_transition_action` (migrations
//! 0003 and 0018); a test walks every pair of statuses through both and
//! compares.

use std::fmt;
use std::str::FromStr;

/// Where a suggestion stands in review and sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuggestionStatus {
    Pending,
    Approved,
    Rejected,
    Synced,
    Failed,
}

impl SuggestionStatus {
    pub const ALL: [SuggestionStatus; 5] = [
        SuggestionStatus::Pending,
        SuggestionStatus::Approved,
        SuggestionStatus::Rejected,
        SuggestionStatus::Synced,
        SuggestionStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SuggestionStatus::Pending => "pending",
            SuggestionStatus::Approved => "approved",
            SuggestionStatus::Rejected => "rejected",
            SuggestionStatus::Synced => "synced",
            SuggestionStatus::Failed => "failed",
        }
    }

    /// Whether a reviewer has already decided this suggestion.
    pub fn is_decided(self) -> bool {
        !matches!(self, SuggestionStatus::Pending)
    }
}

impl fmt::Display for SuggestionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown suggestion status {0:?}")]
pub struct StatusParseError(pub String);

impl FromStr for SuggestionStatus {
    type Err = StatusParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SuggestionStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| StatusParseError(s.to_owned()))
    }
}

/// A status change the state machine allows. There is no other way from one
/// status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    Approve,
    Reject,
    SyncOk,
    SyncFail,
    Retry,
    /// An approval taken back within the undo window, before its tag left
    /// for Airtable (the database checks when, who and whether).
    UndoApproval,
    /// A rejection taken back within the undo window.
    UndoRejection,
}

impl Transition {
    pub const ALL: [Transition; 7] = [
        Transition::Approve,
        Transition::Reject,
        Transition::SyncOk,
        Transition::SyncFail,
        Transition::Retry,
        Transition::UndoApproval,
        Transition::UndoRejection,
    ];

    /// The only status this transition starts from.
    pub fn from(self) -> SuggestionStatus {
        match self {
            Transition::Approve | Transition::Reject => SuggestionStatus::Pending,
            Transition::SyncOk | Transition::SyncFail | Transition::UndoApproval => {
                SuggestionStatus::Approved
            }
            Transition::Retry => SuggestionStatus::Failed,
            Transition::UndoRejection => SuggestionStatus::Rejected,
        }
    }

    /// The status this transition leads to.
    pub fn to(self) -> SuggestionStatus {
        match self {
            Transition::Approve | Transition::Retry => SuggestionStatus::Approved,
            Transition::Reject => SuggestionStatus::Rejected,
            Transition::SyncOk => SuggestionStatus::Synced,
            Transition::SyncFail => SuggestionStatus::Failed,
            Transition::UndoApproval | Transition::UndoRejection => SuggestionStatus::Pending,
        }
    }

    /// The transition from one status to another, if the machine has one.
    pub fn between(from: SuggestionStatus, to: SuggestionStatus) -> Option<Transition> {
        Transition::ALL
            .into_iter()
            .find(|t| t.from() == from && t.to() == to)
    }

    /// The audit action this transition is recorded as.
    pub fn action(self) -> Action {
        match self {
            Transition::Approve => Action::Approve,
            Transition::Reject => Action::Reject,
            Transition::SyncOk => Action::SyncOk,
            Transition::SyncFail => Action::SyncFail,
            Transition::Retry => Action::Retry,
            Transition::UndoApproval | Transition::UndoRejection => Action::Undo,
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action().as_str())
    }
}

/// What an audit event records. Status-changing actions mirror `Transition`;
/// `Enqueue` and a transient `SyncFail` are recorded without a status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Approve,
    Reject,
    Enqueue,
    SyncOk,
    SyncFail,
    Retry,
    Undo,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Enqueue => "enqueue",
            Action::SyncOk => "sync_ok",
            Action::SyncFail => "sync_fail",
            Action::Retry => "retry",
            Action::Undo => "undo",
        }
    }

    /// The past tense a person reads: "approved by Dana".
    pub fn past_tense(self) -> &'static str {
        match self {
            Action::Approve => "approved",
            Action::Reject => "rejected",
            Action::Enqueue => "queued for sync",
            Action::SyncOk => "synced",
            Action::SyncFail => "failed to sync",
            Action::Retry => "sent back to sync",
            Action::Undo => "taken back",
        }
    }
}

impl FromStr for Action {
    type Err = StatusParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Action::Approve,
            Action::Reject,
            Action::Enqueue,
            Action::SyncOk,
            Action::SyncFail,
            Action::Retry,
            Action::Undo,
        ]
        .into_iter()
        .find(|action| action.as_str() == s)
        .ok_or_else(|| StatusParseError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_seven_legal_transitions_among_twenty_five_pairs() {
        let legal: Vec<_> = SuggestionStatus::ALL
            .into_iter()
            .flat_map(|from| SuggestionStatus::ALL.map(|to| (from, to)))
            .filter_map(|(from, to)| Transition::between(from, to))
            .collect();
        assert_eq!(legal.len(), 7);
        for t in Transition::ALL {
            assert!(legal.contains(&t));
        }
    }

    #[test]
    fn synced_has_no_way_out_and_rejected_only_undo() {
        for to in SuggestionStatus::ALL {
            assert_eq!(Transition::between(SuggestionStatus::Synced, to), None);
            let expected = (to == SuggestionStatus::Pending).then_some(Transition::UndoRejection);
            assert_eq!(
                Transition::between(SuggestionStatus::Rejected, to),
                expected
            );
        }
    }

    #[test]
    fn an_undo_takes_a_decision_back_to_pending() {
        for status in [SuggestionStatus::Approved, SuggestionStatus::Rejected] {
            let undo = Transition::between(status, SuggestionStatus::Pending).unwrap();
            assert_eq!(undo.action(), Action::Undo);
        }
        for status in [SuggestionStatus::Synced, SuggestionStatus::Failed] {
            assert_eq!(Transition::between(status, SuggestionStatus::Pending), None);
        }
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in SuggestionStatus::ALL {
            assert_eq!(status.as_str().parse::<SuggestionStatus>(), Ok(status));
        }
        assert!("Pending".parse::<SuggestionStatus>().is_err());
    }
}
