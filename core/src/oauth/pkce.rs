//! PKCE (RFC 7636): the code verifier and its S256 challenge.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The only PKCE code challenge method this library produces: `S256`.
///
/// `plain` (RFC 7636 §4.2) is deliberately unsupported: it sends the verifier
/// itself as the challenge, so anyone who sees the authorization request can
/// redeem the code, which is the attack PKCE exists to stop.
///
/// ```
/// assert_eq!(secrets_core::oauth::METHOD, "S256");
/// ```
pub const METHOD: &str = "S256";

/// The shortest code verifier RFC 7636 §4.1 allows.
///
/// ```
/// assert_eq!(secrets_core::oauth::MIN_VERIFIER_LEN, 43);
/// ```
pub const MIN_VERIFIER_LEN: usize = 43;

/// The longest code verifier RFC 7636 §4.1 allows.
///
/// ```
/// assert_eq!(secrets_core::oauth::MAX_VERIFIER_LEN, 128);
/// ```
pub const MAX_VERIFIER_LEN: usize = 128;

/// The length of an S256 code challenge: base64url of 32 bytes, no padding.
pub(super) const CHALLENGE_LEN: usize = 43;

/// A PKCE code verifier (RFC 7636 §4.1). Secret: zeroized on drop, printed
/// as `[REDACTED]`, read only through [`expose_secret`](Self::expose_secret).
///
/// Only the S256 challenge is offered ([`METHOD`]).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::oauth::PkceVerifier;
///
/// let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned())?;
/// assert_eq!(v.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// assert_eq!(format!("{v:?}"), "PkceVerifier([REDACTED])");
/// # Ok(()) }
/// ```
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// A fresh verifier: 32 bytes from the operating system's generator,
    /// base64url without padding (43 characters, 256 bits), as RFC 7636 §4.1
    /// recommends.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system's generator fails.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// assert_eq!(v.expose_secret().len(), 43);
    /// # Ok(()) }
    /// ```
    pub fn generate() -> Result<Self> {
        let bytes = random_bytes::<32>()?;
        Ok(Self(SecretString::new(URL_SAFE_NO_PAD.encode(*bytes))))
    }

    /// Takes a verifier made elsewhere (or stored earlier), checking RFC 7636
    /// §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`. The string is
    /// zeroized when dropped, valid or not.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `code_verifier`) naming the length or
    /// the position of the first illegal character, never the verifier.
    ///
    /// ```
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// assert!(PkceVerifier::new("a".repeat(43)).is_ok());
    /// assert!(PkceVerifier::new("a".repeat(42)).is_err());
    /// assert!(PkceVerifier::new(format!("{}+", "a".repeat(42))).is_err());
    /// ```
    pub fn new(verifier: String) -> Result<Self> {
        let verifier = SecretString::new(verifier);
        let s = verifier.expose_secret();
        if let Some(pos) = s.chars().position(|c| !is_unreserved(c)) {
            return Err(Error::invalid(
                "code_verifier",
                format!(
                    "character {} is not one of [A-Za-z0-9-._~] (RFC 7636 section 4.1)",
                    pos + 1
                ),
            ));
        }
        // All characters are ASCII now, so bytes and characters agree.
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&s.len()) {
            return Err(Error::invalid(
                "code_verifier",
                format!(
                    "is {} characters; RFC 7636 requires {MIN_VERIFIER_LEN} to {MAX_VERIFIER_LEN}",
                    s.len()
                ),
            ));
        }
        Ok(Self(verifier))
    }

    /// The S256 code challenge: `BASE64URL-NOPAD(SHA-256(ASCII(verifier)))`
    /// (RFC 7636 §4.2), always 43 characters. Not secret: it is sent in the
    /// authorization URL.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// assert_eq!(v.challenge().len(), 43);
    /// assert_ne!(v.challenge(), v.expose_secret());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    /// Reads the verifier (to store it sealed, or to send it in the token
    /// request). Every call site is a place where the secret leaves its box.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// let again = PkceVerifier::new(v.expose_secret().to_owned())?;
    /// assert_eq!(again.challenge(), v.challenge());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([REDACTED])")
    }
}

/// RFC 3986 `unreserved`: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub(super) fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}
