//! API tokens through the public API: known answers computed independently
//! (`core/tests/data/token_vectors.json`) and leak scanning at volume.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use secrets_core::Error;
use secrets_core::error::TokenRejection;
use secrets_core::token::{self, TokenFormat};

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../data/token_vectors.json")).unwrap()
}

#[test]
fn independent_tokens_parse() {
    let file = vectors();
    assert!(file["source"].as_str().is_some());
    let valid = file["valid"].as_array().unwrap();
    assert!(valid.len() >= 10);
    let mut all = Vec::new();
    for v in valid {
        let name = v["name"].as_str().unwrap();
        let t = v["token"].as_str().unwrap();
        let format = TokenFormat::new(v["prefix"].as_str().unwrap()).unwrap();
        let parsed = format.parse(t).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hex::encode(parsed.hash),
            v["sha256_hex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            hex::encode(token::hash(t)),
            v["sha256_hex"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            parsed.display_prefix,
            v["display_prefix"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(t.len(), format.token_len(), "{name}");
        all.push((format, t.to_owned()));
    }
    // All of them, found by one scan over a mixed text.
    let text: String = all.iter().map(|(_, t)| format!("- found {t}, ")).collect();
    let formats: Vec<&TokenFormat> = all.iter().map(|(f, _)| f).collect();
    let found = token::scan_all(&text, &formats);
    assert_eq!(found.len(), all.len());
    for (f, (_, t)) in found.iter().zip(&all) {
        assert_eq!(&text[f.range()], t);
    }
}

#[test]
fn independent_invalid_tokens_are_refused_for_the_documented_reason() {
    let file = vectors();
    for v in file["invalid"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let t = v["token"].as_str().unwrap();
        let format = TokenFormat::new(v["format"].as_str().unwrap()).unwrap();
        let err = format.parse(t).unwrap_err();
        match err {
            Error::InvalidToken { reason } => {
                assert_eq!(reason.as_str(), v["reason"].as_str().unwrap(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
        if t.len() > 12 {
            assert!(!err.to_string().contains(&t[4..12]), "{name}");
        }
        if v["reason"] == "bad checksum" {
            assert!(format.scan(t).is_empty(), "{name}");
        }
    }
}

/// SplitMix64: a small deterministic generator, so the sample is the same on
/// every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform base62 character (rejection sampling, as the library does).
    fn base62(&mut self) -> char {
        const ALPHABET: &[u8; 62] =
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        loop {
            let b = (self.next() & 0xff) as u8;
            if b < 248 {
                return char::from(ALPHABET[usize::from(b % 62)]);
            }
        }
    }
}

/// 200,000 random candidates of exactly the right shape (valid prefix, `_`,
/// 36 base62 characters) and 300 real tokens among them: the scan finds the
/// real ones and nothing else. A random candidate passes the checksum with
/// probability 62^-6 (about 1.8e-11), so the expected number of false
/// positives here is about 3.5e-6: any hit is a bug.
#[test]
fn no_false_positives_over_200k_random_candidates() {
    const CANDIDATES: usize = 200_000;
    let formats = [
        TokenFormat::api(),
        TokenFormat::agent(),
        TokenFormat::refresh(),
    ];
    let refs: Vec<&TokenFormat> = formats.iter().collect();
    let separators = [" ", "\n", "\"", "'", "=", ", ", "\t", "/", ":", "(", ")"];
    let mut rng = SplitMix64(0x5EC2_E7C0_2E00_0001);
    let mut text = String::with_capacity(CANDIDATES * 42);
    let mut real = Vec::new();
    for i in 0..CANDIDATES {
        let sep = separators[(rng.next() % separators.len() as u64) as usize];
        text.push_str(sep);
        if i % 666 == 0 {
            let f = &formats[i % 3];
            let t = f.generate().unwrap();
            real.push((text.len(), token::hash(t.expose_secret())));
            text.push_str(t.expose_secret());
        } else {
            text.push_str(formats[(rng.next() % 3) as usize].prefix());
            text.push('_');
            for _ in 0..36 {
                text.push(rng.base62());
            }
        }
    }
    text.push('\n');

    let found = token::scan_all(&text, &refs);
    let got: Vec<(usize, [u8; 32])> = found.iter().map(|f| (f.range().start, f.hash())).collect();
    assert_eq!(
        got.len(),
        real.len(),
        "false positives among random candidates"
    );
    assert_eq!(got, real);

    // And each candidate, parsed alone, is refused for its checksum.
    let mut rng = SplitMix64(42);
    for _ in 0..10_000 {
        let mut c = String::from("scp_");
        for _ in 0..36 {
            c.push(rng.base62());
        }
        assert!(matches!(
            TokenFormat::api().parse(&c),
            Err(Error::InvalidToken {
                reason: TokenRejection::BadChecksum
            })
        ));
    }
}

#[test]
fn scan_is_linear_on_adversarial_text() {
    // Long runs of word characters and of near-tokens: one pass, no
    // backtracking. (Timing is not asserted; a quadratic scan of 4 MB would
    // not finish in a test's lifetime.)
    let api = TokenFormat::api();
    let t = api.generate().unwrap();
    let long_word = "a".repeat(4 << 20);
    assert!(api.scan(&long_word).is_empty());
    let near = format!("scp_{}", "_scp".repeat(1 << 20));
    assert!(api.scan(&near).is_empty());
    let many = format!("{} ", t.expose_secret()).repeat(50_000);
    assert_eq!(api.scan(&many).len(), 50_000);
}
