//! Property tests: round trips, rotation, exact tolerance boundaries, and
//! "any tampering is detected".

use secrets_core::error::WebhookRejection;
use std::time::Duration;

use proptest::prelude::*;
use secrets_core::webhook::{
    self, MAX_SECRET_LEN, MIN_SECRET_LEN, Verifier, WebhookPublicKey, WebhookSecret,
    WebhookSigningKey,
};
use secrets_core::{Error, Timestamp};

use crate::{Owned, at, secret};

/// Ids the specification allows: no `.`, no whitespace, no control
/// characters, 1 to 255 bytes (here up to 40 characters of any script).
fn ids() -> impl Strategy<Value = String> {
    "[^.\\s\\p{Cc}]{1,40}"
}

fn timestamps() -> impl Strategy<Value = i64> {
    0..100_000_000_000i64
}

fn payloads() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

fn key_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), MIN_SECRET_LEN..=MAX_SECRET_LEN)
        .prop_filter("not the text form", |b| !b.starts_with(b"whsec_"))
}

fn no_match(result: Result<webhook::VerifiedMessage, Error>) -> bool {
    matches!(
        result,
        Err(Error::Webhook {
            reason: WebhookRejection::NoMatchingSignature
        })
    )
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        key in key_bytes(),
        id in ids(),
        ts in timestamps(),
        payload in payloads(),
        skew in -300i64..=300,
        millis in 0i64..1000,
    ) {
        let secret = WebhookSecret::from_bytes(&key).unwrap();
        let signed = webhook::sign(&[&secret], &id, ts, &payload).unwrap();
        let headers = Owned::from_signed(&signed);
        // `now` anywhere within the tolerance, with any sub-second part.
        let now = Timestamp::from_unix_millis((ts + skew) * 1000 + millis);
        let msg = webhook::verify(&headers.borrowed(), &payload, &[&secret], now).unwrap();
        prop_assert_eq!(msg.id, id);
        prop_assert_eq!(msg.timestamp, ts);
    }

    #[test]
    fn secret_text_round_trips(key in key_bytes()) {
        let secret = WebhookSecret::from_bytes(&key).unwrap();
        let text = secret.to_text();
        prop_assert!(text.expose_secret().starts_with("whsec_"));
        let again = WebhookSecret::parse(text.expose_secret()).unwrap();
        prop_assert_eq!(again.expose_secret(), &key[..]);
        let lenient = WebhookSecret::parse_lenient(text.expose_secret()).unwrap();
        prop_assert_eq!(lenient.expose_secret(), &key[..]);
        // The specification's libraries also take it without the prefix
        // and without padding; so does parse_lenient, and parse does not.
        let bare = text.expose_secret().trim_start_matches("whsec_");
        let bare_parsed = WebhookSecret::parse_lenient(bare).unwrap();
        prop_assert_eq!(bare_parsed.expose_secret(), &key[..]);
        let unpadded = WebhookSecret::parse_lenient(bare.trim_end_matches('=')).unwrap();
        prop_assert_eq!(unpadded.expose_secret(), &key[..]);
        prop_assert!(WebhookSecret::parse(bare).is_err());
    }

    #[test]
    fn any_payload_bit_flip_is_detected(
        id in ids(),
        ts in timestamps(),
        payload in proptest::collection::vec(any::<u8>(), 1..512),
        at_bit in any::<prop::sample::Index>(),
    ) {
        let secret = secret(1);
        let signed = webhook::sign(&[&secret], &id, ts, &payload).unwrap();
        let headers = Owned::from_signed(&signed);
        let mut tampered = payload.clone();
        let bit = at_bit.index(tampered.len() * 8);
        tampered[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &tampered, &[&secret], at(ts))));
        // Appending or truncating too.
        let mut longer = payload.clone();
        longer.push(b' ');
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &longer, &[&secret], at(ts))));
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &payload[1..], &[&secret], at(ts))));
    }

    #[test]
    fn any_id_bit_flip_is_detected(
        id in "[A-Za-z0-9_]{1,40}",
        ts in timestamps(),
        payload in payloads(),
        at_bit in any::<prop::sample::Index>(),
    ) {
        let secret = secret(2);
        let signed = webhook::sign(&[&secret], &id, ts, &payload).unwrap();
        let mut bytes = id.clone().into_bytes();
        let bit = at_bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        // A flip may make the id invalid UTF-8 (an HTTP stack would refuse
        // it before us) or an invalid id (we refuse it): either way, no.
        if let Ok(other) = String::from_utf8(bytes) {
            let mut headers = Owned::from_signed(&signed);
            headers.set("webhook-id", &other);
            let result = webhook::verify(&headers.borrowed(), &payload, &[&secret], at(ts));
            prop_assert!(matches!(result, Err(Error::Webhook { .. })), "{:?}", result);
        }
    }

    #[test]
    fn any_other_timestamp_is_detected(
        id in ids(),
        ts in 1_000i64..100_000_000_000,
        delta in -300i64..=300,
        payload in payloads(),
    ) {
        prop_assume!(delta != 0);
        let secret = secret(3);
        let signed = webhook::sign(&[&secret], &id, ts, &payload).unwrap();
        let mut headers = Owned::from_signed(&signed);
        headers.set("webhook-timestamp", &(ts + delta).to_string());
        // Within the tolerance, so only the signature can refuse it.
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &payload, &[&secret], at(ts))));
    }

    #[test]
    fn any_signature_bit_flip_is_detected(
        id in ids(),
        ts in timestamps(),
        payload in payloads(),
        at_bit in any::<prop::sample::Index>(),
    ) {
        let secret = secret(4);
        let signed = webhook::sign(&[&secret], &id, ts, &payload).unwrap();
        let mut bytes = signed.signature.clone().into_bytes();
        let bit = at_bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(other) = String::from_utf8(bytes) {
            let mut headers = Owned::from_signed(&signed);
            headers.set("webhook-signature", &other);
            let result = webhook::verify(&headers.borrowed(), &payload, &[&secret], at(ts));
            prop_assert!(matches!(result, Err(Error::Webhook { .. })), "{:?}", result);
        }
    }

    #[test]
    fn rotation_verifies_with_either_secret(
        id in ids(),
        ts in timestamps(),
        payload in payloads(),
    ) {
        let (new, old, stranger) = (secret(5), secret(6), secret(7));
        // Sender in its grace period signs with both.
        let both = webhook::sign(&[&new, &old], &id, ts, &payload).unwrap();
        prop_assert_eq!(both.signature.split(' ').count(), 2);
        let headers = Owned::from_signed(&both);
        for receiver in [&[&new][..], &[&old][..], &[&old, &new][..], &[&stranger, &old][..]] {
            prop_assert!(webhook::verify(&headers.borrowed(), &payload, receiver, at(ts)).is_ok());
        }
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &payload, &[&stranger], at(ts))));
        // Receiver in its grace period holds both; the sender already moved on.
        let only_new = webhook::sign(&[&new], &id, ts, &payload).unwrap();
        let headers = Owned::from_signed(&only_new);
        prop_assert!(webhook::verify(&headers.borrowed(), &payload, &[&old, &new], at(ts)).is_ok());
        prop_assert!(no_match(webhook::verify(&headers.borrowed(), &payload, &[&old], at(ts))));
        // The signature of each secret alone is the entry it contributes.
        let each = webhook::sign(&[&old], &id, ts, &payload).unwrap();
        prop_assert!(both.signature.ends_with(&each.signature));
    }

    #[test]
    fn tolerance_boundaries_are_exact(
        ts in 1_000_000i64..100_000_000_000,
        tolerance in 0u64..86_400,
        millis in 0i64..1000,
    ) {
        let secret = secret(8);
        let signed = webhook::sign(&[&secret], "msg_1", ts, b"{}").unwrap();
        let headers = Owned::from_signed(&signed);
        let verifier = Verifier::default().with_tolerance(Duration::from_secs(tolerance));
        let tol = i64::try_from(tolerance).unwrap();
        let check = |now_s: i64| {
            verifier.verify(
                &headers.borrowed(),
                b"{}",
                &[&secret],
                Timestamp::from_unix_millis(now_s * 1000 + millis),
            )
        };
        prop_assert!(check(ts + tol).is_ok());
        prop_assert!(check(ts - tol).is_ok());
        let old = check(ts + tol + 1);
        prop_assert!(
            matches!(old, Err(Error::Webhook { reason: WebhookRejection::TimestampTooOld })),
            "{:?}",
            old
        );
        let future = check(ts - tol - 1);
        prop_assert!(
            matches!(future, Err(Error::Webhook { reason: WebhookRejection::TimestampTooNew })),
            "{:?}",
            future
        );
    }

    #[test]
    fn verify_never_panics_on_arbitrary_headers(
        id in "\\PC{0,300}",
        ts in "\\PC{0,30}",
        sig in "\\PC{0,200}",
        payload in payloads(),
    ) {
        let headers = [("webhook-id", id.as_str()), ("webhook-timestamp", ts.as_str()), ("webhook-signature", sig.as_str())];
        let _ = webhook::verify(&headers, &payload, &[&secret(9)], at(1_700_000_000));
        let _ = webhook::verify_github(&sig, &payload, b"secret");
        let _ = WebhookSecret::parse(&sig);
        let _ = WebhookSecret::parse_lenient(&sig);
    }
}

#[test]
fn default_tolerance_is_five_minutes_both_ways() {
    let secret = secret(10);
    let signed = webhook::sign(&[&secret], "msg_1", 1_700_000_000, b"{}").unwrap();
    let headers = Owned::from_signed(&signed);
    let verify = |now| webhook::verify(&headers.borrowed(), b"{}", &[&secret], at(now));
    assert!(verify(1_700_000_300).is_ok());
    assert!(verify(1_699_999_700).is_ok());
    assert!(verify(1_700_000_301).is_err());
    assert!(verify(1_699_999_699).is_err());
}

#[test]
fn generated_secrets_differ_and_have_the_requested_length() {
    let a = WebhookSecret::generate().unwrap();
    let b = WebhookSecret::generate().unwrap();
    assert_eq!(a.expose_secret().len(), 32);
    assert_ne!(a.expose_secret(), b.expose_secret());
    for len in MIN_SECRET_LEN..=MAX_SECRET_LEN {
        let s = WebhookSecret::generate_with_len(len).unwrap();
        assert_eq!(s.expose_secret().len(), len);
        let text = s.to_text();
        assert_eq!(
            WebhookSecret::parse(text.expose_secret())
                .unwrap()
                .expose_secret(),
            s.expose_secret()
        );
    }
}

fn seeds() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>().prop_filter("not the text form", |b| !b.starts_with(b"whsk_"))
}

fn v1a_headers(seed: &[u8; 32], id: &str, ts: i64, payload: &[u8]) -> Owned {
    let key = WebhookSigningKey::from_bytes(seed).unwrap();
    Owned::from_signed(&webhook::sign_asymmetric(&[&key], id, ts, payload).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn v1a_sign_then_verify_round_trips(
        seed in seeds(),
        id in ids(),
        ts in timestamps(),
        payload in payloads(),
        skew in -300i64..=300,
    ) {
        let key = WebhookSigningKey::from_bytes(&seed).unwrap();
        let headers = v1a_headers(&seed, &id, ts, &payload);
        let public = WebhookPublicKey::parse(&key.public_key().to_text()).unwrap();
        let msg = webhook::verify_asymmetric(&headers.borrowed(), &payload, &[&public], at(ts + skew)).unwrap();
        prop_assert_eq!((msg.id, msg.timestamp), (id, ts));
        let again = WebhookSigningKey::parse(key.to_text().expose_secret()).unwrap();
        prop_assert_eq!(again.expose_secret(), &seed);
    }

    #[test]
    fn v1a_any_tampering_is_detected(
        seed in seeds(),
        id in ids(),
        ts in timestamps(),
        payload in proptest::collection::vec(any::<u8>(), 1..512),
        bit in any::<prop::sample::Index>(),
        sig_bit in 0usize..512,
    ) {
        let public = WebhookSigningKey::from_bytes(&seed).unwrap().public_key();
        let headers = v1a_headers(&seed, &id, ts, &payload);
        let mut altered = payload.clone();
        let i = bit.index(altered.len() * 8);
        altered[i / 8] ^= 1 << (i % 8);
        prop_assert!(no_match(webhook::verify_asymmetric(&headers.borrowed(), &altered, &[&public], at(ts))));
        // One bit of the signature itself, re-encoded canonically.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let sig = headers.0[2].1.strip_prefix("v1a,").unwrap().to_owned();
        let mut raw = b64.decode(&sig).unwrap();
        raw[sig_bit / 8] ^= 1 << (sig_bit % 8);
        let mut forged = Owned(headers.0.clone());
        forged.set("webhook-signature", &format!("v1a,{}", b64.encode(&raw)));
        prop_assert!(no_match(webhook::verify_asymmetric(&forged.borrowed(), &payload, &[&public], at(ts))));
    }

    /// Algorithm confusion, both ways: a `v1a` signature never counts for
    /// an HMAC receiver (even one keyed with the public key's bytes, which
    /// everyone knows), nor a `v1` signature for a public-key receiver (even
    /// one made with the public key's bytes as the HMAC key). A header with
    /// both verifies for each receiver on its own entry.
    #[test]
    fn v1_and_v1a_never_stand_in_for_each_other(
        seed in seeds(),
        id in ids(),
        ts in timestamps(),
        payload in payloads(),
    ) {
        let public = WebhookSigningKey::from_bytes(&seed).unwrap().public_key();
        let as_hmac = WebhookSecret::from_bytes(public.as_bytes()).unwrap();
        let v1a = v1a_headers(&seed, &id, ts, &payload);
        let v1 = Owned::from_signed(&webhook::sign(&[&as_hmac], &id, ts, &payload).unwrap());
        let hmac_on_v1a = matches!(
            webhook::verify(&v1a.borrowed(), &payload, &[&as_hmac], at(ts)),
            Err(Error::Webhook { reason: WebhookRejection::NoSupportedSignature })
        );
        prop_assert!(hmac_on_v1a);
        let public_on_v1 = matches!(
            webhook::verify_asymmetric(&v1.borrowed(), &payload, &[&public], at(ts)),
            Err(Error::Webhook { reason: WebhookRejection::NoSupportedAsymmetricSignature })
        );
        prop_assert!(public_on_v1);
        // A v1a value relabelled v1, and a v1 value relabelled v1a.
        let mut relabelled = Owned(v1a.0.clone());
        relabelled.set("webhook-signature", &v1a.0[2].1.replacen("v1a,", "v1,", 1));
        prop_assert!(no_match(webhook::verify(&relabelled.borrowed(), &payload, &[&as_hmac], at(ts))));
        let mut relabelled = Owned(v1.0.clone());
        relabelled.set("webhook-signature", &v1.0[2].1.replacen("v1,", "v1a,", 1));
        prop_assert!(no_match(webhook::verify_asymmetric(&relabelled.borrowed(), &payload, &[&public], at(ts))));
        // Both entries in one header: each receiver verifies its own.
        let mut both = Owned(v1.0.clone());
        both.set("webhook-signature", &format!("{} {}", v1a.0[2].1, v1.0[2].1));
        webhook::verify(&both.borrowed(), &payload, &[&as_hmac], at(ts)).unwrap();
        webhook::verify_asymmetric(&both.borrowed(), &payload, &[&public], at(ts)).unwrap();
    }

    /// What the reference libraries accept, `parse_lenient` accepts: any
    /// value of the last character's unused bits, padding or not; `parse`
    /// refuses a non-zero value and says so.
    #[test]
    fn lenient_parsing_drops_trailing_bits(
        key in proptest::collection::vec(any::<u8>(), MIN_SECRET_LEN..=MAX_SECRET_LEN)
            .prop_filter("a partial last group", |k| k.len() % 3 != 0),
        junk in 1u8..16,
        padded in any::<bool>(),
    ) {
        use base64::Engine as _;
        let text = base64::engine::general_purpose::STANDARD.encode(&key);
        let data = text.trim_end_matches('=');
        // 1 byte left over: 2 characters, 4 unused bits; 2 bytes: 3, 2.
        let unused = if key.len() % 3 == 1 { 4 } else { 2 };
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let last = data.as_bytes()[data.len() - 1];
        let value = alphabet.iter().position(|&c| c == last).unwrap() as u8;
        let junked = value | (junk & ((1 << unused) - 1));
        prop_assume!(junked != value);
        let mut altered = data[..data.len() - 1].to_owned();
        altered.push(char::from(alphabet[usize::from(junked)]));
        if padded {
            altered.push_str(&text[data.len()..]);
        }
        let with_prefix = format!("whsec_{altered}");
        let lenient = WebhookSecret::parse_lenient(&with_prefix).unwrap();
        prop_assert_eq!(lenient.expose_secret(), &key[..]);
        let bare = WebhookSecret::parse_lenient(&altered).unwrap();
        prop_assert_eq!(bare.expose_secret(), &key[..]);
        match WebhookSecret::parse(&with_prefix) {
            Err(Error::InvalidInput { reason, .. }) => {
                prop_assert!(reason.contains("non-zero trailing bits"), "{}", reason);
                prop_assert_eq!(reason.contains("padding is missing"), !padded, "{}", reason);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn v1a_parsing_never_panics(
        text in "\\PC{0,120}",
        sig in "\\PC{0,300}",
        payload in payloads(),
    ) {
        let _ = WebhookPublicKey::parse(&text);
        let _ = WebhookSigningKey::parse(&text);
        let _ = WebhookPublicKey::parse(&format!("whpk_{text}"));
        let _ = WebhookSigningKey::parse(&format!("whsk_{text}"));
        let public = WebhookSigningKey::from_bytes(&[3; 32]).unwrap().public_key();
        for header in [sig.clone(), format!("v1a,{sig}"), format!("v1,x v1a,{sig} v1a,{sig}")] {
            let headers = [("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"), ("webhook-signature", header.as_str())];
            let _ = webhook::verify_asymmetric(&headers, &payload, &[&public], at(1_700_000_000));
        }
    }
}
