//! Short-lived JWT access tokens: HS256 or EdDSA (Ed25519), signed with keys
//! derived from the [`KeyRing`](crate::crypto::KeyRing), validated against
//! an injected clock; the EdDSA public keys published as a JWKS.
//!
//! A [`JwtSigner`] is built once over a key ring ([`JwtSigner::new`] checks
//! the [`JwtConfig`] and derives the signing key). It issues an access token
//! for a user ([`AccessClaims`]: subject, tenant, role, scopes, credential
//! epoch, a random id, issued-at, not-before, expiry, issuer and audience)
//! and validates one, returning its claims.
//!
//! - **Keys.** The HMAC key of token-signing key *n* is the key ring's
//!   subkey `jwt/n`, that is `HMAC-SHA256(master key,
//!   "secrets-core/v1/subkey/jwt/" || n in decimal)`, independent of the data
//!   keys; the token's `kid` header is *n* in decimal. Tokens are signed
//!   under the ring's active key id and validated under any id the ring
//!   holds, so after [`KeyRing::rotate`](crate::crypto::KeyRing::rotate) the
//!   tokens already out keep working until they expire (15 minutes by
//!   default) while new ones carry the new `kid`. A missing or unknown `kid`
//!   is refused.
//! - **EdDSA** ([`JwtAlgorithm::EdDsa`] in [`JwtConfig::algorithm`]; HS256
//!   stays the default). The Ed25519 private key of key-ring key *n* is the
//!   subkey `jwt-ed25519/n`, its `kid` the RFC 7638 thumbprint of the public
//!   key. [`JwtSigner::jwks`] gives the public keys as a JWK Set (RFC 7517)
//!   for the host to publish: the newest [`JwtConfig::published_keys`] keys
//!   of the ring and the one its next rotation brings. Any service verifies
//!   a token with them and nothing else (PyJWT does, see
//!   `core/tests/interop/`); none can forge one, and none holds a key that
//!   opens a sealed value. [`Jwks::from_json`] and [`Jwks::verify`] are
//!   that verification in Rust, [`decode_eddsa`] the same for a raw public
//!   key.
//! - **One key, one algorithm.** Both algorithms are accepted whichever is
//!   configured, but a `kid` names exactly one: a decimal `kid` an HS256
//!   key, a thumbprint an Ed25519 key. A token whose `alg` is not its key's
//!   (an `HS256` token naming an Ed25519 key, whatever its MAC was keyed
//!   with, or the reverse) is refused before any signature is checked.
//! - **Validation** refuses a token over [`MAX_TOKEN_LEN`] bytes before
//!   reading it; reads exactly three base64url segments (no padding, no
//!   other alphabet, no whitespace); takes HS256 or EdDSA, pinned to the
//!   `kid` (`none`, `HS384`, `RS256`, case variants and every other `alg`
//!   are refused before any key is used); requires the `typ` header [`ACCESS_TOKEN_TYPE`];
//!   refuses a `crit` header and any repeated header or claim name; checks
//!   the signature in constant time; then `exp` and `nbf` against the `now`
//!   the caller passes (never the system clock) with a small leeway, and
//!   `iss` and `aud` exactly (an `aud` array is refused: tokens issued here
//!   carry one audience, a string). Every refusal is an
//!   [`Error::InvalidToken`] whose reason is a
//!   fixed string: the token never appears in an error.
//! - [`decode_hs256`] is the same verification for any claims type and a
//!   raw key, without the key ring (it is what the RFC 7515 vector runs on).
//!
//! `docs/FORMATS.md` gives the byte format; `core/tests/data/` pins it with
//! vectors.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use secrets_core::crypto::{KeyRing, MasterKey};
//! use secrets_core::jwt::{JwtConfig, JwtSigner};
//! use secrets_core::rbac::Role;
//! use secrets_core::{Error, TenantId, Timestamp, UserId};
//!
//! let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
//! let jwt = JwtSigner::new(JwtConfig::default(), ring)?;
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//!
//! let (token, issued) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Developer, vec!["secrets:read".into()], 0, now)?;
//! assert_eq!(jwt.validate(&token, now)?, issued);
//!
//! // Sixteen minutes later it has expired.
//! let later = now.saturating_add(Duration::from_secs(16 * 60));
//! assert!(matches!(jwt.validate(&token, later), Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::Expired })));
//! # Ok(()) }
//! ```
//!
//! ## No process-wide state
//!
//! Signing and verification run on the RustCrypto `hmac` and `sha2` crates
//! and `subtle`'s constant-time comparison (HS256) and on `ed25519-dalek`
//! (EdDSA), with `serde_json` and `base64` for the encoding. Nothing is installed or configured process-wide, so a
//! host that also uses a JWT library of its own (for example `jsonwebtoken`
//! with an RSA backend and its own `CryptoProvider`) is unaffected by this
//! module, in either direction.

mod claims;
mod config;
mod eddsa;
mod header;
mod json;
mod jws;
mod signer;

pub use claims::AccessClaims;
pub use config::{JwtAlgorithm, JwtConfig, MAX_LEEWAY, MAX_PUBLISHED_KEYS, MAX_TTL};
pub use eddsa::{Jwk, Jwks, decode_eddsa};
pub use jws::{MAX_TOKEN_LEN, MIN_KEY_LEN, decode_hs256};
pub use signer::JwtSigner;

use crate::error::{Error, TokenRejection};

/// The `typ` header of every access token (RFC 9068 section 2.1; explicit
/// typing per RFC 8725 section 3.11), checked on validation so that no other
/// kind of JWT is ever taken for an access token.
///
/// ```
/// assert_eq!(secrets_core::jwt::ACCESS_TOKEN_TYPE, "at+jwt");
/// ```
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// A refusal with a fixed reason: nothing of the token goes into it.
fn rejected(reason: TokenRejection) -> Error {
    Error::InvalidToken { reason }
}
