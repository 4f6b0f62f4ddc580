//! Every storage backend runs the same conformance suite: one test per case
//! and backend (`memory::every_kind_round_trips`, `sqlite::...`).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::any::Any;
use std::sync::Arc;

use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::store::conformance::{self, Fresh, Runtime};
use secrets_core::store::{AuditQuery, Batch, Kind, ListQuery, MemoryStore, Row, Store, Tenant};
use secrets_core::{Result, TenantId};

async fn memory_store() -> Fresh {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    (store, Box::new(()) as Box<dyn Any + Send>)
}

secrets_core::conformance_tests!(memory, memory_store);

/// A SQLite file in a temporary directory, removed when the case ends.
#[cfg(feature = "sqlite")]
async fn sqlite_store() -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let store = secrets_core::store::SqliteStore::open(dir.path().join("conformance.db"))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    (store, Box::new(dir) as Box<dyn Any + Send>)
}

#[cfg(feature = "sqlite")]
secrets_core::conformance_tests!(sqlite, sqlite_store);

// On a current-thread runtime the SQLite store takes its other path (the
// blocking pool instead of `block_in_place`): it must conform there too.
#[cfg(feature = "sqlite")]
secrets_core::conformance_tests!(sqlite_current_thread, CurrentThread, sqlite_store);

#[cfg(feature = "postgres")]
#[path = "../postgres/scratch.rs"]
mod scratch;

/// A scratch schema on the configured PostgreSQL server (migrated as the
/// owner, opened as the app role, dropped when the case ends), or `None`
/// (the case says it is skipped) when no server is configured.
#[cfg(feature = "postgres")]
async fn postgres_store() -> Option<Fresh> {
    let store = scratch::ScratchStore::new(8).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    Some((store, Box::new(()) as Box<dyn Any + Send>))
}

#[cfg(feature = "postgres")]
secrets_core::conformance_tests!(postgres, postgres_store);

/// The same, with unprepared statements (what works behind PgBouncer in
/// transaction mode before 1.21).
#[cfg(feature = "postgres")]
async fn postgres_unprepared_store() -> Option<Fresh> {
    let mode = secrets_core::store::StatementMode::Unprepared;
    let store = scratch::ScratchStore::with_mode(8, mode).await?;
    let store: Arc<dyn Store> = Arc::new(store);
    Some((store, Box::new(()) as Box<dyn Any + Send>))
}

#[cfg(feature = "postgres")]
secrets_core::conformance_tests!(postgres_unprepared, postgres_unprepared_store);

/// A case runs on a configured backend, and is skipped, never reaching its
/// body, on a backend that is not configured here.
#[test]
fn only_an_unconfigured_backend_skips_a_case() {
    let mut ran = false;
    conformance::run(
        "rows::every_kind_round_trips",
        Runtime::CurrentThread,
        memory_store,
        |_| {
            ran = true;
            async {}
        },
    );
    assert!(ran, "a case on a configured backend did not run");

    let mut ran = false;
    conformance::run(
        "rows::every_kind_round_trips",
        Runtime::CurrentThread,
        || async { None::<Fresh> },
        |_| {
            ran = true;
            async {}
        },
    );
    assert!(!ran, "a skipped case ran");
}

/// A backend that implements only the required methods: the provided
/// `find_by_lookup` and `tenants` (the directory, then a read within the
/// tenant: what a backend under row-level security does) must conform too.
#[derive(Debug, Default)]
struct RequiredOnly(MemoryStore);

#[async_trait::async_trait]
impl Store for RequiredOnly {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.0.tenant(id).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.0.directory_tenants(after, limit).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.0.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.0.get_by_lookup(tenant, kind, lookup).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.0.directory_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.0.list(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        self.0.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.0.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.0.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.0.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.0.set_meta(name, value, expected).await
    }
}

async fn required_only_store() -> Fresh {
    let store: Arc<dyn Store> = Arc::new(RequiredOnly::default());
    (store, Box::new(()) as Box<dyn Any + Send>)
}

secrets_core::conformance_tests!(required_only, required_only_store);
