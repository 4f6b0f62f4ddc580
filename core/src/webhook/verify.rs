//! Verifying inbound Standard Webhooks messages: the headers, the
//! timestamp window, and every `v1` signature against every secret in
//! constant time.

use crate::error::WebhookRejection;
use std::time::Duration;

use subtle::{Choice, ConstantTimeEq as _};

use crate::clock::Timestamp;
use crate::error::{Error, Result};

use super::SignatureVersion;
use super::asymmetric::WebhookPublicKey;
use super::header::{Entry, parse_signature_header};
use super::mac::v1_signature;
use super::message::{IdProblem, LOOKS_LIKE_MILLIS, parse_timestamp};
use super::secret::WebhookSecret;
use super::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

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

/// Verifies inbound webhooks: Standard Webhooks, symmetric
/// ([`verify`](Self::verify)) or asymmetric
/// ([`verify_asymmetric`](Self::verify_asymmetric)), and GitHub-style
/// ([`verify_github`](Self::verify_github),
/// [`verify_github_headers`](Self::verify_github_headers)).
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
    /// assert!(matches!(err, Error::Webhook { reason: secrets_core::error::WebhookRejection::TimestampTooOld }));
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
        let inbound = self.inbound(headers, payload, now, SignatureVersion::V1)?;
        let mut matched = Choice::from(0);
        for secret in secrets {
            let expected = v1_signature(secret.mac(), inbound.id, inbound.timestamp_text, payload)?;
            for entry in &inbound.entries {
                if let Entry::V1(candidate) = entry {
                    // Length is public (always 44 for a real signature).
                    matched |= expected.as_slice().ct_eq(candidate.as_bytes());
                }
            }
        }
        inbound.finish(bool::from(matched))
    }

    /// Verifies a Standard Webhooks message signed with the asymmetric
    /// scheme: as [`verify`](Self::verify), but against the `v1a` entries
    /// (Ed25519 signatures) of `webhook-signature` and the sender's public
    /// keys. `v1` entries are ignored: an HMAC signature never counts here,
    /// and a `v1a` signature never counts in [`verify`](Self::verify).
    ///
    /// A `v1a` value that is not the canonical base64 (with padding) of 64
    /// bytes never verifies. Signatures are checked with RFC 8032's strict
    /// rules (ed25519-dalek's `verify_strict`); public keys are not secret,
    /// so this comparison need not be constant-time.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), with `no supported signature
    /// (webhook-signature has no v1a entry)` when only other versions are
    /// present; [`Error::InvalidInput`] when `keys` is empty.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::Timestamp;
    /// use secrets_core::webhook::{Verifier, WebhookPublicKey};
    ///
    /// // The Go library's published vector (key `TESTSIGNINGKEYDONOTUSETHISFORANY`).
    /// let public = WebhookPublicKey::parse("whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=")?;
    /// let headers = [
    ///     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
    ///     ("webhook-timestamp", "1614265330"),
    ///     ("webhook-signature", "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="),
    /// ];
    /// let payload = br#"{"test": 2432232314}"#;
    /// let now = Timestamp::from_unix_seconds(1_614_265_330);
    /// let msg = Verifier::default().verify_asymmetric(&headers, payload, &[&public], now)?;
    /// assert_eq!(msg.id, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    /// assert!(Verifier::default().verify_asymmetric(&headers, b"{}", &[&public], now).is_err());
    /// # Ok(()) }
    /// ```
    pub fn verify_asymmetric(
        &self,
        headers: &[(&str, &str)],
        payload: &[u8],
        keys: &[&WebhookPublicKey],
        now: Timestamp,
    ) -> Result<VerifiedMessage> {
        if keys.is_empty() {
            return Err(Error::invalid(
                "keys",
                "is empty; verify against at least one public key",
            ));
        }
        let inbound = self.inbound(headers, payload, now, SignatureVersion::V1a)?;
        let parts: [&[u8]; 5] = [
            inbound.id.as_bytes(),
            b".",
            inbound.timestamp_text.as_bytes(),
            b".",
            payload,
        ];
        let matched = inbound.entries.iter().any(|entry| match entry {
            Entry::V1a(Some(signature)) => keys.iter().any(|k| k.verifies(&parts, signature)),
            _ => false,
        });
        inbound.finish(matched)
    }

    /// Everything but the signature check, in the documented order: the
    /// payload size, the three headers, the id, the timestamp's form, the
    /// signature header's form and that it has an entry of `version`, then
    /// the timestamp window.
    fn inbound<'h>(
        &self,
        headers: &[(&str, &'h str)],
        payload: &[u8],
        now: Timestamp,
        version: SignatureVersion,
    ) -> Result<Inbound<'h>> {
        self.check_payload(payload)?;
        let found = InboundHeaders::find(headers)?;
        IdProblem::check(found.id).map_err(IdProblem::header)?;
        let timestamp = parse_timestamp(found.timestamp)?;
        let entries = parse_signature_header(found.signature)?;
        let wanted = |e: &Entry<'_>| match version {
            SignatureVersion::V1 => matches!(e, Entry::V1(_)),
            SignatureVersion::V1a => matches!(e, Entry::V1a(_)),
        };
        if !entries.iter().any(wanted) {
            let reason = match version {
                SignatureVersion::V1 => WebhookRejection::NoSupportedSignature,
                SignatureVersion::V1a => WebhookRejection::NoSupportedAsymmetricSignature,
            };
            return Err(Error::Webhook { reason });
        }
        self.check_time(timestamp, now)?;
        Ok(Inbound {
            id: found.id,
            timestamp_text: found.timestamp,
            timestamp,
            entries,
        })
    }

    pub(super) fn check_payload(&self, payload: &[u8]) -> Result<()> {
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
                reason: WebhookRejection::TimestampTooOld,
            });
        }
        if -age_ms > tolerance_ms {
            let reason = if timestamp >= LOOKS_LIKE_MILLIS {
                WebhookRejection::TimestampInMilliseconds
            } else {
                WebhookRejection::TimestampTooNew
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

/// Verifies a Standard Webhooks `v1a` (Ed25519) message with the default
/// [`Verifier`] (5 minutes of tolerance, payloads up to 1 MiB).
///
/// # Errors
///
/// As [`Verifier::verify_asymmetric`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::Timestamp;
/// use secrets_core::webhook::{self, WebhookSecret, WebhookSigningKey};
///
/// let key = WebhookSigningKey::generate()?;
/// let signed = webhook::sign_asymmetric(&[&key], "msg_1", 1_700_000_000, b"{}")?;
/// let pairs = signed.pairs();
/// let headers: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// webhook::verify_asymmetric(&headers, b"{}", &[&key.public_key()], now)?;
///
/// // A v1a signature never checks against an HMAC secret.
/// let secret = WebhookSecret::generate()?;
/// assert!(webhook::verify(&headers, b"{}", &[&secret], now).is_err());
/// # Ok(()) }
/// ```
pub fn verify_asymmetric(
    headers: &[(&str, &str)],
    payload: &[u8],
    keys: &[&WebhookPublicKey],
    now: Timestamp,
) -> Result<VerifiedMessage> {
    Verifier::default().verify_asymmetric(headers, payload, keys, now)
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
                (&mut id, WebhookRejection::DuplicateId)
            } else if name.eq_ignore_ascii_case(HEADER_TIMESTAMP) {
                (&mut timestamp, WebhookRejection::DuplicateTimestamp)
            } else if name.eq_ignore_ascii_case(HEADER_SIGNATURE) {
                (&mut signature, WebhookRejection::DuplicateSignature)
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(Error::Webhook { reason: duplicate });
            }
        }
        Ok(Self {
            id: id.ok_or(Error::Webhook {
                reason: WebhookRejection::MissingId,
            })?,
            timestamp: timestamp.ok_or(Error::Webhook {
                reason: WebhookRejection::MissingTimestamp,
            })?,
            signature: signature.ok_or(Error::Webhook {
                reason: WebhookRejection::MissingSignature,
            })?,
        })
    }
}

/// A message whose headers passed every check but the signature.
struct Inbound<'h> {
    id: &'h str,
    timestamp_text: &'h str,
    timestamp: i64,
    entries: Vec<Entry<'h>>,
}

impl Inbound<'_> {
    fn finish(self, matched: bool) -> Result<VerifiedMessage> {
        if matched {
            Ok(VerifiedMessage {
                id: self.id.to_owned(),
                timestamp: self.timestamp,
            })
        } else {
            Err(Error::Webhook {
                reason: WebhookRejection::NoMatchingSignature,
            })
        }
    }
}
