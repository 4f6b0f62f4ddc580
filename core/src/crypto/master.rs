//! The master key: the one secret a host must keep, from which every data key
//! is derived.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use zeroize::Zeroizing;

use crate::crypto::{KdfParams, random_bytes};
use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

/// 32 bytes from which a [`KeyRing`](crate::crypto::KeyRing) derives its data
/// keys. Best made by [`MasterKey::generate`] and kept in a file or an
/// environment variable as base64; a passphrase also works, stretched by
/// [`KdfParams`].
///
/// Zeroized on drop; `Debug` prints `MasterKey([REDACTED])`.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::MasterKey;
///
/// let key = MasterKey::generate()?;
/// let text = key.to_base64(); // store this somewhere safe
/// let again = MasterKey::from_base64(text.expose_secret())?;
/// assert_eq!(again.expose_secret(), key.expose_secret());
/// assert!(MasterKey::from_base64("too-short").is_err());
/// # Ok(()) }
/// ```
pub struct MasterKey(Zeroizing<[u8; MASTER_KEY_LEN]>);

impl MasterKey {
    pub(crate) fn from_array(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// 32 fresh bytes from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self> {
        Ok(Self(random_bytes::<MASTER_KEY_LEN>()?))
    }

    /// A master key from exactly 32 bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; MASTER_KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::invalid(
                "master key",
                format!(
                    "is {} bytes; it must be exactly {MASTER_KEY_LEN} random bytes",
                    bytes.len()
                ),
            )
        })?;
        Ok(Self::from_array(arr))
    }

    /// A master key from standard base64 (with padding) of 32 bytes, as
    /// [`MasterKey::to_base64`] writes it. Surrounding whitespace, such as the
    /// newline at the end of a key file, is ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for text that is not base64 or does not decode
    /// to 32 bytes. The message never repeats the text.
    pub fn from_base64(text: &str) -> Result<Self> {
        let decoded = SecretBytes::new(B64.decode(text.trim().as_bytes()).map_err(|_| {
            Error::invalid(
                "master key",
                "is not valid base64 (standard alphabet with padding, as `MasterKey::to_base64` writes it)",
            )
        })?);
        Self::from_bytes(decoded.expose_secret())
    }

    /// Stretches a passphrase with PBKDF2-HMAC-SHA256; same as
    /// [`KdfParams::derive`]. Slow by design: call it once at start-up.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty passphrase.
    pub fn from_passphrase(passphrase: &SecretString, params: &KdfParams) -> Result<Self> {
        params.derive(passphrase)
    }

    /// The key as standard base64, for storing it.
    #[must_use]
    pub fn to_base64(&self) -> SecretString {
        SecretString::new(B64.encode(self.0.as_ref()))
    }

    /// Reads the key bytes.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lengths_and_encodings_are_specific_errors() {
        for len in [0, 16, 31, 33, 64] {
            let err = MasterKey::from_bytes(&vec![1; len]).unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidInput {
                    field: "master key",
                    ..
                }
            ));
            assert!(err.to_string().contains(&format!("is {len} bytes")));
        }
        let err = MasterKey::from_base64("not base64 at all!").unwrap_err();
        assert!(err.to_string().contains("not valid base64"));
        // Valid base64 of 31 bytes: a length error, not an encoding error.
        let err = MasterKey::from_base64(&B64.encode([0u8; 31])).unwrap_err();
        assert!(err.to_string().contains("is 31 bytes"));
    }

    #[test]
    fn base64_round_trip_tolerates_a_trailing_newline() {
        let k = MasterKey::from_bytes(&[0xab; 32]).unwrap();
        let text = format!("{}\n", k.to_base64().expose_secret());
        assert_eq!(
            MasterKey::from_base64(&text).unwrap().expose_secret(),
            &[0xab; 32]
        );
    }

    #[test]
    fn debug_is_redacted() {
        let k = MasterKey::from_bytes(&[0xab; 32]).unwrap();
        let shown = format!("{k:?}");
        assert_eq!(shown, "MasterKey([REDACTED])");
        assert!(!shown.to_lowercase().contains("ab"));
    }
}
