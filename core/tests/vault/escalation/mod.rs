//! Privilege escalation: one test per attack of the hostile review (issue 8),
//! each run on the memory store and on SQLite.
//!
//! Every test here is written as the attacker would write it: it performs the
//! attack through the public API and asserts the attack fails. Each one
//! failed on the code before the fix it pins.
//!
//! [`both!`] turns one async body into two tests, `memory` and `sqlite`,
//! each with a fresh [`Esc`] (a vault with a bootstrapped Admin, logged in).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrets_core::audit::AuditLinker;
use secrets_core::audit::AuditRecord;
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::{
    AuditQuery, Batch, Kind, ListQuery, MemoryStore, Row, SqliteStore, Store, Tenant,
};
use secrets_core::vault::{Caller, Vault, VaultConfig};
use secrets_core::{ManualClock, SecretString, TenantId, Timestamp, UserId};

mod credentials;
mod integrity;
mod login;
mod model;
mod webhooks;

/// The shared password of every user the fixture creates.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
}

/// A vault on one backend, with a manual clock and a logged-in Admin.
#[allow(dead_code)] // not every attack needs every part
pub(crate) struct Esc {
    pub(crate) vault: Vault,
    /// The raw store, for reading the audit log and for attacks that write
    /// the database directly.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: ManualClock,
    pub(crate) ring: Arc<KeyRing>,
    pub(crate) tenant: TenantId,
    pub(crate) admin: Caller,
    pub(crate) admin_id: UserId,
    pub(crate) backend: Backend,
    /// The SQLite file's directory (removed on drop).
    pub(crate) dir: Option<tempfile::TempDir>,
}

/// The memory store, yielding to the scheduler before every call as a
/// store doing I/O would: without it, an operation on the memory store runs
/// from start to end without letting a concurrent one in, and races that
/// any real backend exposes would never show.
#[derive(Debug)]
pub(crate) struct Yielding(MemoryStore);

#[async_trait]
impl Store for Yielding {
    async fn tenant(&self, id: TenantId) -> secrets_core::Result<Option<Tenant>> {
        tokio::task::yield_now().await;
        self.0.tenant(id).await
    }
    async fn tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> secrets_core::Result<Vec<Tenant>> {
        tokio::task::yield_now().await;
        self.0.tenants(after, limit).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> secrets_core::Result<Vec<TenantId>> {
        tokio::task::yield_now().await;
        self.0.directory_tenants(after, limit).await
    }
    async fn directory_lookup(
        &self,
        kind: Kind,
        lookup: &[u8],
    ) -> secrets_core::Result<Option<TenantId>> {
        tokio::task::yield_now().await;
        self.0.directory_lookup(kind, lookup).await
    }
    async fn get(
        &self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
    ) -> secrets_core::Result<Option<Row>> {
        tokio::task::yield_now().await;
        self.0.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> secrets_core::Result<Option<Row>> {
        tokio::task::yield_now().await;
        self.0.get_by_lookup(tenant, kind, lookup).await
    }
    async fn find_by_lookup(
        &self,
        kind: Kind,
        lookup: &[u8],
    ) -> secrets_core::Result<Option<(TenantId, Row)>> {
        tokio::task::yield_now().await;
        self.0.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> secrets_core::Result<Vec<Row>> {
        tokio::task::yield_now().await;
        self.0.list(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> secrets_core::Result<AuditRecord> {
        tokio::task::yield_now().await;
        self.0.apply(tenant, batch, linker).await
    }
    async fn audit_events(
        &self,
        tenant: TenantId,
        query: &AuditQuery,
    ) -> secrets_core::Result<Vec<AuditRecord>> {
        tokio::task::yield_now().await;
        self.0.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> secrets_core::Result<()> {
        tokio::task::yield_now().await;
        self.0.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> secrets_core::Result<Option<Vec<u8>>> {
        tokio::task::yield_now().await;
        self.0.meta(name).await
    }
    async fn set_meta(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<&[u8]>,
    ) -> secrets_core::Result<bool> {
        tokio::task::yield_now().await;
        self.0.set_meta(name, value, expected).await
    }
}

/// The test configuration: bcrypt at the minimum cost, to keep tests quick.
pub(crate) fn config() -> VaultConfig {
    VaultConfig {
        password_cost: 10,
        ..VaultConfig::default()
    }
}

/// The fixture's master key.
pub(crate) fn master() -> MasterKey {
    MasterKey::from_bytes(&[0x42; 32]).unwrap()
}

impl Esc {
    pub(crate) async fn new(backend: Backend) -> Self {
        Self::with_config(backend, config()).await
    }

    pub(crate) async fn with_config(backend: Backend, config: VaultConfig) -> Self {
        let (store, dir): (Arc<dyn Store>, _) = match backend {
            Backend::Memory => (Arc::new(Yielding(MemoryStore::new())), None),
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(dir.path().join("vault.db"))
                    .await
                    .unwrap();
                (Arc::new(store), Some(dir))
            }
        };
        let clock = ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000));
        let ring = Arc::new(KeyRing::new(master()));
        let vault = Vault::new(store.clone(), ring.clone(), Arc::new(clock.clone()), config)
            .await
            .unwrap();
        let tenant = TenantId::generate();
        let admin_id = vault
            .bootstrap(
                tenant,
                "acme",
                "admin@example.com",
                &SecretString::from(PASSWORD),
                Some("192.0.2.1"),
            )
            .await
            .unwrap();
        let mut fx = Self {
            vault,
            store,
            clock,
            ring,
            tenant,
            admin: Caller::system(tenant),
            admin_id,
            backend,
            dir,
        };
        fx.admin = fx.login("admin@example.com").await;
        fx
    }

    /// Logs in with the shared password and returns the caller.
    pub(crate) async fn login(&self, login: &str) -> Caller {
        let s = self
            .vault
            .login(
                self.tenant,
                login,
                &SecretString::from(PASSWORD),
                Some("192.0.2.1"),
            )
            .await
            .unwrap();
        self.vault
            .authenticate_access_token(s.access_token.expose_secret(), Some("192.0.2.1"))
            .await
            .unwrap()
    }

    /// Creates a user with the shared password (as the Admin) and logs them in.
    pub(crate) async fn user(&self, login: &str, role: Role) -> (UserId, Caller) {
        let id = self
            .vault
            .create_user(
                &self.admin,
                login,
                role,
                Some(&SecretString::from(PASSWORD)),
            )
            .await
            .unwrap();
        (id, self.login(login).await)
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Every audit event of the tenant, read from the store directly.
    pub(crate) async fn audit(&self) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        let mut q = AuditQuery::default();
        loop {
            let page = self.store.audit_events(self.tenant, &q).await.unwrap();
            let Some(last) = page.last() else { break };
            q.after_seq = Some(last.seq);
            out.extend(page);
        }
        out
    }

    /// The audit events with this action.
    pub(crate) async fn audited(&self, action: &str) -> Vec<AuditRecord> {
        let mut all = self.audit().await;
        all.retain(|r| r.event.action == action);
        all
    }
}

/// One async test body, run twice: on the memory store and on SQLite, each
/// on a multi-threaded runtime (SQLite work runs in `block_in_place`).
///
/// ```ignore
/// both!(async fn name(fx) { ... });
/// both!(config = VaultConfig { .. }; async fn name(fx) { ... });
/// ```
macro_rules! both {
    (async fn $name:ident($fx:ident) $body:block) => {
        both!(config = $crate::escalation::config(); async fn $name($fx) $body);
    };
    (config = $config:expr; async fn $name:ident($fx:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut)]
            async fn run(mut $fx: $crate::escalation::Esc) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn memory() {
                run($crate::escalation::Esc::with_config(
                    $crate::escalation::Backend::Memory,
                    $config,
                )
                .await)
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::escalation::Esc::with_config(
                    $crate::escalation::Backend::Sqlite,
                    $config,
                )
                .await)
                .await;
            }
        }
    };
}
pub(crate) use both;

/// The row tag an operator holding the fixture's master key (or an earlier
/// version's migration) computes for `row` stored in `tenant` at `version`,
/// written from `docs/FORMATS.md` ("Row tag") alone, not from the core's
/// code: tests that need a row only a key holder could write use it.
pub(crate) fn keyholder_tag(tenant: TenantId, row: &Row, version: u64) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    type H = Hmac<sha2::Sha256>;
    fn str_(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap().to_be_bytes());
        out.extend_from_slice(b);
    }
    fn opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                str_(out, b);
            }
        }
    }
    let mut key = <H as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
    key.update(b"secrets-core/v1/subkey/row-integrity");
    let row_key = key.finalize().into_bytes();
    let mut c = Vec::new();
    str_(&mut c, b"secrets-core/v1/row");
    c.extend_from_slice(tenant.as_bytes());
    str_(&mut c, row.kind.as_str().as_bytes());
    str_(&mut c, row.id.as_bytes());
    opt(&mut c, row.parent.as_deref().map(str::as_bytes));
    opt(&mut c, row.owner.as_ref().map(|o| o.as_bytes().as_slice()));
    opt(&mut c, row.lookup.as_deref());
    match row.expires_at {
        None => c.push(0),
        Some(t) => {
            c.push(1);
            c.extend_from_slice(&t.unix_millis().to_be_bytes());
        }
    }
    c.extend_from_slice(&version.to_be_bytes());
    str_(&mut c, &row.body);
    opt(&mut c, row.sealed.as_deref());
    let mut mac = <H as KeyInit>::new_from_slice(&row_key).unwrap();
    mac.update(&c);
    mac.finalize().into_bytes().into()
}
