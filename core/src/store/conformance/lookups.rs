//! Lookup keys: unique per tenant, token hashes unique across tenants.

use super::*;

pub async fn lookup_keys_are_unique(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    let ua = fx.user(a, "dup@example.com").await;
    let ub = fx.user(b, "dup@example.com").await; // same login, other tenant: fine
    // Same login twice in one tenant (case-insensitively): refused.
    let again = user("DUP@example.com", fx.now);
    let err = fx
        .apply(a, vec![Change::Insert(again.to_row(None).unwrap())])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // A token hash is unique across tenants.
    let ta = fx.sample_rows(a, ua, "t").remove(0);
    let mut tb = fx.sample_rows(b, ub, "u").remove(0);
    tb.lookup = ta.lookup.clone();
    fx.apply(a, vec![Change::Insert(ta.clone())]).await.unwrap();
    let err = fx.apply(b, vec![Change::Insert(tb)]).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // Global lookups only for kinds that have them.
    assert!(matches!(
        fx.store
            .find_by_lookup(Kind::User, b"dup@example.com")
            .await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(
        fx.store
            .find_by_lookup(Kind::ApiToken, &[0xee; 32])
            .await
            .unwrap()
            .is_none()
    );
    // Updating a row to take another row's lookup key is refused too.
    let mut second = fx.sample_rows(a, ua, "v").remove(0);
    fx.apply(a, vec![Change::Insert(second.clone())])
        .await
        .unwrap();
    second.lookup = ta.lookup.clone();
    let err = fx
        .apply(
            a,
            vec![Change::Update {
                row: second,
                expected_version: 1,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
}
