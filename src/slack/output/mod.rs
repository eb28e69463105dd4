//! What tagbot sends Slack: the Web API client (`api`, each call made by
//! `client` at the pace `pacing` sets, who people are kept by
//! `directory`), the review messages kept current (`poster`), and the
//! report channel's posts (`notify`).
pub mod api;
pub mod client;
pub mod directory;
pub mod notify;
pub mod pacing;
pub mod poster;
