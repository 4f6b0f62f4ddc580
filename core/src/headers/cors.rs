//! Cross-origin resource sharing (CORS) for an exact allowlist of origins:
//! [`Cors`] answers ordinary requests and preflights with the headers to
//! send, never reflecting the request's bytes back.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

use super::{is_token, is_uri_scheme};

/// Cross-origin resource sharing for an exact allowlist of origins.
///
/// Each origin is `scheme://host[:port]` and is normalised once: scheme and
/// host lowercased, a default port (`:443` for https, `:80` for http)
/// dropped. A request's `Origin` is normalised the same way and must then
/// equal an entry exactly: no suffix, prefix or pattern matching, so
/// `https://example.com.evil.com` and `https://evil-example.com` do not pass
/// for `https://example.com`, nor does another scheme or port.
///
/// `*` is refused. With credentials the Fetch standard forbids it (browsers
/// ignore the response); without credentials it is a different tool, a
/// public API readable by every site, for which no allowlist is needed and
/// the host can send `Access-Control-Allow-Origin: *` itself. Refusing it
/// keeps "CORS only for configured origins" true by construction. `null` is
/// refused too: sandboxed iframes, `file:` pages and some redirects send it,
/// so any site can produce it.
///
/// The response's `Access-Control-Allow-Origin` is always the configured
/// entry, never the request's bytes reflected back.
///
/// Defaults: no credentials, methods `GET, HEAD, POST`, no extra request
/// headers (a JSON API adds `content-type`), no exposed headers, no
/// `Access-Control-Max-Age` (browsers then cache a preflight for 5 seconds).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use std::time::Duration;
/// use secrets_core::headers::{Cors, Preflight};
///
/// let cors = Cors::new(&["https://app.example.com", "http://localhost:5173"])?
///     .allow_credentials(true)
///     .allowed_methods(&["GET", "POST", "DELETE"])?
///     .allowed_headers(&["Content-Type", "Authorization"])?
///     .max_age(Duration::from_secs(600));
///
/// match cors.preflight(Some("https://app.example.com"), Some("DELETE"), Some("content-type, authorization")) {
///     Preflight::Allowed(headers) => assert!(headers.contains(&(
///         "Access-Control-Allow-Credentials".into(), "true".into()
///     ))),
///     Preflight::Refused(why) => panic!("{why}"),
/// }
/// assert!(matches!(
///     cors.preflight(Some("https://app.example.com"), Some("PUT"), None),
///     Preflight::Refused(_)
/// ));
/// assert!(Cors::new(&["*"]).is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cors {
    origins: Vec<String>,
    credentials: bool,
    methods: Vec<String>,
    headers: Vec<String>,
    exposed: Vec<String>,
    max_age: Option<u64>,
}

/// The outcome of a CORS preflight ([`Cors::preflight`]).
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::headers::{Cors, Preflight, Refusal};
///
/// let p = Cors::new(&["https://a.example"])?.preflight(Some("https://b.example"), Some("GET"), None);
/// assert_eq!(p, Preflight::Refused(Refusal::OriginNotAllowed));
/// assert!(p.headers().iter().any(|(n, _)| n == "Vary"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Preflight {
    /// Answer the preflight (status 204) with these headers.
    Allowed(Vec<(String, String)>),
    /// Answer without CORS headers (the browser then blocks the request),
    /// but with [`Preflight::headers`] (`Vary`). The reason is for logs.
    Refused(Refusal),
}

impl Preflight {
    /// The headers to send: the granted ones, or for a refusal only `Vary`,
    /// so that caches keep refused and granted answers apart.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// let p = Cors::new(&["https://a.example"])?.preflight(None, Some("GET"), None);
    /// assert_eq!(p.headers().len(), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            Self::Allowed(headers) => headers.clone(),
            Self::Refused(_) => vec![preflight_vary()],
        }
    }
}

/// Why a preflight was refused.
///
/// ```
/// use secrets_core::headers::Refusal;
///
/// let r = Refusal::HeaderNotAllowed { header: "x-debug".into() };
/// assert_eq!(r.to_string(), "request header `x-debug` is not allowed");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No `Origin` header: not a CORS preflight.
    MissingOrigin,
    /// The origin is malformed, `null`, or not in the allowlist.
    OriginNotAllowed,
    /// No `Access-Control-Request-Method` header: not a CORS preflight.
    MissingMethod,
    /// The requested method is not allowed (`(malformed)` if it is not a
    /// method name at all).
    MethodNotAllowed {
        /// The method requested.
        method: String,
    },
    /// A requested header is not allowed (`(malformed)` if it is not a
    /// header name at all).
    HeaderNotAllowed {
        /// The header requested, lowercased.
        header: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingOrigin => f.write_str("no `Origin` header"),
            Self::OriginNotAllowed => f.write_str("origin is not allowed"),
            Self::MissingMethod => f.write_str("no `Access-Control-Request-Method` header"),
            Self::MethodNotAllowed { method } => write!(f, "method `{method}` is not allowed"),
            Self::HeaderNotAllowed { header } => {
                write!(f, "request header `{header}` is not allowed")
            }
        }
    }
}

/// The longest method or header name repeated in a [`Refusal`].
const MAX_NAME_IN_REFUSAL: usize = 64;

impl Cors {
    /// An allowlist of exact origins, with the defaults above. An empty list
    /// allows no origin (every response still carries `Vary: Origin`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `origins`) for `*`, `null`, or an
    /// entry that is not `scheme://host[:port]`: with a path, query,
    /// fragment, trailing slash, userinfo, wildcard, whitespace, a port
    /// outside 1 to 65535, or non-ASCII (write an internationalised domain
    /// in its `xn--` form, as browsers send it).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// assert!(Cors::new(&["https://Example.com:443"])?.is_allowed("https://example.com"));
    /// assert!(Cors::new(&["https://example.com/"]).is_err());
    /// assert!(Cors::new(&["https://*.example.com"]).is_err());
    /// # Ok(()) }
    /// ```
    pub fn new(origins: &[&str]) -> Result<Self> {
        let mut normalised = Vec::with_capacity(origins.len());
        for origin in origins {
            let o = normalise_origin(origin).map_err(|reason| {
                Error::invalid("origins", format!("`{}` {reason}", origin.escape_debug()))
            })?;
            if !normalised.contains(&o) {
                normalised.push(o);
            }
        }
        Ok(Self {
            origins: normalised,
            credentials: false,
            methods: ["GET", "HEAD", "POST"].map(str::to_owned).to_vec(),
            headers: Vec::new(),
            exposed: Vec::new(),
            max_age: None,
        })
    }

    /// Whether responses may be read with credentials (cookies, HTTP
    /// authentication): sends `Access-Control-Allow-Credentials: true`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// let cors = Cors::new(&["https://a.example"])?.allow_credentials(true);
    /// assert_eq!(cors.simple(Some("https://a.example")).len(), 3);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn allow_credentials(mut self, allow: bool) -> Self {
        self.credentials = allow;
        self
    }

    /// The methods a preflight may request, compared case-sensitively (RFC
    /// 9110 §9.1: browsers upper-case `GET`, `POST`, `PUT`, `DELETE`, `HEAD`
    /// and `OPTIONS` themselves, but send `patch` as written).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for `*` or a string that is not a method name.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::{Cors, Preflight};
    ///
    /// let cors = Cors::new(&["https://a.example"])?.allowed_methods(&["PATCH"])?;
    /// assert!(matches!(cors.preflight(Some("https://a.example"), Some("PATCH"), None), Preflight::Allowed(_)));
    /// assert!(matches!(cors.preflight(Some("https://a.example"), Some("patch"), None), Preflight::Refused(_)));
    /// # Ok(()) }
    /// ```
    pub fn allowed_methods(mut self, methods: &[&str]) -> Result<Self> {
        self.methods = names("methods", methods, false)?;
        Ok(self)
    }

    /// The request headers a preflight may ask for, compared
    /// case-insensitively.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for `*` or a string that is not a header name.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::{Cors, Preflight};
    ///
    /// let cors = Cors::new(&["https://a.example"])?.allowed_headers(&["Content-Type"])?;
    /// let p = cors.preflight(Some("https://a.example"), Some("POST"), Some("CONTENT-TYPE"));
    /// assert!(matches!(p, Preflight::Allowed(_)));
    /// # Ok(()) }
    /// ```
    pub fn allowed_headers(mut self, headers: &[&str]) -> Result<Self> {
        self.headers = names("headers", headers, true)?;
        Ok(self)
    }

    /// Response headers beyond the safelisted ones that scripts may read
    /// (`Access-Control-Expose-Headers`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for `*` or a string that is not a header name.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// let cors = Cors::new(&["https://a.example"])?.exposed_headers(&["X-Request-Id"])?;
    /// assert!(cors.simple(Some("https://a.example")).contains(&(
    ///     "Access-Control-Expose-Headers".into(), "x-request-id".into()
    /// )));
    /// # Ok(()) }
    /// ```
    pub fn exposed_headers(mut self, headers: &[&str]) -> Result<Self> {
        self.exposed = names("exposed_headers", headers, true)?;
        Ok(self)
    }

    /// How long browsers may cache a preflight answer
    /// (`Access-Control-Max-Age`, whole seconds; browsers cap it, Chromium
    /// at 2 hours).
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use std::time::Duration;
    /// use secrets_core::headers::Cors;
    ///
    /// let cors = Cors::new(&["https://a.example"])?.max_age(Duration::from_secs(600));
    /// let h = cors.preflight(Some("https://a.example"), Some("GET"), None).headers();
    /// assert!(h.contains(&("Access-Control-Max-Age".into(), "600".into())));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age.as_secs());
        self
    }

    /// Whether `origin` (a request's `Origin` header) is in the allowlist
    /// after normalisation.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// let cors = Cors::new(&["https://example.com"])?;
    /// assert!(cors.is_allowed("https://EXAMPLE.com"));
    /// assert!(!cors.is_allowed("https://example.com.evil.com"));
    /// assert!(!cors.is_allowed("null"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn is_allowed(&self, origin: &str) -> bool {
        self.matching(Some(origin)).is_some()
    }

    /// The CORS headers of an ordinary (non-preflight) response, given the
    /// request's `Origin` header.
    ///
    /// For an allowed origin: `Access-Control-Allow-Origin` (that origin),
    /// `Access-Control-Allow-Credentials: true` if enabled, and
    /// `Access-Control-Expose-Headers` if configured. Always, last,
    /// `Vary: Origin`, even when the origin is refused or absent, so that a
    /// shared cache never serves one origin's answer to another. A host that
    /// already sends `Vary` merges the values.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::Cors;
    ///
    /// let cors = Cors::new(&["https://a.example"])?;
    /// assert_eq!(
    ///     cors.simple(Some("https://a.example")),
    ///     [
    ///         ("Access-Control-Allow-Origin".to_owned(), "https://a.example".to_owned()),
    ///         ("Vary".to_owned(), "Origin".to_owned()),
    ///     ]
    /// );
    /// assert_eq!(cors.simple(None), [("Vary".to_owned(), "Origin".to_owned())]);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn simple(&self, origin: Option<&str>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(allowed) = self.matching(origin) {
            self.push_grant(&mut out, allowed);
            if !self.exposed.is_empty() {
                out.push(pair(
                    "Access-Control-Expose-Headers",
                    self.exposed.join(", "),
                ));
            }
        }
        out.push(pair("Vary", "Origin".to_owned()));
        out
    }

    /// Answers a preflight (`OPTIONS` with `Access-Control-Request-Method`),
    /// given the request's `Origin`, `Access-Control-Request-Method` and
    /// `Access-Control-Request-Headers` header values (`None` when absent).
    ///
    /// The origin must be allowed, the method one of
    /// [`allowed_methods`](Self::allowed_methods) (exactly), and every
    /// comma-separated requested header one of
    /// [`allowed_headers`](Self::allowed_headers) (case-insensitively).
    /// Granted: `Access-Control-Allow-Origin`,
    /// `Access-Control-Allow-Credentials` (if enabled),
    /// `Access-Control-Allow-Methods`, `Access-Control-Allow-Headers` (if
    /// any), `Access-Control-Max-Age` (if set), and `Vary: Origin,
    /// Access-Control-Request-Method, Access-Control-Request-Headers`.
    ///
    /// ```
    /// # fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::headers::{Cors, Preflight, Refusal};
    ///
    /// let cors = Cors::new(&["https://a.example"])?;
    /// assert_eq!(
    ///     cors.preflight(Some("https://a.example"), Some("POST"), Some("x-debug")),
    ///     Preflight::Refused(Refusal::HeaderNotAllowed { header: "x-debug".into() })
    /// );
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn preflight(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
        request_headers: Option<&str>,
    ) -> Preflight {
        if origin.is_none() {
            return Preflight::Refused(Refusal::MissingOrigin);
        }
        let Some(allowed) = self.matching(origin) else {
            return Preflight::Refused(Refusal::OriginNotAllowed);
        };
        let Some(method) = method.map(|m| m.trim_matches([' ', '\t'])) else {
            return Preflight::Refused(Refusal::MissingMethod);
        };
        if !self.methods.iter().any(|m| m == method) {
            return Preflight::Refused(Refusal::MethodNotAllowed {
                method: for_refusal(method),
            });
        }
        let requested = request_headers
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim_matches([' ', '\t']))
            .filter(|h| !h.is_empty());
        for header in requested {
            let lower = header.to_ascii_lowercase();
            if !self.headers.contains(&lower) {
                return Preflight::Refused(Refusal::HeaderNotAllowed {
                    header: for_refusal(&lower),
                });
            }
        }

        let mut out = Vec::new();
        self.push_grant(&mut out, allowed);
        out.push(pair(
            "Access-Control-Allow-Methods",
            self.methods.join(", "),
        ));
        if !self.headers.is_empty() {
            out.push(pair(
                "Access-Control-Allow-Headers",
                self.headers.join(", "),
            ));
        }
        if let Some(secs) = self.max_age {
            out.push(pair("Access-Control-Max-Age", secs.to_string()));
        }
        out.push(preflight_vary());
        Preflight::Allowed(out)
    }

    /// The configured entry equal to `origin` after normalisation.
    fn matching(&self, origin: Option<&str>) -> Option<&str> {
        let origin = normalise_origin(origin?).ok()?;
        self.origins
            .iter()
            .find(|o| **o == origin)
            .map(String::as_str)
    }

    fn push_grant(&self, out: &mut Vec<(String, String)>, origin: &str) {
        out.push(pair("Access-Control-Allow-Origin", origin.to_owned()));
        if self.credentials {
            out.push(pair("Access-Control-Allow-Credentials", "true".to_owned()));
        }
    }
}

fn pair(name: &str, value: String) -> (String, String) {
    (name.to_owned(), value)
}

fn preflight_vary() -> (String, String) {
    pair(
        "Vary",
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_owned(),
    )
}

/// A requested method or header name as it may appear in a [`Refusal`]:
/// only a short token, never arbitrary bytes from the request.
fn for_refusal(name: &str) -> String {
    if is_token(name) && name.len() <= MAX_NAME_IN_REFUSAL {
        name.to_owned()
    } else {
        "(malformed)".to_owned()
    }
}

/// Validated method or header names; header names lowercased.
fn names(field: &'static str, list: &[&str], lowercase: bool) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for name in list {
        if *name == "*" {
            return Err(Error::invalid(
                field,
                "`*` is not accepted: list each name (with credentials browsers read `*` literally)",
            ));
        }
        if !is_token(name) {
            return Err(Error::invalid(
                field,
                format!("`{}` is not a valid name", name.escape_debug()),
            ));
        }
        let name = if lowercase {
            name.to_ascii_lowercase()
        } else {
            (*name).to_owned()
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// `scheme://host[:port]` in canonical form, or why not.
fn normalise_origin(origin: &str) -> std::result::Result<String, &'static str> {
    if origin == "*" {
        return Err(
            "is a wildcard: list each origin exactly (browsers refuse `*` with credentials)",
        );
    }
    if origin.eq_ignore_ascii_case("null") {
        return Err("is the opaque origin `null`, which any sandboxed page can send");
    }
    if !origin.is_ascii() {
        return Err("contains non-ASCII; write an internationalised domain in its `xn--` form");
    }
    if origin
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err("contains whitespace or a control character");
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err("is not of the form `scheme://host[:port]`");
    };
    let scheme = scheme.to_ascii_lowercase();
    if !is_uri_scheme(&scheme) {
        return Err("has an invalid scheme");
    }
    if rest.contains(['/', '?', '#']) {
        return Err(
            "has a path, query, fragment or trailing slash; an origin is only `scheme://host[:port]`",
        );
    }
    if rest.contains(['@', '\\', '%']) {
        return Err("has userinfo, a backslash or a percent-escape");
    }
    let rest = rest.to_ascii_lowercase();
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("has an unclosed `[` in its host");
        };
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("has an invalid IPv6 address");
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("has text after its IPv6 address")?,
            ),
        };
        (format!("[{addr}]"), port)
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest.as_str(), None),
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
            && host.split('.').all(|label| !label.is_empty());
        if !host_ok {
            return Err(
                "has an invalid host (letters, digits, `-`, `_` and `.` between non-empty labels; no wildcard)",
            );
        }
        (host.to_owned(), port)
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err("has an invalid port");
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err("has a port outside 1 to 65535"),
                Ok(n) => Some(n),
            }
        }
    };
    let default_port = match scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    Ok(match port {
        Some(p) if Some(p) != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalise() {
        for (input, want) in [
            ("https://Example.COM", "https://example.com"),
            ("HTTPS://example.com:443", "https://example.com"),
            ("http://example.com:80", "http://example.com"),
            ("http://example.com:443", "http://example.com:443"),
            ("https://example.com:08443", "https://example.com:8443"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("chrome-extension://abcdef", "chrome-extension://abcdef"),
        ] {
            assert_eq!(normalise_origin(input).unwrap(), want, "{input}");
        }
        for bad in [
            "",
            "*",
            "null",
            "NULL",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://example.com?q",
            "https://example.com#f",
            "https://user@example.com",
            "https://*.example.com",
            "https://example..com",
            "https://.example.com",
            "https://example.com:",
            "https://example.com:0",
            "https://example.com:65536",
            "https://example.com:+1",
            "https://exa mple.com",
            "https://example.com\r\n",
            "https://bücher.example",
            "https://[::1",
            "https://[::1]x",
            "https://a.example https://b.example",
            "1https://example.com",
        ] {
            assert!(normalise_origin(bad).is_err(), "{bad:?}");
        }
    }
}
