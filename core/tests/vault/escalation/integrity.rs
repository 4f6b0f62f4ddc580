//! Attacks by a database writer without the master key (invariant I7), and
//! a vault opened with the wrong master key (attack 14).
//!
//! On SQLite the attacker writes the file with plain rusqlite; on the memory
//! store, whose only interface is the `Store` trait, through the raw store
//! (`fx.store`, which the Vault wraps but the attacker holds undecorated),
//! linking their audit event with a key of their own.

#[allow(unused_imports)]
use super::*;

use rusqlite::{Connection, OptionalExtension, params};
use secrets_core::Error;
use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker, Outcome};
use secrets_core::password::PasswordPolicy;
use secrets_core::store::records::{ApiToken, User};
use secrets_core::store::{Batch, Change, Kind, ListQuery, Record, Row, Tenant};
use secrets_core::token::TokenFormat;

/// The attacker's own audit linker (they do not hold the master key).
fn attacker_linker() -> Arc<dyn AuditLinker> {
    Arc::new(AuditChain::new(&KeyRing::new(
        MasterKey::from_bytes(&[0x66; 32]).unwrap(),
    )))
}

/// Applies `changes` to the raw memory store, as a writer without the key.
async fn raw_apply(fx: &Fx, tenant: TenantId, changes: Vec<Change>) {
    let mut batch = Batch::new(AuditDraft::new(
        Actor::System,
        "attacker.write",
        "db",
        Timestamp::from_unix_seconds(1_750_000_000),
    ));
    for c in changes {
        batch.push(c);
    }
    fx.store
        .apply(tenant, batch, &attacker_linker())
        .await
        .unwrap();
}

/// A plain rusqlite connection to the fixture's SQLite file.
fn raw_db(fx: &Fx) -> Connection {
    let conn = Connection::open(fx.dir.as_ref().unwrap().path().join("vault.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn
}

/// Inserts `row` into `tenant` as the attacker: with rusqlite on SQLite
/// (every column, the tag as given), through the raw store in memory.
async fn plant(fx: &Fx, tenant: TenantId, row: Row) {
    match fx.backend {
        Backend::Memory | Backend::Postgres => {
            raw_apply(fx, tenant, vec![Change::Insert(row)]).await
        }
        Backend::Sqlite => {
            let table = if row.kind == Kind::User {
                "users"
            } else {
                "records"
            };
            let scope: Vec<u8> = if row.kind.has_global_lookup() {
                Vec::new()
            } else {
                tenant.as_bytes().to_vec()
            };
            raw_db(fx)
                .execute(
                    &format!(
                        "INSERT INTO {table} (tenant_id, kind, id, parent, owner_id, lookup_scope,
                         lookup, expires_at, version, body, sealed, key_id, tag)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, NULL, NULL, ?10)"
                    ),
                    params![
                        tenant.as_bytes().as_slice(),
                        row.kind.as_str(),
                        row.id,
                        row.parent,
                        row.owner.map(|o| o.to_string()),
                        row.lookup.as_ref().map(|_| scope),
                        row.lookup,
                        row.expires_at.map(Timestamp::unix_millis),
                        row.body,
                        row.tag.as_ref().map(<[u8; 32]>::as_slice),
                    ],
                )
                .unwrap();
            // A writer planting a token plants its directory entry too
            // (schema 3), as the store itself would.
            if let Some(lookup) = row.lookup.as_ref().filter(|_| row.kind.has_global_lookup()) {
                raw_db(fx)
                    .execute(
                        "INSERT INTO lookup_directory (kind, lookup, tenant_id) VALUES (?1, ?2, ?3)",
                        params![row.kind.as_str(), lookup, tenant.as_bytes().as_slice()],
                    )
                    .unwrap();
            }
        }
    }
}

/// The `integrity.refused` events naming `kind` `id`.
async fn refusals(fx: &Fx, kind: &str, id: &str) -> usize {
    fx.audited("integrity.refused")
        .await
        .iter()
        .filter(|r| {
            r.event.outcome == Outcome::Denied
                && r.event.details.get("kind").map(String::as_str) == Some(kind)
                && r.event.details.get("id").map(String::as_str) == Some(id)
        })
        .count()
}

fn is_tampered(r: &Result<impl std::fmt::Debug, Error>, kind: &str) -> bool {
    matches!(r, Err(Error::Tampered { kind: k, .. }) if *k == kind)
}

async fn login(fx: &Fx, tenant: TenantId, login: &str) -> secrets_core::Result<Caller> {
    let s = fx
        .vault
        .login(tenant, login, &SecretString::from(PASSWORD), None)
        .await?;
    fx.vault
        .authenticate_access_token(s.access_token.expose_secret(), None)
        .await
}

// I7 (a): one UPDATE of a user row's JSON made a Viewer an Admin. The row's
// tag no longer matches: the login is refused with its own error, audited.
vault_test!(
    async fn a_viewer_made_admin_in_the_database_is_refused(fx) {
        let (viewer, _) = fx.user("viewer@example.com", Role::Viewer).await;
        let id = viewer.to_string();
        match fx.backend {
            Backend::Sqlite => {
                let conn = raw_db(&fx);
                let body: Vec<u8> = conn
                    .query_row("SELECT body FROM users WHERE id = ?1", [&id], |r| r.get(0))
                    .unwrap();
                let forged = String::from_utf8(body)
                    .unwrap()
                    .replace(r#""role":"viewer""#, r#""role":"admin""#);
                assert!(forged.contains(r#""role":"admin""#));
                let n = conn
                    .execute(
                        "UPDATE users SET body = ?1 WHERE id = ?2",
                        params![forged.into_bytes(), id],
                    )
                    .unwrap();
                assert_eq!(n, 1);
            }
            Backend::Memory | Backend::Postgres => {
                let mut row = fx
                    .store
                    .get(fx.tenant, Kind::User, &id)
                    .await
                    .unwrap()
                    .unwrap();
                let forged = String::from_utf8(row.body.clone())
                    .unwrap()
                    .replace(r#""role":"viewer""#, r#""role":"admin""#);
                assert!(forged.contains(r#""role":"admin""#));
                row.body = forged.into_bytes();
                let expected_version = row.version;
                raw_apply(
                    &fx,
                    fx.tenant,
                    vec![Change::Update {
                        row,
                        expected_version,
                    }],
                )
                .await;
            }
        }
        let r = login(&fx, fx.tenant, "viewer@example.com").await;
        assert!(is_tampered(&r, "user"), "{r:?}");
        assert!(refusals(&fx, "user", &id).await >= 1);
        // The Admin listing users meets the same row: refused, not trusted.
        let listed = fx.vault.list_users(&fx.admin, None).await;
        assert!(is_tampered(&listed, "user"), "{listed:?}");
    }
);

// I7 (b): an inserted token row with a hash of the attacker's choosing (a
// real `scp_` token they generated) authenticated as Admin. Refused, with no
// tag and with a made-up one.
vault_test!(
    async fn a_token_row_inserted_in_the_database_is_refused(fx) {
        for (i, tag) in [None, Some([0x41; 32])].into_iter().enumerate() {
            let format = TokenFormat::api();
            let token = format.generate().unwrap();
            let parsed = format.parse(token.expose_secret()).unwrap();
            let record = ApiToken {
                id: format!("forged-{i}"),
                owner: fx.admin_id,
                name: "backdoor".into(),
                hash: parsed.hash,
                display_prefix: parsed.display_prefix.clone(),
                scopes: vec!["*".into()],
                created_at: Timestamp::from_unix_seconds(1_750_000_000),
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
                epoch: 0,
            };
            let mut row = record.to_row(None).unwrap();
            row.tag = tag;
            plant(&fx, fx.tenant, row).await;
            let r = fx
                .vault
                .authenticate_api_token(token.expose_secret(), Some("198.51.100.7"))
                .await;
            assert!(is_tampered(&r, "api_token"), "{r:?}");
            assert_eq!(refusals(&fx, "api_token", &format!("forged-{i}")).await, 1);
        }
    }
);

// I7 (c): a valid row copied from another tenant (the attacker's own, where
// they are Admin) or moved to another id keeps its tag, which names the
// tenant and the id: refused.
vault_test!(
    async fn a_row_copied_from_another_tenant_or_id_is_refused(fx) {
        // Another tenant, whose Admin the attacker is.
        let theirs = TenantId::generate();
        let boss = fx
            .vault
            .bootstrap(
                theirs,
                "evil",
                "boss@evil.example",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        let row = fx
            .store
            .get(theirs, Kind::User, &boss.to_string())
            .await
            .unwrap()
            .unwrap();
        assert!(row.tag.is_some());
        match fx.backend {
            Backend::Memory | Backend::Postgres => raw_apply(&fx, fx.tenant, vec![Change::Insert(row)]).await,
            Backend::Sqlite => {
                raw_db(&fx)
                    .execute(
                        "INSERT INTO users SELECT ?1, kind, id, parent, owner_id, ?1, lookup,
                         expires_at, version, body, sealed, key_id, tag FROM users
                         WHERE tenant_id = ?2 AND id = ?3",
                        params![
                            fx.tenant.as_bytes().as_slice(),
                            theirs.as_bytes().as_slice(),
                            boss.to_string()
                        ],
                    )
                    .unwrap();
            }
        }
        // Their password, their row, but in our tenant: refused.
        let r = login(&fx, fx.tenant, "boss@evil.example").await;
        assert!(is_tampered(&r, "user"), "{r:?}");
        assert_eq!(refusals(&fx, "user", &boss.to_string()).await, 1);
        // Still fine at home.
        login(&fx, theirs, "boss@evil.example").await.unwrap();

        // A genuine token row moved to another id (tag kept): refused.
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], None)
            .await
            .unwrap();
        fx.vault
            .authenticate_api_token(minted.token.expose_secret(), None)
            .await
            .unwrap();
        match fx.backend {
            Backend::Memory | Backend::Postgres => {
                let mut row = fx
                    .store
                    .get(fx.tenant, Kind::ApiToken, &minted.id)
                    .await
                    .unwrap()
                    .unwrap();
                let delete = Change::Delete {
                    kind: Kind::ApiToken,
                    id: row.id.clone(),
                    expected_version: None,
                };
                row.id = "moved".into();
                raw_apply(&fx, fx.tenant, vec![delete, Change::Insert(row)]).await;
            }
            Backend::Sqlite => {
                let n = raw_db(&fx)
                    .execute(
                        "UPDATE records SET id = 'moved' WHERE kind = 'api_token' AND id = ?1",
                        [&minted.id],
                    )
                    .unwrap();
                assert_eq!(n, 1);
            }
        }
        let r = fx
            .vault
            .authenticate_api_token(minted.token.expose_secret(), None)
            .await;
        assert!(is_tampered(&r, "api_token"), "{r:?}");
        assert_eq!(refusals(&fx, "api_token", "moved").await, 1);
    }
);

/// The store setting `name`, read from the raw store.
async fn meta(fx: &Fx, name: &str) -> Option<Vec<u8>> {
    fx.store.meta(name).await.unwrap()
}

// Attack 14: a vault opened with another master key opened, failed every
// sealed read, and chained new audit events under the wrong key. It is
// refused now, with its own error, before anything is written.
vault_test!(
    async fn a_wrong_master_key_is_refused_before_anything_is_written(fx) {
        // The key state (docs/FORMATS.md): version 2, then the check value
        // of the fixture's master (32 bytes of 0x42), never the key.
        let check = meta(&fx, "key_check").await;
        let state = check.as_deref().unwrap();
        assert_eq!((state[0], state.len()), (2, 78));
        assert_eq!(
            state[1..33].iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "94b7fbc2d01b340f16e94ebe192ef495391213c2e689a026dee743d74a9434e8"
        );
        let events = fx.audit().await.len();

        // Later, the host restarts with another key.
        fx.advance(Duration::from_secs(3600));
        let wrong = Arc::new(KeyRing::new(MasterKey::from_bytes(&[0x43; 32]).unwrap()));
        let r = Vault::new(
            fx.store.clone(),
            wrong,
            Arc::new(fx.clock.clone()),
            config(),
        )
        .await;
        assert!(matches!(r, Err(Error::WrongMasterKey)), "{r:?}");
        assert_eq!(fx.audit().await.len(), events, "nothing was audited");
        assert_eq!(meta(&fx, "key_check").await, check, "the check value stands");

        // The right key still opens, and writes nothing either.
        let again = Vault::new(fx.store.clone(), fx.ring.clone(), Arc::new(fx.clock.clone()), config())
            .await
            .unwrap();
        assert_eq!(fx.audit().await.len(), events);
        let s = again
            .login(fx.tenant, "admin@example.com", &SecretString::from(PASSWORD), None)
            .await;
        assert!(s.is_ok(), "{s:?}");
    }
);

/// Writes a store as a version without row tags did: a tenant, an Admin
/// with a password, and an API token, untagged, with the audit events linked
/// under the fixture's master key. Returns the tenant and the token.
async fn legacy(store: &Arc<dyn Store>) -> (TenantId, String) {
    let tenant = TenantId::generate();
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(master())));
    let hash = PasswordPolicy::new(10)
        .unwrap()
        .hash(&SecretString::from(PASSWORD))
        .unwrap();
    let admin = User {
        id: UserId::generate(),
        login: "old@example.com".into(),
        role: Role::Admin,
        password_hash: Some(hash),
        disabled: false,
        created_at: now,
        credential_epoch: 0,
        credentials_revoked_at: None,
    };
    let format = TokenFormat::api();
    let token = format.generate().unwrap();
    let parsed = format.parse(token.expose_secret()).unwrap();
    let api = ApiToken {
        id: "tok-1".into(),
        owner: admin.id,
        name: "ci".into(),
        hash: parsed.hash,
        display_prefix: parsed.display_prefix,
        scopes: vec!["*".into()],
        created_at: now,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        epoch: 0,
    };
    store
        .apply(
            tenant,
            Batch::new(AuditDraft::new(
                Actor::System,
                "tenant.bootstrap",
                "tenant/old",
                now,
            ))
            .with(Change::CreateTenant(
                Tenant::new(tenant, "old", now).unwrap(),
            ))
            .with(Change::Insert(admin.to_row(None).unwrap()))
            .with(Change::Insert(api.to_row(None).unwrap())),
            &chain,
        )
        .await
        .unwrap();
    (tenant, token.expose_secret().to_owned())
}

async fn open(store: &Arc<dyn Store>, key: u8) -> secrets_core::Result<Vault> {
    let clock = ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000));
    Vault::new(
        store.clone(),
        Arc::new(KeyRing::new(MasterKey::from_bytes(&[key; 32]).unwrap())),
        Arc::new(clock),
        config(),
    )
    .await
}

async fn events(store: &Arc<dyn Store>, tenant: TenantId, action: &str) -> usize {
    store
        .audit_events(tenant, &{
            let mut c = AuditQuery::default();
            c.action = Some(action.into());
            c
        })
        .await
        .unwrap()
        .len()
}

vault_test!(
    /// I7, the migration: a store written before row tags opens, is tagged once
    /// in audited batches, and logs in; an untagged row planted afterwards is
    /// refused. A wrong key on such a store (no check value yet) is told apart
    /// by its audit chain, before anything is written.
    async fn a_legacy_store_is_tagged_once_and_logs_in(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let (tenant, token) = legacy(&store).await;
        let before = store
            .audit_events(tenant, &AuditQuery::default())
            .await
            .unwrap();

        let wrong = open(&store, 0x43).await;
        assert!(matches!(wrong, Err(Error::WrongMasterKey)), "{wrong:?}");
        assert_eq!(store.meta("key_check").await.unwrap(), None);
        assert_eq!(
            store
                .audit_events(tenant, &AuditQuery::default())
                .await
                .unwrap(),
            before
        );

        let vault = open(&store, 0x42).await.unwrap();
        assert_eq!(
            events(&store, tenant, "integrity.tag").await,
            2,
            "users, then tokens"
        );
        assert_eq!(events(&store, tenant, "integrity.migrated").await, 1);
        assert!(store.meta("row_tags").await.unwrap().is_some());
        let users = store
            .list(tenant, &ListQuery::new(Kind::User))
            .await
            .unwrap();
        assert!(users.iter().all(|r| r.tag.is_some()));

        let s = vault
            .login(
                tenant,
                "old@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await
            .unwrap();
        let caller = vault.authenticate_api_token(&token, None).await.unwrap();
        assert_eq!(caller.role(), Role::Admin);

        // Opening again tags nothing more.
        drop(vault);
        let vault = open(&store, 0x42).await.unwrap();
        assert_eq!(events(&store, tenant, "integrity.tag").await, 2);
        assert_eq!(events(&store, tenant, "integrity.migrated").await, 1);

        // After the pass, an untagged row is refused like a bad tag.
        let planted = User {
            id: UserId::generate(),
            login: "late@example.com".into(),
            role: Role::Admin,
            password_hash: User::from_row(users[0].clone())
                .unwrap()
                .record
                .password_hash,
            disabled: false,
            created_at: Timestamp::from_unix_seconds(1_700_000_000),
            credential_epoch: 0,
            credentials_revoked_at: None,
        };
        let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(master())));
        store
            .apply(
                tenant,
                Batch::new(AuditDraft::new(
                    Actor::System,
                    "attacker.write",
                    "db",
                    Timestamp::from_unix_seconds(1_700_000_000),
                ))
                .with(Change::Insert(planted.to_row(None).unwrap())),
                &chain,
            )
            .await
            .unwrap();
        let r = vault
            .login(
                tenant,
                "late@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await;
        assert!(
            matches!(r, Err(Error::Tampered { kind: "user", .. })),
            "{r:?}"
        );
        assert_eq!(events(&store, tenant, "integrity.refused").await, 1);
    }
);

// Deleting the "tagging complete" marker makes the store look as if it were
// written before row tags, but does not launder a forged row: the tenant's
// own (keyed) audit log says its rows were tagged from creation. SQLite
// only: the marker is deleted from the file itself, which only SQLite has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_tagging_marker_does_not_launder_a_forged_row() {
    let fx = Fx::new(Backend::Sqlite).await;
    let conn = raw_db(&fx);
    let hash: String = conn
        .query_row(
            "SELECT json_extract(CAST(body AS TEXT), '$.password_hash') FROM users WHERE id = ?1",
            [fx.admin_id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    let forged = User {
        id: UserId::generate(),
        login: "ghost@example.com".into(),
        role: Role::Admin,
        password_hash: Some(hash),
        disabled: false,
        created_at: Timestamp::from_unix_seconds(1_750_000_000),
        credential_epoch: 0,
        credentials_revoked_at: None,
    };
    plant(&fx, fx.tenant, forged.to_row(None).unwrap()).await;
    let n = conn
        .execute("DELETE FROM meta WHERE name = 'row_tags'", [])
        .unwrap();
    assert_eq!(n, 1);

    let vault = Vault::new(
        fx.store.clone(),
        fx.ring.clone(),
        Arc::new(fx.clock.clone()),
        config(),
    )
    .await
    .unwrap();
    let tag: Option<Vec<u8>> = conn
        .query_row(
            "SELECT tag FROM users WHERE id = ?1",
            [forged.id.to_string()],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
        .flatten();
    assert_eq!(tag, None, "the forged row was not tagged");
    let r = vault
        .login(
            fx.tenant,
            "ghost@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await;
    assert!(
        matches!(r, Err(Error::Tampered { kind: "user", .. })),
        "{r:?}"
    );
}
