//! EdDSA access tokens (RFC 8037, Ed25519): the key pair of each key-ring
//! key id, its `kid` (an RFC 7638 thumbprint), the JWKS (RFC 7517) that
//! publishes the public halves, and [`decode_eddsa`], the verification
//! primitive for a raw public key.
//!
//! The signing key of key-ring key *n* is the Ed25519 private key (RFC 8032
//! section 5.1.5, the 32-byte seed) `subkey("jwt-ed25519/" || decimal(n))`,
//! that is `HMAC-SHA256(master key, "secrets-core/v1/subkey/jwt-ed25519/"
//! || n in decimal)`: derived, never stored, independent of the data keys
//! and of the HS256 key `jwt/n`. Its `kid` is the RFC 7638 thumbprint of the
//! public key, so a `kid` names one key for good: a master key replaced
//! under the same key ids gives other `kid`s, and a verifier never pairs a
//! cached key with a token it did not sign.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SIGNATURE_LENGTH, Signature, Signer, SigningKey, VerifyingKey};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::claims::{ClaimSet, check_times};
use super::config::{JwtAlgorithm, check_leeway};
use super::jws::Compact;
use super::rejected;
use crate::clock::Timestamp;
use crate::crypto::{KeyId, KeyRing};
use crate::error::{Error, Result, TokenRejection};

/// The key-ring subkey label of the Ed25519 seed of key id `n`: this
/// prefix, then `n` in decimal.
const SEED_LABEL: &str = "jwt-ed25519/";

/// The Ed25519 key pair of one key-ring key id. The private half is wiped
/// on drop (`ed25519-dalek`'s `zeroize` feature) and never printed.
pub(super) struct EdKey {
    signing: SigningKey,
    /// The RFC 7638 thumbprint of the public key.
    kid: String,
}

impl EdKey {
    /// The key pair of key-ring key `id` (see the module documentation).
    pub(super) fn derive(ring: &KeyRing, id: KeyId) -> Self {
        let seed = ring.derive_subkey(&format!("{SEED_LABEL}{}", id.get()));
        Self::from_seed(&seed)
    }

    /// The key pair of an RFC 8032 private key (seed).
    pub(super) fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let kid = thumbprint(signing.verifying_key().as_bytes());
        Self { signing, kid }
    }

    /// The `kid` of tokens signed with this key.
    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key.
    pub(super) fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The Ed25519 signature of `message` (deterministic, RFC 8032).
    pub(super) fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LENGTH] {
        self.signing.sign(message).to_bytes()
    }

    /// The public key as a JWK, with its `kid`, `alg` and `use`.
    pub(super) fn jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes()),
            kid: self.kid.clone(),
            alg: JwtAlgorithm::EdDsa.as_str().to_owned(),
            public_key_use: "sig".to_owned(),
        }
    }
}

impl fmt::Debug for EdKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EdKey")
            .field("kid", &self.kid)
            .field("signing", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key: base64url (no
/// padding) of the SHA-256 of `{"crv":"Ed25519","kty":"OKP","x":"<x>"}`,
/// the required members of an OKP key (RFC 8037 section 2) in
/// lexicographic order, no whitespace.
pub(super) fn thumbprint(public_key: &[u8; 32]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Checks the signature of `compact` with `key`: malformed if it is not
/// base64url, a bad signature unless it is 64 bytes and verifies under
/// RFC 8032 with the strict rules of `verify_strict` (canonical `S`, no
/// small-order `R` or key), so that no second encoding of a signature is
/// accepted.
pub(super) fn verify(compact: &Compact<'_>, key: &VerifyingKey) -> Result<()> {
    let bytes = compact.signature_bytes()?;
    let bytes: [u8; SIGNATURE_LENGTH] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| rejected(TokenRejection::BadSignature))?;
    key.verify_strict(
        compact.signing_input().as_bytes(),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| rejected(TokenRejection::BadSignature))
}

/// A JSON Web Key Set (RFC 7517 section 5): the public keys that verify
/// EdDSA access tokens, for a host to publish (conventionally at
/// `/.well-known/jwks.json`). It holds public keys only, never an HS256
/// key or any private half. Built by
/// [`JwtSigner::jwks`](super::JwtSigner::jwks) and `Vault::jwks`; read
/// back from its text by [`Jwks::from_json`] in a service that verifies
/// tokens with [`Jwks::verify`] and nothing else.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::sync::Arc;
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::jwt::{JwtConfig, JwtSigner};
///
/// let jwt = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
/// let jwks = jwt.jwks();
/// let text = jwks.to_json();
/// let value: serde_json::Value = serde_json::from_str(&text).unwrap();
/// assert_eq!(value["keys"][0]["kty"], "OKP");
/// assert_eq!(value["keys"][0]["use"], "sig");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Jwks {
    /// The keys, newest key-ring key id first.
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The JWK Set as compact JSON text, ready to serve as
    /// `application/jwk-set+json` (or `application/json`).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    ///
    /// let jwt = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
    /// assert!(jwt.jwks().to_json().starts_with(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":""#));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn to_json(&self) -> String {
        // Strings only: serialization cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The key whose `kid` is `kid`, if the set holds it.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    ///
    /// let jwt = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
    /// let jwks = jwt.jwks();
    /// let first = &jwks.keys[0];
    /// assert_eq!(jwks.find(&first.kid), Some(first));
    /// assert!(jwks.find("1").is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Reads a JWK Set fetched from an issuer (the JSON text
    /// [`Jwks::to_json`] writes, or any RFC 7517 set): what a service
    /// that verifies tokens without the key ring holds. Keeps the Ed25519
    /// signing keys, those with `kty` `OKP`, `crv` `Ed25519`, a `kid`, an
    /// `x` of 32 bytes (base64url, no padding) that is a point of the curve
    /// not of small order, and `alg` `EdDSA` and `use` `sig` where present;
    /// skips every other key (a set may hold RSA or HMAC keys of other
    /// issuers; an HMAC key is never used here).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `jwks`) if the text is not a JSON
    /// object with a `keys` array, if a kept key's `x` is not a valid
    /// public key, or if two kept keys share a `kid` (which one a token
    /// meant would be ambiguous).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner, Jwks};
    ///
    /// let jwt = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
    /// let published = jwt.jwks();
    /// assert_eq!(Jwks::from_json(&published.to_json())?, published);
    ///
    /// let mixed = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}"#;
    /// assert!(Jwks::from_json(mixed)?.keys.is_empty());
    /// assert!(Jwks::from_json("[]").is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        let not_a_set = || Error::invalid("jwks", "is not a JSON object with a `keys` array");
        let value: serde_json::Value = serde_json::from_str(text).map_err(|_| not_a_set())?;
        let entries = value
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(not_a_set)?;
        let mut keys: Vec<Jwk> = Vec::new();
        for entry in entries {
            let member = |name: &str| entry.get(name).and_then(serde_json::Value::as_str);
            let optional_is =
                |name: &str, want: &str| entry.get(name).is_none_or(|v| v.as_str() == Some(want));
            let (Some("OKP"), Some("Ed25519"), Some(kid), Some(x)) =
                (member("kty"), member("crv"), member("kid"), member("x"))
            else {
                continue;
            };
            if !optional_is("alg", "EdDSA") || !optional_is("use", "sig") {
                continue;
            }
            let bytes = URL_SAFE_NO_PAD.decode(x).map_err(|_| {
                Error::invalid(
                    "jwks",
                    format!("key `{kid}` has an `x` that is not base64url"),
                )
            })?;
            public_key_from_bytes(&bytes).map_err(|_| {
                Error::invalid(
                    "jwks",
                    format!("key `{kid}` is not a usable Ed25519 public key"),
                )
            })?;
            if keys.iter().any(|k| k.kid == kid) {
                return Err(Error::invalid(
                    "jwks",
                    format!("holds two keys with the kid `{kid}`"),
                ));
            }
            keys.push(Jwk {
                kty: "OKP".to_owned(),
                crv: "Ed25519".to_owned(),
                x: x.to_owned(),
                kid: kid.to_owned(),
                alg: JwtAlgorithm::EdDsa.as_str().to_owned(),
                public_key_use: "sig".to_owned(),
            });
        }
        Ok(Self { keys })
    }

    /// Verifies an EdDSA token with the key of this set its `kid` names,
    /// and returns its claims: [`decode_eddsa`] under that key, so `alg`
    /// must be `EdDSA` and a token without a `kid`, or naming a key this
    /// set does not hold, is refused. As with [`decode_eddsa`], `typ`,
    /// `iss`, `aud` and every claim but `exp` and `nbf` are the caller's to
    /// check (for an access token: `typ` `at+jwt`, and the issuer and
    /// audience the host configured).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a leeway over
    /// [`MAX_LEEWAY`](super::MAX_LEEWAY); [`Error::InvalidToken`] for any
    /// refusal: those of [`decode_eddsa`], and `missing key id`,
    /// `unknown key id`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{AccessClaims, JwtAlgorithm, JwtConfig, JwtSigner, Jwks};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{TenantId, Timestamp, UserId};
    ///
    /// // The issuer...
    /// let mut config = JwtConfig::default();
    /// config.algorithm = JwtAlgorithm::EdDsa;
    /// let issuer = JwtSigner::new(config, Arc::new(KeyRing::new(MasterKey::generate()?)))?;
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (token, _) = issuer.issue(UserId::generate(), TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
    /// let published = issuer.jwks().to_json();
    ///
    /// // ...and another service, with the published text alone.
    /// let jwks = Jwks::from_json(&published)?;
    /// let claims: AccessClaims = jwks.verify(&token, now, Duration::from_secs(30))?;
    /// assert_eq!((claims.role, claims.aud.as_str()), (Role::Viewer, "secrets-core"));
    /// # Ok(()) }
    /// ```
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        now: Timestamp,
        leeway: Duration,
    ) -> Result<T> {
        check_leeway(leeway)?;
        let compact = Compact::split(token)?;
        let mut buf = Vec::new();
        let header = compact.header(&mut buf)?;
        let kid = header
            .kid
            .as_deref()
            .ok_or(rejected(TokenRejection::MissingKeyId))?;
        let key = self
            .find(kid)
            .ok_or(rejected(TokenRejection::UnknownKeyId))?;
        // Checked when the set was read (or built by a signer).
        let x = URL_SAFE_NO_PAD
            .decode(&key.x)
            .map_err(|_| Error::invalid("jwks", "holds a key that is not base64url"))?;
        decode_eddsa(token, &x, now, leeway)
    }
}

/// One public key of a [`Jwks`]: an Ed25519 key in the JWK form of RFC 8037
/// section 2, serialized with its members in the order below.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::sync::Arc;
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::jwt::{JwtConfig, JwtSigner};
///
/// let jwt = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
/// let key = &jwt.jwks().keys[0];
/// assert_eq!((key.kty.as_str(), key.crv.as_str(), key.alg.as_str()), ("OKP", "Ed25519", "EdDSA"));
/// assert_eq!(key.x.len(), 43); // 32 bytes, base64url
/// assert_eq!(key.kid.len(), 43); // the RFC 7638 thumbprint
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Jwk {
    /// The key type: `OKP` (octet key pair).
    pub kty: String,
    /// The curve: `Ed25519`.
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
    /// The key id, the RFC 7638 thumbprint of the key (base64url of a
    /// SHA-256): the `kid` header of the tokens it verifies.
    pub kid: String,
    /// The only algorithm the key is for: `EdDSA`.
    pub alg: String,
    /// The key's use (`use`): `sig`.
    #[serde(rename = "use")]
    pub public_key_use: String,
}

/// Verifies an EdDSA (Ed25519) token under a raw 32-byte public key and
/// returns its claims: the primitive under
/// [`JwtSigner::validate`](super::JwtSigner::validate) for EdDSA, for a
/// service that holds a public key (the `x` of a [`Jwk`], decoded) and
/// nothing else.
///
/// The rules are those of [`decode_hs256`](super::decode_hs256), with
/// `alg` pinned to `EdDSA` instead (`HS256` and every other name is
/// refused) and an Ed25519 signature checked strictly (64 bytes, canonical,
/// no small-order point). `typ` and `kid` are not required; issuer,
/// audience and the like are the caller's to check.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a public key that is not 32 bytes, not a
/// point of the curve, or of small order, or a leeway over
/// [`MAX_LEEWAY`](super::MAX_LEEWAY); [`Error::InvalidToken`] for any
/// refusal (`too large`, `malformed`, `algorithm not allowed`,
/// `unsupported critical header`, `bad signature`, `expired`,
/// `not yet valid`).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::jwt::decode_eddsa;
/// use secrets_core::{Error, Timestamp};
/// use secrets_core::error::TokenRejection;
///
/// // RFC 8037, appendices A.1 (the key) and A.4 (the signed example).
/// let public_key = [
///     0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
///     0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
/// ];
/// let token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
///     hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// // The A.4 payload is not JSON: the signature verifies, the claims do not parse.
/// let result = decode_eddsa::<serde_json::Value>(token, &public_key, now, Duration::ZERO);
/// assert!(matches!(result, Err(Error::InvalidToken { reason: TokenRejection::Malformed })));
///
/// let mut other = public_key;
/// other[0] ^= 1;
/// let result = decode_eddsa::<serde_json::Value>(token, &other, now, Duration::ZERO);
/// assert!(matches!(result, Err(Error::InvalidToken { reason: TokenRejection::BadSignature }) | Err(Error::InvalidInput { .. })));
/// # Ok(()) }
/// ```
pub fn decode_eddsa<T: DeserializeOwned>(
    token: &str,
    public_key: &[u8],
    now: Timestamp,
    leeway: Duration,
) -> Result<T> {
    let key = public_key_from_bytes(public_key)?;
    check_leeway(leeway)?;
    let compact = Compact::split(token)?;
    if compact.header(&mut Vec::new())?.check()? != JwtAlgorithm::EdDsa {
        return Err(rejected(TokenRejection::AlgorithmNotAllowed));
    }
    verify(&compact, &key)?;
    let payload = compact.payload()?;
    let times = ClaimSet::parse(&payload)?;
    let claims = serde_json::from_str(&payload).map_err(|_| rejected(TokenRejection::Malformed))?;
    check_times(now, times.exp, times.nbf, leeway)?;
    Ok(claims)
}

/// A public key from its 32 bytes: refused unless it decodes to a point of
/// the curve that is not of small order (a small-order key would verify
/// forged signatures for many messages).
fn public_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey> {
    let bytes: &[u8; 32] = bytes.try_into().map_err(|_| {
        Error::invalid(
            "public key",
            format!("is {} bytes; an Ed25519 public key is 32", bytes.len()),
        )
    })?;
    let key = VerifyingKey::from_bytes(bytes)
        .map_err(|_| Error::invalid("public key", "is not an Ed25519 point"))?;
    if key.is_weak() {
        return Err(Error::invalid("public key", "is of small order"));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8037 appendix A, copied into `core/tests/data/jwt_rfc8037.json`.
    fn rfc8037() -> serde_json::Value {
        serde_json::from_str(include_str!("../../tests/data/jwt_rfc8037.json")).unwrap()
    }

    fn seed(v: &serde_json::Value) -> [u8; 32] {
        URL_SAFE_NO_PAD
            .decode(v["jwk"]["d"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    #[test]
    fn rfc8037_a1_a3_the_key_and_its_thumbprint() {
        let v = rfc8037();
        let key = EdKey::from_seed(&seed(&v));
        let jwk = key.jwk();
        assert_eq!(jwk.x, v["jwk"]["x"].as_str().unwrap());
        assert_eq!(key.kid(), v["thumbprint"].as_str().unwrap());
        assert_eq!(jwk.kid, v["thumbprint"].as_str().unwrap());
        assert_eq!(
            (jwk.kty.as_str(), jwk.crv.as_str()),
            (
                v["jwk"]["kty"].as_str().unwrap(),
                v["jwk"]["crv"].as_str().unwrap()
            )
        );
        assert!(!format!("{key:?}").contains(v["jwk"]["d"].as_str().unwrap()));
        assert!(format!("{key:?}").contains("[REDACTED]"));
    }

    #[test]
    fn rfc8037_a4_the_signature_is_reproduced_and_verifies() {
        let v = rfc8037();
        let key = EdKey::from_seed(&seed(&v));
        let token = v["jws"].as_str().unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(input, v["signing_input"].as_str().unwrap());
        // Ed25519 is deterministic: signing the A.4 input gives its bytes.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes())),
            signature
        );
        let compact = Compact::split(token).unwrap();
        assert!(verify(&compact, &key.verifying_key()).is_ok());
        // One bit off anywhere in the signature: refused.
        let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        for i in 0..bytes.len() {
            let mut forged = bytes.clone();
            forged[i] ^= 0x01;
            let forged = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&forged));
            let c = Compact::split(&forged).unwrap();
            assert!(verify(&c, &key.verifying_key()).is_err(), "{i}");
        }
    }

    #[test]
    fn public_keys_are_checked() {
        assert!(public_key_from_bytes(&[0; 31]).is_err());
        assert!(public_key_from_bytes(&[0; 33]).is_err());
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(
            public_key_from_bytes(&identity),
            Err(Error::InvalidInput {
                field: "public key",
                ..
            })
        ));
        let key = EdKey::from_seed(&[7; 32]);
        assert!(public_key_from_bytes(key.verifying_key().as_bytes()).is_ok());
    }
}
