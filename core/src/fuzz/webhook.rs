//! Webhooks: Standard Webhooks headers and secrets, GitHub signatures.

use std::sync::LazyLock;

use crate::clock::Timestamp;
use crate::error::{Error, WebhookRejection};
use crate::webhook::{self, Verifier, WebhookPublicKey, WebhookSecret, WebhookSigningKey};

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

/// The sender's fixed Ed25519 key pair (`v1a`), the public key of another
/// pair, and the public key's 32 bytes read as an HMAC secret.
struct Keys {
    signing: WebhookSigningKey,
    public: WebhookPublicKey,
    wrong: WebhookPublicKey,
    public_as_secret: WebhookSecret,
}

static KEYS: LazyLock<Option<Keys>> = LazyLock::new(|| {
    let signing = WebhookSigningKey::from_bytes(&[0x21; 32]).ok()?;
    let public = signing.public_key();
    let public_as_secret = WebhookSecret::from_bytes(public.as_bytes()).ok()?;
    Some(Keys {
        signing,
        public,
        wrong: WebhookSigningKey::from_bytes(&[0x22; 32])
            .ok()?
            .public_key(),
        public_as_secret,
    })
});

/// The `webhook-signature` value with only the entries `keep` says.
fn only_entries(value: &str, keep: impl Fn(&str) -> bool) -> String {
    value
        .split(' ')
        .filter(|e| !e.is_empty() && keep(e))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `headers` with each `webhook-signature` value changed by `f`.
fn map_signature(headers: &[(&str, &str)], f: impl Fn(&str) -> String) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            let v = if n.eq_ignore_ascii_case(webhook::HEADER_SIGNATURE) {
                f(v)
            } else {
                (*v).to_owned()
            };
            ((*n).to_owned(), v)
        })
        .collect()
}

fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Feeds Standard Webhooks headers and a payload (the layout of
/// `split_message`) to [`Verifier::verify`] with two
/// secrets, as during a rotation, and to [`Verifier::verify_asymmetric`]
/// with a fixed public key. In the `webhook-signature` value, `$a`
/// and `$b` stand for the `v1` entry of the message's own id, timestamp and
/// payload under the first or second secret, and `$v1a` for its `v1a` entry
/// under the fixed Ed25519 signing key, so that mutations of the id,
/// timestamp and payload still reach signature checking. Returns whether
/// the message verified either way.
///
/// Must never panic, and a verified message:
/// - is the one the headers name: its id and timestamp are the header
///   values, exactly, and the timestamp is within the tolerance of now;
/// - carries a `v1` entry that one of the secrets computes over exactly
///   this payload (the verified body is the input body): the same headers
///   with a payload one byte longer or with its first byte changed are
///   refused, as they are with only a secret that is not the endpoint's;
/// - verifies the same with the secrets in the other order and with the
///   header names in upper case;
/// - the same holds of a message verified by the public key (a `v1a` entry
///   that the signing key computes over exactly this payload; refused with
///   another payload or only another public key);
/// - its `v1a` entries alone never verify against an HMAC secret (not even
///   the public key's bytes as one), and its `v1` entries alone never
///   verify against a public key.
///
/// A refusal never repeats a signature value.
pub fn webhook_headers(data: &[u8]) -> bool {
    let (Some(secrets), Some(keys)) = (SECRETS.as_ref(), KEYS.as_ref()) else {
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
    let entry_v1a = timestamp
        .and_then(|ts| ts.parse::<i64>().ok())
        .zip(id)
        .and_then(|(ts, id)| webhook::sign_asymmetric(&[&keys.signing], id, ts, payload).ok())
        .map(|signed| signed.signature);
    let values: Vec<String> = lines
        .iter()
        .map(|(name, value)| {
            if !name.eq_ignore_ascii_case(webhook::HEADER_SIGNATURE) {
                return (*value).to_owned();
            }
            let mut value = (*value).to_owned();
            if let Some(v1a) = &entry_v1a {
                value = value.replace("$v1a", v1a);
            }
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
    let asymmetric = check_v1a(&verifier, &headers, payload, keys, secrets, now);
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
        return asymmetric;
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
    // Its `v1` entries alone are not a `v1a` signature.
    let v1_only = map_signature(&headers, |v| only_entries(v, |e| !e.starts_with("v1a,")));
    assert!(
        verifier
            .verify_asymmetric(&borrowed(&v1_only), payload, &[&keys.public], now)
            .is_err(),
        "v1 entries verified against a public key"
    );
    true
}

/// The `v1a` half of [`webhook_headers`]: verifies `headers` with the
/// fixed public key and checks what must hold of a verified message.
/// Returns whether it verified.
fn check_v1a(
    verifier: &Verifier,
    headers: &[(&str, &str)],
    payload: &[u8],
    keys: &Keys,
    secrets: &Secrets,
    now: Timestamp,
) -> bool {
    let Ok(msg) = verifier.verify_asymmetric(headers, payload, &[&keys.public], now) else {
        return false;
    };
    assert_eq!(
        Some(msg.id.as_str()),
        find(headers, webhook::HEADER_ID),
        "v1a: another id"
    );
    assert_eq!(
        Some(msg.timestamp.to_string().as_str()),
        find(headers, webhook::HEADER_TIMESTAMP)
    );
    assert!((NOW - msg.timestamp).abs() <= 300);
    // Ed25519 signing is deterministic and verification strict: without
    // the signing key, the only signature that verifies is its own.
    let signature = find(headers, webhook::HEADER_SIGNATURE).unwrap_or_default();
    let signed = webhook::sign_asymmetric(&[&keys.signing], &msg.id, msg.timestamp, payload);
    assert!(
        signed.is_ok_and(|s| signature.split(' ').any(|e| e == s.signature)),
        "verified, but no v1a entry signs this payload"
    );

    let mut longer = payload.to_vec();
    longer.push(b'\n');
    let mut changed = payload.to_vec();
    if let Some(first) = changed.first_mut() {
        *first ^= 0x01;
    }
    for other in [&longer, &changed] {
        if other.as_slice() != payload {
            assert!(
                verifier
                    .verify_asymmetric(headers, other, &[&keys.public], now)
                    .is_err(),
                "v1a verified with a payload other than the one signed"
            );
        }
    }
    assert!(matches!(
        verifier.verify_asymmetric(headers, payload, &[&keys.wrong], now),
        Err(Error::Webhook {
            reason: WebhookRejection::NoMatchingSignature
        })
    ));
    assert_eq!(
        verifier
            .verify_asymmetric(headers, payload, &[&keys.wrong, &keys.public], now)
            .ok(),
        Some(msg)
    );
    // Its `v1a` entries alone are no HMAC signature, under any secret.
    let v1a_only = map_signature(headers, |v| only_entries(v, |e| e.starts_with("v1a,")));
    let v1a_only = borrowed(&v1a_only);
    for secret in [&secrets.a, &secrets.b, &keys.public_as_secret] {
        assert!(
            verifier.verify(&v1a_only, payload, &[secret], now).is_err(),
            "v1a entries verified against an HMAC secret"
        );
    }
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
