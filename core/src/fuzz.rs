//! Fuzzing harnesses, shared by the cargo-fuzz targets in `fuzz/` and by the
//! ordinary test that replays their committed corpus. Not a public API.

use crate::crypto::{Context, KeyRing, MasterKey};

/// Feeds arbitrary bytes to [`KeyRing::open`]: the first byte chooses how
/// many of the following bytes form the context, the rest is the envelope.
/// Must never panic, and must never open (nothing here knows the key).
pub fn envelope_open(data: &[u8]) {
    let ring = KeyRing::new(MasterKey::from_array([0x5a; 32]));
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (ctx, envelope) = rest.split_at(usize::from(n).min(rest.len()));
    let context = Context::new([ctx]);
    let opened = ring.open(envelope, &context);
    assert!(opened.is_err(), "forged envelope opened");
    // Structure errors must agree with the parser.
    let _ = crate::crypto::Envelope::parse(envelope);
}

/// Feeds arbitrary text to the token parser and the leak scanner. Must never
/// panic (UTF-8 boundaries, lengths), and a parsed token must be exactly one
/// the scanner finds in the same text.
pub fn token_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let format = crate::token::TokenFormat::api();
    if let Ok(parsed) = format.parse(&text) {
        let found = format.scan(&text);
        assert_eq!(found.len(), 1, "a parsed token was not found by scan");
        assert_eq!(parsed.hash, crate::token::hash(&text));
    }
    let _ = crate::token::scan_all(&text, &[&format, &crate::token::TokenFormat::refresh()]);
}

/// Feeds arbitrary text to HS256 JWT decoding with a fixed key. Must never
/// panic, and must never accept (nothing here knows the key).
pub fn jwt_decode(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let decoded = crate::jwt::decode_hs256::<serde_json::Value>(
        &text,
        &[0x4b; 32],
        crate::clock::Timestamp::from_unix_seconds(1_700_000_000),
        std::time::Duration::from_secs(30),
    );
    assert!(decoded.is_err(), "a forged JWT was accepted");
}

/// Feeds arbitrary text to the stored-hash parser (bcrypt modular crypt
/// format). Must never panic. Verification itself is not fuzzed: a valid
/// hash of cost 31 would take days.
pub fn stored_hash_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::password::PasswordPolicy::default().needs_rehash(&text);
}
