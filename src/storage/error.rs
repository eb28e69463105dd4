//! What a storage call's failure means to its caller, read once from
//! sqlx's error: the database is away (wait), no pooled connection came
//! free (wait, and say so: the pool is too small or held), a transaction
//! lost to a concurrent one (try again), the row asked for is not there, or
//! anything else (a statement or a rule of the schema refused; a bug to
//! log). Callers outside `storage` match on these and never on sqlx's
//! variants.
//!
//! Each variant's words are for the operator's log: the cause as the
//! database or driver said it, with no connection string.

/// A storage call that failed; nothing it would have written was kept
/// unless the caller's transaction commits anyway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database is away: restarting, unreachable, the connection
    /// dropped, out of connections. Nobody's fault; worth waiting out.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// No pooled connection came free within the pool's acquire timeout:
    /// the pool is too small for the load, or queries hold its
    /// connections. The database itself may be fine; worth waiting out,
    /// but not by looking at the database.
    #[error("no database connection came free in time (pool timed out while waiting for an open connection)")]
    PoolTimedOut,
    /// Postgres aborted the transaction for a concurrent one's sake
    /// (serialization failure, deadlock): running it again may succeed.
    #[error("the transaction conflicted with a concurrent one: {0}")]
    Conflict(#[source] sqlx::Error),
    /// The status trigger refused an undo (migration 0018), for the reason
    /// its SQLSTATE names. Review checks the same rules first; this is
    /// what a race at the rules' edge (the window closing between the
    /// check and the change) reads as.
    #[error("the database refused an undo ({0}): {1}")]
    UndoRefused(UndoRefusal, #[source] sqlx::Error),
    /// The vote rules refused a vote or a decision (migration 0022), for
    /// the reason its SQLSTATE names: what a race between two voters reads
    /// as, review having checked the same rules first.
    #[error("the database refused a vote ({0}): {1}")]
    VoteRefused(VoteRefusal, #[source] sqlx::Error),
    /// A statement that expected a row found none.
    #[error("no rows returned by a query that expected to return at least one row")]
    NotFound,
    /// Anything else: a refused statement (a trigger's or a constraint's
    /// rule, a missing privilege), a row that would not decode.
    #[error(transparent)]
    Other(sqlx::Error),
}

impl Error {
    /// Whether waiting may cure it: the database is away, or every
    /// pooled connection is busy. Never the statement's fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable(_) | Error::PoolTimedOut)
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Error {
        match &err {
            sqlx::Error::PoolTimedOut => Error::PoolTimedOut,
            sqlx::Error::RowNotFound => Error::NotFound,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed => Error::Unavailable(err),
            sqlx::Error::Database(db) => match db.code().as_deref().map(sql_state_meaning) {
                Some(Meaning::Unavailable) => Error::Unavailable(err),
                Some(Meaning::Conflict) => Error::Conflict(err),
                Some(Meaning::Undo(refusal)) => Error::UndoRefused(refusal, err),
                Some(Meaning::Vote(refusal)) => Error::VoteRefused(refusal, err),
                _ => Error::Other(err),
            },
            _ => Error::Other(err),
        }
    }
}

/// Why the database refused an undo (migration 0018's SQLSTATEs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UndoRefusal {
    /// TB005: the decision's window has passed (or it had none).
    #[error("too late")]
    TooLate,
    /// TB006: not the decider's undo, and not on record as a lead's.
    #[error("not the decider")]
    NotTheDecider,
    /// TB007: the approval's sync item is no longer queued at attempt 0.
    #[error("the tag left for Airtable")]
    Left,
    /// TB008: the latest status change is not the decision taken back.
    #[error("not the latest decision")]
    NotLatest,
}

/// Why the database refused a vote, or a decision of a suggestion with
/// votes (migration 0022's SQLSTATEs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VoteRefusal {
    /// TB010: not pending, already voted, or not an active vote.
    #[error("not a vote that can be cast or withdrawn")]
    NotOpen,
    /// TB011: disputed (a lead decides), or a decision without agreement.
    #[error("needs agreement or a lead")]
    NeedsAgreement,
}

/// What a SQLSTATE says for a caller, where it says more than "refused".
#[derive(Debug, PartialEq, Eq)]
enum Meaning {
    Unavailable,
    Conflict,
    Undo(UndoRefusal),
    Vote(VoteRefusal),
    Refused,
}

fn sql_state_meaning(code: &str) -> Meaning {
    match code {
        "TB005" => Meaning::Undo(UndoRefusal::TooLate),
        "TB006" => Meaning::Undo(UndoRefusal::NotTheDecider),
        "TB007" => Meaning::Undo(UndoRefusal::Left),
        "TB008" => Meaning::Undo(UndoRefusal::NotLatest),
        "TB010" => Meaning::Vote(VoteRefusal::NotOpen),
        "TB011" => Meaning::Vote(VoteRefusal::NeedsAgreement),
        // 40001 serialization failure, 40P01 deadlock detected: Postgres
        // chose this transaction to abort so the other could go on.
        "40001" | "40P01" => Meaning::Conflict,
        // Classes 08 (connection exception), 57 (operator intervention:
        // shutdown, restart, terminated backend) and 53 (insufficient
        // resources: too many connections).
        _ if ["08", "57", "53"]
            .iter()
            .any(|class| code.starts_with(class)) =>
        {
            Meaning::Unavailable
        }
        _ => Meaning::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_states_read_as_what_a_caller_does_about_them() {
        for (code, meaning) in [
            ("40001", Meaning::Conflict),
            ("40P01", Meaning::Conflict),
            ("08006", Meaning::Unavailable),
            ("57P01", Meaning::Unavailable),
            ("53300", Meaning::Unavailable),
            ("23505", Meaning::Refused),
            ("23514", Meaning::Refused),
            ("TB001", Meaning::Refused),
            ("TB005", Meaning::Undo(UndoRefusal::TooLate)),
            ("TB007", Meaning::Undo(UndoRefusal::Left)),
            ("TB010", Meaning::Vote(VoteRefusal::NotOpen)),
            ("TB011", Meaning::Vote(VoteRefusal::NeedsAgreement)),
            ("42501", Meaning::Refused),
        ] {
            assert_eq!(sql_state_meaning(code), meaning, "{code}");
        }
    }

    #[test]
    fn the_pool_and_the_driver_read_as_their_meaning() {
        assert!(matches!(
            Error::from(sqlx::Error::PoolTimedOut),
            Error::PoolTimedOut
        ));
        assert!(matches!(
            Error::from(sqlx::Error::RowNotFound),
            Error::NotFound
        ));
        let dropped = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(Error::from(sqlx::Error::Io(dropped)).is_unavailable());
        assert!(!Error::from(sqlx::Error::ColumnNotFound("x".into())).is_unavailable());
    }
}
