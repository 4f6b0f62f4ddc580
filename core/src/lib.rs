//! # secrets-core
//!
//! The security core of a self-hosted platform or a multi-tenant SaaS back
//! end, as one library: encryption at rest today, and (as the project grows)
//! password hashing, API and agent tokens, JWT sessions, RBAC, a
//! tamper-evident audit log, signed webhooks and OAuth helpers, all on
//! tenant-scoped storage. It makes no network call of its own.
//!
//! ## Encryption at rest
//!
//! Values are sealed with AES-256-GCM under a [`KeyRing`](crypto::KeyRing) of
//! versioned data keys derived from one [`MasterKey`](crypto::MasterKey).
//! Every envelope names its key and is bound to a
//! [`Context`](crypto::Context) (tenant, kind, name), so a ciphertext copied
//! anywhere else fails to open; rotation adds a key without downtime and
//! [`rewrap`](crypto::KeyRing::rewrap) moves old values onto it.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::crypto::{Context, KeyRing, MasterKey};
//!
//! // In production: MasterKey::from_base64(&std::env::var("SECRETS_MASTER_KEY")?)
//! let ring = KeyRing::new(MasterKey::generate()?);
//! let ctx = Context::new(["tenant-1", "provider_key", "openai"]);
//!
//! let sealed = ring.seal(b"sk-live-123", &ctx)?;
//! let opened = ring.open(&sealed, &ctx)?;
//! assert_eq!(opened.expose_secret(), b"sk-live-123");
//! assert_eq!(format!("{opened:?}"), "SecretBytes([REDACTED])");
//! # Ok(()) }
//! ```
//!
//! Byte formats are specified in `docs/FORMATS.md`; what is and is not
//! protected in `docs/THREAT_MODEL.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
// Unit tests may unwrap and index: a panic there is a failing test.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod audit;
pub mod clock;
pub mod crypto;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
pub mod gate;
pub mod headers;
mod hex32;
mod id;
pub mod jwt;
pub mod login;
pub mod names;
pub mod oauth;
pub mod password;
pub mod rbac;
mod secret;
pub mod store;
pub mod token;
pub mod vault;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{Error, Result};
pub use id::{TenantId, UserId};
pub use secret::{SecretBytes, SecretString};

/// The README's code blocks, compiled and run as doctests so they never rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
