use super::*;
use proptest::prelude::*;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn reason(r: Result<ParsedToken>) -> &'static str {
    match r {
        Err(Error::InvalidToken { reason }) => reason.as_str(),
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

#[test]
fn digits_are_the_documented_alphabet() {
    for v in 0..62u8 {
        assert_eq!(digit(v), ALPHABET[v as usize]);
    }
    assert_eq!(&checksum_of_value(0), b"000000");
    assert_eq!(&checksum_of_value(u32::MAX), b"4gfFC3");
    assert_eq!(&checksum_of_value(61), b"00000z");
    assert_eq!(&checksum_of_value(62), b"000010");
}

/// The encoding half of `checksum`, for a given CRC value.
fn checksum_of_value(mut n: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = digit((n % 62) as u8);
        n /= 62;
    }
    out
}

#[test]
fn prefixes() {
    for ok in ["ab", "scp", "a1", "abcdefghij", "z9z9z9z9z9"] {
        assert_eq!(TokenFormat::new(ok).unwrap().prefix(), ok);
    }
    for bad in [
        "",
        "a",
        "abcdefghijk",
        "1ab",
        "Scp",
        "sCp",
        "s_p",
        "s-p",
        "sc p",
        "scé",
        "_sc",
        "sc_",
    ] {
        let err = TokenFormat::new(bad).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    field: "prefix",
                    ..
                }
            ),
            "{bad:?}"
        );
    }
    for f in [
        TokenFormat::api(),
        TokenFormat::agent(),
        TokenFormat::refresh(),
    ] {
        assert_eq!(TokenFormat::new(f.prefix()).unwrap(), f);
    }
    assert_eq!(MIN_TOKEN_LEN, 39);
    assert_eq!(MAX_TOKEN_LEN, 47);
}

#[test]
fn generate_parse_round_trip() {
    for prefix in ["ab", "scp", "abcdefghij"] {
        let f = TokenFormat::new(prefix).unwrap();
        let t = f.generate().unwrap();
        let t = t.expose_secret();
        assert_eq!(t.len(), f.token_len());
        assert!(t.starts_with(&format!("{prefix}_")));
        assert!(
            t[prefix.len() + 1..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        let p = f.parse(t).unwrap();
        assert_eq!(p.hash, hash(t));
        assert_eq!(p.display_prefix, &t[..prefix.len() + 5]);
    }
}

#[test]
fn random_characters_look_uniform() {
    // 2,000 tokens × 30 characters: each digit is expected 967.7 times
    // (σ ≈ 30.9); a modulo bias of 256 mod 62 would put digits 0-7 about
    // 25% above the others. Bounds at ±6σ.
    let f = TokenFormat::api();
    let mut counts = [0u32; 62];
    for _ in 0..2000 {
        let t = f.generate().unwrap();
        for b in t.expose_secret()[4..34].bytes() {
            counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
        }
    }
    for (i, &c) in counts.iter().enumerate() {
        assert!((782..=1153).contains(&c), "digit {i}: {c}");
    }
}

#[test]
fn every_single_substitution_is_rejected() {
    let f = TokenFormat::api();
    let t = f.generate().unwrap();
    let t = t.expose_secret();
    // Every position × every base62 digit and a few other characters.
    let mut replacements = ALPHABET.to_vec();
    replacements.extend_from_slice(b"_- .+/=\0");
    let mut checked = 0;
    for pos in 0..t.len() {
        for &r in &replacements {
            let mut bytes = t.as_bytes().to_vec();
            if bytes[pos] == r {
                continue;
            }
            bytes[pos] = r;
            let typo = String::from_utf8(bytes).unwrap();
            let why = reason(f.parse(&typo));
            if pos >= 4 && r.is_ascii_alphanumeric() {
                // CRC32 detects every error confined to 32 bits.
                assert_eq!(why, "bad checksum", "{pos} {}", r as char);
            }
            assert!(f.scan(&typo).is_empty(), "{pos} {}", r as char);
            checked += 1;
        }
    }
    assert!(checked > 40 * 65, "{checked}");
}

#[test]
fn wrong_prefix_and_lengths() {
    let api = TokenFormat::api();
    let t = api.generate().unwrap();
    let t = t.expose_secret();
    assert_eq!(reason(TokenFormat::agent().parse(t)), "wrong prefix");
    assert_eq!(
        reason(TokenFormat::new("scpx").unwrap().parse(t)),
        "wrong prefix"
    );
    // The same random part and checksum under another prefix: the
    // checksum covers the prefix.
    let moved = format!("sca{}", &t[3..]);
    assert_eq!(reason(TokenFormat::agent().parse(&moved)), "bad checksum");

    assert_eq!(reason(api.parse(&t[..t.len() - 1])), "malformed");
    assert_eq!(reason(api.parse(&format!("{t}0"))), "malformed");
    // One character less or more at the front: well formed, but the
    // prefix becomes `cp` or `sscp`.
    assert_eq!(reason(api.parse(&t[1..])), "wrong prefix");
    assert_eq!(reason(api.parse(&format!("s{t}"))), "wrong prefix");
    assert_eq!(reason(api.parse(&format!("_{t}"))), "malformed");
    assert_eq!(reason(api.parse(&t[4..])), "malformed");
    assert_eq!(reason(api.parse("")), "malformed");
    assert_eq!(reason(api.parse(&" ".repeat(1 << 20))), "malformed");
    assert_eq!(reason(api.parse(&format!(" {t}"))), "malformed");
    assert_eq!(reason(api.parse(&format!("{t}\n"))), "malformed");
    assert_eq!(reason(api.parse(&t.to_uppercase())), "malformed");
    assert_eq!(reason(api.parse(&t.replacen('_', "-", 1))), "malformed");
}

#[test]
fn non_ascii_never_panics() {
    let api = TokenFormat::api();
    let t = api.generate().unwrap();
    let t = t.expose_secret();
    // Same byte length, a multi-byte character where the '_' or a
    // digit should be, and at every split point used by `Parts`.
    for pos in [0, 2, 3, 4, 5, 33, 34, 38] {
        let mut s = t[..pos].to_owned();
        s.push('é');
        s.push_str(&t[pos + 2..]);
        assert_eq!(s.len(), t.len());
        assert_eq!(reason(api.parse(&s)), "malformed", "{pos}");
        assert!(api.scan(&s).is_empty(), "{pos}");
    }
    for s in ["scp_éééééééééééééééééé", "日本語", "scp_🔑🔑🔑🔑🔑🔑🔑🔑🔑"]
    {
        assert_eq!(reason(api.parse(s)), "malformed");
        assert!(api.scan(s).is_empty());
    }
}

#[test]
fn scan_finds_embedded_tokens() {
    let api = TokenFormat::api();
    let a = api.generate().unwrap();
    let b = api.generate().unwrap();
    let (a, b) = (a.expose_secret(), b.expose_secret());
    let texts = [
        a.to_owned(),
        format!("2024-01-01T00:00:00Z INFO auth token={a} user=7"),
        format!(r#"{{"token":"{a}","other":1}}"#),
        format!("https://example.invalid/hook?key={a}&x=1"),
        format!("Authorization: Bearer {a}\r\n"),
        format!("export SCP_TOKEN='{a}'"),
        format!("«{a}»"),
        format!("({a}).{a}"),
        format!("{a}\n{b}\n{a}"),
    ];
    let expected = [1, 1, 1, 1, 1, 1, 1, 2, 3];
    for (text, n) in texts.iter().zip(expected) {
        let found = api.scan(text);
        assert_eq!(found.len(), n, "{text}");
        for f in &found {
            let s = &text[f.range()];
            assert!(s == a || s == b);
            assert_eq!(f.hash(), hash(s));
            assert_eq!(f.display_prefix(), &s[..8]);
            assert_eq!(f.prefix(), "scp");
        }
    }
    let found = api.scan(&format!("{a} {b}"));
    assert_eq!(found[0].range(), 0..40);
    assert_eq!(found[1].range(), 41..81);
}

#[test]
fn scan_ignores_glued_and_wrong_tokens() {
    let api = TokenFormat::api();
    let a = api.generate().unwrap();
    let a = a.expose_secret();
    // The token with its last character changed (never to itself: a
    // random token may end in `X`).
    let other_last = if a.ends_with('X') { 'Y' } else { 'X' };
    for text in [
        format!("x{a}"),
        format!("{a}x"),
        format!("_{a}"),
        format!("{a}_"),
        format!("9{a}"),
        format!("{a}0"),
        format!("foo_{a}"),
        a[..39].to_owned(),
        format!("{}{other_last}", &a[..39]),
    ] {
        assert!(api.scan(&text).is_empty(), "{text}");
    }
    // Another format's token is not found by this one, but by both.
    let agent = TokenFormat::agent();
    let b = agent.generate().unwrap();
    let text = format!("{a} {}", b.expose_secret());
    assert_eq!(api.scan(&text).len(), 1);
    assert_eq!(scan_all(&text, &[&api, &agent]).len(), 2);
    assert!(scan_all(&text, &[]).is_empty());
}

#[test]
fn debug_is_short_and_never_the_token() {
    let api = TokenFormat::api();
    let t = api.generate().unwrap();
    let t = t.expose_secret();
    let p = api.parse(t).unwrap();
    let found = api.scan(t);
    for text in [
        format!("{p:?}"),
        format!("{p:#?}"),
        format!("{found:?}"),
        format!("{found:#?}"),
    ] {
        assert!(!text.contains(&t[8..]), "{text}");
        assert!(!text.contains(&t[10..20]), "{text}");
        assert!(text.len() < 120, "{text}");
    }
    assert!(format!("{p:?}").contains(&t[..8]));
    for bad in [
        api.parse(&t[1..]).unwrap_err(),
        TokenFormat::agent().parse(t).unwrap_err(),
    ] {
        assert!(!bad.to_string().contains(&t[8..]));
        assert!(!format!("{bad:?}").contains(&t[8..]));
    }
}

#[test]
fn known_answers_from_python_zlib() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/token_vectors.json")).unwrap();
    assert!(file["source"].as_str().is_some());
    let valid = file["valid"].as_array().unwrap();
    assert!(!valid.is_empty());
    for v in valid {
        let body = v["body"].as_str().unwrap();
        assert_eq!(
            u64::from(crc32fast::hash(body.as_bytes())),
            v["crc32"].as_u64().unwrap()
        );
        let sum = checksum(body.as_bytes());
        assert_eq!(
            std::str::from_utf8(&sum).unwrap(),
            v["checksum"].as_str().unwrap()
        );
    }
}

/// Random base62 strings of `len` characters.
fn base62(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0..62u8, len)
        .prop_map(|v| v.into_iter().map(|d| char::from(digit(d))).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_any_substitution_is_detected(pos in 4usize..40, d in 0..62u8) {
        let api = TokenFormat::api();
        let t = api.generate().unwrap();
        let t = t.expose_secret();
        let r = digit(d);
        prop_assume!(t.as_bytes()[pos] != r);
        let mut bytes = t.as_bytes().to_vec();
        bytes[pos] = r;
        let typo = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(reason(api.parse(&typo)), "bad checksum");
        prop_assert!(api.scan(&typo).is_empty());
    }

    #[test]
    fn prop_round_trip_any_prefix(prefix in "[a-z][a-z0-9]{1,9}") {
        let f = TokenFormat::new(&prefix).unwrap();
        let t = f.generate().unwrap();
        let p = f.parse(t.expose_secret()).unwrap();
        prop_assert_eq!(p.hash, hash(t.expose_secret()));
        let found = f.scan(&format!("<{}>", t.expose_secret()));
        prop_assert_eq!(found.len(), 1);
        prop_assert_eq!(found[0].range(), 1..1 + f.token_len());
    }

    #[test]
    fn prop_random_candidates_are_refused(random in base62(36)) {
        let api = TokenFormat::api();
        let candidate = format!("scp_{random}");
        // 62^-6 per candidate: a failure here is (much) likelier a bug.
        prop_assert_eq!(reason(api.parse(&candidate)), "bad checksum");
        prop_assert!(api.scan(&candidate).is_empty());
    }

    #[test]
    fn prop_parse_and_scan_never_panic(s in "\\PC{0,80}", glue in "[ -~]{0,3}") {
        let api = TokenFormat::api();
        let _ = api.parse(&s);
        let t = api.generate().unwrap();
        let text = format!("{s}{glue}{}{glue}{s}", t.expose_secret());
        for f in api.scan(&text) {
            prop_assert!(text.is_char_boundary(f.range().start));
            prop_assert!(text.is_char_boundary(f.range().end));
            prop_assert!(api.parse(&text[f.range()]).is_ok());
        }
    }

    #[test]
    fn prop_scan_finds_separated_tokens(
        pieces in proptest::collection::vec(("\\PC{0,12}", any::<bool>()), 0..6),
    ) {
        let api = TokenFormat::api();
        let mut text = String::new();
        let mut expected = Vec::new();
        for (filler, put) in &pieces {
            text.push_str(filler);
            if *put {
                let t = api.generate().unwrap();
                text.push(' ');
                expected.push(hash(t.expose_secret()));
                text.push_str(t.expose_secret());
                text.push(' ');
            }
        }
        let found: Vec<[u8; 32]> = api.scan(&text).iter().map(Found::hash).collect();
        prop_assert_eq!(found, expected);
    }
}
