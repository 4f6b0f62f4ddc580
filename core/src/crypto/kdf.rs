//! Passphrase stretching: PBKDF2-HMAC-SHA256 with parameters that travel with
//! the data, so a store sealed under today's defaults still opens after they
//! are raised.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::crypto::{MasterKey, random_bytes};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// The fewest iterations accepted (the floor this library enforces).
pub const MIN_ITERATIONS: u32 = 65_536;
/// The default iteration count (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// The most iterations accepted: bounds the work a tampered header can demand
/// (about five seconds on one core).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// The shortest salt accepted, in bytes.
pub const MIN_SALT_LEN: usize = 16;
/// The longest salt accepted, in bytes.
pub const MAX_SALT_LEN: usize = 64;

const FORMAT_VERSION: u8 = 1;
const ALG_PBKDF2_HMAC_SHA256: u8 = 1;
const ALG_NAME: &str = "pbkdf2-hmac-sha256";

/// Parameters for deriving a [`MasterKey`] from a passphrase: algorithm
/// (PBKDF2-HMAC-SHA256), iteration count and salt.
///
/// Store them beside the data (as bytes with [`KdfParams::to_bytes`] or as
/// JSON through serde); they are not secret. Every constructor validates:
/// iterations from [`MIN_ITERATIONS`] to [`MAX_ITERATIONS`], a salt of
/// [`MIN_SALT_LEN`] to [`MAX_SALT_LEN`] bytes.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KdfParams, MIN_ITERATIONS};
///
/// let params = KdfParams::generate()?; // 600,000 iterations, 16 random salt bytes
/// let stored = params.to_bytes();
/// assert_eq!(KdfParams::from_bytes(&stored)?, params);
///
/// assert!(KdfParams::generate_with_iterations(MIN_ITERATIONS - 1).is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "KdfParamsJson", into = "KdfParamsJson")]
#[non_exhaustive]
pub struct KdfParams {
    iterations: u32,
    salt: Vec<u8>,
}

impl KdfParams {
    /// Validated parameters from an iteration count and a salt.
    ///
    /// # Errors
    ///
    /// [`Error::WeakKdf`] below [`MIN_ITERATIONS`]; [`Error::InvalidInput`]
    /// above [`MAX_ITERATIONS`] or for a salt of the wrong length.
    pub fn new(iterations: u32, salt: Vec<u8>) -> Result<Self> {
        if iterations < MIN_ITERATIONS {
            return Err(Error::WeakKdf {
                iterations,
                min: MIN_ITERATIONS,
            });
        }
        if iterations > MAX_ITERATIONS {
            return Err(Error::invalid(
                "iterations",
                format!("{iterations} is above the maximum of {MAX_ITERATIONS}"),
            ));
        }
        if !(MIN_SALT_LEN..=MAX_SALT_LEN).contains(&salt.len()) {
            return Err(Error::invalid(
                "salt",
                format!(
                    "is {} bytes; it must be {MIN_SALT_LEN} to {MAX_SALT_LEN} random bytes",
                    salt.len()
                ),
            ));
        }
        Ok(Self { iterations, salt })
    }

    /// The defaults: [`DEFAULT_ITERATIONS`] and a fresh 16-byte salt from the
    /// operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system cannot supply randomness.
    pub fn generate() -> Result<Self> {
        Self::generate_with_iterations(DEFAULT_ITERATIONS)
    }

    /// A fresh 16-byte salt with a chosen iteration count.
    ///
    /// # Errors
    ///
    /// As [`KdfParams::new`], and [`Error::Rng`].
    pub fn generate_with_iterations(iterations: u32) -> Result<Self> {
        let salt = random_bytes::<MIN_SALT_LEN>()?.to_vec();
        Self::new(iterations, salt)
    }

    /// The iteration count.
    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt (not secret).
    #[must_use]
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The byte form documented in `docs/FORMATS.md`:
    /// `01 | 01 | iterations (u32 BE) | salt length (u8) | salt`.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(7 + self.salt.len());
        out.push(FORMAT_VERSION);
        out.push(ALG_PBKDF2_HMAC_SHA256);
        out.extend_from_slice(&self.iterations.to_be_bytes());
        // new() bounds the salt to MAX_SALT_LEN (64), so it fits in a byte.
        out.push(u8::try_from(self.salt.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.salt);
        out
    }

    /// Parses and validates the byte form written by [`KdfParams::to_bytes`].
    ///
    /// # Errors
    ///
    /// [`Error::Truncated`] or [`Error::InvalidInput`] for malformed bytes,
    /// [`Error::UnsupportedVersion`] for an unknown format version, and the
    /// validation errors of [`KdfParams::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let [version, alg, i0, i1, i2, i3, salt_len, salt @ ..] = bytes else {
            return Err(Error::Truncated {
                what: "KDF parameters",
                len: bytes.len(),
                min: 7 + MIN_SALT_LEN,
            });
        };
        if *version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: *version,
                supported: FORMAT_VERSION,
            });
        }
        if *alg != ALG_PBKDF2_HMAC_SHA256 {
            return Err(Error::invalid(
                "KDF parameters",
                format!("algorithm `{alg}` is unknown (1 is PBKDF2-HMAC-SHA256)"),
            ));
        }
        if usize::from(*salt_len) != salt.len() {
            return Err(Error::invalid(
                "KDF parameters",
                format!(
                    "the salt length byte says {salt_len} but {} bytes follow",
                    salt.len()
                ),
            ));
        }
        Self::new(u32::from_be_bytes([*i0, *i1, *i2, *i3]), salt.to_vec())
    }

    /// Stretches `passphrase` into a master key. Slow by design (that is the
    /// point): call it once per key load, off any async worker thread.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty passphrase.
    pub fn derive(&self, passphrase: &SecretString) -> Result<MasterKey> {
        if passphrase.is_empty() {
            return Err(Error::invalid("passphrase", "is empty"));
        }
        let mut out = Zeroizing::new([0u8; 32]);
        pbkdf2_hmac_sha256(
            passphrase.expose_secret().as_bytes(),
            &self.salt,
            self.iterations,
            out.as_mut(),
        );
        Ok(MasterKey::from_array(*out))
    }
}

/// Raw PBKDF2-HMAC-SHA256 with no policy: the primitive the vectors pin.
pub(crate) fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out);
}

impl fmt::Debug for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KdfParams")
            .field("algorithm", &ALG_NAME)
            .field("iterations", &self.iterations)
            .field("salt", &B64.encode(&self.salt))
            .finish()
    }
}

/// The JSON shape: `{"algorithm":"pbkdf2-hmac-sha256","iterations":600000,"salt":"<base64>"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfParamsJson {
    algorithm: String,
    iterations: u32,
    salt: String,
}

impl From<KdfParams> for KdfParamsJson {
    fn from(p: KdfParams) -> Self {
        Self {
            algorithm: ALG_NAME.to_owned(),
            iterations: p.iterations,
            salt: B64.encode(&p.salt),
        }
    }
}

impl TryFrom<KdfParamsJson> for KdfParams {
    type Error = Error;

    fn try_from(j: KdfParamsJson) -> Result<Self> {
        if j.algorithm != ALG_NAME {
            return Err(Error::invalid(
                "algorithm",
                format!("`{}` is unknown (expected `{ALG_NAME}`)", j.algorithm),
            ));
        }
        let salt = B64
            .decode(j.salt.as_bytes())
            .map_err(|_| Error::invalid("salt", "is not valid base64 (standard alphabet)"))?;
        Self::new(j.iterations, salt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PBKDF2-HMAC-SHA256 known answers from `core/tests/data/pbkdf2_hmac_sha256.json`:
    /// RFC 7914 section 11 and the other published sets it records, skipping
    /// only the cases the file itself marks slow (16,777,216 iterations).
    #[test]
    fn pbkdf2_known_answers() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/pbkdf2_hmac_sha256.json")).unwrap();
        let mut ran = 0;
        let mut rfc7914 = 0;
        for t in file["tests"].as_array().unwrap() {
            if t["slow"].as_bool().unwrap() {
                continue;
            }
            let password = hex::decode(t["password_hex"].as_str().unwrap()).unwrap();
            let salt = hex::decode(t["salt_hex"].as_str().unwrap()).unwrap();
            let expected = hex::decode(t["dk_hex"].as_str().unwrap()).unwrap();
            let iterations = u32::try_from(t["iterations"].as_u64().unwrap()).unwrap();
            let mut out = vec![0u8; expected.len()];
            pbkdf2_hmac_sha256(&password, &salt, iterations, &mut out);
            assert_eq!(out, expected, "vector id {}", t["id"]);
            ran += 1;
            if t["source"].as_str().unwrap().contains("RFC 7914") {
                rfc7914 += 1;
            }
        }
        assert_eq!(rfc7914, 2, "both RFC 7914 section 11 vectors ran");
        assert!(ran >= 15, "ran {ran} vectors");
    }

    #[test]
    fn derive_through_the_public_api_is_pbkdf2() {
        // No published vector has a salt and output length this policy accepts,
        // so these answers were computed independently with Python's
        // hashlib.pbkdf2_hmac("sha256", password, bytes(range(16)), n, 32).
        let password = SecretString::from("correct horse battery staple");
        for (iterations, expected) in [
            (
                65_536,
                "8b55bc2b228eb8dc0f0cea8e0a66c41465cd0058030e6ef63b23c647492e540d",
            ),
            (
                600_000,
                "ef177144eec9420cbc1093d2a8b344a92bc506d0d4ec9c028dd19f8324d8c1e6",
            ),
        ] {
            let params = KdfParams::new(iterations, (0u8..16).collect()).unwrap();
            let key = params.derive(&password).unwrap();
            assert_eq!(hex::encode(key.expose_secret()), expected, "{iterations}");
        }
    }

    #[test]
    fn policy_refuses_weak_or_malformed_parameters() {
        assert!(matches!(
            KdfParams::new(MIN_ITERATIONS - 1, vec![0; 16]),
            Err(Error::WeakKdf {
                iterations: 65_535,
                min: MIN_ITERATIONS
            })
        ));
        assert!(matches!(
            KdfParams::new(MAX_ITERATIONS + 1, vec![0; 16]),
            Err(Error::InvalidInput {
                field: "iterations",
                ..
            })
        ));
        assert!(matches!(
            KdfParams::new(MIN_ITERATIONS, vec![0; 15]),
            Err(Error::InvalidInput { field: "salt", .. })
        ));
        assert!(matches!(
            KdfParams::new(MIN_ITERATIONS, vec![0; 65]),
            Err(Error::InvalidInput { field: "salt", .. })
        ));
        let p = KdfParams::new(MIN_ITERATIONS, vec![1; 16]).unwrap();
        assert!(matches!(
            p.derive(&SecretString::from("")),
            Err(Error::InvalidInput {
                field: "passphrase",
                ..
            })
        ));
    }

    #[test]
    fn byte_form_round_trips_and_rejects_garbage() {
        let p = KdfParams::new(600_000, (0u8..16).collect()).unwrap();
        let bytes = p.to_bytes();
        assert_eq!(
            hex::encode(&bytes),
            "0101000927c010000102030405060708090a0b0c0d0e0f"
        );
        assert_eq!(KdfParams::from_bytes(&bytes).unwrap(), p);
        assert!(matches!(
            KdfParams::from_bytes(&bytes[..5]),
            Err(Error::Truncated { .. })
        ));
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 2;
        assert!(matches!(
            KdfParams::from_bytes(&wrong_version),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
        let mut wrong_alg = bytes.clone();
        wrong_alg[1] = 9;
        assert!(KdfParams::from_bytes(&wrong_alg).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(KdfParams::from_bytes(&extra).is_err());
        let mut weak = bytes;
        weak[2..6].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(
            KdfParams::from_bytes(&weak),
            Err(Error::WeakKdf {
                iterations: 1000,
                ..
            })
        ));
    }

    #[test]
    fn json_form_round_trips_and_validates() {
        let p = KdfParams::new(100_000, vec![7; 16]).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(
            json,
            r#"{"algorithm":"pbkdf2-hmac-sha256","iterations":100000,"salt":"BwcHBwcHBwcHBwcHBwcHBw=="}"#
        );
        assert_eq!(serde_json::from_str::<KdfParams>(&json).unwrap(), p);
        let weak = json.replace("100000", "1000");
        assert!(serde_json::from_str::<KdfParams>(&weak).is_err());
        let bad_b64 = json.replace("BwcH", "!!!!");
        assert!(serde_json::from_str::<KdfParams>(&bad_b64).is_err());
    }
}
