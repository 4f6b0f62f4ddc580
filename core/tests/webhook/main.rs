//! Webhooks through the public API: the Standard Webhooks vectors published
//! by the specification's libraries (`core/tests/data/standard_webhooks_vectors.json`),
//! RFC 4231 through the GitHub path, property tests for every round trip and
//! tampering claim, and a table of bad input with the error each one gets.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bad_input;
mod properties;
mod vectors;

use secrets_core::Timestamp;
use secrets_core::webhook::{SignedHeaders, WebhookSecret};

/// The three signed headers, owned, in the shape `verify` takes.
pub(crate) struct Owned(pub Vec<(String, String)>);

impl Owned {
    pub(crate) fn from_signed(signed: &SignedHeaders) -> Self {
        Self(
            signed
                .pairs()
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        )
    }

    pub(crate) fn borrowed(&self) -> Vec<(&str, &str)> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    pub(crate) fn set(&mut self, name: &str, value: &str) {
        for (n, v) in &mut self.0 {
            if n == name {
                *v = value.to_owned();
            }
        }
    }
}

pub(crate) fn at(seconds: i64) -> Timestamp {
    Timestamp::from_unix_seconds(seconds)
}

pub(crate) fn secret(byte: u8) -> WebhookSecret {
    WebhookSecret::from_bytes(&[byte; 32]).unwrap()
}
