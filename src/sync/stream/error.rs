//! What can go wrong reading or setting up the change stream.

use super::payload::BrokenHook;
use crate::airtable::AirtableError;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("Airtable: {0}")]
    Airtable(#[from] AirtableError),
    #[error("database: {0}")]
    Database(#[from] crate::storage::Error),
    #[error(transparent)]
    Broken(#[from] BrokenHook),
    /// A broken stream's salvage left repairs it could not write yet (a
    /// transient failure): the stream is set up again once they are.
    #[error("{0} repairs of the broken change stream are not written yet; it is set up again once they are")]
    Unsalvaged(usize),
}
