//! OAuth 2.0 helpers: the RFC 7636 vector, verifier and state rules, token
//! response parsing, the sealed JSON round trip, the refresh boundary, URL
//! and form encoding, and redaction.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use secrets_core::oauth::{
    self, MAX_EXPIRES_IN_SECS, MAX_TOKEN_RESPONSE_LEN, PkceVerifier, REFRESH_BUFFER, TokenSet,
};
use secrets_core::{Error, SecretString, Timestamp};

const STATE: &str = "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b";
const NOW: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

fn challenge() -> String {
    PkceVerifier::generate().unwrap().challenge()
}

/// Splits a query or form body into decoded `(name, value)` pairs, as a
/// provider's form parser would (`+` and `%20` are both a space).
fn decode_pairs(query: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }
    query
        .split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

fn invalid_reason(err: &Error) -> String {
    match err {
        Error::InvalidInput { field, reason } => format!("{field}: {reason}"),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

// --- PKCE -----------------------------------------------------------------

#[test]
fn rfc7636_appendix_b_vector() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../data/pkce_rfc7636.json")).unwrap();
    assert!(file["source"].as_str().unwrap().contains("RFC 7636"));
    let tests = file["tests"].as_array().unwrap();
    assert!(!tests.is_empty());
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let octets: Vec<u8> = t["verifier_octets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u8::try_from(v.as_u64().unwrap()).unwrap())
            .collect();
        let verifier = t["code_verifier"].as_str().unwrap();
        // The verifier is base64url (no padding) of the 32 octets, as
        // `PkceVerifier::generate` builds its own.
        assert_eq!(URL_SAFE_NO_PAD.encode(&octets), verifier, "{name}");

        let v = PkceVerifier::new(verifier.to_owned()).unwrap();
        assert_eq!(v.expose_secret(), verifier, "{name}");
        assert_eq!(
            v.challenge(),
            t["code_challenge"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            v.challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "{name}"
        );
        assert_eq!(
            hex::encode(URL_SAFE_NO_PAD.decode(v.challenge()).unwrap()),
            t["sha256_of_verifier_hex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(oauth::METHOD, t["code_challenge_method"].as_str().unwrap());

        // The challenge and method reach the authorization URL as the RFC
        // shows them.
        let url = oauth::authorization_url(
            "https://server.example.com/authorize",
            "s6BhdRkqt3",
            "https://client.example.com/cb",
            &[],
            STATE,
            &v.challenge(),
        )
        .unwrap();
        assert!(
            url.ends_with(t["authorization_request_params"].as_str().unwrap()),
            "{url}"
        );
    }
    let example = &file["base64url_example"];
    let octets: Vec<u8> = example["octets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| u8::try_from(v.as_u64().unwrap()).unwrap())
        .collect();
    assert_eq!(
        URL_SAFE_NO_PAD.encode(octets),
        example["base64url_no_padding"].as_str().unwrap()
    );
}

#[test]
fn generated_verifiers_are_valid_and_distinct() {
    let mut seen = HashSet::new();
    let mut challenges = HashSet::new();
    for _ in 0..200 {
        let v = PkceVerifier::generate().unwrap();
        let s = v.expose_secret().to_owned();
        assert_eq!(s.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&s).unwrap().len(), 32);
        let again = PkceVerifier::new(s.clone()).unwrap();
        assert_eq!(again.challenge(), v.challenge());
        assert_eq!(v.challenge().len(), 43);
        assert!(seen.insert(s));
        assert!(challenges.insert(v.challenge()));
    }
}

#[test]
fn verifier_length_and_alphabet_follow_rfc7636() {
    assert!(PkceVerifier::new("a".repeat(43)).is_ok());
    assert!(PkceVerifier::new("~".repeat(128)).is_ok());
    assert!(PkceVerifier::new("Az09-._~".repeat(6)).is_ok());

    let secret_ish = "SEKRIT";
    let cases = [
        (
            "42 characters",
            format!("{secret_ish}{}", "a".repeat(36)),
            "42 characters",
        ),
        (
            "129 characters",
            format!("{secret_ish}{}", "a".repeat(123)),
            "129 characters",
        ),
        ("empty", String::new(), "0 characters"),
        (
            "plus",
            format!("{secret_ish}+{}", "a".repeat(40)),
            "character 7",
        ),
        (
            "slash",
            format!("{secret_ish}/{}", "a".repeat(40)),
            "character 7",
        ),
        (
            "padding",
            format!("{secret_ish}{}=", "a".repeat(40)),
            "character 47",
        ),
        (
            "space",
            format!("{secret_ish} {}", "a".repeat(40)),
            "character 7",
        ),
        (
            "percent",
            format!("{secret_ish}%41{}", "a".repeat(40)),
            "character 7",
        ),
        (
            "non-ASCII",
            format!("{secret_ish}é{}", "a".repeat(40)),
            "character 7",
        ),
        (
            "NUL",
            format!("{secret_ish}\0{}", "a".repeat(40)),
            "character 7",
        ),
        (
            "newline",
            format!("{}{secret_ish}\n", "a".repeat(40)),
            "character 47",
        ),
    ];
    for (name, input, want) in cases {
        let err = PkceVerifier::new(input).unwrap_err();
        let msg = invalid_reason(&err);
        assert!(msg.starts_with("code_verifier: "), "{name}: {msg}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(!msg.contains(secret_ish), "{name}: {msg}");
    }
}

// --- state ----------------------------------------------------------------

#[test]
fn state_is_a_random_uuid_v4() {
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let s = oauth::new_state().unwrap();
        oauth::check_state_format(&s).unwrap();
        let u = uuid::Uuid::parse_str(&s).unwrap();
        assert_eq!(u.get_version(), Some(uuid::Version::Random));
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        assert!(seen.insert(s));
    }
}

#[test]
fn state_format_is_strict() {
    oauth::check_state_format(STATE).unwrap();
    for bad in [
        "",
        "xyz",
        "0B1E6B5E-3C1F-4B7E-9A5D-2F9C8E7D6A5B",   // uppercase
        "0b1e6b5e3c1f4b7e9a5d2f9c8e7d6a5b",       // simple form
        "{0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b}", // braced
        "urn:uuid:0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b",
        " 0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b",
        "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5b\n",
        "0b1e6b5e-3c1f-7b7e-9a5d-2f9c8e7d6a5b", // version 7
        "0b1e6b5e-3c1f-1b7e-9a5d-2f9c8e7d6a5b", // version 1
        "0b1e6b5e-3c1f-4b7e-1a5d-2f9c8e7d6a5b", // NCS variant
        "00000000-0000-0000-0000-000000000000", // nil
        "0b1e6b5e-3c1f-4b7e-9a5d-2f9c8e7d6a5g",
    ] {
        let err = oauth::check_state_format(bad).unwrap_err();
        let msg = invalid_reason(&err);
        assert!(msg.starts_with("state: "), "{bad:?}: {msg}");
    }
}

// --- token responses ------------------------------------------------------

#[test]
fn token_responses_that_parse() {
    struct Case {
        name: &'static str,
        json: &'static str,
        refresh: Option<&'static str>,
        expires_in: Option<u64>,
        scopes: &'static [&'static str],
        token_type: &'static str,
    }
    let cases = [
        Case {
            name: "RFC 6749 section 5.1 example",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600,"refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","example_parameter":"example_value"}"#,
            refresh: Some("tGzv3JOkF0XG5Qx2TlKWIA"),
            expires_in: Some(3600),
            scopes: &[],
            token_type: "example",
        },
        Case {
            name: "minimal",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer"}"#,
            refresh: None,
            expires_in: None,
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "scopes, extra spaces, OIDC id_token ignored",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"bearer","scope":" openid  email https://www.googleapis.com/auth/drive.file ","id_token":{"nested":[1,2,{"x":null}]}}"#,
            refresh: None,
            expires_in: None,
            scopes: &[
                "openid",
                "email",
                "https://www.googleapis.com/auth/drive.file",
            ],
            token_type: "bearer",
        },
        Case {
            name: "expires_in as a string (Azure AD v1, older Facebook)",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":"3599"}"#,
            refresh: None,
            expires_in: Some(3599),
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "nulls count as absent",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":null,"refresh_token":null,"scope":null,"error":null}"#,
            refresh: None,
            expires_in: None,
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "empty refresh token counts as absent",
            json: r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","refresh_token":""}"#,
            refresh: None,
            expires_in: None,
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "GitHub's comma list stays one scope",
            json: r#"{"access_token":"gho_16C7e42F292c6912E7710c838347Ae178B4a","token_type":"bearer","scope":"repo,gist"}"#,
            refresh: None,
            expires_in: None,
            scopes: &["repo,gist"],
            token_type: "bearer",
        },
        Case {
            name: "expires_in zero and the 10-year limit",
            json: r#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
            refresh: None,
            expires_in: Some(0),
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "expires_in at the limit",
            json: r#"{"access_token":"a","token_type":"Bearer","expires_in":315360000}"#,
            refresh: None,
            expires_in: Some(MAX_EXPIRES_IN_SECS),
            scopes: &[],
            token_type: "Bearer",
        },
        Case {
            name: "escaped characters and whitespace",
            json: "{ \"access_token\" : \"a\\u0062c\\/d\" ,\n\t\"token_type\":\"Bearer\" }",
            refresh: None,
            expires_in: None,
            scopes: &[],
            token_type: "Bearer",
        },
    ];
    for c in cases {
        let t = TokenSet::from_token_response(c.json.as_bytes(), NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let want_access = if c.name.starts_with("escaped") {
            "abc/d".to_owned()
        } else {
            serde_json::from_str::<serde_json::Value>(c.json).unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(t.access_token.expose_secret(), want_access, "{}", c.name);
        assert_eq!(
            t.refresh_token.as_ref().map(SecretString::expose_secret),
            c.refresh,
            "{}",
            c.name
        );
        assert_eq!(
            t.expires_at,
            c.expires_in
                .map(|s| NOW.saturating_add(Duration::from_secs(s))),
            "{}",
            c.name
        );
        assert_eq!(t.scopes, c.scopes, "{}", c.name);
        assert_eq!(t.token_type, c.token_type, "{}", c.name);
    }
}

#[test]
fn token_responses_that_are_refused() {
    // Every token in these bodies contains SEKRIT; no message may.
    let cases: &[(&str, &[u8], &str)] = &[
        ("missing access_token", br#"{"token_type":"Bearer","refresh_token":"SEKRIT"}"#, "`access_token` is missing"),
        ("missing token_type", br#"{"access_token":"SEKRIT"}"#, "`token_type` is missing"),
        ("null access_token", br#"{"access_token":null,"token_type":"Bearer"}"#, "`access_token` is missing"),
        ("numeric access_token", br#"{"access_token":12345,"token_type":"Bearer"}"#, "`access_token` must be a string"),
        ("object access_token", br#"{"access_token":{"v":"SEKRIT"},"token_type":"Bearer"}"#, "`access_token` must be a string"),
        ("empty access_token", br#"{"access_token":"","token_type":"Bearer"}"#, "`access_token` must be"),
        ("control character in access_token", b"{\"access_token\":\"SEKRIT\\r\\nX-Evil: 1\",\"token_type\":\"Bearer\"}", "`access_token` must be"),
        ("non-ASCII access_token", "{\"access_token\":\"SEKRITé\",\"token_type\":\"Bearer\"}".as_bytes(), "`access_token` must be"),
        ("control character in refresh_token", b"{\"access_token\":\"SEKRIT\",\"refresh_token\":\"SEKRIT\\n\",\"token_type\":\"Bearer\"}", "`refresh_token` must be"),
        ("numeric refresh_token", br#"{"access_token":"SEKRIT","refresh_token":5,"token_type":"Bearer"}"#, "`refresh_token` must be a string"),
        ("token_type with space", br#"{"access_token":"SEKRIT","token_type":"Bear er"}"#, "`token_type` must be"),
        ("empty token_type", br#"{"access_token":"SEKRIT","token_type":""}"#, "`token_type` must be"),
        ("negative expires_in", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":-1}"#, "`expires_in` is negative"),
        ("expires_in over 10 years", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":315360001}"#, "more than the limit"),
        ("huge expires_in", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":18446744073709551615}"#, "more than the limit"),
        ("huge expires_in string", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":"99999999999999999999"}"#, "out of range"),
        ("fractional expires_in", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":3600.5}"#, "whole number of seconds"),
        ("float expires_in", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":1e3}"#, "whole number of seconds"),
        ("non-numeric expires_in string", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":"1h"}"#, "whole number of seconds"),
        ("negative expires_in string", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":"-5"}"#, "whole number of seconds"),
        ("boolean expires_in", br#"{"access_token":"SEKRIT","token_type":"Bearer","expires_in":true}"#, "whole number of seconds"),
        ("scope with a quote", br#"{"access_token":"SEKRIT","token_type":"Bearer","scope":"a \"b"}"#, "`scope` contains"),
        ("scope as an array", br#"{"access_token":"SEKRIT","token_type":"Bearer","scope":["a"]}"#, "`scope` must be a string"),
        ("duplicate access_token", br#"{"access_token":"SEKRIT1","access_token":"SEKRIT2","token_type":"Bearer"}"#, "appears twice"),
        ("duplicate after null", br#"{"refresh_token":null,"refresh_token":"SEKRIT","access_token":"SEKRIT","token_type":"Bearer"}"#, "appears twice"),
        ("array", br#"["SEKRIT","Bearer"]"#, "expected a JSON object"),
        ("string", br#""SEKRIT""#, "expected a JSON object"),
        ("number", b"42", "expected a JSON object"),
        ("null", b"null", "expected a JSON object"),
        ("empty body", b"", "EOF"),
        ("HTML error page", b"<html><body>502 Bad Gateway SEKRIT</body></html>", "expected value"),
        ("form-encoded body", b"access_token=SEKRIT&token_type=bearer", "expected"),
        ("truncated", br#"{"access_token":"SEKRIT","token_type":"Bea"#, "EOF"),
        ("trailing garbage", br#"{"access_token":"SEKRIT","token_type":"Bearer"} SEKRIT"#, "trailing characters"),
        ("two objects", br#"{"access_token":"SEKRIT","token_type":"Bearer"}{}"#, "trailing characters"),
        ("invalid UTF-8", b"{\"access_token\":\"SEKRIT\xff\",\"token_type\":\"Bearer\"}", "invalid unicode"),
        ("bad escape", br#"{"access_token":"SEKRIT\q","token_type":"Bearer"}"#, "invalid escape"),
        ("raw control character in a string", b"{\"access_token\":\"SEKRIT\x01\",\"token_type\":\"Bearer\"}", "control character"),
        ("error response", br#"{"error":"invalid_grant","error_description":"refresh token SEKRIT was revoked"}"#, "returned error `invalid_grant`"),
        ("error beside tokens", br#"{"access_token":"SEKRIT","token_type":"Bearer","error":"invalid_request"}"#, "returned error `invalid_request`"),
        ("error code with a quote", br#"{"error":"SEKRIT\"x"}"#, "malformed `error` code"),
        ("error code with a newline", b"{\"error\":\"SEKRIT\\nx\"}", "malformed `error` code"),
        ("error code not a string", br#"{"error":{"code":"SEKRIT"}}"#, "malformed `error` code"),
        ("empty error code", br#"{"error":""}"#, "malformed `error` code"),
    ];
    for (name, json, want) in cases {
        let err = TokenSet::from_token_response(json, NOW).unwrap_err();
        let msg = invalid_reason(&err);
        assert!(msg.starts_with("token_response: "), "{name}: {msg}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(!msg.contains("SEKRIT"), "{name}: {msg}");
        assert!(!err.to_string().contains("SEKRIT"), "{name}");
    }
}

/// `docs/FORMATS.md`: a member the parser reads may not repeat; any other
/// member may, and is ignored each time (RFC 6749 §5.1: ignore what you do
/// not understand).
#[test]
fn repeated_unknown_members_are_ignored_repeated_known_ones_refused() {
    let body = br#"{"id_token":"x","access_token":"at","id_token":{"y":1},"token_type":"Bearer","id_token":null}"#;
    let t = TokenSet::from_token_response(body, NOW).unwrap();
    assert_eq!(t.access_token, SecretString::from("at"));
    for (member, value) in [
        ("token_type", r#""Bearer""#),
        ("expires_in", "60"),
        ("scope", r#""read""#),
        ("refresh_token", r#""rt""#),
    ] {
        let mut members = vec![r#""access_token":"at""#.to_owned()];
        if member != "token_type" {
            members.push(r#""token_type":"Bearer""#.to_owned());
        }
        members.extend([
            format!(r#""{member}":{value}"#),
            format!(r#""{member}":{value}"#),
        ]);
        let body = format!("{{{}}}", members.join(","));
        let err = TokenSet::from_token_response(body.as_bytes(), NOW).unwrap_err();
        assert!(
            invalid_reason(&err).contains("appears twice"),
            "{member}: {err}"
        );
    }
}

#[test]
fn oversized_token_responses_are_refused_before_parsing() {
    let padding = "x".repeat(MAX_TOKEN_RESPONSE_LEN);
    let json = format!(r#"{{"access_token":"a","token_type":"Bearer","pad":"{padding}"}}"#);
    let err = TokenSet::from_token_response(json.as_bytes(), NOW).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { len, max, .. } if len == json.len() && max == 65_536),
        "{err:?}"
    );

    // Exactly at the limit is parsed.
    let head = r#"{"access_token":"a","token_type":"Bearer","pad":""#;
    let fill = "x".repeat(MAX_TOKEN_RESPONSE_LEN - head.len() - 2);
    let at_limit = format!("{head}{fill}\"}}");
    assert_eq!(at_limit.len(), MAX_TOKEN_RESPONSE_LEN);
    TokenSet::from_token_response(at_limit.as_bytes(), NOW).unwrap();

    // Deep nesting never overflows the stack: skipped without recursion in
    // an ignored member, refused at serde_json's depth limit in a read one.
    let nest = |member: &str| {
        format!(
            r#"{{"access_token":"a","token_type":"Bearer","{member}":{}{}}}"#,
            "[".repeat(30_000),
            "]".repeat(30_000)
        )
    };
    TokenSet::from_token_response(nest("ignored").as_bytes(), NOW).unwrap();
    let err = TokenSet::from_token_response(nest("scope").as_bytes(), NOW).unwrap_err();
    assert!(invalid_reason(&err).contains("recursion limit"), "{err}");
}

#[test]
fn refresh_responses_keep_what_the_provider_did_not_resend() {
    let first = TokenSet::from_token_response(
        br#"{"access_token":"a1","token_type":"Bearer","expires_in":60,"refresh_token":"r1","scope":"repo user"}"#,
        NOW,
    )
    .unwrap();
    let later = NOW.saturating_add(Duration::from_secs(120));

    // No refresh token, no scope: keep both.
    let kept = TokenSet::from_refresh_response(
        br#"{"access_token":"a2","token_type":"Bearer","expires_in":60}"#,
        later,
        &first,
    )
    .unwrap();
    assert_eq!(kept.access_token.expose_secret(), "a2");
    assert_eq!(kept.refresh_token, Some(SecretString::from("r1")));
    assert_eq!(kept.scopes, ["repo", "user"]);
    assert_eq!(
        kept.expires_at,
        Some(later.saturating_add(Duration::from_secs(60)))
    );

    // Rotated refresh token and narrowed scope: take the new ones.
    let rotated = TokenSet::from_refresh_response(
        br#"{"access_token":"a3","token_type":"Bearer","refresh_token":"r2","scope":"repo"}"#,
        later,
        &first,
    )
    .unwrap();
    assert_eq!(rotated.refresh_token, Some(SecretString::from("r2")));
    assert_eq!(rotated.scopes, ["repo"]);
    assert_eq!(rotated.expires_at, None);

    // An error response is an error, not the previous tokens.
    let err = TokenSet::from_refresh_response(br#"{"error":"invalid_grant"}"#, later, &first)
        .unwrap_err();
    assert!(invalid_reason(&err).contains("`invalid_grant`"));
}

// --- sealed JSON ----------------------------------------------------------

fn sample() -> TokenSet {
    TokenSet::new(SecretString::from("ya29.a0AfH6SMBx-SEKRIT"))
        .with_refresh_token(SecretString::from("1//0gSEKRIT-refresh"))
        .with_expires_at(Timestamp::from_unix_millis(1_700_003_600_123))
        .with_scopes(["openid", "https://www.googleapis.com/auth/drive.file"])
}

#[test]
fn secret_json_has_the_documented_shape() {
    let t = sample();
    let json = t.to_secret_json();
    assert_eq!(
        std::str::from_utf8(json.expose_secret()).unwrap(),
        r#"{"v":1,"token_type":"Bearer","access_token":"ya29.a0AfH6SMBx-SEKRIT","refresh_token":"1//0gSEKRIT-refresh","expires_at_ms":1700003600123,"scopes":["openid","https://www.googleapis.com/auth/drive.file"]}"#
    );
    // Any JSON reader sees the same values.
    let v: serde_json::Value = serde_json::from_slice(json.expose_secret()).unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(v["expires_at_ms"], 1_700_003_600_123_i64);
    assert_eq!(TokenSet::from_secret_json(json.expose_secret()).unwrap(), t);

    let mut bare = sample();
    bare.refresh_token = None;
    bare.expires_at = None;
    bare.scopes = vec![];
    assert_eq!(
        std::str::from_utf8(bare.to_secret_json().expose_secret()).unwrap(),
        r#"{"v":1,"token_type":"Bearer","access_token":"ya29.a0AfH6SMBx-SEKRIT","refresh_token":null,"expires_at_ms":null,"scopes":[]}"#
    );
    assert_eq!(
        TokenSet::from_secret_json(bare.to_secret_json().expose_secret()).unwrap(),
        bare
    );
}

#[test]
fn secret_json_reader_is_tolerant_where_documented_and_strict_elsewhere() {
    // Written by another implementation: member order, optional members
    // absent, an unknown member.
    let t = TokenSet::from_secret_json(
        br#"{"access_token":"at","future_field":{"x":1},"token_type":"bearer","v":1,"expires_at_ms":-5}"#,
    )
    .unwrap();
    assert_eq!(t.access_token.expose_secret(), "at");
    assert_eq!(t.refresh_token, None);
    assert_eq!(t.expires_at, Some(Timestamp::from_unix_millis(-5)));
    assert!(t.scopes.is_empty());

    let cases: &[(&str, &[u8], &str)] = &[
        ("version 2", br#"{"v":2,"token_type":"Bearer","access_token":"SEKRIT"}"#, "version `2` is not supported"),
        ("version missing", br#"{"token_type":"Bearer","access_token":"SEKRIT"}"#, "`v` is missing"),
        ("version as string", br#"{"v":"1","token_type":"Bearer","access_token":"SEKRIT"}"#, "`v` must be an integer"),
        ("access_token missing", br#"{"v":1,"token_type":"Bearer","refresh_token":"SEKRIT"}"#, "`access_token` is missing"),
        ("access_token mistyped", br#"{"v":1,"token_type":"Bearer","access_token":["SEKRIT"]}"#, "`access_token` must be a string"),
        ("expiry as string", br#"{"v":1,"token_type":"Bearer","access_token":"SEKRIT","expires_at_ms":"1"}"#, "`expires_at_ms` must be an integer"),
        ("expiry out of range", br#"{"v":1,"token_type":"Bearer","access_token":"SEKRIT","expires_at_ms":9223372036854775808}"#, "out of range"),
        ("scopes mistyped", br#"{"v":1,"token_type":"Bearer","access_token":"SEKRIT","scopes":"a b"}"#, "`scopes` must be an array of strings"),
        ("scopes with a number", br#"{"v":1,"token_type":"Bearer","access_token":"SEKRIT","scopes":["a",1]}"#, "`scopes` must be an array of strings"),
        ("not JSON", b"\x01\x02SEKRIT", "not a valid JSON object"),
        ("duplicate", br#"{"v":1,"token_type":"Bearer","access_token":"SEKRIT","access_token":"SEKRIT"}"#, "appears twice"),
    ];
    for (name, json, want) in cases {
        let err = TokenSet::from_secret_json(json).unwrap_err();
        let msg = invalid_reason(&err);
        assert!(msg.starts_with("token_set: "), "{name}: {msg}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(!msg.contains("SEKRIT"), "{name}: {msg}");
    }
}

fn token_set() -> impl Strategy<Value = TokenSet> {
    (
        any::<String>(),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(any::<String>(), 0..5),
        any::<String>(),
    )
        .prop_map(|(access, refresh, expires, scopes, token_type)| {
            let mut set = TokenSet::new(SecretString::new(access))
                .with_scopes(scopes)
                .with_token_type(token_type);
            set.refresh_token = refresh.map(SecretString::new);
            set.expires_at = expires.map(Timestamp::from_unix_millis);
            set
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a host puts in a `TokenSet` (any Unicode, control
    /// characters, quotes) comes back out of the sealed JSON unchanged, and
    /// serde_json reads the same strings.
    #[test]
    fn secret_json_round_trips(t in token_set()) {
        let json = t.to_secret_json();
        let back = TokenSet::from_secret_json(json.expose_secret()).unwrap();
        prop_assert_eq!(&back, &t);
        let v: serde_json::Value = serde_json::from_slice(json.expose_secret()).unwrap();
        prop_assert_eq!(v["access_token"].as_str().unwrap(), t.access_token.expose_secret());
        prop_assert_eq!(v["token_type"].as_str().unwrap(), t.token_type.as_str());
    }

    /// The token response parser never panics and never puts token text in
    /// an error, whatever the bytes.
    #[test]
    fn token_response_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = TokenSet::from_token_response(&bytes, NOW);
        let _ = TokenSet::from_secret_json(&bytes);
    }

    #[test]
    fn wrongly_typed_members_never_leak(secret in "S[A-Za-z0-9]{8,24}") {
        for json in [
            format!(r#"{{"access_token":["{secret}"],"token_type":"Bearer"}}"#),
            format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":"{secret}"}}"#),
            format!(r#"{{"access_token":"a","token_type":["{secret}"]}}"#),
            format!(r#"{{"access_token":"a","token_type":"Bearer","scope":{{"{secret}":1}}}}"#),
            format!(r#"["{secret}"]"#),
            format!(r#""{secret}""#),
            format!(r#"{{"error":["{secret}"]}}"#),
        ] {
            let err = TokenSet::from_token_response(json.as_bytes(), NOW).unwrap_err();
            prop_assert!(!err.to_string().contains(&secret), "{}", err);
        }
    }
}

// --- refresh timing -------------------------------------------------------

#[test]
fn needs_refresh_at_the_five_minute_boundary() {
    let expiry = Timestamp::from_unix_seconds(2_000_000_000);
    let t = sample().with_expires_at(expiry);
    assert_eq!(REFRESH_BUFFER, Duration::from_secs(300));
    let boundary = expiry.saturating_sub(REFRESH_BUFFER);
    let ms = Duration::from_millis(1);

    // Inclusive: exactly 5 minutes left needs a refresh.
    assert!(t.needs_refresh(boundary));
    assert!(!t.needs_refresh(boundary.saturating_sub(ms)));
    assert!(!t.needs_refresh(expiry.saturating_sub(Duration::from_secs(3600))));
    assert!(t.needs_refresh(boundary.saturating_add(ms)));
    assert!(t.needs_refresh(expiry));
    assert!(t.needs_refresh(expiry.saturating_add(Duration::from_secs(86_400))));

    assert!(!t.is_expired(expiry.saturating_sub(ms)));
    assert!(t.is_expired(expiry));

    // Unknown expiry: never "needs refresh" on time alone.
    let mut unknown = sample();
    unknown.expires_at = None;
    assert!(!unknown.needs_refresh(Timestamp::from_unix_millis(i64::MAX)));
    assert!(!unknown.is_expired(Timestamp::from_unix_millis(i64::MAX)));

    // Parsed from a response: 300 s is refreshed at once, 301 s is not.
    let at = |secs: u64| {
        let json = format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{secs}}}"#);
        TokenSet::from_token_response(json.as_bytes(), NOW).unwrap()
    };
    assert!(at(300).needs_refresh(NOW));
    assert!(!at(301).needs_refresh(NOW));
    assert!(at(0).is_expired(NOW));

    // Saturation at the ends of time does not panic or wrap.
    let far = sample().with_expires_at(Timestamp::from_unix_millis(i64::MIN));
    assert!(far.needs_refresh(Timestamp::from_unix_millis(i64::MAX)));
}

// --- URLs and forms -------------------------------------------------------

#[test]
fn authorization_url_encodes_every_parameter() {
    let challenge = challenge();
    let redirect = "https://app.example/oauth/callback/ünïcödé?next=/a&b=c+d";
    let scopes = [
        "openid",
        "https://www.googleapis.com/auth/drive.file",
        "a:b/c?d=e&f+g%h@i!$'()*,;[]~",
    ];
    let url = oauth::authorization_url(
        "https://accounts.example/o/oauth2/v2/auth",
        "client id&x=y",
        redirect,
        &scopes,
        STATE,
        &challenge,
    )
    .unwrap();

    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "https://accounts.example/o/oauth2/v2/auth");
    // Only unreserved characters and escapes survive in the query.
    assert!(
        query
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%&=".contains(&b)),
        "{query}"
    );
    assert!(query.contains("redirect_uri=https%3A%2F%2Fapp.example%2Foauth%2Fcallback%2F%C3%BCn%C3%AFc%C3%B6d%C3%A9%3Fnext%3D%2Fa%26b%3Dc%2Bd"), "{query}");
    assert!(query.contains("&scope=openid%20https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fdrive.file%20a%3Ab%2Fc%3Fd%3De%26f%2Bg%25h%40i%21%24%27%28%29%2A%2C%3B%5B%5D~&"), "{query}");
    assert!(query.contains("client_id=client%20id%26x%3Dy&"), "{query}");

    // And a form decoder gets back exactly what went in, in order.
    let pairs = decode_pairs(query);
    let want: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "client id&x=y"),
        ("redirect_uri", redirect),
        ("scope", &scopes.join(" ")),
        ("state", STATE),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(pairs, want);

    // No scopes: no scope parameter at all.
    let url = oauth::authorization_url(
        "https://a.example/auth",
        "c",
        "https://b.example/cb",
        &[],
        STATE,
        &challenge,
    )
    .unwrap();
    assert!(!url.contains("scope="));
}

#[test]
fn authorization_url_endpoint_rules() {
    let ch = challenge();
    let url = |endpoint: &str| {
        oauth::authorization_url(endpoint, "c", "https://app.example/cb", &["s"], STATE, &ch)
    };
    for ok in [
        "https://provider.example/authorize",
        "HTTPS://provider.example/authorize",
        "https://provider.example:8443/authorize",
        "https://provider.example",
        "http://localhost:8080/authorize",
        "http://LOCALHOST/authorize",
        "http://127.0.0.1:9000/authorize",
        "http://[::1]:9000/authorize",
        "http://localhost?x=1",
    ] {
        url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    // A query already present is kept.
    let kept = url("https://login.example/tenant/authorize?prompt=consent").unwrap();
    assert!(
        kept.starts_with(
            "https://login.example/tenant/authorize?prompt=consent&response_type=code&"
        )
    );
    let kept = url("https://login.example/authorize?").unwrap();
    assert!(kept.starts_with("https://login.example/authorize?response_type=code&"));

    for (bad, want) in [
        ("http://provider.example/authorize", "must use https://"),
        (
            "http://localhost.evil.example/authorize",
            "must use https://",
        ),
        (
            "http://127.0.0.1.evil.example/authorize",
            "must use https://",
        ),
        ("http://localhost@evil.example/authorize", "userinfo"),
        ("https://user:pass@provider.example/authorize", "userinfo"),
        ("http://10.0.0.1/authorize", "must use https://"),
        ("ftp://provider.example/authorize", "must use https://"),
        ("javascript:alert(1)", "absolute https:// URL"),
        ("//provider.example/authorize", "absolute https:// URL"),
        ("provider.example/authorize", "absolute https:// URL"),
        ("https:///authorize", "has no host"),
        ("https://provider.example/authorize#frag", "fragment"),
        ("https://provider.example/authorize#", "fragment"),
        ("https://provider.example/author ize", "whitespace"),
        ("https://provider.example/authorize\r\nX: y", "whitespace"),
        ("https://bücher.example/authorize", "xn--"),
        ("", "is empty"),
        (
            "https://provider.example/authorize?code_challenge_method=plain",
            "already sets `code_challenge_method`",
        ),
        (
            "https://provider.example/authorize?x=1&state=abc",
            "already sets `state`",
        ),
        (
            "https://provider.example/authorize?redirect%5Furi=https://evil.example",
            "already sets `redirect_uri`",
        ),
        (
            "https://provider.example/authorize?response_type",
            "already sets `response_type`",
        ),
        (
            "https://provider.example/authorize?%zz=1",
            "malformed percent-escape",
        ),
    ] {
        let msg = invalid_reason(&url(bad).unwrap_err());
        assert!(msg.starts_with("endpoint: "), "{bad}: {msg}");
        assert!(msg.contains(want), "{bad}: {msg}");
    }
}

/// Found by the `endpoint_url` fuzz target: the text before the first `://`
/// was taken for the scheme, so the raw-text checks (a host, no userinfo)
/// read the wrong part of an endpoint like `https:/evil.example/a://b`,
/// which the URL parser forgives into `https://evil.example/a://b`.
#[test]
fn authorization_url_endpoint_scheme_is_the_one_the_parser_sees() {
    let ch = challenge();
    for bad in [
        "https:/evil.example/a://b",
        "https:evil.example/a://b",
        "HTTPS:/localhost/x://y",
        "http:/localhost/x://y",
        "https:/.://htt`://u54\\a%",
    ] {
        let err = oauth::authorization_url(bad, "c", "https://app.example/cb", &["s"], STATE, &ch)
            .unwrap_err();
        let msg = invalid_reason(&err);
        assert!(msg.starts_with("endpoint: "), "{bad}: {msg}");
    }
}

/// A backslash reads differently to different parsers: the WHATWG parser
/// (the `url` crate, browsers) takes `https://evil.example\@app.example/`
/// for the host `evil.example`, Python's `urllib.parse` for `app.example`.
/// RFC 3986 has no `\` in a URI, so none is accepted anywhere in an
/// endpoint or a redirect URI.
#[test]
fn a_backslash_is_refused_in_endpoints_and_redirect_uris() {
    let ch = challenge();
    let endpoint = "https://provider.example/authorize";
    let redirect = "https://app.example/cb";
    for bad in [
        "https://evil.example\\@app.example/",
        "https://app.example\\evil.example/cb",
        "https://app.example/c\\b",
        "https://app.example/cb?x=\\",
        "http://localhost\\@evil.example/cb",
        "https:\\\\evil.example/cb",
    ] {
        let msg = invalid_reason(
            &oauth::authorization_url(bad, "c", redirect, &[], STATE, &ch).unwrap_err(),
        );
        assert!(msg.starts_with("endpoint: "), "{bad}: {msg}");
        assert!(msg.contains("backslash"), "{bad}: {msg}");
        let msg = invalid_reason(
            &oauth::authorization_url(endpoint, "c", bad, &[], STATE, &ch).unwrap_err(),
        );
        assert!(msg.starts_with("redirect_uri: "), "{bad}: {msg}");
        assert!(msg.contains("backslash"), "{bad}: {msg}");
    }
    let msg = invalid_reason(
        &oauth::authorization_url(endpoint, "c", "com.example.app:/c\\b", &[], STATE, &ch)
            .unwrap_err(),
    );
    assert!(msg.contains("backslash"), "{msg}");
    // Percent-encoded, it is data.
    oauth::authorization_url(endpoint, "c", "https://app.example/c%5Cb", &[], STATE, &ch).unwrap();
}

#[test]
fn authorization_url_argument_rules() {
    let ch = challenge();
    let endpoint = "https://provider.example/authorize";
    // Redirect URIs.
    for ok in [
        "https://app.example/cb",
        "http://127.0.0.1:53117/cb",
        "http://localhost/cb",
        "com.example.app:/oauth2redirect",
        "http://127.8.9.10/cb",
        "http://[::1]:8080/cb",
    ] {
        oauth::authorization_url(endpoint, "c", ok, &[], STATE, &ch)
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for (bad, want) in [
        ("https://app.example/cb#x", "fragment"),
        ("http://app.example/cb", "must use https://"),
        ("/cb", "absolute URI"),
        ("cb", "absolute URI"),
        ("1app:/cb", "absolute URI"),
        ("", "is empty"),
        ("https://app.example/c b", "whitespace"),
        // Not loopback, whatever the prefix says (issue 8, attack 10).
        ("http://localhost.evil.example/cb", "must use https://"),
        ("http://127.0.0.1.nip.io/cb", "must use https://"),
        ("http://127.0.0.1@10.0.0.5/cb", "userinfo"),
        ("https://@app.example/cb", "userinfo"),
        ("https:///cb", "has no host"),
        // Schemes a browser acts on itself, and a private-use scheme that
        // is not a reversed domain name (RFC 8252 section 7.1).
        ("javascript:alert(1)", "reverse-domain"),
        ("data:text/html,x", "reverse-domain"),
        ("file:///etc/passwd", "reverse-domain"),
        ("myapp://callback", "reverse-domain"),
        ("com.example.app://user@host/cb", "userinfo"),
    ] {
        let msg = invalid_reason(
            &oauth::authorization_url(endpoint, "c", bad, &[], STATE, &ch).unwrap_err(),
        );
        assert!(msg.starts_with("redirect_uri: "), "{bad}: {msg}");
        assert!(msg.contains(want), "{bad}: {msg}");
    }
    // Scopes.
    for (bad, want) in [
        ("read write", "a space"),
        ("", "empty scope"),
        ("lecture-écriture", "non-ASCII"),
        ("a\"b", "0x22"),
        ("a\\b", "0x5c"),
        ("a\nb", "0x0a"),
    ] {
        let msg = invalid_reason(
            &oauth::authorization_url(
                endpoint,
                "c",
                "https://a.example/cb",
                &["ok", bad],
                STATE,
                &ch,
            )
            .unwrap_err(),
        );
        assert!(msg.starts_with("scopes: "), "{bad:?}: {msg}");
        assert!(msg.contains(want), "{bad:?}: {msg}");
    }
    // Client id, state, challenge.
    let err = |client: &str, state: &str, challenge: &str| {
        invalid_reason(
            &oauth::authorization_url(
                endpoint,
                client,
                "https://a.example/cb",
                &[],
                state,
                challenge,
            )
            .unwrap_err(),
        )
    };
    assert!(err("", STATE, &ch).starts_with("client_id: "));
    assert!(err("c\r\n", STATE, &ch).starts_with("client_id: "));
    assert!(err("c", "not-a-uuid", &ch).starts_with("state: "));
    assert!(err("c", STATE, "short").starts_with("challenge: "));
    assert!(err("c", STATE, &format!("{}=", &ch[..42])).starts_with("challenge: "));
    // Passing a (longer) verifier where the challenge belongs, the `plain`
    // method by mistake, is caught.
    let long = PkceVerifier::new("a".repeat(64)).unwrap();
    assert!(err("c", STATE, long.expose_secret()).starts_with("challenge: "));
}

#[test]
fn token_request_form_is_exact_and_decodes_back() {
    let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned()).unwrap();
    let body = oauth::token_request_form(
        "Splx/lOBe+ZQ=QYbYS6WxSbIA",
        "https://client.example.com/cb?a=1",
        "s6Bhd Rkqt3",
        &v,
    )
    .unwrap();
    assert_eq!(
        body.expose_secret(),
        "grant_type=authorization_code&code=Splx%2FlOBe%2BZQ%3DQYbYS6WxSbIA\
         &redirect_uri=https%3A%2F%2Fclient.example.com%2Fcb%3Fa%3D1\
         &client_id=s6Bhd%20Rkqt3&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    );
    assert_eq!(
        decode_pairs(body.expose_secret()),
        [
            ("grant_type", "authorization_code"),
            ("code", "Splx/lOBe+ZQ=QYbYS6WxSbIA"),
            ("redirect_uri", "https://client.example.com/cb?a=1"),
            ("client_id", "s6Bhd Rkqt3"),
            (
                "code_verifier",
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert!(!format!("{body:?}").contains("Splx"));

    for (code, redirect, client, field) in [
        ("", "https://a.example/cb", "c", "code"),
        ("SEKRIT\r\n", "https://a.example/cb", "c", "code"),
        ("SEKRITé", "https://a.example/cb", "c", "code"),
        ("c", "https://a.example/cb#f", "c", "redirect_uri"),
        ("c", "https://a.example/cb", "", "client_id"),
    ] {
        let msg =
            invalid_reason(&oauth::token_request_form(code, redirect, client, &v).unwrap_err());
        assert!(msg.starts_with(&format!("{field}: ")), "{msg}");
        assert!(!msg.contains("SEKRIT"), "{msg}");
    }
}

#[test]
fn refresh_request_form_is_exact() {
    let rt = SecretString::from("tGzv3JOkF0XG5Qx2TlKWIA/+=");
    let body = oauth::refresh_request_form(&rt, "s6BhdRkqt3", &["read", "write:all"]).unwrap();
    assert_eq!(
        body.expose_secret(),
        "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA%2F%2B%3D\
         &client_id=s6BhdRkqt3&scope=read%20write%3Aall"
    );
    assert_eq!(
        decode_pairs(body.expose_secret())[1],
        (
            "refresh_token".to_owned(),
            "tGzv3JOkF0XG5Qx2TlKWIA/+=".to_owned()
        )
    );
    assert!(!format!("{body:?}").contains("tGzv"));

    let no_scope = oauth::refresh_request_form(&rt, "c", &[]).unwrap();
    assert!(!no_scope.expose_secret().contains("scope="));

    for (token, scopes, field) in [
        ("", &[][..], "refresh_token"),
        ("SEKRIT\n", &[][..], "refresh_token"),
        ("ok", &["a b"][..], "scopes"),
    ] {
        let msg = invalid_reason(
            &oauth::refresh_request_form(&SecretString::from(token), "c", scopes).unwrap_err(),
        );
        assert!(msg.starts_with(&format!("{field}: ")), "{msg}");
        assert!(!msg.contains("SEKRIT"), "{msg}");
    }
}

// --- redaction ------------------------------------------------------------

#[test]
fn debug_never_shows_secrets() {
    let v =
        PkceVerifier::new("SEKRIT-verifier-0123456789-0123456789-0123456789".to_owned()).unwrap();
    let t = sample();
    for shown in [
        format!("{v:?}"),
        format!("{v:#?}"),
        format!("{t:?}"),
        format!("{t:#?}"),
        format!("{:?}", t.to_secret_json()),
        format!(
            "{:?}",
            oauth::token_request_form("SEKRIT-code", "https://a.example/cb", "c", &v).unwrap()
        ),
    ] {
        assert!(!shown.contains("SEKRIT"), "{shown}");
    }
    assert_eq!(format!("{v:?}"), "PkceVerifier([REDACTED])");
    // The non-secret parts stay visible, which is what a log needs.
    let shown = format!("{t:?}");
    assert!(
        shown.contains("Bearer") && shown.contains("openid"),
        "{shown}"
    );
}
