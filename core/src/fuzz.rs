//! Fuzzing harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the
//! ordinary test that replays their committed corpus. Not a public API:
//! compiled only with the `fuzzing` feature, which `fuzz/Cargo.toml` and this
//! crate's own tests enable.
//!
//! Each harness takes arbitrary bytes, must never panic, and asserts what
//! must hold of whatever its parser accepts (a round trip, a refusal, an
//! independent recomputation), so that a fuzzer finds wrong answers as well
//! as crashes. The harnesses in the submodules return whether the input was
//! accepted: the replay test pins committed seeds named `ok_*` (accepted)
//! and `bad_*` (refused), so the corpus is a table of known answers too.
//!
//! Several harnesses read the same text layout (`split_message`): `name:
//! value` lines up to the first blank line, then a body.
//!
//! Bearer values (`Vault::authenticate_bearer`'s parsing) are fuzzed by
//! `bearer::bearer_value`, against an independent reading of their rules.

mod bearer;
mod cors;
mod oauth;
mod row;
mod webhook;

pub use bearer::bearer_value;
pub use cors::cors_preflight;
pub use oauth::{endpoint_url, oauth_token_response, pkce_verifier};
pub use row::stored_row;
pub use webhook::{github_signature, webhook_headers, webhook_secret};

use std::borrow::Cow;

use crate::crypto::{Context, KeyRing, MasterKey};

/// Splits `data` at the first blank line (`\n\n`): the head as text (lossy
/// UTF-8) and the body as bytes. Without a blank line, all of it is head.
fn split_message(data: &[u8]) -> (Cow<'_, str>, &[u8]) {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 2..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    (String::from_utf8_lossy(head), body)
}

/// The `name: value` lines of a head (one space after the colon dropped);
/// lines without a colon are skipped.
fn header_lines(head: &str) -> Vec<(&str, &str)> {
    head.split('\n')
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name, value.strip_prefix(' ').unwrap_or(value)))
        .collect()
}

/// The value of the first line named `name` (case-insensitively).
fn find<'a>(lines: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// Feeds arbitrary bytes to [`KeyRing::open`]: the first byte chooses how
/// many of the following bytes form the context, the rest is the envelope.
/// Must never panic, and must never open (nothing here knows the key).
pub fn envelope_open(data: &[u8]) {
    let ring = KeyRing::new(MasterKey::from_array([0x5a; 32]));
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (ctx, envelope) = rest.split_at(usize::from(n).min(rest.len()));
    let context = Context::new([ctx]);
    let opened = ring.open(envelope, &context);
    assert!(opened.is_err(), "forged envelope opened");
    // Structure errors must agree with the parser.
    let _ = crate::crypto::Envelope::parse(envelope);
}

/// Feeds arbitrary text to the token parser and the leak scanner. Must never
/// panic (UTF-8 boundaries, lengths), and a parsed token must be exactly one
/// the scanner finds in the same text.
pub fn token_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let format = crate::token::TokenFormat::api();
    if let Ok(parsed) = format.parse(&text) {
        let found = format.scan(&text);
        assert_eq!(found.len(), 1, "a parsed token was not found by scan");
        assert_eq!(parsed.hash, crate::token::hash(&text));
    }
    let _ = crate::token::scan_all(&text, &[&format, &crate::token::TokenFormat::refresh()]);
}

/// Feeds arbitrary text to HS256 and EdDSA JWT decoding with fixed keys,
/// and to access-token validation (both algorithms) by a signer over a
/// fixed key ring. Must never
/// panic, and must never accept (nothing here knows the keys).
pub fn jwt_decode(data: &[u8]) {
    static SIGNER: std::sync::LazyLock<crate::Result<crate::jwt::JwtSigner>> =
        std::sync::LazyLock::new(|| {
            let ring = KeyRing::new(MasterKey::from_array([0x4b; 32]));
            crate::jwt::JwtSigner::new(Default::default(), std::sync::Arc::new(ring))
        });
    let text = String::from_utf8_lossy(data);
    let now = crate::clock::Timestamp::from_unix_seconds(1_700_000_000);
    let decoded = crate::jwt::decode_hs256::<serde_json::Value>(
        &text,
        &[0x4b; 32],
        now,
        std::time::Duration::from_secs(30),
    );
    assert!(decoded.is_err(), "a forged JWT was accepted");
    // EdDSA under a fixed public key (RFC 8037 A.1's), whose private key
    // nothing here uses to sign.
    const ED25519_PUBLIC: [u8; 32] = [
        0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07,
        0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07,
        0x51, 0x1a,
    ];
    let decoded = crate::jwt::decode_eddsa::<serde_json::Value>(
        &text,
        &ED25519_PUBLIC,
        now,
        std::time::Duration::from_secs(30),
    );
    assert!(decoded.is_err(), "a forged EdDSA JWT was accepted");
    // The same text read as a fetched JWK Set: refused or read, never a panic.
    let _ = crate::jwt::Jwks::from_json(&text);
    if let Ok(signer) = &*SIGNER {
        assert!(
            signer.validate(&text, now).is_err(),
            "a forged access token was accepted"
        );
    }
}

/// Feeds arbitrary text to the stored-hash parser (bcrypt modular crypt
/// format). Must never panic. Verification itself is not fuzzed: a valid
/// hash of cost 31 would take days.
pub fn stored_hash_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::password::PasswordPolicy::default().needs_rehash(&text);
}

/// Feeds arbitrary bytes to Standard Webhooks verification, GitHub-style
/// verification and webhook secret parsing. Layout: `name: value` header
/// lines up to the first blank line, then the payload; a header named
/// `x-secret` is parsed as a secret's text instead of being sent. Must never
/// panic; whatever verifies must be a message that one of the two fixed
/// secrets signs, and a parsed secret must round-trip through its text.
pub fn webhook_verify(data: &[u8]) {
    use crate::webhook::{self, Verifier, WebhookSecret};

    let (head, payload) = split_message(data);
    let mut headers = Vec::new();
    for (name, value) in header_lines(&head) {
        if name.eq_ignore_ascii_case("x-secret") {
            for secret in [
                WebhookSecret::parse(value),
                WebhookSecret::parse_lenient(value),
            ]
            .into_iter()
            .flatten()
            {
                let again = WebhookSecret::parse(secret.to_text().expose_secret());
                assert!(
                    again.is_ok_and(|a| a.expose_secret() == secret.expose_secret()),
                    "a webhook secret did not round-trip through its text"
                );
            }
            continue;
        }
        headers.push((name, value));
    }

    let (Ok(a), Ok(b)) = (
        WebhookSecret::from_bytes(&[0x5a; 32]),
        WebhookSecret::from_bytes(&[0x3c; 24]),
    ) else {
        return;
    };
    let verifier = Verifier::default().with_max_payload(64 * 1024);
    let now = crate::clock::Timestamp::from_unix_seconds(1_700_000_000);
    if let Ok(msg) = verifier.verify(&headers, payload, &[&a, &b], now) {
        let signature = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(webhook::HEADER_SIGNATURE))
            .map_or("", |(_, v)| *v);
        let signed_by_one = [&a, &b].into_iter().any(|s| {
            webhook::sign(&[s], &msg.id, msg.timestamp, payload)
                .is_ok_and(|signed| signature.split(' ').any(|e| e == signed.signature))
        });
        assert!(
            signed_by_one,
            "a webhook was accepted that neither secret signed"
        );
    }
    for (_, value) in &headers {
        let _ = verifier.verify_github(value, payload, b"fuzz secret");
    }
}
