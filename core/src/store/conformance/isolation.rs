//! Tenants are isolated: no read, list, write or lookup crosses from one tenant
//! to another.

use super::*;

pub async fn tenants_are_isolated(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    let ua = fx.user(a, "same@example.com").await;
    let ub = fx.user(b, "same@example.com").await;
    let rows_a = fx.sample_rows(a, ua, "a");
    let rows_b = fx.sample_rows(b, ub, "b");
    fx.apply(a, rows_a.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(b, rows_b.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();

    for rb in &rows_b {
        // Reads of B's ids from A see A's own row of that id, or nothing.
        let own = rows_a.iter().find(|r| r.kind == rb.kind && r.id == rb.id);
        match (fx.store.get(a, rb.kind, &rb.id).await.unwrap(), own) {
            (None, None) => {}
            (Some(got), Some(own)) => assert_same_row(&got, own, 1),
            (got, own) => panic!("{} {}: read {got:?}, own row {own:?}", rb.kind, rb.id),
        }
        if let Some(lookup) = &rb.lookup
            && rows_a.iter().all(|r| r.lookup.as_ref() != Some(lookup))
        {
            assert!(
                fx.store
                    .get_by_lookup(a, rb.kind, lookup)
                    .await
                    .unwrap()
                    .is_none(),
                "{} lookup leaked across tenants",
                rb.kind
            );
        }
    }
    // Lists from A hold exactly A's rows.
    for kind in Kind::ALL {
        for row in fx.store.list(a, &ListQuery::new(kind)).await.unwrap() {
            let mine = rows_a.iter().any(|r| {
                r.kind == row.kind && r.id == row.id && r.sealed == row.sealed && r.body == row.body
            }) || (kind == Kind::User && row.id == ua.to_string());
            assert!(mine, "A listed a row that is not its own: {row:?}");
        }
    }
    // Ids that exist only in B: update and delete from A fail, B unchanged.
    let only_b: Vec<&Row> = rows_b.iter().filter(|r| r.id.ends_with("-b")).collect();
    assert!(only_b.len() >= 4);
    for rb in only_b {
        let mut stolen = rb.clone();
        stolen.body = b"{}".to_vec();
        let err = fx
            .apply(
                a,
                vec![Change::Update {
                    row: stolen,
                    expected_version: 1,
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        let err = fx
            .apply(
                a,
                vec![Change::Delete {
                    kind: rb.kind,
                    id: rb.id.clone(),
                    expected_version: None,
                }],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_same_row(
            &fx.store.get(b, rb.kind, &rb.id).await.unwrap().unwrap(),
            rb,
            1,
        );
    }
    // A row in A cannot point at B's user, nor can A delete B's user.
    let mut bad = fx.sample_rows(a, ub, "x").remove(0);
    bad.owner = Some(ub);
    let err = fx.apply(a, vec![Change::Insert(bad)]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    let err = fx
        .apply(
            a,
            vec![Change::Delete {
                kind: Kind::User,
                id: ub.to_string(),
                expected_version: None,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        fx.store
            .get(b, Kind::User, &ub.to_string())
            .await
            .unwrap()
            .is_some()
    );
    // The owner filter with B's user finds nothing in A.
    for kind in Kind::ALL {
        assert!(
            fx.store
                .list(a, &ListQuery::new(kind).owner(ub))
                .await
                .unwrap()
                .is_empty()
        );
    }
    // A batch for A cannot create or change tenant B.
    let tb = fx.store.tenant(b).await.unwrap().unwrap();
    assert!(
        fx.apply(
            a,
            vec![Change::UpdateTenant {
                tenant: tb,
                expected_version: 1
            }]
        )
        .await
        .is_err()
    );
    // Audit logs are per tenant.
    for e in fx
        .store
        .audit_events(a, &AuditQuery::default())
        .await
        .unwrap()
    {
        assert_eq!(e.tenant, a);
    }
    // Global lookups name the right tenant.
    for rb in rows_b.iter().filter(|r| r.kind.has_global_lookup()) {
        let (t, _) = fx
            .store
            .find_by_lookup(rb.kind, rb.lookup.as_ref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(t, b);
    }
    // A tenant that does not exist sees nothing and can write nothing.
    let ghost = TenantId::generate();
    assert!(
        fx.store
            .list(ghost, &ListQuery::new(Kind::ApiToken))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        fx.store
            .audit_events(ghost, &AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        fx.apply(ghost, vec![Change::Insert(rows_a[0].clone())])
            .await
            .is_err()
    );
}
