//! HTTP security headers and CORS, independent of any web framework: the
//! host copies the returned `(name, value)` pairs onto its responses.
//!
//! - [`SecurityHeaders`]: HSTS, Content-Security-Policy, X-Frame-Options,
//!   X-Content-Type-Options, Referrer-Policy and Cross-Origin-Opener-Policy
//!   with strict defaults, each adjustable.
//! - [`SecurityHeaders::for_token_response`]: the same, plus
//!   `Cache-Control: no-store` and `Pragma: no-cache`, for every response that
//!   carries a token or a secret (RFC 6749 section 5.1).
//! - [`Cors`]: an exact-origin allowlist; [`Cors::simple`] for ordinary
//!   responses and [`Cors::preflight`] for `OPTIONS` preflights, both always
//!   with `Vary: Origin`.
//!
//! ```
//! # fn main() -> Result<(), secrets_core::Error> {
//! use secrets_core::headers::{Cors, SecurityHeaders};
//!
//! let headers = SecurityHeaders::new().headers();
//! assert!(headers.iter().any(|(n, v)| n == "X-Frame-Options" && v == "DENY"));
//!
//! let cors = Cors::new(&["https://app.example.com"])?.allow_credentials(true);
//! let granted = cors.simple(Some("https://app.example.com"));
//! assert!(granted.contains(&("Access-Control-Allow-Origin".into(), "https://app.example.com".into())));
//! let refused = cors.simple(Some("https://app.example.com.evil.example"));
//! assert_eq!(refused, [("Vary".to_owned(), "Origin".to_owned())]);
//! # Ok(()) }
//! ```

mod cors;

use std::time::Duration;

use crate::error::{Error, Result};

pub use cors::{Cors, Preflight, Refusal};

const HSTS: &str = "Strict-Transport-Security";
const CSP: &str = "Content-Security-Policy";
const FRAME_OPTIONS: &str = "X-Frame-Options";
const CONTENT_TYPE_OPTIONS: &str = "X-Content-Type-Options";
const REFERRER_POLICY: &str = "Referrer-Policy";
const PERMISSIONS_POLICY: &str = "Permissions-Policy";
const COOP: &str = "Cross-Origin-Opener-Policy";
const CACHE_CONTROL: &str = "Cache-Control";
const PRAGMA: &str = "Pragma";

/// The default HSTS max-age: 2 years (63,072,000 seconds).
///
/// ```
/// assert_eq!(secrets_core::headers::DEFAULT_HSTS_MAX_AGE.as_secs(), 63_072_000);
/// ```
pub const DEFAULT_HSTS_MAX_AGE: Duration = Duration::from_secs(2 * 365 * 24 * 60 * 60);

/// The smallest HSTS max-age the browsers' preload list accepts: 1 year.
///
/// ```
/// assert_eq!(secrets_core::headers::MIN_PRELOAD_MAX_AGE.as_secs(), 31_536_000);
/// ```
pub const MIN_PRELOAD_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The default Content-Security-Policy.
///
/// - `default-src 'self'`: scripts, styles, images, fonts, connections and
///   frames come from the page's own origin only, and inline scripts and
///   styles do not run; this is what turns most XSS into a no-op.
/// - `object-src 'none'`: no plugins (`<object>`, `<embed>`), an old way
///   around script restrictions.
/// - `base-uri 'self'`: an injected `<base href>` cannot re-point every
///   relative script URL to another host.
/// - `frame-ancestors 'none'`: nobody may frame the page (clickjacking); the
///   modern form of `X-Frame-Options: DENY`, which is also sent for older
///   browsers.
/// - `form-action 'self'`: an injected `<form>` cannot post to another
///   origin. Browsers also apply it to the redirect after a form post: if a
///   "Connect" form posts to the host, which redirects to an OAuth provider,
///   add that provider's origin to `form-action`.
///
/// An application that needs a CDN or inline scripts adjusts it with
/// [`SecurityHeaders::csp`] (prefer nonces or hashes to `'unsafe-inline'`).
///
/// ```
/// assert!(secrets_core::headers::DEFAULT_CSP.starts_with("default-src 'self'"));
/// ```
pub const DEFAULT_CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/// The default Referrer-Policy: `strict-origin-when-cross-origin`.
///
/// Another origin sees only `https://host` (never the path or query, where
/// an OAuth `code` or a reset token may sit), nothing at all after a
/// downgrade to `http`, and the page's own origin sees the full URL. It is
/// preferred over `no-referrer` because browsers send `Origin: null` on
/// same-origin form posts under `no-referrer`, which breaks the origin check
/// that CSRF defences rely on. It is also the browsers' own default; sending
/// it explicitly covers older ones.
///
/// ```
/// assert_eq!(secrets_core::headers::DEFAULT_REFERRER_POLICY, "strict-origin-when-cross-origin");
/// ```
pub const DEFAULT_REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

const REFERRER_POLICIES: [&str; 8] = [
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

const OPENER_POLICIES: [&str; 4] = [
    "same-origin",
    "same-origin-allow-popups",
    "noopener-allow-popups",
    "unsafe-none",
];

/// The value of `X-Frame-Options`.
///
/// ```
/// use secrets_core::headers::{FrameOptions, SecurityHeaders};
///
/// let h = SecurityHeaders::new().frame_options(FrameOptions::SameOrigin).headers();
/// assert!(h.contains(&("X-Frame-Options".into(), "SAMEORIGIN".into())));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameOptions {
    /// `DENY`: the page is never framed (the default).
    Deny,
    /// `SAMEORIGIN`: only pages of the same origin may frame it.
    SameOrigin,
}

impl FrameOptions {
    /// The header value.
    ///
    /// ```
    /// assert_eq!(secrets_core::headers::FrameOptions::Deny.as_str(), "DENY");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "DENY",
            Self::SameOrigin => "SAMEORIGIN",
        }
    }
}

/// A set of security response headers, built from safe defaults.
///
/// | header | default |
/// |---|---|
/// | `Strict-Transport-Security` | `max-age=63072000; includeSubDomains` (2 years; `preload` opt-in) |
/// | `Content-Security-Policy` | [`DEFAULT_CSP`] |
/// | `X-Frame-Options` | `DENY` |
/// | `X-Content-Type-Options` | `nosniff` |
/// | `Referrer-Policy` | [`DEFAULT_REFERRER_POLICY`] |
/// | `Cross-Origin-Opener-Policy` | `same-origin` |
/// | `Permissions-Policy` | not sent (opt in with [`permissions_policy`](Self::permissions_policy)) |
///
/// Browsers ignore HSTS received over plain HTTP, so sending it everywhere is
/// harmless. `Cross-Origin-Opener-Policy: same-origin` cuts the link between
/// a page and the popups it opens: a host that runs an OAuth flow in a popup
/// sets `same-origin-allow-popups`.
///
/// Every value is checked: no CR, LF or other control character can reach a
/// response (header injection).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::headers::SecurityHeaders;
///
/// let headers = SecurityHeaders::new()
///     .hsts(Duration::from_secs(63_072_000), true, true)?
///     .csp("default-src 'self'; img-src 'self' https://cdn.example")?
///     .without("Cross-Origin-Opener-Policy")?
///     .headers();
/// assert!(headers.contains(&(
///     "Strict-Transport-Security".into(),
///     "max-age=63072000; includeSubDomains; preload".into(),
/// )));
/// assert!(!headers.iter().any(|(n, _)| n == "Cross-Origin-Opener-Policy"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityHeaders {
    entries: Vec<(String, String)>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityHeaders {
    /// The defaults of the table above.
    ///
    /// ```
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// assert_eq!(SecurityHeaders::new().headers().len(), 6);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        let entries = [
            (HSTS, hsts_value(DEFAULT_HSTS_MAX_AGE, true, false)),
            (CSP, DEFAULT_CSP.to_owned()),
            (FRAME_OPTIONS, FrameOptions::Deny.as_str().to_owned()),
            (CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (REFERRER_POLICY, DEFAULT_REFERRER_POLICY.to_owned()),
            (COOP, "same-origin".to_owned()),
        ];
        Self {
            entries: entries
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        }
    }

    /// The defaults plus `Cache-Control: no-store` and `Pragma: no-cache`:
    /// the set for a response that carries a token or a secret (a login or
    /// refresh, a minted API token or agent session, a rotated webhook
    /// secret, an injected environment). RFC 6749 section 5.1 requires both
    /// on an OAuth token response, so that no browser, proxy or CDN keeps a
    /// copy of the credential; `Pragma` is for HTTP/1.0 caches.
    ///
    /// ```
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::for_token_response().headers();
    /// assert!(h.contains(&("Cache-Control".into(), "no-store".into())));
    /// assert!(h.contains(&("Pragma".into(), "no-cache".into())));
    /// assert_eq!(h.len(), SecurityHeaders::new().headers().len() + 2);
    /// ```
    #[must_use]
    pub fn for_token_response() -> Self {
        Self::new().no_store()
    }

    /// Adds `Cache-Control: no-store` and `Pragma: no-cache` (replacing any
    /// `Cache-Control` or `Pragma` set before) to a customised set: what
    /// [`for_token_response`](Self::for_token_response) adds to the defaults.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new()
    ///     .set("Cache-Control", "public, max-age=3600")?
    ///     .no_store()
    ///     .headers();
    /// let cache: Vec<_> = h.iter().filter(|(n, _)| n == "Cache-Control").collect();
    /// assert_eq!(cache, [&("Cache-Control".to_owned(), "no-store".to_owned())]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn no_store(self) -> Self {
        self.put(CACHE_CONTROL, "no-store".to_owned())
            .put(PRAGMA, "no-cache".to_owned())
    }

    /// Sets `Strict-Transport-Security`. A `max_age` of zero tells browsers
    /// to forget the policy (how to turn HSTS off).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when `preload` is asked without
    /// `include_subdomains` or with `max_age` under [`MIN_PRELOAD_MAX_AGE`]:
    /// the preload list would refuse the domain.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::time::Duration;
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().hsts(Duration::from_secs(300), false, false)?.headers();
    /// assert!(h.contains(&("Strict-Transport-Security".into(), "max-age=300".into())));
    /// assert!(SecurityHeaders::new().hsts(Duration::from_secs(300), true, true).is_err());
    /// # Ok(()) }
    /// ```
    pub fn hsts(self, max_age: Duration, include_subdomains: bool, preload: bool) -> Result<Self> {
        if preload && (!include_subdomains || max_age < MIN_PRELOAD_MAX_AGE) {
            return Err(Error::invalid(
                "hsts",
                "`preload` needs `includeSubDomains` and a max-age of at least 31536000 seconds (1 year)",
            ));
        }
        Ok(self.put(HSTS, hsts_value(max_age, include_subdomains, preload)))
    }

    /// Sets `Content-Security-Policy`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the policy is empty or contains a control
    /// character (CR, LF, ...) or non-ASCII.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// assert!(SecurityHeaders::new().csp("default-src 'none'").is_ok());
    /// assert!(SecurityHeaders::new().csp("default-src 'self'\r\nSet-Cookie: x=1").is_err());
    /// # Ok(()) }
    /// ```
    pub fn csp(self, policy: &str) -> Result<Self> {
        let value = checked_value(CSP, policy)?;
        Ok(self.put(CSP, value))
    }

    /// Sets `X-Frame-Options`.
    ///
    /// ```
    /// use secrets_core::headers::{FrameOptions, SecurityHeaders};
    ///
    /// let h = SecurityHeaders::new().frame_options(FrameOptions::SameOrigin);
    /// assert_ne!(h, SecurityHeaders::new());
    /// ```
    #[must_use]
    pub fn frame_options(self, options: FrameOptions) -> Self {
        self.put(FRAME_OPTIONS, options.as_str().to_owned())
    }

    /// Sets `Referrer-Policy` to one of the policies of the W3C Referrer
    /// Policy specification (`no-referrer`, `same-origin`, ...).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other value.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// assert!(SecurityHeaders::new().referrer_policy("no-referrer").is_ok());
    /// assert!(SecurityHeaders::new().referrer_policy("never").is_err());
    /// # Ok(()) }
    /// ```
    pub fn referrer_policy(self, policy: &str) -> Result<Self> {
        let policy = one_of(REFERRER_POLICY, policy, &REFERRER_POLICIES)?;
        Ok(self.put(REFERRER_POLICY, policy))
    }

    /// Sets `Cross-Origin-Opener-Policy` (`same-origin`,
    /// `same-origin-allow-popups`, `noopener-allow-popups` or `unsafe-none`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for any other value.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().cross_origin_opener_policy("same-origin-allow-popups")?;
    /// assert!(h.headers().contains(&(
    ///     "Cross-Origin-Opener-Policy".into(),
    ///     "same-origin-allow-popups".into(),
    /// )));
    /// # Ok(()) }
    /// ```
    pub fn cross_origin_opener_policy(self, policy: &str) -> Result<Self> {
        let policy = one_of(COOP, policy, &OPENER_POLICIES)?;
        Ok(self.put(COOP, policy))
    }

    /// Sets `Permissions-Policy` (not sent by default), for example
    /// `camera=(), microphone=(), geolocation=()`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the value is empty or contains a control
    /// character or non-ASCII.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().permissions_policy("camera=(), microphone=()")?;
    /// assert_eq!(h.headers().len(), 7);
    /// # Ok(()) }
    /// ```
    pub fn permissions_policy(self, policy: &str) -> Result<Self> {
        let value = checked_value(PERMISSIONS_POLICY, policy)?;
        Ok(self.put(PERMISSIONS_POLICY, value))
    }

    /// Sets any header, replacing one of the same name (compared
    /// case-insensitively), for headers without a setter of their own
    /// (`Cross-Origin-Resource-Policy`, `Content-Security-Policy-Report-Only`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `name` is not an RFC 9110 token, or
    /// `value` is empty or contains a control character or non-ASCII.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().set("Cross-Origin-Resource-Policy", "same-origin")?;
    /// assert!(h.headers().iter().any(|(n, _)| n == "Cross-Origin-Resource-Policy"));
    /// assert!(SecurityHeaders::new().set("Bad Name", "x").is_err());
    /// # Ok(()) }
    /// ```
    pub fn set(self, name: &str, value: &str) -> Result<Self> {
        if !is_token(name) {
            return Err(Error::invalid(
                "name",
                format!("`{}` is not a valid header name", name.escape_debug()),
            ));
        }
        let value = checked_value("value", value)?;
        let name = self
            .entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or_else(|| name.to_owned(), |(n, _)| n.clone());
        Ok(self.put(&name, value))
    }

    /// Removes a header (name compared case-insensitively), for a host
    /// that sets it elsewhere or must not send it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if no header of that name is in the set, so a
    /// typo does not silently leave the header in place.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().without("x-frame-options")?;
    /// assert_eq!(h.headers().len(), 5);
    /// assert!(SecurityHeaders::new().without("X-Frame-Option").is_err());
    /// # Ok(()) }
    /// ```
    pub fn without(mut self, name: &str) -> Result<Self> {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if self.entries.len() == before {
            return Err(Error::invalid(
                "name",
                format!(
                    "`{}` is not in the header set (check the spelling)",
                    name.escape_debug()
                ),
            ));
        }
        Ok(self)
    }

    /// The headers, in a fixed order: the defaults in the order of the
    /// table above, then added ones in the order they were set.
    ///
    /// ```
    /// use secrets_core::headers::SecurityHeaders;
    ///
    /// let h = SecurityHeaders::new().headers();
    /// assert_eq!(h[0].0, "Strict-Transport-Security");
    /// assert!(h.contains(&("X-Content-Type-Options".into(), "nosniff".into())));
    /// ```
    #[must_use]
    pub fn headers(&self) -> Vec<(String, String)> {
        self.entries.clone()
    }

    /// Replaces the value of `name` in place, or appends it.
    fn put(mut self, name: &str, value: String) -> Self {
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name.to_owned(), value)),
        }
        self
    }
}

fn hsts_value(max_age: Duration, include_subdomains: bool, preload: bool) -> String {
    let mut v = format!("max-age={}", max_age.as_secs());
    if include_subdomains {
        v.push_str("; includeSubDomains");
    }
    if preload {
        v.push_str("; preload");
    }
    v
}

/// A header value: trimmed, non-empty, printable ASCII, space and tab only.
fn checked_value(field: &'static str, value: &str) -> Result<String> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..=0x7e).contains(&b))
    {
        return Err(Error::invalid(
            field,
            "contains a control character (CR, LF, ...) or non-ASCII, which a header value must not",
        ));
    }
    Ok(value.to_owned())
}

fn one_of(field: &'static str, value: &str, allowed: &[&str]) -> Result<String> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "`{}` is not one of {}",
                value.escape_debug(),
                allowed.join(", ")
            ),
        ))
    }
}

/// An RFC 9110 `token` (header names, methods).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Whether `s` is a URI scheme (RFC 3986 section 3.1): a letter, then
/// letters, digits, `+`, `-` or `.`.
pub(crate) fn is_uri_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn values<'a>(h: &'a [(String, String)], name: &str) -> Vec<&'a str> {
        h.iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn token_responses_are_not_cached_and_others_are_untouched() {
        let token = SecurityHeaders::for_token_response().headers();
        assert_eq!(values(&token, "Cache-Control"), ["no-store"]);
        assert_eq!(values(&token, "Pragma"), ["no-cache"]);
        // Everything else is the default set, in its order.
        let plain = SecurityHeaders::new().headers();
        assert_eq!(token[..plain.len()], plain[..]);
        assert!(values(&plain, "Cache-Control").is_empty());
        assert!(values(&plain, "Pragma").is_empty());
    }

    #[test]
    fn no_store_replaces_a_cacheable_policy_whatever_its_case() {
        let h = SecurityHeaders::new()
            .set("cache-control", "public, max-age=600")
            .unwrap()
            .set("PRAGMA", "cache")
            .unwrap()
            .no_store()
            .headers();
        assert_eq!(values(&h, "Cache-Control"), ["no-store"]);
        assert_eq!(values(&h, "Pragma"), ["no-cache"]);
        // Applied twice, still one of each.
        let twice = SecurityHeaders::for_token_response().no_store().headers();
        assert_eq!(twice, SecurityHeaders::for_token_response().headers());
    }
}
