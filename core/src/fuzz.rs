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
