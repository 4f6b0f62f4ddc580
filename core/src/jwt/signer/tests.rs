use crate::error::TokenRejection;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha384};

use super::*;
use crate::crypto::MasterKey;
use crate::jwt::{MAX_LEEWAY, MAX_TTL};

const NOW: i64 = 1_700_000_000;

fn ring(byte: u8) -> Arc<KeyRing> {
    Arc::new(KeyRing::new(MasterKey::from_bytes(&[byte; 32]).unwrap()))
}

fn signer(ring: &Arc<KeyRing>) -> JwtSigner {
    JwtSigner::new(JwtConfig::default(), Arc::clone(ring)).unwrap()
}

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(NOW)
}

fn issue(jwt: &JwtSigner) -> (String, AccessClaims) {
    jwt.issue(
        UserId::generate(),
        TenantId::generate(),
        Role::Developer,
        vec!["secrets:read".to_owned()],
        0,
        now(),
    )
    .unwrap()
}

fn reason(r: Result<AccessClaims>) -> &'static str {
    match r {
        Err(Error::InvalidToken { reason }) => reason.as_str(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_signing_key_is_the_documented_subkey() {
    // Recomputed with the hmac crate directly: key n = subkey "jwt/n",
    // i.e. HMAC-SHA256(master, "secrets-core/v1/subkey/jwt/1").
    let (token, claims) = issue(&signer(&ring(0x42)));
    let mut derive = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
    derive.update(b"secrets-core/v1/subkey/jwt/1");
    let key = derive.finalize().into_bytes();
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(message.as_bytes());
    assert_eq!(
        B64.decode(signature).unwrap(),
        mac.finalize().into_bytes().to_vec()
    );
    // The header and the payload, byte for byte.
    let (header, payload) = message.split_once('.').unwrap();
    assert_eq!(
        B64.decode(header).unwrap(),
        br#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#
    );
    assert_eq!(
        B64.decode(payload).unwrap(),
        serde_json::to_vec(&claims).unwrap()
    );
}

#[test]
fn keys_are_derived_once_per_id_and_kept() {
    let ring = ring(3);
    let jwt = signer(&ring);
    assert_eq!(
        jwt.keys.read().unwrap().keys().copied().collect::<Vec<_>>(),
        [KeyId::FIRST]
    );
    let (old, _) = issue(&jwt);
    ring.rotate().unwrap();
    // Validating under key 1 derives nothing new; issuing under key 2 does.
    assert!(jwt.validate(&old, now()).is_ok());
    assert_eq!(jwt.keys.read().unwrap().len(), 1);
    let (new, _) = issue(&jwt);
    assert_eq!(jwt.keys.read().unwrap().len(), 2);
    assert!(jwt.validate(&new, now()).is_ok());
    // A signer built after the rotation derives key 1 only when a token
    // names it.
    let late = signer(&ring);
    assert_eq!(
        late.keys
            .read()
            .unwrap()
            .keys()
            .map(|k| k.get())
            .collect::<Vec<_>>(),
        [2]
    );
    assert!(late.validate(&old, now()).is_ok());
    assert_eq!(late.keys.read().unwrap().len(), 2);
    // An id the ring does not hold is refused before anything is derived.
    let key3 = ring.derive_subkey("jwt/3");
    let forged = forge(
        r#"{"typ":"at+jwt","alg":"HS256","kid":"3"}"#,
        &payload_of(&new),
        &key3[..],
        false,
    );
    assert_eq!(reason(late.validate(&forged, now())), "unknown key id");
    assert_eq!(late.keys.read().unwrap().len(), 2);
}

/// `header.payload.signature` with `header` and `payload` as given and
/// an HMAC under `key` (HS256 unless `sha384`).
fn forge(header: &str, payload: &str, key: &[u8], sha384: bool) -> String {
    let message = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let tag = if sha384 {
        let mut mac = <Hmac<Sha384> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    } else {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message.as_bytes());
        mac.finalize().into_bytes().to_vec()
    };
    format!("{message}.{}", B64.encode(tag))
}

fn payload_of(token: &str) -> String {
    String::from_utf8(B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

#[test]
fn headers_signed_with_the_right_key_are_still_checked() {
    let ring = ring(5);
    let jwt = signer(&ring);
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    let key = ring.derive_subkey("jwt/1");

    // The forging helper reproduces a valid token: the checks below fail
    // for their header alone.
    let good = forge(
        r#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#,
        &payload,
        &key[..],
        false,
    );
    assert_eq!(good, token);

    let cases = [
        (
            r#"{"typ":"at+jwt","alg":"HS384","kid":"1"}"#,
            true,
            "algorithm not allowed",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS512","kid":"1"}"#,
            false,
            "algorithm not allowed",
        ),
        (
            r#"{"typ":"at+jwt","alg":"RS256","kid":"1"}"#,
            false,
            "algorithm not allowed",
        ),
        (
            r#"{"typ":"at+jwt","alg":"none","kid":"1"}"#,
            false,
            "malformed",
        ),
        (r#"{"typ":"at+jwt","kid":"1"}"#, false, "malformed"),
        (
            r#"{"typ":"JWT","alg":"HS256","kid":"1"}"#,
            false,
            "wrong type",
        ),
        (r#"{"alg":"HS256","kid":"1"}"#, false, "wrong type"),
        (r#"{"typ":"at+jwt","alg":"HS256"}"#, false, "missing key id"),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"2"}"#,
            false,
            "unknown key id",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"01"}"#,
            false,
            "unknown key id",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":1}"#,
            false,
            "malformed",
        ),
        (
            r#"{"typ":"at+jwt","alg":"HS256","kid":"1","crit":["exp"]}"#,
            false,
            "unsupported critical header",
        ),
    ];
    for (header, sha384, why) in cases {
        let forged = forge(header, &payload, &key[..], sha384);
        assert_eq!(reason(jwt.validate(&forged, now())), why, "{header}");
    }
}

#[test]
fn claims_signed_with_the_right_key_are_still_checked() {
    let ring = ring(6);
    let jwt = signer(&ring);
    let (token, _) = issue(&jwt);
    let key = ring.derive_subkey("jwt/1");
    let header = r#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#;
    let claims: serde_json::Value = serde_json::from_str(&payload_of(&token)).unwrap();
    let with = |field: &str, value: serde_json::Value| {
        let mut c = claims.clone();
        c[field] = value;
        forge(header, &c.to_string(), &key[..], false)
    };
    let cases = [
        (with("exp", serde_json::json!("99999999999")), "malformed"),
        (with("exp", serde_json::json!(null)), "malformed"),
        (with("nbf", serde_json::json!("0")), "malformed"),
        (
            with("aud", serde_json::json!(["secrets-core"])),
            "malformed",
        ),
        (with("role", serde_json::json!("root")), "malformed"),
        (
            with("iss", serde_json::json!("someone-else")),
            "wrong issuer",
        ),
        (
            with("aud", serde_json::json!("someone-else")),
            "wrong audience",
        ),
        (with("nbf", serde_json::json!(NOW + 3600)), "not yet valid"),
        (with("exp", serde_json::json!(NOW - 3600)), "expired"),
    ];
    for (forged, why) in cases {
        assert_eq!(reason(jwt.validate(&forged, now())), why, "{why}");
    }
    let mut missing = claims.clone();
    missing.as_object_mut().unwrap().remove("exp");
    let forged = forge(header, &missing.to_string(), &key[..], false);
    assert_eq!(reason(jwt.validate(&forged, now())), "malformed");
}

#[test]
fn kid_must_be_canonical_decimal_of_a_held_key() {
    assert_eq!(parse_kid("1").unwrap(), KeyId::FIRST);
    assert_eq!(parse_kid("65535").unwrap().get(), 65_535);
    for bad in [
        "01",
        "+1",
        " 1",
        "1 ",
        "0",
        "00",
        "-1",
        "",
        "1.0",
        "65536",
        "4294967297",
        "x",
        "１",
    ] {
        assert!(parse_kid(bad).is_none(), "{bad:?}");
    }
    // Through `named`: anything that is neither a decimal nor a published
    // thumbprint is an unknown key id.
    let jwt = signer(&ring(1));
    for bad in ["01", "", "x", "65536"] {
        assert!(
            matches!(
                jwt.named(bad),
                Err(Error::InvalidToken {
                    reason: TokenRejection::UnknownKeyId
                })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn signer_is_shareable_across_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<JwtSigner>();
    send_sync::<AccessClaims>();
}

#[test]
fn a_bad_config_is_refused_at_construction() {
    let ok = JwtConfig::default();
    for (bad, field) in [
        (
            JwtConfig {
                issuer: String::new(),
                ..ok.clone()
            },
            "issuer",
        ),
        (
            JwtConfig {
                ttl: MAX_TTL + Duration::from_secs(1),
                ..ok.clone()
            },
            "ttl",
        ),
        (
            JwtConfig {
                leeway: MAX_LEEWAY + Duration::from_secs(1),
                ..ok.clone()
            },
            "leeway",
        ),
    ] {
        match JwtSigner::new(bad.clone(), ring(9)) {
            Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn issue_refuses_a_token_over_the_size_cap() {
    let jwt = signer(&ring(1));
    let scopes = vec!["x".repeat(100); 100];
    assert!(matches!(
        jwt.issue(
            UserId::generate(),
            TenantId::DEFAULT,
            Role::Admin,
            scopes,
            0,
            now()
        ),
        Err(Error::InvalidInput {
            field: "scopes",
            ..
        })
    ));
}

#[test]
fn debug_shows_no_key() {
    let ring = ring(0x42);
    let jwt = signer(&ring);
    let _ = issue(&jwt);
    let key = ring.derive_subkey("jwt/1");
    let shown = format!("{jwt:?} {jwt:#?}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
    assert!(shown.contains("derived_key_ids: [1]"), "{shown}");
    let decimal = format!("{:?}", &key[..4]);
    assert!(!shown.contains(&decimal[1..decimal.len() - 1]), "{shown}");
    assert!(!shown.contains(&B64.encode(&key[..])), "{shown}");
    assert!(!shown.contains(&hex::encode(&key[..])), "{shown}");
}

#[test]
fn ed25519_keys_are_the_documented_subkeys_and_never_printed() {
    // core/tests/data/jwt_eddsa_v1.json, written by an independent
    // implementation: key n's seed is subkey "jwt-ed25519/n".
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/jwt_eddsa_v1.json")).unwrap();
    let master = hex::decode(file["tests"][0]["master_key_hex"].as_str().unwrap()).unwrap();
    let ring = Arc::new(KeyRing::with_active(
        MasterKey::from_bytes(&master).unwrap(),
        KeyId::new(2).unwrap(),
    ));
    let config = JwtConfig {
        algorithm: crate::jwt::JwtAlgorithm::EdDsa,
        ..JwtConfig::default()
    };
    let jwt = JwtSigner::new(config, Arc::clone(&ring)).unwrap();
    // Only the active key's pair is derived at construction.
    assert_eq!(
        jwt.ed_keys
            .read()
            .unwrap()
            .keys()
            .map(|k| k.get())
            .collect::<Vec<_>>(),
        [2]
    );
    assert!(jwt.keys.read().unwrap().is_empty());
    for k in file["keys"].as_array().unwrap() {
        let id = KeyId::new(u32::try_from(k["key_id"].as_u64().unwrap()).unwrap()).unwrap();
        let seed = ring.derive_subkey(&format!("jwt-ed25519/{}", id.get()));
        assert_eq!(
            hex::encode(seed.as_slice()),
            k["seed_hex"].as_str().unwrap()
        );
        let key = jwt.ed_key(id);
        assert_eq!(key.kid(), k["kid"].as_str().unwrap());
        assert_eq!(key.jwk().x, k["x"].as_str().unwrap());
        let shown = format!("{jwt:?} {key:?}");
        assert!(!shown.contains(&hex::encode(seed.as_slice())));
        assert!(!shown.contains(&B64.encode(seed.as_slice())));
    }
    assert!(format!("{jwt:?}").contains("derived_ed25519_key_ids: [1, 2, 3]"));
    // The HS256 key of an id is not its Ed25519 seed.
    assert_ne!(
        ring.derive_subkey("jwt/1"),
        ring.derive_subkey("jwt-ed25519/1")
    );
}

#[test]
fn alg_is_pinned_to_the_kid_before_any_signature_check() {
    let ring = ring(8);
    let config = JwtConfig {
        algorithm: crate::jwt::JwtAlgorithm::EdDsa,
        ..JwtConfig::default()
    };
    let jwt = JwtSigner::new(config, Arc::clone(&ring)).unwrap();
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    let kid = jwt.ed_key(KeyId::FIRST).kid().to_owned();
    // HS256 with the Ed25519 kid, MAC keyed with the public key: refused
    // as an algorithm mismatch, not as a bad MAC, so no HMAC was computed
    // with a public value.
    let public = *jwt.ed_key(KeyId::FIRST).verifying_key().as_bytes();
    let h = format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#);
    let forged = forge(&h, &payload, &public, false);
    assert_eq!(
        reason(jwt.validate(&forged, now())),
        "algorithm not allowed"
    );
    assert!(jwt.keys.read().unwrap().is_empty(), "no HMAC key derived");
}

#[test]
fn a_header_issued_here_is_taken_as_read_and_nothing_else_is() {
    let ring = ring(5);
    let jwt = signer(&ring);
    let (token, claims) = issue(&jwt);
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, _) = rest.split_once('.').unwrap();
    assert_eq!(
        header,
        B64.encode(br#"{"typ":"at+jwt","alg":"HS256","kid":"1"}"#)
    );
    assert_eq!(jwt.validate(&token, now()).unwrap(), claims);
    // The same header, any other signature: refused by the fast path.
    let key1 = ring.derive_subkey("jwt/1");
    for key in [&[0u8; 32][..], &key1[..]] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let tag = B64.encode(mac.finalize().into_bytes());
        let forged = format!("{header}.{payload}.{tag}");
        let want = if key == &key1[..] {
            Ok(())
        } else {
            Err("bad signature")
        };
        assert_eq!(
            jwt.validate(&forged, now())
                .map(|_| ())
                .map_err(|e| match e {
                    Error::InvalidToken { reason } => reason.as_str(),
                    other => panic!("{other:?}"),
                }),
            want
        );
    }
    // The header of a key held but not yet derived goes the long way and
    // derives it; of a key not held, the long way refuses it.
    ring.rotate().unwrap();
    let key2 = ring.derive_subkey("jwt/2");
    let key3 = ring.derive_subkey("jwt/3");
    for (kid, key, want) in [("2", &key2, None), ("3", &key3, Some("unknown key id"))] {
        let header = B64.encode(format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#));
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key[..]).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let forged = format!(
            "{header}.{payload}.{}",
            B64.encode(mac.finalize().into_bytes())
        );
        match want {
            None => assert_eq!(jwt.validate(&forged, now()).unwrap(), claims),
            Some(r) => assert_eq!(reason(jwt.validate(&forged, now())), r),
        }
    }
    assert_eq!(jwt.keys.read().unwrap().len(), 2);
    // A header meaning the same but written otherwise (order, spacing) is
    // read in full, and accepted on its merits.
    let other = B64.encode(br#"{"alg":"HS256","kid":"1","typ":"at+jwt"}"#);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key1[..]).unwrap();
    mac.update(format!("{other}.{payload}").as_bytes());
    let token = format!(
        "{other}.{payload}.{}",
        B64.encode(mac.finalize().into_bytes())
    );
    assert_eq!(jwt.validate(&token, now()).unwrap(), claims);
}

#[test]
fn payloads_over_the_stack_buffer_validate_the_same() {
    let ring = ring(6);
    let jwt = signer(&ring);
    let key1 = ring.derive_subkey("jwt/1");
    for n in [0, 20, 40, 200] {
        let scopes: Vec<String> = (0..n).map(|i| format!("scope:{i:04}")).collect();
        let (token, claims) = jwt
            .issue(
                UserId::generate(),
                TenantId::DEFAULT,
                Role::Admin,
                scopes,
                0,
                now(),
            )
            .unwrap();
        let payload = token.split('.').nth(1).unwrap();
        assert_eq!(payload.len() > 1024, n >= 40, "{n}: {}", payload.len());
        assert_eq!(jwt.validate(&token, now()).unwrap(), claims);
        // A payload segment that is not base64url is malformed either way.
        // (Signed with the right key: the signature is checked first.)
        let header = token.split('.').next().unwrap();
        let input = format!("{header}.*={}", &payload[2..]);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key1[..]).unwrap();
        mac.update(input.as_bytes());
        let bad = format!("{input}.{}", B64.encode(mac.finalize().into_bytes()));
        assert_eq!(reason(jwt.validate(&bad, now())), "malformed");
    }
}
