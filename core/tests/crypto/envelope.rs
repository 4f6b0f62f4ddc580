//! Properties of sealed envelopes: every round trip works, and any tampering
//! (a flipped bit, a truncation, another context, another key) is refused.

use proptest::prelude::*;
use secrets_core::Error;
use secrets_core::crypto::{Context, Envelope, KeyRing, MasterKey, OVERHEAD};

fn ring() -> KeyRing {
    KeyRing::new(MasterKey::from_bytes(&[0x11; 32]).unwrap())
}

fn parts() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..24), 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(plaintext in prop::collection::vec(any::<u8>(), 0..2048), parts in parts()) {
        let ring = ring();
        let ctx = Context::new(&parts);
        let sealed = ring.seal(&plaintext, &ctx).unwrap();
        prop_assert_eq!(sealed.len(), plaintext.len() + OVERHEAD);
        let opened = ring.open(&sealed, &ctx).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
    }

    #[test]
    fn any_flipped_bit_is_refused(
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        parts in parts(),
        bit in any::<prop::sample::Index>(),
    ) {
        let ring = ring();
        let ctx = Context::new(&parts);
        let mut sealed = ring.seal(&plaintext, &ctx).unwrap();
        let i = bit.index(sealed.len() * 8);
        sealed[i / 8] ^= 1 << (i % 8);
        // Which error depends on where the bit landed (version byte, key id,
        // or authenticated bytes), but it is always an error.
        prop_assert!(ring.open(&sealed, &ctx).is_err());
    }

    #[test]
    fn any_truncation_or_extension_is_refused(
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let ring = ring();
        let ctx = Context::new(["t"]);
        let sealed = ring.seal(&plaintext, &ctx).unwrap();
        let short = &sealed[..cut.index(sealed.len())];
        prop_assert!(ring.open(short, &ctx).is_err());
        let mut long = sealed.clone();
        long.extend_from_slice(&extra);
        prop_assert!(matches!(ring.open(&long, &ctx), Err(Error::Unauthenticated)));
    }

    #[test]
    fn any_other_context_is_refused(
        plaintext in prop::collection::vec(any::<u8>(), 0..64),
        a in parts(),
        b in parts(),
    ) {
        prop_assume!(a != b);
        let ring = ring();
        let sealed = ring.seal(&plaintext, &Context::new(&a)).unwrap();
        prop_assert!(matches!(ring.open(&sealed, &Context::new(&b)), Err(Error::Unauthenticated)));
    }

    #[test]
    fn rewrap_preserves_value_and_context(
        plaintext in prop::collection::vec(any::<u8>(), 0..256),
        parts in parts(),
    ) {
        let ring = ring();
        let ctx = Context::new(&parts);
        let sealed = ring.seal(&plaintext, &ctx).unwrap();
        let new_id = ring.rotate().unwrap();
        let rewrapped = ring.rewrap(&sealed, &ctx).unwrap();
        prop_assert_eq!(Envelope::parse(&rewrapped).unwrap().key_id(), new_id);
        let opened = ring.open(&rewrapped, &ctx).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
        prop_assert!(ring.open(&rewrapped, &Context::new(["elsewhere"])).is_err());
    }
}

#[test]
fn another_master_key_cannot_open() {
    let ctx = Context::new(["tenant", "kind", "name"]);
    let sealed = ring().seal(b"value", &ctx).unwrap();
    let other = KeyRing::new(MasterKey::from_bytes(&[0x12; 32]).unwrap());
    let err = other.open(&sealed, &ctx).unwrap_err();
    assert!(matches!(err, Error::Unauthenticated));
    assert_eq!(err.to_string(), "ciphertext could not be authenticated");
}

#[test]
fn a_reloaded_ring_opens_what_every_earlier_key_sealed() {
    let master = || MasterKey::from_bytes(&[0x33; 32]).unwrap();
    let ctx = Context::new(["t"]);
    let ring = KeyRing::new(master());
    let first = ring.seal(b"one", &ctx).unwrap();
    ring.rotate().unwrap();
    let second = ring.seal(b"two", &ctx).unwrap();
    let active = ring.rotate().unwrap();

    // A new process: only the master key and the active id were kept.
    let reloaded = KeyRing::with_active(master(), active);
    assert_eq!(reloaded.open(&first, &ctx).unwrap().expose_secret(), b"one");
    assert_eq!(
        reloaded.open(&second, &ctx).unwrap().expose_secret(),
        b"two"
    );
    let third = reloaded.seal(b"three", &ctx).unwrap();
    assert_eq!(Envelope::parse(&third).unwrap().key_id(), active);
    // A ring that missed the rotations (another process made them) derives
    // the newer key, opens with it, and from then on seals with it.
    let stale = KeyRing::new(master());
    assert_eq!(stale.open(&third, &ctx).unwrap().expose_secret(), b"three");
    assert_eq!(stale.active_key_id(), active);
    // A forged envelope under a newer id opens nothing and changes nothing.
    let fresh = KeyRing::new(master());
    let mut forged = third.clone();
    forged[1..5].copy_from_slice(&9u32.to_be_bytes());
    assert!(matches!(
        fresh.open(&forged, &ctx),
        Err(Error::Unauthenticated)
    ));
    assert_eq!(fresh.active_key_id().get(), 1);
}

#[test]
fn concurrent_sealing_during_rotation_loses_nothing() {
    let ring = std::sync::Arc::new(ring());
    let ctx = Context::new(["t"]);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let ring = ring.clone();
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|j| {
                        let value = format!("{i}-{j}");
                        (value.clone(), ring.seal(value.as_bytes(), &ctx).unwrap())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for _ in 0..10 {
        ring.rotate().unwrap();
    }
    let mut total = 0;
    for h in handles {
        for (value, sealed) in h.join().unwrap() {
            assert_eq!(
                ring.open(&sealed, &ctx).unwrap().expose_secret(),
                value.as_bytes()
            );
            total += 1;
        }
    }
    assert_eq!(total, 800);
    let counted: u64 = ring
        .key_ids()
        .into_iter()
        .filter_map(|id| ring.sealed_count(id))
        .sum();
    assert_eq!(counted, 800, "every seal was counted against its key");
}
