use super::*;

/// A fast policy for tests: `new` refuses costs below 10 on purpose.
fn fast(cost: u32) -> PasswordPolicy {
    PasswordPolicy { cost }
}

fn s(p: &str) -> SecretString {
    SecretString::from(p)
}

fn invalid_field(r: Result<impl std::fmt::Debug>) -> &'static str {
    match r {
        Err(Error::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn policy_cost_bounds() {
    assert_eq!(PasswordPolicy::default().cost(), 12);
    assert_eq!(PasswordPolicy::new(MIN_COST).unwrap().cost(), 10);
    assert_eq!(PasswordPolicy::new(MAX_COST).unwrap().cost(), 31);
    for bad in [0, 4, 9, 32, u32::MAX] {
        let err = PasswordPolicy::new(bad).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { field: "cost", .. }),
            "{bad}"
        );
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
    }
    assert!(
        PasswordPolicy::new(9)
            .unwrap_err()
            .to_string()
            .contains("minimum of 10")
    );
}

#[test]
fn hash_verify_round_trip_at_a_fast_cost() {
    let policy = fast(4);
    let h = policy.hash(&s("correct horse")).unwrap();
    assert!(h.starts_with("$2b$04$"), "{h}");
    assert_eq!(h.len(), 60);
    assert!(policy.verify(&s("correct horse"), &h).unwrap());
    assert!(!policy.verify(&s("correct horsf"), &h).unwrap());
    assert!(!policy.verify(&s("correct hors"), &h).unwrap());
    // Salted: the same password hashes differently each time.
    assert_ne!(h, policy.hash(&s("correct horse")).unwrap());
}

#[test]
fn hash_at_the_minimum_production_cost() {
    // The one cost-10 hash of the unit tests (dependencies are optimized).
    let policy = PasswordPolicy::new(MIN_COST).unwrap();
    let h = policy.hash(&s("pässwörd 🔑")).unwrap();
    assert!(h.starts_with("$2b$10$"));
    assert!(policy.verify(&s("pässwörd 🔑"), &h).unwrap());
    assert!(!policy.needs_rehash(&h));
    assert!(PasswordPolicy::default().needs_rehash(&h));
}

#[test]
fn the_72_byte_boundary() {
    let policy = fast(4);
    let p72 = "a".repeat(72);
    let h = policy.hash(&s(&p72)).unwrap();
    assert!(policy.verify(&s(&p72), &h).unwrap());
    // The last byte counts (nothing is dropped below the limit).
    let mut other = "a".repeat(71);
    other.push('b');
    assert!(!policy.verify(&s(&other), &h).unwrap());

    let p73 = "a".repeat(73);
    assert_eq!(invalid_field(policy.hash(&s(&p73))), "password");
    assert_eq!(invalid_field(policy.verify(&s(&p73), &h)), "password");
    let msg = policy.hash(&s(&p73)).unwrap_err().to_string();
    assert!(msg.contains("72") && msg.contains("truncat"), "{msg}");

    // Bytes, not characters: 36 two-byte characters pass, 37 do not.
    assert!(policy.hash(&s(&"é".repeat(36))).is_ok());
    assert_eq!(invalid_field(policy.hash(&s(&"é".repeat(37)))), "password");
}

#[test]
fn nul_and_empty_passwords_are_refused() {
    let policy = fast(4);
    let h = policy.hash(&s("abc")).unwrap();
    for bad in ["", "\0", "abc\0", "abc\0def", "\0abc"] {
        assert_eq!(invalid_field(policy.hash(&s(bad))), "password", "{bad:?}");
        assert_eq!(
            invalid_field(policy.verify(&s(bad), &h)),
            "password",
            "{bad:?}"
        );
    }
    let msg = policy.hash(&s("abc\0def")).unwrap_err().to_string();
    assert!(msg.contains("NUL"), "{msg}");
    assert!(
        policy
            .hash(&s(""))
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
}

#[test]
fn malformed_hashes_are_invalid_input_without_the_hash() {
    let policy = fast(4);
    let good = policy.hash(&s("pw")).unwrap();
    let mut cases: Vec<String> = vec![
        String::new(),
        "not a hash".into(),
        good[..59].to_owned(),
        format!("{good}x"),
        good.replacen("$2b$", "$2c$", 1),
        good.replacen("$2b$", "$2x$", 1),
        good.replacen("$2b$", "$3b$", 1),
        good.replacen("$2b$04$", "$2b$03$", 1),
        good.replacen("$2b$04$", "$2b$32$", 1),
        good.replacen("$2b$04$", "$2b$+4$", 1),
        good.replacen("$2b$04$", "$2b$04!", 1),
        format!("{}!", &good[..59]),
        format!("{}é", &good[..58]),
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
    ];
    // A non-canonical last salt character (trailing bits set).
    let mut noncanonical = good.clone().into_bytes();
    noncanonical[28] = b'/';
    cases.push(String::from_utf8(noncanonical).unwrap());
    for bad in cases {
        let err = policy.verify(&s("pw"), &bad).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { field: "hash", .. }),
            "{bad:?}: {err}"
        );
        let msg = err.to_string();
        if bad.len() >= 60 {
            assert!(!msg.contains(&bad[7..]), "{msg}");
        }
        assert!(policy.needs_rehash(&bad), "{bad:?}");
    }
    let x = policy
        .verify(&s("pw"), &good.replacen("$2b$", "$2x$", 1))
        .unwrap_err();
    assert!(x.to_string().contains("$2x$"), "{x}");
}

#[test]
fn needs_rehash_compares_costs() {
    let stored = fast(5).hash(&s("pw")).unwrap();
    assert!(fast(6).needs_rehash(&stored));
    assert!(!fast(5).needs_rehash(&stored));
    // Above the policy too: rehashed down after an operator lowers it.
    assert!(fast(4).needs_rehash(&stored));
    // Other variants at the same cost are fine as they are.
    for v in ["$2a$", "$2y$"] {
        assert!(!fast(5).needs_rehash(&stored.replacen("$2b$", v, 1)));
    }
    assert!(PasswordPolicy::default().needs_rehash(&stored));
    assert!(
        !PasswordPolicy::default()
            .needs_rehash("$2y$12$4Umg0rCJwMswRw/l.SwHvuQV01coP0eWmGzd61QH2RvAOMANUBGC.")
    );
    assert!(
        PasswordPolicy::default()
            .needs_rehash("$2y$11$4Umg0rCJwMswRw/l.SwHvuQV01coP0eWmGzd61QH2RvAOMANUBGC.")
    );
}

#[test]
fn failed_logins_cost_the_policys_work_whatever_the_stored_cost() {
    let policy = fast(7);
    let dummy = policy.dummy_hash().unwrap();
    let pw = s("the right one");
    let wrong = s("a wrong one");
    let p = 1_u64 << 7;
    assert_eq!(
        policy.verify_login(&wrong, None, &dummy),
        LoginCheck {
            verdict: LoginVerdict::NoHash,
            rounds: p
        }
    );
    for cost in 4..=7 {
        let stored = fast(cost).hash(&pw).unwrap();
        let miss = policy.verify_login(&wrong, Some(&stored), &dummy);
        assert_eq!(miss.verdict, LoginVerdict::Mismatch, "{cost}");
        assert_eq!(miss.rounds, p, "cost {cost}");
        let hit = policy.verify_login(&pw, Some(&stored), &dummy);
        assert_eq!(hit.verdict, LoginVerdict::Match);
        assert_eq!(hit.rounds, 1 << cost, "a success is not padded");
    }
    // Above the policy, within the bound: its own (larger) work, once.
    let above = fast(8).hash(&pw).unwrap();
    let miss = policy.verify_login(&wrong, Some(&above), &dummy);
    assert_eq!(
        (miss.verdict, miss.rounds),
        (LoginVerdict::Mismatch, 1 << 8)
    );
    // Over the bound: not verified, the policy's work instead.
    assert_eq!(policy.max_verify_cost(), VERIFY_COST_FLOOR);
    for absurd in [15, 20, 31] {
        let forged = with_cost(&above, absurd).unwrap();
        assert!(StoredHash::parse(&forged).is_ok());
        for password in [&pw, &wrong] {
            let c = policy.verify_login(password, Some(&forged), &dummy);
            assert_eq!(
                (c.verdict, c.rounds),
                (LoginVerdict::CostOverBound, p),
                "{absurd}"
            );
        }
    }
    // Malformed hashes and refused passwords.
    let c = policy.verify_login(&wrong, Some("not a hash"), &dummy);
    assert_eq!((c.verdict, c.rounds), (LoginVerdict::MalformedHash, p));
    let c = policy.verify_login(&s(""), Some(&above), &dummy);
    assert_eq!((c.verdict, c.rounds), (LoginVerdict::RefusedPassword, 0));
    let c = policy.verify_login(&s(""), None, &dummy);
    assert_eq!((c.verdict, c.rounds), (LoginVerdict::RefusedPassword, 0));
}

#[test]
fn the_verify_bound_follows_the_policy() {
    assert_eq!(PasswordPolicy::new(10).unwrap().max_verify_cost(), 14);
    assert_eq!(PasswordPolicy::new(12).unwrap().max_verify_cost(), 14);
    assert_eq!(PasswordPolicy::new(13).unwrap().max_verify_cost(), 15);
    assert_eq!(PasswordPolicy::new(30).unwrap().max_verify_cost(), 31);
    assert_eq!(PasswordPolicy::new(31).unwrap().max_verify_cost(), 31);
    assert_eq!(with_cost("$2b$10$abc", 3), None);
    assert_eq!(with_cost("$2b$10$abc", 12).as_deref(), Some("$2b$12$abc"));
}

#[test]
fn dummy_hash_matches_nothing_obvious() {
    let policy = fast(4);
    let a = policy.dummy_hash().unwrap();
    let b = policy.dummy_hash().unwrap();
    assert_ne!(a, b);
    assert!(a.starts_with("$2b$04$"));
    assert!(!policy.needs_rehash(&a));
    for guess in ["a", "password", "0000000000000000000000000000000"] {
        assert!(!policy.verify(&s(guess), &a).unwrap());
    }
}

#[test]
fn nothing_secret_in_debug_or_errors() {
    let policy = fast(4);
    let secret = "S3cret-Passw0rd";
    let password = s(secret);
    assert!(!format!("{password:?}").contains(secret));
    assert!(!format!("{policy:?}").contains(secret));
    let h = policy.hash(&password).unwrap();
    let long = s(&format!("{secret}{}", "x".repeat(80)));
    let nul = s(&format!("{secret}\0"));
    for err in [
        policy.hash(&long).unwrap_err(),
        policy.hash(&nul).unwrap_err(),
        policy.verify(&long, &h).unwrap_err(),
        policy.verify(&password, &h[..50]).unwrap_err(),
    ] {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains(&h[7..]), "{text}");
        }
    }
}

/// Hashes from other implementations (`core/tests/data/bcrypt_vectors.json`).
#[test]
fn vectors_from_other_implementations() {
    let file: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/data/bcrypt_vectors.json")).unwrap();
    assert!(file["source"].as_str().is_some());
    let tests = file["tests"].as_array().unwrap();
    assert_eq!(tests.len(), file["count"].as_u64().unwrap() as usize);
    let policy = PasswordPolicy::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut not_utf8 = 0;
    for t in tests {
        let name = t["name"].as_str().unwrap();
        let hash = t["hash"].as_str().unwrap();
        let password = vector_password(t, "password").unwrap();
        if std::str::from_utf8(password.expose_secret()).is_err() {
            not_utf8 += 1;
        }
        assert!(t["source"].as_str().is_some(), "{name}");
        match t["expect"].as_str().unwrap() {
            "match" => {
                seen.insert(hash[..4].to_owned());
                assert!(policy.verify(&password, hash).unwrap(), "{name}");
                // Text verifies exactly as its UTF-8 bytes do.
                if let Some(text) = t["password"].as_str() {
                    assert!(policy.verify(&s(text), hash).unwrap(), "{name}");
                }
                if let Some(wrong) = vector_password(t, "wrong_password") {
                    assert!(!policy.verify(&wrong, hash).unwrap(), "{name}");
                }
                let cost = t["cost"].as_u64().unwrap() as u32;
                assert_eq!(policy.needs_rehash(hash), cost != DEFAULT_COST, "{name}");
            }
            "refuse_password" => {
                assert_eq!(
                    invalid_field(policy.verify(&password, hash)),
                    "password",
                    "{name}"
                );
                // The hash itself is fine.
                if let Some(wrong) = vector_password(t, "wrong_password") {
                    assert!(!policy.verify(&wrong, hash).unwrap(), "{name}");
                }
                if let Some(same) = vector_password(t, "equivalent_password") {
                    assert!(policy.verify(&same, hash).unwrap(), "{name}");
                }
            }
            "mismatch" => {
                // A valid hash only crypt_blowfish's `$2a$` countermeasure
                // makes: never a false match, and the standard hash of the
                // same password (same salt, `$2y$`) is another string.
                assert!(!policy.verify(&password, hash).unwrap(), "{name}");
                let standard = tests
                    .iter()
                    .find(|o| {
                        o["expect"] == "match"
                            && o["password_hex"] == t["password_hex"]
                            && o["hash"].as_str().unwrap()[7..29] == hash[7..29]
                    })
                    .unwrap();
                assert_ne!(standard["hash"], t["hash"], "{name}");
            }
            "refuse_hash" => {
                assert_eq!(
                    invalid_field(policy.verify(&password, hash)),
                    "hash",
                    "{name}"
                );
            }
            other => panic!("unknown expectation {other}"),
        }
    }
    let variants: Vec<&str> = seen.iter().map(String::as_str).collect();
    assert_eq!(variants, ["$2a$", "$2b$", "$2y$"]);
    // The published passwords that are not UTF-8 are all there.
    assert_eq!(not_utf8, 22);
}

/// A vector's password: `key` as text, or `key_hex` as bytes.
fn vector_password(t: &serde_json::Value, key: &str) -> Option<SecretBytes> {
    if let Some(hex) = t[format!("{key}_hex")].as_str() {
        return Some(SecretBytes::new(hex::decode(hex).unwrap()));
    }
    t[key]
        .as_str()
        .map(|p| SecretBytes::new(p.as_bytes().to_vec()))
}

fn b(p: &[u8]) -> SecretBytes {
    SecretBytes::new(p.to_vec())
}

#[test]
fn bytes_follow_the_same_rules_as_text() {
    let policy = fast(4);
    // Not UTF-8, round trip; the Latin-1 byte is not its UTF-8 spelling.
    let h = policy.hash(&b(b"\xa3 sterling \xff")).unwrap();
    assert!(policy.verify(&b(b"\xa3 sterling \xff"), &h).unwrap());
    assert!(!policy.verify(&s("£ sterling ÿ"), &h).unwrap());
    // Text and its UTF-8 bytes are one password, either way round.
    let text = "pässwörd 🔑";
    let from_text = policy.hash(&s(text)).unwrap();
    assert!(policy.verify(&b(text.as_bytes()), &from_text).unwrap());
    let from_bytes = policy.hash(&b(text.as_bytes())).unwrap();
    assert!(policy.verify(&s(text), &from_bytes).unwrap());
    // 72 bytes pass, 73 are refused, not truncated; NUL and empty refused.
    let p72 = [0xaa_u8; 72];
    let h72 = policy.hash(&b(&p72)).unwrap();
    assert!(policy.verify(&b(&p72), &h72).unwrap());
    let mut last = p72;
    last[71] = 0xab;
    assert!(!policy.verify(&b(&last), &h72).unwrap());
    let p73 = [0xaa_u8; 73];
    assert_eq!(invalid_field(policy.hash(&b(&p73))), "password");
    assert_eq!(invalid_field(policy.verify(&b(&p73), &h72)), "password");
    for bad in [&b""[..], b"\0", b"\xff\0", b"\xa3\0\xa3"] {
        assert_eq!(invalid_field(policy.hash(&b(bad))), "password", "{bad:?}");
        assert_eq!(invalid_field(policy.verify(&b(bad), &h)), "password");
    }
    let c = policy.verify_login(&b(&p73), Some(&h72), &policy.dummy_hash().unwrap());
    assert_eq!((c.verdict, c.rounds), (LoginVerdict::RefusedPassword, 0));
    let c = policy.verify_login(&b(&p72), Some(&h72), &policy.dummy_hash().unwrap());
    assert_eq!(c.verdict, LoginVerdict::Match);
}

#[test]
fn password_bytes_never_reach_debug_or_errors() {
    let policy = fast(4);
    let secret = b"\xa3S3cret\xff";
    let long = [&secret[..], &[b'x'; 80][..]].concat();
    for err in [
        policy.hash(&b(&long)).unwrap_err(),
        policy.hash(&b(b"\xa3S3cret\0")).unwrap_err(),
    ] {
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("S3cret"), "{text}");
        }
    }
    assert!(!format!("{:?}", b(secret)).contains("S3cret"));
}
