//! Signing outbound webhooks: one `v1` signature per secret, or one `v1a`
//! signature per Ed25519 key.

use crate::error::{Error, Result};

use super::asymmetric::{SIGNATURE_B64_LEN as V1A_B64_LEN, WebhookSigningKey};
use super::header::V1A;
use super::mac::{SIGNATURE_B64_LEN, V1, v1_signature};
use super::message::{IdProblem, LOOKS_LIKE_MILLIS};
use super::secret::WebhookSecret;
use super::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

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
    /// The `webhook-signature` value: one `v1,<base64>` per secret (or
    /// `v1a,<base64>` per signing key), separated by single spaces. Not
    /// secret.
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
/// than [`MAX_ID_LEN`](super::MAX_ID_LEN) bytes or containing `.`, whitespace or a control
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
    let ts = check_message(msg_id, timestamp)?;
    let mut signature = String::with_capacity(secrets.len() * (V1.len() + 2 + SIGNATURE_B64_LEN));
    for secret in secrets {
        let b64 = v1_signature(secret.mac(), msg_id, &ts, payload)?;
        push_entry(&mut signature, V1, &b64);
    }
    Ok(SignedHeaders {
        id: msg_id.to_owned(),
        timestamp,
        signature,
    })
}

/// Signs an outbound webhook with the asymmetric scheme: the Ed25519
/// signature (RFC 8032, deterministic) of `msg_id.timestamp.payload` under
/// each key, in order, each written `v1a,` + base64 of its 64 bytes.
/// Receivers verify with the [`public_key`](WebhookSigningKey::public_key)s
/// ([`Verifier::verify_asymmetric`](super::Verifier::verify_asymmetric)) and
/// cannot sign themselves.
///
/// # Errors
///
/// As [`sign`](fn@sign), with "no keys" for an empty `keys`.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{self, WebhookSigningKey};
///
/// // The Go library's published vector.
/// let key = WebhookSigningKey::parse("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=")?;
/// let signed = webhook::sign_asymmetric(&[&key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#)?;
/// assert_eq!(
///     signed.signature,
///     "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==",
/// );
/// # Ok(()) }
/// ```
pub fn sign_asymmetric(
    keys: &[&WebhookSigningKey],
    msg_id: &str,
    timestamp: i64,
    payload: &[u8],
) -> Result<SignedHeaders> {
    if keys.is_empty() {
        return Err(Error::invalid(
            "keys",
            "is empty; sign with at least one key",
        ));
    }
    let ts = check_message(msg_id, timestamp)?;
    let parts: [&[u8]; 5] = [msg_id.as_bytes(), b".", ts.as_bytes(), b".", payload];
    let mut signature = String::with_capacity(keys.len() * (V1A.len() + 2 + V1A_B64_LEN));
    for key in keys {
        let b64 = key.sign_parts(&parts)?;
        push_entry(&mut signature, V1A, &b64);
    }
    Ok(SignedHeaders {
        id: msg_id.to_owned(),
        timestamp,
        signature,
    })
}

/// Checks the id and the timestamp of a message to sign, and returns the
/// timestamp as it is signed and sent.
fn check_message(msg_id: &str, timestamp: i64) -> Result<String> {
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
            "looks like milliseconds; `webhook-timestamp` is unix seconds",
        ));
    }
    Ok(timestamp.to_string())
}

/// Appends `version,base64` to a `webhook-signature` value.
fn push_entry(header: &mut String, version: &str, b64: &[u8]) {
    if !header.is_empty() {
        header.push(' ');
    }
    header.push_str(version);
    header.push(',');
    for &b in b64 {
        header.push(char::from(b));
    }
}
