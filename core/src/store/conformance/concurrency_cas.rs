//! Compare-and-swap under concurrent writers: one winner, no lost update.

use super::*;

pub async fn compare_and_swap_has_one_winner(fx: Fx) {
    let t = fx.tenant("t").await;
    let owner = fx.user(t, "u@example.com").await;
    let row = fx.sample_rows(t, owner, "c").remove(0);
    fx.apply(t, vec![Change::Insert(row.clone())])
        .await
        .unwrap();

    let mut handles = Vec::new();
    for i in 0..8u8 {
        let store = fx.store.clone();
        let mut r = row.clone();
        r.body = format!("{{\"writer\":{i}}}").into_bytes();
        let chain = fx.chain.clone();
        let draft = fx.draft("test.race");
        handles.push(tokio::spawn(async move {
            let batch = Batch::new(draft).with(Change::Update {
                row: r,
                expected_version: 1,
            });
            store.apply(t, batch, &chain).await
        }));
    }
    let mut wins = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => wins += 1,
            Err(Error::Conflict {
                expected: 1,
                found: 2,
                ..
            }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(wins, 1, "exactly one compare-and-swap wins");
    let stored = fx.store.get(t, row.kind, &row.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);

    // A delete with a stale version loses too, and deletes nothing.
    let err = fx
        .apply(
            t,
            vec![Change::Delete {
                kind: row.kind,
                id: row.id.clone(),
                expected_version: Some(1),
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
    assert!(fx.store.get(t, row.kind, &row.id).await.unwrap().is_some());
}

pub async fn concurrent_writers_lose_no_update(fx: Fx) {
    let t = fx.tenant("t").await;
    let counter = Row::new(Kind::SeenWebhook, "counter", b"0".to_vec());
    fx.apply(t, vec![Change::Insert(counter)]).await.unwrap();
    let tasks = 8;
    let per_task = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = fx.store.clone();
        let chain = fx.chain.clone();
        let draft = fx.draft("test.increment");
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..per_task {
                loop {
                    let row = store
                        .get(t, Kind::SeenWebhook, "counter")
                        .await
                        .unwrap()
                        .unwrap();
                    let n: u64 = std::str::from_utf8(&row.body).unwrap().parse().unwrap();
                    let mut next = row.clone();
                    next.body = (n + 1).to_string().into_bytes();
                    let batch = Batch::new(draft.clone()).with(Change::Update {
                        row: next,
                        expected_version: row.version,
                    });
                    match store.apply(t, batch, &chain).await {
                        Ok(_) => break,
                        Err(Error::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
                // Reads keep working while others write.
                assert!(
                    store
                        .list(t, &ListQuery::new(Kind::SeenWebhook))
                        .await
                        .unwrap()
                        .len()
                        == 1
                );
            }
            conflicts
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let row = fx
        .store
        .get(t, Kind::SeenWebhook, "counter")
        .await
        .unwrap()
        .unwrap();
    let total = tasks * per_task;
    assert_eq!(std::str::from_utf8(&row.body).unwrap(), total.to_string());
    assert_eq!(row.version, 1 + total as u64);
    // One audit event per successful increment, plus tenant creation and insert.
    assert_eq!(fx.count_audit(t).await, 2 + total);
}
