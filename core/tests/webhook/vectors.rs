//! Known answers: `core/tests/data/standard_webhooks_vectors.json` and
//! `core/tests/data/hmac_sha256_rfc4231.json`.

use secrets_core::Error;
use secrets_core::webhook::{self, Verifier, WebhookPublicKey, WebhookSecret, WebhookSigningKey};

use crate::at;

fn file() -> serde_json::Value {
    serde_json::from_str(include_str!("../data/standard_webhooks_vectors.json")).unwrap()
}

#[test]
fn published_sign_vectors() {
    let file = file();
    assert!(file["source"].as_str().is_some());
    let cases = file["sign"].as_array().unwrap();
    assert!(cases.len() >= 2);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        assert!(v["source"].as_str().is_some(), "{name}");
        let secret = WebhookSecret::parse(v["secret"].as_str().unwrap()).unwrap();
        let id = v["msg_id"].as_str().unwrap();
        let ts = v["timestamp"].as_i64().unwrap();
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let signed = webhook::sign(&[&secret], id, ts, payload).unwrap();
        assert_eq!(signed.signature, v["signature"].as_str().unwrap(), "{name}");
        assert_eq!((signed.id.as_str(), signed.timestamp), (id, ts), "{name}");
        // And it verifies, at the signing time and at the tolerance edges.
        let headers = crate::Owned::from_signed(&signed);
        for now in [ts - 300, ts, ts + 300] {
            let msg = webhook::verify(&headers.borrowed(), payload, &[&secret], at(now)).unwrap();
            assert_eq!((msg.id.as_str(), msg.timestamp), (id, ts), "{name}");
        }
    }
}

#[test]
fn the_issue_interop_vector_is_in_the_file() {
    let file = file();
    let found = file["sign"].as_array().unwrap().iter().any(|v| {
        v["secret"] == "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
            && v["msg_id"] == "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"
            && v["timestamp"] == 1_649_367_553
            && v["payload"] == r#"{"email":"test@example.com","username":"test_user"}"#
            && v["signature"] == "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    });
    assert!(found);
}

#[test]
fn published_verify_vectors() {
    let file = file();
    let cases = file["verify"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        assert!(v["source"].as_str().is_some(), "{name}");
        let secret = WebhookSecret::parse(v["secret"].as_str().unwrap()).unwrap();
        let headers: Vec<(&str, &str)> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
            .collect();
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let now = at(v["now"].as_i64().unwrap());
        let got = Verifier::default().verify(&headers, payload, &[&secret], now);
        match v["expect"].as_str().unwrap() {
            "ok" => {
                let msg = got.unwrap_or_else(|e| panic!("{name}: {e}"));
                let id = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("webhook-id"))
                    .unwrap()
                    .1;
                assert_eq!(msg.id, id, "{name}");
            }
            want => match got {
                Err(Error::Webhook { reason }) => {
                    assert!(
                        reason.as_str().starts_with(want),
                        "{name}: got `{reason}`, want `{want}`"
                    );
                }
                other => panic!("{name}: got {other:?}, want `{want}`"),
            },
        }
    }
}

#[test]
fn published_github_vectors() {
    let file = file();
    for v in file["github"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let secret = v["secret"].as_str().unwrap().as_bytes();
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let header = v["header"].as_str().unwrap();
        assert_eq!(webhook::sign_github(payload, secret), header, "{name}");
        webhook::verify_github(header, payload, secret).unwrap();
        webhook::verify_github(
            &header.to_uppercase().replace("SHA256=", "sha256="),
            payload,
            secret,
        )
        .unwrap();
    }
}

/// RFC 4231 through the public GitHub path (the same HMAC as the Standard
/// Webhooks signatures; the unit tests run it through the crate-private
/// function directly, incremental feeding included).
#[test]
fn rfc4231_through_github_signing_and_verification() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../data/hmac_sha256_rfc4231.json")).unwrap();
    let tests = file["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 7);
    for t in tests {
        let case = t["test_case"].as_u64().unwrap();
        let key = hex::decode(t["key_hex"].as_str().unwrap()).unwrap();
        let data = hex::decode(t["data_hex"].as_str().unwrap()).unwrap();
        let full = t["full_hmac_sha256_hex"].as_str().unwrap();
        let header = format!("sha256={full}");
        assert_eq!(webhook::sign_github(&data, &key), header, "case {case}");
        webhook::verify_github(&header, &data, &key).unwrap();
        // Case 5 is published truncated to 128 bits: that is not a full tag.
        if !t["truncated_to_bits"].is_null() {
            let truncated = format!("sha256={}", t["hmac_sha256_hex"].as_str().unwrap());
            assert!(webhook::verify_github(&truncated, &data, &key).is_err());
        }
    }
}

fn v1a_file() -> serde_json::Value {
    serde_json::from_str(include_str!("../data/standard_webhooks_v1a_vectors.json")).unwrap()
}

/// `v1a` signing: the Go library's published signature and the cases an
/// independent implementation (Python `cryptography`, the generator beside
/// the file) computed.
#[test]
fn v1a_sign_vectors() {
    let file = v1a_file();
    assert!(file["source"].as_str().is_some());
    assert!(
        file["generator"]
            .as_str()
            .unwrap()
            .contains("make_webhook_v1a_vectors.py")
    );
    let cases = file["sign"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let mut go = false;
    for v in cases {
        let name = v["name"].as_str().unwrap();
        let key = WebhookSigningKey::parse(v["signing_key"].as_str().unwrap()).unwrap();
        let public = WebhookPublicKey::parse(v["public_key"].as_str().unwrap()).unwrap();
        assert_eq!(key.public_key(), public, "{name}");
        assert_eq!(
            key.public_key().to_text(),
            v["public_key"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            key.to_text().expose_secret(),
            v["signing_key"].as_str().unwrap(),
            "{name}"
        );
        let (id, ts) = (
            v["msg_id"].as_str().unwrap(),
            v["timestamp"].as_i64().unwrap(),
        );
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let signed = webhook::sign_asymmetric(&[&key], id, ts, payload).unwrap();
        assert_eq!(signed.signature, v["signature"].as_str().unwrap(), "{name}");
        let headers = crate::Owned::from_signed(&signed);
        for now in [ts - 300, ts, ts + 300] {
            let msg = webhook::verify_asymmetric(&headers.borrowed(), payload, &[&public], at(now))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((msg.id.as_str(), msg.timestamp), (id, ts), "{name}");
        }
        go |= signed.signature
            == "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
    }
    assert!(go, "the published Go vector is in the file");

    // A rotation: one entry per key, in the order given.
    let r = &file["rotation"];
    let keys: Vec<WebhookSigningKey> = r["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| WebhookSigningKey::parse(k.as_str().unwrap()).unwrap())
        .collect();
    let refs: Vec<&WebhookSigningKey> = keys.iter().collect();
    let (id, ts) = (
        r["msg_id"].as_str().unwrap(),
        r["timestamp"].as_i64().unwrap(),
    );
    let payload = r["payload"].as_str().unwrap().as_bytes();
    let signed = webhook::sign_asymmetric(&refs, id, ts, payload).unwrap();
    assert_eq!(signed.signature, r["signature"].as_str().unwrap());
    let headers = crate::Owned::from_signed(&signed);
    for k in r["public_keys"].as_array().unwrap() {
        let public = WebhookPublicKey::parse(k.as_str().unwrap()).unwrap();
        webhook::verify_asymmetric(&headers.borrowed(), payload, &[&public], at(ts)).unwrap();
    }
}

#[test]
fn v1a_verify_vectors() {
    let file = v1a_file();
    let cases = file["verify"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        let public = WebhookPublicKey::parse(v["public_key"].as_str().unwrap()).unwrap();
        let headers: Vec<(&str, &str)> = v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap(), h[1].as_str().unwrap()))
            .collect();
        let payload = v["payload"].as_str().unwrap().as_bytes();
        let now = at(v["now"].as_i64().unwrap());
        let got = Verifier::default().verify_asymmetric(&headers, payload, &[&public], now);
        match v["expect"].as_str().unwrap() {
            "ok" => {
                got.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            want => match got {
                Err(Error::Webhook { reason }) => assert!(
                    reason.as_str().starts_with(want),
                    "{name}: got `{reason}`, want `{want}`"
                ),
                other => panic!("{name}: got {other:?}, want `{want}`"),
            },
        }
        // Whatever a v1a receiver decides, an HMAC receiver keyed with the
        // public key's bytes (known to all) never accepts these headers.
        let as_hmac = WebhookSecret::from_bytes(public.as_bytes()).unwrap();
        assert!(
            Verifier::default()
                .verify(&headers, payload, &[&as_hmac], now)
                .is_err(),
            "{name}"
        );
    }
}

#[test]
fn v1a_bad_public_keys_are_refused() {
    let file = v1a_file();
    let cases = file["bad_public_keys"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for v in cases {
        let name = v["name"].as_str().unwrap();
        match WebhookPublicKey::parse(v["public_key"].as_str().unwrap()) {
            Err(Error::InvalidInput { field, .. }) => {
                assert_eq!(field, "webhook public key", "{name}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
