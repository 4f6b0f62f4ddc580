//! [`JwtSigner`]: access tokens issued and validated under a key ring.

use crate::error::TokenRejection;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use super::claims::{AccessClaims, ClaimSet, check_times};
use super::config::JwtConfig;
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
    /// `jwt/n` of every id `n` used so far, keyed.
    keys: RwLock<BTreeMap<KeyId, HmacKey>>,
}

impl JwtSigner {
    /// A signer with `config` over `ring`: checks the configuration and
    /// derives the signing key of the ring's active key id.
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
        };
        let active = signer.ring.active_key_id();
        signer.with_key(active, |_| ())?;
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
        let kid = self.ring.active_key_id();
        // The header `jsonwebtoken` wrote, byte for byte (docs/FORMATS.md).
        let header = format!(
            r#"{{"typ":"{ACCESS_TOKEN_TYPE}","alg":"HS256","kid":"{}"}}"#,
            kid.get()
        );
        let token = self.with_key(kid, |key| jws::encode(header.as_bytes(), &payload, key))?;
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
    /// repeated name, `alg` HS256, `typ` [`ACCESS_TOKEN_TYPE`], no `crit`,
    /// and a `kid` naming (in canonical decimal) a key the ring holds; its
    /// signature must verify under that key; its claims must be one JSON
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
        let mut buf = Vec::new();
        let header = compact.header(&mut buf)?;
        header.check()?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(rejected(TokenRejection::WrongType));
        }
        let kid = parse_kid(header.kid.as_deref())?;
        self.with_key(kid, |key| compact.verify(key))??;
        let payload = compact.payload()?;
        ClaimSet::parse(&payload)?;
        let claims: AccessClaims =
            serde_json::from_str(&payload).map_err(|_| rejected(TokenRejection::Malformed))?;
        check_times(now, Some(claims.exp), Some(claims.nbf), self.config.leeway)?;
        if claims.iss != self.config.issuer {
            return Err(rejected(TokenRejection::WrongIssuer));
        }
        if claims.aud != self.config.audience {
            return Err(rejected(TokenRejection::WrongAudience));
        }
        Ok(claims)
    }

    /// Runs `f` with the key of `kid`, derived now if it was not yet.
    /// Refuses (`unknown key id`) an id the ring does not hold.
    fn with_key<R>(&self, kid: KeyId, f: impl FnOnce(&HmacKey) -> R) -> Result<R> {
        {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(key) = keys.get(&kid) {
                return Ok(f(key));
            }
        }
        if self.ring.slot(kid).is_none() {
            return Err(rejected(TokenRejection::UnknownKeyId));
        }
        let secret = self.ring.derive_subkey(&format!("jwt/{}", kid.get()));
        let derived = HmacKey::new(secret.as_slice())?;
        // A map of plain inserts cannot be left half-updated by a panic, so
        // a poisoned lock is still sound.
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        Ok(f(keys.entry(kid).or_insert(derived)))
    }
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("JwtSigner")
            .field("config", &self.config)
            .field(
                "derived_key_ids",
                &keys.keys().map(|k| k.get()).collect::<Vec<_>>(),
            )
            .field("keys", &format_args!("[REDACTED]"))
            .finish_non_exhaustive()
    }
}

/// A `kid` in canonical decimal (`"1"`, never `"01"` or `"+1"`) naming a
/// valid key id.
fn parse_kid(kid: Option<&str>) -> Result<KeyId> {
    let kid = kid.ok_or(rejected(TokenRejection::MissingKeyId))?;
    kid.parse::<u32>()
        .ok()
        .and_then(KeyId::new)
        .filter(|id| id.get().to_string() == kid)
        .ok_or(rejected(TokenRejection::UnknownKeyId))
}

#[cfg(test)]
mod tests;
