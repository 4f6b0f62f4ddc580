//! Issuer, audience, lifetime, leeway and signing algorithm of access
//! tokens, and their limits.

use std::time::Duration;

use crate::error::{Error, Result};

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

/// The most key-ring keys whose EdDSA public keys are published (and
/// accepted): see [`JwtConfig::published_keys`].
///
/// ```
/// assert_eq!(secrets_core::jwt::MAX_PUBLISHED_KEYS, 16);
/// ```
pub const MAX_PUBLISHED_KEYS: u32 = 16;

/// The algorithm new access tokens are signed with. Validation accepts
/// both, whichever is configured, each only under its own keys (a `kid`
/// names exactly one algorithm).
///
/// ```
/// use secrets_core::jwt::{JwtAlgorithm, JwtConfig};
///
/// assert_eq!(JwtConfig::default().algorithm, JwtAlgorithm::Hs256);
/// assert_eq!(JwtAlgorithm::EdDsa.as_str(), "EdDSA");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 (RFC 7518 section 3.2) under a key derived from the key
    /// ring: only a holder of the master key can verify (or forge) a token.
    /// The default, so that existing hosts issue the tokens they always
    /// did.
    #[default]
    Hs256,
    /// Ed25519 (RFC 8037) under a key pair derived from the key ring: any
    /// service can verify a token with the public keys of
    /// [`JwtSigner::jwks`](super::JwtSigner::jwks), and none can forge one.
    EdDsa,
}

impl JwtAlgorithm {
    /// The JOSE `alg` name: `HS256` or `EdDSA`.
    ///
    /// ```
    /// use secrets_core::jwt::JwtAlgorithm;
    ///
    /// assert_eq!(JwtAlgorithm::Hs256.as_str(), "HS256");
    /// assert_eq!(JwtAlgorithm::EdDsa.as_str(), "EdDSA");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::EdDsa => "EdDSA",
        }
    }
}

/// Issuer, audience, lifetime, leeway and signing algorithm of access
/// tokens.
///
/// ```
/// use std::time::Duration;
/// use secrets_core::jwt::{JwtAlgorithm, JwtConfig};
///
/// let mut config = JwtConfig::default();
/// config.audience = "api.example.com".into();
/// config.algorithm = JwtAlgorithm::EdDsa;
/// assert_eq!(config.issuer, "secrets-core");
/// assert_eq!(config.ttl, Duration::from_secs(15 * 60));
/// assert_eq!(config.leeway, Duration::from_secs(30));
/// assert_eq!(config.published_keys, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
    /// The algorithm new tokens are signed with (default
    /// [`JwtAlgorithm::Hs256`]).
    pub algorithm: JwtAlgorithm,
    /// How many of the key ring's newest keys have their EdDSA public key
    /// published in the JWKS and accepted on validation (default 2, from 1
    /// to [`MAX_PUBLISHED_KEYS`]): the active key and the one before it, so
    /// that after a rotation the tokens already out stay valid until they
    /// expire, as long as rotations are at least one token lifetime apart.
    /// The key the next rotation will bring is published too, ahead of use.
    pub published_keys: u32,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: "secrets-core".to_owned(),
            audience: "secrets-core".to_owned(),
            ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
            algorithm: JwtAlgorithm::Hs256,
            published_keys: 2,
        }
    }
}

impl JwtConfig {
    /// Checks the configuration: a non-empty issuer and audience, a lifetime
    /// of whole seconds from 1 second to [`MAX_TTL`], a leeway of at most
    /// [`MAX_LEEWAY`], from 1 to [`MAX_PUBLISHED_KEYS`] published keys.
    /// [`JwtSigner::new`](super::JwtSigner::new) calls it.
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
    /// let mut zero = JwtConfig::default();
    /// zero.ttl = Duration::ZERO;
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
        if !(1..=MAX_PUBLISHED_KEYS).contains(&self.published_keys) {
            return Err(Error::invalid(
                "published_keys",
                format!(
                    "is {}; publish from 1 to {MAX_PUBLISHED_KEYS} keys",
                    self.published_keys
                ),
            ));
        }
        check_leeway(self.leeway)
    }

    /// The lifetime in whole seconds, if it is within the limits.
    pub(super) fn ttl_seconds(&self) -> Result<i64> {
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

/// Refuses a leeway over [`MAX_LEEWAY`].
pub(super) fn check_leeway(leeway: Duration) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        let ok = JwtConfig::default();
        assert!(ok.check().is_ok());
        let edge = JwtConfig {
            ttl: MAX_TTL,
            leeway: MAX_LEEWAY,
            ..ok.clone()
        };
        assert!(edge.check().is_ok());
        let published = JwtConfig {
            published_keys: MAX_PUBLISHED_KEYS,
            algorithm: JwtAlgorithm::EdDsa,
            ..ok.clone()
        };
        assert!(published.check().is_ok());
        let one = JwtConfig {
            ttl: Duration::from_secs(1),
            leeway: Duration::ZERO,
            ..ok.clone()
        };
        assert_eq!(one.ttl_seconds().unwrap(), 1);
        for (bad, field) in [
            (
                JwtConfig {
                    issuer: String::new(),
                    ..ok.clone()
                },
                "issuer",
            ),
            (
                JwtConfig {
                    audience: String::new(),
                    ..ok.clone()
                },
                "audience",
            ),
            (
                JwtConfig {
                    ttl: Duration::ZERO,
                    ..ok.clone()
                },
                "ttl",
            ),
            (
                JwtConfig {
                    ttl: Duration::from_millis(1500),
                    ..ok.clone()
                },
                "ttl",
            ),
            (
                JwtConfig {
                    ttl: MAX_TTL + Duration::from_secs(1),
                    ..ok.clone()
                },
                "ttl",
            ),
            (
                JwtConfig {
                    leeway: MAX_LEEWAY + Duration::from_nanos(1),
                    ..ok.clone()
                },
                "leeway",
            ),
            (
                JwtConfig {
                    published_keys: 0,
                    ..ok.clone()
                },
                "published_keys",
            ),
            (
                JwtConfig {
                    published_keys: MAX_PUBLISHED_KEYS + 1,
                    ..ok.clone()
                },
                "published_keys",
            ),
        ] {
            match bad.check() {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
