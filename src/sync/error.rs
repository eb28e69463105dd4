//! Why a sync run could not go on: the database, Airtable, or a base that
//! does not match the configuration.

use crate::airtable::{AirtableError, SchemaProblem};
use crate::storage;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("database error during sync: {0}")]
    Database(#[from] storage::Error),
    #[error("Airtable: {0}")]
    Airtable(#[from] AirtableError),
    #[error("the Airtable base does not match the configuration: {0}")]
    Schema(SchemaProblem),
}
