//! The `secrets-core` binary, run as an operator runs it, against temp
//! SQLite stores (and PostgreSQL when SECRETS_CORE_POSTGRES_URL and
//! SECRETS_CORE_POSTGRES_OWNER_URL are set; skipped with a printed reason
//! otherwise). One test binary, one module per area.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs,
    unreachable_pub
)]

mod fixture;

mod audit;
mod bootstrap;
mod help;
mod json;
mod keygen;
mod keys;
mod postgres;
mod store;
mod tenant;
