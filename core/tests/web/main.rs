//! Web-facing primitives through the public API: OAuth 2.0 helpers (PKCE,
//! state, token sets), security headers and CORS, and the deploy gate.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod gate;
mod headers;
mod oauth;
