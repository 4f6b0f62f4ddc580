//! OAuth: token endpoint responses and sealed token sets, the URLs a flow
//! names (and webhook endpoint URLs, checked by the same code), PKCE
//! verifiers.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::oauth::{self, MAX_EXPIRES_IN_SECS, PkceVerifier, TokenSet};
use crate::secret::SecretString;

/// `now` for every harness here.
const NOW: i64 = 1_700_000_000;

/// The shortest input value an error message is checked not to repeat.
/// Shorter values (and values with a space) may be words of the message
/// itself.
const MIN_LEAK_LEN: usize = 16;

/// serde_json errors that the token response parser does not raise in an
/// unknown member, which it skips: nesting past the recursion limit, a
/// string that is not UTF-8 or has a lone surrogate escape, a number out of
/// the range of `f64`.
const IN_SKIPPED_VALUES: [&str; 5] = [
    "recursion limit exceeded",
    "invalid unicode code point",
    "lone leading surrogate in hex escape",
    "unexpected end of hex escape",
    "number out of range",
];

/// Feeds arbitrary bytes to [`TokenSet::from_token_response`],
/// [`TokenSet::from_refresh_response`] and [`TokenSet::from_secret_json`].
/// Returns whether the bytes parsed as a token response.
///
/// Must never panic, and:
/// - a parsed response keeps RFC 6749's character rules and the expiry
///   bounds, and holds exactly the members `serde_json` reads from the same
///   bytes;
/// - a parsed token set (either way) re-serialises to JSON that `serde_json`
///   reads back member for member and that parses back to the same set;
/// - a refresh response keeps the previous refresh token and scopes exactly
///   when the provider sent none;
/// - no error message repeats a string value of the input (token text).
pub fn oauth_token_response(data: &[u8]) -> bool {
    let now = Timestamp::from_unix_seconds(NOW);
    let accepted = match TokenSet::from_token_response(data, now) {
        Ok(tokens) => {
            check_response(data, &tokens, now);
            check_round_trip(&tokens);
            check_refresh(data, &tokens, now);
            true
        }
        Err(e) => {
            check_error_hides_values(data, &e.to_string());
            false
        }
    };
    match TokenSet::from_secret_json(data) {
        Ok(tokens) => check_round_trip(&tokens),
        Err(e) => check_error_hides_values(data, &e.to_string()),
    }
    accepted
}

/// The rules of [`TokenSet::from_token_response`], checked on its output
/// against `serde_json`'s reading of the same bytes.
fn check_response(data: &[u8], tokens: &TokenSet, now: Timestamp) {
    let vschar = |b: u8| (0x20..=0x7e).contains(&b);
    let scope_char = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    let access = tokens.access_token.expose_secret();
    assert!(!access.is_empty() && access.bytes().all(vschar));
    assert!((1..=128).contains(&tokens.token_type.len()));
    assert!(tokens.token_type.bytes().all(|b| b.is_ascii_graphic()));
    if let Some(refresh) = &tokens.refresh_token {
        let refresh = refresh.expose_secret();
        assert!(!refresh.is_empty() && refresh.bytes().all(vschar));
    }
    for scope in &tokens.scopes {
        assert!(!scope.is_empty() && scope.bytes().all(scope_char));
    }
    if let Some(expires) = tokens.expires_at {
        assert!(expires >= now);
        assert!(expires <= now.saturating_add(Duration::from_secs(MAX_EXPIRES_IN_SECS)));
    }

    // The same bytes through serde_json: one object, and each member is
    // the one that was read (a member given twice was refused). The
    // response parser skips unknown members as serde_json skips ignored
    // values: without recursing, and without decoding their strings and
    // numbers. What `Value` refuses only for that reason is compared no
    // further.
    let members = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(members)) => Some(members),
        Err(e)
            if IN_SKIPPED_VALUES
                .iter()
                .any(|m| e.to_string().starts_with(m)) =>
        {
            return;
        }
        _ => None,
    };
    assert!(
        members.is_some(),
        "a token response serde_json does not read as an object"
    );
    let Some(members) = members else { return };
    let text = |name: &str| members.get(name).and_then(Value::as_str);
    assert_eq!(text("access_token"), Some(access));
    assert_eq!(text("token_type"), Some(tokens.token_type.as_str()));
    assert_eq!(
        text("refresh_token").filter(|r| !r.is_empty()),
        tokens
            .refresh_token
            .as_ref()
            .map(SecretString::expose_secret)
    );
    let scopes: Vec<&str> = text("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    assert_eq!(scopes, tokens.scopes);
    let expires_in = match members.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(_) => None,
    };
    assert_eq!(
        expires_in.map(|s| now.saturating_add(Duration::from_secs(s))),
        tokens.expires_at
    );
}

/// `to_secret_json` is JSON with exactly the set's values, and
/// `from_secret_json` reads it back to the same set.
fn check_round_trip(tokens: &TokenSet) {
    let json = tokens.to_secret_json();
    let again = TokenSet::from_secret_json(json.expose_secret());
    assert!(
        again.as_ref().is_ok_and(|t| t == tokens),
        "a token set did not round-trip through its sealed JSON"
    );
    let value = serde_json::from_slice::<Value>(json.expose_secret());
    let want = serde_json::json!({
        "v": oauth::TOKEN_SET_VERSION,
        "token_type": tokens.token_type,
        "access_token": tokens.access_token.expose_secret(),
        "refresh_token": tokens.refresh_token.as_ref().map(SecretString::expose_secret),
        "expires_at_ms": tokens.expires_at.map(Timestamp::unix_millis),
        "scopes": tokens.scopes,
    });
    assert!(
        value.is_ok_and(|v| v == want),
        "the sealed JSON of a token set is not what serde_json reads"
    );
}

/// A refresh response is the response, plus what the provider did not
/// resend.
fn check_refresh(data: &[u8], tokens: &TokenSet, now: Timestamp) {
    let previous = TokenSet {
        access_token: SecretString::from("previous-access"),
        refresh_token: Some(SecretString::from("previous-refresh")),
        expires_at: None,
        scopes: vec!["previous:scope".to_owned()],
        token_type: "Bearer".to_owned(),
    };
    let next = TokenSet::from_refresh_response(data, now, &previous);
    assert!(
        next.is_ok(),
        "a token response refused as a refresh response"
    );
    let Ok(next) = next else { return };
    assert_eq!(next.access_token, tokens.access_token);
    assert_eq!(next.token_type, tokens.token_type);
    assert_eq!(next.expires_at, tokens.expires_at);
    let want_refresh = tokens
        .refresh_token
        .clone()
        .or_else(|| previous.refresh_token.clone());
    assert_eq!(next.refresh_token, want_refresh);
    let want_scopes = if tokens.scopes.is_empty() {
        &previous.scopes
    } else {
        &tokens.scopes
    };
    assert_eq!(&next.scopes, want_scopes);
}

/// No string value of the input object appears in `message`, except the
/// provider's `error` code (quoted on purpose) and `expires_in` (not
/// secret, quoted when out of range).
fn check_error_hides_values(data: &[u8], message: &str) {
    let Ok(Value::Object(members)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let error_code = members.get("error").and_then(Value::as_str);
    for (name, value) in &members {
        let Some(value) = value.as_str() else {
            continue;
        };
        if name == "error" || name == "expires_in" || Some(value) == error_code {
            continue;
        }
        if value.len() >= MIN_LEAK_LEN && !value.contains(' ') {
            assert!(
                !message.contains(value),
                "an error message repeats the value of `{name}`"
            );
        }
    }
}

/// The authorization endpoint every non-endpoint check uses.
const ENDPOINT: &str = "https://provider.example/oauth/authorize";
/// The redirect URI every non-redirect check uses.
const REDIRECT: &str = "https://app.example/oauth/callback";
const CLIENT: &str = "client-1";
const STATE: &str = "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b";
/// The S256 challenge of RFC 7636 appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The verifier of RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// Longest webhook endpoint URL (`vault::webhooks`).
const MAX_ENDPOINT_URL_LEN: usize = 2048;

/// Feeds arbitrary text to every URL check: as a provider's authorization
/// endpoint and as a redirect URI ([`oauth::authorization_url`],
/// [`oauth::token_request_form`]), as the redirect URI of a server-side flow
/// (the Vault's), and as a webhook endpoint URL. Returns whether any of them
/// accepted it.
///
/// Must never panic, and what is accepted must be what the `url` crate (as
/// HTTP clients parse) calls an `https` URL with a host, or an `http` URL
/// whose host is exactly loopback, with no userinfo and no fragment, and
/// never holds a backslash (which parsers read differently); a
/// native-app redirect URI must have a reverse-domain scheme (never
/// `javascript:`, `data:`, `file:`...). The authorization URL built must
/// carry each parameter exactly once, with the values given: an endpoint's
/// own query can neither add nor override one.
pub fn endpoint_url(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let mut accepted = false;

    if let Ok(url) = oauth::authorization_url(&text, CLIENT, REDIRECT, &["repo"], STATE, CHALLENGE)
    {
        accepted = true;
        assert_web_url(&text, true);
        assert!(url.starts_with(&*text));
        assert_parameters(&url, REDIRECT, Some("repo"));
    }

    let redirect = oauth::authorization_url(ENDPOINT, CLIENT, &text, &[], STATE, CHALLENGE);
    if let Ok(url) = &redirect {
        accepted = true;
        assert_redirect_uri(&text);
        assert_parameters(url, &text, None);
    }
    if let Ok(verifier) = PkceVerifier::new(VERIFIER.to_owned()) {
        let form = oauth::token_request_form("code-1", &text, CLIENT, &verifier);
        assert_eq!(
            form.is_ok(),
            redirect.is_ok(),
            "the token request and the authorization URL disagree on a redirect URI"
        );
    }

    if oauth::check_web_redirect_uri(&text).is_ok() {
        accepted = true;
        assert_web_url(&text, false);
    }
    if crate::vault::check_endpoint_url(&text).is_ok() {
        accepted = true;
        assert!(text.len() <= MAX_ENDPOINT_URL_LEN);
        assert_web_url(&text, false);
    }
    accepted
}

/// `https://` with a host or `http://` to exactly a loopback host, as the
/// `url` crate parses it; no userinfo, no fragment, no backslash, no
/// whitespace or control character; ASCII only when `ascii_only`.
fn assert_web_url(text: &str, ascii_only: bool) {
    assert!(!text.contains('\\'), "a URL with a backslash was accepted");
    assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert!(!text.contains('#'));
    assert!(!ascii_only || text.is_ascii());
    let parsed = url::Url::parse(text);
    assert!(parsed.is_ok(), "an accepted URL the url crate cannot parse");
    let Ok(url) = parsed else { return };
    assert!(url.username().is_empty() && url.password().is_none());
    assert!(url.fragment().is_none());
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        None => false,
    };
    let has_host = url.host_str().is_some_and(|h| !h.is_empty());
    let scheme = url.scheme();
    assert!(
        scheme == "https" || scheme == "http",
        "a web URL with the scheme `{scheme}`"
    );
    assert!(
        scheme != "https" || has_host,
        "an https URL without a host was accepted"
    );
    assert!(
        scheme != "http" || loopback,
        "an http URL to a non-loopback host was accepted"
    );
    // The raw text says the same: its scheme is the parsed one, and its
    // authority has no userinfo.
    let raw = text.split_once("://");
    assert!(raw.is_some_and(|(s, _)| s.eq_ignore_ascii_case(url.scheme())));
    let authority = raw.map_or("", |(_, rest)| {
        rest.split(['/', '\\', '?', '#']).next().unwrap_or_default()
    });
    assert!(!authority.contains('@'));
}

/// A redirect URI: a web URL as above, or a native app's reverse-domain
/// private-use scheme (RFC 8252 section 7.1) without userinfo.
fn assert_redirect_uri(text: &str) {
    let scheme = text.split_once(':').map_or("", |(s, _)| s);
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        assert_web_url(text, false);
        return;
    }
    assert!(
        !text.contains('\\'),
        "a redirect URI with a backslash was accepted"
    );
    assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
    assert!(!text.contains('#') && !text.contains('@'));
    assert!(scheme.contains('.'), "a redirect URI scheme without a dot");
    assert!(
        scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    );
    assert!(
        scheme
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
    );
}

/// The query of an authorization URL has each parameter exactly once, with
/// the values given.
fn assert_parameters(url: &str, redirect: &str, scope: Option<&str>) {
    let parsed = url::Url::parse(url);
    assert!(
        parsed.is_ok(),
        "an authorization URL the url crate cannot parse"
    );
    let Ok(parsed) = parsed else { return };
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let expected = [
        ("response_type", Some("code")),
        ("client_id", Some(CLIENT)),
        ("redirect_uri", Some(redirect)),
        ("scope", scope),
        ("state", Some(STATE)),
        ("code_challenge", Some(CHALLENGE)),
        ("code_challenge_method", Some(oauth::METHOD)),
    ];
    for (name, want) in expected {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        let want: Vec<&str> = want.into_iter().collect();
        assert_eq!(values, want, "parameter `{name}` of an authorization URL");
    }
}

/// Feeds arbitrary text to [`PkceVerifier::new`]. Returns whether it was
/// accepted.
///
/// Must never panic; accepts exactly the RFC 7636 section 4.1 verifiers (43
/// to 128 characters of `[A-Za-z0-9-._~]`); an accepted verifier is kept
/// verbatim, its challenge is `BASE64URL(SHA-256(verifier))` computed here
/// independently, and it reaches the token request unchanged; a refusal
/// never repeats the text.
pub fn pkce_verifier(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data).into_owned();
    let valid = (oauth::MIN_VERIFIER_LEN..=oauth::MAX_VERIFIER_LEN).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    match PkceVerifier::new(text.clone()) {
        Ok(verifier) => {
            assert!(valid, "an invalid PKCE verifier was accepted");
            assert_eq!(verifier.expose_secret(), text);
            let challenge = verifier.challenge();
            assert_eq!(
                challenge,
                URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
            );
            assert_eq!(challenge.len(), 43);
            assert_eq!(format!("{verifier:?}"), "PkceVerifier([REDACTED])");
            let form = oauth::token_request_form("code-1", REDIRECT, CLIENT, &verifier);
            let suffix = format!("&code_verifier={text}");
            assert!(form.is_ok_and(|f| f.expose_secret().ends_with(&suffix)));
            true
        }
        Err(e) => {
            assert!(!valid, "a valid PKCE verifier was refused");
            if text.len() >= MIN_LEAK_LEN && !text.contains(' ') {
                assert!(
                    !e.to_string().contains(&text),
                    "an error repeats the verifier"
                );
            }
            false
        }
    }
}
