//! The stand-ins' own test suite: each stand-in refuses what the real
//! service refuses, answers the way the real service answers, and the
//! sender signs as Slack documents.

mod airtable;
mod airtable_webhooks;
mod slack_answers;
mod slack_web;
mod socket_mode;
