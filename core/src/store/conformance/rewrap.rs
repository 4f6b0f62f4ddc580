//! Rewrapping every sealed value under the active key, resumable and audited.

use super::*;

pub async fn rewrap_moves_every_value_and_resumes(fx: Fx) {
    let t1 = fx.tenant("one").await;
    let t2 = fx.tenant("two").await;
    let u1 = fx.user(t1, "u@example.com").await;
    let u2 = fx.user(t2, "u@example.com").await;
    let mut extra = Vec::new();
    for i in 0..25 {
        let mut r = SettingSecret {
            name: format!("provider/p{i:02}"),
            updated_by: Actor::System,
            updated_at: fx.now,
        }
        .to_row(None)
        .unwrap();
        r.sealed = Some(fx.seal(t1, r.kind, &r.id, format!("value {i}").as_bytes()));
        extra.push(Change::Insert(r));
    }
    fx.apply(t1, extra).await.unwrap();
    fx.apply(
        t1,
        fx.sample_rows(t1, u1, "a")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();
    fx.apply(
        t2,
        fx.sample_rows(t2, u2, "b")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();

    let sealed_rows = |t: TenantId| {
        let store = fx.store.clone();
        async move {
            let mut out = Vec::new();
            for kind in Kind::ALL {
                out.extend(
                    store
                        .list(t, &ListQuery::new(kind))
                        .await
                        .unwrap()
                        .into_iter()
                        .filter(|r| r.sealed.is_some()),
                );
            }
            out
        }
    };
    let before1 = sealed_rows(t1).await;
    let before2 = sealed_rows(t2).await;
    let total = (before1.len() + before2.len()) as u64;
    assert_eq!(total, 25 + 8 + 8);

    let new_key = fx.ring.rotate().unwrap();
    let audit_before = fx.count_audit(t1).await;
    let mut reports = Vec::new();
    let done = fx
        .store
        .rewrap(&fx.ring, &fx.chain, fx.now, 10, &mut |p| reports.push(p))
        .await
        .unwrap();
    assert_eq!(done.rows_rewrapped, total);
    assert_eq!(done.tenants_done, 2);
    assert_eq!(done.active_key, new_key);
    assert!(reports.len() >= 5, "progress is reported per batch");
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].rows_rewrapped <= w[1].rows_rewrapped)
    );
    assert!(
        fx.count_audit(t1).await > audit_before,
        "rewrap batches are audited"
    );

    for (t, before) in [(t1, &before1), (t2, &before2)] {
        for old in before {
            let now = fx.store.get(t, old.kind, &old.id).await.unwrap().unwrap();
            assert_eq!(now.sealed_key().unwrap(), Some(new_key));
            assert_eq!(now.version, old.version + 1);
            assert_eq!(
                fx.open(t, &now),
                fx.open(t, old),
                "value changed in {} {}",
                old.kind,
                old.id
            );
        }
    }
    // Running it again finds nothing left to do.
    let again = fx
        .store
        .rewrap(&fx.ring, &fx.chain, fx.now, 10, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(again.rows_rewrapped, 0);
}
