//! Talking to Airtable: the Web API client, formula building, the base
//! schema, and the request budget every worker process shares.
//!
//! Everything here follows Airtable's documented contract: list with
//! `pageSize` <= 100 and `offset` paging, the POST `listRecords` variant when
//! a GET URL would pass 16,000 characters, at most 10 records per PATCH,
//! 5 requests per second per base and a 30-second pause after a 429.

mod budget;
mod client;
mod error;
pub mod formula;
mod schema;
pub mod webhooks;

pub use budget::RequestBudget;
pub use client::{
    AirtableClient, ListQuery, Record, RecordUpdate, RequestStats, MAX_RECORDS_PER_WRITE,
};
pub use error::{AirtableError, ErrorKind, FailureCategory};
pub use schema::{
    resolve_tags_field, BaseSchema, FieldSchema, SchemaProblem, TableSchema, TagsField,
};
