//! A vault on a counting in-memory store with a manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, Batch, Kind, ListQuery, MemoryStore, Row, Store, Tenant};
use secrets_core::vault::{Caller, Vault, VaultConfig};
use secrets_core::{ManualClock, Result, SecretString, TenantId, Timestamp, UserId};

/// Counts every call that reaches the store.
#[derive(Debug, Default)]
pub(crate) struct Counting {
    pub(crate) inner: MemoryStore,
    pub(crate) reads: AtomicUsize,
    pub(crate) writes: AtomicUsize,
}

impl Counting {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }
    pub(crate) fn calls(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl Store for Counting {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.read();
        self.inner.tenant(id).await
    }
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.read();
        self.inner.tenants(after, limit).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.read();
        self.inner.directory_tenants(after, limit).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.read();
        self.inner.directory_lookup(kind, lookup).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.read();
        self.inner.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.read();
        self.inner.get_by_lookup(tenant, kind, lookup).await
    }
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        self.read();
        self.inner.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.read();
        self.inner.list(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.read();
        self.inner.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read();
        self.inner.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set_meta(name, value, expected).await
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) struct Fx {
    pub(crate) vault: Vault,
    pub(crate) store: Arc<Counting>,
    pub(crate) clock: ManualClock,
    pub(crate) ring: Arc<KeyRing>,
    pub(crate) tenant: TenantId,
    pub(crate) admin: Caller,
    pub(crate) admin_id: UserId,
}

pub(crate) fn config() -> VaultConfig {
    VaultConfig {
        password_cost: 10,
        ..VaultConfig::default()
    }
}

impl Fx {
    pub(crate) async fn new() -> Self {
        Self::with_config(config()).await
    }

    pub(crate) async fn with_config(config: VaultConfig) -> Self {
        let store = Arc::new(Counting::default());
        let clock = ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000));
        let ring = Arc::new(KeyRing::new(MasterKey::from_bytes(&[0x24; 32]).unwrap()));
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
        let admin = Caller::system(tenant); // replaced below by a real login
        let mut fx = Self {
            vault,
            store,
            clock,
            ring,
            tenant,
            admin,
            admin_id,
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

    /// Creates a user with the shared password and logs them in.
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

    pub(crate) fn clock_now(&self) -> Timestamp {
        use secrets_core::Clock;
        self.clock.now()
    }

    pub(crate) fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Every audit event of the tenant (read through the store directly).
    pub(crate) async fn audit(&self) -> Vec<AuditRecord> {
        self.store
            .inner
            .audit_events(self.tenant, &AuditQuery::default())
            .await
            .unwrap()
    }
}
