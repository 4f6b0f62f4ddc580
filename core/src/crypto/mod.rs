//! Encryption at rest: AES-256-GCM envelopes under a rotating [`KeyRing`].
//!
//! - [`MasterKey`]: the one secret the host keeps (32 random bytes, or a
//!   passphrase stretched by [`KdfParams`] with PBKDF2-HMAC-SHA256).
//! - [`KeyRing`]: data keys derived from it, numbered by [`KeyId`]; one seals,
//!   all open; [`KeyRing::rotate`] adds one.
//! - [`KeyRing::seal`] / [`KeyRing::open`] / [`KeyRing::rewrap`]: values
//!   bound to a [`Context`], in the [`Envelope`] format of `docs/FORMATS.md`.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::Error;
//! use secrets_core::crypto::{Context, KeyRing, MasterKey};
//!
//! let ring = KeyRing::new(MasterKey::generate()?);
//! let sealed = ring.seal(b"whsec_...", &Context::new(["tenant-a", "webhook_secret", "github"]))?;
//!
//! // The same bytes under another tenant's context do not open.
//! let other = Context::new(["tenant-b", "webhook_secret", "github"]);
//! assert!(matches!(ring.open(&sealed, &other), Err(Error::Unauthenticated)));
//! # Ok(()) }
//! ```

pub(crate) mod aead;
mod envelope;
mod kdf;
pub(crate) mod keyring;
mod master;

use zeroize::Zeroizing;

pub(crate) use envelope::TenantKey;
pub use envelope::{
    Context, ENVELOPE_VERSION, Envelope, HEADER_LEN, MAX_ENVELOPE_LEN, MAX_PLAINTEXT_LEN, OVERHEAD,
    TENANT_ENVELOPE_VERSION,
};
pub use kdf::{
    DEFAULT_ITERATIONS, KdfParams, MAX_ITERATIONS, MAX_SALT_LEN, MIN_ITERATIONS, MIN_SALT_LEN,
};
pub use keyring::{KeyId, KeyRing, MAX_KEY_ID, ROTATE_AFTER, SEAL_LIMIT};
pub use master::{MASTER_KEY_LEN, MasterKey};

use crate::error::{Error, Result};

/// `N` bytes from the operating system's random number generator (getrandom).
///
/// Never a user-space generator: a forked process (Python multiprocessing, a
/// pre-forking server) would repeat its stream and so repeat nonces.
pub(crate) fn random_bytes<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    getrandom::fill(out.as_mut()).map_err(|e| Error::Rng(e.to_string()))?;
    Ok(out)
}

/// HMAC-SHA256 keyed with 32 bytes. HMAC zero-pads a key shorter than the
/// hash's 64-byte block (RFC 2104), so padding here and using the infallible
/// constructor is the same MAC as keying with the 32 bytes themselves.
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> hmac::Hmac<sha2::Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    for (dst, src) in block.iter_mut().zip(key) {
        *dst = *src;
    }
    <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new(&(*block).into())
}
