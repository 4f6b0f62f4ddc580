//! Lists: stable order across pages, capped limits, exact filters.

use super::*;

pub async fn lists_page_in_a_stable_order(fx: Fx) {
    let t = fx.tenant("t").await;
    let total = 2_345;
    let mut ids: Vec<String> = (0..total)
        .map(|i| format!("msg-{:05}", (i * 7919) % 100_000))
        .collect();
    for chunk in ids.chunks(crate::store::MAX_BATCH) {
        let changes = chunk
            .iter()
            .map(|id| Change::Insert(Row::new(Kind::SeenWebhook, id.clone(), b"{}".to_vec())))
            .collect();
        fx.apply(t, changes).await.unwrap();
    }
    ids.sort();
    for page_size in [1_000, 333, 7] {
        let mut seen = Vec::new();
        let mut query = ListQuery::new(Kind::SeenWebhook).limit(page_size);
        loop {
            let page = fx.store.list(t, &query).await.unwrap();
            assert!(page.len() <= page_size);
            let Some(last) = page.last() else { break };
            query.after = Some(last.id.clone());
            seen.extend(page.into_iter().map(|r| r.id));
        }
        assert_eq!(seen, ids, "page size {page_size}");
    }
    // The limit is capped.
    let page = fx
        .store
        .list(t, &ListQuery::new(Kind::SeenWebhook).limit(usize::MAX))
        .await
        .unwrap();
    assert_eq!(page.len(), crate::store::MAX_PAGE);
    // An empty kind lists nothing.
    assert!(
        fx.store
            .list(t, &ListQuery::new(Kind::AppArchive))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn list_filters_select_exactly(fx: Fx) {
    let t = fx.tenant("t").await;
    let u1 = fx.user(t, "one@example.com").await;
    let u2 = fx.user(t, "two@example.com").await;
    let mut changes = Vec::new();
    for (i, app) in ["api", "web", "web", "worker"].iter().enumerate() {
        let mut r = AppSecret::new(
            app,
            SecretName::parse(&format!("V{i}")).unwrap(),
            Actor::System,
            fx.now,
        )
        .unwrap()
        .to_row(None)
        .unwrap();
        r.sealed = Some(fx.seal(t, r.kind, &r.id, b"v"));
        changes.push(Change::Insert(r));
    }
    for (i, owner) in [u1, u2, u1].iter().enumerate() {
        let mut r = fx.sample_rows(t, *owner, &format!("o{i}")).remove(0);
        r.expires_at = Some(Timestamp::from_unix_seconds(100 * (i as i64 + 1)));
        changes.push(Change::Insert(r));
    }
    fx.apply(t, changes).await.unwrap();

    let web = listed(&fx, t, ListQuery::new(Kind::AppSecret).parent("web")).await;
    assert_eq!(
        web.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["web/V1", "web/V2"]
    );
    let of_u1 = listed(&fx, t, ListQuery::new(Kind::ApiToken).owner(u1)).await;
    assert_eq!(of_u1.len(), 2);
    assert!(of_u1.iter().all(|r| r.owner == Some(u1)));
    let expired = listed(
        &fx,
        t,
        ListQuery::new(Kind::ApiToken).expires_before(Timestamp::from_unix_seconds(250)),
    )
    .await;
    assert_eq!(expired.len(), 2);
    let combined = listed(
        &fx,
        t,
        ListQuery::new(Kind::ApiToken)
            .owner(u1)
            .expires_before(Timestamp::from_unix_seconds(250)),
    )
    .await;
    assert_eq!(combined.len(), 1);

    // Sealed-key filter: rotate, re-seal one value, then filter.
    let old_key = fx.ring.active_key_id();
    let new_key = fx.ring.rotate().unwrap();
    let mut r = web[0].clone();
    r.sealed = Some(fx.seal(t, r.kind, &r.id, b"v2"));
    fx.apply(
        t,
        vec![Change::Update {
            row: r,
            expected_version: 1,
        }],
    )
    .await
    .unwrap();
    let not_new = listed(
        &fx,
        t,
        ListQuery::new(Kind::AppSecret).sealed_not_under(new_key),
    )
    .await;
    assert_eq!(not_new.len(), 3);
    let not_old = listed(
        &fx,
        t,
        ListQuery::new(Kind::AppSecret).sealed_not_under(old_key),
    )
    .await;
    assert_eq!(
        not_old.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["web/V1"]
    );
    // Rows with no sealed value never match the sealed-key filter.
    assert!(
        listed(
            &fx,
            t,
            ListQuery::new(Kind::ApiToken).sealed_not_under(new_key)
        )
        .await
        .is_empty()
    );
}

/// The rows `q` lists, once [`Store::count`] was checked against them: with
/// the query's limit or a smaller one, and after its first row.
async fn listed(fx: &Fx, t: TenantId, q: ListQuery) -> Vec<Row> {
    let rows = fx.store.list(t, &q).await.unwrap();
    let n = rows.len() as u64;
    assert_eq!(fx.store.count(t, &q).await.unwrap(), n, "{q:?}");
    assert_eq!(
        fx.store.count(t, &q.clone().limit(1)).await.unwrap(),
        n,
        "{q:?}, limit 1"
    );
    if let Some(first) = rows.first() {
        let after = q.clone().after(first.id.clone());
        assert_eq!(
            fx.store.count(t, &after).await.unwrap(),
            n - 1,
            "{q:?} after {}",
            first.id
        );
    }
    rows
}
