//! Checks of the URLs a flow names: the provider's endpoints and the
//! redirect URI (also used for webhook endpoint URLs).

use crate::error::{Error, Result};

pub(super) fn check_endpoint(endpoint: &str) -> Result<()> {
    check_url_chars("endpoint", endpoint, true)?;
    let Some((scheme, _)) = endpoint.split_once("://") else {
        return Err(Error::invalid(
            "endpoint",
            "must be an absolute https:// URL",
        ));
    };
    check_web_url("endpoint", endpoint, scheme)
}

pub(super) fn check_redirect_uri(uri: &str) -> Result<()> {
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

/// No fragment, no whitespace or control characters, no backslash;
/// non-ASCII only where it is data (`redirect_uri` paths), never in an
/// endpoint.
///
/// A backslash is not a URI character (RFC 3986; `%5C` is) and parsers
/// disagree on it: the WHATWG parser reads `https://evil.example\@app.example/`
/// as the host `evil.example` (a `\` ends the authority), Python's
/// `urllib.parse` as `app.example` (after the userinfo).
pub(crate) fn check_url_chars(field: &'static str, url: &str, ascii_only: bool) -> Result<()> {
    if url.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if url.contains('\\') {
        return Err(Error::invalid(
            field,
            "contains a backslash (`\\`), which is not a URI character (RFC 3986) and which parsers read differently; write it `%5C`",
        ));
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
    // `scheme` is the caller's reading of the text before `://`. Unless it
    // is a scheme (no `:` or `/` in it), the parser sees an earlier one and
    // the checks below would read the wrong part of the text:
    // `https:/evil.example/a://b` is `https` with the host `evil.example`.
    if !crate::headers::is_uri_scheme(scheme) {
        return Err(Error::invalid(
            field,
            "must be of the form `https://host/path`",
        ));
    }
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
