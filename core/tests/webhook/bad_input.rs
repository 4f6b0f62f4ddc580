//! Bad input, each case with the specific error it gets; and no error or
//! `Debug` output ever contains a secret or a signature.

use secrets_core::Error;
use secrets_core::webhook::{self, Verifier, WebhookSecret};

use crate::{Owned, at, secret};

const TEXT: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &str = "C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn invalid(result: Result<WebhookSecret, Error>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidInput { field, reason }) => (field, reason),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn secret_text_errors_explain_the_base64_trap() {
    let b64_of = |n: usize| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(vec![7u8; n])
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "does not start with `whsec_`"),
        ("prefix only", "whsec_".into(), "nothing after `whsec_`"),
        (
            "base64 without the prefix",
            BODY.into(),
            "keep the `whsec_` prefix",
        ),
        (
            "raw string secret",
            "my-github-style-secret".into(),
            "raw string secret",
        ),
        (
            "prefix in the wrong case",
            format!("WHSEC_{BODY}"),
            "does not start with `whsec_`",
        ),
        (
            "not base64",
            "whsec_this is not base64!".into(),
            "not valid base64",
        ),
        (
            "url-safe alphabet",
            "whsec_C2FVsBQIhrscChlQIMV-b5sSYspob7o_".into(),
            "URL-safe alphabet",
        ),
        (
            "missing padding",
            format!("whsec_{}", b64_of(32).trim_end_matches('=')),
            "padding is missing",
        ),
        (
            "non-canonical trailing bits",
            // `Bwc=` ends the base64 of [7; 32]; `Bwd=` sets the unused bits.
            format!("whsec_{}Bwd=", &b64_of(32)[..40]),
            "not valid base64",
        ),
        (
            "16 bytes",
            format!("whsec_{}", b64_of(16)),
            "is 16 bytes, shorter than the minimum of 24",
        ),
        (
            "23 bytes",
            format!("whsec_{}", b64_of(23)),
            "is 23 bytes, shorter than the minimum of 24",
        ),
        (
            "65 bytes",
            format!("whsec_{}", b64_of(65)),
            "is 65 bytes, longer than the maximum of 64",
        ),
        (
            "4 KiB",
            format!("whsec_{}", b64_of(4096)),
            "more than the 88 of the base64 of 64 bytes",
        ),
    ];
    for (name, text, want) in &cases {
        let (field, reason) = invalid(WebhookSecret::parse(text));
        assert_eq!(field, "webhook secret", "{name}");
        assert!(reason.contains(want), "{name}: `{reason}` lacks `{want}`");
        // Never the text itself.
        if text.len() > 8 {
            assert!(!reason.contains(text.as_str()), "{name}");
            assert!(!reason.contains(BODY), "{name}");
        }
    }
    // Surrounding whitespace (a file's newline) is fine.
    assert!(WebhookSecret::parse(&format!("  {TEXT}\n")).is_ok());
    // parse_lenient is lenient only about the prefix and the padding.
    assert!(WebhookSecret::parse_lenient(BODY).is_ok());
    let (_, reason) = invalid(WebhookSecret::parse_lenient("whsec_this is not base64!"));
    assert!(reason.contains("not valid base64"));
    let (_, reason) = invalid(WebhookSecret::parse_lenient(&b64_of(16)));
    assert!(reason.contains("shorter than the minimum"));
}

#[test]
fn secret_bytes_errors() {
    let (field, reason) = invalid(WebhookSecret::from_bytes(TEXT.as_bytes()));
    assert_eq!(field, "webhook secret");
    assert!(reason.contains("text form"), "{reason}");
    assert!(reason.contains("WebhookSecret::parse"), "{reason}");
    for len in [0, 1, 23, 65, 1000] {
        let (_, reason) = invalid(WebhookSecret::from_bytes(&vec![9; len]));
        assert!(reason.contains(&format!("is {len} bytes")), "{reason}");
    }
    for len in [0, 23, 65] {
        let (field, _) = invalid(WebhookSecret::generate_with_len(len));
        assert_eq!(field, "len");
    }
}

/// One bad argument to `sign`: the secrets, id and timestamp, and the
/// field and reason expected.
struct SignCase<'a> {
    name: &'a str,
    secrets: &'a [&'a WebhookSecret],
    id: &'a str,
    ts: i64,
    field: &'a str,
    reason: &'a str,
}

#[test]
fn sign_argument_errors() {
    let s = secret(1);
    let one = [&s];
    let long = "a".repeat(256);
    let case = |name, id, ts, field, reason| SignCase {
        name,
        secrets: &one,
        id,
        ts,
        field,
        reason,
    };
    let cases = [
        SignCase {
            name: "no secrets",
            secrets: &[],
            id: "msg_1",
            ts: 1,
            field: "secrets",
            reason: "is empty",
        },
        case("empty id", "", 1, "msg_id", "is empty"),
        case("id too long", &long, 1, "msg_id", "longer than 255 bytes"),
        case("dot in id", "msg.1", 1, "msg_id", "contains a `.`"),
        case("space in id", "msg 1", 1, "msg_id", "whitespace"),
        case("newline in id", "msg\n1", 1, "msg_id", "control"),
        case("nul in id", "msg\u{0}1", 1, "msg_id", "control"),
        case("negative timestamp", "msg_1", -1, "timestamp", "negative"),
        case(
            "milliseconds",
            "msg_1",
            1_700_000_000_000,
            "timestamp",
            "milliseconds",
        ),
    ];
    for c in &cases {
        match webhook::sign(c.secrets, c.id, c.ts, b"{}") {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, c.field, "{}", c.name);
                assert!(reason.contains(c.reason), "{}: {reason}", c.name);
            }
            other => panic!("{}: {other:?}", c.name),
        }
    }
    // The edges that are fine.
    assert!(webhook::sign(&[&s], &"a".repeat(255), 0, b"").is_ok());
    assert!(webhook::sign(&[&s], "é-ü_ñ:/+=", 99_999_999_999, b"").is_ok());
}

/// A valid message, then one header changed (or removed, or added).
fn verify_with(
    edit: impl FnOnce(&mut Vec<(String, String)>),
    payload: &[u8],
) -> Result<webhook::VerifiedMessage, Error> {
    let s = secret(2);
    let signed = webhook::sign(&[&s], "msg_1", 1_700_000_000, b"{}").unwrap();
    let mut headers = Owned::from_signed(&signed);
    edit(&mut headers.0);
    Verifier::default().with_max_payload(64).verify(
        &headers.borrowed(),
        payload,
        &[&s],
        at(1_700_000_000),
    )
}

fn set(name: &'static str, value: &'static str) -> impl FnOnce(&mut Vec<(String, String)>) {
    move |h| {
        for (n, v) in h.iter_mut() {
            if n == name {
                *v = value.to_owned();
            }
        }
    }
}

#[test]
fn header_errors_are_specific() {
    type Edit = Box<dyn FnOnce(&mut Vec<(String, String)>)>;
    let remove = |name: &'static str| -> Edit { Box::new(move |h| h.retain(|(n, _)| n != name)) };
    let dup = |name: &'static str| -> Edit {
        Box::new(move |h| {
            let v = h.iter().find(|(n, _)| n == name).unwrap().1.clone();
            h.push((name.to_uppercase(), v));
        })
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("unchanged", Box::new(|_| {}), "ok"),
        (
            "missing id",
            remove("webhook-id"),
            "missing webhook-id header",
        ),
        (
            "missing timestamp",
            remove("webhook-timestamp"),
            "missing webhook-timestamp header",
        ),
        (
            "missing signature",
            remove("webhook-signature"),
            "missing webhook-signature header",
        ),
        (
            "duplicate id",
            dup("webhook-id"),
            "duplicate webhook-id header",
        ),
        (
            "duplicate timestamp",
            dup("webhook-timestamp"),
            "duplicate webhook-timestamp header",
        ),
        (
            "duplicate signature",
            dup("webhook-signature"),
            "duplicate webhook-signature header",
        ),
        (
            "empty id",
            Box::new(set("webhook-id", "")),
            "empty webhook-id header",
        ),
        (
            "dot in id",
            Box::new(set("webhook-id", "msg.1")),
            "webhook-id header contains a `.`",
        ),
        (
            "tab in id",
            Box::new(set("webhook-id", "msg\t1")),
            "webhook-id header contains whitespace",
        ),
        (
            "empty timestamp",
            Box::new(set("webhook-timestamp", "")),
            "empty webhook-timestamp header",
        ),
        (
            "word timestamp",
            Box::new(set("webhook-timestamp", "hello")),
            "webhook-timestamp header is not a whole number",
        ),
        (
            "negative timestamp",
            Box::new(set("webhook-timestamp", "-1700000000")),
            "webhook-timestamp header is not a whole number",
        ),
        (
            "fractional timestamp",
            Box::new(set("webhook-timestamp", "1700000000.0")),
            "webhook-timestamp header is not a whole number",
        ),
        (
            "padded timestamp",
            Box::new(set("webhook-timestamp", " 1700000000")),
            "webhook-timestamp header is not a whole number",
        ),
        (
            "leading zero",
            Box::new(set("webhook-timestamp", "01700000000")),
            "webhook-timestamp header has leading zeros",
        ),
        (
            "overflowing timestamp",
            Box::new(set("webhook-timestamp", "99999999999999999999")),
            "webhook-timestamp header is out of range",
        ),
        (
            "stale",
            Box::new(set("webhook-timestamp", "1699999000")),
            "timestamp too old",
        ),
        (
            "future",
            Box::new(set("webhook-timestamp", "1700001000")),
            "timestamp too far in the future",
        ),
        (
            "milliseconds",
            Box::new(set("webhook-timestamp", "1700000000000")),
            "timestamp too far in the future (it looks like milliseconds",
        ),
        (
            "empty signature",
            Box::new(set("webhook-signature", "")),
            "empty webhook-signature header",
        ),
        (
            "blank signature",
            Box::new(set("webhook-signature", "   ")),
            "empty webhook-signature header",
        ),
        (
            "no comma",
            Box::new(set("webhook-signature", "v1")),
            "malformed webhook-signature header",
        ),
        (
            "no version",
            Box::new(set("webhook-signature", ",abc")),
            "malformed webhook-signature header",
        ),
        (
            "empty value",
            Box::new(set("webhook-signature", "v1,")),
            "malformed webhook-signature header",
        ),
        (
            "unknown version only",
            Box::new(set("webhook-signature", "v2,abc v1a,def")),
            "no supported signature",
        ),
        (
            "equals instead of comma",
            Box::new(set("webhook-signature", "v1=abc")),
            "malformed webhook-signature header",
        ),
        (
            "wrong signature",
            Box::new(set(
                "webhook-signature",
                "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            )),
            "no matching signature",
        ),
    ];
    for (name, edit, want) in cases {
        match (verify_with(edit, b"{}"), want) {
            (Ok(msg), "ok") => assert_eq!(msg.id, "msg_1"),
            (Err(Error::Webhook { reason }), _) => {
                assert!(
                    reason.as_str().starts_with(want),
                    "{name}: got `{reason}`, want `{want}`"
                );
            }
            (other, _) => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn oversized_payloads_and_missing_secrets() {
    match verify_with(|_| {}, &[b' '; 65]) {
        Err(Error::TooLarge { what, len, max }) => {
            assert_eq!((what, len, max), ("webhook payload", 65, 64));
        }
        other => panic!("{other:?}"),
    }
    let headers = [
        ("webhook-id", "a"),
        ("webhook-timestamp", "1"),
        ("webhook-signature", "v1,x"),
    ];
    assert!(matches!(
        webhook::verify(&headers, b"", &[], at(1)),
        Err(Error::InvalidInput {
            field: "secrets",
            ..
        })
    ));
    // The default limit is 1 MiB.
    let s = secret(3);
    let big = vec![b'x'; 1 << 20];
    let signed = webhook::sign(&[&s], "msg_1", 5, &big).unwrap();
    let headers = Owned::from_signed(&signed);
    assert!(webhook::verify(&headers.borrowed(), &big, &[&s], at(5)).is_ok());
    let bigger = vec![b'x'; (1 << 20) + 1];
    assert!(matches!(
        webhook::verify(&headers.borrowed(), &bigger, &[&s], at(5)),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn github_errors_are_specific() {
    let secret = b"It's a Secret to Everybody";
    let good = webhook::sign_github(b"Hello, World!", secret);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "malformed X-Hub-Signature-256 header"),
        ("sha256=".into(), "malformed X-Hub-Signature-256 header"),
        (
            good[..good.len() - 1].to_owned(),
            "malformed X-Hub-Signature-256 header",
        ),
        (format!("{good}0"), "malformed X-Hub-Signature-256 header"),
        (
            good.replace("sha256=", "SHA256="),
            "malformed X-Hub-Signature-256 header",
        ),
        (
            good.replace("sha256=", ""),
            "malformed X-Hub-Signature-256 header",
        ),
        (format!(" {good}"), "malformed X-Hub-Signature-256 header"),
        (
            good.replace('7', "g"),
            "malformed X-Hub-Signature-256 header",
        ),
        (
            format!("sha1={}", "0".repeat(40)),
            "X-Hub-Signature (SHA-1) is not accepted",
        ),
        (
            format!("sha256={}", "0".repeat(64)),
            "no matching signature",
        ),
    ];
    for (header, want) in &cases {
        match webhook::verify_github(header, b"Hello, World!", secret) {
            Err(Error::Webhook { reason }) => {
                assert!(reason.as_str().starts_with(want), "{header:?}: {reason}")
            }
            other => panic!("{header:?}: {other:?}"),
        }
    }
    assert!(matches!(
        webhook::verify_github(&good, b"Hello, World!", b""),
        Err(Error::InvalidInput {
            field: "secret",
            ..
        })
    ));
    assert!(matches!(
        Verifier::default()
            .with_max_payload(4)
            .verify_github(&good, b"Hello, World!", secret),
        Err(Error::TooLarge {
            len: 13,
            max: 4,
            ..
        })
    ));
    // Wrong secret, wrong payload.
    assert!(webhook::verify_github(&good, b"Hello, World!", b"another").is_err());
    assert!(webhook::verify_github(&good, b"Hello, World", secret).is_err());
}

#[test]
fn nothing_prints_a_secret_or_a_signature() {
    let s = WebhookSecret::parse(TEXT).unwrap();
    for shown in [format!("{s:?}"), format!("{s:#?}")] {
        assert_eq!(shown, "WebhookSecret([REDACTED])");
    }
    let text = s.to_text();
    assert!(!format!("{text:?}").contains(BODY));

    // Every error a receiver can get for this message, rendered both ways.
    let signed = webhook::sign(&[&s], "msg_1", 1_700_000_000, b"{}").unwrap();
    let sig_value = signed.signature.trim_start_matches("v1,").to_owned();
    let other = secret(4);
    let mut errors = Vec::new();
    for (secrets, now) in [
        (&[&other][..], 1_700_000_000),
        (&[&s][..], 1_800_000_000),
        (&[&s][..], 1_600_000_000),
    ] {
        let headers = Owned::from_signed(&signed);
        errors.push(webhook::verify(&headers.borrowed(), b"{}", secrets, at(now)).unwrap_err());
    }
    let mut headers = Owned::from_signed(&signed);
    headers.set("webhook-signature", &format!("v2,{sig_value}"));
    errors.push(webhook::verify(&headers.borrowed(), b"{}", &[&s], at(1_700_000_000)).unwrap_err());
    headers.set("webhook-signature", &format!("v1{sig_value}"));
    errors.push(webhook::verify(&headers.borrowed(), b"{}", &[&s], at(1_700_000_000)).unwrap_err());
    errors.push(
        webhook::verify_github(
            &format!("sha256={}", "0".repeat(64)),
            b"{}",
            s.expose_secret(),
        )
        .unwrap_err(),
    );
    for bad in [
        BODY,
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7o",
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD9",
    ] {
        errors.push(WebhookSecret::parse(bad).unwrap_err());
    }
    for e in &errors {
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains(BODY), "{shown}");
            assert!(!shown.contains(&sig_value), "{shown}");
            assert!(!shown.contains(&sig_value[..12]), "{shown}");
        }
    }
}

/// Issue 10, item 11: `MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr` (34 characters:
/// no padding, and `r` sets 4 bits past the 25th byte) is accepted by the
/// reference libraries (Python's `base64.b64decode(s + "==")`); the lenient
/// parser accepts it too, and the strict parser names both real causes.
#[test]
fn the_issue_secret_parses_leniently_and_strictly_names_the_cause() {
    const ISSUE: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr";
    // What Python's standardwebhooks decodes it to: the 24 bytes of the
    // 32 characters before `Br`, then `B` (000001) and the top 2 bits of
    // `r` (101011): 0b0000_0110.
    let mut want = WebhookSecret::parse_lenient("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .unwrap()
        .expose_secret()
        .to_vec();
    want.push(0x06);
    for text in [
        ISSUE.to_owned(),
        format!("whsec_{ISSUE}"),
        format!("whsec_{ISSUE}=="),
        format!("  whsec_{ISSUE}\n"),
    ] {
        let secret = WebhookSecret::parse_lenient(&text).unwrap();
        assert_eq!(secret.expose_secret(), want.as_slice(), "{text:?}");
    }
    // The canonical spelling of the same 25 bytes is `Bg==`: strict accepts that.
    let canonical = WebhookSecret::parse(&format!("whsec_{}Bg==", &ISSUE[..32])).unwrap();
    assert_eq!(canonical.expose_secret(), want.as_slice());

    let (field, reason) = invalid(WebhookSecret::parse(&format!("whsec_{ISSUE}")));
    assert_eq!(field, "webhook secret");
    assert!(reason.contains("non-zero trailing bits"), "{reason}");
    assert!(reason.contains("padding is missing"), "{reason}");
    assert!(reason.contains("parse_lenient"), "{reason}");
    assert!(!reason.contains(ISSUE));
    // Padded, the padding is no longer blamed.
    let (_, reason) = invalid(WebhookSecret::parse(&format!("whsec_{ISSUE}==")));
    assert!(reason.contains("non-zero trailing bits"), "{reason}");
    assert!(!reason.contains("padding is missing"), "{reason}");
    // A length one more than a multiple of 4 is no base64 at all, for
    // either parser (Python refuses it too), and the error says so.
    for parse in [WebhookSecret::parse, WebhookSecret::parse_lenient] {
        let (_, reason) = invalid(parse(&format!("whsec_{}", &ISSUE[..33])));
        assert!(reason.contains("one more than a multiple of 4"), "{reason}");
    }
}

#[test]
fn v1a_key_text_errors_name_the_mix_up() {
    use secrets_core::webhook::{WebhookPublicKey, WebhookSigningKey};
    let key = WebhookSigningKey::from_bytes(&[0x11; 32]).unwrap();
    let sk = key.to_text().expose_secret().to_owned();
    let pk = key.public_key().to_text();
    let cases: Vec<(Result<(), Error>, &str, &str)> = vec![
        (
            WebhookPublicKey::parse(&sk).map(drop),
            "webhook public key",
            "private key",
        ),
        (
            WebhookPublicKey::parse(TEXT).map(drop),
            "webhook public key",
            "`whsec_` shared secret",
        ),
        (
            WebhookPublicKey::parse(&pk[5..]).map(drop),
            "webhook public key",
            "does not start with `whpk_`",
        ),
        (
            WebhookPublicKey::parse(&pk.replace('=', "")).map(drop),
            "webhook public key",
            "not the standard base64",
        ),
        (
            WebhookSigningKey::parse(&pk).map(drop),
            "webhook signing key",
            "`whpk_` public key",
        ),
        (
            WebhookSigningKey::parse(TEXT).map(drop),
            "webhook signing key",
            "`whsec_` shared secret",
        ),
        (
            WebhookSigningKey::parse(&format!("whsk_{}", {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode([0x11u8; 64])
            }))
            .map(drop),
            "webhook signing key",
            "libsodium",
        ),
        (
            WebhookSigningKey::from_bytes(sk.as_bytes()).map(drop),
            "webhook signing key",
            "text form",
        ),
        (
            WebhookSigningKey::from_bytes(&[1; 31]).map(drop),
            "webhook signing key",
            "is 31 bytes",
        ),
    ];
    for (i, (result, want_field, want)) in cases.into_iter().enumerate() {
        match result {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, want_field, "case {i}");
                assert!(reason.contains(want), "case {i}: `{reason}` lacks `{want}`");
                assert!(!reason.contains(&sk[5..]), "case {i} echoes the key");
            }
            other => panic!("case {i}: {other:?}"),
        }
    }
}
