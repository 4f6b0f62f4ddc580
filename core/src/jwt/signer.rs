//! [`JwtSigner`]: access tokens issued and validated under a key ring.

use crate::error::TokenRejection;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use super::claims::{AccessClaims, check_times};
use super::config::{JwtAlgorithm, JwtConfig};
use super::eddsa::{self, EdKey, Jwks};
use super::jws::{self, Compact, HmacKey, MAX_TOKEN_LEN};
use super::{ACCESS_TOKEN_TYPE, rejected};
use crate::clock::Timestamp;
use crate::crypto::{KeyId, KeyRing, random_bytes};
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::rbac::Role;

/// Issues and validates access tokens under one [`KeyRing`]. Built once
/// (the Vault builds one in `Vault::new`), `Send + Sync`, shared.
///
/// [`JwtSigner::new`] checks the configuration and derives the signing key
/// of the ring's active key id; the key of any other id the ring holds is
/// derived the first time a token names it, and every derived key is kept
/// (keyed HMAC state, zeroized on drop) for the signer's life. Keys never
/// change for a given id and a ring never forgets an id, so nothing kept
/// goes stale; after [`KeyRing::rotate`] new tokens carry the new `kid`.
/// `Debug` shows the configuration and the derived key ids, never a key.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::sync::Arc;
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::jwt::{JwtConfig, JwtSigner};
/// use secrets_core::rbac::Role;
/// use secrets_core::{TenantId, Timestamp, UserId};
///
/// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
/// let jwt = JwtSigner::new(JwtConfig::default(), Arc::clone(&ring))?;
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let (old, _) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Admin, vec![], 0, now)?;
///
/// ring.rotate()?;
/// let (new, claims) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Admin, vec![], 0, now)?;
/// assert!(jwt.validate(&old, now).is_ok()); // signed with key 1, still held
/// assert_eq!(jwt.validate(&new, now)?, claims); // signed with key 2
/// assert!(format!("{jwt:?}").contains("[REDACTED]"));
/// # Ok(()) }
/// ```
pub struct JwtSigner {
    config: JwtConfig,
    /// `config.ttl` in seconds, checked.
    ttl: i64,
    ring: Arc<KeyRing>,
    /// `jwt/n` of every id `n` used so far, keyed, with the header segment
    /// of the tokens issued under it.
    keys: RwLock<BTreeMap<KeyId, HsKey>>,
    /// The Ed25519 key pair (`jwt-ed25519/n`) of every id `n` used so far.
    ed_keys: RwLock<BTreeMap<KeyId, Arc<EdKey>>>,
}

/// The HS256 key of one key-ring id, and the first segment of every token
/// [`JwtSigner::issue`] signs with it: the base64url of
/// [`hs256_header`]. A token whose first segment is exactly that text has
/// exactly that header, so validation takes it as read (HS256, `typ`
/// [`ACCESS_TOKEN_TYPE`], no `crit`, `kid` this id, which the ring holds)
/// without decoding and parsing it again.
struct HsKey {
    mac: HmacKey,
    header: String,
}

/// The header of an HS256 token of key-ring id `id`, as issued: the one
/// `jsonwebtoken` wrote, byte for byte (docs/FORMATS.md).
fn hs256_header(id: KeyId) -> String {
    format!(
        r#"{{"typ":"{ACCESS_TOKEN_TYPE}","alg":"HS256","kid":"{}"}}"#,
        id.get()
    )
}

/// The key a token's `kid` names, and so the one algorithm it may use.
enum Named {
    /// A decimal `kid`: the HS256 key of this key-ring id.
    Hs256(KeyId),
    /// A thumbprint `kid` of a published key the ring holds.
    EdDsa(Arc<EdKey>),
}

impl JwtSigner {
    /// A signer with `config` over `ring`: checks the configuration and
    /// derives the signing key (of [`JwtConfig::algorithm`]) of the ring's
    /// active key id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad [`JwtConfig`] (see
    /// [`JwtConfig::check`]).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    /// use secrets_core::Error;
    ///
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let jwt = JwtSigner::new(JwtConfig::default(), Arc::clone(&ring))?;
    /// assert_eq!(jwt.config().audience, "secrets-core");
    ///
    /// let mut bad = JwtConfig::default();
    /// bad.ttl = Duration::from_millis(1500);
    /// assert!(matches!(JwtSigner::new(bad, ring), Err(Error::InvalidInput { field: "ttl", .. })));
    /// # Ok(()) }
    /// ```
    pub fn new(config: JwtConfig, ring: Arc<KeyRing>) -> Result<Self> {
        config.check()?;
        let ttl = config.ttl_seconds()?;
        let signer = Self {
            config,
            ttl,
            ring,
            keys: RwLock::new(BTreeMap::new()),
            ed_keys: RwLock::new(BTreeMap::new()),
        };
        let active = signer.ring.active_key_id();
        match signer.config.algorithm {
            JwtAlgorithm::Hs256 => signer.with_key(active, |_| ())?,
            JwtAlgorithm::EdDsa => drop(signer.ed_key(active)),
        }
        Ok(signer)
    }

    /// The configuration.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    ///
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let mut config = JwtConfig::default();
    /// config.ttl = Duration::from_secs(300);
    /// let jwt = JwtSigner::new(config, ring)?;
    /// assert_eq!(jwt.config().ttl, Duration::from_secs(300));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Issues an access token for `sub` in tenant `tid` (whose credential
    /// epoch is `epoch`), signed with the ring's active key, valid from
    /// `now` for [`JwtConfig::ttl`]. Returns the compact token and its
    /// claims.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `now` so far in the future that the
    /// expiry overflows, or scopes that would make the token longer than
    /// [`MAX_TOKEN_LEN`]; [`Error::Rng`] if the operating system's random
    /// number generator fails.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{TenantId, Timestamp, UserId};
    ///
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let jwt = JwtSigner::new(JwtConfig::default(), ring)?;
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (token, claims) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Developer, vec!["apps:read".into()], 0, now)?;
    /// assert_eq!(token.split('.').count(), 3);
    /// assert_eq!(claims.iat, 1_700_000_000);
    /// assert_eq!(claims.scopes, ["apps:read"]);
    /// # Ok(()) }
    /// ```
    pub fn issue(
        &self,
        sub: UserId,
        tid: TenantId,
        role: Role,
        scopes: Vec<String>,
        epoch: u64,
        now: Timestamp,
    ) -> Result<(String, AccessClaims)> {
        let iat = now.unix_seconds();
        let exp = iat
            .checked_add(self.ttl)
            .ok_or_else(|| Error::invalid("now", "is too far in the future to set an expiry"))?;
        let jti = uuid::Builder::from_random_bytes(*random_bytes::<16>()?)
            .into_uuid()
            .to_string();
        let claims = AccessClaims {
            sub,
            tid,
            role,
            scopes,
            epoch,
            jti,
            iat,
            nbf: iat,
            exp,
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|_| Error::invalid("access token", "could not be serialized"))?;
        let id = self.ring.active_key_id();
        let token = match self.config.algorithm {
            JwtAlgorithm::Hs256 => {
                let header = hs256_header(id);
                self.with_key(id, |key| jws::encode(header.as_bytes(), &payload, key))?
            }
            JwtAlgorithm::EdDsa => {
                let key = self.ed_key(id);
                let header = format!(
                    r#"{{"typ":"{ACCESS_TOKEN_TYPE}","alg":"EdDSA","kid":"{}"}}"#,
                    key.kid()
                );
                jws::encode_with(header.as_bytes(), &payload, |input| {
                    key.sign(input).to_vec()
                })
            }
        };
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::invalid(
                "scopes",
                format!(
                    "make the token {} bytes, longer than the limit of {MAX_TOKEN_LEN}",
                    token.len()
                ),
            ));
        }
        Ok((token, claims))
    }

    /// Validates an access token at time `now` and returns its claims.
    ///
    /// The token must be at most [`MAX_TOKEN_LEN`] bytes, three base64url
    /// segments without padding; its header one JSON object with no
    /// repeated name, `alg` HS256 or EdDSA, `typ` [`ACCESS_TOKEN_TYPE`], no
    /// `crit`, and a `kid` naming a key of that algorithm: for HS256 (in
    /// canonical decimal) a key the ring holds, for EdDSA (its thumbprint)
    /// a key of [`JwtSigner::jwks`] the ring holds; its signature must
    /// verify under that key; its claims must be one JSON
    /// object with no repeated name that reads as [`AccessClaims`]; `now`
    /// must be before `exp` + leeway and not before `nbf` − leeway; `iss`
    /// and `aud` must equal the configured ones.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] for any refusal, with one of these reasons:
    /// `too large`, `malformed`, `algorithm not allowed`, `wrong type`,
    /// `unsupported critical header`, `missing key id`, `unknown key id`,
    /// `bad signature`, `expired`, `not yet valid`, `wrong issuer`,
    /// `wrong audience`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{Error, TenantId, Timestamp, UserId};
    ///
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let jwt = JwtSigner::new(JwtConfig::default(), ring)?;
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (token, _) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
    /// assert_eq!(jwt.validate(&token, now)?.role, Role::Viewer);
    ///
    /// // Another deployment (another master key) signed with the same key id: refused.
    /// let other = JwtSigner::new(JwtConfig::default(), Arc::new(KeyRing::new(MasterKey::generate()?)))?;
    /// assert!(matches!(other.validate(&token, now), Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::BadSignature })));
    /// # Ok(()) }
    /// ```
    pub fn validate(&self, token: &str, now: Timestamp) -> Result<AccessClaims> {
        let compact = Compact::split(token)?;
        // A header this signer issued (the common case) is known already.
        match self.verify_own_header(&compact) {
            Some(verified) => verified?,
            None => self.verify_any_header(&compact)?,
        }
        let mut buf = [0u8; 768];
        let claims = compact.with_payload(&mut buf, AccessClaims::parse_strict)?;
        check_times(now, Some(claims.exp), Some(claims.nbf), self.config.leeway)?;
        if claims.iss != self.config.issuer {
            return Err(rejected(TokenRejection::WrongIssuer));
        }
        if claims.aud != self.config.audience {
            return Err(rejected(TokenRejection::WrongAudience));
        }
        Ok(claims)
    }

    /// The signature check of a token whose header segment is, byte for
    /// byte, that of the tokens issued under a key already derived: `None`
    /// for any other header.
    fn verify_own_header(&self, compact: &Compact<'_>) -> Option<Result<()>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.values()
            .find(|k| k.header == compact.header)
            .map(|k| compact.verify(&k.mac))
    }

    /// The header read and checked in full, then the signature under the
    /// key its `kid` names.
    fn verify_any_header(&self, compact: &Compact<'_>) -> Result<()> {
        let mut buf = Vec::new();
        let header = compact.header(&mut buf)?;
        let alg = header.check()?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(rejected(TokenRejection::WrongType));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(rejected(TokenRejection::MissingKeyId))?;
        // The key decides the algorithm, never the header: a token whose
        // `alg` is not its key's is refused before any signature check.
        match (self.named(kid)?, alg) {
            (Named::Hs256(id), JwtAlgorithm::Hs256) => {
                self.with_key(id, |key| compact.verify(key))?
            }
            (Named::EdDsa(key), JwtAlgorithm::EdDsa) => {
                eddsa::verify(compact, &key.verifying_key())
            }
            _ => Err(rejected(TokenRejection::AlgorithmNotAllowed)),
        }
    }

    /// The JSON Web Key Set to publish: the Ed25519 public keys of the
    /// newest [`JwtConfig::published_keys`] ids the ring holds (the active
    /// one first) and, ahead of use, of the id its next rotation brings, so
    /// that a verifier that cached this set knows the new `kid` the moment
    /// tokens carry it. Public keys only: no HS256 key is ever in it, nor
    /// any private half. EdDSA tokens are accepted under the published ids
    /// the ring holds, whichever [`JwtConfig::algorithm`] is configured.
    ///
    /// The set changes only when the ring rotates; serve it with a cache
    /// lifetime well under the time between rotations.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtAlgorithm, JwtConfig, JwtSigner};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{TenantId, Timestamp, UserId};
    ///
    /// let ring = Arc::new(KeyRing::new(MasterKey::generate()?));
    /// let mut config = JwtConfig::default();
    /// config.algorithm = JwtAlgorithm::EdDsa;
    /// let jwt = JwtSigner::new(config, Arc::clone(&ring))?;
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    ///
    /// let before = jwt.jwks();
    /// assert_eq!(before.keys.len(), 2); // key 1, and key 2 ahead of use
    /// ring.rotate()?;
    /// let (token, _) = jwt.issue(UserId::generate(), TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
    /// let header: serde_json::Value = serde_json::from_slice(
    ///     &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').next().unwrap()).unwrap(),
    /// ).unwrap();
    /// // The new kid was already published before the rotation.
    /// assert!(before.find(header["kid"].as_str().unwrap()).is_some());
    /// assert_eq!(jwt.jwks().keys.len(), 3); // keys 2 and 1, and key 3 ahead
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        let (held, next) = self.published_ids();
        let keys = next
            .into_iter()
            .chain(held.into_iter().rev())
            .map(|id| self.ed_key(id).jwk())
            .collect();
        Jwks { keys }
    }

    /// The published ids the ring holds (ascending: the newest
    /// [`JwtConfig::published_keys`] up to the active one), and the id of
    /// the next rotation, if there can be one.
    fn published_ids(&self) -> (Vec<KeyId>, Option<KeyId>) {
        let active = self.ring.active_key_id().get();
        let first = active
            .saturating_sub(self.config.published_keys.saturating_sub(1))
            .max(1);
        let held = (first..=active)
            .filter_map(KeyId::new)
            .filter(|id| self.ring.slot(*id).is_some())
            .collect();
        (held, active.checked_add(1).and_then(KeyId::new))
    }

    /// The key `kid` names: an HS256 key for a canonical decimal the ring
    /// holds, an Ed25519 key for the thumbprint of a published key the
    /// ring holds; refused (`unknown key id`) otherwise.
    fn named(&self, kid: &str) -> Result<Named> {
        if let Some(id) = parse_kid(kid) {
            return Ok(Named::Hs256(id));
        }
        let (held, _) = self.published_ids();
        held.into_iter()
            .rev()
            .map(|id| self.ed_key(id))
            .find(|key| key.kid() == kid)
            .map(Named::EdDsa)
            .ok_or(rejected(TokenRejection::UnknownKeyId))
    }

    /// The Ed25519 key pair of `id`, derived now if it was not yet. The
    /// caller decides whether `id` may be used.
    fn ed_key(&self, id: KeyId) -> Arc<EdKey> {
        {
            let keys = self.ed_keys.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(key) = keys.get(&id) {
                return Arc::clone(key);
            }
        }
        let derived = Arc::new(EdKey::derive(&self.ring, id));
        // Plain inserts: a poisoned lock is still sound (see `with_key`).
        let mut keys = self.ed_keys.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(keys.entry(id).or_insert(derived))
    }

    /// Runs `f` with the key of `kid`, derived now if it was not yet.
    /// Refuses (`unknown key id`) an id the ring does not hold.
    fn with_key<R>(&self, kid: KeyId, f: impl FnOnce(&HmacKey) -> R) -> Result<R> {
        {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(key) = keys.get(&kid) {
                return Ok(f(&key.mac));
            }
        }
        if self.ring.slot(kid).is_none() {
            return Err(rejected(TokenRejection::UnknownKeyId));
        }
        let secret = self.ring.derive_subkey(&format!("jwt/{}", kid.get()));
        let derived = HsKey {
            mac: HmacKey::new(secret.as_slice())?,
            header: URL_SAFE_NO_PAD.encode(hs256_header(kid)),
        };
        // A map of plain inserts cannot be left half-updated by a panic, so
        // a poisoned lock is still sound.
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&keys.entry(kid).or_insert(derived).mac))
    }
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let ed_keys = self.ed_keys.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("JwtSigner")
            .field("config", &self.config)
            .field(
                "derived_key_ids",
                &keys.keys().map(|k| k.get()).collect::<Vec<_>>(),
            )
            .field(
                "derived_ed25519_key_ids",
                &ed_keys.keys().map(|k| k.get()).collect::<Vec<_>>(),
            )
            .field("keys", &format_args!("[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// A `kid` in canonical decimal (`"1"`, never `"01"` or `"+1"`) naming a
/// valid key id (which the ring may not hold).
fn parse_kid(kid: &str) -> Option<KeyId> {
    // Canonical: digits only (no sign, which `parse` would take), no
    // leading zero; the range is `KeyId::new`'s.
    let canonical = !kid.starts_with('0') && kid.bytes().all(|b| b.is_ascii_digit());
    if !canonical {
        return None;
    }
    kid.parse::<u32>().ok().and_then(KeyId::new)
}

#[cfg(test)]
mod tests;
