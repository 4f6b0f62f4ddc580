//! Webhooks: Standard Webhooks headers and secrets, GitHub signatures.

use std::sync::LazyLock;

use crate::clock::Timestamp;
use crate::error::{Error, WebhookRejection};
use crate::webhook::{self, Verifier, WebhookSecret};

use super::{find, header_lines, split_message};

/// `now` for every harness here.
const NOW: i64 = 1_700_000_000;

/// The payload limit of the harnesses' verifier (small, so the limit is
/// reached).
const MAX_PAYLOAD: usize = 64 * 1024;

/// The endpoint's two current secrets (during a rotation) and one that is
/// not the endpoint's.
struct Secrets {
    a: WebhookSecret,
    b: WebhookSecret,
    wrong: WebhookSecret,
}

static SECRETS: LazyLock<Option<Secrets>> = LazyLock::new(|| {
    Some(Secrets {
        a: WebhookSecret::from_bytes(&[0x5a; 32]).ok()?,
        b: WebhookSecret::from_bytes(&[0x3c; 24]).ok()?,
        wrong: WebhookSecret::from_bytes(&[0x77; 64]).ok()?,
    })
});

/// Feeds Standard Webhooks headers and a payload (the layout of
/// `split_message`) to [`Verifier::verify`] with two
/// secrets, as during a rotation. In the `webhook-signature` value, `$a`
/// and `$b` stand for the `v1` entry of the message's own id, timestamp and
/// payload under the first or second secret, so that mutations of the id,
/// timestamp and payload still reach signature checking. Returns whether
/// the message verified.
///
/// Must never panic, and a verified message:
/// - is the one the headers name: its id and timestamp are the header
///   values, exactly, and the timestamp is within the tolerance of now;
/// - carries a `v1` entry that one of the secrets computes over exactly
///   this payload (the verified body is the input body): the same headers
///   with a payload one byte longer or with its first byte changed are
///   refused, as they are with only a secret that is not the endpoint's;
/// - verifies the same with the secrets in the other order and with the
///   header names in upper case.
///
/// A refusal never repeats a signature value.
pub fn webhook_headers(data: &[u8]) -> bool {
    let Some(secrets) = SECRETS.as_ref() else {
        return false;
    };
    let (head, payload) = split_message(data);
    let lines = header_lines(&head);
    let id = find(&lines, webhook::HEADER_ID);
    let timestamp = find(&lines, webhook::HEADER_TIMESTAMP);
    let entry = |secret: &WebhookSecret| {
        let ts = timestamp?.parse::<i64>().ok()?;
        webhook::sign(&[secret], id?, ts, payload)
            .ok()
            .map(|signed| signed.signature)
    };
    let (entry_a, entry_b) = (entry(&secrets.a), entry(&secrets.b));
    let values: Vec<String> = lines
        .iter()
        .map(|(name, value)| {
            if !name.eq_ignore_ascii_case(webhook::HEADER_SIGNATURE) {
                return (*value).to_owned();
            }
            let mut value = (*value).to_owned();
            if let Some(a) = &entry_a {
                value = value.replace("$a", a);
            }
            if let Some(b) = &entry_b {
                value = value.replace("$b", b);
            }
            value
        })
        .collect();
    let headers: Vec<(&str, &str)> = lines
        .iter()
        .zip(&values)
        .map(|((name, _), value)| (*name, value.as_str()))
        .collect();

    let verifier = Verifier::default().with_max_payload(MAX_PAYLOAD);
    let now = Timestamp::from_unix_seconds(NOW);
    let verified = verifier.verify(&headers, payload, &[&secrets.a, &secrets.b], now);
    let Ok(msg) = verified else {
        if let Err(e) = verified {
            // Signature values are 44 characters of base64; no refusal
            // message has a word that long.
            let text = e.to_string();
            let signatures = headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(webhook::HEADER_SIGNATURE))
                .flat_map(|(_, v)| v.split(' '))
                .filter_map(|entry| entry.split_once(',').map(|(_, sig)| sig))
                .filter(|sig| sig.len() == 44);
            for signature in signatures {
                assert!(!text.contains(signature), "a refusal repeats a signature");
            }
        }
        return false;
    };

    assert_eq!(Some(msg.id.as_str()), id);
    assert_eq!(Some(msg.timestamp.to_string().as_str()), timestamp);
    assert!((NOW - msg.timestamp).abs() <= 300);

    let signature = find(&headers, webhook::HEADER_SIGNATURE).unwrap_or_default();
    let entries: Vec<&str> = signature.split(' ').filter(|e| !e.is_empty()).collect();
    let signed_here = [&secrets.a, &secrets.b].into_iter().any(|secret| {
        webhook::sign(&[secret], &msg.id, msg.timestamp, payload)
            .is_ok_and(|signed| entries.contains(&signed.signature.as_str()))
    });
    assert!(signed_here, "verified, but no v1 entry signs this payload");

    let mut longer = payload.to_vec();
    longer.push(b'\n');
    let mut changed = payload.to_vec();
    if let Some(first) = changed.first_mut() {
        *first ^= 0x01;
    }
    for other in [&longer, &changed] {
        if other.as_slice() != payload {
            let refused = verifier.verify(&headers, other, &[&secrets.a, &secrets.b], now);
            assert!(
                refused.is_err(),
                "verified with a payload other than the one signed"
            );
        }
    }
    assert!(matches!(
        verifier.verify(&headers, payload, &[&secrets.wrong], now),
        Err(Error::Webhook {
            reason: WebhookRejection::NoMatchingSignature
        })
    ));
    assert_eq!(
        verifier
            .verify(&headers, payload, &[&secrets.b, &secrets.a], now)
            .ok(),
        Some(msg.clone())
    );
    let upper: Vec<String> = headers
        .iter()
        .map(|(n, _)| n.to_ascii_uppercase())
        .collect();
    let upper: Vec<(&str, &str)> = upper
        .iter()
        .zip(&headers)
        .map(|(n, (_, v))| (n.as_str(), *v))
        .collect();
    assert_eq!(
        verifier
            .verify(&upper, payload, &[&secrets.a, &secrets.b], now)
            .ok(),
        Some(msg)
    );
    // v1a (issue 10 item 9): once `Verifier` checks `v1a` entries, a `$v1a`
    // placeholder (the entry under a fixed Ed25519 key) goes beside `$a`
    // and `$b`, and the checks above apply to a message verified by its
    // public key: refused with another payload or another key.
    true
}

/// Feeds arbitrary text to [`WebhookSecret::parse`] and
/// [`WebhookSecret::parse_lenient`], and the raw bytes to
/// [`WebhookSecret::from_bytes`]. Returns whether the strict parser
/// accepted the text.
///
/// Must never panic, and:
/// - a secret is 24 to 64 bytes, whichever way it was read;
/// - the strict parser accepts only the canonical text: the trimmed input
///   is exactly the secret's `to_text`, and the lenient parser reads the
///   same bytes from it;
/// - any secret read round-trips through its text, strictly;
/// - text the lenient parser accepts but the strict one refuses (a missing
///   prefix or padding) is never repeated in the strict parser's error.
pub fn webhook_secret(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let strict = WebhookSecret::parse(&text);
    let lenient = WebhookSecret::parse_lenient(&text);
    for secret in [&strict, &lenient].into_iter().flatten() {
        check_secret(secret);
    }
    if let Ok(secret) = &strict {
        assert_eq!(secret.to_text().expose_secret(), text.trim());
        assert!(
            lenient
                .as_ref()
                .is_ok_and(|l| l.expose_secret() == secret.expose_secret()),
            "the lenient parser reads a strict secret differently"
        );
    }
    if let (Ok(_), Err(e)) = (&lenient, &strict) {
        let body = text.trim();
        let body = body.strip_prefix(webhook::SECRET_PREFIX).unwrap_or(body);
        assert!(!e.to_string().contains(body), "an error repeats the secret");
    }
    match WebhookSecret::from_bytes(data) {
        Ok(secret) => {
            assert_eq!(secret.expose_secret(), data);
            check_secret(&secret);
        }
        Err(_) => assert!(
            !(webhook::MIN_SECRET_LEN..=webhook::MAX_SECRET_LEN).contains(&data.len())
                || data.starts_with(webhook::SECRET_PREFIX.as_bytes())
        ),
    }
    strict.is_ok()
}

fn check_secret(secret: &WebhookSecret) {
    let len = secret.expose_secret().len();
    assert!((webhook::MIN_SECRET_LEN..=webhook::MAX_SECRET_LEN).contains(&len));
    assert_eq!(format!("{secret:?}"), "WebhookSecret([REDACTED])");
    let text = secret.to_text();
    let again = WebhookSecret::parse(text.expose_secret());
    assert!(
        again.is_ok_and(|a| a.expose_secret() == secret.expose_secret()),
        "a webhook secret did not round-trip through its text"
    );
}

/// The secret used when the input names none: the one of GitHub's
/// documentation ("Validating webhook deliveries").
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

/// Feeds `X-Hub-Signature-256` values and a payload (the layout of
/// `split_message`; every header line's value is
/// tried as a signature, `x-secret` sets the secret) to
/// [`Verifier::verify_github`]. In a value, `$sig` stands for the correct
/// signature of the payload, `$SIG` for it with upper-case hex. Returns
/// whether any value verified.
///
/// Must never panic, and a value verifies exactly when it is `sha256=` and
/// the hex HMAC-SHA256 of this payload under this secret (either case):
/// never another payload's, another secret's, nor another spelling
/// (`SHA256=`, spaces, `sha1=`, which is named as such in the refusal).
pub fn github_signature(data: &[u8]) -> bool {
    let (head, payload) = split_message(data);
    let lines = header_lines(&head);
    let secret = find(&lines, "x-secret").unwrap_or(GITHUB_SECRET).as_bytes();
    let verifier = Verifier::default().with_max_payload(MAX_PAYLOAD);
    let good = webhook::sign_github(payload, secret);
    let good_hex = good.strip_prefix("sha256=").unwrap_or_default();
    let upper = format!("sha256={}", good_hex.to_ascii_uppercase());
    let usable = !secret.is_empty() && payload.len() <= MAX_PAYLOAD;
    if usable {
        assert!(verifier.verify_github(&good, payload, secret).is_ok());
        assert!(verifier.verify_github(&upper, payload, secret).is_ok());
    }

    let mut accepted = false;
    for (name, value) in &lines {
        if name.eq_ignore_ascii_case("x-secret") {
            continue;
        }
        let value = value.replace("$sig", &good).replace("$SIG", &upper);
        let matches = value
            .strip_prefix("sha256=")
            .is_some_and(|hex| hex.eq_ignore_ascii_case(good_hex));
        match verifier.verify_github(&value, payload, secret) {
            Ok(()) => {
                accepted = true;
                assert!(
                    matches,
                    "a GitHub signature other than the payload's verified"
                );
                let mut other = payload.to_vec();
                other.push(b'\n');
                assert!(verifier.verify_github(&value, &other, secret).is_err());
                let mut other_secret = secret.to_vec();
                other_secret.push(b'!');
                assert!(
                    verifier
                        .verify_github(&value, payload, &other_secret)
                        .is_err()
                );
            }
            Err(e) => {
                assert!(
                    !usable || !matches,
                    "the payload's own GitHub signature was refused"
                );
                if usable && value.starts_with("sha1=") {
                    assert!(matches!(
                        e,
                        Error::Webhook {
                            reason: WebhookRejection::GithubSha1
                        }
                    ));
                }
            }
        }
    }
    accepted
}
