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

impl AccessClaims {
    /// Reads an access token's claims set in one pass, with the rules of
    /// [`ClaimSet::parse`] and of `AccessClaims`' own `Deserialize` at once
    /// (what reading it twice, once as each, accepted): one JSON object; no
    /// name twice, known or not; `exp` and `nbf` (like `iat` and `epoch`)
    /// integers that fit; every field but `epoch` present, each read by its
    /// own type's `Deserialize`; unknown claims read (their strings checked)
    /// and dropped. Known names cost a bit each; only unknown names are
    /// collected, to find a repeat among them.
    pub(super) fn parse_strict(text: &str) -> Result<Self> {
        let mut de = serde_json::Deserializer::from_str(text);
        let claims = Strict::deserialize(&mut de)
            .and_then(|Strict(c)| de.end().map(|()| c))
            .map_err(|_| rejected(TokenRejection::Malformed))?;
        Ok(claims)
    }
}

/// [`AccessClaims`] read by [`AccessClaims::parse_strict`].
struct Strict(AccessClaims);

/// The names `AccessClaims` reads, in the order of its bits in `seen`.
const FIELDS: [&str; 11] = [
    "sub", "tid", "role", "scopes", "epoch", "jti", "iat", "nbf", "exp", "iss", "aud",
];

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Strict;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an access token claims set object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let (mut sub, mut tid, mut role, mut scopes) = (None, None, None, None);
                let (mut epoch, mut jti, mut iat, mut nbf) = (None, None, None, None);
                let (mut exp, mut iss, mut aud) = (None, None, None);
                let mut seen: u16 = 0;
                // Names of claims this type does not know: a repeat among
                // them is refused too.
                let mut others: Vec<Cow<'de, str>> = Vec::new();
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    let Some(bit) = FIELDS.iter().position(|f| *f == name) else {
                        map.next_value::<IgnoredAny>()?;
                        others.push(name);
                        continue;
                    };
                    let mask = 1u16 << bit;
                    if seen & mask != 0 {
                        return Err(de::Error::custom("repeated claim"));
                    }
                    seen |= mask;
                    match bit {
                        0 => sub = Some(map.next_value::<UserId>()?),
                        1 => tid = Some(map.next_value::<TenantId>()?),
                        2 => role = Some(map.next_value::<Role>()?),
                        3 => scopes = Some(map.next_value::<Vec<String>>()?),
                        4 => epoch = Some(map.next_value::<u64>()?),
                        5 => jti = Some(map.next_value::<String>()?),
                        6 => iat = Some(map.next_value::<i64>()?),
                        7 => nbf = Some(map.next_value::<i64>()?),
                        8 => exp = Some(map.next_value::<i64>()?),
                        9 => iss = Some(map.next_value::<String>()?),
                        _ => aud = Some(map.next_value::<String>()?),
                    }
                }
                if repeats(&mut others) {
                    return Err(de::Error::custom("repeated claim"));
                }
                let missing = de::Error::missing_field;
                Ok(Strict(AccessClaims {
                    sub: sub.ok_or_else(|| missing("sub"))?,
                    tid: tid.ok_or_else(|| missing("tid"))?,
                    role: role.ok_or_else(|| missing("role"))?,
                    scopes: scopes.ok_or_else(|| missing("scopes"))?,
                    epoch: epoch.unwrap_or_default(),
                    jti: jti.ok_or_else(|| missing("jti"))?,
                    iat: iat.ok_or_else(|| missing("iat"))?,
                    nbf: nbf.ok_or_else(|| missing("nbf"))?,
                    exp: exp.ok_or_else(|| missing("exp"))?,
                    iss: iss.ok_or_else(|| missing("iss"))?,
                    aud: aud.ok_or_else(|| missing("aud"))?,
                }))
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

    /// What `AccessClaims::parse_strict` replaced: the claims read twice,
    /// once as a `ClaimSet` (the rules), once as `AccessClaims` (the type).
    fn twice(text: &str) -> Option<AccessClaims> {
        ClaimSet::parse(text).ok()?;
        serde_json::from_str(text).ok()
    }

    #[test]
    fn one_pass_accepts_exactly_what_two_passes_did() {
        let good = r#"{"sub":"0190d9a0-0000-7000-8000-000000000001","tid":"00000000-0000-0000-0000-000000000000","role":"developer","scopes":["apps:read"],"epoch":3,"jti":"j","iat":10,"nbf":10,"exp":20,"iss":"i","aud":"a"}"#;
        let full: serde_json::Value = serde_json::from_str(good).unwrap();
        let obj = full.as_object().unwrap();
        let mut cases: Vec<String> = vec![good.to_owned()];
        // Each field missing, and each field repeated (also under an escape).
        for name in obj.keys() {
            let mut m = obj.clone();
            m.remove(name);
            cases.push(serde_json::Value::Object(m).to_string());
            let value = obj[name].to_string();
            cases.push(good.replacen('{', &format!(r#"{{"{name}":{value},"#), 1));
            let escaped: String = name
                .chars()
                .map(|c| format!("\\u{:04x}", u32::from(c)))
                .collect();
            cases.push(good.replacen('{', &format!(r#"{{"{escaped}":{value},"#), 1));
        }
        for extra in [
            r#""x":1,"#,
            r#""x":1,"x":2,"#,
            r#""x":1,"\u0078":2,"#,
            r#""x":1,"y":{"z":1,"z":2},"#,
            r#""x":"\ud800","#,
            r#""x":[1,{"a":null}],"y":true,"#,
        ] {
            cases.push(good.replacen('{', &format!("{{{extra}"), 1));
        }
        for (from, to) in [
            (r#""epoch":3"#, r#""epoch":-1"#),
            (r#""epoch":3"#, r#""epoch":null"#),
            (r#""exp":20"#, r#""exp":"20""#),
            (r#""exp":20"#, r#""exp":2e1"#),
            (r#""exp":20"#, r#""exp":9223372036854775808"#),
            (r#""nbf":10"#, r#""nbf":10.0"#),
            (r#""iat":10"#, r#""iat":null"#),
            (r#""aud":"a""#, r#""aud":["a"]"#),
            (r#""role":"developer""#, r#""role":"root""#),
            (r#""scopes":["apps:read"]"#, r#""scopes":"apps:read""#),
            (r#""scopes":["apps:read"]"#, r#""scopes":[1]"#),
            (
                r#""sub":"0190d9a0-0000-7000-8000-000000000001""#,
                r#""sub":1"#,
            ),
            (
                r#""sub":"0190d9a0-0000-7000-8000-000000000001""#,
                r#""sub":"x""#,
            ),
            (
                r#""sub":"0190d9a0-0000-7000-8000-000000000001""#,
                r#""sub":"0190d9a000007000800000000000000""#,
            ),
            (
                r#""tid":"00000000-0000-0000-0000-000000000000""#,
                r#""tid":null"#,
            ),
            (r#""jti":"j""#, r#""jti":"j\u0000""#),
            (r#""iss":"i""#, r#""iss":"\u0069""#),
        ] {
            assert!(good.contains(from), "{from}");
            cases.push(good.replace(from, to));
        }
        for whole in ["", "[]", "null", "{}", " {} ", "1", r#""x""#] {
            cases.push(whole.to_owned());
        }
        cases.push(format!(" {good} "));
        cases.push(format!("{good} {{}}"));
        cases.push(format!(
            "[{}]",
            obj.values()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ));
        let mut accepted = 0;
        for case in &cases {
            let one = AccessClaims::parse_strict(case);
            if let Err(e) = &one {
                assert!(
                    matches!(
                        e,
                        Error::InvalidToken {
                            reason: TokenRejection::Malformed
                        }
                    ),
                    "{case}: {e:?}"
                );
            }
            let one = one.ok();
            assert_eq!(one, twice(case), "{case}");
            accepted += usize::from(one.is_some());
        }
        // The good token, with its epoch absent, an unknown claim, an
        // escaped issuer, padding, and the two nested-repeat cases.
        assert!(accepted >= 6, "only {accepted} accepted");
    }
}
