//! What tagbot sends Slack: the Web API client and its pacing, the review
//! messages kept current (`poster`), and the report channel's posts
//! (`notify`).
pub mod api;
pub mod notify;
pub mod pacing;
pub mod poster;
