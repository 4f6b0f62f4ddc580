//! Deleting a user deletes every row it owns, and nothing else.

use super::*;

pub async fn deleting_a_user_deletes_what_it_owns(fx: Fx) {
    let t = fx.tenant("t").await;
    let keep = fx.user(t, "keep@example.com").await;
    let gone = fx.user(t, "gone@example.com").await;
    let rows_keep = fx.sample_rows(t, keep, "k");
    let rows_gone = fx.sample_rows(t, gone, "g");
    fx.apply(t, rows_keep.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    let owned: Vec<Row> = rows_gone
        .into_iter()
        .filter(|r| r.owner.is_some())
        .collect();
    fx.apply(t, owned.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(
        t,
        vec![Change::Delete {
            kind: Kind::User,
            id: gone.to_string(),
            expected_version: Some(1),
        }],
    )
    .await
    .unwrap();
    for r in &owned {
        assert!(
            fx.store.get(t, r.kind, &r.id).await.unwrap().is_none(),
            "{} survived",
            r.kind
        );
        if let Some(l) = &r.lookup {
            assert!(
                fx.store
                    .get_by_lookup(t, r.kind, l)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
    for r in &rows_keep {
        assert!(fx.store.get(t, r.kind, &r.id).await.unwrap().is_some());
    }
}
