//! The Slack face of tagbot, in layers that only look down:
//!
//! - [`transport`]: Slack's requests as they arrive — the HTTP endpoints
//!   ([`transport::http`], each body checked by [`transport::signature`],
//!   on connections [`transport::listen`] keeps within their time and
//!   number) and Socket Mode ([`transport::socket`]);
//! - [`dispatch`]: a click acknowledged under a permit of the
//!   [`click_queue`] and handed to its handler in the background;
//! - [`handlers`]: one module per surface — buttons and menus
//!   ([`handlers::interactions`], read by [`handlers::click`]), `/tags`
//!   ([`handlers::commands`]), Events API callbacks ([`handlers::events`]),
//!   review sessions ([`handlers::sessions`]), the App Home
//!   ([`handlers::home`]);
//! - [`output`]: what tagbot sends — the Web API client ([`output::api`])
//!   at the pace [`output::pacing`] sets, the review messages
//!   ([`output::poster`]), the report channel ([`output::notify`]);
//! - [`render`]: Block Kit, no I/O.
//!
//! Beside them: [`app`], the state and clients every layer shares (it
//! calls no handler); [`payload`], Slack's payloads as tagbot reads them;
//! [`card`], a lecture as Slack shows it; [`reviewers`], who may decide.
//! It is put together, and run with the sync worker, by
//! [`crate::startup`].
pub mod app;
pub mod card;
pub mod click_queue;
pub mod dispatch;
pub mod handlers;
pub mod output;
pub mod payload;
pub mod render;
pub mod reviewers;
pub mod transport;
