//! A JSON object reader whose errors never carry a value: token endpoint
//! responses and sealed token sets hold tokens, and an error message must
//! not repeat one.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A JSON value, as much of it as the token set parsers need. Strings are held
/// in zeroizing boxes (they may be tokens); arrays other than arrays of
/// strings and objects are skipped.
pub(super) enum Loose {
    Str(Zeroizing<String>),
    UInt(u64),
    NegInt(i64),
    Other,
    Strings(Vec<Zeroizing<String>>),
}

/// Parses `json` as one object and returns the members named in `names`,
/// in that order (`None` when absent or `null`).
///
/// Every error message comes either from this module's visitors (which
/// never format a value) or from serde_json's syntax errors (which only say
/// what was expected where), so none can contain token text.
pub(super) fn parse_object<const N: usize>(
    json: &[u8],
    field: &'static str,
    names: [&'static str; N],
) -> Result<[Option<Loose>; N]> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = ObjectSeed(names)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| Error::invalid(field, format!("is not a valid JSON object: {e}")))
}

struct ObjectSeed<const N: usize>([&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for ObjectSeed<N> {
    type Value = [Option<Loose>; N];

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! refuse_non_object {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<Self::Value, E> {
            Err(E::custom("expected a JSON object"))
        })*
    };
}

impl<'de, const N: usize> Visitor<'de> for ObjectSeed<N> {
    type Value = [Option<Loose>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    refuse_non_object!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str)
    );

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(E::custom("expected a JSON object"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(de::Error::custom("expected a JSON object"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A `null` member is kept as `Some(Seen::Null)` here, so that a
        // duplicate is detected even when the first one was null.
        let mut out: [Option<Seen>; N] = std::array::from_fn(|_| None);
        while let Some(key) = map.next_key::<String>()? {
            match self.0.iter().position(|n| *n == key) {
                Some(i) => {
                    let slot = out
                        .get_mut(i)
                        .ok_or_else(|| de::Error::custom("internal"))?;
                    if slot.is_some() {
                        return Err(de::Error::custom(format!(
                            "member `{}` appears twice",
                            key.escape_debug()
                        )));
                    }
                    *slot = Some(map.next_value::<Seen>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out.map(|s| s.and_then(Seen::into_loose)))
    }
}

/// A member's value as read: `Null` is "seen but absent".
enum Seen {
    Null,
    Value(Loose),
}

impl Seen {
    fn into_loose(self) -> Option<Loose> {
        match self {
            Self::Null => None,
            Self::Value(v) => Some(v),
        }
    }
}

impl<'de> de::Deserialize<'de> for Seen {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SeenVisitor)
    }
}

struct SeenVisitor;

impl<'de> Visitor<'de> for SeenVisitor {
    type Value = Seen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Seen, E> {
        Ok(Seen::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Seen, E> {
        Ok(Seen::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Seen, E> {
        Ok(Seen::Value(Loose::Other))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seen, E> {
        Ok(Seen::Value(Loose::UInt(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seen, E> {
        Ok(Seen::Value(match u64::try_from(v) {
            Ok(u) => Loose::UInt(u),
            Err(_) => Loose::NegInt(v),
        }))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Seen, E> {
        Ok(Seen::Value(Loose::Other))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Seen, E> {
        Ok(Seen::Value(Loose::Str(Zeroizing::new(v.to_owned()))))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Seen, A::Error> {
        let mut strings = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element::<Seen>()? {
            match item {
                Seen::Value(Loose::Str(s)) => strings.push(s),
                _ => all_strings = false,
            }
        }
        Ok(Seen::Value(if all_strings {
            Loose::Strings(strings)
        } else {
            Loose::Other
        }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Seen, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Seen::Value(Loose::Other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_reader_reports_duplicates_and_non_objects_without_values() {
        for (json, want) in [
            (
                &br#"{"access_token":"a","access_token":"b"}"#[..],
                "appears twice",
            ),
            (br#""sekrit-token""#, "expected a JSON object"),
            (br#"["sekrit-token"]"#, "expected a JSON object"),
            (br"12345", "expected a JSON object"),
            (br#"{"a":1} x"#, "trailing characters"),
        ] {
            let err = parse_object(json, "token_response", ["access_token"])
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("sekrit"), "{err}");
        }
    }
}
