//! The asymmetric scheme (`v1a`): an Ed25519 key pair (RFC 8032), the
//! signing key written `whsk_` + base64 of its 32-byte seed and kept by the
//! sender, the public key written `whpk_` + base64 of its 32 bytes and given
//! to receivers, who can verify deliveries but never forge one.

use std::fmt;

use base64::engine::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::SecretString;

use super::secret::SECRET_PREFIX;

/// The prefix of a `v1a` signing key's text form (the sender's private key).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{SIGNING_KEY_PREFIX, WebhookSigningKey};
///
/// let text = WebhookSigningKey::generate()?.to_text();
/// assert!(text.expose_secret().starts_with(SIGNING_KEY_PREFIX));
/// # Ok(()) }
/// ```
pub const SIGNING_KEY_PREFIX: &str = "whsk_";

/// The prefix of a `v1a` public key's text form (what receivers configure).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::{PUBLIC_KEY_PREFIX, WebhookSigningKey};
///
/// let public = WebhookSigningKey::generate()?.public_key();
/// assert!(public.to_text().starts_with(PUBLIC_KEY_PREFIX));
/// # Ok(()) }
/// ```
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";

/// Length of an Ed25519 seed or public key, in bytes.
const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature, in bytes.
pub(super) const SIGNATURE_LEN: usize = 64;
/// Length of the padded base64 of a 32-byte key.
const KEY_B64_LEN: usize = 44;
/// Length of the padded base64 of a 64-byte signature.
pub(super) const SIGNATURE_B64_LEN: usize = 88;

/// A Standard Webhooks `v1a` signing key: an Ed25519 private key, written
/// `whsk_` + standard base64 (with `=` padding) of its 32-byte seed (RFC
/// 8032 section 5.1.5), as the specification's Go library reads it.
///
/// Only the sender holds it; receivers verify with its
/// [`public_key`](Self::public_key). Zeroized on drop; `Debug` prints
/// `WebhookSigningKey([REDACTED])`; no `Display`, no `Clone`.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::WebhookSigningKey;
///
/// let key = WebhookSigningKey::generate()?;
/// let again = WebhookSigningKey::parse(key.to_text().expose_secret())?;
/// assert_eq!(key.public_key(), again.public_key());
/// assert_eq!(format!("{key:?}"), "WebhookSigningKey([REDACTED])");
/// # Ok(()) }
/// ```
pub struct WebhookSigningKey(SigningKey);

impl WebhookSigningKey {
    /// A fresh key pair from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot supply randomness.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// let a = WebhookSigningKey::generate()?;
    /// let b = WebhookSigningKey::generate()?;
    /// assert_ne!(a.public_key(), b.public_key());
    /// # Ok(()) }
    /// ```
    pub fn generate() -> Result<Self> {
        let seed = random_bytes::<KEY_LEN>()?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// A key from its 32-byte seed (the private key of RFC 8032).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other length, or for bytes that start
    /// with `whsk_` (the text form, which [`parse`](Self::parse) decodes).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// // RFC 8032 section 7.1, test 1.
    /// let seed = [
    ///     0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    ///     0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
    /// ];
    /// let key = WebhookSigningKey::from_bytes(&seed)?;
    /// assert_eq!(key.public_key().to_text(), "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
    /// assert!(WebhookSigningKey::from_bytes(&seed[..31]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_bytes(seed: &[u8]) -> Result<Self> {
        if seed.starts_with(SIGNING_KEY_PREFIX.as_bytes()) {
            return Err(Error::invalid(
                "webhook signing key",
                "starts with `whsk_`: these bytes are the text form of a key, not its seed; \
                 pass the text to `WebhookSigningKey::parse`",
            ));
        }
        let seed: &[u8; KEY_LEN] = seed.try_into().map_err(|_| {
            Error::invalid(
                "webhook signing key",
                format!(
                    "is {} bytes; an Ed25519 signing key is its {KEY_LEN}-byte seed",
                    seed.len()
                ),
            )
        })?;
        Ok(Self(SigningKey::from_bytes(seed)))
    }

    /// Parses the text form, strictly: `whsk_` followed by the standard
    /// base64 (with `=` padding, canonical) of the 32-byte seed. Surrounding
    /// whitespace is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `webhook signing key`) saying what is
    /// wrong, never repeating the text: another prefix (a `whpk_` public key
    /// or a `whsec_` shared secret is named as such), not base64, or not 32
    /// bytes (a 64-byte libsodium-style key, seed then public key, is named
    /// as such).
    ///
    /// ```
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// // The Go library's test key: the ASCII of `TESTSIGNINGKEYDONOTUSETHISFORANY`.
    /// assert!(WebhookSigningKey::parse("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").is_ok());
    /// let err = WebhookSigningKey::parse("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap_err();
    /// assert!(err.to_string().contains("public key"));
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        const FIELD: &str = "webhook signing key";
        let text = text.trim();
        let Some(body) = text.strip_prefix(SIGNING_KEY_PREFIX) else {
            let reason = if text.starts_with(PUBLIC_KEY_PREFIX) {
                "is a `whpk_` public key; signing needs the `whsk_` signing key it belongs to"
            } else if text.starts_with(SECRET_PREFIX) {
                "is a `whsec_` shared secret (the symmetric `v1` scheme), not a `whsk_` Ed25519 signing key"
            } else {
                "does not start with `whsk_`; a Standard Webhooks signing key is `whsk_` followed by the base64 of its 32-byte Ed25519 seed"
            };
            return Err(Error::invalid(FIELD, reason));
        };
        let seed = decode_key(FIELD, body, true)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The text form, `whsk_` + standard base64 with padding of the seed.
    /// A secret: keep it with the sender (the Vault seals it and never
    /// returns it).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// let key = WebhookSigningKey::from_bytes(b"TESTSIGNINGKEYDONOTUSETHISFORANY")?;
    /// assert_eq!(key.to_text().expose_secret(), "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn to_text(&self) -> SecretString {
        let mut text = String::with_capacity(SIGNING_KEY_PREFIX.len() + KEY_B64_LEN);
        text.push_str(SIGNING_KEY_PREFIX);
        B64.encode_string(self.0.as_bytes(), &mut text);
        SecretString::new(text)
    }

    /// The public key receivers verify with.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// let key = WebhookSigningKey::generate()?;
    /// assert_eq!(key.public_key().as_bytes().len(), 32);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn public_key(&self) -> WebhookPublicKey {
        WebhookPublicKey(self.0.verifying_key())
    }

    /// Reads the 32-byte seed. Every call site is a place where the key
    /// leaves its box.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// assert_eq!(WebhookSigningKey::from_bytes(&[5; 32])?.expose_secret(), &[5; 32]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The base64 of the Ed25519 signature of `parts` concatenated.
    pub(super) fn sign_parts(&self, parts: &[&[u8]]) -> Result<[u8; SIGNATURE_B64_LEN]> {
        let signature = self.0.sign(&parts.concat());
        let mut out = [0u8; SIGNATURE_B64_LEN];
        match B64.encode_slice(signature.to_bytes(), &mut out) {
            Ok(SIGNATURE_B64_LEN) => Ok(out),
            _ => Err(Error::Internal {
                what: "webhook signature encoding",
            }),
        }
    }
}

impl fmt::Debug for WebhookSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSigningKey([REDACTED])")
    }
}

/// A Standard Webhooks `v1a` public key: an Ed25519 public key (RFC 8032),
/// written `whpk_` + standard base64 (with `=` padding) of its 32 bytes.
///
/// Not secret: share it with every receiver. Only valid, non-small-order
/// curve points are accepted, so a key of this type can never be one under
/// which any signature verifies.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::webhook::WebhookPublicKey;
///
/// let text = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
/// assert_eq!(WebhookPublicKey::parse(text)?.to_text(), text);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WebhookPublicKey(VerifyingKey);

impl WebhookPublicKey {
    /// Parses the text form, strictly: `whpk_` followed by the standard
    /// base64 (with `=` padding, canonical) of 32 bytes that encode a
    /// valid Ed25519 point of large order. Surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `webhook public key`) saying what is
    /// wrong: another prefix (a `whsk_` signing key, which a receiver must
    /// never hold, and a `whsec_` shared secret are named as such), not
    /// base64, not 32 bytes, not a point on the curve, or a small-order
    /// point.
    ///
    /// ```
    /// use secrets_core::webhook::WebhookPublicKey;
    ///
    /// let err = WebhookPublicKey::parse("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=").unwrap_err();
    /// assert!(err.to_string().contains("private key"));
    /// // The identity point (small order) verifies forged signatures: refused.
    /// assert!(WebhookPublicKey::parse("whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let Some(body) = text.strip_prefix(PUBLIC_KEY_PREFIX) else {
            let reason = if text.starts_with(SIGNING_KEY_PREFIX) {
                "is a `whsk_` signing key, the sender's private key: a receiver needs only the `whpk_` public key; \
                 keep the signing key with the sender (and replace it if it was shared)"
            } else if text.starts_with(SECRET_PREFIX) {
                "is a `whsec_` shared secret (the symmetric `v1` scheme), not a `whpk_` Ed25519 public key"
            } else {
                "does not start with `whpk_`; a Standard Webhooks public key is `whpk_` followed by the base64 of its 32 bytes"
            };
            return Err(Error::invalid("webhook public key", reason));
        };
        let bytes = decode_key("webhook public key", body, false)?;
        Self::from_bytes(bytes.as_slice())
    }

    /// A public key from its 32 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for another length, bytes that are not a
    /// point on the curve, or a small-order point.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::{WebhookPublicKey, WebhookSigningKey};
    ///
    /// let public = WebhookSigningKey::generate()?.public_key();
    /// assert_eq!(WebhookPublicKey::from_bytes(public.as_bytes())?, public);
    /// assert!(WebhookPublicKey::from_bytes(&[0; 31]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        const FIELD: &str = "webhook public key";
        let bytes: &[u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::invalid(
                FIELD,
                format!(
                    "is {} bytes; an Ed25519 public key is {KEY_LEN}",
                    bytes.len()
                ),
            )
        })?;
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| {
            Error::invalid(
                FIELD,
                "is not a valid Ed25519 public key (the bytes are not a point on the curve)",
            )
        })?;
        if key.is_weak() {
            return Err(Error::invalid(
                FIELD,
                "is a small-order point, not a usable Ed25519 public key (signatures under it prove nothing)",
            ));
        }
        Ok(Self(key))
    }

    /// The text form, `whpk_` + standard base64 with padding.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSigningKey;
    ///
    /// let text = WebhookSigningKey::generate()?.public_key().to_text();
    /// assert!(text.starts_with("whpk_") && text.len() == 5 + 44);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(PUBLIC_KEY_PREFIX.len() + KEY_B64_LEN);
        text.push_str(PUBLIC_KEY_PREFIX);
        B64.encode_string(self.0.as_bytes(), &mut text);
        text
    }

    /// The 32 bytes of the key.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookPublicKey;
    ///
    /// let key = WebhookPublicKey::parse("whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")?;
    /// assert_eq!(key.as_bytes()[0], 0xd7);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Whether `signature` is a valid signature of `parts` concatenated,
    /// under RFC 8032's strict rules as ed25519-dalek's `verify_strict`
    /// applies them (canonical `S`, no small-order `R`).
    pub(super) fn verifies(&self, parts: &[&[u8]], signature: &[u8; SIGNATURE_LEN]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.0.verify_strict(&parts.concat(), &signature).is_ok()
    }
}

/// As its `whpk_` text (it is not secret).
impl serde::Serialize for WebhookPublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

/// From its `whpk_` text, checked as [`WebhookPublicKey::parse`] checks it.
impl<'de> serde::Deserialize<'de> for WebhookPublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for WebhookPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookPublicKey({:?})", self.to_text())
    }
}

/// Decodes the base64 of a 32-byte key after its prefix (canonical
/// base64 with padding). `secret`: the error never hints at the content.
fn decode_key(field: &'static str, body: &str, secret: bool) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut buf = Zeroizing::new([0u8; KEY_LEN + 3]);
    let not_base64 = || {
        Error::invalid(
            field,
            "is not the standard base64 (with `=` padding) of 32 bytes after its prefix",
        )
    };
    if body.len() > KEY_B64_LEN * 2 {
        return Err(Error::invalid(
            field,
            format!(
                "is {} characters after its prefix; the base64 of a 32-byte key is {KEY_B64_LEN}",
                body.len()
            ),
        ));
    }
    let len = match B64.decode_slice(body.as_bytes(), buf.as_mut_slice()) {
        Ok(len) => len,
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            // More than 35 bytes: say how many, which names the likely mix-up.
            let decoded = B64.decode(body).map_err(|_| not_base64())?;
            let decoded = Zeroizing::new(decoded);
            return Err(wrong_length(field, decoded.len(), secret));
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return Err(not_base64()),
    };
    if len != KEY_LEN {
        return Err(wrong_length(field, len, secret));
    }
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    for (dst, src) in out.iter_mut().zip(buf.iter()) {
        *dst = *src;
    }
    Ok(out)
}

fn wrong_length(field: &'static str, len: usize, secret: bool) -> Error {
    let hint = if secret && len == 2 * KEY_LEN {
        " (64 bytes looks like a libsodium-style secret key, seed then public key: `whsk_` holds only the 32-byte seed, its first half)"
    } else {
        ""
    };
    Error::invalid(
        field,
        format!("decodes to {len} bytes; an Ed25519 key is {KEY_LEN} bytes{hint}"),
    )
}
