//! Slack's requests as they arrive: the HTTP endpoints, the signature
//! every body is checked against, the connection limits, and Socket Mode.
//! They read a request, answer Slack in time, and pass it down.
pub mod http;
pub mod listen;
pub mod signature;
pub mod socket;
