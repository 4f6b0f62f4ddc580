//! What the host sends: the authorization URL and the token endpoint's
//! `application/x-www-form-urlencoded` request bodies.

use zeroize::Zeroizing;

use super::pkce::{CHALLENGE_LEN, is_unreserved};
use super::uri::{check_endpoint, check_redirect_uri};
use super::{METHOD, PkceVerifier, check_state_format};
use crate::error::{Error, Result};
use crate::secret::SecretString;

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
/// refresh token with [`TokenSet::from_refresh_response`](super::TokenSet::from_refresh_response).
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
pub(super) fn hex_digit(nibble: u8) -> u8 {
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
pub(super) fn is_vschar(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// RFC 6749 §3.3 `scope-token` characters: `%x21 / %x23-5B / %x5D-7E`.
pub(super) fn is_scope_char(b: u8) -> bool {
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
            "is not an S256 code challenge (43 base64url characters: the SHA-256 of the verifier)",
        ))
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
}
