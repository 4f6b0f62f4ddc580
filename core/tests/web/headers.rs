//! Security headers and CORS: defaults, setters, header injection, and the
//! origin tricks an exact allowlist must refuse.

use std::time::Duration;

use secrets_core::Error;
use secrets_core::headers::{Cors, DEFAULT_CSP, FrameOptions, Preflight, Refusal, SecurityHeaders};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn field(err: &Error) -> &'static str {
    match err {
        Error::InvalidInput { field, .. } => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

// --- security headers -----------------------------------------------------

#[test]
fn defaults_are_the_documented_set() {
    assert_eq!(
        SecurityHeaders::new().headers(),
        pairs(&[
            (
                "Strict-Transport-Security",
                "max-age=63072000; includeSubDomains"
            ),
            (
                "Content-Security-Policy",
                "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
            ),
            ("X-Frame-Options", "DENY"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "strict-origin-when-cross-origin"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
        ])
    );
    assert_eq!(SecurityHeaders::default(), SecurityHeaders::new());
    assert_eq!(
        value(&SecurityHeaders::new().headers(), "content-security-policy"),
        Some(DEFAULT_CSP)
    );
}

#[test]
fn hsts_settings() {
    let hsts = |age: u64, sub: bool, pre: bool| {
        SecurityHeaders::new()
            .hsts(Duration::from_secs(age), sub, pre)
            .map(|h| {
                value(&h.headers(), "Strict-Transport-Security")
                    .unwrap()
                    .to_owned()
            })
    };
    assert_eq!(
        hsts(63_072_000, true, true).unwrap(),
        "max-age=63072000; includeSubDomains; preload"
    );
    assert_eq!(
        hsts(31_536_000, true, true).unwrap(),
        "max-age=31536000; includeSubDomains; preload"
    );
    assert_eq!(hsts(86_400, false, false).unwrap(), "max-age=86400");
    assert_eq!(hsts(0, false, false).unwrap(), "max-age=0");
    // Preload without its requirements would be refused by the list.
    assert_eq!(field(&hsts(31_535_999, true, true).unwrap_err()), "hsts");
    assert_eq!(field(&hsts(63_072_000, false, true).unwrap_err()), "hsts");
    // Sub-second parts are dropped, never rounded up.
    let h = SecurityHeaders::new()
        .hsts(Duration::from_millis(1_999), false, false)
        .unwrap();
    assert_eq!(
        value(&h.headers(), "Strict-Transport-Security"),
        Some("max-age=1")
    );
}

#[test]
fn setters_replace_in_place() {
    let h = SecurityHeaders::new()
        .csp("  default-src 'none'; img-src https://cdn.example  ")
        .unwrap()
        .frame_options(FrameOptions::SameOrigin)
        .referrer_policy("no-referrer")
        .unwrap()
        .cross_origin_opener_policy("same-origin-allow-popups")
        .unwrap()
        .permissions_policy("camera=(), microphone=(), geolocation=()")
        .unwrap()
        .set("cross-origin-resource-policy", "same-site")
        .unwrap()
        .set("x-content-type-options", "nosniff")
        .unwrap();
    assert_eq!(
        h.headers(),
        pairs(&[
            (
                "Strict-Transport-Security",
                "max-age=63072000; includeSubDomains"
            ),
            (
                "Content-Security-Policy",
                "default-src 'none'; img-src https://cdn.example"
            ),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("Cross-Origin-Opener-Policy", "same-origin-allow-popups"),
            (
                "Permissions-Policy",
                "camera=(), microphone=(), geolocation=()"
            ),
            ("cross-origin-resource-policy", "same-site"),
        ])
    );
    for policy in [
        "no-referrer",
        "no-referrer-when-downgrade",
        "origin",
        "origin-when-cross-origin",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "unsafe-url",
    ] {
        SecurityHeaders::new().referrer_policy(policy).unwrap();
    }
    for bad in ["", "never", "No-Referrer", "no-referrer\r\n"] {
        assert_eq!(
            field(&SecurityHeaders::new().referrer_policy(bad).unwrap_err()),
            "Referrer-Policy"
        );
    }
    assert!(
        SecurityHeaders::new()
            .cross_origin_opener_policy("same-site")
            .is_err()
    );
}

#[test]
fn without_removes_and_refuses_typos() {
    let h = SecurityHeaders::new()
        .without("Cross-Origin-Opener-Policy")
        .unwrap()
        .without("x-frame-options")
        .unwrap();
    assert_eq!(h.headers().len(), 4);
    assert_eq!(value(&h.headers(), "X-Frame-Options"), None);
    assert_eq!(
        field(&h.clone().without("X-Frame-Options").unwrap_err()),
        "name"
    );
    assert_eq!(
        field(
            &SecurityHeaders::new()
                .without("X-Frame-Option")
                .unwrap_err()
        ),
        "name"
    );
    assert_eq!(
        field(
            &SecurityHeaders::new()
                .without("Permissions-Policy")
                .unwrap_err()
        ),
        "name"
    );
    // Removed, then set again: it comes back.
    let h = h.frame_options(FrameOptions::Deny);
    assert_eq!(value(&h.headers(), "X-Frame-Options"), Some("DENY"));
}

#[test]
fn header_injection_is_refused() {
    let bad_values = [
        "default-src 'self'\r\nSet-Cookie: session=evil",
        "default-src 'self'\nX: y",
        "default-src 'self'\r",
        "a\0b",
        "a\x7fb",
        "a\x0bb",
        "politique-é",
        "",
        "   ",
    ];
    for bad in bad_values {
        assert_eq!(
            field(&SecurityHeaders::new().csp(bad).unwrap_err()),
            "Content-Security-Policy",
            "{bad:?}"
        );
        assert_eq!(
            field(&SecurityHeaders::new().permissions_policy(bad).unwrap_err()),
            "Permissions-Policy",
            "{bad:?}"
        );
        assert_eq!(
            field(&SecurityHeaders::new().set("X-Custom", bad).unwrap_err()),
            "value",
            "{bad:?}"
        );
    }
    for bad_name in ["", "X Custom", "X-Custom:", "X-Custom\r\n", "Ünï", "X(1)"] {
        assert_eq!(
            field(&SecurityHeaders::new().set(bad_name, "v").unwrap_err()),
            "name",
            "{bad_name:?}"
        );
    }
    // A tab inside a value is legal (RFC 9110 field-value).
    SecurityHeaders::new().csp("default-src\t'self'").unwrap();
    // Nothing the builder emits ever carries CR or LF.
    for (n, v) in SecurityHeaders::new().headers() {
        assert!(!n.contains(['\r', '\n']) && !v.contains(['\r', '\n']));
    }
}

// --- CORS: configuration --------------------------------------------------

#[test]
fn cors_configuration_is_validated() {
    for bad in [
        "*",
        "null",
        "https://*.example.com",
        "*.example.com",
        "example.com",
        "https://example.com/",
        "https://example.com/app",
        "https://example.com?x=1",
        "https://example.com#x",
        "https://user@example.com",
        "https://example.com:0",
        "https://example.com:99999",
        "https://example.com:",
        " https://example.com",
        "https://example.com\n",
        "https://bücher.example",
        "https://",
        "",
    ] {
        let err = Cors::new(&["https://ok.example", bad]).unwrap_err();
        assert_eq!(field(&err), "origins", "{bad:?}");
    }
    let msg = Cors::new(&["*"]).unwrap_err().to_string();
    assert!(msg.contains("wildcard"), "{msg}");

    let cors = Cors::new(&[]).unwrap();
    assert_eq!(
        cors.simple(Some("https://a.example")),
        pairs(&[("Vary", "Origin")])
    );

    let base = || Cors::new(&["https://a.example"]).unwrap();
    assert_eq!(
        field(&base().allowed_methods(&["*"]).unwrap_err()),
        "methods"
    );
    assert_eq!(
        field(&base().allowed_methods(&["GET POST"]).unwrap_err()),
        "methods"
    );
    assert_eq!(
        field(&base().allowed_headers(&["*"]).unwrap_err()),
        "headers"
    );
    assert_eq!(
        field(&base().allowed_headers(&["x-a\r\n"]).unwrap_err()),
        "headers"
    );
    assert_eq!(
        field(&base().exposed_headers(&["*"]).unwrap_err()),
        "exposed_headers"
    );
}

// --- CORS: the tricks -----------------------------------------------------

#[test]
fn origins_match_exactly_after_normalisation() {
    let cors = Cors::new(&["https://example.com", "http://localhost:3000"]).unwrap();
    for allowed in [
        "https://example.com",
        "https://Example.com",
        "HTTPS://EXAMPLE.COM",
        "https://example.com:443",
        "http://localhost:3000",
        "http://LOCALHOST:3000",
    ] {
        assert!(cors.is_allowed(allowed), "{allowed}");
    }
    for refused in [
        // Suffix and prefix tricks.
        "https://example.com.evil.com",
        "https://evil-example.com",
        "https://evilexample.com",
        "https://example.co",
        "https://example.comm",
        "https://sub.example.com",
        "https://example.com%2eevil.com",
        "https://example.com@evil.com",
        "https://evil.com#https://example.com",
        "https://evil.com/https://example.com",
        "https://example.com/",
        // The opaque origin.
        "null",
        "NULL",
        // Scheme and port differ.
        "http://example.com",
        "wss://example.com",
        "https://example.com:8443",
        "https://example.com:444",
        "http://localhost",
        "http://localhost:3001",
        "https://localhost:3000",
        // Malformed or several.
        "",
        "*",
        "example.com",
        "https://example.com ",
        "https://example.com, https://evil.com",
        "https://example.com https://evil.com",
        "https://example.com\r\n",
    ] {
        assert!(!cors.is_allowed(refused), "{refused:?}");
        assert_eq!(
            cors.simple(Some(refused)),
            pairs(&[("Vary", "Origin")]),
            "{refused:?}"
        );
        assert_eq!(
            cors.preflight(Some(refused), Some("GET"), None),
            Preflight::Refused(Refusal::OriginNotAllowed),
            "{refused:?}"
        );
    }
}

#[test]
fn simple_responses_echo_the_configured_origin_and_always_vary() {
    let cors = Cors::new(&["https://App.Example.com:443"])
        .unwrap()
        .allow_credentials(true)
        .exposed_headers(&["X-Request-Id", "ETag"])
        .unwrap();
    assert_eq!(
        cors.simple(Some("https://APP.example.COM")),
        pairs(&[
            ("Access-Control-Allow-Origin", "https://app.example.com"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Expose-Headers", "x-request-id, etag"),
            ("Vary", "Origin"),
        ])
    );
    // Absent or refused: only Vary, so a cache never mixes the answers.
    assert_eq!(cors.simple(None), pairs(&[("Vary", "Origin")]));
    assert_eq!(
        cors.simple(Some("https://evil.example")),
        pairs(&[("Vary", "Origin")])
    );

    // Without credentials, no credentials header.
    let plain = Cors::new(&["https://a.example"]).unwrap();
    assert_eq!(
        plain.simple(Some("https://a.example")),
        pairs(&[
            ("Access-Control-Allow-Origin", "https://a.example"),
            ("Vary", "Origin")
        ])
    );
}

#[test]
fn preflight_checks_method_and_each_header() {
    let cors = Cors::new(&["https://a.example"])
        .unwrap()
        .allow_credentials(true)
        .allowed_methods(&["GET", "POST", "PATCH", "DELETE"])
        .unwrap()
        .allowed_headers(&["Content-Type", "Authorization", "X-Request-Id"])
        .unwrap()
        .max_age(Duration::from_secs(7200));
    let granted = pairs(&[
        ("Access-Control-Allow-Origin", "https://a.example"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE"),
        (
            "Access-Control-Allow-Headers",
            "content-type, authorization, x-request-id",
        ),
        ("Access-Control-Max-Age", "7200"),
        (
            "Vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ),
    ]);
    let o = Some("https://a.example");

    for (method, headers) in [
        ("DELETE", None),
        ("PATCH", Some("content-type")),
        ("POST", Some("Content-Type, AUTHORIZATION,x-request-id")),
        ("POST", Some(" content-type ,\tauthorization ")),
        ("GET", Some("")),
        ("GET", Some(",,")),
    ] {
        let p = cors.preflight(o, Some(method), headers);
        assert_eq!(
            p,
            Preflight::Allowed(granted.clone()),
            "{method} {headers:?}"
        );
        assert_eq!(p.headers(), granted);
    }

    let refused = |method: Option<&str>, headers: Option<&str>| cors.preflight(o, method, headers);
    assert_eq!(
        refused(None, None),
        Preflight::Refused(Refusal::MissingMethod)
    );
    assert_eq!(
        refused(Some("PUT"), None),
        Preflight::Refused(Refusal::MethodNotAllowed {
            method: "PUT".into()
        })
    );
    // Methods are case-sensitive (browsers send `patch` as written).
    assert_eq!(
        refused(Some("patch"), None),
        Preflight::Refused(Refusal::MethodNotAllowed {
            method: "patch".into()
        })
    );
    assert_eq!(
        refused(Some("GET\r\nX: y"), None),
        Preflight::Refused(Refusal::MethodNotAllowed {
            method: "(malformed)".into()
        })
    );
    // One header outside the list refuses the lot.
    assert_eq!(
        refused(Some("POST"), Some("content-type, X-Debug, authorization")),
        Preflight::Refused(Refusal::HeaderNotAllowed {
            header: "x-debug".into()
        })
    );
    assert_eq!(
        refused(Some("POST"), Some("content type")),
        Preflight::Refused(Refusal::HeaderNotAllowed {
            header: "(malformed)".into()
        })
    );
    assert_eq!(
        refused(Some("POST"), Some("*")),
        Preflight::Refused(Refusal::HeaderNotAllowed { header: "*".into() })
    );
    assert_eq!(
        refused(Some("POST"), Some(&"x".repeat(65))),
        Preflight::Refused(Refusal::HeaderNotAllowed {
            header: "(malformed)".into()
        })
    );
    // No origin at all: not a CORS preflight.
    assert_eq!(
        cors.preflight(None, Some("GET"), None),
        Preflight::Refused(Refusal::MissingOrigin)
    );

    // A refusal still sends Vary.
    let p = refused(Some("PUT"), None);
    assert_eq!(
        p.headers(),
        pairs(&[(
            "Vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        )])
    );
    assert_eq!(
        Refusal::MethodNotAllowed {
            method: "PUT".into()
        }
        .to_string(),
        "method `PUT` is not allowed"
    );
}

#[test]
fn preflight_defaults_are_minimal() {
    let cors = Cors::new(&["https://a.example"]).unwrap();
    let Preflight::Allowed(headers) = cors.preflight(Some("https://a.example"), Some("POST"), None)
    else {
        panic!("expected a grant");
    };
    assert_eq!(
        headers,
        pairs(&[
            ("Access-Control-Allow-Origin", "https://a.example"),
            ("Access-Control-Allow-Methods", "GET, HEAD, POST"),
            (
                "Vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
            ),
        ])
    );
    // A JSON request asks for content-type, which must be listed.
    assert_eq!(
        cors.preflight(
            Some("https://a.example"),
            Some("POST"),
            Some("content-type")
        ),
        Preflight::Refused(Refusal::HeaderNotAllowed {
            header: "content-type".into()
        })
    );
}
