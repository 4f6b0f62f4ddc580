//! The directory operations: the only reads across tenants. The lookup
//! directory follows its rows in the same transaction (insert, lookup
//! change, delete, user cascade, erase, a failing batch), never names a
//! tenant that does not hold the row, and the tenant directory lists
//! exactly the tenants that exist. `find_credential` answers what the
//! reads it fuses answer.

use super::Fx;
use crate::error::Error;
use crate::id::TenantId;
use crate::store::page::Pages;
use crate::store::{Change, Kind, Row, Tenant};

fn token(id: &str, lookup: u8) -> Row {
    let mut row = Row::new(Kind::ApiToken, id, b"{}".to_vec());
    row.lookup = Some(vec![lookup; 32]);
    row
}

/// Both directory reads agree with the tenant-scoped read they lead to.
async fn found(fx: &Fx, kind: Kind, lookup: &[u8]) -> Option<(TenantId, String)> {
    let tenant = fx.store.directory_lookup(kind, lookup).await.unwrap();
    let row = fx.store.find_by_lookup(kind, lookup).await.unwrap();
    assert_eq!(
        tenant,
        row.as_ref().map(|(t, _)| *t),
        "directory_lookup and find_by_lookup disagree"
    );
    if let Some(t) = tenant {
        let within = fx.store.get_by_lookup(t, kind, lookup).await.unwrap();
        assert_eq!(
            within.map(|r| r.id),
            row.as_ref().map(|(_, r)| r.id.clone())
        );
    }
    // The fused read answers what the separate reads answer: the same row
    // in the same tenant, the owner's user row as `get` reads it, and the
    // tenant's record only when asked for.
    for with_tenant in [false, true] {
        let credential = fx
            .store
            .find_credential(kind, lookup, with_tenant)
            .await
            .unwrap();
        assert_eq!(
            credential.as_ref().map(|c| (c.tenant, c.row.clone())),
            row.clone(),
            "find_credential and find_by_lookup disagree"
        );
        let Some(c) = credential else { continue };
        let owner = match c.row.owner {
            Some(o) => fx
                .store
                .get(c.tenant, Kind::User, &o.to_string())
                .await
                .unwrap(),
            None => None,
        };
        assert_eq!(c.owner, owner, "find_credential's owner");
        let record = if with_tenant {
            fx.store.tenant(c.tenant).await.unwrap()
        } else {
            None
        };
        assert_eq!(c.tenant_record, record, "find_credential's tenant");
    }
    row.map(|(t, r)| (t, r.id))
}

/// Insert, lookup change, delete: the directory follows each write.
pub async fn the_lookup_directory_follows_its_rows(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    let ta = token("tok-a", 0xa1);
    let tb = token("tok-b", 0xb1);
    fx.apply(a, vec![Change::Insert(ta.clone())]).await.unwrap();
    fx.apply(b, vec![Change::Insert(tb.clone())]).await.unwrap();
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xa1; 32]).await,
        Some((a, "tok-a".into()))
    );
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xb1; 32]).await,
        Some((b, "tok-b".into()))
    );
    // The same hash under another global kind is another entry.
    assert_eq!(found(&fx, Kind::AgentSession, &[0xa1; 32]).await, None);

    // A lookup change moves the entry: the old hash finds nothing.
    let mut moved = ta.clone();
    moved.lookup = Some(vec![0xa2; 32]);
    fx.apply(
        a,
        vec![Change::Update {
            row: moved.clone(),
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    assert_eq!(found(&fx, Kind::ApiToken, &[0xa1; 32]).await, None);
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xa2; 32]).await,
        Some((a, "tok-a".into()))
    );
    // An update that keeps the lookup keeps the entry; one that drops the
    // lookup removes it.
    let mut same = moved.clone();
    same.body = br#"{"v":2}"#.to_vec();
    fx.apply(
        a,
        vec![Change::Update {
            row: same.clone(),
            expected_version: 2,
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xa2; 32]).await,
        Some((a, "tok-a".into()))
    );
    let mut dropped = same;
    dropped.lookup = None;
    fx.apply(
        a,
        vec![Change::Update {
            row: dropped,
            expected_version: 3,
        }],
    )
    .await
    .unwrap();
    assert_eq!(found(&fx, Kind::ApiToken, &[0xa2; 32]).await, None);
    // The freed hash can be taken by another tenant's row.
    fx.apply(b, vec![Change::Insert(token("tok-b2", 0xa2))])
        .await
        .unwrap();
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xa2; 32]).await,
        Some((b, "tok-b2".into()))
    );

    // Delete: the entry goes with the row.
    fx.apply(
        b,
        vec![Change::Delete {
            kind: Kind::ApiToken,
            id: "tok-b".into(),
            expected_version: Some(1),
        }],
    )
    .await
    .unwrap();
    assert_eq!(found(&fx, Kind::ApiToken, &[0xb1; 32]).await, None);
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0xa2; 32]).await,
        Some((b, "tok-b2".into())),
        "deleting one row removed another's entry"
    );

    // Only kinds with a global lookup have a directory.
    for kind in Kind::ALL.into_iter().filter(|k| !k.has_global_lookup()) {
        assert!(
            matches!(
                fx.store.directory_lookup(kind, b"x").await,
                Err(Error::InvalidInput { .. })
            ),
            "{kind}"
        );
    }
}

/// The directory never lets a lookup key cross tenants: a hash held in one
/// tenant cannot be inserted, or updated into, in another, and a tenant's
/// writes cannot move or remove another tenant's entry.
pub async fn the_lookup_directory_never_crosses_tenants(fx: Fx) {
    let a = fx.tenant("a").await;
    let b = fx.tenant("b").await;
    fx.apply(a, vec![Change::Insert(token("tok", 0x11))])
        .await
        .unwrap();
    // Same id and hash in B: refused, A's entry unchanged.
    let err = fx
        .apply(b, vec![Change::Insert(token("tok", 0x11))])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    // A row of B updated to A's hash: refused.
    fx.apply(b, vec![Change::Insert(token("tok", 0x22))])
        .await
        .unwrap();
    let err = fx
        .apply(
            b,
            vec![Change::Update {
                row: token("tok", 0x11),
                expected_version: 1,
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0x11; 32]).await,
        Some((a, "tok".into()))
    );
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0x22; 32]).await,
        Some((b, "tok".into()))
    );
    // B deleting its own `tok` leaves A's entry (same id, other tenant).
    fx.apply(
        b,
        vec![Change::Delete {
            kind: Kind::ApiToken,
            id: "tok".into(),
            expected_version: None,
        }],
    )
    .await
    .unwrap();
    assert_eq!(
        found(&fx, Kind::ApiToken, &[0x11; 32]).await,
        Some((a, "tok".into()))
    );
    assert_eq!(found(&fx, Kind::ApiToken, &[0x22; 32]).await, None);
    // Every global-kind row of the sample rows of both tenants is found in
    // its own tenant and no other.
    let ua = fx.user(a, "ua@example.com").await;
    let ub = fx.user(b, "ub@example.com").await;
    for (t, owner, tag) in [(a, ua, "A"), (b, ub, "B")] {
        let rows = fx.sample_rows(t, owner, tag);
        fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
            .await
            .unwrap();
        for row in rows.iter().filter(|r| r.kind.has_global_lookup()) {
            let lookup = row.lookup.as_deref().unwrap();
            assert_eq!(
                found(&fx, row.kind, lookup).await,
                Some((t, row.id.clone())),
                "{}",
                row.kind
            );
        }
    }
}

/// The directory is written in the batch's transaction: a batch that fails
/// after inserting a token (or after deleting or moving one) leaves the
/// directory as it was; deleting a user removes the entries of the rows it
/// owned; erasing a tenant removes all of its entries.
pub async fn the_lookup_directory_is_in_the_batch_transaction(fx: Fx) {
    let t = fx.tenant("t").await;
    let keep = token("keep", 0x01);
    fx.apply(t, vec![Change::Insert(keep.clone())])
        .await
        .unwrap();
    // Insert a token, then fail: no entry for it.
    let err = fx
        .apply(
            t,
            vec![
                Change::Insert(token("new", 0x02)),
                Change::Insert(keep.clone()),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(found(&fx, Kind::ApiToken, &[0x02; 32]).await, None);
    // Delete or move a token, then fail: its entry is still there.
    let mut moved = keep.clone();
    moved.lookup = Some(vec![0x03; 32]);
    for first in [
        Change::Delete {
            kind: Kind::ApiToken,
            id: "keep".into(),
            expected_version: Some(1),
        },
        Change::Update {
            row: moved,
            expected_version: 1,
        },
    ] {
        let err = fx
            .apply(
                t,
                vec![
                    first,
                    Change::Delete {
                        kind: Kind::ApiToken,
                        id: "missing".into(),
                        expected_version: None,
                    },
                ],
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(
            found(&fx, Kind::ApiToken, &[0x01; 32]).await,
            Some((t, "keep".into()))
        );
        assert_eq!(found(&fx, Kind::ApiToken, &[0x03; 32]).await, None);
    }
    // A failing audit link: the batch, its entry included, is not applied.
    let batch = crate::store::Batch::new(fx.draft("test.change"))
        .with(Change::Insert(token("unlinked", 0x04)));
    assert!(fx.store.apply(t, batch, &super::failing()).await.is_err());
    assert_eq!(found(&fx, Kind::ApiToken, &[0x04; 32]).await, None);

    // Deleting a user removes the entries of every row it owned.
    let u = fx.user(t, "u@example.com").await;
    let owned: Vec<Row> = fx
        .sample_rows(t, u, "u")
        .into_iter()
        .filter(|r| r.owner.is_some())
        .collect();
    fx.apply(t, owned.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let global: Vec<&Row> = owned
        .iter()
        .filter(|r| r.kind.has_global_lookup())
        .collect();
    assert!(
        global.len() >= 3,
        "tokens, sessions, refresh tokens, states"
    );
    fx.apply(
        t,
        vec![Change::Delete {
            kind: Kind::User,
            id: u.to_string(),
            expected_version: None,
        }],
    )
    .await
    .unwrap();
    for r in global {
        assert_eq!(
            found(&fx, r.kind, r.lookup.as_deref().unwrap()).await,
            None,
            "{} outlived its owner in the directory",
            r.kind
        );
    }

    // Erasing the tenant removes the rest.
    fx.store.erase_tenant(t).await.unwrap();
    assert_eq!(found(&fx, Kind::ApiToken, &[0x01; 32]).await, None);
    assert_eq!(
        fx.store
            .directory_lookup(Kind::ApiToken, &[0x01; 32])
            .await
            .unwrap(),
        None
    );
}

/// The tenant directory lists exactly the tenants that exist, in ascending
/// order, paged: a created tenant appears, an erased one goes, and one
/// whose creation failed never appears.
pub async fn the_tenant_directory_lists_exactly_the_tenants(fx: Fx) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(fx.tenant(&format!("t{i}")).await);
    }
    ids.sort();
    assert_eq!(Pages::tenants(&*fx.store).collect().await.unwrap(), ids);
    // Pages of two, each after the last id of the one before.
    let first = fx.store.directory_tenants(None, 2).await.unwrap();
    assert_eq!(first, ids[..2]);
    let second = fx.store.directory_tenants(Some(ids[1]), 2).await.unwrap();
    assert_eq!(second, ids[2..4]);
    // `tenants` is the same list with the records.
    let records = fx.store.tenants(None, 100).await.unwrap();
    assert_eq!(records.iter().map(|t| t.id).collect::<Vec<_>>(), ids);

    // A creation that fails (its audit link) leaves no entry.
    let ghost = TenantId::generate();
    let batch = crate::store::Batch::new(fx.draft("tenant.create")).with(Change::CreateTenant(
        Tenant::new(ghost, "ghost", fx.now).unwrap(),
    ));
    assert!(
        fx.store
            .apply(ghost, batch, &super::failing())
            .await
            .is_err()
    );
    fx.store.erase_tenant(ids[2]).await.unwrap();
    let mut left = ids.clone();
    left.remove(2);
    assert_eq!(Pages::tenants(&*fx.store).collect().await.unwrap(), left);
}
