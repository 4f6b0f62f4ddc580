//! RFC 7515 appendix A.1 (`core/tests/data/jwt_rfc7515.json`): the HS256
//! example verifies with its JWK, against an injected clock. Access tokens
//! of the earlier implementation (`core/tests/data/jwt_access_v1.json`)
//! still validate and are reproduced byte for byte.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use secrets_core::Timestamp;
use secrets_core::crypto::{KeyId, KeyRing, MasterKey};
use secrets_core::jwt::{AccessClaims, JwtConfig, JwtSigner, decode_hs256};
use serde::Deserialize;
use serde_json::Value;

use crate::{reason, sign, unb64};

/// The example's claims, typed: a private claim named with a URI.
#[derive(Debug, Deserialize, PartialEq)]
struct Example {
    iss: String,
    exp: i64,
    #[serde(rename = "http://example.com/is_root")]
    is_root: bool,
}

fn vectors() -> Vec<Value> {
    let file: Value = serde_json::from_str(include_str!("../data/jwt_rfc7515.json")).unwrap();
    assert!(file["source"].as_str().unwrap().contains("RFC 7515"));
    file["tests"].as_array().unwrap().clone()
}

#[test]
fn rfc7515_a1_verifies_before_expiry_and_not_after() {
    let tests = vectors();
    assert_eq!(tests.len(), 1);
    for t in &tests {
        let name = t["name"].as_str().unwrap();
        let token = t["token"].as_str().unwrap();
        assert_eq!(t["jwk"]["kty"], "oct", "{name}");
        let key = unb64(t["jwk"]["k"].as_str().unwrap());
        assert_eq!(key.len() as u64, t["key_len"].as_u64().unwrap(), "{name}");
        let exp = t["exp"].as_i64().unwrap();

        // The file is self-consistent: the segments decode to the quoted
        // header and payload (with the RFC's CR LF), the signature to the
        // listed octets.
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(
            unb64(parts[0]),
            t["header_json"].as_str().unwrap().as_bytes()
        );
        assert_eq!(
            unb64(parts[1]),
            t["payload_json"].as_str().unwrap().as_bytes()
        );
        let octets: Vec<u8> = serde_json::from_value(t["signature_octets"].clone()).unwrap();
        assert_eq!(unb64(parts[2]), octets, "{name}");

        let leeway = Duration::from_secs(30);
        let before = Timestamp::from_unix_seconds(exp - 1);
        let typed: Example = decode_hs256(token, &key, before, leeway).unwrap();
        assert_eq!(
            typed,
            Example {
                iss: "joe".into(),
                exp,
                is_root: true
            },
            "{name}"
        );
        let untyped: Value = decode_hs256(token, &key, before, leeway).unwrap();
        assert_eq!(untyped, t["claims"], "{name}");

        // Within the leeway after exp: accepted; at exp + leeway: refused.
        let last = Timestamp::from_unix_millis(exp * 1000 + 29_999);
        assert!(
            decode_hs256::<Value>(token, &key, last, leeway).is_ok(),
            "{name}"
        );
        let at = Timestamp::from_unix_seconds(exp).saturating_add(leeway);
        assert_eq!(
            reason(decode_hs256::<Value>(token, &key, at, leeway)),
            "expired"
        );
        // Without leeway, exp itself is too late (RFC 7519 section 4.1.4).
        let at_exp = Timestamp::from_unix_seconds(exp);
        assert_eq!(
            reason(decode_hs256::<Value>(token, &key, at_exp, Duration::ZERO)),
            "expired"
        );
        // The real clock is long past 2011: only the injected one counts.
        let today = Timestamp::from_unix_seconds(1_750_000_000);
        assert_eq!(
            reason(decode_hs256::<Value>(token, &key, today, leeway)),
            "expired"
        );

        // Any other key fails.
        let mut other = key.clone();
        other[0] ^= 1;
        assert_eq!(
            reason(decode_hs256::<Value>(token, &other, before, leeway)),
            "bad signature"
        );
    }
}

#[test]
fn the_primitive_pins_hs256() {
    let t = &vectors()[0];
    let key = unb64(t["jwk"]["k"].as_str().unwrap());
    let payload = t["payload_json"].as_str().unwrap();
    let before = Timestamp::from_unix_seconds(t["exp"].as_i64().unwrap() - 1);
    let leeway = Duration::from_secs(30);

    // Re-signing the example by hand reproduces it, so the refusals below
    // are for the header alone.
    let header = t["header_json"].as_str().unwrap();
    assert_eq!(
        sign(header, payload, &key, false),
        t["token"].as_str().unwrap()
    );

    // HS384 with the right key.
    let hs384 = sign(r#"{"typ":"JWT","alg":"HS384"}"#, payload, &key, true);
    assert_eq!(
        reason(decode_hs256::<Value>(&hs384, &key, before, leeway)),
        "algorithm not allowed"
    );
    // An HS256 tag under an RS256 header (the classic key-confusion shape).
    let rs256 = sign(r#"{"alg":"RS256"}"#, payload, &key, false);
    assert_eq!(
        reason(decode_hs256::<Value>(&rs256, &key, before, leeway)),
        "algorithm not allowed"
    );
    // alg none, with an empty signature and with a valid HS256 tag.
    let none = format!(
        "{}.{}.",
        crate::b64(r#"{"alg":"none"}"#),
        crate::b64(payload)
    );
    assert_eq!(
        reason(decode_hs256::<Value>(&none, &key, before, leeway)),
        "malformed"
    );
    let none_signed = sign(r#"{"alg":"none"}"#, payload, &key, false);
    assert_eq!(
        reason(decode_hs256::<Value>(&none_signed, &key, before, leeway)),
        "malformed"
    );
    // crit names an extension nobody here understands.
    let crit = sign(
        r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
        payload,
        &key,
        false,
    );
    assert_eq!(
        reason(decode_hs256::<Value>(&crit, &key, before, leeway)),
        "unsupported critical header"
    );
    // A string exp is malformed, not absent (CVE-2026-25537's shape), and a
    // token with no exp or nbf at all is accepted by the primitive.
    let string_exp = sign(r#"{"alg":"HS256"}"#, r#"{"exp":"1"}"#, &key, false);
    assert_eq!(
        reason(decode_hs256::<Value>(&string_exp, &key, before, leeway)),
        "malformed"
    );
    let string_nbf = sign(
        r#"{"alg":"HS256"}"#,
        r#"{"nbf":"99999999999"}"#,
        &key,
        false,
    );
    assert_eq!(
        reason(decode_hs256::<Value>(&string_nbf, &key, before, leeway)),
        "malformed"
    );
    let timeless = sign(r#"{"alg":"HS256"}"#, r#"{"sub":"x"}"#, &key, false);
    assert!(decode_hs256::<Value>(&timeless, &key, before, leeway).is_ok());
    let future = sign(r#"{"alg":"HS256"}"#, r#"{"nbf":2000000000}"#, &key, false);
    assert_eq!(
        reason(decode_hs256::<Value>(&future, &key, before, leeway)),
        "not yet valid"
    );
}

/// `core/tests/data/jwt_access_v1.json`: access tokens issued by the
/// implementation on `jsonwebtoken` 11.1, before issue 9. Each is accepted
/// with its claims, is exactly the documented header, the claims as
/// `AccessClaims` serializes them and HS256 under `jwt_key(kid)`, and a
/// token issued now has the same header bytes.
#[test]
fn access_tokens_of_the_jsonwebtoken_implementation_still_hold() {
    let file: Value = serde_json::from_str(include_str!("../data/jwt_access_v1.json")).unwrap();
    assert!(file["source"].as_str().unwrap().contains("jsonwebtoken"));
    let tests = file["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4);
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let master = hex::decode(t["master_key_hex"].as_str().unwrap()).unwrap();
        let kid = u32::try_from(t["active_key_id"].as_u64().unwrap()).unwrap();
        let ring = Arc::new(KeyRing::with_active(
            MasterKey::from_bytes(&master).unwrap(),
            KeyId::new(kid).unwrap(),
        ));
        let config = {
            let mut c = JwtConfig::default();
            c.issuer = t["issuer"].as_str().unwrap().into();
            c.audience = t["audience"].as_str().unwrap().into();
            c.ttl = Duration::from_secs(t["ttl_seconds"].as_u64().unwrap());
            c.leeway = Duration::from_secs(t["leeway_seconds"].as_u64().unwrap());
            c
        };
        let jwt = JwtSigner::new(config, Arc::clone(&ring)).unwrap();
        let now = Timestamp::from_unix_seconds(t["now"].as_i64().unwrap());
        let token = t["token"].as_str().unwrap();

        let claims = jwt.validate(token, now).unwrap();
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            t["claims"],
            "{name}"
        );

        // Rebuilt from the documented format, byte for byte.
        let header = format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#);
        let payload = serde_json::to_string(&claims).unwrap();
        let mut derive = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&master).unwrap();
        derive.update(format!("secrets-core/v1/subkey/jwt/{kid}").as_bytes());
        let key = derive.finalize().into_bytes();
        assert_eq!(sign(&header, &payload, &key, false), token, "{name}");

        // A token issued now: the same header, the same claim layout.
        let (fresh, fresh_claims) = jwt
            .issue(
                claims.sub,
                claims.tid,
                claims.role,
                claims.scopes.clone(),
                claims.epoch,
                now,
            )
            .unwrap();
        let parts: Vec<&str> = fresh.split('.').collect();
        assert_eq!(parts[0], token.split('.').next().unwrap(), "{name}");
        assert_eq!(
            unb64(parts[1]),
            serde_json::to_vec(&fresh_claims).unwrap(),
            "{name}"
        );
        let same_but_jti = AccessClaims {
            jti: claims.jti.clone(),
            ..fresh_claims
        };
        assert_eq!(same_but_jti, claims, "{name}");

        // One second before expiry (with the leeway) it holds; at it, not.
        let leeway = i64::try_from(jwt.config().leeway.as_secs()).unwrap();
        let last = Timestamp::from_unix_seconds(claims.exp + leeway - 1);
        assert!(jwt.validate(token, last).is_ok(), "{name}");
        let end = Timestamp::from_unix_seconds(claims.exp + leeway);
        assert_eq!(reason(jwt.validate(token, end)), "expired", "{name}");
    }
}
