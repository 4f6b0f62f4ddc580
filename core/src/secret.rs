//! Containers for secret material: zeroized on drop, redacted in `Debug`,
//! read only through `expose_secret()` so that every read is greppable.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes (a decrypted value, a raw key). Zeroized on drop; prints as
/// `[REDACTED]`.
///
/// ```
/// use secrets_core::SecretBytes;
///
/// let s = SecretBytes::new(b"hunter2".to_vec());
/// assert_eq!(s.expose_secret(), b"hunter2");
/// assert_eq!(format!("{s:?}"), "SecretBytes([REDACTED])");
/// ```
#[derive(Clone, Default)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; they are zeroized when this value drops.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Reads the secret. Every call site is a place where a secret leaves its box.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (not secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time in the contents (the length is not secret).
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes([REDACTED])")
    }
}

/// A secret string (a password, a passphrase, a token). Zeroized on drop;
/// prints as `[REDACTED]`.
///
/// ```
/// use secrets_core::SecretString;
///
/// let s = SecretString::from("correct horse");
/// assert_eq!(s.expose_secret(), "correct horse");
/// assert!(!format!("{s:?}").contains("horse"));
/// ```
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `s`; it is zeroized when this value drops.
    #[must_use]
    pub fn new(s: String) -> Self {
        Self(Zeroizing::new(s))
    }

    /// Reads the secret. Every call site is a place where a secret leaves its box.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The length in bytes (not secret).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl PartialEq for SecretString {
    /// Constant-time in the contents (the length is not secret).
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let b = SecretBytes::new(b"p4ssw0rd-bytes".to_vec());
        let s = SecretString::from("p4ssw0rd-string");
        assert!(!format!("{b:?}").contains("p4ssw0rd"));
        assert!(!format!("{s:?}").contains("p4ssw0rd"));
        assert!(!format!("{b:#?}").contains("p4ssw0rd"));
        assert!(!format!("{s:#?}").contains("p4ssw0rd"));
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(SecretString::from("a"), SecretString::from("a"));
        assert_ne!(SecretString::from("a"), SecretString::from("b"));
        assert_ne!(SecretBytes::new(vec![1]), SecretBytes::new(vec![1, 2]));
    }
}
