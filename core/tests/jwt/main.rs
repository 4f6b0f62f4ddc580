//! Integration tests of JWT access tokens, through the public API only.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod attacks;
mod eddsa;
mod eddsa_vectors;
mod interop;
mod properties;
mod tokens;
mod vectors;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrets_core::{Error, Result};

/// The base64url (no padding) of `bytes`, as in a JWS.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (no padding).
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

/// A compact JWS built by hand (independently of `jsonwebtoken`): the two
/// JSON texts as given, signed with HMAC-SHA-256, or HMAC-SHA-384 if
/// `sha384`.
pub fn sign(header: &str, payload: &str, key: &[u8], sha384: bool) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let tag = if sha384 {
        let mut mac = <Hmac<sha2::Sha384> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    } else {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    format!("{message}.{}", b64(tag))
}

/// The reason of a refusal; panics on success or any other error.
pub fn reason<T: std::fmt::Debug>(result: Result<T>) -> &'static str {
    match result {
        Err(Error::InvalidToken { reason }) => reason.as_str(),
        other => panic!("expected Error::InvalidToken, got {other:?}"),
    }
}
