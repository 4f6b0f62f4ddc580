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

/// One change to a row, given a second user and an expiry to set.
type Step = fn(&mut Row, UserId, Timestamp);

/// An update that changes one indexed column (parent, owner, lookup key,
/// expiry), sets it, clears it, or changes none of them leaves the row, and
/// every query that finds rows by that column, exactly as written: no
/// backend may keep an index entry of the value it replaced.
pub async fn updates_move_every_indexed_column(fx: Fx) {
    let t = fx.tenant("acme").await;
    let ada = fx.user(t, "ada@example.com").await;
    let bob = fx.user(t, "bob@example.com").await;
    let rows = fx.sample_rows(t, ada, "a");
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let soon = fx.now.saturating_add(std::time::Duration::from_secs(60));
    let steps: [(&str, Step); 9] = [
        ("body only", |r, _, _| r.body = b"{\"step\":1}".to_vec()),
        ("new parent", |r, _, _| r.parent = Some("parent-2".into())),
        ("no parent", |r, _, _| r.parent = None),
        ("new owner", |r, bob, _| r.owner = Some(bob)),
        ("new lookup", |r, _, _| {
            r.lookup = Some(format!("lookup-2-{}", r.kind).into_bytes());
        }),
        ("no lookup", |r, _, _| r.lookup = None),
        ("new expiry", |r, _, soon| r.expires_at = Some(soon)),
        ("no expiry", |r, _, _| r.expires_at = None),
        ("no owner", |r, _, _| r.owner = None),
    ];
    for start in &rows {
        let mut before = start.clone();
        for (version, (step, change)) in (1u64..).zip(steps) {
            let mut after = before.clone();
            change(&mut after, bob, soon);
            fx.apply(
                t,
                vec![Change::Update {
                    row: after.clone(),
                    expected_version: version,
                }],
            )
            .await
            .unwrap_or_else(|e| panic!("{} {step}: {e}", start.kind));
            let got = fx
                .store
                .get(t, after.kind, &after.id)
                .await
                .unwrap()
                .unwrap();
            assert_same_row(&got, &after, version + 1);
            assert_found_by_columns(&fx, t, &before, &after, step).await;
            before = after;
        }
    }
    // An update of a row that is not there, or at a stale version, fails
    // as such and writes nothing (neither the row nor an audit event).
    // Both ways an update is made: a kind whose lookup key is global (its
    // row read first) and one whose is not (written, then read on a miss).
    let events = fx.count_audit(t).await;
    let global = rows.iter().find(|r| r.kind.has_global_lookup()).unwrap();
    let local = rows.iter().find(|r| !r.kind.has_global_lookup()).unwrap();
    for stale in [global.clone(), local.clone()] {
        let mut missing = stale.clone();
        missing.id = "not-there".into();
        for row in [missing, stale.clone()] {
            let err = fx
                .apply(
                    t,
                    vec![Change::Update {
                        row: row.clone(),
                        expected_version: 1,
                    }],
                )
                .await
                .unwrap_err();
            match fx.store.get(t, row.kind, &row.id).await.unwrap() {
                None => assert!(matches!(err, Error::NotFound { .. }), "{err}"),
                Some(stored) => {
                    assert!(
                        matches!(err, Error::Conflict { expected: 1, found, .. } if found == stored.version),
                        "{err}"
                    );
                    assert_eq!(stored.version, steps.len() as u64 + 1);
                }
            }
        }
    }
    assert_eq!(fx.count_audit(t).await, events);
}

/// `after` (just written over `before`) is found by each of its indexed
/// columns, and by no value of `before` it no longer has.
async fn assert_found_by_columns(fx: &Fx, t: TenantId, before: &Row, after: &Row, step: &str) {
    let what = format!("{} {step}", after.kind);
    let ids = |q: ListQuery| async move {
        let rows = fx.store.list(t, &q).await.unwrap();
        rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let this = vec![after.id.clone()];
    if let Some(p) = &after.parent {
        let q = ListQuery::new(after.kind).parent(p.clone());
        assert_eq!(ids(q).await, this, "{what}: by its parent");
    }
    if let Some(old) = before
        .parent
        .as_ref()
        .filter(|p| Some(*p) != after.parent.as_ref())
    {
        let q = ListQuery::new(after.kind).parent(old.clone());
        assert!(ids(q).await.is_empty(), "{what}: by its old parent");
    }
    for owner in [before.owner, after.owner].into_iter().flatten() {
        let q = ListQuery::new(after.kind).owner(owner);
        let want = if after.owner == Some(owner) {
            this.clone()
        } else {
            vec![]
        };
        assert_eq!(ids(q).await, want, "{what}: by owner {owner}");
    }
    if let Some(old) = before
        .lookup
        .as_ref()
        .filter(|l| Some(*l) != after.lookup.as_ref())
    {
        let found = fx.store.get_by_lookup(t, after.kind, old).await.unwrap();
        assert!(found.is_none(), "{what}: by its old lookup key");
        if after.kind.has_global_lookup() {
            let found = fx.store.find_by_lookup(after.kind, old).await.unwrap();
            assert!(found.is_none(), "{what}: its old directory entry");
        }
    }
    if let Some(new) = &after.lookup {
        let found = fx.store.get_by_lookup(t, after.kind, new).await.unwrap();
        assert_eq!(
            found.map(|r| r.id),
            Some(after.id.clone()),
            "{what}: by its lookup key"
        );
    }
    let far = fx.now.saturating_add(std::time::Duration::from_secs(3600));
    let q = ListQuery::new(after.kind).expires_before(far);
    let want = if after.expires_at.is_some() {
        this
    } else {
        vec![]
    };
    assert_eq!(ids(q).await, want, "{what}: by expiry");
}

/// The update (expected at version 1) failed as one that lost a race to
/// the update that made version 2.
fn assert_lost_the_race(result: Result<AuditRecord>) {
    match result {
        Err(Error::Conflict {
            expected: 1,
            found: 2,
            ..
        }) => {}
        other => panic!("expected a conflict at version 2: {other:?}"),
    }
}

/// An update made from a stale copy of a row fails with a conflict even
/// when the copy also names what is no longer true elsewhere (a lookup key
/// another row has taken since, an owner deleted since): a caller that lost
/// a race must see the conflict it retries on, not an error about its
/// stale fields.
pub async fn a_stale_update_is_a_conflict_whatever_else_it_names(fx: Fx) {
    let t = fx.tenant("acme").await;
    let ada = fx.user(t, "ada@example.com").await;
    let bob = fx.user(t, "bob@example.com").await;
    let fx = &fx;
    let stored =
        |kind, id: String| async move { fx.store.get(t, kind, &id).await.unwrap().unwrap() };
    let update = |row: Row, expected_version: u64| async move {
        fx.apply(
            t,
            vec![Change::Update {
                row,
                expected_version,
            }],
        )
        .await
    };
    // Ada's login moves to a new key, and Cy takes her old one; an update
    // from the copy read before carries the old key.
    let before = stored(Kind::User, ada.to_string()).await;
    let mut moved = before.clone();
    moved.lookup = Some(b"ada@new.example.com".to_vec());
    update(moved, 1).await.unwrap();
    let cy = fx.user(t, "cy@example.com").await;
    let mut taken = stored(Kind::User, cy.to_string()).await;
    taken.lookup = before.lookup.clone();
    update(taken, 1).await.unwrap();
    let mut stale = before.clone();
    stale.body = b"{\"stale\":true}".to_vec();
    assert_lost_the_race(update(stale, 1).await);
    // A value owned by Bob moves to Ada, then Bob is deleted; an update from
    // the copy read before still names Bob.
    let mut value = Row::new(Kind::AppSecret, "web/OWNED", b"{}".to_vec());
    value.owner = Some(bob);
    fx.apply(t, vec![Change::Insert(value.clone())])
        .await
        .unwrap();
    let mut moved = value.clone();
    moved.owner = Some(ada);
    update(moved, 1).await.unwrap();
    fx.apply(
        t,
        vec![Change::Delete {
            kind: Kind::User,
            id: bob.to_string(),
            expected_version: None,
        }],
    )
    .await
    .unwrap();
    assert_lost_the_race(update(value, 1).await);
    // And a version past what a database column holds matches nothing.
    let row = stored(Kind::AppSecret, "web/OWNED".into()).await;
    for expected in [u64::MAX, u64::MAX / 2 + 1] {
        let err = update(row.clone(), expected).await.unwrap_err();
        assert!(
            matches!(err, Error::Conflict { found: 2, .. }),
            "{expected}: {err}"
        );
    }
}
