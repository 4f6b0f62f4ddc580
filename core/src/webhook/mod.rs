//! Signed webhooks: the [Standard Webhooks] scheme, byte for byte, so that
//! any receiver using a Standard Webhooks library verifies what [`sign`](fn@sign)
//! produces and [`Verifier::verify`] accepts what any such sender produces;
//! plus GitHub-style `X-Hub-Signature-256` for build sources.
//!
//! Standalone: no Vault, no storage, no clock of its own (the caller passes
//! `now`). Replay protection (remembering message ids until they leave the
//! tolerance window) is the Vault's job; [`Verifier::verify`] returns the id
//! to remember.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::Timestamp;
//! use secrets_core::webhook::{self, Verifier, WebhookSecret};
//!
//! // Sender: one secret per endpoint, shown to its owner once as `whsec_...`.
//! let secret = WebhookSecret::generate()?;
//! let shown_once = secret.to_text();
//! let signed = webhook::sign(&[&secret], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 1_674_087_231, br#"{"type":"ping"}"#)?;
//!
//! // Receiver: parses the secret it was given, verifies the raw body.
//! let receiver_secret = WebhookSecret::parse(shown_once.expose_secret())?;
//! let pairs = signed.pairs();
//! let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
//! let now = Timestamp::from_unix_seconds(1_674_087_240);
//! let msg = Verifier::default().verify(&headers, br#"{"type":"ping"}"#, &[&receiver_secret], now)?;
//! assert_eq!(msg.id, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
//! # Ok(()) }
//! ```
//!
//! # Format
//!
//! ```text
//! secret            = "whsec_" base64(key)          ; key: 24 to 64 random bytes
//! signing key       = "whsk_" base64(seed)          ; v1a: the 32-byte Ed25519 seed (RFC 8032), sender only
//! public key        = "whpk_" base64(public)        ; v1a: the 32-byte Ed25519 public key, for receivers
//! signed content    = id "." timestamp "." payload  ; raw bytes, no separator escaping
//! webhook-id        = id                            ; 1 to 255 bytes, no ".", no whitespace or control characters
//! webhook-timestamp = timestamp                     ; unix seconds, decimal, no sign, no leading zeros
//! webhook-signature = entry *(" " entry)            ; at most 32 entries
//! entry             = version "," value             ; "v1," base64(HMAC-SHA256(key, signed content))
//!                                                   ; "v1a," base64(Ed25519(seed, signed content)), 64 bytes
//! ```
//!
//! - **base64** is the standard alphabet (`A-Z a-z 0-9 + /`) with `=`
//!   padding (RFC 4648 section 4), everywhere: in the secret and in the
//!   signature.
//! - **The secret is base64, not the key**: the HMAC key is the bytes that
//!   the text after `whsec_` *decodes to*. Keying the HMAC with the ASCII of
//!   `whsec_...` (or of the base64 text) is the most common interoperability
//!   bug; [`WebhookSecret::parse`] only accepts the encoded form, and
//!   [`WebhookSecret::from_bytes`] refuses bytes that start with `whsec_`.
//! - **Several signatures** (secret rotation): the sender signs with each
//!   secret and joins the `v1,...` entries with single spaces; a receiver
//!   accepts the message when any `v1` entry matches any of its secrets.
//!   Entries of other versions (`v1a` for the asymmetric scheme, future
//!   ones) are ignored; a header with no `v1` entry is refused.
//! - **Asymmetric signatures** (`v1a`, [`sign_asymmetric`],
//!   [`Verifier::verify_asymmetric`]): the same signed content, signed with
//!   Ed25519; receivers hold only the public key, so they can verify but
//!   never forge. A receiver verifying with public keys looks only at `v1a`
//!   entries, and one verifying with shared secrets only at `v1` entries:
//!   a `v1a` signature is never checked against an HMAC secret, nor a `v1`
//!   one against a public key, so a header mixing both verifies for either
//!   receiver on its own entries.
//! - **Verification** ([`Verifier::verify`]): header names are
//!   case-insensitive, each of the three must appear exactly once; the
//!   timestamp must be within [`Verifier::tolerance`] of `now` (both
//!   directions; exactly at the tolerance is accepted); signatures are
//!   compared in constant time, against every secret, without stopping at
//!   the first match.
//! - **GitHub** (`X-Hub-Signature-256`): `"sha256=" hex(HMAC-SHA256(secret,
//!   payload))`, the secret being the raw bytes of the configured string
//!   (no base64), the hex 64 digits of either case on input, lowercase on
//!   output. No timestamp and no id in the signature: GitHub deliveries have
//!   no replay protection beyond the `X-GitHub-Delivery` id, which
//!   `Vault::verify_inbound_webhook` requires and remembers for a GitHub
//!   source.
//!
//! Payloads are bytes. Libraries that take the payload as a string
//! (JavaScript, the `standardwebhooks` Rust crate) cannot sign or verify a
//! body that is not UTF-8; send UTF-8 (JSON) bodies for interoperability.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

mod asymmetric;
mod github;
pub(crate) mod header;
mod mac;
mod message;
mod secret;
mod sign;
mod verify;

#[cfg(test)]
mod tests;

pub use asymmetric::{PUBLIC_KEY_PREFIX, SIGNING_KEY_PREFIX, WebhookPublicKey, WebhookSigningKey};
pub use github::{
    GITHUB_HEADER_DELIVERY, GITHUB_HEADER_SIGNATURE, MAX_DELIVERY_LEN, sign_github, verify_github,
};
pub use secret::{
    DEFAULT_SECRET_LEN, MAX_SECRET_LEN, MIN_SECRET_LEN, SECRET_PREFIX, WebhookSecret,
};
pub use sign::{SignedHeaders, sign, sign_asymmetric};
pub use verify::{
    DEFAULT_MAX_PAYLOAD, DEFAULT_TOLERANCE, VerifiedMessage, Verifier, verify, verify_asymmetric,
};

/// The two Standard Webhooks signature schemes, named by the version tag
/// their `webhook-signature` entries carry.
///
/// ```
/// use secrets_core::webhook::SignatureVersion;
///
/// assert_eq!(SignatureVersion::V1.as_str(), "v1");
/// assert_eq!(SignatureVersion::V1a.as_str(), "v1a");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SignatureVersion {
    /// Symmetric: HMAC-SHA256 under a shared `whsec_` secret.
    V1,
    /// Asymmetric: Ed25519 under a `whsk_` signing key, verified with its
    /// `whpk_` public key.
    V1a,
}

impl SignatureVersion {
    /// `v1` or `v1a`, as in the header.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V1a => "v1a",
        }
    }
}

/// The longest accepted message id, in bytes.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, MAX_ID_LEN, WebhookSecret};
///
/// let secret = WebhookSecret::generate()?;
/// assert!(webhook::sign(&[&secret], &"a".repeat(MAX_ID_LEN), 1_700_000_000, b"{}").is_ok());
/// assert!(webhook::sign(&[&secret], &"a".repeat(MAX_ID_LEN + 1), 1_700_000_000, b"{}").is_err());
/// # Ok(()) }
/// ```
pub const MAX_ID_LEN: usize = 255;

/// The header carrying the message id.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, HEADER_ID, WebhookSecret};
///
/// let signed = webhook::sign(&[&WebhookSecret::generate()?], "msg_1", 1_700_000_000, b"{}")?;
/// assert_eq!(signed.pairs()[0], (HEADER_ID, "msg_1".to_owned()));
/// # Ok(()) }
/// ```
pub const HEADER_ID: &str = "webhook-id";

/// The header carrying the unix timestamp (seconds) of the attempt.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, HEADER_TIMESTAMP, WebhookSecret};
///
/// let signed = webhook::sign(&[&WebhookSecret::generate()?], "msg_1", 1_700_000_000, b"{}")?;
/// assert_eq!(signed.pairs()[1], (HEADER_TIMESTAMP, "1700000000".to_owned()));
/// # Ok(()) }
/// ```
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";

/// The header carrying the space-separated `v1,<base64>` (or
/// `v1a,<base64>`) signatures.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, HEADER_SIGNATURE, WebhookSecret};
///
/// let signed = webhook::sign(&[&WebhookSecret::generate()?], "msg_1", 1_700_000_000, b"{}")?;
/// let (name, value) = &signed.pairs()[2];
/// assert_eq!(*name, HEADER_SIGNATURE);
/// assert!(value.starts_with("v1,"));
/// # Ok(()) }
/// ```
pub const HEADER_SIGNATURE: &str = "webhook-signature";
