//! Domain types: values that exist only when valid (parse, don't validate).
//!
//! Everything that crosses into tagbot — an id from a Slack payload, a score
//! from an import file, an actor string from the database — is parsed into
//! one of these types at the boundary, so the code behind it never re-checks.

mod actor;
mod edit;
mod failure;
mod ids;
mod reason;
mod score;
mod status;

pub use actor::{Actor, ActorParseError};
pub use edit::{value_set, Author, Cell, Edit, EditKind, Values};
pub use failure::{Failure, FailureCategory, FailureCategoryParseError};
pub use ids::{is_invisible_format, IdError, LectureId, SuggestionId, TagId};
pub use reason::{RejectReason, RejectReasonParseError};
pub use score::{band_range, Score, ScoreError, BINS_PER_BAND, SCORE_BANDS, SCORE_BINS};
pub use status::{Action, StatusParseError, SuggestionStatus, Transition};
