//! EdDSA vectors: RFC 8037 appendix A (`core/tests/data/jwt_rfc8037.json`,
//! the published Ed25519 JOSE examples) through [`decode_eddsa`], and the
//! access tokens and JWKS keys of `core/tests/data/jwt_eddsa_v1.json`,
//! written by an independent implementation (Python, pyca/cryptography)
//! from `docs/FORMATS.md`, which `JwtSigner` must accept, publish and
//! reproduce byte for byte.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use secrets_core::Timestamp;
use secrets_core::crypto::{KeyId, KeyRing, MasterKey};
use secrets_core::jwt::{AccessClaims, JwtAlgorithm, JwtConfig, JwtSigner, decode_eddsa};

use crate::{b64, reason, unb64};

#[test]
fn rfc8037_a4_verifies_under_the_a1_key() {
    let v: Value = serde_json::from_str(include_str!("../data/jwt_rfc8037.json")).unwrap();
    assert!(v["source"].as_str().unwrap().contains("RFC 8037"));
    let x = unb64(v["jwk"]["x"].as_str().unwrap());
    assert_eq!(hex::encode(&x), v["public_key_hex"].as_str().unwrap());
    // A.2: the public key is the one of the private key (RFC 8032 5.1.5).
    let d: [u8; 32] = unb64(v["jwk"]["d"].as_str().unwrap()).try_into().unwrap();
    let key = SigningKey::from_bytes(&d);
    assert_eq!(key.verifying_key().as_bytes().as_slice(), x.as_slice());
    // A.3: the thumbprint, as the kid of a key of ours is computed.
    use sha2::Digest;
    let input = v["thumbprint_input"].as_str().unwrap();
    assert_eq!(
        input,
        format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            v["jwk"]["x"].as_str().unwrap()
        )
    );
    assert_eq!(
        b64(sha2::Sha256::digest(input.as_bytes())),
        v["thumbprint"].as_str().unwrap()
    );
    // A.4: the segments, and the signature reproduced (deterministic).
    let jws = v["jws"].as_str().unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(
        unb64(parts[0]),
        v["header_json"].as_str().unwrap().as_bytes()
    );
    assert_eq!(
        unb64(parts[1]),
        v["payload_text"].as_str().unwrap().as_bytes()
    );
    let input = v["signing_input"].as_str().unwrap();
    assert_eq!(b64(key.sign(input.as_bytes()).to_bytes()), parts[2]);

    // Through the primitive: the signature verifies (the refusal is for the
    // payload, which is text, not a claims set), and fails under any other
    // key or with any signature bit changed.
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    assert_eq!(
        reason(decode_eddsa::<Value>(jws, &x, now, Duration::ZERO)),
        "malformed"
    );
    let mut sig = unb64(parts[2]);
    sig[10] ^= 4;
    let tampered = format!("{input}.{}", b64(&sig));
    assert_eq!(
        reason(decode_eddsa::<Value>(&tampered, &x, now, Duration::ZERO)),
        "bad signature"
    );
    let other = SigningKey::from_bytes(&[1; 32]);
    assert_eq!(
        reason(decode_eddsa::<Value>(
            jws,
            other.verifying_key().as_bytes(),
            now,
            Duration::ZERO
        )),
        "bad signature"
    );
    // The same key over a JSON payload, with the A.4 header: accepted.
    let payload = r#"{"sub":"joe","exp":1700000100}"#;
    let message = format!("{}.{}", parts[0], b64(payload));
    let token = format!("{message}.{}", b64(key.sign(message.as_bytes()).to_bytes()));
    let claims: Value = decode_eddsa(&token, &x, now, Duration::ZERO).unwrap();
    assert_eq!(claims["sub"], "joe");
}

fn ring_for(t: &Value) -> Arc<KeyRing> {
    let master = hex::decode(t["master_key_hex"].as_str().unwrap()).unwrap();
    let active = u32::try_from(t["active_key_id"].as_u64().unwrap()).unwrap();
    Arc::new(KeyRing::with_active(
        MasterKey::from_bytes(&master).unwrap(),
        KeyId::new(active).unwrap(),
    ))
}

#[test]
fn eddsa_access_tokens_of_the_independent_implementation_hold() {
    let file: Value = serde_json::from_str(include_str!("../data/jwt_eddsa_v1.json")).unwrap();
    assert!(file["source"].as_str().unwrap().contains("cryptography"));

    // The keys: seed = subkey("jwt-ed25519/n"), recomputed here with hmac;
    // x and kid as a JwtSigner publishes them.
    let keys = file["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    let master = hex::decode(file["tests"][0]["master_key_hex"].as_str().unwrap()).unwrap();
    let jwt = JwtSigner::new(
        JwtConfig::default(),
        Arc::new(KeyRing::with_active(
            MasterKey::from_bytes(&master).unwrap(),
            KeyId::new(2).unwrap(),
        )),
    )
    .unwrap();
    let jwks = jwt.jwks();
    for k in keys {
        let n = k["key_id"].as_u64().unwrap();
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&master).unwrap();
        mac.update(format!("secrets-core/v1/subkey/jwt-ed25519/{n}").as_bytes());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            k["seed_hex"].as_str().unwrap(),
            "{n}"
        );
        // Keys 1 and 2 are held, 3 is the next one: all three published.
        let published = jwks.find(k["kid"].as_str().unwrap()).unwrap();
        assert_eq!(published.x, k["x"].as_str().unwrap(), "{n}");
    }

    let tests = file["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 3);
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let mut config = JwtConfig::default();
        config.algorithm = JwtAlgorithm::EdDsa;
        config.issuer = t["issuer"].as_str().unwrap().into();
        config.audience = t["audience"].as_str().unwrap().into();
        config.ttl = Duration::from_secs(t["ttl_seconds"].as_u64().unwrap());
        config.leeway = Duration::from_secs(t["leeway_seconds"].as_u64().unwrap());
        let jwt = JwtSigner::new(config, ring_for(t)).unwrap();
        let now = Timestamp::from_unix_seconds(t["now"].as_i64().unwrap());
        let token = t["token"].as_str().unwrap();

        // Accepted, with exactly its claims.
        let claims = jwt.validate(token, now).unwrap();
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            t["claims"],
            "{name}"
        );

        // The segments are the documented header and AccessClaims' layout.
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(
            unb64(parts[0]),
            t["header_json"].as_str().unwrap().as_bytes()
        );
        assert_eq!(
            unb64(parts[1]),
            serde_json::to_vec(&claims).unwrap(),
            "{name}"
        );

        // A token issued now: the same header bytes, and (the jti aside)
        // the same claims.
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
        assert_eq!(fresh.split('.').next().unwrap(), parts[0], "{name}");
        assert_eq!(
            AccessClaims {
                jti: claims.jti.clone(),
                ..fresh_claims.clone()
            },
            claims,
            "{name}"
        );
        // ...and its signature is the one the documented key makes over
        // its own segments (Ed25519 is deterministic), which with the
        // vector's jti gives the vector's token byte for byte.
        let n = t["active_key_id"].as_u64().unwrap();
        let seed: [u8; 32] = hex::decode(
            keys[usize::try_from(n - 1).unwrap()]["seed_hex"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
        .try_into()
        .unwrap();
        let key = SigningKey::from_bytes(&seed);
        let (input, signature) = fresh.rsplit_once('.').unwrap();
        assert_eq!(
            b64(key.sign(input.as_bytes()).to_bytes()),
            signature,
            "{name}"
        );
        let (input, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(
            b64(key.sign(input.as_bytes()).to_bytes()),
            signature,
            "{name}"
        );

        // Verifiable from the JWKS alone.
        let x = unb64(&jwt.jwks().find(&key_kid(parts[0])).unwrap().x);
        let alone: AccessClaims = decode_eddsa(token, &x, now, jwt.config().leeway).unwrap();
        assert_eq!(alone, claims, "{name}");

        // Expiry at exp + leeway, as for HS256.
        let leeway = i64::try_from(jwt.config().leeway.as_secs()).unwrap();
        let end = Timestamp::from_unix_seconds(claims.exp + leeway);
        assert_eq!(reason(jwt.validate(token, end)), "expired", "{name}");
    }
}

fn key_kid(header_segment: &str) -> String {
    let header: Value = serde_json::from_slice(&unb64(header_segment)).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}
