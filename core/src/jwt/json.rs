//! Small `serde` visitors for reading JOSE headers and claims sets without
//! building a JSON tree: a string borrowed where it can be, and values whose
//! type is checked and which are then dropped.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// A JSON string, borrowed from the input where it holds no escape.
pub(super) struct Text<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON string, read in full (escapes checked) and dropped.
pub(super) struct AnyString;

impl<'de> Deserialize<'de> for AnyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(AnyString)
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON array of strings, read in full and dropped.
pub(super) struct StringArray;

impl<'de> Deserialize<'de> for StringArray {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringArray;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<AnyString>()?.is_some() {}
                Ok(StringArray)
            }
        }
        d.deserialize_seq(V)
    }
}

/// Whether `names` (member names of one object) holds a name twice; sorts
/// it, so the cost is `n log n` however many members a hostile input has.
pub(super) fn repeats(names: &mut [Cow<'_, str>]) -> bool {
    names.sort_unstable();
    names.windows(2).any(|w| w.first() == w.last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_borrows_unless_escaped() {
        let t: Text<'_> = serde_json::from_str(r#""abc""#).unwrap();
        assert!(matches!(t.0, Cow::Borrowed("abc")));
        let t: Text<'_> = serde_json::from_str(r#""a\u0062c""#).unwrap();
        assert!(matches!(t.0, Cow::Owned(ref s) if s == "abc"));
        assert!(serde_json::from_str::<Text<'_>>("1").is_err());
        assert!(serde_json::from_str::<Text<'_>>(r#""\ud800""#).is_err());
    }

    #[test]
    fn shapes_are_checked() {
        assert!(serde_json::from_str::<AnyString>(r#""x""#).is_ok());
        for bad in ["1", "null", "[]", "{}", r#""\udc00""#] {
            assert!(serde_json::from_str::<AnyString>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<StringArray>(r#"["a","b"]"#).is_ok());
        assert!(serde_json::from_str::<StringArray>("[]").is_ok());
        for bad in [r#"["a",1]"#, r#""a""#, "{}", "[[]]"] {
            assert!(serde_json::from_str::<StringArray>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn repeats_finds_any_pair() {
        let mut names: Vec<Cow<'_, str>> = vec!["b".into(), "a".into(), "c".into()];
        assert!(!repeats(&mut names));
        names.push("a".into());
        assert!(repeats(&mut names));
        assert!(!repeats(&mut []));
    }
}
