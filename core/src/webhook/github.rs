//! GitHub-style webhooks (`X-Hub-Signature-256`): HMAC-SHA256 of the
//! payload under the raw secret, hex-encoded; no timestamp, no id.

use crate::error::WebhookRejection;
use subtle::ConstantTimeEq as _;

use crate::error::{Error, Result};

use super::mac::hmac_sha256_parts;
use super::verify::Verifier;

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

/// The GitHub delivery id header (`X-GitHub-Delivery`), lowercase: the only
/// replay protection GitHub deliveries carry.
///
/// ```
/// use secrets_core::webhook::GITHUB_HEADER_DELIVERY;
///
/// assert_eq!(GITHUB_HEADER_DELIVERY, "x-github-delivery");
/// ```
pub const GITHUB_HEADER_DELIVERY: &str = "x-github-delivery";

/// The longest accepted `X-GitHub-Delivery` id, in bytes (GitHub's are
/// 36-byte GUIDs).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{MAX_DELIVERY_LEN, Verifier, sign_github};
///
/// let sig = sign_github(b"{}", b"a GitHub webhook secret");
/// let long = "d".repeat(MAX_DELIVERY_LEN + 1);
/// let headers = [("X-GitHub-Delivery", long.as_str()), ("X-Hub-Signature-256", sig.as_str())];
/// assert!(Verifier::default().verify_github_headers(&headers, b"{}", b"a GitHub webhook secret").is_err());
/// # Ok(()) }
/// ```
pub const MAX_DELIVERY_LEN: usize = 255;

impl Verifier {
    /// Verifies a GitHub-style webhook: `signature_header` is the value of
    /// `X-Hub-Signature-256` (`sha256=` and 64 hex digits, either case),
    /// `payload` the raw body, `secret` the configured secret's raw bytes
    /// (GitHub secrets are plain strings: no base64, no prefix). Compared in
    /// constant time.
    ///
    /// GitHub signs no timestamp: a captured delivery can be replayed
    /// forever. Refuse repeated `X-GitHub-Delivery` ids
    /// ([`verify_github_headers`](Self::verify_github_headers) returns it;
    /// `Vault::verify_inbound_webhook` remembers it).
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
                reason: WebhookRejection::NoMatchingSignature,
            })
        }
    }
}

impl Verifier {
    /// Verifies a GitHub delivery from its headers as received (names in
    /// any case; other headers ignored): `X-GitHub-Delivery` (1 to 255
    /// printable ASCII bytes) and `X-Hub-Signature-256`, each exactly once,
    /// then the signature as [`verify_github`](Self::verify_github) does.
    /// Returns the delivery id: refuse it if seen before (GitHub signs no
    /// timestamp, so nothing else stops a replay).
    ///
    /// # Errors
    ///
    /// [`Error::Webhook`]: `missing X-GitHub-Delivery header`, `malformed
    /// X-GitHub-Delivery header`, `missing X-Hub-Signature-256 header`,
    /// `duplicate X-Hub-Signature-256 or X-GitHub-Delivery header`, then
    /// what [`verify_github`](Self::verify_github) returns.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::{Verifier, sign_github};
    ///
    /// let sig = sign_github(b"Hello, World!", b"It's a Secret to Everybody");
    /// let headers = [
    ///     ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ///     ("X-Hub-Signature-256", sig.as_str()),
    /// ];
    /// let id = Verifier::default().verify_github_headers(&headers, b"Hello, World!", b"It's a Secret to Everybody")?;
    /// assert_eq!(id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    /// # Ok(()) }
    /// ```
    pub fn verify_github_headers(
        &self,
        headers: &[(&str, &str)],
        payload: &[u8],
        secret: &[u8],
    ) -> Result<String> {
        let (delivery, signature) = github_headers(headers)?;
        self.verify_github(signature, payload, secret)?;
        Ok(delivery.to_owned())
    }
}

/// `X-GitHub-Delivery` and `X-Hub-Signature-256`, each found exactly once,
/// the delivery id well formed.
pub(crate) fn github_headers<'h>(headers: &[(&str, &'h str)]) -> Result<(&'h str, &'h str)> {
    let (mut delivery, mut signature) = (None, None);
    for &(name, value) in headers {
        let slot = if name.eq_ignore_ascii_case(GITHUB_HEADER_DELIVERY) {
            &mut delivery
        } else if name.eq_ignore_ascii_case(GITHUB_HEADER_SIGNATURE) {
            &mut signature
        } else {
            continue;
        };
        if slot.replace(value).is_some() {
            return Err(Error::Webhook {
                reason: WebhookRejection::DuplicateGithubHeader,
            });
        }
    }
    let delivery = delivery.unwrap_or_default();
    check_delivery_id(delivery)?;
    let signature = signature.ok_or(Error::Webhook {
        reason: WebhookRejection::MissingGithubSignature,
    })?;
    Ok((delivery, signature))
}

/// `X-GitHub-Delivery`: present, 1 to 255 printable ASCII bytes.
fn check_delivery_id(delivery: &str) -> Result<()> {
    if delivery.is_empty() {
        return Err(Error::Webhook {
            reason: WebhookRejection::MissingDelivery,
        });
    }
    if delivery.len() > MAX_DELIVERY_LEN || !delivery.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Webhook {
            reason: WebhookRejection::MalformedDelivery,
        });
    }
    Ok(())
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

pub(super) fn parse_github_header(value: &str) -> Result<[u8; 32]> {
    const MALFORMED: Error = Error::Webhook {
        reason: WebhookRejection::MalformedGithubSignature,
    };
    let Some(hex) = value.strip_prefix(GITHUB_PREFIX) else {
        if value.starts_with("sha1=") {
            return Err(Error::Webhook {
                reason: WebhookRejection::GithubSha1,
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
