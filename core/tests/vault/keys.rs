//! The key lifecycle: data-key rotation persisted in the store, rewrap, and
//! replacing the master key (rekey) while other tasks write, on every
//! backend.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use async_trait::async_trait;
use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker, AuditRecord};
use secrets_core::crypto::{Envelope, KeyRing, MasterKey};
use secrets_core::error::ChainBreak;
use secrets_core::oauth::TokenSet;
use secrets_core::store::{AuditQuery, Batch, Change, Kind, ListQuery, Row, Store, Tenant};
use secrets_core::vault::{Caller, Vault};
use secrets_core::{Error, ManualClock, Result, SecretString, TenantId, Timestamp};

use crate::fixture::{PASSWORD, config, open_value, vault_test};

fn old_master() -> MasterKey {
    MasterKey::from_bytes(&[0x11; 32]).unwrap()
}

fn new_master() -> MasterKey {
    MasterKey::from_bytes(&[0x22; 32]).unwrap()
}

fn by_action(action: &str) -> AuditQuery {
    let mut q = AuditQuery::default();
    q.action = Some(action.into());
    q
}

fn clock() -> ManualClock {
    ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000))
}

async fn open(store: &Arc<dyn Store>, ring: KeyRing) -> Result<Vault> {
    Vault::new(store.clone(), Arc::new(ring), Arc::new(clock()), config()).await
}

/// A tenant with an Admin logged in and one value of every sealed kind:
/// an app secret, a settings secret, a webhook endpoint's secret, an OAuth
/// token set, a refreshed refresh token (its successor is sealed onto it),
/// and more (see the list in the first test).
struct Seeded {
    tenant: TenantId,
    admin: Caller,
    refresh_token: SecretString,
    access_token: SecretString,
}

async fn seed(vault: &Vault, n: usize) -> Seeded {
    let tenant = TenantId::generate();
    let login = format!("admin{n}@example.com");
    let pw = SecretString::from(PASSWORD);
    vault
        .bootstrap(tenant, &format!("t{n}"), &login, &pw, None)
        .await
        .unwrap();
    let session = vault.login(tenant, &login, &pw, None).await.unwrap();
    let admin = vault
        .authenticate_access_token(session.access_token.expose_secret(), None)
        .await
        .unwrap();
    for i in 0..40 {
        vault
            .set_secret(
                &admin,
                "web",
                &format!("KEY_{i}"),
                format!("value-{n}-{i}").as_bytes(),
            )
            .await
            .unwrap();
    }
    vault
        .set_setting_secret(
            &Caller::system(tenant),
            "smtp_password",
            format!("smtp-{n}").as_bytes(),
        )
        .await
        .unwrap();
    let endpoint = vault
        .register_webhook_endpoint(&admin, "https://hooks.example.com/in", "ci")
        .await
        .unwrap();
    // The endpoint's previous secret, an Ed25519 endpoint's signing key, an
    // inbound source's secret, a pending OAuth flow's PKCE verifier and an
    // app secret's previous value are sealed too.
    vault
        .rotate_webhook_secret(&admin, &endpoint.id, std::time::Duration::from_secs(3600))
        .await
        .unwrap();
    vault
        .register_asymmetric_webhook_endpoint(&admin, "https://hooks.example.com/v1a", "v1a")
        .await
        .unwrap();
    vault
        .register_webhook_source(
            &Caller::system(tenant),
            "github",
            secrets_core::vault::SourceStyle::Github,
            "It's a Secret to Everybody",
        )
        .await
        .unwrap();
    vault
        .begin_oauth(&admin, "github", "https://app.example.com/callback")
        .await
        .unwrap();
    vault
        .set_secret(&admin, "web", "KEY_0", b"second value")
        .await
        .unwrap();
    vault
        .store_oauth_tokens(
            &admin,
            "github",
            &TokenSet::new(SecretString::from(format!("gho_{n}"))),
        )
        .await
        .unwrap();
    // One refresh: the family now holds a sealed successor.
    let refreshed = vault
        .refresh(session.refresh_token.expose_secret(), None)
        .await
        .unwrap();
    Seeded {
        tenant,
        admin,
        refresh_token: refreshed.refresh_token,
        access_token: refreshed.access_token,
    }
}

/// `n` more secrets in `seeded`'s tenant, in app `bulk` (`KEY_0000`,
/// `KEY_0001`, ..., each its own name as value). With `n` = 1,100 a pass
/// reads the tenant in three batches, the first with every kind before the
/// secrets, the third with every kind after them; with 1,600, in four.
async fn add_bulk(vault: &Vault, seeded: &Seeded, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("KEY_{i:04}")).collect();
    for chunk in names.chunks(100) {
        let values = chunk.iter().map(|n| (n.clone(), n.as_bytes().to_vec()));
        vault
            .set_secrets(&seeded.admin, "bulk", values.collect::<Vec<_>>())
            .await
            .unwrap();
    }
}

/// Every row of `tenant` with a sealed value (its tenant keys aside), read
/// from the store directly.
async fn sealed_rows(store: &Arc<dyn Store>, tenant: TenantId) -> Vec<Row> {
    let mut out = Vec::new();
    for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::TenantKey) {
        let rows = store
            .list(tenant, &ListQuery::new(kind).limit(1000))
            .await
            .unwrap();
        out.extend(rows.into_iter().filter(|r| r.sealed.is_some()));
    }
    out
}

/// The ids of `tenant`'s tenant keys.
async fn tenant_key_ids(store: &Arc<dyn Store>, tenant: TenantId) -> Vec<u32> {
    let rows = store
        .list(tenant, &ListQuery::new(Kind::TenantKey))
        .await
        .unwrap();
    rows.iter().map(|r| r.id.parse().unwrap()).collect()
}

/// Whether every sealed value of `tenant` opens under `master` (keys up to
/// `active`), and how many there are.
async fn opens_under(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    master: MasterKey,
    active: u32,
) -> (usize, usize) {
    let ring = KeyRing::with_active(master, secrets_core::crypto::KeyId::new(active).unwrap());
    let rows = sealed_rows(store, tenant).await;
    let mut opened = 0;
    for row in &rows {
        if open_value(store, &ring, tenant, row).await.is_some() {
            opened += 1;
        }
    }
    (opened, rows.len())
}

vault_test!(
    async fn rotation_is_recorded_and_rewrap_moves_every_value_once(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let seeded = seed(&vault, 0).await;
        assert_eq!(vault.rotate_key().await.unwrap().get(), 2);
        assert_eq!(vault.rotate_key().await.unwrap().get(), 3);
        // A vault opened later with a bare ring of the same master seals
        // with key 3: the store recorded it.
        let again = open(&store, KeyRing::new(old_master())).await.unwrap();
        assert_eq!(again.key_status().active_key, 3);
        let before = sealed_rows(&store, seeded.tenant).await;
        let kinds: std::collections::BTreeSet<_> = before.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "app_secret",
                "app_secret_previous",
                "oauth_connection",
                "oauth_state",
                "refresh_token",
                "setting_secret",
                "webhook_endpoint",
                "webhook_previous_secret",
                "webhook_source",
            ],
            "every kind that holds a sealed value"
        );
        assert!(before.iter().all(|r| {
            Envelope::parse(r.sealed.as_deref().unwrap())
                .unwrap()
                .key_id()
                .get()
                == 1
        }));
        let mut calls = Vec::new();
        let report = again.rewrap(&mut |p| calls.push(p)).await.unwrap();
        assert_eq!(report.rewrapped, before.len() as u64);
        assert_eq!(report.active_key, 3);
        assert!(report.examined >= report.rewrapped);
        let last = calls.last().unwrap();
        assert_eq!(last.done, last.total);
        let after = sealed_rows(&store, seeded.tenant).await;
        assert!(after.iter().all(|r| {
            Envelope::parse(r.sealed.as_deref().unwrap())
                .unwrap()
                .key_id()
                .get()
                == 3
        }));
        // Idempotent; values still read; rotations and rewraps audited.
        assert_eq!(again.rewrap(&mut |_| {}).await.unwrap().rewrapped, 0);
        let env = again.inject(&seeded.admin, "web").await.unwrap();
        assert_eq!(env["KEY_3"].expose_secret(), b"value-0-3");
        assert_eq!(env["KEY_0"].expose_secret(), b"second value");
        let rotated = store
            .audit_events(seeded.tenant, &by_action("key.rotated"))
            .await
            .unwrap();
        assert_eq!(rotated.len(), 2);
        again.verify_audit_log(&seeded.admin).await.unwrap();
    }
);

vault_test!(
    async fn a_rotation_elsewhere_is_picked_up_when_its_values_are_read(backend: Backend) {
        let (store, dir) = backend.open().await;
        let one = open(&store, KeyRing::new(old_master())).await.unwrap();
        let seeded = seed(&one, 0).await;
        let other_store = backend.second_handle(&store, dir.as_ref()).await;
        let two = open(&other_store, KeyRing::new(old_master()))
            .await
            .unwrap();
        two.rotate_key().await.unwrap();
        two.set_secret(&seeded.admin, "web", "NEW", b"under key 2")
            .await
            .unwrap();
        // `one` still holds only key 1, and reads what `two` sealed.
        assert_eq!(one.key_status().active_key, 1);
        let env = one.inject(&seeded.admin, "web").await.unwrap();
        assert_eq!(env["NEW"].expose_secret(), b"under key 2");
        assert_eq!(one.key_status().active_key, 2);
    }
);

vault_test!(
    async fn rekey_while_another_task_writes(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let mut tenants = Vec::new();
        for n in 0..3 {
            tenants.push(seed(&vault, n).await);
        }
        vault.rotate_key().await.unwrap();
        let old_checkpoint = vault.audit_checkpoint(&tenants[0].admin).await.unwrap();
        drop(vault);

        // Begin: the new master seals, the old one still opens.
        let vault = open(
            &store,
            KeyRing::new(new_master()).with_retiring(old_master()),
        )
        .await
        .unwrap();
        let status = vault.key_status();
        assert!(status.rekeying);
        assert_eq!((status.base_key, status.active_key), (3, 3));
        // Access tokens signed under the old master are refused at once;
        // refresh tokens are hashes and keep working.
        assert!(
            vault
                .authenticate_access_token(tenants[0].access_token.expose_secret(), None)
                .await
                .is_err()
        );
        let session = vault
            .refresh(tenants[0].refresh_token.expose_secret(), None)
            .await
            .unwrap();
        let admin0 = vault
            .authenticate_access_token(session.access_token.expose_secret(), None)
            .await
            .unwrap();

        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU32::new(0));
        let writer = {
            let (vault, admin, stop, count) =
                (vault.clone(), admin0.clone(), stop.clone(), count.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let i = count.load(Ordering::SeqCst);
                    vault
                        .set_secret(&admin, "worker", &format!("W_{}", i % 20), &i.to_be_bytes())
                        .await
                        .unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            })
        };
        while count.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        let at_start = count.load(Ordering::SeqCst);
        // After the pass's first batch, it waits until the writer has
        // written again: writes land in the middle of the pass however
        // the threads are scheduled (the writer runs on the runtime's
        // workers, this body on the test's own thread).
        let seen = count.clone();
        let mut waited = false;
        let report = vault
            .rekey(&mut |p| {
                if p.done > 0 && !waited {
                    waited = true;
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
                    while seen.load(Ordering::SeqCst) <= at_start
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::yield_now();
                    }
                }
            })
            .await
            .unwrap();
        stop.store(true, Ordering::SeqCst);
        let during = count.load(Ordering::SeqCst) - at_start;
        writer.await.unwrap();
        let written = count.load(Ordering::SeqCst);
        assert!(during > 0, "the writer wrote during the rekey");
        assert_eq!(report.epoch, 2);
        assert_eq!(report.tenants, 3);
        assert!(report.rewrapped > 0);
        assert!(!vault.key_status().rekeying);

        // The old master is refused; alone, the new one opens the store.
        assert!(matches!(
            open(&store, KeyRing::new(old_master())).await,
            Err(Error::WrongMasterKey)
        ));
        let vault = open(&store, KeyRing::new(new_master())).await.unwrap();
        let active = vault.key_status().active_key;
        for (n, t) in tenants.iter().enumerate() {
            let (opened, total) = opens_under(&store, t.tenant, new_master(), active).await;
            assert_eq!(
                opened, total,
                "tenant {n}: every value opens under the new master"
            );
            let (opened, _) = opens_under(&store, t.tenant, old_master(), active).await;
            assert_eq!(opened, 0, "tenant {n}: the old master opens nothing");
            let ids = tenant_key_ids(&store, t.tenant).await;
            assert!(
                !ids.is_empty() && ids.iter().all(|&id| id >= 3),
                "tenant {n}: the old master's tenant keys are destroyed: {ids:?}"
            );
            let admin = if n == 0 {
                admin0.clone()
            } else {
                Caller::system(t.tenant)
            };
            let summary = vault
                .verify_audit_log(&Caller::system(t.tenant))
                .await
                .unwrap();
            assert!(summary.count > 0);
            let secret = vault
                .read_setting_secret(&Caller::system(t.tenant), "smtp_password")
                .await
                .unwrap();
            assert_eq!(secret.expose_secret(), format!("smtp-{n}").as_bytes());
            if n == 0 {
                let env = vault.inject(&admin, "web").await.unwrap();
                assert_eq!(env.len(), 40);
                let worker = vault.inject(&admin, "worker").await.unwrap();
                assert_eq!(worker.len(), written.min(20) as usize);
            }
        }
        // A checkpoint taken before the rekey still verifies.
        vault
            .verify_checkpoint(&Caller::system(tenants[0].tenant), &old_checkpoint)
            .await
            .unwrap();
        // Nothing left needs a rewrap, and the log says what happened.
        assert_eq!(vault.rewrap(&mut |_| {}).await.unwrap().rewrapped, 0);
        let anchors = store
            .audit_events(tenants[1].tenant, &by_action("key.rekeyed"))
            .await
            .unwrap();
        assert_eq!(anchors.len(), 1);
    }
);

vault_test!(
    async fn a_rekey_batch_that_loses_a_race_is_read_again_and_skips_no_row(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let seeded = seed(&vault, 0).await;
        add_bulk(&vault, &seeded, 1_100).await;
        drop(vault);
        let tenant = seeded.tenant;
        let system = Caller::system(tenant);

        // Another vault on the store writes first, just as the pass sends
        // its second batch (while the pass reads the third): a secret of
        // that batch is changed, and a new one lands right after its first
        // row, so that the batch, read again, ends a row earlier.
        let racer = open(
            &store,
            KeyRing::new(new_master()).with_retiring(old_master()),
        )
        .await
        .unwrap();
        let batches = Arc::new(AtomicU32::new(0));
        let before: BeforeApply = {
            let (racer, batches, system) = (racer.clone(), batches.clone(), system.clone());
            Box::new(move |t, batch| {
                if t != tenant
                    || batch.audit.action != "key.rewrapped"
                    || batches.fetch_add(1, Ordering::SeqCst) != 1
                {
                    return Box::pin(async {});
                }
                let ids: Vec<String> = batch
                    .changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::Update { row, .. } if row.kind == Kind::AppSecret => {
                            Some(row.id.clone())
                        }
                        _ => None,
                    })
                    .collect();
                let (racer, system) = (racer.clone(), system.clone());
                Box::pin(async move {
                    let name = |id: &str| id.strip_prefix("bulk/").unwrap().to_owned();
                    let first = name(&ids[0]);
                    let changed = name(&ids[ids.len() / 2]);
                    racer
                        .set_secret(&system, "bulk", &format!("{first}_A"), b"inserted")
                        .await
                        .unwrap();
                    racer
                        .set_secret(&system, "bulk", &changed, b"raced")
                        .await
                        .unwrap();
                })
            })
        };
        let vault = open(
            &raced(&store, before),
            KeyRing::new(new_master()).with_retiring(old_master()),
        )
        .await
        .unwrap();
        let report = vault.rekey(&mut |_| {}).await.unwrap();
        assert_eq!(report.epoch, 2);

        // The batch that lost the race was read again, not written: one
        // attempt more than the events.
        let events = store
            .audit_events(tenant, &by_action("key.rewrapped"))
            .await
            .unwrap();
        assert_eq!(
            events.len() + 1,
            batches.load(Ordering::SeqCst) as usize,
            "{events:?}"
        );
        assert_eq!(events.len(), 3, "small kinds share the batches: {events:?}");
        let rows: u64 = events
            .iter()
            .map(|e| e.event.details["rows"].parse::<u64>().unwrap())
            .sum();
        assert_eq!(rows, report.rewrapped);
        assert!(events[0].event.details["kinds"].starts_with("user,"));
        assert!(events[0].event.details["kinds"].ends_with(",app_secret"));

        // No row was skipped: every value opens under the new master alone
        // (the old master's tenant keys are gone), the race's writes stand,
        // and nothing is left to rewrap.
        let vault = open(&store, KeyRing::new(new_master())).await.unwrap();
        let active = vault.key_status().active_key;
        let (opened, total) = opens_under(&store, tenant, new_master(), active).await;
        assert_eq!(opened, total);
        assert_eq!(opens_under(&store, tenant, old_master(), active).await.0, 0);
        let bulk = vault
            .inject(&system, "bulk")
            .await
            .expect("every secret reads under the new master alone");
        assert_eq!(bulk.len(), 1_101);
        let raced: Vec<_> = bulk
            .iter()
            .filter(|(_, v)| v.expose_secret() == b"raced")
            .collect();
        assert_eq!(raced.len(), 1);
        assert_eq!(
            bulk.values()
                .filter(|v| v.expose_secret() == b"inserted")
                .count(),
            1
        );
        assert_eq!(vault.rewrap(&mut |_| {}).await.unwrap().rewrapped, 0);
        vault.verify_audit_log(&system).await.unwrap();
    }
);

/// What [`Rewritten`] runs before a batch reaches the store.
type BeforeApply =
    Box<dyn Fn(TenantId, &Batch) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The backend's store, with every page of audit events passed through
/// `edit` on its way out (what an edited or truncated stored log looks like
/// to the Vault), and `before_apply` run before each batch goes in (a
/// writer that gets there first).
struct Rewritten<F> {
    inner: Arc<dyn Store>,
    edit: F,
    before_apply: Option<BeforeApply>,
}

impl<F> std::fmt::Debug for Rewritten<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rewritten")
            .field("inner", &self.inner)
            .finish()
    }
}

fn rewritten<F>(inner: &Arc<dyn Store>, edit: F) -> Arc<dyn Store>
where
    F: Fn(TenantId, &mut Vec<AuditRecord>) + Send + Sync + 'static,
{
    Arc::new(Rewritten {
        inner: inner.clone(),
        edit,
        before_apply: None,
    })
}

/// The backend's store, with `before` run before each batch goes in.
fn raced(inner: &Arc<dyn Store>, before: BeforeApply) -> Arc<dyn Store> {
    Arc::new(Rewritten {
        inner: inner.clone(),
        edit: |_: TenantId, _: &mut Vec<AuditRecord>| {},
        before_apply: Some(before),
    })
}

#[async_trait]
impl<F> Store for Rewritten<F>
where
    F: Fn(TenantId, &mut Vec<AuditRecord>) + Send + Sync,
{
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.inner.tenant(id).await
    }
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.inner.tenants(after, limit).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.inner.directory_tenants(after, limit).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.inner.directory_lookup(kind, lookup).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.inner.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.inner.get_by_lookup(tenant, kind, lookup).await
    }
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        self.inner.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.inner.list(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        if let Some(before) = &self.before_apply {
            before(tenant, &batch).await;
        }
        self.inner.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut events = self.inner.audit_events(tenant, query).await?;
        (self.edit)(tenant, &mut events);
        Ok(events)
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.inner.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.inner.set_meta(name, value, expected).await
    }
}

vault_test!(
    async fn an_event_edited_before_the_rekey_is_still_detected(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let seeded = seed(&vault, 0).await;
        let before = vault.verify_audit_log(&seeded.admin).await.unwrap().count;
        drop(vault);
        let vault = open(
            &store,
            KeyRing::new(new_master()).with_retiring(old_master()),
        )
        .await
        .unwrap();
        vault.rekey(&mut |_| {}).await.unwrap();
        let system = Caller::system(seeded.tenant);
        let after = vault.verify_audit_log(&system).await.unwrap().count;
        assert!(after > before);
        for seq in [1, before / 2, before] {
            // A byte of the event's target changed.
            let victim = seeded.tenant;
            let edited = rewritten(&store, move |tenant, events| {
                for e in events
                    .iter_mut()
                    .filter(|e| tenant == victim && e.seq == seq)
                {
                    let mut target = e.event.target.clone().into_bytes();
                    target[0] ^= 0x01;
                    e.event.target = String::from_utf8(target).unwrap();
                }
            });
            let vault = open(&edited, KeyRing::new(new_master())).await.unwrap();
            let err = vault.verify_audit_log(&system).await.unwrap_err();
            assert!(
                matches!(err, Error::AuditChainBroken { seq: s, reason: ChainBreak::Altered } if s == seq),
                "seq {seq}: {err:?}"
            );
        }
    }
);

vault_test!(
    async fn an_interrupted_rekey_resumes_and_finishes(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let mut tenants = Vec::new();
        for n in 0..3 {
            let seeded = seed(&vault, n).await;
            add_bulk(&vault, &seeded, 1_600).await;
            tenants.push(seeded);
        }
        drop(vault);
        let rekeying = || KeyRing::new(new_master()).with_retiring(old_master());
        let vault = open(&store, rekeying()).await.unwrap();
        // Killed mid-way, as a process would be: the task dies at the first
        // report of the twelve batches. By then at most five are reported
        // (the one read, and four waiting in the channel) and one more per
        // tenant written: eight.
        let task = {
            let vault = vault.clone();
            tokio::spawn(async move {
                vault
                    .rekey(&mut |p| assert!(p.done == 0, "killed after {} rows", p.done))
                    .await
            })
        };
        assert!(task.await.unwrap_err().is_panic());
        let active = vault.key_status().active_key;
        drop(vault);
        let (mut moved, mut total) = (0, 0);
        for t in &tenants {
            let (o, n) = opens_under(&store, t.tenant, new_master(), active).await;
            moved += o;
            total += n;
        }
        assert!(
            moved > 0 && moved < total,
            "killed mid-way: {moved} of {total} moved"
        );

        // Mid-way, neither master alone opens the store.
        for ring in [KeyRing::new(old_master()), KeyRing::new(new_master())] {
            let err = open(&store, ring).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        }
        // Resumed, it finishes.
        let vault = open(&store, rekeying()).await.unwrap();
        assert!(vault.key_status().rekeying);
        let report = vault.rekey(&mut |_| {}).await.unwrap();
        assert_eq!(report.epoch, 2);
        let vault = open(&store, KeyRing::new(new_master())).await.unwrap();
        let active = vault.key_status().active_key;
        for t in &tenants {
            let (opened, total) = opens_under(&store, t.tenant, new_master(), active).await;
            assert_eq!(opened, total);
            vault
                .verify_audit_log(&Caller::system(t.tenant))
                .await
                .unwrap();
        }
        // Opening with the rekeying ring once more is harmless: the retiring
        // master is simply not needed.
        let vault = open(&store, rekeying()).await.unwrap();
        assert!(!vault.key_status().rekeying);
        assert_eq!(vault.key_status().epoch, 2);
    }
);

vault_test!(
    async fn a_log_cut_back_to_before_the_rekey_is_refused(backend: Backend) {
        // What someone holding the old master could do after a rekey:
        // present only the events linked under the old key. The log then
        // ends in a retired epoch, which no completed rekey leaves.
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        let seeded = seed(&vault, 0).await;
        let before = vault.verify_audit_log(&seeded.admin).await.unwrap().count;
        drop(vault);
        let vault = open(
            &store,
            KeyRing::new(new_master()).with_retiring(old_master()),
        )
        .await
        .unwrap();
        vault.rekey(&mut |_| {}).await.unwrap();
        let cut = rewritten(&store, move |_, events| events.retain(|e| e.seq <= before));
        let vault = open(&cut, KeyRing::new(new_master())).await.unwrap();
        let err = vault
            .verify_audit_log(&Caller::system(seeded.tenant))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::AuditChainBroken { seq, reason: ChainBreak::Truncated } if seq == before + 1),
            "{err:?}"
        );
    }
);

vault_test!(
    async fn a_bare_check_value_is_read_and_upgraded_at_the_first_rotation(backend: Backend) {
        // A store from before key states: the bare check value of the
        // master of 32 bytes of 0x42 (docs/FORMATS.md).
        let (store, _dir) = backend.open().await;
        let kcv: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"94b7fbc2d01b340f16e94ebe192ef495391213c2e689a026dee743d74a9434e8"
                        [2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        assert!(store.set_meta("key_check", &kcv, None).await.unwrap());
        let master = || MasterKey::from_bytes(&[0x42; 32]).unwrap();
        assert!(matches!(
            open(&store, KeyRing::new(old_master())).await,
            Err(Error::WrongMasterKey)
        ));
        let vault = open(&store, KeyRing::new(master())).await.unwrap();
        assert_eq!(
            store.meta("key_check").await.unwrap().unwrap(),
            kcv,
            "opening writes nothing"
        );
        assert_eq!(vault.rotate_key().await.unwrap().get(), 2);
        let state = store.meta("key_check").await.unwrap().unwrap();
        assert_eq!((state[0], &state[1..33]), (2, kcv.as_slice()));
        let again = open(&store, KeyRing::new(master())).await.unwrap();
        assert_eq!(again.key_status().active_key, 2);
    }
);

vault_test!(
    async fn a_forged_key_state_is_refused(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        vault.rotate_key().await.unwrap();
        drop(vault);
        // A database writer lowers the active key id: the MAC no longer
        // matches.
        let mut state = store.meta("key_check").await.unwrap().unwrap();
        let previous = state.clone();
        state[44] = 1;
        assert!(
            store
                .set_meta("key_check", &state, Some(&previous))
                .await
                .unwrap()
        );
        let err = open(&store, KeyRing::new(old_master())).await.unwrap_err();
        assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
    }
);

vault_test!(
    async fn a_pass_over_more_tenants_than_it_runs_at_once_reports_every_page(backend: Backend) {
        let (store, _dir) = backend.open().await;
        let vault = open(&store, KeyRing::new(old_master())).await.unwrap();
        // More tenants than a pass works on at once (4).
        let mut tenants = Vec::new();
        for n in 0..6 {
            tenants.push(seed(&vault, n).await);
        }
        let active = vault.rotate_key().await.unwrap().get();
        let mut calls = Vec::new();
        let report = vault.rewrap(&mut |p| calls.push(p)).await.unwrap();
        assert_eq!(report.tenants, 6);
        let last = *calls.last().unwrap();
        assert_eq!((last.done, last.total), (report.examined, report.examined));
        assert!(
            calls
                .windows(2)
                .all(|w| w[0].done < w[1].done && w[0].total == w[1].total)
        );
        for t in &tenants {
            let (opened, total) = opens_under(&store, t.tenant, old_master(), active).await;
            assert!(total > 0);
            assert_eq!(opened, total, "every value of every tenant moved");
        }

        // A row of one tenant changed in the database (its tag no longer
        // matches) stops the next pass with that tenant's integrity error;
        // the other tenants' logs still verify.
        let victim = tenants[4].tenant;
        let row = sealed_rows(&store, victim).await.remove(0);
        let mut forged = row.clone();
        forged.body = b"{\"forged\":true}".to_vec();
        let batch = Batch::new(AuditDraft::new(
            Actor::System,
            "attacker.write",
            "db",
            Timestamp::from_unix_seconds(1_750_000_000),
        ))
        .with(Change::Update {
            row: forged,
            expected_version: row.version,
        });
        let attacker: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(
            MasterKey::from_bytes(&[0x66; 32]).unwrap(),
        )));
        store.apply(victim, batch, &attacker).await.unwrap();
        vault.rotate_key().await.unwrap();
        let err = vault.rewrap(&mut |_| {}).await.unwrap_err();
        assert!(matches!(err, Error::Tampered { .. }), "{err:?}");
        for t in tenants.iter().filter(|t| t.tenant != victim) {
            vault
                .verify_audit_log(&Caller::system(t.tenant))
                .await
                .unwrap();
        }
    }
);
