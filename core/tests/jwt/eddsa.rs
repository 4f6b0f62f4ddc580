//! EdDSA access tokens through the public API: the attacker's tests (alg
//! confusion in every direction, `none`, the public key used as an HMAC
//! secret, keys smuggled in the header, keys outside the published set,
//! malleated signatures), then rotation by `kid` and the JWKS.
//!
//! Ed25519 signatures are made here with `ed25519-dalek` directly, from the
//! seeds `docs/FORMATS.md` defines (recomputed with `hmac`), never through
//! the code under test.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

use secrets_core::crypto::{KeyId, KeyRing, MasterKey};
use secrets_core::jwt::{
    AccessClaims, JwtAlgorithm, JwtConfig, JwtSigner, MAX_PUBLISHED_KEYS, decode_eddsa,
};
use secrets_core::rbac::Role;
use secrets_core::{TenantId, Timestamp, UserId};

use crate::{b64, reason, sign, unb64};

const NOW: i64 = 1_700_000_000;
const MASTER: [u8; 32] = [0x3c; 32];

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(NOW)
}

fn ring(active: u32) -> Arc<KeyRing> {
    Arc::new(KeyRing::with_active(
        MasterKey::from_bytes(&MASTER).unwrap(),
        KeyId::new(active).unwrap(),
    ))
}

fn config(algorithm: JwtAlgorithm) -> JwtConfig {
    let mut c = JwtConfig::default();
    c.algorithm = algorithm;
    c
}

fn eddsa(ring: &Arc<KeyRing>) -> JwtSigner {
    JwtSigner::new(config(JwtAlgorithm::EdDsa), Arc::clone(ring)).unwrap()
}

fn issue(jwt: &JwtSigner) -> (String, AccessClaims) {
    jwt.issue(
        UserId::generate(),
        TenantId::generate(),
        Role::Developer,
        vec!["apps:read".into()],
        0,
        now(),
    )
    .unwrap()
}

/// `HMAC-SHA256(master, "secrets-core/v1/subkey/" || label)`.
fn subkey(label: &str) -> [u8; 32] {
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&MASTER).unwrap();
    mac.update(format!("secrets-core/v1/subkey/{label}").as_bytes());
    mac.finalize().into_bytes().into()
}

/// The Ed25519 signing key of key-ring key `n`, as documented.
fn ed_key(n: u32) -> SigningKey {
    SigningKey::from_bytes(&subkey(&format!("jwt-ed25519/{n}")))
}

/// The RFC 7638 thumbprint of `key`'s public half.
fn thumbprint(key: &SigningKey) -> String {
    use sha2::Digest;
    let x = b64(key.verifying_key().as_bytes());
    b64(sha2::Sha256::digest(
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#).as_bytes(),
    ))
}

/// `header.payload` (JSON texts as given) signed with Ed25519 under `key`.
fn ed_sign(header: &str, payload: &str, key: &SigningKey) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let signature = key.sign(message.as_bytes());
    format!("{message}.{}", b64(signature.to_bytes()))
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&unb64(token.split('.').next().unwrap())).unwrap()
}

fn payload_of(token: &str) -> String {
    String::from_utf8(unb64(token.split('.').nth(1).unwrap())).unwrap()
}

fn ed_header(kid: &str) -> String {
    format!(r#"{{"typ":"at+jwt","alg":"EdDSA","kid":"{kid}"}}"#)
}

#[test]
fn the_hand_made_token_is_the_issued_one() {
    // The helpers reproduce an issued token byte for byte, so every refusal
    // below is for the one thing each changes.
    let ring = ring(1);
    let jwt = eddsa(&ring);
    let (token, claims) = issue(&jwt);
    let key = ed_key(1);
    let kid = thumbprint(&key);
    assert_eq!(header_of(&token)["kid"], kid.as_str());
    assert_eq!(ed_sign(&ed_header(&kid), &payload_of(&token), &key), token);
    assert_eq!(jwt.validate(&token, now()).unwrap(), claims);
}

#[test]
fn hs256_under_an_ed25519_kid_is_refused_whatever_the_mac_key() {
    let ring = ring(1);
    let jwt = eddsa(&ring);
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let jwks = jwt.jwks();
    let jwk = jwks.find(&kid).unwrap();
    let public = unb64(&jwk.x);
    let jwk_json = serde_json::to_string(jwk).unwrap();
    let h = format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#);
    // Every form of the public key an attacker could key an HMAC with
    // (the classic RS256/HS256 confusion, for Ed25519), and the real HS256
    // key of the same key id.
    for (what, secret) in [
        ("the raw public key", public.clone()),
        ("the public key in base64url", jwk.x.clone().into_bytes()),
        ("the JWK text", jwk_json.into_bytes()),
        ("the JWKS text", jwks.to_json().into_bytes()),
        ("the thumbprint", kid.clone().into_bytes()),
        ("the HS256 key of the same id", subkey("jwt/1").to_vec()),
    ] {
        let forged = sign(&h, &payload, &secret, false);
        assert_eq!(
            reason(jwt.validate(&forged, now())),
            "algorithm not allowed",
            "{what}"
        );
    }
    // Also with HS256 configured: validation accepts both algorithms, never
    // one under the other's key.
    let hs = JwtSigner::new(JwtConfig::default(), Arc::clone(&ring)).unwrap();
    let forged = sign(&h, &payload, &public, false);
    assert_eq!(reason(hs.validate(&forged, now())), "algorithm not allowed");
}

#[test]
fn eddsa_under_an_hs256_kid_is_refused() {
    let ring = ring(2);
    let jwt = eddsa(&ring);
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    // Signed with the real Ed25519 key of the id the decimal kid names, and
    // with an attacker's own key: the decimal kid is HS256's alone.
    for key in [ed_key(1), ed_key(2), SigningKey::from_bytes(&[9; 32])] {
        for kid in ["1", "2"] {
            let forged = ed_sign(&ed_header(kid), &payload, &key);
            assert_eq!(
                reason(jwt.validate(&forged, now())),
                "algorithm not allowed",
                "{kid}"
            );
        }
    }
    // An HS256 token under an HS256 kid still works beside EdDSA.
    let hs = JwtSigner::new(JwtConfig::default(), Arc::clone(&ring)).unwrap();
    let (hs_token, claims) = issue(&hs);
    assert_eq!(jwt.validate(&hs_token, now()).unwrap(), claims);
    assert_eq!(hs.validate(&token, now()).unwrap().jti, {
        let c: AccessClaims = serde_json::from_str(&payload).unwrap();
        c.jti
    });
}

#[test]
fn none_and_other_names_are_refused_before_any_key() {
    let ring = ring(1);
    let jwt = eddsa(&ring);
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let signature = token.rsplit('.').next().unwrap();
    for alg in [
        "none", "None", "NONE", "eddsa", "EDDSA", "Ed25519", "ED25519", "EdDSA ", "ES256K",
    ] {
        let h = format!(r#"{{"typ":"at+jwt","alg":"{alg}","kid":"{kid}"}}"#);
        // With an empty signature, and with the real signature of the
        // real header (which no longer covers this one).
        let unsigned = format!("{}.{}.", b64(&h), b64(&payload));
        assert_eq!(reason(jwt.validate(&unsigned, now())), "malformed", "{alg}");
        let reused = format!("{}.{}.{signature}", b64(&h), b64(&payload));
        assert_eq!(reason(jwt.validate(&reused, now())), "malformed", "{alg}");
        // Even signed by the real key over this header.
        let signed = ed_sign(&h, &payload, &ed_key(1));
        assert_eq!(reason(jwt.validate(&signed, now())), "malformed", "{alg}");
    }
    // alg ES256 (a name jsonwebtoken knew): not allowed.
    let h = format!(r#"{{"typ":"at+jwt","alg":"ES256","kid":"{kid}"}}"#);
    let signed = ed_sign(&h, &payload, &ed_key(1));
    assert_eq!(
        reason(jwt.validate(&signed, now())),
        "algorithm not allowed"
    );
}

#[test]
fn keys_are_never_taken_from_the_token() {
    let ring = ring(1);
    let jwt = eddsa(&ring);
    let (token, _) = issue(&jwt);
    let payload = payload_of(&token);
    let real_kid = thumbprint(&ed_key(1));
    let mine = SigningKey::from_bytes(&[0xa5; 32]);
    let my_kid = thumbprint(&mine);
    let my_jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(mine.verifying_key().as_bytes()), "kid": my_kid});
    // The attacker's own key, named by its own thumbprint: unknown.
    let forged = ed_sign(&ed_header(&my_kid), &payload, &mine);
    assert_eq!(reason(jwt.validate(&forged, now())), "unknown key id");
    // The attacker's key embedded as `jwk`, or pointed at by `jku`/`x5u`,
    // under the real kid: the real key is used, and refuses.
    for extra in [
        format!(r#","jwk":{my_jwk}"#),
        r#","jku":"https://attacker.example/jwks.json""#.to_owned(),
        r#","x5u":"https://attacker.example/cert.pem""#.to_owned(),
    ] {
        let h = format!(r#"{{"typ":"at+jwt","alg":"EdDSA","kid":"{real_kid}"{extra}}}"#);
        let forged = ed_sign(&h, &payload, &mine);
        assert_eq!(
            reason(jwt.validate(&forged, now())),
            "bad signature",
            "{extra}"
        );
        // ...while the real key over the same header is accepted: the
        // parameters are ignored, not refused.
        let genuine = ed_sign(&h, &payload, &ed_key(1));
        assert!(jwt.validate(&genuine, now()).is_ok(), "{extra}");
    }
    // The attacker's key embedded, with no kid at all: refused.
    let h = format!(r#"{{"typ":"at+jwt","alg":"EdDSA","jwk":{my_jwk}}}"#);
    let forged = ed_sign(&h, &payload, &mine);
    assert_eq!(reason(jwt.validate(&forged, now())), "missing key id");
    // The real kid in another form (padded, with whitespace): unknown.
    for kid in [
        format!("{real_kid}="),
        format!(" {real_kid}"),
        real_kid.to_lowercase(),
    ] {
        let forged = ed_sign(&ed_header(&kid), &payload, &ed_key(1));
        assert_eq!(
            reason(jwt.validate(&forged, now())),
            "unknown key id",
            "{kid}"
        );
    }
}

#[test]
fn signatures_are_checked_strictly() {
    let ring = ring(1);
    let jwt = eddsa(&ring);
    let (token, _) = issue(&jwt);
    let (input, signature) = token.rsplit_once('.').unwrap();
    let bytes = unb64(signature);
    assert_eq!(bytes.len(), 64);
    // Every single bit flip.
    for i in 0..64 {
        for bit in [0x01, 0x80] {
            let mut s = bytes.clone();
            s[i] ^= bit;
            let forged = format!("{input}.{}", b64(&s));
            assert_eq!(reason(jwt.validate(&forged, now())), "bad signature", "{i}");
        }
    }
    // Truncated, extended, empty.
    for len in [0, 1, 32, 63, 65, 128] {
        let s: Vec<u8> = bytes.iter().copied().cycle().take(len).collect();
        let forged = format!("{input}.{}", b64(&s));
        assert_eq!(
            reason(jwt.validate(&forged, now())),
            "bad signature",
            "{len}"
        );
    }
    // S + L (the group order): the same signature, non-canonical. RFC 8032
    // section 5.1.7 requires refusing it; accepting it would make tokens
    // malleable.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut s = bytes.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(s[32 + i]) + u16::from(L[i]) + carry;
        s[32 + i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    let forged = format!("{input}.{}", b64(&s));
    assert_eq!(reason(jwt.validate(&forged, now())), "bad signature");
    // Padding and other alphabets: malformed.
    assert_eq!(
        reason(jwt.validate(&format!("{token}="), now())),
        "malformed"
    );
}

#[test]
fn only_published_keys_the_ring_holds_are_accepted() {
    // A token signed under key 1, then the ring rotates twice: with two
    // keys published (the default), key 1 is no longer published nor
    // accepted; with three it still is.
    let r = ring(1);
    let jwt = eddsa(&r);
    let (old, claims) = issue(&jwt);
    let old_kid = header_of(&old)["kid"].as_str().unwrap().to_owned();
    r.rotate().unwrap();
    assert_eq!(jwt.validate(&old, now()).unwrap(), claims);
    r.rotate().unwrap();
    assert!(jwt.jwks().find(&old_kid).is_none());
    assert_eq!(reason(jwt.validate(&old, now())), "unknown key id");
    let mut three = config(JwtAlgorithm::EdDsa);
    three.published_keys = 3;
    let wide = JwtSigner::new(three, Arc::clone(&r)).unwrap();
    assert!(wide.jwks().find(&old_kid).is_some());
    assert_eq!(wide.validate(&old, now()).unwrap(), claims);

    // The next rotation's key is published ahead of use, but a token under
    // it is refused until the ring holds it (another instance rotated
    // first; this one has not).
    let behind = eddsa(&ring(1));
    let ahead = eddsa(&ring(2));
    let (token, _) = issue(&ahead);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    assert!(behind.jwks().find(&kid).is_some());
    assert_eq!(reason(behind.validate(&token, now())), "unknown key id");
    // Forged directly under the next key's derivation: the same.
    let forged = ed_sign(&ed_header(&kid), &payload_of(&token), &ed_key(2));
    assert_eq!(forged, token);
}

#[test]
fn another_master_key_signs_under_other_kids() {
    // The kid is the key's thumbprint: the same key id under another
    // master key is another kid, never a bad signature under a known one.
    let mine = eddsa(&ring(1));
    let other = JwtSigner::new(
        config(JwtAlgorithm::EdDsa),
        Arc::new(KeyRing::new(MasterKey::from_bytes(&[0x77; 32]).unwrap())),
    )
    .unwrap();
    let (token, _) = issue(&other);
    assert_eq!(reason(mine.validate(&token, now())), "unknown key id");
    assert_ne!(mine.jwks().keys[0].kid, other.jwks().keys[0].kid);
}

#[test]
fn rotation_moves_new_tokens_to_the_new_kid() {
    let r = ring(1);
    let jwt = eddsa(&r);
    let (first, first_claims) = issue(&jwt);
    let kid1 = header_of(&first)["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid1, thumbprint(&ed_key(1)));
    let before = jwt.jwks();
    assert_eq!(r.rotate().unwrap().get(), 2);
    let (second, second_claims) = issue(&jwt);
    let kid2 = header_of(&second)["kid"].as_str().unwrap().to_owned();
    assert_eq!(kid2, thumbprint(&ed_key(2)));
    assert_ne!(kid1, kid2);
    // Published before it was used.
    assert!(before.find(&kid2).is_some());
    assert_eq!(jwt.validate(&first, now()).unwrap(), first_claims);
    assert_eq!(jwt.validate(&second, now()).unwrap(), second_claims);
    // The JWKS: the next key, then the active one, then the one before.
    let kids: Vec<String> = jwt.jwks().keys.iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids, [thumbprint(&ed_key(3)), kid2, kid1]);
}

#[test]
fn the_jwks_holds_public_keys_only() {
    for algorithm in [JwtAlgorithm::Hs256, JwtAlgorithm::EdDsa] {
        for active in [1, 2, 5] {
            let r = ring(active);
            let jwt = JwtSigner::new(config(algorithm), Arc::clone(&r)).unwrap();
            // Use every key once, so that each is derived and cached.
            let (token, _) = issue(&jwt);
            assert!(jwt.validate(&token, now()).is_ok());
            let text = jwt.jwks().to_json();
            let value: Value = serde_json::from_str(&text).unwrap();
            let keys = value["keys"].as_array().unwrap();
            let published = usize::try_from(active.min(2)).unwrap() + 1;
            assert_eq!(keys.len(), published, "{algorithm:?} {active}");
            for key in keys {
                let members: Vec<&str> = key
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(String::as_str)
                    .collect();
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x"]);
                assert_eq!(key["kty"], "OKP");
                assert_eq!(key["crv"], "Ed25519");
                assert_eq!(key["alg"], "EdDSA");
                assert_eq!(key["use"], "sig");
            }
            // No secret of any key id, in any encoding: not the HS256
            // keys, not the Ed25519 seeds, not the master key.
            for n in 1..=active + 1 {
                for secret in [
                    subkey(&format!("jwt/{n}")),
                    subkey(&format!("jwt-ed25519/{n}")),
                ] {
                    assert!(!text.contains(&b64(secret)), "{n}");
                    assert!(!text.contains(&hex::encode(secret)), "{n}");
                    assert!(!text.contains(&b64(&secret[..16])), "{n}");
                }
            }
            assert!(!text.contains(&b64(MASTER)));
            for member in [r#""k""#, r#""d""#, r#""oct""#, "HS256"] {
                assert!(!text.contains(member), "{member}");
            }
        }
    }
}

#[test]
fn the_config_is_checked() {
    for published_keys in [0, MAX_PUBLISHED_KEYS + 1] {
        let mut c = config(JwtAlgorithm::EdDsa);
        c.published_keys = published_keys;
        assert!(matches!(
            JwtSigner::new(c, ring(1)),
            Err(secrets_core::Error::InvalidInput {
                field: "published_keys",
                ..
            })
        ));
    }
    let mut c = config(JwtAlgorithm::EdDsa);
    c.published_keys = MAX_PUBLISHED_KEYS;
    let jwt = JwtSigner::new(c, ring(40)).unwrap();
    assert_eq!(
        jwt.jwks().keys.len(),
        usize::try_from(MAX_PUBLISHED_KEYS).unwrap() + 1
    );
    // The last key id a ring can hold has no next key to publish.
    let last = eddsa(&Arc::new(KeyRing::with_active(
        MasterKey::from_bytes(&MASTER).unwrap(),
        KeyId::new(secrets_core::crypto::MAX_KEY_ID).unwrap(),
    )));
    assert_eq!(last.jwks().keys.len(), 2);
    let (token, _) = issue(&last);
    assert!(last.validate(&token, now()).is_ok());
}

#[test]
fn eddsa_tokens_expire_like_hs256_ones() {
    let jwt = eddsa(&ring(1));
    let (token, claims) = issue(&jwt);
    let leeway = i64::try_from(jwt.config().leeway.as_secs()).unwrap();
    let last = Timestamp::from_unix_seconds(claims.exp + leeway - 1);
    assert!(jwt.validate(&token, last).is_ok());
    let end = Timestamp::from_unix_seconds(claims.exp + leeway);
    assert_eq!(reason(jwt.validate(&token, end)), "expired");
    let early = Timestamp::from_unix_seconds(claims.nbf - leeway - 1);
    assert_eq!(reason(jwt.validate(&token, early)), "not yet valid");
    // Claims changed under a valid signature by the right key are still
    // checked.
    let mut payload: Value = serde_json::from_str(&payload_of(&token)).unwrap();
    payload["iss"] = json!("someone-else");
    let kid = thumbprint(&ed_key(1));
    let forged = ed_sign(&ed_header(&kid), &payload.to_string(), &ed_key(1));
    assert_eq!(reason(jwt.validate(&forged, now())), "wrong issuer");
    let h = format!(r#"{{"typ":"JWT","alg":"EdDSA","kid":"{kid}"}}"#);
    let forged = ed_sign(&h, &payload_of(&token), &ed_key(1));
    assert_eq!(reason(jwt.validate(&forged, now())), "wrong type");
}

#[test]
fn decode_eddsa_verifies_with_a_public_key_alone() {
    let jwt = eddsa(&ring(1));
    let (token, claims) = issue(&jwt);
    let jwks = jwt.jwks();
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let public = unb64(&jwks.find(&kid).unwrap().x);
    let leeway = Duration::from_secs(30);
    let got: AccessClaims = decode_eddsa(&token, &public, now(), leeway).unwrap();
    assert_eq!(got, claims);
    // Another published key: bad signature.
    let other = unb64(&jwks.keys[0].x);
    assert_ne!(other, public);
    assert_eq!(
        reason(decode_eddsa::<Value>(&token, &other, now(), leeway)),
        "bad signature"
    );
    // HS256 tokens are not for this primitive, even with the public key as
    // the HMAC secret.
    let hs = sign(
        &format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#),
        &payload_of(&token),
        &public,
        false,
    );
    assert_eq!(
        reason(decode_eddsa::<Value>(&hs, &public, now(), leeway)),
        "algorithm not allowed"
    );
    // Keys that are not keys.
    for bad in [
        &public[..31],
        &[0u8; 32][..],
        &{
            let mut identity = [0u8; 32];
            identity[0] = 1;
            identity
        }[..],
    ] {
        assert!(matches!(
            decode_eddsa::<Value>(&token, bad, now(), leeway),
            Err(secrets_core::Error::InvalidInput { .. })
        ));
    }
}

#[test]
fn a_verifier_with_the_published_text_alone() {
    use secrets_core::jwt::Jwks;
    let r = ring(3);
    let jwt = eddsa(&r);
    let (token, claims) = issue(&jwt);
    let published = jwt.jwks().to_json();
    let jwks = Jwks::from_json(&published).unwrap();
    assert_eq!(jwks, jwt.jwks());
    let leeway = Duration::from_secs(30);
    assert_eq!(
        jwks.verify::<AccessClaims>(&token, now(), leeway).unwrap(),
        claims
    );
    // Expiry and the rest as decode_eddsa.
    let late = Timestamp::from_unix_seconds(claims.exp + 30);
    assert_eq!(
        reason(jwks.verify::<Value>(&token, late, leeway)),
        "expired"
    );

    let payload = payload_of(&token);
    let kid = header_of(&token)["kid"].as_str().unwrap().to_owned();
    let public = unb64(&jwks.find(&kid).unwrap().x);
    // HS256 under the Ed25519 kid, keyed with the public key: refused.
    let h = format!(r#"{{"typ":"at+jwt","alg":"HS256","kid":"{kid}"}}"#);
    let forged = sign(&h, &payload, &public, false);
    assert_eq!(
        reason(jwks.verify::<Value>(&forged, now(), leeway)),
        "algorithm not allowed"
    );
    // No kid; a kid the set does not hold; a key of the set that is not
    // the token's.
    let no_kid = ed_sign(r#"{"typ":"at+jwt","alg":"EdDSA"}"#, &payload, &ed_key(3));
    assert_eq!(
        reason(jwks.verify::<Value>(&no_kid, now(), leeway)),
        "missing key id"
    );
    let mine = SigningKey::from_bytes(&[0x11; 32]);
    let foreign = ed_sign(&ed_header(&thumbprint(&mine)), &payload, &mine);
    assert_eq!(
        reason(jwks.verify::<Value>(&foreign, now(), leeway)),
        "unknown key id"
    );
    let other_kid = &jwks.keys[0].kid;
    assert_ne!(other_kid, &kid);
    let swapped = ed_sign(&ed_header(other_kid), &payload, &ed_key(3));
    assert_eq!(
        reason(jwks.verify::<Value>(&swapped, now(), leeway)),
        "bad signature"
    );
}

#[test]
fn reading_a_jwks_keeps_only_usable_ed25519_signing_keys() {
    use secrets_core::jwt::Jwks;
    let key = ed_key(1);
    let x = b64(key.verifying_key().as_bytes());
    let kid = thumbprint(&key);
    let good = json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid});
    let read = |keys: Value| Jwks::from_json(&json!({ "keys": keys }).to_string());
    // Minimal members (alg and use absent): kept, with alg and use filled.
    let set = read(json!([good.clone()])).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert_eq!(
        (
            set.keys[0].alg.as_str(),
            set.keys[0].public_key_use.as_str()
        ),
        ("EdDSA", "sig")
    );
    // Skipped: other key types, curves, algorithms, uses, no kid.
    let mut skipped = Vec::new();
    for (name, value) in [
        ("kty", json!("oct")),
        ("kty", json!("EC")),
        ("crv", json!("X25519")),
        ("crv", json!("Ed448")),
        ("alg", json!("HS256")),
        ("alg", json!("ES256")),
        ("use", json!("enc")),
        ("kid", json!(null)),
        ("kid", json!(7)),
    ] {
        let mut k = good.clone();
        k[name] = value;
        skipped.push(k);
    }
    skipped.push(json!({"kty": "oct", "k": b64(subkey("jwt/1")), "kid": "1", "alg": "HS256"}));
    assert!(read(Value::Array(skipped)).unwrap().keys.is_empty());
    // An HMAC key in a fetched set is never used: a token naming it is
    // refused as unknown, whatever it is signed with.
    let set = read(json!([{"kty": "oct", "k": b64(subkey("jwt/1")), "kid": "1"}])).unwrap();
    let hs = JwtSigner::new(JwtConfig::default(), ring(1)).unwrap();
    let (hs_token, _) = issue(&hs);
    assert_eq!(
        reason(set.verify::<Value>(&hs_token, now(), Duration::ZERO)),
        "unknown key id"
    );
    // Refused: bad x (not base64url, wrong length, not a point, small
    // order), two keys with one kid, not a set at all.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for bad_x in [
        json!("not base64!"),
        json!(format!("{x}=")),
        json!(b64([7u8; 31])),
        json!(b64(identity)),
    ] {
        let mut k = good.clone();
        k["x"] = bad_x.clone();
        assert!(
            matches!(
                read(json!([k])),
                Err(secrets_core::Error::InvalidInput { field: "jwks", .. })
            ),
            "{bad_x}"
        );
    }
    assert!(read(json!([good.clone(), good.clone()])).is_err());
    for text in ["", "[]", "{}", r#"{"keys":{}}"#, r#"{"keys":null}"#, "nope"] {
        assert!(Jwks::from_json(text).is_err(), "{text}");
    }
}
