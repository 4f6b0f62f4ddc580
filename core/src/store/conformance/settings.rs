//! Store-wide settings: compare-and-set outside every tenant.

use super::*;

/// Store-wide settings: absent until set, compare-and-set with exactly one
/// winner, names and sizes checked, untouched by erasing a tenant.
pub async fn store_settings_compare_and_set(fx: Fx) {
    let s = &fx.store;
    assert_eq!(s.meta("key_check").await.unwrap(), None);
    assert!(s.set_meta("key_check", b"a", None).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"a".to_vec()));
    // Set already: a create-only write loses, and so does a stale expectation.
    assert!(!s.set_meta("key_check", b"b", None).await.unwrap());
    assert!(!s.set_meta("key_check", b"b", Some(b"x")).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"a".to_vec()));
    assert!(s.set_meta("key_check", b"b", Some(b"a")).await.unwrap());
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"b".to_vec()));
    // Names are independent; an empty value is a value.
    assert_eq!(s.meta("row_tags").await.unwrap(), None);
    assert!(s.set_meta("row_tags", b"", None).await.unwrap());
    assert_eq!(s.meta("row_tags").await.unwrap(), Some(Vec::new()));
    assert!(!s.set_meta("row_tags", b"x", None).await.unwrap());

    for bad in [
        "",
        "Key",
        "a b",
        "a/b",
        &"x".repeat(crate::store::MAX_META_NAME_LEN + 1),
    ] {
        assert!(
            matches!(s.meta(bad).await, Err(Error::InvalidInput { .. })),
            "{bad:?}"
        );
        assert!(
            matches!(
                s.set_meta(bad, b"v", None).await,
                Err(Error::InvalidInput { .. })
            ),
            "{bad:?}"
        );
    }
    let big = vec![0; crate::store::MAX_META_VALUE_LEN + 1];
    assert!(matches!(
        s.set_meta("big", &big, None).await,
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(s.meta("big").await.unwrap(), None);

    // Concurrent create-only writes: exactly one wins.
    let tasks: Vec<_> = (0u8..8)
        .map(|i| {
            let s = Arc::clone(s);
            tokio::spawn(async move { s.set_meta("race", &[i], None).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        if t.await.unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);

    // Settings are not a tenant's: erasing one leaves them.
    let t = fx.tenant("acme").await;
    s.erase_tenant(t).await.unwrap();
    assert_eq!(s.meta("key_check").await.unwrap(), Some(b"b".to_vec()));
}
