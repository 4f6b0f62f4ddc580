use super::github::parse_github_header;
use super::mac::{HmacSha256, hmac_sha256_parts};
use super::message::parse_timestamp;
use super::*;
use hmac::{KeyInit as _, Mac as _};

#[derive(serde::Deserialize)]
struct Rfc4231 {
    tests: Vec<Rfc4231Case>,
}

#[derive(serde::Deserialize)]
struct Rfc4231Case {
    test_case: u32,
    key_hex: String,
    data_hex: String,
    full_hmac_sha256_hex: String,
}

#[test]
fn rfc4231_vectors_through_the_webhook_hmac() {
    let text = include_str!("../../tests/data/hmac_sha256_rfc4231.json");
    let file: Rfc4231 = serde_json::from_str(text).unwrap();
    assert_eq!(file.tests.len(), 7);
    for case in &file.tests {
        let key = hex::decode(&case.key_hex).unwrap();
        let data = hex::decode(&case.data_hex).unwrap();
        let want = hex::decode(&case.full_hmac_sha256_hex).unwrap();
        // Whole, and split into parts at every position: incremental
        // feeding must not change the MAC.
        assert_eq!(
            hmac_sha256_parts(&key, &[&data]).as_slice(),
            want,
            "case {}",
            case.test_case
        );
        for cut in 0..=data.len() {
            let (a, b) = data.split_at(cut);
            assert_eq!(hmac_sha256_parts(&key, &[a, b]).as_slice(), want);
        }
        // The GitHub path is the same MAC.
        assert_eq!(
            sign_github(&data, &key),
            format!("sha256={}", case.full_hmac_sha256_hex)
        );
    }
}

#[test]
fn keyed_hmac_matches_new_from_slice_at_every_key_length() {
    for len in 0..=200 {
        let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let mut reference = HmacSha256::new_from_slice(&key).unwrap();
        reference.update(b"some data");
        let want: [u8; 32] = reference.finalize().into_bytes().into();
        assert_eq!(
            hmac_sha256_parts(&key, &[b"some ", b"data"]),
            want,
            "len {len}"
        );
    }
}

#[test]
fn published_vector() {
    let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    let signed = sign(
        &[&secret],
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1_649_367_553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
    )
    .unwrap();
    assert_eq!(
        signed.signature,
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
    );
}

#[test]
fn debug_never_shows_the_secret() {
    let secret = WebhookSecret::from_bytes(&[0x41; 32]).unwrap();
    for shown in [format!("{secret:?}"), format!("{secret:#?}")] {
        assert_eq!(shown, "WebhookSecret([REDACTED])");
    }
}

#[test]
fn timestamp_parsing_is_canonical() {
    assert_eq!(parse_timestamp("0").unwrap(), 0);
    assert_eq!(parse_timestamp("1649367553").unwrap(), 1_649_367_553);
    assert_eq!(parse_timestamp("9223372036854775807").unwrap(), i64::MAX);
    for bad in [
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "1e9",
        "01",
        "00",
        "9223372036854775808",
        "99999999999999999999999",
        "١٢٣",
    ] {
        assert!(parse_timestamp(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn github_header_parsing() {
    let lower = format!("sha256={}", "ab".repeat(32));
    let upper = format!("sha256={}", "AB".repeat(32));
    assert_eq!(parse_github_header(&lower).unwrap(), [0xab; 32]);
    assert_eq!(parse_github_header(&upper).unwrap(), [0xab; 32]);
    for bad in [
        String::new(),
        "sha256=".to_owned(),
        format!("sha256={}", "a".repeat(63)),
        format!("sha256={}", "a".repeat(65)),
        format!("sha256={}g", "a".repeat(63)),
        format!("SHA256={}", "a".repeat(64)),
        format!("sha256= {}", "a".repeat(63)),
        format!("sha1={}", "a".repeat(40)),
        format!("sha256={}é", "a".repeat(62)),
    ] {
        assert!(parse_github_header(&bad).is_err(), "{bad:?}");
    }
}

/// RFC 8032 section 7.1 tests 1 to 3, through the raw signing and
/// verification the `v1a` scheme is built on (the vector file's generator
/// checks them against Python `cryptography` too).
#[test]
fn rfc8032_vectors_through_the_v1a_primitives() {
    let text = include_str!("../../tests/data/standard_webhooks_v1a_vectors.json");
    let file: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = file["rfc8032"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let hex = |k: &str| hex::decode(case[k].as_str().unwrap()).unwrap();
        let key = WebhookSigningKey::from_bytes(&hex("secret_key_hex")).unwrap();
        assert_eq!(
            key.public_key().as_bytes().as_slice(),
            hex("public_key_hex"),
            "{name}"
        );
        let message = hex("message_hex");
        let want = hex("signature_hex");
        // Fed whole, and split at every position: the signature is of the
        // concatenation.
        for cut in 0..=message.len() {
            let (a, b) = message.split_at(cut);
            let b64 = key.sign_parts(&[a, b]).unwrap();
            let got =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.as_slice())
                    .unwrap();
            assert_eq!(got, want, "{name}");
        }
        let sig: [u8; 64] = want.as_slice().try_into().unwrap();
        assert!(key.public_key().verifies(&[&message], &sig), "{name}");
        let mut bad = sig;
        bad[63] ^= 0x10;
        assert!(!key.public_key().verifies(&[&message], &bad), "{name}");
        assert!(
            !key.public_key().verifies(&[&message, b"x"], &sig),
            "{name}"
        );
    }
}

#[test]
fn debug_never_shows_a_signing_key() {
    let key = WebhookSigningKey::from_bytes(&[0x41; 32]).unwrap();
    let text = key.to_text();
    for shown in [format!("{key:?}"), format!("{key:#?}")] {
        assert_eq!(shown, "WebhookSigningKey([REDACTED])");
        assert!(!shown.contains(&text.expose_secret()[5..]));
    }
    // The public key is not secret, and prints as its text form.
    let public = key.public_key();
    assert_eq!(
        format!("{public:?}"),
        format!("WebhookPublicKey({:?})", public.to_text())
    );
}
