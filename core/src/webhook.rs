//! Signed webhooks: the [Standard Webhooks] scheme, byte for byte, so that
//! any receiver using a Standard Webhooks library verifies what [`sign`]
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
//! signed content    = id "." timestamp "." payload  ; raw bytes, no separator escaping
//! webhook-id        = id                            ; 1 to 255 bytes, no ".", no whitespace or control characters
//! webhook-timestamp = timestamp                     ; unix seconds, decimal, no sign, no leading zeros
//! webhook-signature = entry *(" " entry)
//! entry             = version "," value             ; "v1," base64(HMAC-SHA256(key, signed content))
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
//!   `Vault::verify_github_webhook` requires and remembers.
//!
//! Payloads are bytes. Libraries that take the payload as a string
//! (JavaScript, the `standardwebhooks` Rust crate) cannot sign or verify a
//! body that is not UTF-8; send UTF-8 (JSON) bodies for interoperability.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::fmt;
use std::time::Duration;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::{DecodePaddingMode, Engine};
use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq as _};
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The prefix of a webhook secret's text form.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{SECRET_PREFIX, WebhookSecret};
///
/// let text = WebhookSecret::generate()?.to_text();
/// assert!(text.expose_secret().starts_with(SECRET_PREFIX));
/// # Ok(()) }
/// ```
pub const SECRET_PREFIX: &str = "whsec_";

/// The shortest webhook secret, in bytes (192 bits; the specification's floor).
///
/// ```
/// use secrets_core::webhook::{MIN_SECRET_LEN, WebhookSecret};
///
/// assert!(WebhookSecret::generate_with_len(MIN_SECRET_LEN).is_ok());
/// assert!(WebhookSecret::generate_with_len(MIN_SECRET_LEN - 1).is_err());
/// ```
pub const MIN_SECRET_LEN: usize = 24;

/// The longest webhook secret, in bytes (512 bits; the specification's ceiling).
///
/// ```
/// use secrets_core::webhook::{MAX_SECRET_LEN, WebhookSecret};
///
/// assert!(WebhookSecret::generate_with_len(MAX_SECRET_LEN).is_ok());
/// assert!(WebhookSecret::generate_with_len(MAX_SECRET_LEN + 1).is_err());
/// ```
pub const MAX_SECRET_LEN: usize = 64;

/// The length of a secret made by [`WebhookSecret::generate`], in bytes.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{DEFAULT_SECRET_LEN, WebhookSecret};
///
/// assert_eq!(WebhookSecret::generate()?.expose_secret().len(), DEFAULT_SECRET_LEN);
/// # Ok(()) }
/// ```
pub const DEFAULT_SECRET_LEN: usize = 32;

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

/// The header carrying the space-separated `v1,<base64>` signatures.
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

/// The GitHub signature header (`X-Hub-Signature-256`), lowercase.
///
/// ```
/// use secrets_core::webhook::{GITHUB_HEADER_SIGNATURE, sign_github};
///
/// let value = sign_github(b"{}", b"github secret");
/// let header = (GITHUB_HEADER_SIGNATURE, value.as_str());
/// assert_eq!(header.0, "x-hub-signature-256");
/// ```
pub const GITHUB_HEADER_SIGNATURE: &str = "x-hub-signature-256";

/// How far a `webhook-timestamp` may be from `now`, in either direction, by
/// default: 5 minutes, as in the specification's libraries.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::webhook::{DEFAULT_TOLERANCE, Verifier};
///
/// assert_eq!(DEFAULT_TOLERANCE, Duration::from_secs(300));
/// assert_eq!(Verifier::default().tolerance, DEFAULT_TOLERANCE);
/// ```
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The largest payload [`Verifier::verify`] accepts by default: 1 MiB.
///
/// ```
/// use secrets_core::webhook::{DEFAULT_MAX_PAYLOAD, Verifier};
///
/// assert_eq!(Verifier::default().max_payload, DEFAULT_MAX_PAYLOAD);
/// ```
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

/// The signature version of the symmetric (HMAC-SHA256) scheme.
const V1: &str = "v1";

/// Length of a base64 (padded) HMAC-SHA256: 32 bytes → 44 characters.
const SIGNATURE_B64_LEN: usize = 44;

/// Length of the padded base64 of [`MAX_SECRET_LEN`] bytes.
const MAX_SECRET_B64_LEN: usize = 4 * MAX_SECRET_LEN.div_ceil(3);

/// A timestamp at or above this (year 5138) is almost surely milliseconds.
const LOOKS_LIKE_MILLIS: i64 = 100_000_000_000;

/// Standard alphabet, padding optional: only for [`WebhookSecret::parse_lenient`].
const B64_PADDING_OPTIONAL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HmacSha256 = hmac::Hmac<Sha256>;

// ---------------------------------------------------------------------------
// Secret
// ---------------------------------------------------------------------------

/// A Standard Webhooks signing secret: 24 to 64 random bytes, written as
/// `whsec_` + base64 of those bytes.
///
/// Zeroized on drop; `Debug` prints `WebhookSecret([REDACTED])`; no
/// `Display`. The bytes are read only through [`expose_secret`](Self::expose_secret).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::WebhookSecret;
///
/// let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
/// assert_eq!(secret.expose_secret().len(), 24);
/// assert_eq!(format!("{secret:?}"), "WebhookSecret([REDACTED])");
/// # Ok(()) }
/// ```
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// A fresh secret of [`DEFAULT_SECRET_LEN`] (32) bytes from the operating
    /// system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot supply randomness.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let a = WebhookSecret::generate()?;
    /// let b = WebhookSecret::generate()?;
    /// assert_ne!(a.expose_secret(), b.expose_secret());
    /// # Ok(()) }
    /// ```
    pub fn generate() -> Result<Self> {
        Self::generate_with_len(DEFAULT_SECRET_LEN)
    }

    /// A fresh secret of `len` random bytes, [`MIN_SECRET_LEN`] (24) to
    /// [`MAX_SECRET_LEN`] (64).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a length outside 24..=64; [`Error::Rng`] if
    /// the operating system cannot supply randomness.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// assert_eq!(WebhookSecret::generate_with_len(64)?.expose_secret().len(), 64);
    /// assert!(WebhookSecret::generate_with_len(16).is_err());
    /// # Ok(()) }
    /// ```
    pub fn generate_with_len(len: usize) -> Result<Self> {
        check_secret_len("len", len)?;
        let random = random_bytes::<MAX_SECRET_LEN>()?;
        let bytes = random
            .get(..len)
            .ok_or_else(|| Error::invalid("len", "is out of range"))?;
        Ok(Self::from_checked(bytes))
    }

    /// Parses the text form, strictly: `whsec_` followed by standard base64
    /// (with `=` padding) of 24 to 64 bytes. Surrounding whitespace (the
    /// newline at the end of a file) is ignored; nothing else is.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `webhook secret`) saying what is wrong,
    /// never repeating the text: no `whsec_` prefix (with what to do about
    /// it), not base64, or a decoded length outside 24..=64.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
    /// assert_eq!(secret.to_text().expose_secret(), "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    ///
    /// // Without its prefix, the same text is refused, and the error says why.
    /// let err = WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap_err();
    /// assert!(err.to_string().contains("keep the `whsec_` prefix"));
    /// # Ok(()) }
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let Some(body) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(missing_prefix(text));
        };
        Self::decode_body(body, &B64)
    }

    /// Parses the text form as the specification's own libraries do: the
    /// `whsec_` prefix may be missing and the `=` padding may be left out.
    /// The rest is as strict as [`parse`](Self::parse): standard base64
    /// alphabet, 24 to 64 decoded bytes.
    ///
    /// Use it to read secrets issued by providers that hand them out without
    /// the prefix; prefer [`parse`](Self::parse) for secrets this library
    /// generated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `webhook secret`) for text that is not
    /// base64 or decodes to a length outside 24..=64.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let a = WebhookSecret::parse_lenient("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// let b = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// assert_eq!(a.expose_secret(), b.expose_secret());
    /// # Ok(()) }
    /// ```
    pub fn parse_lenient(text: &str) -> Result<Self> {
        let text = text.trim();
        let body = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        Self::decode_body(body, &B64_PADDING_OPTIONAL)
    }

    /// A secret from its raw key bytes (24 to 64), as stored by a host that
    /// keeps the bytes rather than the text.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a length outside 24..=64, or for bytes that
    /// start with `whsec_`: those are the text form, which
    /// [`parse`](Self::parse) decodes (keying the HMAC with the text is the
    /// classic interoperability bug).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let secret = WebhookSecret::from_bytes(&[7; 32])?;
    /// assert_eq!(secret.expose_secret(), &[7; 32]);
    /// assert!(WebhookSecret::from_bytes(b"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.starts_with(SECRET_PREFIX.as_bytes()) {
            return Err(Error::invalid(
                "webhook secret",
                "starts with `whsec_`: these bytes are the text form of a secret, not the key; \
                 pass the text to `WebhookSecret::parse`, which base64-decodes the key after the prefix",
            ));
        }
        check_secret_len("webhook secret", bytes.len())?;
        Ok(Self::from_checked(bytes))
    }

    /// The text form, `whsec_` + standard base64 with padding: what an
    /// endpoint's owner is shown once and pastes into their receiver.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let secret = WebhookSecret::from_bytes(&[0; 24])?;
    /// assert_eq!(secret.to_text().expose_secret(), "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn to_text(&self) -> SecretString {
        let mut text = String::with_capacity(SECRET_PREFIX.len() + MAX_SECRET_B64_LEN);
        text.push_str(SECRET_PREFIX);
        B64.encode_string(self.0.as_slice(), &mut text);
        SecretString::new(text)
    }

    /// Reads the key bytes (the HMAC key). Every call site is a place where
    /// the secret leaves its box.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// assert_eq!(WebhookSecret::from_bytes(&[1; 24])?.expose_secret(), &[1; 24]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// `bytes` already checked for length.
    fn from_checked(bytes: &[u8]) -> Self {
        let mut v = Zeroizing::new(Vec::with_capacity(bytes.len()));
        v.extend_from_slice(bytes);
        Self(v)
    }

    fn decode_body(body: &str, engine: &impl Engine) -> Result<Self> {
        if body.is_empty() {
            return Err(Error::invalid(
                "webhook secret",
                "has nothing after `whsec_`; the base64 of the key bytes follows the prefix",
            ));
        }
        let too_long = || {
            Error::invalid(
                "webhook secret",
                format!(
                    "is {} characters after `whsec_`, more than the {MAX_SECRET_B64_LEN} of the base64 of {MAX_SECRET_LEN} bytes; a webhook secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes",
                    body.len()
                ),
            )
        };
        if body.len() > MAX_SECRET_B64_LEN {
            return Err(too_long());
        }
        // Room to spare: 88 characters never decode to more than 66 bytes.
        let mut buf = Zeroizing::new([0u8; 2 * MAX_SECRET_LEN]);
        let len = match engine.decode_slice(body.as_bytes(), buf.as_mut_slice()) {
            Ok(len) => len,
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => return Err(too_long()),
            Err(base64::DecodeSliceError::DecodeError(_)) => return Err(not_base64(body)),
        };
        check_secret_len("webhook secret", len)?;
        let bytes = buf
            .get(..len)
            .ok_or_else(|| Error::invalid("webhook secret", "is out of range"))?;
        Ok(Self::from_checked(bytes))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

fn check_secret_len(field: &'static str, len: usize) -> Result<()> {
    if len < MIN_SECRET_LEN {
        return Err(Error::invalid(
            field,
            format!(
                "is {len} bytes, shorter than the minimum of {MIN_SECRET_LEN}; a webhook secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} random bytes (`WebhookSecret::generate` makes one)"
            ),
        ));
    }
    if len > MAX_SECRET_LEN {
        return Err(Error::invalid(
            field,
            format!(
                "is {len} bytes, longer than the maximum of {MAX_SECRET_LEN}; a webhook secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} random bytes"
            ),
        ));
    }
    Ok(())
}

/// The error for text without the prefix: says whether it would have been a
/// valid secret with it, and explains the base64-versus-raw trap.
fn missing_prefix(text: &str) -> Error {
    let mut buf = Zeroizing::new([0u8; 2 * MAX_SECRET_LEN]);
    let decodes = B64_PADDING_OPTIONAL
        .decode_slice(text.as_bytes(), buf.as_mut_slice())
        .is_ok_and(|len| (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&len));
    let reason = if decodes {
        "does not start with `whsec_`; keep the `whsec_` prefix: a Standard Webhooks secret is `whsec_` followed by the base64 of the key bytes \
         (the text after the prefix is base64, not the key itself); `WebhookSecret::parse_lenient` accepts secrets handed out without the prefix"
    } else {
        "does not start with `whsec_`; keep the `whsec_` prefix: a Standard Webhooks secret is `whsec_` followed by the base64 of 24 to 64 random bytes \
         (the text after the prefix is base64, not the key itself); a raw string secret (GitHub style) is not one: verify those with `verify_github`"
    };
    Error::invalid("webhook secret", reason)
}

/// The error for a body that is not strict base64, naming the likely cause.
fn not_base64(body: &str) -> Error {
    let data = body.trim_end_matches('=');
    let standard = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let reason = if data.bytes().all(url_safe) && data.bytes().any(|b| b == b'-' || b == b'_') {
        "is not valid base64 after `whsec_`: it uses the URL-safe alphabet (`-`, `_`); the secret is standard base64 (`+`, `/`, `=` padding) of the key bytes"
    } else if data.len() == body.len()
        && data.bytes().all(standard)
        && !body.len().is_multiple_of(4)
    {
        "is not valid base64 after `whsec_`: the `=` padding is missing; the secret is standard base64 with padding of the key bytes (`WebhookSecret::parse_lenient` accepts it without)"
    } else {
        "is not valid base64 after `whsec_`; the text after the prefix is the standard base64 (with `=` padding) of the key bytes, not the key itself"
    };
    Error::invalid("webhook secret", reason)
}

// ---------------------------------------------------------------------------
// HMAC
// ---------------------------------------------------------------------------

/// HMAC-SHA256 keyed with `key` of any length, infallibly: RFC 2104 hashes a
/// key longer than the 64-byte block and zero-pads a shorter one, and keying
/// with that block is the same MAC as keying with the key itself. The one
/// path every webhook MAC here (Standard Webhooks and GitHub) goes through;
/// pinned by the RFC 4231 vectors.
fn keyed_hmac(key: &[u8]) -> HmacSha256 {
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
pub(crate) fn hmac_sha256_parts(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = keyed_hmac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The base64 of the v1 signature of `id.timestamp.payload`.
fn v1_signature(
    key: &[u8],
    id: &str,
    timestamp: &str,
    payload: &[u8],
) -> Result<[u8; SIGNATURE_B64_LEN]> {
    let mac = hmac_sha256_parts(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", payload],
    );
    let mut out = [0u8; SIGNATURE_B64_LEN];
    match B64.encode_slice(mac, &mut out) {
        Ok(SIGNATURE_B64_LEN) => Ok(out),
        _ => Err(Error::Webhook {
            reason: "internal error: signature encoding",
        }),
    }
}

// ---------------------------------------------------------------------------
// Message id and timestamp rules (shared by sign and verify)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum IdProblem {
    Empty,
    TooLong,
    Dot,
    Forbidden,
}

impl IdProblem {
    fn check(id: &str) -> Result<(), Self> {
        if id.is_empty() {
            Err(Self::Empty)
        } else if id.len() > MAX_ID_LEN {
            Err(Self::TooLong)
        } else if id.contains('.') {
            Err(Self::Dot)
        } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            Err(Self::Forbidden)
        } else {
            Ok(())
        }
    }

    /// For [`sign`]'s `msg_id` argument.
    fn argument(self) -> Error {
        let reason = match self {
            Self::Empty => "is empty",
            Self::TooLong => "is longer than 255 bytes",
            Self::Dot => {
                "contains a `.`; the signed content is `id.timestamp.payload`, so the specification forbids dots in ids (use `msg_...`, a UUID, ...)"
            }
            Self::Forbidden => "contains whitespace or a control character",
        };
        Error::invalid("msg_id", reason)
    }

    /// For an inbound `webhook-id` header.
    fn header(self) -> Error {
        let reason = match self {
            Self::Empty => "empty webhook-id header",
            Self::TooLong => "webhook-id header is longer than 255 bytes",
            Self::Dot => "webhook-id header contains a `.` (ambiguous signed content)",
            Self::Forbidden => "webhook-id header contains whitespace or a control character",
        };
        Error::Webhook { reason }
    }
}

/// A `webhook-timestamp` header: canonical decimal unix seconds.
fn parse_timestamp(value: &str) -> Result<i64> {
    let bytes = value.as_bytes();
    if bytes.is_empty() {
        return Err(Error::Webhook {
            reason: "empty webhook-timestamp header",
        });
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(Error::Webhook {
            reason: "webhook-timestamp header is not a whole number of unix seconds",
        });
    }
    if bytes.len() > 1 && bytes.first() == Some(&b'0') {
        return Err(Error::Webhook {
            reason: "webhook-timestamp header has leading zeros",
        });
    }
    value.parse::<i64>().map_err(|_| Error::Webhook {
        reason: "webhook-timestamp header is out of range",
    })
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// The three headers of a signed webhook, as [`sign`] returns them.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, WebhookSecret};
///
/// let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
/// let payload = br#"{"email":"test@example.com","username":"test_user"}"#;
/// let signed = webhook::sign(&[&secret], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, payload)?;
/// assert_eq!(signed.id, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk");
/// assert_eq!(signed.timestamp, 1_649_367_553);
/// assert_eq!(signed.signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignedHeaders {
    /// The `webhook-id` value: the message id (the same on every retry).
    pub id: String,
    /// The `webhook-timestamp` value: unix seconds of this attempt.
    pub timestamp: i64,
    /// The `webhook-signature` value: one `v1,<base64>` per secret, separated
    /// by single spaces. Not secret.
    pub signature: String,
}

impl SignedHeaders {
    /// The headers as `(lowercase name, value)` pairs, ready for an HTTP
    /// client: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::{self, WebhookSecret};
    ///
    /// let signed = webhook::sign(&[&WebhookSecret::generate()?], "msg_1", 1_700_000_000, b"{}")?;
    /// let [(n0, id), (n1, ts), (n2, sig)] = signed.pairs();
    /// assert_eq!((n0, n1, n2), ("webhook-id", "webhook-timestamp", "webhook-signature"));
    /// assert_eq!((id.as_str(), ts.as_str()), ("msg_1", "1700000000"));
    /// assert_eq!(sig, signed.signature);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Signs an outbound webhook: HMAC-SHA256 of `msg_id.timestamp.payload`
/// under each secret, in order (during a rotation, pass the new and the old
/// secret: any receiver holding either verifies).
///
/// `timestamp` is unix seconds of this attempt (a retry gets a new one, and
/// keeps its `msg_id`). `payload` is signed exactly as given: send exactly
/// these bytes.
///
/// # Errors
///
/// [`Error::InvalidInput`] for no secrets, an empty `msg_id`, one longer
/// than [`MAX_ID_LEN`] bytes or containing `.`, whitespace or a control
/// character, or a negative timestamp or one that looks like milliseconds.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, WebhookSecret};
///
/// let new = WebhookSecret::generate()?;
/// let old = WebhookSecret::generate()?;
/// let signed = webhook::sign(&[&new, &old], "msg_1", 1_700_000_000, b"{}")?;
/// assert_eq!(signed.signature.split(' ').count(), 2);
/// assert!(webhook::sign(&[&new], "msg.1", 1_700_000_000, b"{}").is_err());
/// # Ok(()) }
/// ```
pub fn sign(
    secrets: &[&WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    payload: &[u8],
) -> Result<SignedHeaders> {
    if secrets.is_empty() {
        return Err(Error::invalid(
            "secrets",
            "is empty; sign with at least one secret",
        ));
    }
    IdProblem::check(msg_id).map_err(IdProblem::argument)?;
    if timestamp < 0 {
        return Err(Error::invalid(
            "timestamp",
            "is negative; it is unix seconds of the delivery attempt",
        ));
    }
    if timestamp >= LOOKS_LIKE_MILLIS {
        return Err(Error::invalid(
            "timestamp",
            "looks like milliseconds; `webhook-timestamp` is unix seconds (`Timestamp::unix_seconds`)",
        ));
    }
    let ts = timestamp.to_string();
    let mut signature = String::with_capacity(secrets.len() * (V1.len() + 2 + SIGNATURE_B64_LEN));
    for secret in secrets {
        let b64 = v1_signature(secret.expose_secret(), msg_id, &ts, payload)?;
        if !signature.is_empty() {
            signature.push(' ');
        }
        signature.push_str(V1);
        signature.push(',');
        for &b in &b64 {
            signature.push(char::from(b));
        }
    }
    Ok(SignedHeaders {
        id: msg_id.to_owned(),
        timestamp,
        signature,
    })
}

// ---------------------------------------------------------------------------
// Verifying
// ---------------------------------------------------------------------------

/// An inbound webhook that verified.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::Timestamp;
/// use secrets_core::webhook::{self, WebhookSecret};
///
/// let secret = WebhookSecret::generate()?;
/// let signed = webhook::sign(&[&secret], "msg_1", 1_700_000_000, b"{}")?;
/// let pairs = signed.pairs();
/// let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
/// let msg = webhook::verify(&headers, b"{}", &[&secret], Timestamp::from_unix_seconds(1_700_000_000))?;
/// assert_eq!((msg.id.as_str(), msg.timestamp), ("msg_1", 1_700_000_000));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedMessage {
    /// The `webhook-id`: remember it until
    /// [`Verifier::replay_window_end`] of `timestamp` to refuse replays (the
    /// Vault does).
    pub id: String,
    /// The `webhook-timestamp`, unix seconds.
    pub timestamp: i64,
}

/// Verifies inbound webhooks: Standard Webhooks ([`verify`](Self::verify))
/// and GitHub-style ([`verify_github`](Self::verify_github)).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::webhook::Verifier;
///
/// let strict = Verifier { tolerance: Duration::from_secs(60), ..Verifier::default() };
/// let same = Verifier::default().with_tolerance(Duration::from_secs(60));
/// assert_eq!(strict, same);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verifier {
    /// How far the `webhook-timestamp` may be from `now`, in either
    /// direction; exactly at the tolerance is accepted. Default 5 minutes.
    pub tolerance: Duration,
    /// The largest accepted payload, in bytes. Default 1 MiB.
    pub max_payload: usize,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// The defaults: 5 minutes of tolerance, payloads up to 1 MiB.
    ///
    /// ```
    /// use secrets_core::webhook::Verifier;
    ///
    /// assert_eq!(Verifier::new(), Verifier::default());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            tolerance: DEFAULT_TOLERANCE,
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// The same verifier with another tolerance.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secrets_core::webhook::Verifier;
    ///
    /// assert_eq!(Verifier::new().with_tolerance(Duration::ZERO).tolerance, Duration::ZERO);
    /// ```
    #[must_use]
    pub const fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The first instant at which a message signed at `timestamp` is refused
    /// as too old: remember its id until then to refuse replays.
    ///
    /// The timestamp check compares whole seconds (`now` rounded down), as
    /// other Standard Webhooks libraries do, so a message is still accepted
    /// during the whole second after `timestamp + tolerance`; this is the end
    /// of that second, not `timestamp + tolerance`. A replay store that
    /// forgets an id earlier lets the message in twice.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secrets_core::Timestamp;
    /// use secrets_core::webhook::Verifier;
    ///
    /// let v = Verifier::new().with_tolerance(Duration::from_secs(300));
    /// assert_eq!(v.replay_window_end(1_700_000_000), Timestamp::from_unix_seconds(1_700_000_301));
    /// ```
    #[must_use]
    pub fn replay_window_end(&self, timestamp: i64) -> Timestamp {
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        Timestamp::from_unix_seconds(timestamp.saturating_add(tolerance).saturating_add(1))
    }

    /// The same verifier with another payload limit.
    ///
    /// ```
    /// use secrets_core::webhook::Verifier;
    ///
    /// assert_eq!(Verifier::new().with_max_payload(4096).max_payload, 4096);
    /// ```
    #[must_use]
    pub const fn with_max_payload(mut self, max_payload: usize) -> Self {
        self.max_payload = max_payload;
        self
    }

    /// Verifies a Standard Webhooks message: `headers` as received (names in
    /// any case; other headers are ignored), `payload` the raw body bytes
    /// (before any JSON parsing), `secrets` every secret currently valid for
    /// this endpoint.
    ///
    /// Checks, in this order: the payload size; each of `webhook-id`,
    /// `webhook-timestamp`, `webhook-signature` present exactly once and well
    /// formed; the timestamp within the tolerance of `now`; then every `v1`
    /// signature against every secret, in constant time and without stopping
    /// early (which secret matched is not observable). Entries of other
    /// versions are ignored.
    ///
    /// Does not remember ids: refusing replays is the caller's job. Remember
    /// the returned [`VerifiedMessage::id`] until
    /// [`replay_window_end`](Self::replay_window_end) of its `timestamp`;
    /// after that the timestamp check refuses a replay anyway.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] when `secrets` is empty.
    /// - [`Error::TooLarge`] when the payload is over [`Verifier::max_payload`].
    /// - [`Error::Webhook`] with a reason: `missing webhook-id header`,
    ///   `duplicate webhook-signature header`, `webhook-timestamp header is
    ///   not a whole number of unix seconds`, `timestamp too old`, `timestamp
    ///   too far in the future`, `malformed webhook-signature header`, `no
    ///   supported signature`, `no matching signature`, ... The reason never
    ///   contains a secret or a signature.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::{Error, Timestamp};
    /// use secrets_core::webhook::{Verifier, WebhookSecret};
    ///
    /// let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")?;
    /// let headers = [
    ///     ("Webhook-Id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
    ///     ("Webhook-Timestamp", "1649367553"),
    ///     ("Webhook-Signature", "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="),
    /// ];
    /// let payload = br#"{"email":"test@example.com","username":"test_user"}"#;
    /// let verifier = Verifier::default();
    ///
    /// let msg = verifier.verify(&headers, payload, &[&secret], Timestamp::from_unix_seconds(1_649_367_600))?;
    /// assert_eq!(msg.id, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk");
    ///
    /// // An hour later, the same message is stale.
    /// let late = Timestamp::from_unix_seconds(1_649_371_153);
    /// let err = verifier.verify(&headers, payload, &[&secret], late).unwrap_err();
    /// assert!(matches!(err, Error::Webhook { reason: "timestamp too old" }));
    /// # Ok(()) }
    /// ```
    pub fn verify(
        &self,
        headers: &[(&str, &str)],
        payload: &[u8],
        secrets: &[&WebhookSecret],
        now: Timestamp,
    ) -> Result<VerifiedMessage> {
        if secrets.is_empty() {
            return Err(Error::invalid(
                "secrets",
                "is empty; verify against at least one secret",
            ));
        }
        self.check_payload(payload)?;

        let inbound = InboundHeaders::find(headers)?;
        IdProblem::check(inbound.id).map_err(IdProblem::header)?;
        let timestamp = parse_timestamp(inbound.timestamp)?;
        check_signature_header(inbound.signature)?;
        self.check_time(timestamp, now)?;

        let mut matched = Choice::from(0);
        for secret in secrets {
            let expected = v1_signature(
                secret.expose_secret(),
                inbound.id,
                inbound.timestamp,
                payload,
            )?;
            for candidate in v1_values(inbound.signature) {
                // Length is public (always 44 for a real signature).
                matched |= expected.as_slice().ct_eq(candidate.as_bytes());
            }
        }
        if bool::from(matched) {
            Ok(VerifiedMessage {
                id: inbound.id.to_owned(),
                timestamp,
            })
        } else {
            Err(Error::Webhook {
                reason: "no matching signature",
            })
        }
    }

    /// Verifies a GitHub-style webhook: `signature_header` is the value of
    /// `X-Hub-Signature-256` (`sha256=` and 64 hex digits, either case),
    /// `payload` the raw body, `secret` the configured secret's raw bytes
    /// (GitHub secrets are plain strings: no base64, no prefix). Compared in
    /// constant time.
    ///
    /// GitHub signs no timestamp: a captured delivery can be replayed
    /// forever. Refuse repeated `X-GitHub-Delivery` ids
    /// (`Vault::verify_github_webhook` does).
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] for an empty secret.
    /// - [`Error::TooLarge`] when the payload is over [`Verifier::max_payload`].
    /// - [`Error::Webhook`]: `malformed X-Hub-Signature-256 header ...`, or
    ///   `no matching signature`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::{Verifier, sign_github};
    ///
    /// let header = sign_github(b"{\"zen\":\"hi\"}", b"It's a Secret to Everybody");
    /// Verifier::default().verify_github(&header, b"{\"zen\":\"hi\"}", b"It's a Secret to Everybody")?;
    /// assert!(Verifier::default().verify_github(&header, b"{}", b"It's a Secret to Everybody").is_err());
    /// # Ok(()) }
    /// ```
    pub fn verify_github(
        &self,
        signature_header: &str,
        payload: &[u8],
        secret: &[u8],
    ) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::invalid(
                "secret",
                "is empty; anyone could sign with an empty secret",
            ));
        }
        self.check_payload(payload)?;
        let claimed = parse_github_header(signature_header)?;
        let expected = hmac_sha256_parts(secret, &[payload]);
        if bool::from(expected.ct_eq(&claimed)) {
            Ok(())
        } else {
            Err(Error::Webhook {
                reason: "no matching signature",
            })
        }
    }

    fn check_payload(&self, payload: &[u8]) -> Result<()> {
        if payload.len() > self.max_payload {
            return Err(Error::TooLarge {
                what: "webhook payload",
                len: payload.len(),
                max: self.max_payload,
            });
        }
        Ok(())
    }

    /// `timestamp` (seconds) within the tolerance of `now` (to the second).
    fn check_time(&self, timestamp: i64, now: Timestamp) -> Result<()> {
        let tolerance_ms = i128::try_from(self.tolerance.as_millis()).unwrap_or(i128::MAX);
        // i128: neither the difference nor its product by 1000 can overflow.
        let age_ms = (i128::from(now.unix_seconds()) - i128::from(timestamp)) * 1000;
        if age_ms > tolerance_ms {
            return Err(Error::Webhook {
                reason: "timestamp too old",
            });
        }
        if -age_ms > tolerance_ms {
            let reason = if timestamp >= LOOKS_LIKE_MILLIS {
                "timestamp too far in the future (it looks like milliseconds; webhook-timestamp is unix seconds)"
            } else {
                "timestamp too far in the future"
            };
            return Err(Error::Webhook { reason });
        }
        Ok(())
    }
}

/// Verifies a Standard Webhooks message with the default [`Verifier`] (5
/// minutes of tolerance, payloads up to 1 MiB).
///
/// # Errors
///
/// As [`Verifier::verify`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::Timestamp;
/// use secrets_core::webhook::{self, WebhookSecret};
///
/// let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
/// let headers = [
///     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
///     ("webhook-timestamp", "1614265330"),
///     ("webhook-signature", "v1a,bm90IGFuIGVkMjU1MTkgc2lnbmF0dXJl v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
/// ];
/// let msg = webhook::verify(&headers, br#"{"test": 2432232314}"#, &[&secret], Timestamp::from_unix_seconds(1_614_265_330))?;
/// assert_eq!(msg.timestamp, 1_614_265_330);
/// # Ok(()) }
/// ```
pub fn verify(
    headers: &[(&str, &str)],
    payload: &[u8],
    secrets: &[&WebhookSecret],
    now: Timestamp,
) -> Result<VerifiedMessage> {
    Verifier::default().verify(headers, payload, secrets, now)
}

/// Verifies a GitHub-style `X-Hub-Signature-256` with the default
/// [`Verifier`] (payloads up to 1 MiB).
///
/// # Errors
///
/// As [`Verifier::verify_github`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::verify_github;
///
/// // The example of GitHub's documentation ("Validating webhook deliveries").
/// let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
/// verify_github(header, b"Hello, World!", b"It's a Secret to Everybody")?;
/// assert!(verify_github(header, b"Hello, World?", b"It's a Secret to Everybody").is_err());
/// # Ok(()) }
/// ```
pub fn verify_github(signature_header: &str, payload: &[u8], secret: &[u8]) -> Result<()> {
    Verifier::default().verify_github(signature_header, payload, secret)
}

/// The `X-Hub-Signature-256` value for `payload` under `secret` (raw
/// bytes): `sha256=` and 64 lowercase hex digits.
///
/// ```
/// use secrets_core::webhook::sign_github;
///
/// assert_eq!(
///     sign_github(b"Hello, World!", b"It's a Secret to Everybody"),
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
/// );
/// ```
#[must_use]
pub fn sign_github(payload: &[u8], secret: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mac = hmac_sha256_parts(secret, &[payload]);
    let mut out = String::with_capacity(GITHUB_PREFIX.len() + 64);
    out.push_str(GITHUB_PREFIX);
    for b in mac {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&c) = HEX.get(usize::from(nibble)) {
                out.push(char::from(c));
            }
        }
    }
    out
}

const GITHUB_PREFIX: &str = "sha256=";

fn parse_github_header(value: &str) -> Result<[u8; 32]> {
    const MALFORMED: Error = Error::Webhook {
        reason: "malformed X-Hub-Signature-256 header (expected `sha256=` and 64 hex digits)",
    };
    let Some(hex) = value.strip_prefix(GITHUB_PREFIX) else {
        if value.starts_with("sha1=") {
            return Err(Error::Webhook {
                reason: "X-Hub-Signature (SHA-1) is not accepted; verify X-Hub-Signature-256 (`sha256=...`)",
            });
        }
        return Err(MALFORMED);
    };
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return Err(MALFORMED);
    }
    let mut out = [0u8; 32];
    for (dst, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (
            pair.first().copied().and_then(hex_value),
            pair.get(1).copied().and_then(hex_value),
        ) else {
            return Err(MALFORMED);
        };
        *dst = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The three Standard Webhooks headers, each found exactly once.
struct InboundHeaders<'a> {
    id: &'a str,
    timestamp: &'a str,
    signature: &'a str,
}

impl<'a> InboundHeaders<'a> {
    fn find(headers: &[(&str, &'a str)]) -> Result<Self> {
        let (mut id, mut timestamp, mut signature) = (None, None, None);
        for &(name, value) in headers {
            let (slot, duplicate) = if name.eq_ignore_ascii_case(HEADER_ID) {
                (&mut id, "duplicate webhook-id header")
            } else if name.eq_ignore_ascii_case(HEADER_TIMESTAMP) {
                (&mut timestamp, "duplicate webhook-timestamp header")
            } else if name.eq_ignore_ascii_case(HEADER_SIGNATURE) {
                (&mut signature, "duplicate webhook-signature header")
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(Error::Webhook { reason: duplicate });
            }
        }
        Ok(Self {
            id: id.ok_or(Error::Webhook {
                reason: "missing webhook-id header",
            })?,
            timestamp: timestamp.ok_or(Error::Webhook {
                reason: "missing webhook-timestamp header",
            })?,
            signature: signature.ok_or(Error::Webhook {
                reason: "missing webhook-signature header",
            })?,
        })
    }
}

/// The entries of a `webhook-signature` header (runs of spaces tolerated).
fn signature_entries(header: &str) -> impl Iterator<Item = &str> {
    header.split(' ').filter(|entry| !entry.is_empty())
}

/// The values of the `v1` entries.
fn v1_values(header: &str) -> impl Iterator<Item = &str> {
    signature_entries(header).filter_map(|entry| match entry.split_once(',') {
        Some((V1, value)) => Some(value),
        _ => None,
    })
}

/// Every entry is `version,value` with both non-empty, and one is `v1`.
fn check_signature_header(header: &str) -> Result<()> {
    let mut any = false;
    let mut v1 = false;
    for entry in signature_entries(header) {
        any = true;
        match entry.split_once(',') {
            Some((version, value)) if !version.is_empty() && !value.is_empty() => {
                v1 |= version == V1;
            }
            _ => {
                return Err(Error::Webhook {
                    reason: "malformed webhook-signature header (each entry is `version,signature`)",
                });
            }
        }
    }
    if !any {
        return Err(Error::Webhook {
            reason: "empty webhook-signature header",
        });
    }
    if !v1 {
        return Err(Error::Webhook {
            reason: "no supported signature (webhook-signature has no `v1` entry)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Rfc4231 {
        tests: Vec<Rfc4231Case>,
    }

    #[derive(serde::Deserialize)]
    struct Rfc4231Case {
        test_case: u32,
        key_hex: String,
        data_hex: String,
        full_hmac_sha256_hex: String,
    }

    #[test]
    fn rfc4231_vectors_through_the_webhook_hmac() {
        let text = include_str!("../tests/data/hmac_sha256_rfc4231.json");
        let file: Rfc4231 = serde_json::from_str(text).unwrap();
        assert_eq!(file.tests.len(), 7);
        for case in &file.tests {
            let key = hex::decode(&case.key_hex).unwrap();
            let data = hex::decode(&case.data_hex).unwrap();
            let want = hex::decode(&case.full_hmac_sha256_hex).unwrap();
            // Whole, and split into parts at every position: incremental
            // feeding must not change the MAC.
            assert_eq!(
                hmac_sha256_parts(&key, &[&data]).as_slice(),
                want,
                "case {}",
                case.test_case
            );
            for cut in 0..=data.len() {
                let (a, b) = data.split_at(cut);
                assert_eq!(hmac_sha256_parts(&key, &[a, b]).as_slice(), want);
            }
            // The GitHub path is the same MAC.
            assert_eq!(
                sign_github(&data, &key),
                format!("sha256={}", case.full_hmac_sha256_hex)
            );
        }
    }

    #[test]
    fn keyed_hmac_matches_new_from_slice_at_every_key_length() {
        for len in 0..=200 {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let mut reference = HmacSha256::new_from_slice(&key).unwrap();
            reference.update(b"some data");
            let want: [u8; 32] = reference.finalize().into_bytes().into();
            assert_eq!(
                hmac_sha256_parts(&key, &[b"some ", b"data"]),
                want,
                "len {len}"
            );
        }
    }

    #[test]
    fn published_vector() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let signed = sign(
            &[&secret],
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(
            signed.signature,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = WebhookSecret::from_bytes(&[0x41; 32]).unwrap();
        for shown in [format!("{secret:?}"), format!("{secret:#?}")] {
            assert_eq!(shown, "WebhookSecret([REDACTED])");
        }
    }

    #[test]
    fn timestamp_parsing_is_canonical() {
        assert_eq!(parse_timestamp("0").unwrap(), 0);
        assert_eq!(parse_timestamp("1649367553").unwrap(), 1_649_367_553);
        assert_eq!(parse_timestamp("9223372036854775807").unwrap(), i64::MAX);
        for bad in [
            "",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "1e9",
            "01",
            "00",
            "9223372036854775808",
            "99999999999999999999999",
            "١٢٣",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn github_header_parsing() {
        let lower = format!("sha256={}", "ab".repeat(32));
        let upper = format!("sha256={}", "AB".repeat(32));
        assert_eq!(parse_github_header(&lower).unwrap(), [0xab; 32]);
        assert_eq!(parse_github_header(&upper).unwrap(), [0xab; 32]);
        for bad in [
            String::new(),
            "sha256=".to_owned(),
            format!("sha256={}", "a".repeat(63)),
            format!("sha256={}", "a".repeat(65)),
            format!("sha256={}g", "a".repeat(63)),
            format!("SHA256={}", "a".repeat(64)),
            format!("sha256= {}", "a".repeat(63)),
            format!("sha1={}", "a".repeat(40)),
            format!("sha256={}é", "a".repeat(62)),
        ] {
            assert!(parse_github_header(&bad).is_err(), "{bad:?}");
        }
    }
}
