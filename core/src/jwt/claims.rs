//! The claims of an access token, and the rules every claims set follows:
//! one JSON object, no repeated name, `exp` and `nbf` integers checked
//! against an injected clock.

use crate::error::TokenRejection;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::json::{AnyString, Text, repeats};
use super::rejected;
use crate::clock::Timestamp;
use crate::error::Result;
use crate::id::{TenantId, UserId};
use crate::rbac::Role;

/// The claims of an access token. Times are whole seconds since the Unix
/// epoch (JWT `NumericDate`); `nbf` equals `iat` in tokens issued here.
///
/// Serialized in the order of the fields below (`docs/FORMATS.md`); read
/// strictly: every field but `epoch` is required, times and `epoch` are
/// JSON integers that fit their type, `aud` is one string (an array is
/// refused), and claims this type does not know are ignored.
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
/// let user = UserId::generate();
/// let (_, claims) = jwt.issue(user, TenantId::DEFAULT, Role::Viewer, vec![], 0, now)?;
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
    /// Issuer, compared exactly with [`JwtConfig::issuer`](super::JwtConfig::issuer).
    pub iss: String,
    /// Audience, compared exactly with [`JwtConfig::audience`](super::JwtConfig::audience).
    pub aud: String,
}

/// What every claims set must be, whatever its type: one JSON object with no
/// repeated member name (RFC 7519 section 4), whose `exp` and `nbf`, where
/// present, are JSON integers that fit an `i64` (a string, a fraction,
/// `null` or an out-of-range number is malformed, never absent) and whose
/// `sub`, where present, is a string (RFC 7519 section 4.1.2).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ClaimSet {
    pub(super) exp: Option<i64>,
    pub(super) nbf: Option<i64>,
}

impl ClaimSet {
    /// Reads `text` (a decoded payload) as described above.
    pub(super) fn parse(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|_| rejected(TokenRejection::Malformed))
    }
}

impl<'de> Deserialize<'de> for ClaimSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWT claims set object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut set = ClaimSet {
                    exp: None,
                    nbf: None,
                };
                let mut names: Vec<Cow<'de, str>> = Vec::with_capacity(16);
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    match &*name {
                        "exp" => set.exp = Some(map.next_value::<i64>()?),
                        "nbf" => set.nbf = Some(map.next_value::<i64>()?),
                        "sub" => {
                            map.next_value::<AnyString>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    names.push(name);
                }
                if repeats(&mut names) {
                    return Err(de::Error::custom("repeated claim"));
                }
                Ok(set)
            }
        }
        d.deserialize_map(V)
    }
}

/// RFC 7519 sections 4.1.4 and 4.1.5: a token is refused on or after `exp`
/// and before `nbf`; `leeway` widens both bounds. Saturates at the ends of
/// the time range instead of overflowing.
pub(super) fn check_times(
    now: Timestamp,
    exp: Option<i64>,
    nbf: Option<i64>,
    leeway: Duration,
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

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
            r#"{"exp":1e3}"#,
            r#"{"nbf":9223372036854775808}"#,
            r#"{"nbf":-9223372036854775809}"#,
        ] {
            assert!(
                matches!(
                    ClaimSet::parse(payload),
                    Err(Error::InvalidToken {
                        reason: TokenRejection::Malformed
                    })
                ),
                "{payload}"
            );
        }
        for payload in [
            r#"{"sub":1}"#,
            r#"{"sub":null}"#,
            r#"{"sub":[]}"#,
            r#"{"sub":{}}"#,
        ] {
            assert!(ClaimSet::parse(payload).is_err(), "{payload}");
        }
        let none = ClaimSet::parse(r#"{"iss":"x","exp2":"y","sub":"z"}"#).unwrap();
        assert_eq!((none.exp, none.nbf), (None, None));
        let both =
            ClaimSet::parse(r#"{"nbf":-9223372036854775808,"exp":9223372036854775807}"#).unwrap();
        assert_eq!((both.exp, both.nbf), (Some(i64::MAX), Some(i64::MIN)));
    }

    #[test]
    fn one_object_with_no_repeated_name() {
        for bad in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"exp":1,"exp":1}"#,
            r#"{"a":1,"\u0061":1}"#,
            "[]",
            "[1,2]",
            "1",
            "null",
            r#""x""#,
            "",
            "{} {}",
        ] {
            assert!(ClaimSet::parse(bad).is_err(), "{bad}");
        }
        // Repeats deeper down are the claim's own business.
        assert!(ClaimSet::parse(r#"{"a":{"b":1,"b":2}}"#).is_ok());
        assert!(ClaimSet::parse(" {} ").is_ok());
    }
}
