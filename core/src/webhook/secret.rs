//! The signing secret: `whsec_` + base64 of 24 to 64 random bytes, parsed
//! strictly, with errors that explain the base64-versus-raw-string trap.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD as B64};
use base64::engine::{DecodePaddingMode, Engine};
use zeroize::Zeroizing;

use super::mac::{HmacSha256, keyed_hmac};

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

/// Length of the padded base64 of [`MAX_SECRET_LEN`] bytes.
const MAX_SECRET_B64_LEN: usize = 4 * MAX_SECRET_LEN.div_ceil(3);

/// The reference libraries' decoding, for [`WebhookSecret::parse_lenient`]:
/// standard alphabet, `=` padding optional, and non-zero trailing bits
/// accepted and dropped (the bits of the last character beyond the last
/// whole byte). Python's `standardwebhooks` decodes with
/// `base64.b64decode(secret + "==")`, which does both; a secret a provider
/// hands out is usable there, so it is usable here.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Padding optional, trailing bits strict: only to tell, in an error, a
/// missing padding from non-zero trailing bits.
const B64_PADDING_OPTIONAL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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
pub struct WebhookSecret {
    bytes: Zeroizing<Vec<u8>>,
    /// HMAC-SHA256 keyed with `bytes` once, cloned for each signature
    /// (wiped on drop, as every keyed HMAC state here: `sha2`'s `zeroize`).
    mac: HmacSha256,
}

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

    /// Parses the text form as the specification's reference libraries
    /// (Python and JavaScript `standardwebhooks`) do: the `whsec_` prefix
    /// may be missing, the `=` padding may be left out, and the last
    /// character may carry non-zero bits beyond the last whole byte (they
    /// are dropped, as Python's `base64.b64decode` drops them). The rest is
    /// as strict as [`parse`](Self::parse): standard base64 alphabet only
    /// (no whitespace inside, no URL-safe `-` `_`), 24 to 64 decoded bytes.
    ///
    /// Use it to read secrets issued by other providers; prefer
    /// [`parse`](Self::parse) for secrets this library generated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `webhook secret`) for text that is not
    /// base64 even so (a character outside the alphabet, or a length one
    /// more than a multiple of 4, which no byte string encodes to), or that
    /// decodes to a length outside 24..=64.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::webhook::WebhookSecret;
    ///
    /// let a = WebhookSecret::parse_lenient("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// let b = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// assert_eq!(a.expose_secret(), b.expose_secret());
    ///
    /// // 34 characters: no padding, and `r` sets 4 bits past the 25th byte.
    /// // The reference libraries accept it (25 bytes); `parse` names both causes.
    /// let c = WebhookSecret::parse_lenient("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr")?;
    /// assert_eq!(c.expose_secret().len(), 25);
    /// let err = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").unwrap_err();
    /// assert!(err.to_string().contains("non-zero trailing bits"));
    /// # Ok(()) }
    /// ```
    pub fn parse_lenient(text: &str) -> Result<Self> {
        let text = text.trim();
        let body = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        Self::decode_body(body, &B64_LENIENT)
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
        B64.encode_string(self.bytes.as_slice(), &mut text);
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
        &self.bytes
    }

    /// The HMAC-SHA256 state keyed with the secret.
    pub(super) fn mac(&self) -> &HmacSha256 {
        &self.mac
    }

    /// A key as stored by the Vault (the bytes a text form decoded to):
    /// checked for length only, since a key a sender handed out may decode
    /// to anything, `whsec_` included.
    pub(crate) fn from_key_bytes(bytes: &[u8]) -> Result<Self> {
        check_secret_len("webhook secret", bytes.len())?;
        Ok(Self::from_checked(bytes))
    }

    /// `bytes` already checked for length.
    fn from_checked(bytes: &[u8]) -> Self {
        let mut v = Zeroizing::new(Vec::with_capacity(bytes.len()));
        v.extend_from_slice(bytes);
        Self {
            mac: keyed_hmac(bytes),
            bytes: v,
        }
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
                "is {len} bytes, shorter than the minimum of {MIN_SECRET_LEN}; a webhook secret is {MIN_SECRET_LEN} to {MAX_SECRET_LEN} random bytes (generate one with the library)"
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
    let decodes = B64_LENIENT
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

/// The error for a body that is not strict base64, naming the real cause:
/// the URL-safe alphabet, a length no byte string encodes to, non-zero
/// trailing bits, a missing padding, or anything else.
fn not_base64(body: &str) -> Error {
    let data = body.trim_end_matches('=');
    let standard = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let unpadded = data.len() == body.len() && !body.len().is_multiple_of(4);
    let mut buf = Zeroizing::new([0u8; 2 * MAX_SECRET_LEN]);
    let mut decodes = |engine: &GeneralPurpose| {
        engine
            .decode_slice(body.as_bytes(), buf.as_mut_slice())
            .is_ok()
    };
    let lenient = decodes(&B64_LENIENT);
    let canonical_bits = decodes(&B64_PADDING_OPTIONAL);
    let reason = if data.bytes().all(url_safe) && data.bytes().any(|b| b == b'-' || b == b'_') {
        "is not valid base64 after `whsec_`: it uses the URL-safe alphabet (`-`, `_`); the secret is standard base64 (`+`, `/`, `=` padding) of the key bytes"
    } else if data.bytes().all(standard) && data.len() % 4 == 1 {
        "is not valid base64 after `whsec_`: its length is one more than a multiple of 4, which no byte string encodes to (a character is missing or extra: was the secret cut short or pasted twice?)"
    } else if lenient && !canonical_bits && unpadded {
        "is not valid base64 after `whsec_`: the `=` padding is missing and the last character has non-zero trailing bits (bits beyond the last whole byte), so it is not the canonical base64 of any key; \
         `WebhookSecret::parse_lenient` decodes it as the reference Standard Webhooks libraries do, dropping those bits"
    } else if lenient && !canonical_bits {
        "is not valid base64 after `whsec_`: the last character has non-zero trailing bits (bits beyond the last whole byte), so it is not the canonical base64 of any key; \
         `WebhookSecret::parse_lenient` decodes it as the reference Standard Webhooks libraries do, dropping those bits"
    } else if lenient && unpadded {
        "is not valid base64 after `whsec_`: the `=` padding is missing; the secret is standard base64 with padding of the key bytes (`WebhookSecret::parse_lenient` accepts it without)"
    } else {
        "is not valid base64 after `whsec_`; the text after the prefix is the standard base64 (with `=` padding) of the key bytes, not the key itself"
    };
    Error::invalid("webhook secret", reason)
}
