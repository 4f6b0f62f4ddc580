//! The JOSE header of a compact JWS, read strictly.
//!
//! One pass over the decoded header (which must be UTF-8): it must be one
//! JSON object; `alg` a string; `typ` and `kid` strings (or `null`, read as
//! absent); `crit`, present at all, is remembered to be refused; the other
//! header parameters RFC 7515 (and JWE's `enc` and `zip`, RFC 8555's
//! `url` and `nonce`) register are checked for their JSON type and
//! otherwise ignored (`jwk` a JWK object, see [`Jwk`]; `x5c` an array of
//! strings; the rest strings), as are parameters nobody registered. No
//! name may appear twice (RFC 7515 section 4: a parser must refuse
//! duplicates or take the last one; taking the last would let two readers
//! see two different headers).
//!
//! These are the rules the `jsonwebtoken` 11 parser applied before (its
//! typed `Header` and `Jwk`), except that it let a repeated unregistered
//! name through (the last one won) and read `crit: null` as absent.

use crate::error::TokenRejection;
use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::config::JwtAlgorithm;
use super::json::{AnyString, StringArray, Text, repeats};
use super::rejected;
use crate::error::Result;

/// The algorithms accepted, by their exact (case-sensitive) JOSE name.
const ACCEPTED: [JwtAlgorithm; 2] = [JwtAlgorithm::Hs256, JwtAlgorithm::EdDsa];

/// The JWS algorithms refused as "algorithm not allowed" rather than as
/// "malformed": the other names the `jsonwebtoken`-based validation before
/// this one knew (RFC 7518 section 3.1). Any other `alg`, `none` included,
/// is malformed here.
const OTHER_ALGORITHMS: [&str; 10] = [
    "HS384", "HS512", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
];

/// The header fields this module acts on.
#[derive(Debug)]
pub(super) struct Header<'a> {
    /// `alg`.
    pub(super) alg: Cow<'a, str>,
    /// `typ`, if present and not `null`.
    pub(super) typ: Option<Cow<'a, str>>,
    /// `kid`, if present and not `null`.
    pub(super) kid: Option<Cow<'a, str>>,
    /// Whether a `crit` member is present, whatever its value.
    pub(super) crit: bool,
}

impl<'a> Header<'a> {
    /// Parses a decoded header: malformed unless it is UTF-8 and one JSON
    /// object as described in the module documentation.
    pub(super) fn parse(bytes: &'a [u8]) -> Result<Self> {
        let text = std::str::from_utf8(bytes).map_err(|_| rejected(TokenRejection::Malformed))?;
        serde_json::from_str(text).map_err(|_| rejected(TokenRejection::Malformed))
    }

    /// Returns the algorithm, HS256 or EdDSA (any other is refused), and
    /// refuses `crit` (RFC 7515 section 4.1.11: listed extensions must be
    /// understood, and this implementation understands none). The caller
    /// still pins the algorithm to the key: a header only says which of
    /// the two it claims.
    pub(super) fn check(&self) -> Result<JwtAlgorithm> {
        let Some(alg) = ACCEPTED.into_iter().find(|a| a.as_str() == self.alg) else {
            return Err(rejected(if OTHER_ALGORITHMS.contains(&&*self.alg) {
                TokenRejection::AlgorithmNotAllowed
            } else {
                TokenRejection::Malformed
            }));
        };
        if self.crit {
            return Err(rejected(TokenRejection::UnsupportedCriticalHeader));
        }
        Ok(alg)
    }
}

/// How a header parameter's value is checked.
#[derive(Clone, Copy)]
enum Shape {
    /// A string or `null`.
    String,
    /// An array of strings or `null`.
    StringArray,
    /// A JWK or `null`.
    Jwk,
}

/// The registered header parameters this module does not act on, with the
/// JSON type each must have.
const REGISTERED: [(&str, Shape); 11] = [
    ("cty", Shape::String),
    ("jku", Shape::String),
    ("jwk", Shape::Jwk),
    ("x5u", Shape::String),
    ("x5c", Shape::StringArray),
    ("x5t", Shape::String),
    ("x5t#S256", Shape::String),
    ("enc", Shape::String),
    ("zip", Shape::String),
    ("url", Shape::String),
    ("nonce", Shape::String),
];

/// A JSON Web Key in a `jwk` header, never used: one object with no
/// repeated member, whose RFC 7517 section 4 members have their types
/// (`use`, `alg`, `kid`, `x5u`, `x5t`, `x5t#S256` strings; `key_ops` and
/// `x5c` arrays of strings; `null` read as absent). `kty` and the key's own
/// parameters may be anything, as `jsonwebtoken` allowed.
struct Jwk;

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Jwk;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JWK object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut names: Vec<Cow<'de, str>> = Vec::new();
                while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
                    match &*name {
                        "use" | "alg" | "kid" | "x5u" | "x5t" | "x5t#S256" => {
                            map.next_value::<Option<AnyString>>()?;
                        }
                        "key_ops" | "x5c" => {
                            map.next_value::<Option<StringArray>>()?;
                        }
                        _ => {
                            map.next_value::<serde_json::Value>()?;
                        }
                    }
                    names.push(name);
                }
                if repeats(&mut names) {
                    return Err(de::Error::custom("repeated JWK member"));
                }
                Ok(Jwk)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for Header<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut alg = None;
        let mut typ = None;
        let mut kid = None;
        let mut crit = false;
        // The parameters read so far: a bit for each name this reader
        // knows (`alg`, `typ`, `kid`, `crit`, then `REGISTERED`), and the
        // names of the others, to refuse a repeat of either.
        let mut seen: u16 = 0;
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Text(name)) = map.next_key::<Text<'de>>()? {
            let bit = match &*name {
                "alg" => {
                    alg = Some(map.next_value::<Text<'de>>()?.0);
                    0
                }
                "typ" => {
                    typ = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                    1
                }
                "kid" => {
                    kid = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
                    2
                }
                "crit" => {
                    map.next_value::<IgnoredAny>()?;
                    crit = true;
                    3
                }
                other => {
                    let Some((i, (_, shape))) = REGISTERED
                        .iter()
                        .enumerate()
                        .find(|(_, (n, _))| *n == other)
                    else {
                        // Read in full, so that its strings are checked as
                        // strictly as the rest of the header.
                        map.next_value::<serde_json::Value>()?;
                        others.push(name);
                        continue;
                    };
                    match shape {
                        Shape::String => {
                            map.next_value::<Option<AnyString>>()?;
                        }
                        Shape::StringArray => {
                            map.next_value::<Option<StringArray>>()?;
                        }
                        Shape::Jwk => {
                            map.next_value::<Option<Jwk>>()?;
                        }
                    }
                    i + 4
                }
            };
            let mask = 1u16 << bit;
            if seen & mask != 0 {
                return Err(de::Error::custom("repeated header parameter"));
            }
            seen |= mask;
        }
        if repeats(&mut others) {
            return Err(de::Error::custom("repeated header parameter"));
        }
        let alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(Header {
            alg,
            typ,
            kid,
            crit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn parse(text: &str) -> Result<Header<'_>> {
        Header::parse(text.as_bytes())
    }

    fn malformed(text: &str) -> bool {
        matches!(
            parse(text),
            Err(Error::InvalidToken {
                reason: TokenRejection::Malformed
            })
        )
    }

    #[test]
    fn reads_the_fields_it_acts_on() {
        let h = parse(r#"{"typ":"at+jwt","alg":"HS256","kid":"7"}"#).unwrap();
        assert_eq!(
            (&*h.alg, h.typ.as_deref(), h.kid.as_deref(), h.crit),
            ("HS256", Some("at+jwt"), Some("7"), false)
        );
        assert!(h.check().is_ok());
        // Borrowed from the input when there is no escape.
        assert!(matches!(h.alg, Cow::Borrowed(_)));
        let h = parse(r#"{"alg":"HS\u0032\u0035\u0036","typ":null,"kid":null}"#).unwrap();
        assert_eq!((&*h.alg, &h.typ, &h.kid), ("HS256", &None, &None));
        assert!(h.check().is_ok());
    }

    #[test]
    fn refuses_repeats_wrong_types_and_non_objects() {
        for bad in [
            r#"{"alg":"HS256","alg":"HS256"}"#,
            r#"{"alg":"HS256","kid":"1","kid":"2"}"#,
            r#"{"alg":"HS256","x":1,"x":1}"#,
            r#"{"alg":"HS256","\u0078":1,"x":1}"#,
            r#"{"alg":"HS256","cty":"a","cty":"a"}"#,
            r#"{"alg":"HS256","crit":[],"crit":[]}"#,
            r#"{"alg":"HS256","kid":1}"#,
            r#"{"alg":"HS256","typ":[]}"#,
            r#"{"alg":"HS256","jwk":"k"}"#,
            r#"{"alg":"HS256","x5c":["a",1]}"#,
            r#"{"alg":"HS256","jwk":{"use":1}}"#,
            r#"{"alg":"HS256","jwk":{"key_ops":"sign"}}"#,
            r#"{"alg":"HS256","jwk":{"kid":"a","kid":"a"}}"#,
            r#"{"alg":"HS256","jwk":{"k":"\udc00"}}"#,
            r#"{"alg":"HS256","x":"\ud800"}"#,
            r#"{"alg":null}"#,
            r#"{"kid":"1"}"#,
            "[]",
            r#"["HS256"]"#,
            "null",
            "",
            r#"{"alg":"HS256"} x"#,
        ] {
            assert!(malformed(bad), "{bad}");
        }
        assert!(matches!(
            Header::parse(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}"),
            Err(Error::InvalidToken {
                reason: TokenRejection::Malformed
            })
        ));
    }

    #[test]
    fn check_takes_hs256_or_eddsa_and_refuses_crit() {
        let reason = |text: &str| match parse(text).unwrap().check() {
            Err(Error::InvalidToken { reason }) => reason.as_str(),
            other => panic!("{text}: {other:?}"),
        };
        assert_eq!(
            parse(r#"{"alg":"HS256"}"#).unwrap().check().unwrap(),
            JwtAlgorithm::Hs256
        );
        assert_eq!(
            parse(r#"{"alg":"EdDSA"}"#).unwrap().check().unwrap(),
            JwtAlgorithm::EdDsa
        );
        assert_eq!(reason(r#"{"alg":"HS384"}"#), "algorithm not allowed");
        assert_eq!(reason(r#"{"alg":"ES256"}"#), "algorithm not allowed");
        assert_eq!(reason(r#"{"alg":"none"}"#), "malformed");
        assert_eq!(reason(r#"{"alg":"hs256"}"#), "malformed");
        assert_eq!(reason(r#"{"alg":"eddsa"}"#), "malformed");
        assert_eq!(reason(r#"{"alg":"Ed25519"}"#), "malformed");
        assert_eq!(reason(r#"{"alg":"EdDSA "}"#), "malformed");
        assert_eq!(
            reason(r#"{"alg":"EdDSA","crit":["b64"]}"#),
            "unsupported critical header"
        );
        assert_eq!(
            reason(r#"{"alg":"HS256","crit":null}"#),
            "unsupported critical header"
        );
        assert_eq!(
            reason(r#"{"alg":"HS256","crit":["b64"]}"#),
            "unsupported critical header"
        );
    }

    #[test]
    fn many_members_are_checked_in_n_log_n() {
        let members: Vec<String> = (0..2000).map(|i| format!(r#""m{i}":{i}"#)).collect();
        let ok = format!(r#"{{"alg":"HS256",{}}}"#, members.join(","));
        assert!(parse(&ok).is_ok());
        let repeated = format!(r#"{{"alg":"HS256",{},"m0":0}}"#, members.join(","));
        assert!(malformed(&repeated));
    }
}
