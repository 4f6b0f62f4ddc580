//! The one Vault fixture: a vault on a fresh store of one backend, with a
//! manual clock and a logged-in Admin, and the macro that runs a test body
//! on every backend.
//!
//! [`vault_test!`] turns one async body into one test per backend
//! (`users::bootstrap_happens_once::memory`, `...::sqlite`), each with a
//! fresh [`Fx`].
//!
//! Adding a backend (PostgreSQL next) is one change, here: a variant of
//! [`Backend`], its arm in [`Backend::open`], and its line in
//! [`vault_test!`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::{
    AuditQuery, Batch, Kind, ListQuery, MemoryStore, Row, SqliteStore, Store, Tenant,
};
use secrets_core::vault::{Caller, Vault, VaultConfig};
use secrets_core::{Clock as _, ManualClock, Result, SecretString, TenantId, Timestamp, UserId};

/// The shared password of every user the fixture creates.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backend {
    Memory,
    Sqlite,
    /// A scratch schema on the configured server (`tests/postgres/scratch.rs`);
    /// only with the `postgres` feature (the variant exists without it, so
    /// that tests which write the store directly can name it alongside
    /// memory, but no test runs on it).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

#[cfg(feature = "postgres")]
#[path = "../postgres/scratch.rs"]
pub(crate) mod scratch;

/// The file, in a PostgreSQL store's directory, naming its schema (what a
/// second handle opens).
#[cfg(feature = "postgres")]
const SCHEMA_FILE: &str = "postgres-schema";

impl Backend {
    /// A fresh, empty store of this backend, and the temporary directory
    /// that holds its file (removed on drop), if it has one.
    pub(crate) async fn open(self) -> (Arc<dyn Store>, Option<tempfile::TempDir>) {
        match self {
            Self::Memory => (Arc::new(MemoryStore::new()), None),
            Self::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(dir.path().join("vault.db"))
                    .await
                    .unwrap();
                (Arc::new(store), Some(dir))
            }
            // The store drops its schema with itself; the directory names
            // the schema for `second_handle`.
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let store = scratch::ScratchStore::new(8)
                    .await
                    .expect("the caller checked that PostgreSQL is configured");
                let dir = tempfile::tempdir().unwrap();
                std::fs::write(dir.path().join(SCHEMA_FILE), &store.scratch.schema).unwrap();
                (Arc::new(store), Some(dir))
            }
            #[cfg(not(feature = "postgres"))]
            Self::Postgres => unreachable!("built without the `postgres` feature"),
        }
    }

    /// A second handle on a store [`open`](Self::open) returned, as another
    /// process on the same database holds it: the same memory store, or the
    /// same SQLite file opened again.
    pub(crate) async fn second_handle(
        self,
        first: &Arc<dyn Store>,
        dir: Option<&tempfile::TempDir>,
    ) -> Arc<dyn Store> {
        match self {
            Self::Memory => first.clone(),
            Self::Sqlite => {
                let path = dir.expect("a SQLite store has its directory").path();
                Arc::new(SqliteStore::open(path.join("vault.db")).await.unwrap())
            }
            // Another pool on the same schema, as another app instance.
            #[cfg(feature = "postgres")]
            Self::Postgres => {
                let path = dir.expect("a PostgreSQL store has its directory").path();
                let schema = std::fs::read_to_string(path.join(SCHEMA_FILE)).unwrap();
                let (app_url, _) = scratch::urls().unwrap();
                let options = secrets_core::store::PostgresOptions::default().schema(schema);
                Arc::new(
                    secrets_core::store::PostgresStore::open(&app_url, options)
                        .await
                        .unwrap(),
                )
            }
            #[cfg(not(feature = "postgres"))]
            Self::Postgres => unreachable!("built without the `postgres` feature"),
        }
    }
}

/// The store as the Vault sees it: the backend's store, yielding to the
/// scheduler before every call as a store doing network I/O would, and
/// counting the calls that reach it.
///
/// Without the yield, an operation on the memory store (or on SQLite, whose
/// calls block in place) runs from start to end without letting a
/// concurrent one in, and races that a networked backend exposes would
/// never show.
#[derive(Debug)]
pub(crate) struct Probe {
    inner: Arc<dyn Store>,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Probe {
    fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        }
    }

    async fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }

    async fn write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }

    /// The calls that reached the store so far: (reads, writes).
    pub(crate) fn calls(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl Store for Probe {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.read().await;
        self.inner.tenant(id).await
    }
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.read().await;
        self.inner.tenants(after, limit).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.read().await;
        self.inner.directory_tenants(after, limit).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.read().await;
        self.inner.directory_lookup(kind, lookup).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.read().await;
        self.inner.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.read().await;
        self.inner.get_by_lookup(tenant, kind, lookup).await
    }
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        self.read().await;
        self.inner.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.read().await;
        self.inner.list(tenant, query).await
    }
    async fn count(&self, tenant: TenantId, query: &ListQuery) -> Result<u64> {
        self.read().await;
        self.inner.count(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        self.write().await;
        self.inner.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.read().await;
        self.inner.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.write().await;
        self.inner.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read().await;
        self.inner.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.write().await;
        self.inner.set_meta(name, value, expected).await
    }
}

/// The test configuration: bcrypt at the minimum cost, to keep tests quick.
pub(crate) fn config() -> VaultConfig {
    {
        let mut c = VaultConfig::default();
        c.password_cost = 10;
        c
    }
}

/// The fixture's master key.
pub(crate) fn master() -> MasterKey {
    MasterKey::from_bytes(&[0x42; 32]).unwrap()
}

/// A vault on one backend, with a manual clock and a logged-in Admin.
#[allow(dead_code)] // not every test needs every part
pub(crate) struct Fx {
    pub(crate) vault: Vault,
    /// The store the Vault writes through: for reading what it wrote, for
    /// counting its calls, and for attacks that write the store directly.
    pub(crate) store: Arc<Probe>,
    pub(crate) clock: ManualClock,
    pub(crate) ring: Arc<KeyRing>,
    pub(crate) tenant: TenantId,
    pub(crate) admin: Caller,
    pub(crate) admin_id: UserId,
    pub(crate) backend: Backend,
    /// The SQLite file's directory (removed on drop).
    pub(crate) dir: Option<tempfile::TempDir>,
}

#[allow(dead_code)] // not every test needs every helper
impl Fx {
    pub(crate) async fn new(backend: Backend) -> Self {
        Self::with_config(backend, config()).await
    }

    pub(crate) async fn with_config(backend: Backend, config: VaultConfig) -> Self {
        let (store, dir) = backend.open().await;
        let store = Arc::new(Probe::new(store));
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

    /// The fixture clock's time.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
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

/// One async test body, run once per backend, each on a multi-threaded
/// runtime (SQLite work runs in `block_in_place`): with a fresh [`Fx`], or,
/// for a test that builds its own store, with the [`Backend`] to open.
///
/// ```ignore
/// vault_test!(async fn name(fx) { ... });
/// vault_test!(config = VaultConfig { .. }; async fn name(fx) { ... });
/// vault_test!(async fn name(backend: Backend) { ... });
/// ```
///
/// A test that needs what only one backend has (the SQLite file, say) is a
/// plain `#[tokio::test]` that says why.
macro_rules! vault_test {
    ($(#[$meta:meta])* async fn $name:ident($fx:ident) $body:block) => {
        $crate::fixture::vault_test!(
            $(#[$meta])*
            config = $crate::fixture::config();
            async fn $name($fx) $body
        );
    };
    ($(#[$meta:meta])* config = $config:expr; async fn $name:ident($fx:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(backend: $crate::fixture::Backend) {
                #[allow(unused_mut)]
                let mut $fx = $crate::fixture::Fx::with_config(backend, $config).await;
                $body
            }

            $crate::fixture::vault_test!(@backends run);
        }
    };
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($backend: $crate::fixture::Backend) $body

            $crate::fixture::vault_test!(@backends run);
        }
    };
    // Every backend, one test each: a new backend is one more here.
    (@backends $run:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn memory() {
            $run($crate::fixture::Backend::Memory).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sqlite() {
            $run($crate::fixture::Backend::Sqlite).await;
        }

        // Skipped (and says so) when no server is configured.
        #[cfg(feature = "postgres")]
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn postgres() {
            if $crate::fixture::scratch::urls().is_some() {
                $run($crate::fixture::Backend::Postgres).await;
            }
        }
    };
}
pub(crate) use vault_test;

/// Opens `row`'s sealed value as an independent implementation of
/// `docs/FORMATS.md` would, without the Vault: a version-1 envelope with
/// `ring`; a version-2 one ("Tenant keys") with the tenant key of its key
/// id, read from `keys` and opened with `ring`, then AES-256-GCM with the
/// associated data `0x02 || u32_be(key id) || context`. `None` if a key is
/// missing or anything does not open.
pub(crate) async fn open_value(
    keys: &Arc<dyn Store>,
    ring: &KeyRing,
    tenant: TenantId,
    row: &Row,
) -> Option<Vec<u8>> {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
    use secrets_core::crypto::Envelope;

    let sealed = row.sealed.as_deref()?;
    let context = Row::context(tenant, row.kind, &row.id);
    let env = Envelope::parse(sealed).ok()?;
    if env.version() == 1 {
        return ring
            .open(sealed, &context)
            .ok()
            .map(|v| v.expose_secret().to_vec());
    }
    let key_id = env.key_id().get().to_string();
    let key_row = keys.get(tenant, Kind::TenantKey, &key_id).await.ok()??;
    let key = ring
        .open(
            key_row.sealed.as_deref()?,
            &Row::context(tenant, Kind::TenantKey, &key_id),
        )
        .ok()?;
    let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).ok()?;
    let mut aad = vec![env.version()];
    aad.extend_from_slice(&env.key_id().get().to_be_bytes());
    aad.extend_from_slice(context.as_bytes());
    let nonce = Nonce::try_from(env.nonce().as_slice()).ok()?;
    let payload = Payload {
        msg: env.ciphertext_and_tag(),
        aad: &aad,
    };
    cipher.decrypt(&nonce, payload).ok()
}
