//! Validated names: an app, a settings secret, an OAuth provider, a deploy.
//!
//! Each is a string newtype whose only constructor checks the rule, so a
//! value of the type is known to be valid wherever it travels. The Vault's
//! methods take plain `&str` (what bindings and HTTP handlers hold) and parse
//! it into these at the boundary; a host that wants to refuse a bad name
//! before calling the Vault (in a form, a config loader) parses it itself.
//!
//! ```
//! use secrets_core::names::{AppName, ProviderName, SettingName};
//!
//! let app: AppName = "web-api".parse()?;
//! assert_eq!(app.as_str(), "web-api");
//! assert!(AppName::new("../etc").is_err());
//! assert!(SettingName::new("provider/openai").is_ok());
//! assert!(ProviderName::new("GitHub").is_err()); // lower case only
//! # Ok::<(), secrets_core::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Defines a validated name type: its rule, its limit and its message.
macro_rules! name_type {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, max = $max:expr, rule = $rule:literal,
        first = $first:expr, rest = $rest:expr $(,)?
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The longest name, in bytes.
            pub const MAX_LEN: usize = $max;

            /// Checks `name` against the rule and wraps it.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidInput`] saying the rule (the name is quoted,
            /// escaped: it is never secret).
            pub fn new(name: impl Into<String>) -> Result<Self> {
                let name = name.into();
                let first: fn(char) -> bool = $first;
                let rest: fn(char) -> bool = $rest;
                let mut chars = name.chars();
                let ok = name.len() <= Self::MAX_LEN
                    && chars.next().is_some_and(first)
                    && chars.all(rest);
                if ok {
                    Ok(Self(name))
                } else {
                    // Quote at most 64 characters: the input may be huge, or
                    // a value passed where the name belongs.
                    let shown: String = name.chars().take(64).collect();
                    let more = if shown.len() < name.len() { "..." } else { "" };
                    Err(Error::invalid(
                        $field,
                        format!("`{}{more}` must be {}", shown.escape_debug(), $rule),
                    ))
                }
            }

            /// The name.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;
            fn try_from(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

name_type! {
    /// An app whose secrets the Vault holds (`web-api`): 1 to 64 ASCII
    /// letters, digits, `-`, `_` or `.`, starting with a letter or digit.
    AppName, field = "app name", max = 64,
    rule = "1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
    first = alnum,
    rest = |c| alnum(c) || matches!(c, '-' | '_' | '.'),
}

name_type! {
    /// A settings secret (`provider/openai`): 1 to 128 of `a-z`, `0-9`, `.`,
    /// `_`, `/`, `-`, starting with a letter or digit.
    SettingName, field = "setting name", max = 128,
    rule = "1 to 128 of `a-z`, `0-9`, `.`, `_`, `/`, `-`, starting with a letter or digit",
    first = lower_alnum,
    rest = |c| lower_alnum(c) || matches!(c, '.' | '_' | '/' | '-'),
}

name_type! {
    /// An OAuth provider (`github`): 1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`.
    ProviderName, field = "provider", max = 64,
    rule = "1 to 64 of `a-z`, `0-9`, `-`, `_`, `.`",
    first = |c| lower_alnum(c) || matches!(c, '-' | '_' | '.'),
    rest = |c| lower_alnum(c) || matches!(c, '-' | '_' | '.'),
}

name_type! {
    /// A deploy the gate evaluates (`web-api-1842`): 1 to 64 ASCII letters,
    /// digits, `-`, `_` or `.`, starting with a letter or digit.
    DeployId, field = "deploy", max = 64,
    rule = "1 to 64 letters, digits, `-`, `_` or `.`, starting with a letter or digit",
    first = alnum,
    rest = |c| alnum(c) || matches!(c, '-' | '_' | '.'),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{AppName, DeployId, ProviderName, SettingName};

    #[test]
    fn each_rule_accepts_and_refuses_what_it_says() {
        for ok in ["web", "Web-API_2.1", "a", &"a".repeat(64)] {
            assert!(AppName::new(ok).is_ok(), "{ok}");
            assert!(DeployId::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-web",
            ".web",
            "web api",
            "web/api",
            "wéb",
            &"a".repeat(65),
        ] {
            assert!(AppName::new(bad).is_err(), "{bad}");
            assert!(DeployId::new(bad).is_err(), "{bad}");
        }
        for ok in [
            "provider/openai",
            "webhook/github.previous",
            &"a".repeat(128),
        ] {
            assert!(SettingName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Provider/openai", "/x", "a b", &"a".repeat(129)] {
            assert!(SettingName::new(bad).is_err(), "{bad}");
        }
        for ok in ["github", "google-oauth2", "a.b_c"] {
            assert!(ProviderName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "GitHub", "git hub", "git/hub", &"a".repeat(65)] {
            assert!(ProviderName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_name_the_field_and_escape_the_input() {
        let e = AppName::new("a\u{1b}[2J b").unwrap_err().to_string();
        assert!(e.starts_with("invalid `app name`"), "{e}");
        assert!(!e.contains('\u{1b}'), "{e}");
        // A huge input is quoted in part, not whole.
        let e = ProviderName::new("x".repeat(1_000_000))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 300, "{}", e.len());
        assert!(e.contains("..."), "{e}");
    }

    #[test]
    fn serde_checks_on_the_way_in() {
        let app: AppName = serde_json::from_str("\"web\"").unwrap();
        assert_eq!(serde_json::to_string(&app).unwrap(), "\"web\"");
        assert!(serde_json::from_str::<AppName>("\"../x\"").is_err());
        assert_eq!(format!("{app:?}"), "AppName(\"web\")");
        assert_eq!(app.to_string(), "web");
    }
}
