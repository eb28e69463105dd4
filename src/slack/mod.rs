//! The Slack face of tagbot: review messages and their buttons, the
//! details modal, `/tags`, and posts to the team channel.
//!
//! - [`http`] receives Slack's requests, each checked by [`signature`], on
//!   connections [`listen`] keeps within their time and number;
//! - [`payload`] reads them, [`interactions`] and [`commands`] act on them;
//! - [`card`] is what a review message shows, [`render`] turns it into
//!   Block Kit, [`store`] reads it and keeps message references, and
//!   [`poster`] posts and updates the messages, [`notify`] posts failures,
//!   run reports and the daily digest to the report channel;
//! - [`api`] talks to the Slack Web API at the pace [`pacing`] sets;
//!   [`app`] is the state they share;
//! - [`serve`] runs it all, with the sync worker, until shutdown; [`socket`]
//!   is Socket Mode, for apps without a public URL.
pub mod api;
pub mod app;
pub mod card;
pub mod click;
pub mod click_queue;
pub mod clicks;
pub mod commands;
pub mod events;
pub mod home;
pub mod http;
pub mod interactions;
pub mod listen;
pub mod notify;
pub mod pacing;
pub mod payload;
pub mod poster;
pub mod render;
pub mod reviewers;
pub mod serve;
pub mod sessions;
pub mod signature;
pub mod socket;
