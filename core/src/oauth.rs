//! OAuth 2.0 authorization-code flow with PKCE, as pure helpers: the library
//! builds the URLs and request bodies and parses the responses; the host
//! makes every HTTP call itself.
//!
//! - [`PkceVerifier`]: RFC 7636 code verifier, S256 challenge only.
//! - [`new_state`] / [`check_state_format`]: a random UUID v4 `state` against
//!   CSRF (RFC 6749 §10.12).
//! - [`authorization_url`]: where to send the user.
//! - [`token_request_form`] / [`refresh_request_form`]: the
//!   `application/x-www-form-urlencoded` bodies the host posts to the token
//!   endpoint.
//! - [`TokenSet`]: parsed from the token endpoint's response, stored sealed
//!   as JSON ([`TokenSet::to_secret_json`]), refreshed when it expires within
//!   [`REFRESH_BUFFER`].
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::Timestamp;
//! use secrets_core::oauth::{self, PkceVerifier, TokenSet};
//!
//! // 1. Begin: keep `state` and `verifier` server-side (the Vault seals them).
//! let verifier = PkceVerifier::generate()?;
//! let state = oauth::new_state()?;
//! let url = oauth::authorization_url(
//!     "https://provider.example/oauth/authorize",
//!     "my-client",
//!     "https://app.example/oauth/callback",
//!     &["repo:read"],
//!     &state,
//!     &verifier.challenge(),
//! )?;
//! assert!(url.contains("code_challenge_method=S256"));
//!
//! // 2. Callback: check `state`, then post this body to the token endpoint.
//! oauth::check_state_format(&state)?;
//! let body = oauth::token_request_form(
//!     "code-from-callback",
//!     "https://app.example/oauth/callback",
//!     "my-client",
//!     &verifier,
//! )?;
//! assert!(body.expose_secret().starts_with("grant_type=authorization_code&"));
//!
//! // 3. Parse the response; seal `to_secret_json()` for storage.
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! let tokens = TokenSet::from_token_response(
//!     br#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#,
//!     now,
//! )?;
//! assert!(!tokens.needs_refresh(now));
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::crypto::random_bytes;
use crate::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};

/// The only PKCE code challenge method this library produces: `S256`.
///
/// `plain` (RFC 7636 §4.2) is deliberately unsupported: it sends the verifier
/// itself as the challenge, so anyone who sees the authorization request can
/// redeem the code, which is the attack PKCE exists to stop.
///
/// ```
/// assert_eq!(secrets_core::oauth::METHOD, "S256");
/// ```
pub const METHOD: &str = "S256";

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

/// The shortest code verifier RFC 7636 §4.1 allows.
///
/// ```
/// assert_eq!(secrets_core::oauth::MIN_VERIFIER_LEN, 43);
/// ```
pub const MIN_VERIFIER_LEN: usize = 43;

/// The longest code verifier RFC 7636 §4.1 allows.
///
/// ```
/// assert_eq!(secrets_core::oauth::MAX_VERIFIER_LEN, 128);
/// ```
pub const MAX_VERIFIER_LEN: usize = 128;

/// The version written in the `v` member of [`TokenSet::to_secret_json`].
///
/// ```
/// assert_eq!(secrets_core::oauth::TOKEN_SET_VERSION, 1);
/// ```
pub const TOKEN_SET_VERSION: u64 = 1;

/// The length of an S256 code challenge: base64url of 32 bytes, no padding.
const CHALLENGE_LEN: usize = 43;

/// The longest provider `error` code repeated in an error message.
const MAX_ERROR_CODE_LEN: usize = 128;

// ---------------------------------------------------------------------------
// PKCE
// ---------------------------------------------------------------------------

/// A PKCE code verifier (RFC 7636 §4.1). Secret: zeroized on drop, printed
/// as `[REDACTED]`, read only through [`expose_secret`](Self::expose_secret).
///
/// Only the S256 challenge is offered ([`METHOD`]).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::oauth::PkceVerifier;
///
/// let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned())?;
/// assert_eq!(v.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// assert_eq!(format!("{v:?}"), "PkceVerifier([REDACTED])");
/// # Ok(()) }
/// ```
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// A fresh verifier: 32 bytes from the operating system's generator,
    /// base64url without padding (43 characters, 256 bits), as RFC 7636 §4.1
    /// recommends.
    ///
    /// # Errors
    ///
    /// [`Error::Rng`] if the operating system's generator fails.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// assert_eq!(v.expose_secret().len(), 43);
    /// # Ok(()) }
    /// ```
    pub fn generate() -> Result<Self> {
        let bytes = random_bytes::<32>()?;
        Ok(Self(SecretString::new(URL_SAFE_NO_PAD.encode(*bytes))))
    }

    /// Takes a verifier made elsewhere (or stored earlier), checking RFC 7636
    /// §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`. The string is
    /// zeroized when dropped, valid or not.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `code_verifier`) naming the length or
    /// the position of the first illegal character, never the verifier.
    ///
    /// ```
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// assert!(PkceVerifier::new("a".repeat(43)).is_ok());
    /// assert!(PkceVerifier::new("a".repeat(42)).is_err());
    /// assert!(PkceVerifier::new(format!("{}+", "a".repeat(42))).is_err());
    /// ```
    pub fn new(verifier: String) -> Result<Self> {
        let verifier = SecretString::new(verifier);
        let s = verifier.expose_secret();
        if let Some(pos) = s.chars().position(|c| !is_unreserved(c)) {
            return Err(Error::invalid(
                "code_verifier",
                format!(
                    "character {} is not one of [A-Za-z0-9-._~] (RFC 7636 section 4.1)",
                    pos + 1
                ),
            ));
        }
        // All characters are ASCII now, so bytes and characters agree.
        if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&s.len()) {
            return Err(Error::invalid(
                "code_verifier",
                format!(
                    "is {} characters; RFC 7636 requires {MIN_VERIFIER_LEN} to {MAX_VERIFIER_LEN}",
                    s.len()
                ),
            ));
        }
        Ok(Self(verifier))
    }

    /// The S256 code challenge: `BASE64URL-NOPAD(SHA-256(ASCII(verifier)))`
    /// (RFC 7636 §4.2), always 43 characters. Not secret: it is sent in the
    /// authorization URL.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// assert_eq!(v.challenge().len(), 43);
    /// assert_ne!(v.challenge(), v.expose_secret());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.0.expose_secret().as_bytes()))
    }

    /// Reads the verifier (to store it sealed, or to send it in the token
    /// request). Every call site is a place where the secret leaves its box.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::oauth::PkceVerifier;
    ///
    /// let v = PkceVerifier::generate()?;
    /// let again = PkceVerifier::new(v.expose_secret().to_owned())?;
    /// assert_eq!(again.challenge(), v.challenge());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([REDACTED])")
    }
}

/// RFC 3986 `unreserved`: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// A fresh `state` value: a random UUID v4 (122 bits from the operating
/// system's generator), lowercase and hyphenated, 36 characters.
///
/// Store it server-side with the verifier, expiring and single use, and
/// compare it with the `state` of the callback (RFC 6749 §10.12).
///
/// # Errors
///
/// [`Error::Rng`] if the operating system's generator fails.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// let state = secrets_core::oauth::new_state()?;
/// assert_eq!(state.len(), 36);
/// assert_eq!(state.chars().nth(14), Some('4'));
/// # Ok(()) }
/// ```
pub fn new_state() -> Result<String> {
    let bytes = random_bytes::<16>()?;
    Ok(uuid::Builder::from_random_bytes(*bytes)
        .into_uuid()
        .hyphenated()
        .to_string())
}

/// Checks that `state` has the shape [`new_state`] produces (a lowercase,
/// hyphenated UUID v4), before any storage lookup.
///
/// # Errors
///
/// [`Error::InvalidInput`] (field `state`) for anything else, without
/// repeating the value.
///
/// ```
/// use secrets_core::oauth::check_state_format;
///
/// assert!(check_state_format("0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b").is_ok());
/// assert!(check_state_format("0B1E6B5E-3C1F-4B7E-9A5D-2F9C8E7D6A5B").is_err()); // not lowercase
/// assert!(check_state_format("0b1e6b5e-3c1f-1b7e-9a5d-2f9c8e7d6a5b").is_err()); // version 1
/// assert!(check_state_format("xyz").is_err());
/// ```
pub fn check_state_format(state: &str) -> Result<()> {
    let canonical = uuid::Uuid::try_parse(state).ok().filter(|u| {
        u.get_version() == Some(uuid::Version::Random)
            && u.get_variant() == uuid::Variant::RFC4122
            && u.hyphenated().to_string() == state
    });
    match canonical {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            "state",
            "is not a lowercase hyphenated UUID v4 (36 characters, as made by `new_state`)",
        )),
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// The URL to send the user to: `endpoint` plus `response_type=code`,
/// `client_id`, `redirect_uri`, `scope` (omitted when `scopes` is empty),
/// `state`, `code_challenge` and `code_challenge_method=S256`, in that order,
/// each value percent-encoded (RFC 3986: everything but unreserved
/// characters, UTF-8 first; a space is `%20`).
///
/// Checks, so that a mistake fails here rather than at the provider:
///
/// - `endpoint` is `https://` with a host; `http://` is accepted only when
///   the parsed host is exactly loopback: `localhost`, an address in
///   `127.0.0.0/8` or `[::1]` (development against a local fake provider;
///   `localhost.evil.example` is not loopback). It has no fragment, no
///   userinfo and only ASCII characters (write an internationalised name in
///   its `xn--` form). A query already present is kept, unless it sets one
///   of the parameters above (which could downgrade the request, for
///   example `code_challenge_method=plain`).
/// - `redirect_uri` is absolute, has no fragment (RFC 6749 §3.1.2) and no
///   userinfo and, if `http`/`https`, follows the same rule as `endpoint`;
///   a native app's private-use scheme is accepted only in the
///   reverse-domain form RFC 8252 §7.1 requires (`com.example.app:/cb`),
///   which also refuses `javascript:`, `data:` and `file:`.
/// - each scope is a non-empty RFC 6749 §3.3 `scope-token` (printable ASCII
///   without space, `"` or `\`): a space inside one would silently split it.
/// - `state` passes [`check_state_format`]; `challenge` is an S256 challenge
///   (43 base64url characters, from [`PkceVerifier::challenge`]).
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the argument that fails a check.
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::oauth::{authorization_url, PkceVerifier};
///
/// let verifier = PkceVerifier::generate()?;
/// let url = authorization_url(
///     "https://accounts.example/o/oauth2/auth",
///     "client 1",
///     "https://app.example/cb?x=1&y=2",
///     &["openid", "https://www.googleapis.com/auth/drive.file"],
///     "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b",
///     &verifier.challenge(),
/// )?;
/// assert!(url.starts_with(
///     "https://accounts.example/o/oauth2/auth?response_type=code&client_id=client%201\
///      &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1%26y%3D2\
///      &scope=openid%20https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file&state="
/// ));
/// assert!(url.ends_with("&code_challenge_method=S256"));
///
/// assert!(authorization_url("http://provider.example/auth", "c", "https://a.example/cb",
///     &[], "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b", &verifier.challenge()).is_err());
/// # Ok(()) }
/// ```
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[&str],
    state: &str,
    challenge: &str,
) -> Result<String> {
    check_endpoint(endpoint)?;
    check_client_id(client_id)?;
    check_redirect_uri(redirect_uri)?;
    let scope = join_scopes(scopes)?;
    check_state_format(state)?;
    check_challenge(challenge)?;

    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(scope) = &scope {
        params.push(("scope", scope));
    }
    params.extend([
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", METHOD),
    ]);

    let separator = match endpoint.split_once('?') {
        None => "?",
        Some((_, query)) => {
            check_existing_query(query, &params)?;
            if query.is_empty() || query.ends_with('&') {
                ""
            } else {
                "&"
            }
        }
    };
    let mut url = String::with_capacity(endpoint.len() + 1 + encoded_capacity(&params));
    url.push_str(endpoint);
    url.push_str(separator);
    push_params(&mut url, &params);
    Ok(url)
}

/// The body of the authorization-code token request (RFC 6749 §4.1.3 with
/// RFC 7636 §4.5), `application/x-www-form-urlencoded`:
/// `grant_type=authorization_code&code=..&redirect_uri=..&client_id=..&code_verifier=..`.
///
/// Secret (the code and verifier together redeem the grant), so it is
/// returned as a [`SecretString`], built without reallocating so that no
/// stray copy is left behind. A confidential client authenticates itself as
/// RFC 6749 §2.3.1 prefers, with HTTP Basic in the host's request, not in
/// this body. `redirect_uri` must be the one sent in the authorization URL.
///
/// # Errors
///
/// [`Error::InvalidInput`] if `code` is empty or not printable ASCII (RFC
/// 6749 appendix A.11; the message never repeats it), or `redirect_uri` or
/// `client_id` fails the checks of [`authorization_url`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::oauth::{token_request_form, PkceVerifier};
///
/// let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned())?;
/// let body = token_request_form("SplxlOBeZQQYbYS6WxSbIA", "https://app.example/cb", "s6BhdRkqt3", &v)?;
/// assert_eq!(
///     body.expose_secret(),
///     "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA\
///      &redirect_uri=https%3A%2F%2Fapp.example%2Fcb&client_id=s6BhdRkqt3\
///      &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
/// );
/// # Ok(()) }
/// ```
pub fn token_request_form(
    code: &str,
    redirect_uri: &str,
    client_id: &str,
    verifier: &PkceVerifier,
) -> Result<SecretString> {
    if code.is_empty() || !code.bytes().all(is_vschar) {
        return Err(Error::invalid(
            "code",
            "must be 1 or more printable ASCII characters (RFC 6749 appendix A.11)",
        ));
    }
    check_redirect_uri(redirect_uri)?;
    check_client_id(client_id)?;
    Ok(form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier.expose_secret()),
    ]))
}

/// The body of a refresh request (RFC 6749 §6),
/// `application/x-www-form-urlencoded`:
/// `grant_type=refresh_token&refresh_token=..&client_id=..[&scope=..]`.
///
/// `scope` is omitted when `scopes` is empty, which asks for the scopes
/// originally granted; a non-empty list may only narrow them. Returned as a
/// [`SecretString`] (it carries the refresh token). Keep the response's
/// refresh token with [`TokenSet::from_refresh_response`].
///
/// # Errors
///
/// [`Error::InvalidInput`] if the refresh token is empty or not printable
/// ASCII (RFC 6749 appendix A.17; never repeated), or `client_id` or a
/// scope fails the checks of [`authorization_url`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::SecretString;
/// use secrets_core::oauth::refresh_request_form;
///
/// let body = refresh_request_form(&SecretString::from("tGzv3JOkF0XG5Qx2TlKWIA"), "s6BhdRkqt3", &[])?;
/// assert_eq!(
///     body.expose_secret(),
///     "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=s6BhdRkqt3"
/// );
/// # Ok(()) }
/// ```
pub fn refresh_request_form(
    refresh_token: &SecretString,
    client_id: &str,
    scopes: &[&str],
) -> Result<SecretString> {
    let token = refresh_token.expose_secret();
    if token.is_empty() || !token.bytes().all(is_vschar) {
        return Err(Error::invalid(
            "refresh_token",
            "must be 1 or more printable ASCII characters (RFC 6749 appendix A.17)",
        ));
    }
    check_client_id(client_id)?;
    let scope = join_scopes(scopes)?;
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token),
        ("client_id", client_id),
    ];
    if let Some(scope) = &scope {
        params.push(("scope", scope));
    }
    Ok(form(&params))
}

/// `name=value&...`, percent-encoded, in a buffer sized up front so that the
/// secret parts are never copied by a reallocation.
fn form(params: &[(&str, &str)]) -> SecretString {
    let mut out = Zeroizing::new(String::with_capacity(encoded_capacity(params)));
    push_params(&mut out, params);
    SecretString::new(std::mem::take(&mut *out))
}

/// An upper bound of the encoded length: 3 bytes per input byte, plus `=`
/// and `&`.
fn encoded_capacity(params: &[(&str, &str)]) -> usize {
    params
        .iter()
        .map(|(k, v)| (k.len() + v.len()).saturating_mul(3).saturating_add(2))
        .fold(0, usize::saturating_add)
}

fn push_params(out: &mut String, params: &[(&str, &str)]) {
    for (i, (name, value)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push_encoded(out, name);
        out.push('=');
        push_encoded(out, value);
    }
}

/// Percent-encodes `s` for a query component or a form body: unreserved
/// characters (RFC 3986 §2.3) are kept, every other byte of the UTF-8 is
/// `%XX` with uppercase hex (§2.1). A space is `%20`, which form decoders
/// read as a space just as they read `+`.
fn push_encoded(out: &mut String, s: &str) {
    for b in s.bytes() {
        if is_unreserved(char::from(b)) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(hex_digit(b >> 4)));
            out.push(char::from(hex_digit(b & 0x0f)));
        }
    }
}

/// The uppercase hex digit of the low 4 bits of `nibble`.
fn hex_digit(nibble: u8) -> u8 {
    match nibble & 0x0f {
        n @ 0..=9 => b'0' + n,
        n => b'A' + n - 10,
    }
}

/// Percent-decodes a query parameter name (also `+` as a space); `None` if
/// an escape is malformed.
fn decode_component(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
    }
    Some(out)
}

fn check_existing_query(query: &str, params: &[(&str, &str)]) -> Result<()> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let raw_name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let Some(name) = decode_component(raw_name) else {
            return Err(Error::invalid(
                "endpoint",
                "has a malformed percent-escape in its query",
            ));
        };
        if let Some((clash, _)) = params.iter().find(|(p, _)| p.as_bytes() == name) {
            return Err(Error::invalid(
                "endpoint",
                format!("already sets `{clash}` in its query; remove it, this function sets it"),
            ));
        }
    }
    Ok(())
}

/// RFC 6749 appendix A `VSCHAR`: `%x20-7E`.
fn is_vschar(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// RFC 6749 §3.3 `scope-token` characters: `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

fn check_scope(scope: &str) -> Result<()> {
    if scope.is_empty() {
        return Err(Error::invalid("scopes", "contains an empty scope"));
    }
    if let Some(bad) = scope.bytes().find(|b| !is_scope_char(*b)) {
        let what = if bad == b' ' {
            "a space (pass each scope as its own element)".to_owned()
        } else if bad.is_ascii() {
            format!("the character 0x{bad:02x}")
        } else {
            "a non-ASCII character".to_owned()
        };
        return Err(Error::invalid(
            "scopes",
            format!(
                "scope `{}` contains {what}; RFC 6749 section 3.3 allows printable ASCII except space, `\"` and `\\`",
                scope.escape_debug()
            ),
        ));
    }
    Ok(())
}

/// The space-separated `scope` value, or `None` for no scopes.
fn join_scopes(scopes: &[&str]) -> Result<Option<String>> {
    for s in scopes {
        check_scope(s)?;
    }
    Ok((!scopes.is_empty()).then(|| scopes.join(" ")))
}

fn check_client_id(client_id: &str) -> Result<()> {
    if client_id.is_empty() || !client_id.bytes().all(is_vschar) {
        return Err(Error::invalid(
            "client_id",
            "must be 1 or more printable ASCII characters (RFC 6749 appendix A.1)",
        ));
    }
    Ok(())
}

fn check_challenge(challenge: &str) -> Result<()> {
    let ok = challenge.len() == CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "challenge",
            "is not an S256 code challenge (43 base64url characters from `PkceVerifier::challenge`)",
        ))
    }
}

fn check_endpoint(endpoint: &str) -> Result<()> {
    check_url_chars("endpoint", endpoint, true)?;
    let Some((scheme, _)) = endpoint.split_once("://") else {
        return Err(Error::invalid(
            "endpoint",
            "must be an absolute https:// URL",
        ));
    };
    check_web_url("endpoint", endpoint, scheme)
}

fn check_redirect_uri(uri: &str) -> Result<()> {
    check_url_chars("redirect_uri", uri, false)?;
    let scheme = uri.split_once(':').map_or("", |(s, _)| s);
    if !crate::headers::is_uri_scheme(scheme) {
        return Err(Error::invalid(
            "redirect_uri",
            "must be an absolute URI with a scheme (https://..., or a private-use scheme for a native app)",
        ));
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return check_web_url("redirect_uri", uri, scheme);
    }
    // RFC 8252 section 7.1: a native app's private-use scheme is a domain
    // name it controls, reversed (`com.example.app`). Requiring the dot also
    // refuses `javascript:`, `data:`, `file:` and every other scheme a
    // browser would act on itself.
    if !scheme.contains('.') {
        return Err(Error::invalid(
            "redirect_uri",
            format!(
                "has the scheme `{}`; use https://, http:// to a loopback host, or a reverse-domain private-use scheme (`com.example.app:/cb`, RFC 8252 section 7.1)",
                scheme.escape_debug()
            ),
        ));
    }
    if uri.contains('@') {
        return Err(Error::invalid(
            "redirect_uri",
            "contains userinfo (`user@`), which is not allowed",
        ));
    }
    Ok(())
}

/// Checks a redirect URI for a server-side flow (the Vault's): a web URL
/// only, `https://` with a host or `http://` to a loopback host (RFC 8252
/// section 7.3); no fragment, no userinfo, no whitespace or control
/// characters.
pub(crate) fn check_web_redirect_uri(uri: &str) -> Result<()> {
    check_url_chars("redirect_uri", uri, false)?;
    let scheme = uri.split_once("://").map_or("", |(s, _)| s);
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(Error::invalid(
            "redirect_uri",
            "must be an absolute https:// URL (http:// only to localhost, 127.0.0.0/8 or [::1])",
        ));
    }
    check_web_url("redirect_uri", uri, scheme)
}

/// No fragment, no whitespace or control characters; non-ASCII only where
/// it is data (`redirect_uri` paths), never in an endpoint.
pub(crate) fn check_url_chars(field: &'static str, url: &str, ascii_only: bool) -> Result<()> {
    if url.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if url.contains('#') {
        return Err(Error::invalid(
            field,
            "contains a fragment (`#`), which RFC 6749 section 3.1 forbids",
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            field,
            "contains whitespace or a control character",
        ));
    }
    if ascii_only && !url.is_ascii() {
        return Err(Error::invalid(
            field,
            "contains non-ASCII characters; write an internationalised host in its `xn--` form",
        ));
    }
    Ok(())
}

/// `https://` with a host, or `http://` to a loopback host only; no
/// userinfo. `scheme` is the text before `://`.
///
/// Two views must agree. The raw text is checked first, because a WHATWG
/// parser forgives what an attacker counts on: `https:///x` gets the host
/// `x`, `https:x` too, and `user@` is folded away. Then the URL is parsed
/// (the `url` crate, as HTTP clients parse it) and the decision is made on
/// the parsed host, never on a string prefix: `localhost.evil.example`,
/// `127.0.0.1.nip.io` and `localhost@evil.example` are not loopback.
pub(crate) fn check_web_url(field: &'static str, url: &str, scheme: &str) -> Result<()> {
    let rest = url
        .get(scheme.len()..)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| Error::invalid(field, "must be of the form `https://host/path`"))?;
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Error::invalid(
            field,
            "contains userinfo (`user@`), which is not allowed",
        ));
    }
    if authority.is_empty() || authority.starts_with(':') {
        return Err(Error::invalid(field, "has no host"));
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid(field, format!("is not a valid URL ({e})")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            field,
            "contains userinfo (`user@`), which is not allowed",
        ));
    }
    let Some(host) = parsed.host() else {
        return Err(Error::invalid(field, "has no host"));
    };
    match parsed.scheme() {
        "https" if !matches!(&host, url::Host::Domain(d) if d.is_empty()) => Ok(()),
        "http" if is_loopback(&host) => Ok(()),
        "https" => Err(Error::invalid(field, "has no host")),
        _ => Err(Error::invalid(
            field,
            "must use https:// (http:// is accepted only for localhost, 127.0.0.0/8 and [::1])",
        )),
    }
}

/// Exactly a loopback host: `localhost`, an address in 127.0.0.0/8, or
/// `::1`. The parser has already lowercased names and normalised address
/// forms (`127.1`, `0x7f.0.0.1`).
fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => *d == "localhost",
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => a.is_loopback(),
    }
}

// ---------------------------------------------------------------------------
// Token sets
// ---------------------------------------------------------------------------

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
/// let tokens = TokenSet {
///     access_token: SecretString::from("gho_secret"),
///     refresh_token: None,
///     expires_at: Some(Timestamp::from_unix_seconds(1_700_003_600)),
///     scopes: vec!["repo".to_owned()],
///     token_type: "bearer".to_owned(),
/// };
/// assert!(!format!("{tokens:?}").contains("gho_secret"));
/// assert_eq!(TokenSet::from_secret_json(tokens.to_secret_json().expose_secret())?, tokens);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
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
    ///   as RFC 6749 §5.1 requires; a member given twice is refused.
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
    /// let t = TokenSet {
    ///     access_token: SecretString::from("a"),
    ///     refresh_token: None,
    ///     expires_at: Some(expiry),
    ///     scopes: vec![],
    ///     token_type: "Bearer".into(),
    /// };
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
    /// let t = TokenSet {
    ///     access_token: SecretString::from("a"),
    ///     refresh_token: None,
    ///     expires_at: Some(Timestamp::from_unix_seconds(100)),
    ///     scopes: vec![],
    ///     token_type: "Bearer".into(),
    /// };
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
    /// let t = TokenSet {
    ///     access_token: SecretString::from("at"),
    ///     refresh_token: None,
    ///     expires_at: Some(Timestamp::from_unix_seconds(1_700_000_000)),
    ///     scopes: vec!["repo".into()],
    ///     token_type: "bearer".into(),
    /// };
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

// ---------------------------------------------------------------------------
// A JSON object reader whose errors never carry a value
// ---------------------------------------------------------------------------

/// A JSON value, as much of it as the parsers above need. Strings are held
/// in zeroizing boxes (they may be tokens); arrays other than arrays of
/// strings and objects are skipped.
enum Loose {
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
fn parse_object<const N: usize>(
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
    fn percent_encoding_keeps_only_unreserved() {
        let mut s = String::new();
        push_encoded(&mut s, "aZ09-._~ !\"#$%&'()*+,/:;=?@[]é€\n");
        assert_eq!(
            s,
            "aZ09-._~%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D%C3%A9%E2%82%AC%0A"
        );
    }

    #[test]
    fn decode_component_reads_escapes_and_plus() {
        assert_eq!(decode_component("a%5Fb+c").unwrap(), b"a_b c");
        assert_eq!(decode_component("%e2%82%ac").unwrap(), "€".as_bytes());
        assert!(decode_component("%4").is_none());
        assert!(decode_component("%zz").is_none());
    }

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
