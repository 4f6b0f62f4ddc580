//! Row integrity tags are stored as given.

use super::*;

/// A row's integrity tag is the Vault's business: a backend stores it as
/// given, on insert and on update, and returns it from every read.
pub async fn row_tags_are_stored_as_given(fx: Fx) {
    let t = fx.tenant("acme").await;
    let owner = fx.user(t, "ada@example.com").await;
    let mut rows = fx.sample_rows(t, owner, "t");
    for (i, row) in rows.iter_mut().enumerate() {
        row.tag = Some([u8::try_from(i).unwrap(); 32]);
    }
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    for want in &rows {
        let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
        assert_eq!(got.tag, want.tag, "{} get", want.kind);
        let listed = fx.store.list(t, &ListQuery::new(want.kind)).await.unwrap();
        assert_eq!(listed[0].tag, want.tag, "{} list", want.kind);
        if let Some(lookup) = &want.lookup {
            let found = fx.store.get_by_lookup(t, want.kind, lookup).await.unwrap();
            assert_eq!(found.unwrap().tag, want.tag, "{} lookup", want.kind);
            if want.kind.has_global_lookup() {
                let (_, found) = fx
                    .store
                    .find_by_lookup(want.kind, lookup)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(found.tag, want.tag, "{} global lookup", want.kind);
            }
        }
        // An update replaces the tag, and may clear it.
        for tag in [Some([0xee; 32]), None] {
            let mut changed = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
            let expected_version = changed.version;
            changed.tag = tag;
            fx.apply(
                t,
                vec![Change::Update {
                    row: changed,
                    expected_version,
                }],
            )
            .await
            .unwrap();
            let got = fx.store.get(t, want.kind, &want.id).await.unwrap().unwrap();
            assert_eq!(got.tag, tag, "{} update", want.kind);
        }
    }
    let user = fx
        .store
        .get(t, Kind::User, &owner.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.tag, None, "a row written without a tag has none");
}
