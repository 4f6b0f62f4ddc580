//! A batch is all or nothing, together with its audit event.

use super::*;

pub async fn failing_batches_leave_nothing(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let rows = fx.sample_rows(t, owner, "f");
    let (rows_before, audit_before) = (fx.count_rows(t).await, fx.count_audit(t).await);

    // The last change fails (duplicate id): the earlier ones must not stick.
    let mut changes: Vec<Change> = rows.iter().cloned().map(Change::Insert).collect();
    changes.push(Change::Insert(rows[0].clone()));
    let err = fx.apply(t, changes).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");

    // A failing update after an insert and a delete.
    fx.apply(t, vec![Change::Insert(rows[1].clone())])
        .await
        .unwrap();
    let (rows_mid, audit_mid) = (fx.count_rows(t).await, fx.count_audit(t).await);
    let err = fx
        .apply(
            t,
            vec![
                Change::Insert(rows[2].clone()),
                Change::Delete {
                    kind: rows[1].kind,
                    id: rows[1].id.clone(),
                    expected_version: None,
                },
                Change::Update {
                    row: rows[3].clone(),
                    expected_version: 1,
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        fx.store
            .get(t, rows[2].kind, &rows[2].id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        fx.store
            .get(t, rows[1].kind, &rows[1].id)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        (fx.count_rows(t).await, fx.count_audit(t).await),
        (rows_mid, audit_mid)
    );

    // Invalid rows are refused before anything is written.
    let mut too_long = rows[4].clone();
    too_long.id = "x".repeat(crate::store::MAX_ID_LEN + 1);
    let mut garbage_sealed = rows[5].clone();
    garbage_sealed.sealed = Some(b"not an envelope".to_vec());
    let mut huge_body = rows[6].clone();
    huge_body.body = vec![b' '; crate::store::MAX_BODY_LEN + 1];
    for bad in [too_long, garbage_sealed, huge_body] {
        let err = fx
            .apply(
                t,
                vec![Change::Insert(rows[7].clone()), Change::Insert(bad)],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput { .. }
                    | Error::TooLarge { .. }
                    | Error::Truncated { .. }
                    | Error::UnsupportedVersion { .. }
            ),
            "{err}"
        );
    }
    assert!(
        fx.store
            .get(t, rows[7].kind, &rows[7].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        (fx.count_rows(t).await, fx.count_audit(t).await),
        (rows_mid, audit_mid)
    );
    assert!(rows_mid == rows_before + 1 && audit_mid == audit_before + 1);
}

pub async fn a_change_without_its_audit_event_is_not_made(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let rows = fx.sample_rows(t, owner, "a");
    let before = (fx.count_rows(t).await, fx.count_audit(t).await);

    // The linker fails: the batch must not be applied.
    let batch = Batch::new(fx.draft("test.change")).with(Change::Insert(rows[0].clone()));
    let err = fx.store.apply(t, batch, &failing()).await.unwrap_err();
    assert!(
        err.to_string().contains("audit log is unavailable"),
        "{err}"
    );
    // The audit event is invalid: same.
    let mut bad = fx.draft("test.change");
    bad.action = "x".repeat(crate::audit::MAX_ACTION_LEN + 1);
    let batch = Batch::new(bad).with(Change::Insert(rows[0].clone()));
    assert!(fx.store.apply(t, batch, &fx.chain).await.is_err());
    // Creating a tenant with a failing audit leaves no tenant behind.
    let ghost = TenantId::generate();
    let batch = Batch::new(fx.draft("tenant.create")).with(Change::CreateTenant(
        Tenant::new(ghost, "ghost", fx.now).unwrap(),
    ));
    assert!(fx.store.apply(ghost, batch, &failing()).await.is_err());
    assert!(fx.store.tenant(ghost).await.unwrap().is_none());

    assert!(
        fx.store
            .get(t, rows[0].kind, &rows[0].id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!((fx.count_rows(t).await, fx.count_audit(t).await), before);

    // An event alone (a denied attempt) is recorded with no change.
    let denied = fx.draft("secret.read").outcome(Outcome::Denied);
    let rec = fx
        .store
        .apply(t, Batch::new(denied), &fx.chain)
        .await
        .unwrap();
    assert_eq!(rec.event.outcome, Outcome::Denied);
    assert_eq!(fx.count_audit(t).await, before.1 + 1);
}
