//! Integration tests of encryption at rest, through the public API only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod envelope;
mod redaction;
mod vectors;
