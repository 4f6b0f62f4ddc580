//! Every kind of row round-trips: insert, read by id, lookup and list, update
//! by compare-and-swap, delete; the tenant record too.

use super::*;

pub async fn every_kind_round_trips(fx: Fx) {
    let t = fx.tenant("acme").await;
    let owner = fx.user(t, "ada@example.com").await;
    let got = fx
        .store
        .get_record::<User>(t, &owner.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.record.login, "ada@example.com");
    assert_eq!(got.version, 1);
    let by_login = fx
        .store
        .get_by_lookup(t, Kind::User, b"ada@example.com")
        .await
        .unwrap();
    assert_eq!(by_login.map(|r| r.id), Some(owner.to_string()));

    let rows = fx.sample_rows(t, owner, "a");
    let kinds: BTreeSet<Kind> = rows.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds.len() + 1,
        Kind::ALL.len(),
        "the sample covers every kind"
    );
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();

    for want in &rows {
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_same_row(&got, want, 1);
        if want.sealed.is_some() {
            let plain = fx.open(t, &got);
            assert!(plain.starts_with(b"secret of "));
        }
        let listed = fx.store.list(t, &ListQuery::new(want.kind)).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", want.kind);
        assert_same_row(&listed[0], want, 1);
        if let Some(lookup) = &want.lookup {
            let found = fx
                .store
                .get_by_lookup(t, want.kind, lookup)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.id, want.id);
            if want.kind.has_global_lookup() {
                let (tenant, found) = fx
                    .store
                    .find_by_lookup(want.kind, lookup)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((tenant, found.id.as_str()), (t, want.id.as_str()));
            }
        }
    }

    // Update every row (compare-and-swap on version 1), then delete it.
    for want in &rows {
        let mut changed = want.clone();
        changed.body = br#"{"changed":true}"#.to_vec();
        changed.expires_at = Some(Timestamp::from_unix_seconds(5));
        fx.apply(
            t,
            vec![Change::Update {
                row: changed.clone(),
                expected_version: 1,
            }],
        )
        .await
        .unwrap();
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_same_row(&got, &changed, 2);
        fx.apply(
            t,
            vec![Change::Delete {
                kind: want.kind,
                id: want.id.clone(),
                expected_version: Some(2),
            }],
        )
        .await
        .unwrap();
        assert!(
            fx.store
                .get(t, want.kind, &want.id)
                .await
                .unwrap()
                .is_none()
        );
        if let Some(lookup) = &want.lookup {
            assert!(
                fx.store
                    .get_by_lookup(t, want.kind, lookup)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    assert_eq!(fx.count_rows(t).await, 1, "only the user is left");

    // Tenant record: update with compare-and-swap.
    let mut tenant = fx.store.tenant(t).await.unwrap().unwrap();
    assert_eq!(tenant.version, 1);
    tenant.deletion_protection = true;
    tenant.agent_sessions_enabled = false;
    fx.apply(
        t,
        vec![Change::UpdateTenant {
            tenant: tenant.clone(),
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let again = fx.store.tenant(t).await.unwrap().unwrap();
    assert!(again.deletion_protection && !again.agent_sessions_enabled);
    assert_eq!(again.version, 2);
    let err = fx
        .apply(
            t,
            vec![Change::UpdateTenant {
                tenant,
                expected_version: 1,
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err}"
    );
}
