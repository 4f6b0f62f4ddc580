//! Issuing and validating access tokens: rotation, tampering, algorithm
//! pinning, issuer and audience, expiry and not-before with the leeway.

use std::sync::Arc;
use std::time::Duration;

use secrets_core::crypto::{KeyId, KeyRing, MasterKey};
use secrets_core::jwt::{AccessClaims, JwtConfig, JwtSigner};
use secrets_core::rbac::Role;
use secrets_core::{Error, TenantId, Timestamp, UserId};
use serde_json::Value;

use crate::{b64, reason, unb64};

const NOW: i64 = 1_700_000_000;

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(NOW)
}

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes(&[byte; 32]).unwrap()
}

/// A ring of one key from `master(byte)`.
fn ring(byte: u8) -> Arc<KeyRing> {
    Arc::new(KeyRing::new(master(byte)))
}

fn signer(ring: &Arc<KeyRing>) -> JwtSigner {
    JwtSigner::new(JwtConfig::default(), Arc::clone(ring)).unwrap()
}

fn issue_at(jwt: &JwtSigner, at: Timestamp) -> (String, AccessClaims) {
    jwt.issue(
        UserId::generate(),
        TenantId::generate(),
        Role::Developer,
        vec!["secrets:read".into(), "apps:read".into()],
        0,
        at,
    )
    .unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(token.split('.').next().unwrap())).unwrap()
}

#[test]
fn round_trip() {
    let ring = ring(1);
    let jwt = signer(&ring);
    let user = UserId::generate();
    let tenant = TenantId::generate();
    let (token, claims) = jwt
        .issue(
            user,
            tenant,
            Role::Admin,
            vec!["users:manage".into()],
            0,
            now(),
        )
        .unwrap();
    assert_eq!(claims.sub, user);
    assert_eq!(claims.tid, tenant);
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.scopes, ["users:manage"]);
    assert_eq!((claims.iat, claims.nbf, claims.exp), (NOW, NOW, NOW + 900));
    assert_eq!(
        (claims.iss.as_str(), claims.aud.as_str()),
        ("secrets-core", "secrets-core")
    );
    assert_eq!(
        uuid::Uuid::parse_str(&claims.jti)
            .unwrap()
            .get_version_num(),
        4
    );
    assert_eq!(jwt.validate(&token, now()).unwrap(), claims);

    let header = header_of(&token);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], "1");

    // Each token gets its own id.
    let (_, again) = issue_at(&jwt, now());
    assert_ne!(again.jti, claims.jti);
}

#[test]
fn tampering_with_any_part_is_refused() {
    let ring = ring(2);
    let jwt = signer(&ring);
    let (token, _) = issue_at(&jwt, now());
    let parts: Vec<&str> = token.split('.').collect();

    // Payload: make the caller an admin, keep the signature.
    let mut claims: Value = serde_json::from_slice(&unb64(parts[1])).unwrap();
    claims["role"] = "admin".into();
    let forged = format!("{}.{}.{}", parts[0], b64(claims.to_string()), parts[2]);
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");

    // Signature: flip one bit of the tag.
    let mut tag = unb64(parts[2]);
    tag[7] ^= 0x01;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64(tag));
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");
    // A truncated or missing signature.
    let forged = format!("{}.{}.{}", parts[0], parts[1], &parts[2][..20]);
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");
    let forged = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");

    // Header: same kid and algorithm, different bytes.
    let header = r#"{"kid":"1","typ":"at+jwt","alg":"HS256"}"#;
    let forged = format!("{}.{}.{}", b64(header), parts[1], parts[2]);
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");

    // Not a JWT at all.
    for junk in [
        "",
        ".",
        "..",
        "a.b",
        "a.b.c.d",
        "not a token",
        &parts[..2].join("."),
    ] {
        assert_eq!(reason(jwt.validate(junk, now())), "malformed", "{junk:?}");
    }
    let huge = format!("{token}{}", "A".repeat(9000));
    assert_eq!(reason(jwt.validate(&huge, now())), "too large");
}

#[test]
fn alg_none_and_other_algorithms_are_refused() {
    let ring = ring(3);
    let jwt = signer(&ring);
    let (token, _) = issue_at(&jwt, now());
    let payload = token.split('.').nth(1).unwrap();

    for (header, why) in [
        (r#"{"alg":"none","typ":"at+jwt","kid":"1"}"#, "malformed"),
        (r#"{"alg":"None","typ":"at+jwt","kid":"1"}"#, "malformed"),
        (
            r#"{"alg":"HS384","typ":"at+jwt","kid":"1"}"#,
            "algorithm not allowed",
        ),
        (
            r#"{"alg":"HS512","typ":"at+jwt","kid":"1"}"#,
            "algorithm not allowed",
        ),
        (
            r#"{"alg":"RS256","typ":"at+jwt","kid":"1"}"#,
            "algorithm not allowed",
        ),
        (
            r#"{"alg":"ES256","typ":"at+jwt","kid":"1"}"#,
            "algorithm not allowed",
        ),
        (
            r#"{"alg":"EdDSA","typ":"at+jwt","kid":"1"}"#,
            "algorithm not allowed",
        ),
    ] {
        let unsigned = format!("{}.{payload}.", b64(header));
        assert_eq!(reason(jwt.validate(&unsigned, now())), why, "{header}");
        let with_sig = format!(
            "{}.{payload}.{}",
            b64(header),
            token.split('.').nth(2).unwrap()
        );
        assert_eq!(reason(jwt.validate(&with_sig, now())), why, "{header}");
    }
}

#[test]
fn issuer_and_audience_must_match_exactly() {
    let ring = ring(4);
    let ours = signer(&ring);
    let other_iss = JwtSigner::new(
        {
            let mut c = JwtConfig::default();
            c.issuer = "secrets-core-staging".into();
            c
        },
        Arc::clone(&ring),
    )
    .unwrap();
    let other_aud = JwtSigner::new(
        {
            let mut c = JwtConfig::default();
            c.audience = "Secrets-core".into();
            c
        },
        Arc::clone(&ring),
    )
    .unwrap();
    // Same ring, same key: only the claims differ.
    let (token, _) = issue_at(&other_iss, now());
    assert_eq!(reason(ours.validate(&token, now())), "wrong issuer");
    let (token, _) = issue_at(&other_aud, now());
    assert_eq!(reason(ours.validate(&token, now())), "wrong audience");
    assert!(other_aud.validate(&token, now()).is_ok());
}

#[test]
fn expiry_and_not_before_use_the_injected_clock_and_the_leeway() {
    let ring = ring(5);
    let jwt = signer(&ring); // ttl 15 min, leeway 30 s
    let (token, claims) = issue_at(&jwt, now());
    let at = |s: i64| Timestamp::from_unix_seconds(s);

    assert!(jwt.validate(&token, at(claims.exp - 1)).is_ok());
    // Past exp but within the leeway: accepted.
    assert!(jwt.validate(&token, at(claims.exp)).is_ok());
    assert!(jwt.validate(&token, at(claims.exp + 29)).is_ok());
    // At exp + leeway and beyond: refused.
    assert_eq!(reason(jwt.validate(&token, at(claims.exp + 30))), "expired");
    assert_eq!(
        reason(jwt.validate(&token, at(claims.exp + 3600))),
        "expired"
    );

    // Issued for a time in the future: not yet valid, except within the leeway.
    let (future, claims) = issue_at(&jwt, at(NOW + 3600));
    assert_eq!(reason(jwt.validate(&future, now())), "not yet valid");
    assert_eq!(
        reason(jwt.validate(&future, at(claims.nbf - 31))),
        "not yet valid"
    );
    assert!(jwt.validate(&future, at(claims.nbf - 30)).is_ok());

    // With no leeway, exp itself is too late.
    let strict = JwtSigner::new(
        {
            let mut c = JwtConfig::default();
            c.leeway = Duration::ZERO;
            c.ttl = Duration::from_secs(60);
            c
        },
        Arc::clone(&ring),
    )
    .unwrap();
    let (token, claims) = issue_at(&strict, now());
    assert_eq!(claims.exp, NOW + 60);
    assert!(
        strict
            .validate(&token, Timestamp::from_unix_millis((NOW + 60) * 1000 - 1))
            .is_ok()
    );
    assert_eq!(reason(strict.validate(&token, at(NOW + 60))), "expired");
}

#[test]
fn rotation_keeps_old_tokens_valid_and_moves_new_ones_to_the_new_key() {
    let ring = ring(6);
    let jwt = signer(&ring);
    let (old, old_claims) = issue_at(&jwt, now());
    assert_eq!(header_of(&old)["kid"], "1");

    assert_eq!(ring.rotate().unwrap().get(), 2);
    let (new, new_claims) = issue_at(&jwt, now());
    assert_eq!(header_of(&new)["kid"], "2");
    assert_eq!(jwt.validate(&old, now()).unwrap(), old_claims);
    assert_eq!(jwt.validate(&new, now()).unwrap(), new_claims);

    // A fresh signer (another process) over the same ring agrees.
    let other = signer(&ring);
    assert!(other.validate(&old, now()).is_ok());
    assert!(other.validate(&new, now()).is_ok());

    // The keys really differ: key 2's token re-labelled as key 1 fails.
    let parts: Vec<&str> = new.split('.').collect();
    let relabelled = format!(
        "{}.{}.{}",
        b64(r#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#),
        parts[1],
        parts[2]
    );
    assert_eq!(reason(jwt.validate(&relabelled, now())), "bad signature");
}

#[test]
fn unknown_or_missing_kid_is_refused() {
    let ring = Arc::new(KeyRing::with_active(master(7), KeyId::new(3).unwrap()));
    let jwt = signer(&ring);
    let (token, _) = issue_at(&jwt, now());
    assert_eq!(header_of(&token)["kid"], "3");

    // A ring that has not rotated that far (an older deployment) does not
    // hold key 3.
    let behind = signer(&Arc::new(KeyRing::with_active(
        master(7),
        KeyId::new(2).unwrap(),
    )));
    assert_eq!(reason(behind.validate(&token, now())), "unknown key id");

    let parts: Vec<&str> = token.split('.').collect();
    for (header, why) in [
        (r#"{"typ":"at+jwt","alg":"HS256"}"#, "missing key id"),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"4"}"#,
            "unknown key id",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"0"}"#,
            "unknown key id",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"99999999999"}"#,
            "unknown key id",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"jwt/3"}"#,
            "unknown key id",
        ),
    ] {
        let forged = format!("{}.{}.{}", b64(header), parts[1], parts[2]);
        assert_eq!(reason(jwt.validate(&forged, now())), why, "{header}");
    }
}

#[test]
fn a_token_from_another_master_key_is_refused() {
    let ours = signer(&ring(8));
    let theirs = signer(&ring(9));
    let (token, _) = issue_at(&theirs, now());
    assert_eq!(reason(ours.validate(&token, now())), "bad signature");
    assert!(theirs.validate(&token, now()).is_ok());
    // Also after this signer issued tokens of its own.
    let (_, _) = issue_at(&ours, now());
    assert_eq!(reason(ours.validate(&token, now())), "bad signature");
}

#[test]
fn errors_never_contain_the_token() {
    let ring = ring(10);
    let jwt = signer(&ring);
    let (token, claims) = issue_at(&jwt, now());
    let parts: Vec<&str> = token.split('.').collect();
    let later = Timestamp::from_unix_seconds(claims.exp + 3600);
    let other = signer(&Arc::new(KeyRing::new(master(11))));
    let attempts = [
        jwt.validate(&token, later),
        other.validate(&token, now()),
        jwt.validate(&format!("{}.{}.{}x", parts[0], parts[1], parts[2]), now()),
        jwt.validate(&format!("{}x.{}.{}", parts[0], parts[1], parts[2]), now()),
        jwt.validate(&format!("{}.{}", parts[0], parts[1]), now()),
        jwt.validate(&token.replace('.', "!"), now()),
    ];
    for result in attempts {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidToken { .. }), "{err:?}");
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(shown.starts_with("token rejected") || shown.starts_with("InvalidToken"));
            for part in &parts {
                assert!(!shown.contains(&part[..16]), "{shown}");
            }
            assert!(!shown.contains(&claims.jti), "{shown}");
            assert!(!shown.contains(&claims.sub.to_string()), "{shown}");
        }
    }
}

#[test]
fn debug_of_the_signer_shows_no_key_material() {
    let ring = Arc::new(KeyRing::new(
        MasterKey::from_bytes(b"MASTER-KEY-BYTES-0123456789abcde").unwrap(),
    ));
    let jwt = signer(&ring);
    let (_, _) = issue_at(&jwt, now());
    ring.rotate().unwrap();
    let (_, _) = issue_at(&jwt, now());
    for shown in [format!("{jwt:?}"), format!("{jwt:#?}")] {
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert!(!shown.contains("MASTER-KEY"), "{shown}");
        assert!(!shown.contains("77, 65, 83"), "{shown}");
    }
}
