//! The MACs every webhook signature is made of: HMAC-SHA256 under a key of
//! any length, and the Standard Webhooks `v1` signature built on it.

use base64::engine::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The signature version of the symmetric (HMAC-SHA256) scheme.
pub(super) const V1: &str = "v1";

/// Length of a base64 (padded) HMAC-SHA256: 32 bytes → 44 characters.
pub(super) const SIGNATURE_B64_LEN: usize = 44;

pub(super) type HmacSha256 = hmac::Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key` of any length, infallibly: RFC 2104 hashes a
/// key longer than the 64-byte block and zero-pads a shorter one, and keying
/// with that block is the same MAC as keying with the key itself. The one
/// path every webhook MAC here (Standard Webhooks and GitHub) goes through;
/// pinned by the RFC 4231 vectors.
pub(super) fn keyed_hmac(key: &[u8]) -> HmacSha256 {
    let mut block = Zeroizing::new([0u8; 64]);
    if key.len() > block.len() {
        let digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(key)));
        for (dst, src) in block.iter_mut().zip(digest.iter()) {
            *dst = *src;
        }
    } else {
        for (dst, src) in block.iter_mut().zip(key) {
            *dst = *src;
        }
    }
    HmacSha256::new(&(*block).into())
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`, fed
/// incrementally (no concatenated copy).
pub(super) fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed_hmac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The base64 of the v1 signature of `id.timestamp.payload` under the
/// keyed state `mac` (a [`WebhookSecret`](super::WebhookSecret)'s).
pub(super) fn v1_signature(
    mac: &HmacSha256,
    id: &str,
    timestamp: &str,
    payload: &[u8],
) -> Result<[u8; SIGNATURE_B64_LEN]> {
    let mut mac = mac.clone();
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", payload] {
        mac.update(part);
    }
    let mut out = [0u8; SIGNATURE_B64_LEN];
    match B64.encode_slice(mac.finalize().into_bytes(), &mut out) {
        Ok(SIGNATURE_B64_LEN) => Ok(out),
        _ => Err(Error::Internal {
            what: "webhook signature encoding",
        }),
    }
}
