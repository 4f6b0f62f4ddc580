//! CORS: `Origin` headers and preflight requests against an allowlist.

use std::sync::LazyLock;

use crate::headers::{Cors, Preflight, Refusal};

use super::{find, header_lines, split_message};

/// The fixed allowlist, each entry already in its canonical form (so the
/// entries are exactly the `Access-Control-Allow-Origin` values it may
/// grant).
const FIXED_ORIGINS: [&str; 4] = [
    "https://app.example.com",
    "http://localhost:5173",
    "https://[::1]:8443",
    "chrome-extension://abcdefghijklmnop",
];

/// The fixed configuration: credentials, four methods, three headers.
static FIXED: LazyLock<Option<Cors>> = LazyLock::new(|| {
    Cors::new(&FIXED_ORIGINS)
        .and_then(|c| c.allowed_methods(&["GET", "POST", "DELETE", "PATCH"]))
        .and_then(|c| c.allowed_headers(&["Content-Type", "Authorization", "X-Request-Id"]))
        .and_then(|c| c.exposed_headers(&["X-Request-Id"]))
        .map(|c| c.allow_credentials(true))
        .ok()
});

/// Feeds a request's `Origin`, `Access-Control-Request-Method` and
/// `Access-Control-Request-Headers` (header lines as in
/// `split_message`; a header absent when its line
/// is) to [`Cors::preflight`], [`Cors::simple`] and [`Cors::is_allowed`],
/// for the fixed configuration and for one the input describes:
/// `x-allow: <origins separated by spaces>`, optional `x-methods`,
/// `x-headers` (comma-separated) and `x-credentials`. Returns whether the
/// fixed configuration granted the preflight.
///
/// Must never panic, and for each configuration:
/// - an origin is granted only if it is in the allowlist: the granted
///   `Access-Control-Allow-Origin` is one of the configured entries (never
///   the request's bytes), and for `http`/`https` the `url` crate parses
///   the request's origin to the same scheme, host and port; `*` and `null`
///   are never granted;
/// - the three calls agree on the origin, a refusal for an origin not
///   granted is `MissingOrigin` or `OriginNotAllowed`, and a granted
///   preflight lists the method and every header requested;
/// - `Vary` is always sent, and no header value holds a control character.
pub fn cors_preflight(data: &[u8]) -> bool {
    let (head, _) = split_message(data);
    let lines = header_lines(&head);
    let origin = find(&lines, "origin");
    let method = find(&lines, "access-control-request-method");
    let requested = find(&lines, "access-control-request-headers");

    let mut granted = false;
    let fixed = FIXED.as_ref();
    assert!(
        fixed.is_some(),
        "the fixed CORS configuration does not build"
    );
    if let Some(cors) = fixed {
        let allowlist: Vec<String> = FIXED_ORIGINS.map(str::to_owned).to_vec();
        granted = check(cors, &allowlist, origin, method, requested);
        if granted {
            // A granted origin of the fixed list parses, as a browser's
            // `Origin` header does.
            let scheme = origin.and_then(|o| o.split_once("://")).map(|(s, _)| s);
            if scheme
                .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"))
            {
                assert!(origin.is_some_and(|o| url::Url::parse(o).is_ok()));
            }
        }
    }

    if let Some(allow) = find(&lines, "x-allow") {
        let entries: Vec<&str> = allow.split(' ').filter(|e| !e.is_empty()).collect();
        if let Ok(cors) = Cors::new(&entries) {
            let list = |name| {
                find(&lines, name).map(|v| v.split(',').map(str::trim).collect::<Vec<&str>>())
            };
            let mut cors = cors.allow_credentials(find(&lines, "x-credentials").is_some());
            if let Some(methods) = list("x-methods") {
                cors = cors.clone().allowed_methods(&methods).unwrap_or(cors);
            }
            if let Some(headers) = list("x-headers") {
                cors = cors.clone().allowed_headers(&headers).unwrap_or(cors);
            }
            // Every entry is allowed, as its canonical form, which is a
            // fixed point.
            let mut allowlist = Vec::new();
            for entry in &entries {
                let acao = allow_origin(&cors.simple(Some(entry)));
                assert!(acao.is_some(), "a configured origin is not allowed");
                if let Some(acao) = acao {
                    let again = allow_origin(&cors.simple(Some(&acao)));
                    assert_eq!(again.as_deref(), Some(acao.as_str()));
                    allowlist.push(acao);
                }
            }
            check(&cors, &allowlist, origin, method, requested);
        }
    }
    granted
}

/// The checks of [`cors_preflight`] for one configuration whose canonical
/// entries are `allowlist`; returns whether the preflight was granted.
fn check(
    cors: &Cors,
    allowlist: &[String],
    origin: Option<&str>,
    method: Option<&str>,
    requested: Option<&str>,
) -> bool {
    let preflight = cors.preflight(origin, method, requested);
    let simple = cors.simple(origin);
    let granted = allow_origin(&simple);

    assert_eq!(
        simple.last(),
        Some(&("Vary".to_owned(), "Origin".to_owned()))
    );
    let preflight_headers = preflight.headers();
    assert!(preflight_headers.iter().any(|(n, _)| n == "Vary"));
    for (name, value) in simple.iter().chain(&preflight_headers) {
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()));
        assert!(
            value.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "a CORS header value with a control or non-ASCII byte"
        );
    }
    assert_eq!(
        origin.is_some_and(|o| cors.is_allowed(o)),
        granted.is_some()
    );

    if let Some(acao) = &granted {
        assert!(
            allowlist.contains(acao),
            "granted an origin not in the allowlist"
        );
        if let Some(origin) = origin {
            assert_same_origin(origin, acao);
        }
    }
    if origin.is_some_and(|o| o == "*" || o.eq_ignore_ascii_case("null")) {
        assert!(granted.is_none(), "granted `*` or `null`");
    }

    match &preflight {
        Preflight::Allowed(headers) => {
            assert_eq!(allow_origin(headers), granted);
            assert!(granted.is_some());
            let value = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.split(", ").collect::<Vec<&str>>())
                    .unwrap_or_default()
            };
            let asked = method.map(|m| m.trim_matches([' ', '\t']));
            assert!(asked.is_some_and(|m| value("Access-Control-Allow-Methods").contains(&m)));
            let allowed_headers = value("Access-Control-Allow-Headers");
            for header in requested
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim_matches([' ', '\t']))
                .filter(|h| !h.is_empty())
            {
                assert!(allowed_headers.contains(&header.to_ascii_lowercase().as_str()));
            }
            true
        }
        Preflight::Refused(refusal) => {
            match refusal {
                Refusal::MissingOrigin => assert!(origin.is_none()),
                Refusal::OriginNotAllowed => assert!(granted.is_none()),
                _ => assert!(
                    granted.is_some(),
                    "a refused origin got past the origin check"
                ),
            }
            let text = refusal.to_string();
            assert!(text.len() <= 128 && !text.chars().any(char::is_control));
            false
        }
    }
}

/// The `Access-Control-Allow-Origin` value among `headers`, if any (and
/// only one).
fn allow_origin(headers: &[(String, String)]) -> Option<String> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n == "Access-Control-Allow-Origin")
        .map(|(_, v)| v.clone());
    let first = values.next();
    assert!(
        values.next().is_none(),
        "two Access-Control-Allow-Origin headers"
    );
    first
}

/// For `http`/`https`, where browsers and the `url` crate agree on what an
/// origin is: the request's origin and the granted one have the same
/// scheme, host and port. (Other schemes have opaque hosts in the URL
/// standard; the allowlist check above covers them.)
fn assert_same_origin(origin: &str, granted: &str) {
    let (Ok(a), Ok(b)) = (url::Url::parse(origin), url::Url::parse(granted)) else {
        return;
    };
    if !matches!(b.scheme(), "http" | "https") {
        return;
    }
    assert_eq!(a.scheme(), b.scheme());
    assert_eq!(a.host_str(), b.host_str());
    assert_eq!(a.port_or_known_default(), b.port_or_known_default());
}
