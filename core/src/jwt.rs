//! Short-lived JWT access tokens: HS256, signed with keys derived from the
//! [`KeyRing`], validated against an injected clock.
//!
//! A [`JwtSigner`] issues an access token for a user ([`AccessClaims`]:
//! subject, tenant, role, scopes, a random id, issued-at, not-before,
//! expiry, issuer and audience) and validates one, returning its claims.
//!
//! - **Keys.** The HMAC key of token-signing key *n* is the key ring's
//!   subkey `jwt/n`, that is `HMAC-SHA256(master key,
//!   "secrets-core/v1/subkey/jwt/" || n in decimal)`, independent of the data
//!   keys; the token's `kid` header is *n* in decimal. Tokens are signed under the ring's active key id and
//!   validated under any id the ring holds, so after [`KeyRing::rotate`] the
//!   tokens already out keep working until they expire (15 minutes by
//!   default) while new ones carry the new `kid`. A missing or unknown `kid`
//!   is refused.
//! - **Validation** pins the algorithm to HS256 (`none`, `HS384`, `RS256`
//!   and every other `alg` are refused before any key is used), requires the
//!   `typ` header [`ACCESS_TOKEN_TYPE`], refuses any `crit` header, checks
//!   the signature in constant time, then `exp` and `nbf` against the `now`
//!   the caller passes (never the system clock) with a small leeway, and
//!   `iss` and `aud` exactly. Every refusal is an [`Error::InvalidToken`]
//!   whose reason is a fixed string: the token never appears in an error.
//! - [`decode_hs256`] is the same verification for any claims type and a
//!   raw key, without the key ring (it is what the RFC 7515 vector runs on).
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use std::time::Duration;
//! use secrets_core::crypto::{KeyRing, MasterKey};
//! use secrets_core::jwt::{JwtConfig, JwtSigner};
//! use secrets_core::rbac::Role;
//! use secrets_core::{Error, TenantId, Timestamp, UserId};
//!
//! let ring = KeyRing::new(MasterKey::generate()?);
//! let jwt = JwtSigner::new(JwtConfig::default());
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//!
//! let (token, issued) = jwt.issue(&ring, UserId::generate(), TenantId::DEFAULT, Role::Developer, vec!["secrets:read".into()], 0, now)?;
//! assert_eq!(jwt.validate(&ring, &token, now)?, issued);
//!
//! // Sixteen minutes later it has expired.
//! let later = now.saturating_add(Duration::from_secs(16 * 60));
//! assert!(matches!(jwt.validate(&ring, &token, later), Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::Expired })));
//! # Ok(()) }
//! ```
//!
//! ## The `jsonwebtoken` crypto provider
//!
//! `jsonwebtoken` 11 performs every signature through a process-wide
//! `jsonwebtoken::crypto::CryptoProvider`. This crate builds `jsonwebtoken`
//! without its RSA/ECDSA/EdDSA backends and, on first use of this module,
//! installs a provider of its own that implements the HMAC algorithms (HS256,
//! HS384, HS512) on the `hmac` and `sha2` crates and refuses every other
//! algorithm with an error. If a provider is already installed (or
//! `jsonwebtoken`'s default was already resolved from its cargo features),
//! that one is used instead, which is equally correct for HS256. A host that
//! also verifies RSA or EC tokens with `jsonwebtoken` should therefore call
//! `CryptoProvider::install_default` for its backend at start-up, before the
//! first access token is issued or validated. (A host that calls
//! `jsonwebtoken` itself before that, with no backend feature and no provider
//! installed, gets `jsonwebtoken`'s own "no provider" panic, here as well as
//! in its own code.)

use crate::error::TokenRejection;
use std::any::Any;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Once, PoisonError, RwLock, Weak};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, new_error};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::clock::Timestamp;
use crate::crypto::{KeyId, KeyRing, random_bytes};
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::rbac::Role;

/// The `typ` header of every access token (RFC 9068 section 2.1; explicit
/// typing per RFC 8725 section 3.11), checked on validation so that no other
/// kind of JWT is ever taken for an access token.
///
/// ```
/// assert_eq!(secrets_core::jwt::ACCESS_TOKEN_TYPE, "at+jwt");
/// ```
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The longest token accepted for validation, in bytes. Longer input is
/// refused before it is decoded; [`JwtSigner::issue`] refuses to mint a
/// token this long (too many scopes).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::jwt::{decode_hs256, MAX_TOKEN_LEN};
/// use secrets_core::{Error, Timestamp};
///
/// let huge = "a".repeat(MAX_TOKEN_LEN + 1);
/// let key = [7u8; 32];
/// let result = decode_hs256::<serde_json::Value>(&huge, &key, Timestamp::EPOCH, Default::default());
/// assert!(matches!(result, Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::TooLarge })));
/// # Ok(()) }
/// ```
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The shortest HS256 key [`decode_hs256`] accepts: 32 bytes, the size of
/// the hash output (RFC 7518 section 3.2).
///
/// ```
/// use secrets_core::jwt::{decode_hs256, MIN_KEY_LEN};
/// use secrets_core::{Error, Timestamp};
///
/// let short = [7u8; MIN_KEY_LEN - 1];
/// let result = decode_hs256::<serde_json::Value>("a.b.c", &short, Timestamp::EPOCH, Default::default());
/// assert!(matches!(result, Err(Error::InvalidInput { field: "key", .. })));
/// ```
pub const MIN_KEY_LEN: usize = 32;

/// The largest clock-skew leeway accepted (5 minutes). The leeway extends
/// every token's life, so it is meant to stay small.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::jwt::{JwtConfig, MAX_LEEWAY};
///
/// assert!(JwtConfig::default().leeway <= MAX_LEEWAY);
/// assert_eq!(MAX_LEEWAY, Duration::from_secs(300));
/// ```
pub const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);

/// The longest access-token lifetime accepted (24 hours). Access tokens are
/// stateless and cannot be revoked, so keep the lifetime short and use
/// refresh tokens for long sessions.
///
/// ```
/// use secrets_core::jwt::{JwtConfig, MAX_TTL};
///
/// assert!(JwtConfig::default().ttl <= MAX_TTL);
/// ```
pub const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The claims of an access token. Times are whole seconds since the Unix
/// epoch (JWT `NumericDate`); `nbf` equals `iat` in tokens issued here.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::jwt::{JwtConfig, JwtSigner};
/// use secrets_core::rbac::Role;
/// use secrets_core::{TenantId, Timestamp, UserId};
///
/// let ring = KeyRing::new(MasterKey::generate()?);
/// let jwt = JwtSigner::new(JwtConfig::default());
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let user = UserId::generate();
/// let (_, claims) = jwt.issue(&ring, user, TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
/// assert_eq!(claims.sub, user);
/// assert_eq!(claims.exp - claims.iat, 15 * 60);
/// assert_eq!(claims.iss, "secrets-core");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user the token was issued to.
    pub sub: UserId,
    /// The user's tenant.
    pub tid: TenantId,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Scopes that narrow the role's permissions.
    pub scopes: Vec<String>,
    /// The user's credential epoch when the token was issued: the Vault
    /// refuses the token once the user's epoch has moved past it (the user
    /// was disabled). Absent (0) in tokens issued before it existed.
    #[serde(default)]
    pub epoch: u64,
    /// A random id for this token (a UUID, version 4).
    pub jti: String,
    /// Issued at.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Not valid from this time on.
    pub exp: i64,
    /// Issuer, compared exactly with [`JwtConfig::issuer`].
    pub iss: String,
    /// Audience, compared exactly with [`JwtConfig::audience`].
    pub aud: String,
}

/// Issuer, audience, lifetime and leeway of access tokens.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::jwt::JwtConfig;
///
/// let config = JwtConfig { audience: "api.example.com".into(), ..JwtConfig::default() };
/// assert_eq!(config.issuer, "secrets-core");
/// assert_eq!(config.ttl, Duration::from_secs(15 * 60));
/// assert_eq!(config.leeway, Duration::from_secs(30));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtConfig {
    /// The `iss` claim written and required (default `secrets-core`).
    pub issuer: String,
    /// The `aud` claim written and required (default `secrets-core`).
    pub audience: String,
    /// How long a token lives (default 15 minutes; whole seconds, at least
    /// one, at most [`MAX_TTL`]).
    pub ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf` (default 30 seconds, at most
    /// [`MAX_LEEWAY`]).
    pub leeway: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: "secrets-core".to_owned(),
            audience: "secrets-core".to_owned(),
            ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
        }
    }
}

impl JwtConfig {
    /// Checks the configuration: a non-empty issuer and audience, a lifetime
    /// of whole seconds from 1 second to [`MAX_TTL`], a leeway of at most
    /// [`MAX_LEEWAY`]. [`JwtSigner::issue`] and [`JwtSigner::validate`] call
    /// it too; call it at start-up to fail early.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the offending field.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secrets_core::jwt::JwtConfig;
    ///
    /// assert!(JwtConfig::default().check().is_ok());
    /// let zero = JwtConfig { ttl: Duration::ZERO, ..JwtConfig::default() };
    /// assert!(zero.check().is_err());
    /// ```
    pub fn check(&self) -> Result<()> {
        if self.issuer.is_empty() {
            return Err(Error::invalid("issuer", "is empty"));
        }
        if self.audience.is_empty() {
            return Err(Error::invalid("audience", "is empty"));
        }
        self.ttl_seconds()?;
        check_leeway(self.leeway)
    }

    fn ttl_seconds(&self) -> Result<i64> {
        if self.ttl.subsec_nanos() != 0 || self.ttl < Duration::from_secs(1) || self.ttl > MAX_TTL {
            return Err(Error::invalid(
                "ttl",
                format!(
                    "is {:?}; use whole seconds from 1 s to {} s",
                    self.ttl,
                    MAX_TTL.as_secs()
                ),
            ));
        }
        i64::try_from(self.ttl.as_secs()).map_err(|_| Error::invalid("ttl", "is too long"))
    }
}

fn check_leeway(leeway: Duration) -> Result<()> {
    if leeway > MAX_LEEWAY {
        return Err(Error::invalid(
            "leeway",
            format!(
                "is {leeway:?}, over the limit of {} s",
                MAX_LEEWAY.as_secs()
            ),
        ));
    }
    Ok(())
}

/// One token-signing key: the `jsonwebtoken` forms of the subkey `jwt/n`,
/// both zeroized on drop, and the key-ring slot they were derived under.
struct CachedKey {
    /// The ring's data-key slot for the same id. Keeping a `Weak` keeps the
    /// slot's allocation (not its key) alive, so no other slot can ever have
    /// this address: a pointer match proves the key was derived from the
    /// very ring the caller passes now, and a signer handed a different ring
    /// re-derives instead of using a stale key.
    slot: Weak<dyn Any + Send + Sync>,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// Issues and validates access tokens. `Send + Sync`; keep one per
/// [`KeyRing`] (the Vault holds one) so its key cache is reused.
///
/// The signing keys are derived from the ring on first use of each key id
/// and cached; keys never change for a given id, and a cached key is only
/// used with the ring it was derived from. `Debug` shows the configuration
/// and the cached key ids, never a key.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::jwt::{JwtConfig, JwtSigner};
/// use secrets_core::rbac::Role;
/// use secrets_core::{TenantId, Timestamp, UserId};
///
/// let ring = KeyRing::new(MasterKey::generate()?);
/// let jwt = JwtSigner::new(JwtConfig::default());
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
/// let (old, _) = jwt.issue(&ring, UserId::generate(), TenantId::DEFAULT, Role::Admin, vec![], 0, now)?;
///
/// ring.rotate()?;
/// let (new, claims) = jwt.issue(&ring, UserId::generate(), TenantId::DEFAULT, Role::Admin, vec![], 0, now)?;
/// assert!(jwt.validate(&ring, &old, now).is_ok()); // signed with key 1, still held
/// assert_eq!(jwt.validate(&ring, &new, now)?, claims); // signed with key 2
/// assert!(format!("{jwt:?}").contains("[REDACTED]"));
/// # Ok(()) }
/// ```
pub struct JwtSigner {
    config: JwtConfig,
    keys: RwLock<BTreeMap<KeyId, Arc<CachedKey>>>,
}

impl JwtSigner {
    /// A signer with `config`. Nothing is derived until the first token.
    /// The configuration is checked by every [`issue`](Self::issue) and
    /// [`validate`](Self::validate); [`JwtConfig::check`] checks it earlier.
    ///
    /// ```
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    ///
    /// let jwt = JwtSigner::new(JwtConfig::default());
    /// assert_eq!(jwt.config().audience, "secrets-core");
    /// ```
    #[must_use]
    pub fn new(config: JwtConfig) -> Self {
        Self {
            config,
            keys: RwLock::new(BTreeMap::new()),
        }
    }

    /// The configuration.
    ///
    /// ```
    /// use std::time::Duration;
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    ///
    /// let jwt = JwtSigner::new(JwtConfig { ttl: Duration::from_secs(300), ..JwtConfig::default() });
    /// assert_eq!(jwt.config().ttl, Duration::from_secs(300));
    /// ```
    #[must_use]
    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Issues an access token for `sub` in tenant `tid` (whose credential
    /// epoch is `epoch`), signed with the
    /// ring's active key, valid from `now` for [`JwtConfig::ttl`]. Returns
    /// the compact token and its claims.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad [`JwtConfig`], a `now` so far in the
    /// future that the expiry overflows, or scopes that would make the token
    /// longer than [`MAX_TOKEN_LEN`]; [`Error::Rng`] if the operating
    /// system's random number generator fails.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{TenantId, Timestamp, UserId};
    ///
    /// let ring = KeyRing::new(MasterKey::generate()?);
    /// let jwt = JwtSigner::new(JwtConfig::default());
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (token, claims) = jwt.issue(&ring, UserId::generate(), TenantId::DEFAULT, Role::Developer, vec!["apps:read".into()], 0, now)?;
    /// assert_eq!(token.split('.').count(), 3);
    /// assert_eq!(claims.iat, 1_700_000_000);
    /// assert_eq!(claims.scopes, ["apps:read"]);
    /// # Ok(()) }
    /// ```
    // Each argument is one claim or the signing context; a claims struct
    // would only move the same list into a literal.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        &self,
        ring: &KeyRing,
        sub: UserId,
        tid: TenantId,
        role: Role,
        scopes: Vec<String>,
        epoch: u64,
        now: Timestamp,
    ) -> Result<(String, AccessClaims)> {
        self.config.check()?;
        let ttl = self.config.ttl_seconds()?;
        let iat = now.unix_seconds();
        let exp = iat
            .checked_add(ttl)
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

        let (kid, slot) = ring.active_slot();
        let key = self.key(ring, kid, slot);
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(kid.get().to_string());
        ensure_provider();
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).map_err(|e| {
            Error::invalid(
                "access token",
                format!("could not be signed ({})", kind_name(&e)),
            )
        })?;
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
    /// The token must be at most [`MAX_TOKEN_LEN`] bytes, have `alg` HS256,
    /// `typ` [`ACCESS_TOKEN_TYPE`], no `crit`, and a `kid` naming a key the
    /// ring holds; its signature must verify under that key; `now` must be
    /// before `exp` + leeway and not before `nbf` − leeway; `iss` and `aud`
    /// must equal the configured ones.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidToken`] for any refusal, with one of these reasons:
    /// `too large`, `malformed`, `algorithm not allowed`, `wrong type`,
    /// `unsupported critical header`, `missing key id`, `unknown key id`,
    /// `bad signature`, `expired`, `not yet valid`, `wrong issuer`,
    /// `wrong audience`. [`Error::InvalidInput`] if the configured leeway is
    /// over [`MAX_LEEWAY`].
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::jwt::{JwtConfig, JwtSigner};
    /// use secrets_core::rbac::Role;
    /// use secrets_core::{Error, TenantId, Timestamp, UserId};
    ///
    /// let ring = KeyRing::new(MasterKey::generate()?);
    /// let jwt = JwtSigner::new(JwtConfig::default());
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (token, _) = jwt.issue(&ring, UserId::generate(), TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
    /// assert_eq!(jwt.validate(&ring, &token, now)?.role, Role::Viewer);
    ///
    /// // Another deployment (another master key) signed with the same key id: refused.
    /// let other = KeyRing::new(MasterKey::generate()?);
    /// assert!(matches!(jwt.validate(&other, &token, now), Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::BadSignature })));
    /// # Ok(()) }
    /// ```
    pub fn validate(&self, ring: &KeyRing, token: &str, now: Timestamp) -> Result<AccessClaims> {
        check_leeway(self.config.leeway)?;
        check_len(token)?;
        let mut buf = Vec::new();
        let header = decode_header(token, &mut buf)?;
        check_header(&header)?;
        if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(rejected(TokenRejection::WrongType));
        }
        let kid = parse_kid(header.kid.as_deref())?;
        let slot = ring
            .slot(kid)
            .ok_or(rejected(TokenRejection::UnknownKeyId))?;
        let key = self.key(ring, kid, slot);
        let claims: AccessClaims = verify(token, &key.decoding)?;
        check_times(now, Some(claims.exp), Some(claims.nbf), self.config.leeway)?;
        if claims.iss != self.config.issuer {
            return Err(rejected(TokenRejection::WrongIssuer));
        }
        if claims.aud != self.config.audience {
            return Err(rejected(TokenRejection::WrongAudience));
        }
        Ok(claims)
    }

    /// The cached key for `kid`, derived from `ring` if it is not cached or
    /// was cached from another ring.
    fn key<S: Any + Send + Sync>(
        &self,
        ring: &KeyRing,
        kid: KeyId,
        slot: Arc<S>,
    ) -> Arc<CachedKey> {
        let slot: Arc<dyn Any + Send + Sync> = slot;
        let current =
            |entry: &CachedKey| std::ptr::addr_eq(entry.slot.as_ptr(), Arc::as_ptr(&slot));
        {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = keys.get(&kid).filter(|e| current(e)) {
                return Arc::clone(entry);
            }
        }
        let secret = ring.derive_subkey(&format!("jwt/{}", kid.get()));
        let entry = Arc::new(CachedKey {
            slot: Arc::downgrade(&slot),
            encoding: EncodingKey::from_secret(secret.as_slice()),
            decoding: DecodingKey::from_secret(secret.as_slice()),
        });
        // A map of plain inserts cannot be left half-updated by a panic, so
        // a poisoned lock is still sound.
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.insert(kid, Arc::clone(&entry));
        entry
    }
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("JwtSigner")
            .field("config", &self.config)
            .field(
                "cached_key_ids",
                &keys.keys().map(|k| k.get()).collect::<Vec<_>>(),
            )
            .field("keys", &format_args!("[REDACTED]"))
            .finish()
    }
}

/// Verifies an HS256 token under a raw `key` and returns its claims: the
/// primitive under [`JwtSigner::validate`], for tokens that do not come from
/// the key ring.
///
/// The algorithm is pinned to HS256 and a `crit` header is refused; `exp`
/// and `nbf`, where present, must be integers and are checked against `now`
/// with `leeway` (`now` before `exp` + leeway, not before `nbf` − leeway).
/// No other claim is checked: issuer, audience and the like are the
/// caller's to check on the returned claims.
///
/// # Errors
///
/// [`Error::InvalidInput`] for a key shorter than [`MIN_KEY_LEN`] or a
/// leeway over [`MAX_LEEWAY`]; [`Error::InvalidToken`] for any refusal
/// (`too large`, `malformed`, `algorithm not allowed`,
/// `unsupported critical header`, `bad signature`, `expired`,
/// `not yet valid`).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::jwt::decode_hs256;
/// use secrets_core::{Error, Timestamp};
///
/// // RFC 7515, appendix A.1.
/// let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.\
///     eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.\
///     dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// let key = [
///     3, 35, 53, 75, 43, 15, 165, 188, 131, 126, 6, 101, 119, 123, 166, 143, 90, 179, 40, 230, 240,
///     84, 201, 40, 169, 15, 132, 178, 210, 80, 46, 191, 211, 251, 90, 146, 210, 6, 71, 239, 150,
///     138, 180, 195, 119, 98, 61, 34, 61, 46, 33, 114, 5, 46, 79, 8, 192, 205, 154, 245, 103, 208,
///     128, 163,
/// ];
/// let leeway = Duration::from_secs(30);
/// let claims: serde_json::Value = decode_hs256(token, &key, Timestamp::from_unix_seconds(1_300_819_379), leeway)?;
/// assert_eq!(claims["iss"], "joe");
/// assert_eq!(claims["http://example.com/is_root"], true);
///
/// let late = Timestamp::from_unix_seconds(1_300_819_380 + 30);
/// let result = decode_hs256::<serde_json::Value>(token, &key, late, leeway);
/// assert!(matches!(result, Err(Error::InvalidToken { reason: secrets_core::error::TokenRejection::Expired })));
/// # Ok(()) }
/// ```
pub fn decode_hs256<T: DeserializeOwned>(
    token: &str,
    key: &[u8],
    now: Timestamp,
    leeway: Duration,
) -> Result<T> {
    if key.len() < MIN_KEY_LEN {
        return Err(Error::invalid(
            "key",
            format!("is {} bytes; HS256 needs at least {MIN_KEY_LEN}", key.len()),
        ));
    }
    check_leeway(leeway)?;
    check_len(token)?;
    check_header(&decode_header(token, &mut Vec::new())?)?;
    let claims: T = verify(token, &DecodingKey::from_secret(key))?;
    // Authenticated above: reading the times from the same bytes is safe.
    let times: TimeClaims = jsonwebtoken::dangerous::insecure_decode_claims(token)
        .map_err(|_| rejected(TokenRejection::Malformed))?;
    check_times(now, times.exp, times.nbf, leeway)?;
    Ok(claims)
}

/// `exp` and `nbf` of any claims set. A claim of the wrong JSON type
/// (a string, a float, `null`) fails to parse instead of reading as absent.
#[derive(Deserialize)]
struct TimeClaims {
    #[serde(default, deserialize_with = "present")]
    exp: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    nbf: Option<i64>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    i64::deserialize(d).map(Some)
}

fn rejected(reason: TokenRejection) -> Error {
    Error::InvalidToken { reason }
}

fn check_len(token: &str) -> Result<()> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(rejected(TokenRejection::TooLarge));
    }
    Ok(())
}

/// The header fields this module acts on. Parsed here, rather than with
/// `jsonwebtoken::decode_header`, because the key must be chosen before
/// `jsonwebtoken` verifies the token and its `Header` type (with a flattened
/// map of extra fields) costs more to parse than the rest of a validation;
/// `jsonwebtoken::decode` then parses the same bytes again and re-checks
/// `alg`. Unknown fields are ignored; a repeated field is malformed.
#[derive(Deserialize)]
struct JoseHeader<'a> {
    alg: Algorithm,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Reads the header of a compact JWS (`header.payload.signature`) into
/// `buf` and parses it.
fn decode_header<'b>(token: &str, buf: &'b mut Vec<u8>) -> Result<JoseHeader<'b>> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(rejected(TokenRejection::Malformed));
    };
    URL_SAFE_NO_PAD
        .decode_vec(header, buf)
        .map_err(|_| rejected(TokenRejection::Malformed))?;
    serde_json::from_slice(buf).map_err(|_| rejected(TokenRejection::Malformed))
}

fn check_header(header: &JoseHeader<'_>) -> Result<()> {
    if header.alg != Algorithm::HS256 {
        return Err(rejected(TokenRejection::AlgorithmNotAllowed));
    }
    // RFC 7515 section 4.1.11: extensions listed in `crit` must be
    // understood, and this implementation understands none.
    if header.crit.is_some() {
        return Err(rejected(TokenRejection::UnsupportedCriticalHeader));
    }
    Ok(())
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

/// Signature (HS256 only) and claims, through `jsonwebtoken`, with its own
/// time, issuer and audience checks off: those are ours, against `now`.
fn verify<T: DeserializeOwned>(token: &str, key: &DecodingKey) -> Result<T> {
    static PINNED: LazyLock<Validation> = LazyLock::new(|| {
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.leeway = 0;
        v
    });
    ensure_provider();
    jsonwebtoken::decode::<T>(token, key, &PINNED)
        .map(|data| data.claims)
        .map_err(|e| jwt_error(&e))
}

/// A `jsonwebtoken` error as a refusal with a fixed reason (its own message
/// could quote parts of the input).
fn jwt_error(e: &jsonwebtoken::errors::Error) -> Error {
    rejected(match e.kind() {
        ErrorKind::InvalidSignature => TokenRejection::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::MissingAlgorithm => TokenRejection::AlgorithmNotAllowed,
        _ => TokenRejection::Malformed,
    })
}

/// RFC 7519 sections 4.1.4 and 4.1.5: a token is refused on or after `exp`
/// and before `nbf`; `leeway` widens both bounds.
fn check_times(now: Timestamp, exp: Option<i64>, nbf: Option<i64>, leeway: Duration) -> Result<()> {
    if let Some(exp) = exp
        && now >= Timestamp::from_unix_seconds(exp).saturating_add(leeway)
    {
        return Err(rejected(TokenRejection::Expired));
    }
    if let Some(nbf) = nbf
        && now < Timestamp::from_unix_seconds(nbf).saturating_sub(leeway)
    {
        return Err(rejected(TokenRejection::NotYetValid));
    }
    Ok(())
}

/// A name for a `jsonwebtoken` error that quotes nothing of the input.
fn kind_name(e: &jsonwebtoken::errors::Error) -> &'static str {
    match e.kind() {
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => "algorithm",
        ErrorKind::InvalidKeyFormat => "key format",
        ErrorKind::Json(_) => "serialization",
        ErrorKind::Provider(_) | ErrorKind::Signing(_) => "crypto provider",
        _ => "other",
    }
}

// ---------------------------------------------------------------------------
// The HMAC-only crypto provider for `jsonwebtoken`.

/// Installs [`PROVIDER`] as `jsonwebtoken`'s process default unless one is
/// already in place (see the module documentation).
fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // `Err` means another provider was installed first; it serves HS256
        // as well, so it is kept.
        let _ = CryptoProvider::install_default(&PROVIDER);
    });
}

/// HS256/HS384/HS512 on RustCrypto's `hmac` and `sha2`; every other
/// algorithm, and JWK key extraction, is refused with an error (never a
/// panic). Only HS256 is ever accepted by this module; the other two are
/// there because the provider is process-wide.
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(Box::new(HmacJws::new(*alg, key.as_bytes())?))
    },
    verifier_factory: |alg, key| {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(new_error(ErrorKind::InvalidKeyFormat));
        }
        Ok(Box::new(HmacJws::new(*alg, key.try_get_as_bytes()?)?))
    },
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        rsa_pub_components_from_public_key: |_| Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        ec_pub_components_from_private_key: |_, _| Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        ed_pub_components_from_private_key: |_, _: &EllipticCurve| {
            Err(new_error(ErrorKind::UnsupportedAlgorithm))
        },
        compute_digest: |data, hash| match hash {
            ThumbprintHash::SHA256 => Ok(Sha256::digest(data).to_vec()),
            ThumbprintHash::SHA384 => Ok(Sha384::digest(data).to_vec()),
            ThumbprintHash::SHA512 => Ok(Sha512::digest(data).to_vec()),
            _ => Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        },
    },
};

/// A keyed HMAC for one JWS algorithm; signs and verifies (in constant
/// time, through `Mac::verify_slice`).
enum HmacJws {
    Hs256(Hmac<Sha256>),
    Hs384(Hmac<Sha384>),
    Hs512(Hmac<Sha512>),
}

impl HmacJws {
    fn new(alg: Algorithm, key: &[u8]) -> jsonwebtoken::errors::Result<Self> {
        let bad_key = |_| new_error(ErrorKind::InvalidKeyFormat);
        Ok(match alg {
            Algorithm::HS256 => Self::Hs256(Hmac::new_from_slice(key).map_err(bad_key)?),
            Algorithm::HS384 => Self::Hs384(Hmac::new_from_slice(key).map_err(bad_key)?),
            Algorithm::HS512 => Self::Hs512(Hmac::new_from_slice(key).map_err(bad_key)?),
            _ => return Err(new_error(ErrorKind::UnsupportedAlgorithm)),
        })
    }

    fn alg(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::HS256,
            Self::Hs384(_) => Algorithm::HS384,
            Self::Hs512(_) => Algorithm::HS512,
        }
    }
}

impl Signer<Vec<u8>> for HmacJws {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, jsonwebtoken::signature::Error> {
        fn tag<M: Mac + Clone>(mac: &M, msg: &[u8]) -> Vec<u8> {
            let mut mac = mac.clone();
            mac.update(msg);
            mac.finalize().into_bytes().to_vec()
        }
        Ok(match self {
            Self::Hs256(mac) => tag(mac, msg),
            Self::Hs384(mac) => tag(mac, msg),
            Self::Hs512(mac) => tag(mac, msg),
        })
    }
}

impl Verifier<Vec<u8>> for HmacJws {
    fn verify(
        &self,
        msg: &[u8],
        signature: &Vec<u8>,
    ) -> std::result::Result<(), jsonwebtoken::signature::Error> {
        fn check<M: Mac + Clone>(mac: &M, msg: &[u8], signature: &[u8]) -> bool {
            let mut mac = mac.clone();
            mac.update(msg);
            mac.verify_slice(signature).is_ok()
        }
        let ok = match self {
            Self::Hs256(mac) => check(mac, msg, signature),
            Self::Hs384(mac) => check(mac, msg, signature),
            Self::Hs512(mac) => check(mac, msg, signature),
        };
        if ok {
            Ok(())
        } else {
            Err(jsonwebtoken::signature::Error::new())
        }
    }
}

impl jsonwebtoken::crypto::JwtSigner for HmacJws {
    fn algorithm(&self) -> Algorithm {
        self.alg()
    }
}

impl JwtVerifier for HmacJws {
    fn algorithm(&self) -> Algorithm {
        self.alg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKey;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const NOW: i64 = 1_700_000_000;

    fn ring(byte: u8) -> KeyRing {
        KeyRing::new(MasterKey::from_bytes(&[byte; 32]).unwrap())
    }

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(NOW)
    }

    fn issue(jwt: &JwtSigner, ring: &KeyRing) -> (String, AccessClaims) {
        jwt.issue(
            ring,
            UserId::generate(),
            TenantId::generate(),
            Role::Developer,
            vec!["secrets:read".to_owned()],
            0,
            now(),
        )
        .unwrap()
    }

    fn reason(r: Result<AccessClaims>) -> &'static str {
        match r {
            Err(Error::InvalidToken { reason }) => reason.as_str(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_signing_key_is_the_documented_subkey() {
        // Recomputed with the hmac crate directly: key n = subkey "jwt/n",
        // i.e. HMAC-SHA256(master, "secrets-core/v1/subkey/jwt/1").
        let ring = ring(0x42);
        let (token, _) = issue(&JwtSigner::new(JwtConfig::default()), &ring);
        let mut derive = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
        derive.update(b"secrets-core/v1/subkey/jwt/1");
        let key = derive.finalize().into_bytes();
        let (message, signature) = token.rsplit_once('.').unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(message.as_bytes());
        assert_eq!(
            B64.decode(signature).unwrap(),
            mac.finalize().into_bytes().to_vec()
        );

        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], "1");
        assert_eq!(header["typ"], ACCESS_TOKEN_TYPE);
    }

    #[test]
    fn a_cached_key_is_never_used_with_another_ring() {
        let jwt = JwtSigner::new(JwtConfig::default());
        let a = ring(1);
        let b = ring(2);
        let (from_a, _) = issue(&jwt, &a);
        let (from_b, _) = issue(&jwt, &b); // replaces a's cached key 1
        assert!(jwt.validate(&b, &from_b, now()).is_ok());
        assert_eq!(reason(jwt.validate(&b, &from_a, now())), "bad signature");
        assert!(jwt.validate(&a, &from_a, now()).is_ok());
        assert_eq!(reason(jwt.validate(&a, &from_b, now())), "bad signature");

        // A ring rebuilt from the same master derives the same keys.
        let again = ring(1);
        assert!(jwt.validate(&again, &from_a, now()).is_ok());
        // A dropped ring's cached entry is not reused for a new ring, even
        // one the allocator could place at the same address.
        drop(again);
        drop(a);
        let c = ring(3);
        assert_eq!(reason(jwt.validate(&c, &from_a, now())), "bad signature");
    }

    /// `header.payload.signature` with `header` and `payload` as given and
    /// an HMAC under `key` (HS256 unless `sha384`).
    fn forge(header: &str, payload: &str, key: &[u8], sha384: bool) -> String {
        let message = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let tag = if sha384 {
            let mut mac = <Hmac<Sha384> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        } else {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(message.as_bytes());
            mac.finalize().into_bytes().to_vec()
        };
        format!("{message}.{}", B64.encode(tag))
    }

    fn payload_of(token: &str) -> String {
        String::from_utf8(B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn headers_signed_with_the_right_key_are_still_checked() {
        let ring = ring(5);
        let jwt = JwtSigner::new(JwtConfig::default());
        let (token, _) = issue(&jwt, &ring);
        let payload = payload_of(&token);
        let key = ring.derive_subkey("jwt/1");

        // The forging helper reproduces a valid token: the checks below fail
        // for their header alone.
        let good = forge(
            r#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#,
            &payload,
            &key[..],
            false,
        );
        assert!(jwt.validate(&ring, &good, now()).is_ok());

        let cases = [
            (
                r#"{"typ":"at+jwt","alg":"HS384","kid":"1"}"#,
                true,
                "algorithm not allowed",
            ),
            (
                r#"{"typ":"at+jwt","alg":"HS512","kid":"1"}"#,
                false,
                "algorithm not allowed",
            ),
            (
                r#"{"typ":"at+jwt","alg":"RS256","kid":"1"}"#,
                false,
                "algorithm not allowed",
            ),
            (
                r#"{"typ":"at+jwt","alg":"none","kid":"1"}"#,
                false,
                "malformed",
            ),
            (r#"{"typ":"at+jwt","kid":"1"}"#, false, "malformed"),
            (
                r#"{"typ":"JWT","alg":"HS256","kid":"1"}"#,
                false,
                "wrong type",
            ),
            (r#"{"alg":"HS256","kid":"1"}"#, false, "wrong type"),
            (r#"{"typ":"at+jwt","alg":"HS256"}"#, false, "missing key id"),
            (
                r#"{"typ":"at+jwt","alg":"HS256","kid":"2"}"#,
                false,
                "unknown key id",
            ),
            (
                r#"{"typ":"at+jwt","alg":"HS256","kid":"01"}"#,
                false,
                "unknown key id",
            ),
            (
                r#"{"typ":"at+jwt","alg":"HS256","kid":1}"#,
                false,
                "malformed",
            ),
            (
                r#"{"typ":"at+jwt","alg":"HS256","kid":"1","crit":["exp"]}"#,
                false,
                "unsupported critical header",
            ),
        ];
        for (header, sha384, why) in cases {
            let forged = forge(header, &payload, &key[..], sha384);
            assert_eq!(reason(jwt.validate(&ring, &forged, now())), why, "{header}");
        }
    }

    #[test]
    fn claims_signed_with_the_right_key_are_still_checked() {
        let ring = ring(6);
        let jwt = JwtSigner::new(JwtConfig::default());
        let (token, _) = issue(&jwt, &ring);
        let key = ring.derive_subkey("jwt/1");
        let header = r#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#;
        let claims: serde_json::Value = serde_json::from_str(&payload_of(&token)).unwrap();
        let with = |field: &str, value: serde_json::Value| {
            let mut c = claims.clone();
            c[field] = value;
            forge(header, &c.to_string(), &key[..], false)
        };
        let cases = [
            (with("exp", serde_json::json!("99999999999")), "malformed"),
            (with("exp", serde_json::json!(null)), "malformed"),
            (with("nbf", serde_json::json!("0")), "malformed"),
            (
                with("aud", serde_json::json!(["secrets-core"])),
                "malformed",
            ),
            (with("role", serde_json::json!("root")), "malformed"),
            (
                with("iss", serde_json::json!("someone-else")),
                "wrong issuer",
            ),
            (
                with("aud", serde_json::json!("someone-else")),
                "wrong audience",
            ),
            (with("nbf", serde_json::json!(NOW + 3600)), "not yet valid"),
            (with("exp", serde_json::json!(NOW - 3600)), "expired"),
        ];
        for (forged, why) in cases {
            assert_eq!(reason(jwt.validate(&ring, &forged, now())), why, "{why}");
        }
        let mut missing = claims.clone();
        missing.as_object_mut().unwrap().remove("exp");
        let forged = forge(header, &missing.to_string(), &key[..], false);
        assert_eq!(reason(jwt.validate(&ring, &forged, now())), "malformed");
    }

    #[test]
    fn kid_must_be_canonical_decimal_of_a_held_key() {
        assert_eq!(parse_kid(Some("1")).unwrap(), KeyId::FIRST);
        for bad in ["01", "+1", " 1", "0", "-1", "", "1.0", "65536", "x"] {
            assert!(
                matches!(
                    parse_kid(Some(bad)),
                    Err(Error::InvalidToken {
                        reason: TokenRejection::UnknownKeyId
                    })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_kid(None),
            Err(Error::InvalidToken {
                reason: TokenRejection::MissingKeyId
            })
        ));
    }

    #[test]
    fn signer_is_shareable_across_tasks() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<JwtSigner>();
        send_sync::<AccessClaims>();
    }

    #[test]
    fn header_parsing_is_strict() {
        let mut buf = Vec::new();
        let enc = |h: &str| format!("{}.e30.sig", B64.encode(h));
        let ok = decode_header(&enc(r#"{"alg":"HS256","kid":"7","x":[1]}"#), &mut buf).unwrap();
        assert_eq!(ok.kid.as_deref(), Some("7"));
        assert!(ok.crit.is_none());
        for bad in [
            enc(r#"{"alg":"HS256","alg":"HS256"}"#),
            enc(r#"{"alg":"HS256","kid":"1","kid":"2"}"#),
            enc(r#"{"alg":"none"}"#),
            enc(r#"{"kid":"1"}"#),
            enc("[]"),
            enc("not json"),
            format!("{}.e30", B64.encode(r#"{"alg":"HS256"}"#)),
            format!("{}.e30.sig.x", B64.encode(r#"{"alg":"HS256"}"#)),
            format!("{}=.e30.sig", B64.encode(r#"{"alg":"HS256"}"#)),
        ] {
            assert!(
                matches!(
                    decode_header(&bad, &mut Vec::new()),
                    Err(Error::InvalidToken {
                        reason: TokenRejection::Malformed
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn time_bounds_follow_rfc_7519() {
        let leeway = Duration::from_secs(30);
        let at = |ms: i64| Timestamp::from_unix_millis(ms);
        let exp = Some(1_000);
        // Valid strictly before exp + leeway.
        assert!(check_times(at(1_029_999), exp, None, leeway).is_ok());
        assert!(check_times(at(1_030_000), exp, None, leeway).is_err());
        assert!(check_times(at(999_999), exp, None, Duration::ZERO).is_ok());
        assert!(check_times(at(1_000_000), exp, None, Duration::ZERO).is_err());
        // Valid from nbf - leeway on.
        let nbf = Some(1_000);
        assert!(check_times(at(970_000), None, nbf, leeway).is_ok());
        assert!(check_times(at(969_999), None, nbf, leeway).is_err());
        // Extreme values saturate instead of overflowing.
        assert!(check_times(at(i64::MAX), Some(i64::MAX), Some(i64::MIN), leeway).is_err());
        assert!(check_times(at(0), Some(i64::MAX), Some(i64::MIN), leeway).is_ok());
    }

    #[test]
    fn times_of_the_wrong_type_are_malformed_not_absent() {
        for payload in [
            r#"{"exp":"99999999999"}"#,
            r#"{"nbf":"1"}"#,
            r#"{"exp":null}"#,
            r#"{"exp":1.5}"#,
        ] {
            assert!(
                serde_json::from_str::<TimeClaims>(payload).is_err(),
                "{payload}"
            );
        }
        let none: TimeClaims = serde_json::from_str(r#"{"iss":"x"}"#).unwrap();
        assert_eq!((none.exp, none.nbf), (None, None));
    }

    #[test]
    fn config_limits() {
        let ok = JwtConfig::default();
        assert!(ok.check().is_ok());
        let bad = [
            JwtConfig {
                issuer: String::new(),
                ..ok.clone()
            },
            JwtConfig {
                audience: String::new(),
                ..ok.clone()
            },
            JwtConfig {
                ttl: Duration::ZERO,
                ..ok.clone()
            },
            JwtConfig {
                ttl: Duration::from_millis(1500),
                ..ok.clone()
            },
            JwtConfig {
                ttl: MAX_TTL + Duration::from_secs(1),
                ..ok.clone()
            },
            JwtConfig {
                leeway: MAX_LEEWAY + Duration::from_secs(1),
                ..ok.clone()
            },
        ];
        let ring = ring(9);
        for config in bad {
            assert!(config.check().is_err(), "{config:?}");
            let jwt = JwtSigner::new(config.clone());
            assert!(
                matches!(
                    jwt.issue(
                        &ring,
                        UserId::generate(),
                        TenantId::DEFAULT,
                        Role::Viewer,
                        vec![],
                        0,
                        now()
                    ),
                    Err(Error::InvalidInput { .. })
                ),
                "{config:?}"
            );
        }
    }

    #[test]
    fn too_many_scopes_are_refused_at_issue() {
        let jwt = JwtSigner::new(JwtConfig::default());
        let scopes = vec!["x".repeat(100); 100];
        assert!(matches!(
            jwt.issue(
                &ring(1),
                UserId::generate(),
                TenantId::DEFAULT,
                Role::Admin,
                scopes,
                0,
                now()
            ),
            Err(Error::InvalidInput {
                field: "scopes",
                ..
            })
        ));
    }

    #[test]
    fn debug_shows_no_key() {
        let ring = ring(0x42);
        let jwt = JwtSigner::new(JwtConfig::default());
        let _ = issue(&jwt, &ring);
        let key = ring.derive_subkey("jwt/1");
        let shown = format!("{jwt:?} {jwt:#?}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert!(shown.contains("cached_key_ids: [1]"), "{shown}");
        let decimal = format!("{:?}", &key[..4]);
        assert!(!shown.contains(&decimal[1..decimal.len() - 1]), "{shown}");
        assert!(!shown.contains(&B64.encode(&key[..])), "{shown}");
    }

    #[test]
    fn provider_refuses_what_it_does_not_implement() {
        let key = EncodingKey::from_secret(&[1; 32]);
        assert!((PROVIDER.signer_factory)(&Algorithm::RS256, &key).is_err());
        assert!((PROVIDER.signer_factory)(&Algorithm::EdDSA, &key).is_err());
        let rsa = EncodingKey::from_rsa_der(&[0x30, 0]);
        assert!((PROVIDER.signer_factory)(&Algorithm::HS256, &rsa).is_err());
        assert!((PROVIDER.key_utils.rsa_pub_components_from_public_key)(&[]).is_err());
        let digest = (PROVIDER.key_utils.compute_digest)(b"abc", ThumbprintHash::SHA256).unwrap();
        assert_eq!(digest, Sha256::digest(b"abc").to_vec());
        // HS384 and HS512 work, for whoever else in the process uses them.
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let signer = (PROVIDER.signer_factory)(&alg, &key).unwrap();
            let sig = signer.try_sign(b"msg").unwrap();
            let verifier =
                (PROVIDER.verifier_factory)(&alg, &DecodingKey::from_secret(&[1; 32])).unwrap();
            assert!(verifier.verify(b"msg", &sig).is_ok());
            assert!(verifier.verify(b"msh", &sig).is_err());
            assert!(
                verifier
                    .verify(b"msg", &sig[..sig.len() - 1].to_vec())
                    .is_err()
            );
        }
    }
}
