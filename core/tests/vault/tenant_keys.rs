//! Tenant data keys and crypto-erasure: every tenant's values are sealed
//! under keys of its own, which its erase destroys; with a separate key
//! store, a backup of the data store taken before the erase no longer opens
//! the tenant's values.
//!
//! Values are opened here without the Vault ([`open_value`]), from the
//! bytes the store holds and the format in `docs/FORMATS.md`.

use std::sync::Arc;

use secrets_core::crypto::{Envelope, KeyRing, MasterKey};
use secrets_core::store::{Kind, ListQuery, MemoryStore, Row, SqliteStore, Store};
use secrets_core::vault::{Caller, Vault};
use secrets_core::{Error, ManualClock, SecretString, TenantId, Timestamp};

use crate::fixture::{PASSWORD, config, open_value, vault_test};

fn master() -> MasterKey {
    MasterKey::from_bytes(&[0x33; 32]).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_unix_seconds(
        1_750_000_000,
    )))
}

async fn open(store: &Arc<dyn Store>, keys: Option<&Arc<dyn Store>>) -> Vault {
    let ring = Arc::new(KeyRing::new(master()));
    match keys {
        None => Vault::new(store.clone(), ring, clock(), config()).await,
        Some(keys) => {
            Vault::with_key_store(store.clone(), keys.clone(), ring, clock(), config()).await
        }
    }
    .unwrap()
}

/// A tenant with two app secrets and a settings secret.
async fn seed(vault: &Vault, n: u8) -> TenantId {
    let tenant = TenantId::generate();
    vault
        .bootstrap(
            tenant,
            &format!("t{n}"),
            &format!("admin{n}@example.com"),
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
    let system = Caller::system(tenant);
    vault
        .set_secret(&system, "web", "A", format!("a-{n}").as_bytes())
        .await
        .unwrap();
    vault
        .set_secret(&system, "web", "B", format!("b-{n}").as_bytes())
        .await
        .unwrap();
    vault
        .set_setting_secret(&system, "smtp_password", format!("smtp-{n}").as_bytes())
        .await
        .unwrap();
    tenant
}

async fn rows(store: &Arc<dyn Store>, tenant: TenantId, kind: Kind) -> Vec<Row> {
    store
        .list(tenant, &ListQuery::new(kind).limit(1000))
        .await
        .unwrap()
}

vault_test!(
    async fn each_tenants_values_are_sealed_under_its_own_key(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, None).await;
        let (a, b) = (seed(&vault, 1).await, seed(&vault, 2).await);
        let ring = KeyRing::new(master());
        let mut keys = Vec::new();
        for tenant in [a, b] {
            let key_rows = rows(&store, tenant, Kind::TenantKey).await;
            assert_eq!(key_rows.len(), 1, "one key: the ring has one key id");
            assert_eq!(key_rows[0].id, "1");
            let key = ring
                .open(
                    key_rows[0].sealed.as_deref().unwrap(),
                    &Row::context(tenant, Kind::TenantKey, "1"),
                )
                .unwrap();
            assert_eq!(key.expose_secret().len(), 32);
            keys.push(key.expose_secret().to_vec());
            // Its creation is audited, without the key.
            let created = vault
                .audit_events(&Caller::system(tenant), &{
                    let mut q = secrets_core::store::AuditQuery::default();
                    q.action = Some("tenant_key.created".into());
                    q
                })
                .await
                .unwrap();
            assert_eq!(created.len(), 1);
        }
        assert_ne!(
            keys[0], keys[1],
            "random per tenant, not derived from the master alone"
        );

        // Every value opens independently, under its tenant's key only.
        let values = rows(&store, a, Kind::AppSecret).await;
        assert_eq!(values.len(), 2);
        let mut opened = Vec::new();
        for row in &values {
            opened.push(open_value(&store, &ring, a, row).await.unwrap());
            // Under the ring alone it does not open.
            assert!(
                ring.open(
                    row.sealed.as_deref().unwrap(),
                    &Row::context(a, row.kind, &row.id)
                )
                .is_err()
            );
            // Copied into the other tenant, with its key, it does not open.
            assert_eq!(open_value(&store, &ring, b, row).await, None);
        }
        opened.sort();
        assert_eq!(opened, [b"a-1".to_vec(), b"b-1".to_vec()]);
    }
);

vault_test!(
    async fn an_erase_destroys_the_tenants_keys_and_spares_the_others(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, None).await;
        let (a, b) = (seed(&vault, 1).await, seed(&vault, 2).await);
        let before = rows(&store, a, Kind::AppSecret).await;
        vault.erase_tenant(&Caller::system(a)).await.unwrap();
        assert!(rows(&store, a, Kind::TenantKey).await.is_empty());
        // What an attacker kept of the rows does not open with the store's
        // key material any more.
        let ring = KeyRing::new(master());
        for row in &before {
            assert_eq!(open_value(&store, &ring, a, row).await, None);
        }
        let env = vault.inject(&Caller::system(b), "web").await.unwrap();
        assert_eq!(env["A"].expose_secret(), b"a-2");
        assert_eq!(rows(&store, b, Kind::TenantKey).await.len(), 1);
    }
);

vault_test!(
    async fn with_a_key_store_the_keys_live_and_die_there(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let (keys, _keys_dir) = backend.open().await;
        let vault = open(&store, Some(&keys)).await;
        let (a, b) = (seed(&vault, 1).await, seed(&vault, 2).await);
        for tenant in [a, b] {
            assert!(rows(&store, tenant, Kind::TenantKey).await.is_empty());
            assert_eq!(rows(&keys, tenant, Kind::TenantKey).await.len(), 1);
        }
        let ring = KeyRing::new(master());
        let value = &rows(&store, a, Kind::AppSecret).await[0];
        assert!(open_value(&keys, &ring, a, value).await.is_some());

        // A vault given the data store alone is refused (the store is
        // bound to its key store: `a_store_is_bound_...` below).
        let bare = Arc::new(KeyRing::new(master()));
        assert!(matches!(
            Vault::new(store.clone(), bare, clock(), config()).await,
            Err(Error::InvalidInput { .. })
        ));

        // Deletion protection holds for the keys too.
        vault
            .set_deletion_protection(&Caller::system(a), true)
            .await
            .unwrap();
        assert!(matches!(
            vault.erase_tenant(&Caller::system(a)).await,
            Err(Error::DeletionProtected { .. })
        ));
        assert_eq!(rows(&keys, a, Kind::TenantKey).await.len(), 1);
        vault
            .set_deletion_protection(&Caller::system(a), false)
            .await
            .unwrap();
        vault.erase_tenant(&Caller::system(a)).await.unwrap();
        assert!(keys.tenant(a).await.unwrap().is_none());
        assert!(rows(&keys, a, Kind::TenantKey).await.is_empty());
        assert_eq!(open_value(&keys, &ring, a, value).await, None);
        let env = vault.inject(&Caller::system(b), "web").await.unwrap();
        assert_eq!(env["B"].expose_secret(), b"b-2");
    }
);

vault_test!(
    async fn rotation_gives_each_tenant_a_new_key_and_rewrap_moves_values_to_it(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, None).await;
        let a = seed(&vault, 1).await;
        vault.rotate_key().await.unwrap();
        let report = vault.rewrap(&mut |_| {}).await.unwrap();
        assert_eq!(report.rewrapped, 3, "two app secrets and a settings secret");
        let key_ids: Vec<_> = rows(&store, a, Kind::TenantKey)
            .await
            .into_iter()
            .map(|r| {
                (
                    r.id.clone(),
                    Envelope::parse(r.sealed.as_deref().unwrap())
                        .unwrap()
                        .key_id()
                        .get(),
                )
            })
            .collect();
        // Each tenant key stays under the ring key of its own id.
        assert_eq!(key_ids, [("1".to_owned(), 1), ("2".to_owned(), 2)]);
        let ring = KeyRing::with_active(master(), secrets_core::crypto::KeyId::new(2).unwrap());
        for row in rows(&store, a, Kind::AppSecret).await {
            let env = Envelope::parse(row.sealed.as_deref().unwrap()).unwrap();
            assert_eq!((env.version(), env.key_id().get()), (2, 2));
            assert!(open_value(&store, &ring, a, &row).await.is_some());
        }
        assert_eq!(vault.rewrap(&mut |_| {}).await.unwrap().rewrapped, 0);
    }
);

/// A SQLite data store and key store in files; `backup` of the data store
/// taken after seeding.
async fn erase_after_backup(separate: bool) -> (Vault, TenantId, TenantId, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let data: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("data.db")).await.unwrap());
    let keys: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("keys.db")).await.unwrap());
    let vault = open(&data, separate.then_some(&keys)).await;
    let (a, b) = (seed(&vault, 1).await, seed(&vault, 2).await);
    let sqlite = SqliteStore::open(dir.path().join("data.db")).await.unwrap();
    sqlite
        .backup_to(dir.path().join("backup.db"))
        .await
        .unwrap();
    vault.erase_tenant(&Caller::system(a)).await.unwrap();
    drop(vault);
    // Restore: the backup, with the key material in force now.
    let restored: Arc<dyn Store> = Arc::new(
        SqliteStore::open(dir.path().join("backup.db"))
            .await
            .unwrap(),
    );
    let vault = open(&restored, separate.then_some(&keys)).await;
    (vault, a, b, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_key_store_a_backup_from_before_the_erase_no_longer_opens_the_tenant() {
    let (vault, a, b, _dir) = erase_after_backup(true).await;
    for app in ["web"] {
        assert!(matches!(
            vault.inject(&Caller::system(a), app).await,
            Err(Error::Corrupt {
                what: "tenant_key",
                ..
            })
        ));
    }
    assert!(matches!(
        vault
            .read_setting_secret(&Caller::system(a), "smtp_password")
            .await,
        Err(Error::Corrupt { .. })
    ));
    let env = vault.inject(&Caller::system(b), "web").await.unwrap();
    assert_eq!(env["A"].expose_secret(), b"a-2");
    assert_eq!(env["B"].expose_secret(), b"b-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_store_a_backup_from_before_the_erase_still_opens_the_tenant() {
    // The documented limit (docs/THREAT_MODEL.md): the backup holds the
    // tenant's sealed key beside its values, and the master opens it.
    let (vault, a, _b, _dir) = erase_after_backup(false).await;
    let env = vault.inject(&Caller::system(a), "web").await.unwrap();
    assert_eq!(env["A"].expose_secret(), b"a-1");
}

#[tokio::test]
async fn the_key_store_mirrors_only_the_tenant_and_its_keys() {
    let data: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let keys: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let vault = open(&data, Some(&keys)).await;
    let a = seed(&vault, 1).await;
    for kind in Kind::ALL {
        let n = rows(&keys, a, kind).await.len();
        assert_eq!(n, usize::from(kind == Kind::TenantKey), "{kind}");
    }
    // The tenant's key rows hold no plaintext key: 32 bytes sealed.
    let key_row = &rows(&keys, a, Kind::TenantKey).await[0];
    assert_eq!(
        key_row.sealed.as_deref().map(<[u8]>::len),
        Some(secrets_core::crypto::OVERHEAD + 32)
    );
}

vault_test!(
    async fn an_erase_interrupted_after_the_data_finishes_when_run_again(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let (keys, _keys_dir) = backend.open().await;
        let vault = open(&store, Some(&keys)).await;
        let a = seed(&vault, 1).await;
        // As if the key store had failed right after the data's erase.
        store.erase_tenant(a).await.unwrap();
        assert_eq!(rows(&keys, a, Kind::TenantKey).await.len(), 1);
        vault.erase_tenant(&Caller::system(a)).await.unwrap();
        assert!(keys.tenant(a).await.unwrap().is_none());
        // Nothing left anywhere: now it is not found.
        assert!(matches!(
            vault.erase_tenant(&Caller::system(a)).await,
            Err(Error::NotFound { .. })
        ));
    }
);

vault_test!(
    async fn a_rekey_moves_the_keys_in_the_key_store_to_the_new_master(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let (keys, _keys_dir) = backend.open().await;
        let new_master = || MasterKey::from_bytes(&[0x44; 32]).unwrap();
        let vault = open(&store, Some(&keys)).await;
        let a = seed(&vault, 1).await;
        drop(vault);
        let ring = KeyRing::new(new_master()).with_retiring(master());
        let vault = Vault::with_key_store(
            store.clone(),
            keys.clone(),
            Arc::new(ring),
            clock(),
            config(),
        )
        .await
        .unwrap();
        vault.rekey(&mut |_| {}).await.unwrap();
        let ids: Vec<String> = rows(&keys, a, Kind::TenantKey)
            .await
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["2"], "the old master's key 1 is destroyed");
        let (old, new) = (
            KeyRing::new(master()),
            KeyRing::with_active(new_master(), secrets_core::crypto::KeyId::new(2).unwrap()),
        );
        for row in rows(&store, a, Kind::AppSecret).await {
            assert!(open_value(&keys, &new, a, &row).await.is_some());
            assert_eq!(open_value(&keys, &old, a, &row).await, None);
        }
        let env = vault.inject(&Caller::system(a), "web").await.unwrap();
        assert_eq!(env["B"].expose_secret(), b"b-1");
    }
);

#[tokio::test]
async fn values_sealed_before_tenant_keys_open_and_move_onto_them() {
    use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    use secrets_core::store::{Batch, Change, Tenant};

    // A store written by a build without tenant keys: an app secret in
    // envelope v1 under the ring.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let ring = KeyRing::new(master());
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
    let tenant = TenantId::generate();
    let now = Timestamp::from_unix_seconds(1_750_000_000);
    use secrets_core::store::Record as _;
    use secrets_core::store::records::{AppSecret, SecretName};
    let name = SecretName::parse("LEGACY").unwrap();
    let app_secret = AppSecret::new("web", name, Actor::System, now).unwrap();
    let mut row = app_secret.to_row(None).unwrap();
    row.sealed = Some(
        ring.seal(
            b"from before",
            &Row::context(tenant, Kind::AppSecret, &row.id),
        )
        .unwrap(),
    );
    let draft = AuditDraft::new(Actor::System, "tenant.create", "tenant", now);
    store
        .apply(
            tenant,
            Batch::new(draft)
                .with(Change::CreateTenant(
                    Tenant::new(tenant, "legacy", now).unwrap(),
                ))
                .with(Change::Insert(row)),
            &chain,
        )
        .await
        .unwrap();

    let vault = open(&store, None).await;
    let env = vault.inject(&Caller::system(tenant), "web").await.unwrap();
    assert_eq!(env["LEGACY"].expose_secret(), b"from before");
    vault.rotate_key().await.unwrap();
    assert_eq!(vault.rewrap(&mut |_| {}).await.unwrap().rewrapped, 1);
    let moved = &rows(&store, tenant, Kind::AppSecret).await[0];
    let envelope = Envelope::parse(moved.sealed.as_deref().unwrap()).unwrap();
    assert_eq!((envelope.version(), envelope.key_id().get()), (2, 2));
    let env = vault.inject(&Caller::system(tenant), "web").await.unwrap();
    assert_eq!(env["LEGACY"].expose_secret(), b"from before");
}

vault_test!(
    async fn a_store_is_bound_to_where_its_tenant_keys_live(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let (keys, _keys_dir) = backend.open().await;
        let (other_keys, _other_dir) = backend.open().await;
        let (other_store, _other_store_dir) = backend.open().await;
        let vault = open(&store, Some(&keys)).await;
        let a = seed(&vault, 1).await;
        drop(vault);
        let refused = |r: secrets_core::Result<Vault>| {
            assert!(
                matches!(&r, Err(Error::InvalidInput { field, .. }) if *field == "key store"),
                "{:?}",
                r.err()
            );
        };
        let ring = || Arc::new(KeyRing::new(master()));
        // Without its key store, with another one: refused, nothing written.
        refused(Vault::new(store.clone(), ring(), clock(), config()).await);
        refused(
            Vault::with_key_store(store.clone(), other_keys.clone(), ring(), clock(), config())
                .await,
        );
        assert!(rows(&store, a, Kind::TenantKey).await.is_empty());
        // A key store serves one store only.
        refused(
            Vault::with_key_store(other_store.clone(), keys.clone(), ring(), clock(), config())
                .await,
        );
        // A store that keeps its keys in itself refuses a key store.
        let plain = open(&other_store, None).await;
        drop(plain);
        refused(
            Vault::with_key_store(
                other_store.clone(),
                other_keys.clone(),
                ring(),
                clock(),
                config(),
            )
            .await,
        );
        // The right pair opens, and reads.
        let vault = open(&store, Some(&keys)).await;
        let env = vault.inject(&Caller::system(a), "web").await.unwrap();
        assert_eq!(env["A"].expose_secret(), b"a-1");
    }
);

vault_test!(
    async fn a_key_erased_and_recreated_elsewhere_is_not_used_to_seal_for_long(backend: Backend) {
        // Two processes on one store: `one` holds tenant A's key in its
        // cache; `two` erases A, and A is created again with the same id.
        let (store, dir) = backend.open().await;
        let clock_one = clock();
        let one = Vault::new(
            store.clone(),
            Arc::new(KeyRing::new(master())),
            clock_one.clone(),
            config(),
        )
        .await
        .unwrap();
        let a = seed(&one, 1).await;
        let second = backend.second_handle(&store, dir.as_ref()).await;
        let two = open(&second, None).await;
        two.erase_tenant(&Caller::system(a)).await.unwrap();
        two.bootstrap(
            a,
            "again",
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
        two.set_secret(&Caller::system(a), "web", "NEW", b"from two")
            .await
            .unwrap();
        // Within the revalidation period `one` would still seal under its
        // cached key; past it, it reads the key row again and seals under
        // the key the store holds now, which `two` opens.
        clock_one.advance(std::time::Duration::from_secs(31));
        one.set_secret(&Caller::system(a), "web", "FROM_ONE", b"from one")
            .await
            .unwrap();
        let env = two.inject(&Caller::system(a), "web").await.unwrap();
        assert_eq!(env["FROM_ONE"].expose_secret(), b"from one");
        assert_eq!(env["NEW"].expose_secret(), b"from two");
        // Erased and re-created once more: a value under the new key does
        // not open with `one`'s cached key, so `one` reads the key again.
        two.erase_tenant(&Caller::system(a)).await.unwrap();
        two.bootstrap(
            a,
            "third",
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
        two.set_secret(&Caller::system(a), "web", "NEWER", b"third time")
            .await
            .unwrap();
        let env = one.inject(&Caller::system(a), "web").await.unwrap();
        assert_eq!(env["NEWER"].expose_secret(), b"third time");
    }
);
