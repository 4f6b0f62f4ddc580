//! The tokens of a connection: parsed from the token endpoint's response,
//! sealed for storage as JSON, refreshed near their expiry.

use std::time::Duration;

use zeroize::Zeroizing;

use super::json::{Loose, parse_object};
use super::request::{hex_digit, is_scope_char, is_vschar};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};

/// How long before its expiry an access token is refreshed: 5 minutes.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(secrets_core::oauth::REFRESH_BUFFER, Duration::from_secs(300));
/// ```
pub const REFRESH_BUFFER: Duration = Duration::from_secs(5 * 60);

/// The largest token endpoint response parsed: 64 KiB.
///
/// ```
/// assert_eq!(secrets_core::oauth::MAX_TOKEN_RESPONSE_LEN, 65_536);
/// ```
pub const MAX_TOKEN_RESPONSE_LEN: usize = 64 * 1024;

/// The largest `expires_in` accepted: 10 years (of 365 days), in seconds.
///
/// ```
/// assert_eq!(secrets_core::oauth::MAX_EXPIRES_IN_SECS, 315_360_000);
/// ```
pub const MAX_EXPIRES_IN_SECS: u64 = 10 * 365 * 24 * 60 * 60;

/// The version written in the `v` member of [`TokenSet::to_secret_json`].
///
/// ```
/// assert_eq!(secrets_core::oauth::TOKEN_SET_VERSION, 1);
/// ```
pub const TOKEN_SET_VERSION: u64 = 1;

/// The longest provider `error` code repeated in an error message.
const MAX_ERROR_CODE_LEN: usize = 128;

/// The tokens of one OAuth connection, as granted by the provider.
///
/// `Debug` prints the tokens as `[REDACTED]`; equality compares tokens in
/// constant time. Stored sealed as [`to_secret_json`](Self::to_secret_json).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::{SecretString, Timestamp};
/// use secrets_core::oauth::TokenSet;
///
/// let tokens = TokenSet::new(SecretString::from("gho_secret"))
///     .with_expires_at(Timestamp::from_unix_seconds(1_700_003_600))
///     .with_scopes(["repo"])
///     .with_token_type("bearer");
/// assert!(!format!("{tokens:?}").contains("gho_secret"));
/// assert_eq!(TokenSet::from_secret_json(tokens.to_secret_json().expose_secret())?, tokens);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token the host presents to the provider's API.
    pub access_token: SecretString,
    /// The refresh token, if the provider issued one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires; `None` if the provider did not say.
    pub expires_at: Option<Timestamp>,
    /// The scopes granted. Empty when the provider's response omitted
    /// `scope`, which RFC 6749 §5.1 means "as requested".
    pub scopes: Vec<String>,
    /// The token type as the provider wrote it (`Bearer`, `bearer`, ...);
    /// compare it case-insensitively.
    pub token_type: String,
}

impl TokenSet {
    /// A token set of type `Bearer` holding only an access token: no refresh
    /// token, an unknown expiry, no scopes. The `with_*` methods add the
    /// rest.
    ///
    /// ```
    /// use secrets_core::{SecretString, Timestamp};
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let t = TokenSet::new(SecretString::from("gho_a"))
    ///     .with_refresh_token(SecretString::from("ghr_b"))
    ///     .with_expires_at(Timestamp::from_unix_seconds(1_700_003_600))
    ///     .with_scopes(["repo", "read:org"])
    ///     .with_token_type("bearer");
    /// assert_eq!(t.token_type, "bearer");
    /// assert_eq!(t.scopes, ["repo", "read:org"]);
    /// assert!(t.refresh_token.is_some());
    /// ```
    #[must_use]
    pub fn new(access_token: SecretString) -> Self {
        Self {
            access_token,
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
            token_type: "Bearer".to_owned(),
        }
    }

    /// Sets the refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: SecretString) -> Self {
        self.refresh_token = Some(refresh_token);
        self
    }

    /// Sets when the access token expires.
    #[must_use]
    pub fn with_expires_at(mut self, expires_at: Timestamp) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Sets the scopes granted.
    #[must_use]
    pub fn with_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the token type as the provider wrote it (default `Bearer`).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Parses a successful token endpoint response (RFC 6749 §5.1), the body
    /// the host received, at time `now`.
    ///
    /// - `access_token` (printable ASCII, non-empty) and `token_type` are
    ///   required.
    /// - `expires_in`, optional, is a whole number of seconds from 0 to
    ///   [`MAX_EXPIRES_IN_SECS`]; a string of digits is accepted too, as some
    ///   providers send one. `expires_at` is `now + expires_in`.
    /// - `refresh_token`, optional; an empty string counts as absent.
    /// - `scope`, optional, space-separated; each scope must be a valid RFC
    ///   6749 `scope-token`. (GitHub's comma-separated list stays one entry.)
    /// - `null` counts as absent; other members (`id_token`, ...) are ignored,
    ///   as RFC 6749 §5.1 requires, even when repeated; a member listed
    ///   here given twice is refused (also when the first was `null`).
    ///
    /// An error response (RFC 6749 §5.2, with `error`) is refused with the
    /// provider's `error` code in the message (`invalid_grant`, ...). The
    /// `error_description` is left out because providers sometimes echo
    /// request values in it.
    ///
    /// # Errors
    ///
    /// - [`Error::TooLarge`] above [`MAX_TOKEN_RESPONSE_LEN`] bytes.
    /// - [`Error::InvalidInput`] (field `token_response`) for an error
    ///   response, JSON that is not an object, or a member that breaks the
    ///   rules above. No message contains token text.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::{Error, Timestamp};
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let now = Timestamp::from_unix_seconds(1_000);
    /// let t = TokenSet::from_token_response(br#"{
    ///     "access_token": "2YotnFZFEjr1zCsicMWpAA", "token_type": "example",
    ///     "expires_in": 3600, "refresh_token": "tGzv3JOkF0XG5Qx2TlKWIA",
    ///     "scope": "read write"
    /// }"#, now)?;
    /// assert_eq!(t.expires_at, Some(Timestamp::from_unix_seconds(4_600)));
    /// assert_eq!(t.scopes, ["read", "write"]);
    ///
    /// let err = TokenSet::from_token_response(br#"{"error":"invalid_grant"}"#, now).unwrap_err();
    /// assert!(matches!(err, Error::InvalidInput { .. }));
    /// assert!(err.to_string().contains("`invalid_grant`"));
    /// # Ok(()) }
    /// ```
    pub fn from_token_response(json: &[u8], now: Timestamp) -> Result<Self> {
        const FIELD: &str = "token_response";
        if json.len() > MAX_TOKEN_RESPONSE_LEN {
            return Err(Error::TooLarge {
                what: "token response",
                len: json.len(),
                max: MAX_TOKEN_RESPONSE_LEN,
            });
        }
        let [access, token_type, expires_in, refresh, scope, error] = parse_object(
            json,
            FIELD,
            [
                "access_token",
                "token_type",
                "expires_in",
                "refresh_token",
                "scope",
                "error",
            ],
        )?;

        if let Some(error) = error {
            return Err(provider_error(error));
        }

        let access_token = required_string(FIELD, "access_token", access)?;
        if access_token.is_empty() || !access_token.bytes().all(is_vschar) {
            return Err(Error::invalid(
                FIELD,
                "`access_token` must be 1 or more printable ASCII characters (RFC 6749 appendix A.12)",
            ));
        }
        let token_type = required_string(FIELD, "token_type", token_type)?;
        if token_type.is_empty()
            || token_type.len() > 128
            || !token_type.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Error::invalid(
                FIELD,
                "`token_type` must be 1 to 128 printable ASCII characters without spaces",
            ));
        }

        let refresh_token = match optional_string(FIELD, "refresh_token", refresh)? {
            Some(r) if r.is_empty() => None,
            Some(r) if !r.bytes().all(is_vschar) => {
                return Err(Error::invalid(
                    FIELD,
                    "`refresh_token` must be printable ASCII (RFC 6749 appendix A.17)",
                ));
            }
            Some(r) => Some(SecretString::new(take(r))),
            None => None,
        };

        let expires_at = match expires_in {
            None => None,
            Some(v) => Some(now.saturating_add(Duration::from_secs(expires_in_secs(v)?))),
        };

        let scopes = match optional_string(FIELD, "scope", scope)? {
            None => Vec::new(),
            Some(s) => parse_scope(&s)?,
        };

        Ok(Self {
            access_token: SecretString::new(take(access_token)),
            refresh_token,
            expires_at,
            scopes,
            token_type: take(token_type),
        })
    }

    /// Parses the response to a refresh request (RFC 6749 §6) like
    /// [`from_token_response`](Self::from_token_response), then keeps what
    /// the provider did not resend: the previous refresh token when no new
    /// one was issued (RFC 6749 §6: a provider that rotates sends a new one,
    /// which replaces the old; one that does not, sends none), and the
    /// previous scopes when `scope` is absent.
    ///
    /// # Errors
    ///
    /// As [`from_token_response`](Self::from_token_response).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::{SecretString, Timestamp};
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let now = Timestamp::from_unix_seconds(1_000);
    /// let old = TokenSet::from_token_response(
    ///     br#"{"access_token":"a1","token_type":"Bearer","refresh_token":"r1","scope":"repo"}"#, now)?;
    /// let new = TokenSet::from_refresh_response(
    ///     br#"{"access_token":"a2","token_type":"Bearer","expires_in":60}"#, now, &old)?;
    /// assert_eq!(new.access_token, SecretString::from("a2"));
    /// assert_eq!(new.refresh_token, Some(SecretString::from("r1")));
    /// assert_eq!(new.scopes, ["repo"]);
    /// # Ok(()) }
    /// ```
    pub fn from_refresh_response(json: &[u8], now: Timestamp, previous: &Self) -> Result<Self> {
        let mut next = Self::from_token_response(json, now)?;
        if next.refresh_token.is_none() {
            next.refresh_token.clone_from(&previous.refresh_token);
        }
        if next.scopes.is_empty() {
            next.scopes.clone_from(&previous.scopes);
        }
        Ok(next)
    }

    /// Whether the access token should be refreshed before use: its expiry
    /// is [`REFRESH_BUFFER`] (5 minutes) away or less, or past. The boundary
    /// is inclusive: exactly 5 minutes left needs a refresh, 5 minutes and
    /// 1 ms does not. `false` when the expiry is unknown (the provider said
    /// nothing; refresh when the API answers 401).
    ///
    /// ```
    /// use std::time::Duration;
    /// use secrets_core::{SecretString, Timestamp};
    /// use secrets_core::oauth::{REFRESH_BUFFER, TokenSet};
    ///
    /// let expiry = Timestamp::from_unix_seconds(10_000);
    /// let t = TokenSet::new(SecretString::from("a")).with_expires_at(expiry);
    /// assert!(t.needs_refresh(expiry.saturating_sub(REFRESH_BUFFER)));
    /// assert!(!t.needs_refresh(expiry.saturating_sub(REFRESH_BUFFER + Duration::from_millis(1))));
    /// ```
    #[must_use]
    pub fn needs_refresh(&self, now: Timestamp) -> bool {
        self.expires_at
            .is_some_and(|exp| now.saturating_add(REFRESH_BUFFER) >= exp)
    }

    /// Whether the access token has expired (`now` at or after the expiry).
    /// `false` when the expiry is unknown.
    ///
    /// ```
    /// use secrets_core::{SecretString, Timestamp};
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let t = TokenSet::new(SecretString::from("a"))
    ///     .with_expires_at(Timestamp::from_unix_seconds(100));
    /// assert!(!t.is_expired(Timestamp::from_unix_millis(99_999)));
    /// assert!(t.is_expired(Timestamp::from_unix_seconds(100)));
    /// ```
    #[must_use]
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|exp| now >= exp)
    }

    /// The JSON that is sealed for storage (see `docs/FORMATS.md`):
    ///
    /// ```text
    /// {"v":1,"token_type":"Bearer","access_token":"...","refresh_token":"..."|null,
    ///  "expires_at_ms":1700000000000|null,"scopes":["a","b"]}
    /// ```
    ///
    /// Members in that order, no whitespace, strings escaped as RFC 8259
    /// requires (`"`, `\` and control characters; everything else as
    /// UTF-8). Written into one buffer sized up front, so no copy of a
    /// token is left behind by a reallocation.
    ///
    /// ```
    /// use secrets_core::{SecretString, Timestamp};
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let t = TokenSet::new(SecretString::from("at"))
    ///     .with_expires_at(Timestamp::from_unix_seconds(1_700_000_000))
    ///     .with_scopes(["repo"])
    ///     .with_token_type("bearer");
    /// assert_eq!(
    ///     t.to_secret_json().expose_secret(),
    ///     br#"{"v":1,"token_type":"bearer","access_token":"at","refresh_token":null,"expires_at_ms":1700000000000,"scopes":["repo"]}"#
    /// );
    /// ```
    #[must_use]
    pub fn to_secret_json(&self) -> SecretBytes {
        let refresh = self.refresh_token.as_ref().map(SecretString::expose_secret);
        let mut out = Zeroizing::new(Vec::with_capacity(self.secret_json_capacity()));

        out.extend_from_slice(b"{\"v\":");
        out.extend_from_slice(TOKEN_SET_VERSION.to_string().as_bytes());
        out.extend_from_slice(b",\"token_type\":");
        push_json_string(&mut out, &self.token_type);
        out.extend_from_slice(b",\"access_token\":");
        push_json_string(&mut out, self.access_token.expose_secret());
        out.extend_from_slice(b",\"refresh_token\":");
        match refresh {
            Some(r) => push_json_string(&mut out, r),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"expires_at_ms\":");
        match self.expires_at {
            Some(t) => out.extend_from_slice(t.unix_millis().to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"scopes\":[");
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_string(&mut out, s);
        }
        out.extend_from_slice(b"]}");
        SecretBytes::new(std::mem::take(&mut *out))
    }

    /// An upper bound of the length of [`to_secret_json`](Self::to_secret_json):
    /// each string byte escapes to at most 6 (`\u00XX`), each string adds
    /// 2 quotes and a comma; the fixed text is at most 111 bytes with a 20-character
    /// number.
    fn secret_json_capacity(&self) -> usize {
        let strings = self.access_token.len()
            + self.refresh_token.as_ref().map_or(0, SecretString::len)
            + self.token_type.len()
            + self.scopes.iter().map(String::len).sum::<usize>();
        strings
            .saturating_mul(6)
            .saturating_add(self.scopes.len().saturating_mul(3))
            .saturating_add(128)
    }

    /// Reads what [`to_secret_json`](Self::to_secret_json) wrote (after
    /// opening the sealed value). `refresh_token` and `expires_at_ms` may be
    /// `null` or absent, `scopes` absent (empty); unknown members are
    /// ignored, so a later version may add optional ones; a change that an
    /// older reader must not misread bumps `v`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `token_set`) for malformed JSON, a
    /// missing or mistyped member, or a `v` other than
    /// [`TOKEN_SET_VERSION`]. No message contains token text.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::TokenSet;
    ///
    /// let t = TokenSet::from_secret_json(br#"{"v":1,"token_type":"Bearer","access_token":"at"}"#)?;
    /// assert_eq!(t.access_token.expose_secret(), "at");
    /// assert_eq!(t.expires_at, None);
    /// assert!(TokenSet::from_secret_json(br#"{"v":2,"token_type":"Bearer","access_token":"at"}"#).is_err());
    /// # Ok(()) }
    /// ```
    pub fn from_secret_json(json: &[u8]) -> Result<Self> {
        const FIELD: &str = "token_set";
        let [v, token_type, access, refresh, expires, scopes] = parse_object(
            json,
            FIELD,
            [
                "v",
                "token_type",
                "access_token",
                "refresh_token",
                "expires_at_ms",
                "scopes",
            ],
        )?;
        match v {
            Some(Loose::UInt(TOKEN_SET_VERSION)) => {}
            Some(Loose::UInt(other)) => {
                return Err(Error::invalid(
                    FIELD,
                    format!(
                        "format version `{other}` is not supported (this build reads {TOKEN_SET_VERSION})"
                    ),
                ));
            }
            Some(_) => return Err(Error::invalid(FIELD, "`v` must be an integer")),
            None => return Err(Error::invalid(FIELD, "`v` is missing")),
        }
        let token_type = take(required_string(FIELD, "token_type", token_type)?);
        let access_token = SecretString::new(take(required_string(FIELD, "access_token", access)?));
        let refresh_token =
            optional_string(FIELD, "refresh_token", refresh)?.map(|r| SecretString::new(take(r)));
        let expires_at = match expires {
            None => None,
            Some(Loose::UInt(ms)) => Some(Timestamp::from_unix_millis(
                i64::try_from(ms)
                    .map_err(|_| Error::invalid(FIELD, "`expires_at_ms` is out of range"))?,
            )),
            Some(Loose::NegInt(ms)) => Some(Timestamp::from_unix_millis(ms)),
            Some(_) => return Err(Error::invalid(FIELD, "`expires_at_ms` must be an integer")),
        };
        let scopes = match scopes {
            None => Vec::new(),
            Some(Loose::Strings(list)) => list.into_iter().map(take).collect(),
            Some(_) => {
                return Err(Error::invalid(
                    FIELD,
                    "`scopes` must be an array of strings",
                ));
            }
        };
        Ok(Self {
            access_token,
            refresh_token,
            expires_at,
            scopes,
            token_type,
        })
    }
}

/// An RFC 8259 string: `"`, `\` and C0 controls escaped, the rest verbatim.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x00..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(hex_digit(b >> 4));
                out.push(hex_digit(b & 0x0f));
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// Moves the string out of its zeroizing box (the box is left empty).
fn take(mut s: Zeroizing<String>) -> String {
    std::mem::take(&mut *s)
}

fn provider_error(error: Loose) -> Error {
    let code = match error {
        Loose::Str(code)
            if !code.is_empty()
                && code.len() <= MAX_ERROR_CODE_LEN
                // RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
                && code.bytes().all(|b| b == b' ' || is_scope_char(b)) =>
        {
            Some(take(code))
        }
        _ => None,
    };
    match code {
        Some(code) => Error::invalid(
            "token_response",
            format!("the authorization server returned error `{code}`"),
        ),
        None => Error::invalid(
            "token_response",
            "the authorization server returned an error with a malformed `error` code",
        ),
    }
}

fn required_string(
    field: &'static str,
    member: &str,
    value: Option<Loose>,
) -> Result<Zeroizing<String>> {
    optional_string(field, member, value)?
        .ok_or_else(|| Error::invalid(field, format!("`{member}` is missing")))
}

fn optional_string(
    field: &'static str,
    member: &str,
    value: Option<Loose>,
) -> Result<Option<Zeroizing<String>>> {
    match value {
        None => Ok(None),
        Some(Loose::Str(s)) => Ok(Some(s)),
        Some(_) => Err(Error::invalid(
            field,
            format!("`{member}` must be a string"),
        )),
    }
}

fn expires_in_secs(value: Loose) -> Result<u64> {
    const FIELD: &str = "token_response";
    let secs = match value {
        Loose::UInt(n) => n,
        Loose::Str(s)
            if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse::<u64>()
                .map_err(|_| Error::invalid(FIELD, "`expires_in` is out of range"))?
        }
        Loose::NegInt(_) => {
            return Err(Error::invalid(FIELD, "`expires_in` is negative"));
        }
        _ => {
            return Err(Error::invalid(
                FIELD,
                "`expires_in` must be a whole number of seconds",
            ));
        }
    };
    if secs > MAX_EXPIRES_IN_SECS {
        return Err(Error::invalid(
            FIELD,
            format!(
                "`expires_in` is {secs} seconds, more than the limit of {MAX_EXPIRES_IN_SECS} (10 years)"
            ),
        ));
    }
    Ok(secs)
}

fn parse_scope(scope: &str) -> Result<Vec<String>> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.bytes().all(is_scope_char) {
                Ok(s.to_owned())
            } else {
                Err(Error::invalid(
                    "token_response",
                    "`scope` contains a character RFC 6749 section 3.3 does not allow",
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_rfc8259_requires() {
        let mut out = Vec::new();
        push_json_string(&mut out, "a\"b\\c\u{1}\n\u{1f}é");
        assert_eq!(out, r#""a\"b\\c\u0001\u000A\u001Fé""#.as_bytes());
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\u{1}\n\u{1f}é");
    }

    #[test]
    fn secret_json_never_reallocates() {
        let t = TokenSet {
            access_token: SecretString::from("\u{1}".repeat(1000)),
            refresh_token: Some(SecretString::from("\"".repeat(1000))),
            expires_at: Some(Timestamp::from_unix_millis(i64::MIN)),
            scopes: vec!["\u{0}".repeat(10); 10],
            token_type: "\\".repeat(100),
        };
        let json = t.to_secret_json();
        assert!(json.len() <= t.secret_json_capacity());
        assert_eq!(TokenSet::from_secret_json(json.expose_secret()).unwrap(), t);
        let empty = TokenSet {
            access_token: SecretString::default(),
            refresh_token: None,
            expires_at: None,
            scopes: vec![],
            token_type: String::new(),
        };
        assert!(empty.to_secret_json().len() <= empty.secret_json_capacity());
    }
}
