//! Erasing a tenant: refused under deletion protection, complete otherwise, and
//! the other tenants untouched.

use super::*;

pub async fn erase_respects_deletion_protection(fx: Fx) {
    let t = fx.tenant("t").await;
    let keep = fx.tenant("keep").await;
    let u = fx.user(t, "u@example.com").await;
    let uk = fx.user(keep, "u@example.com").await;
    let rows = fx.sample_rows(t, u, "e");
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let rows_keep = fx.sample_rows(keep, uk, "k");
    fx.apply(
        keep,
        rows_keep.iter().cloned().map(Change::Insert).collect(),
    )
    .await
    .unwrap();

    let mut tenant = fx.store.tenant(t).await.unwrap().unwrap();
    tenant.deletion_protection = true;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant: tenant.clone(),
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let err = fx.store.erase_tenant(t).await.unwrap_err();
    assert!(matches!(err, Error::DeletionProtected { .. }), "{err}");
    assert_eq!(fx.count_rows(t).await, rows.len() + 1);

    tenant.deletion_protection = false;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant,
            expected_version: 2,
        }],
    )
    .await
    .unwrap();
    fx.store.erase_tenant(t).await.unwrap();
    assert!(fx.store.tenant(t).await.unwrap().is_none());
    assert_eq!(fx.count_rows(t).await, 0);
    assert_eq!(fx.count_audit(t).await, 0);
    for r in rows.iter().filter(|r| r.kind.has_global_lookup()) {
        assert!(
            fx.store
                .find_by_lookup(r.kind, r.lookup.as_ref().unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }
    // The other tenant is untouched; erasing an unknown tenant says so.
    assert_eq!(fx.count_rows(keep).await, rows_keep.len() + 1);
    assert!(matches!(
        fx.store.erase_tenant(t).await,
        Err(Error::NotFound { .. })
    ));
    // The id can be used again from scratch.
    fx.apply(
        t,
        vec![Change::CreateTenant(
            Tenant::new(t, "again", fx.now).unwrap(),
        )],
    )
    .await
    .unwrap();
    assert_eq!(fx.count_audit(t).await, 1);
}
