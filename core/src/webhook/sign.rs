//! Signing outbound webhooks: one `v1` signature per secret.

use crate::error::{Error, Result};

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
