//! The Vault, through its public API: identity, access and audit, each test
//! on every storage backend (see `fixture.rs`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod access_eddsa;
mod agents;
mod audit_log;
mod bearer;
mod escalation;
mod fixture;
mod gate;
mod isolation;
mod keys;
mod oauth;
mod oauth_lease;
mod refresh;
mod require;
mod secrets;
mod settings;
mod tenant_keys;
mod tokens;
mod users;
mod webhooks;
