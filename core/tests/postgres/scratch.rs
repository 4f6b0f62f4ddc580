//! A scratch PostgreSQL store per test: its own schema, migrated as the
//! owner role and opened as the app role, dropped when the test ends.
//! Shared by the conformance suite (tests/store), the Vault suite
//! (tests/vault) and the row-level security tests (tests/postgres), each of
//! which includes this file with `#[path]`.
//!
//! The server comes from `SECRETS_CORE_POSTGRES_URL` (the app role) and
//! `SECRETS_CORE_POSTGRES_OWNER_URL` (the owner, for migrations), which
//! `scripts/test.sh` sets after `scripts/postgres-setup.sh`. Unset, a test
//! says it is skipped and passes, unless `SECRETS_CORE_INTEROP=required`,
//! when it fails: CI always configures a server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::store::{
    AuditQuery, Batch, Kind, ListQuery, PostgresOptions, PostgresStore, Row, StatementMode, Store,
    Tenant,
};
use secrets_core::{Result, TenantId};

/// The app role's and the owner's URLs, or `None` (after saying so) when no
/// server is configured. Panics when one is required and none is.
pub(crate) fn urls() -> Option<(String, String)> {
    let app = std::env::var("SECRETS_CORE_POSTGRES_URL").ok();
    let owner = std::env::var("SECRETS_CORE_POSTGRES_OWNER_URL").ok();
    match (app, owner) {
        (Some(app), Some(owner)) if !app.is_empty() && !owner.is_empty() => Some((app, owner)),
        _ => {
            if std::env::var("SECRETS_CORE_INTEROP").as_deref() == Ok("required") {
                panic!(
                    "SECRETS_CORE_INTEROP=required but SECRETS_CORE_POSTGRES_URL and \
                     SECRETS_CORE_POSTGRES_OWNER_URL are not both set: run the tests with \
                     scripts/test.sh, which sets up PostgreSQL (scripts/postgres-setup.sh)"
                );
            }
            eprintln!(
                "skipped: no PostgreSQL configured (set SECRETS_CORE_POSTGRES_URL and \
                 SECRETS_CORE_POSTGRES_OWNER_URL, or run scripts/test.sh)"
            );
            None
        }
    }
}

/// A fresh schema name.
pub(crate) fn fresh_schema() -> String {
    format!("sc_test_{}", uuid::Uuid::new_v4().simple())
}

/// Drops its schema (as the owner) when dropped.
#[derive(Debug)]
pub(crate) struct Scratch {
    pub(crate) schema: String,
    pub(crate) app_url: String,
    pub(crate) owner_url: String,
}

impl Scratch {
    /// Migrates a new schema as the owner.
    pub(crate) async fn new() -> Option<Self> {
        let (app_url, owner_url) = urls()?;
        let schema = fresh_schema();
        PostgresStore::migrate(&owner_url, &PostgresOptions::default().schema(&schema))
            .await
            .unwrap();
        Some(Self {
            schema,
            app_url,
            owner_url,
        })
    }

    /// The options that name this schema.
    pub(crate) fn options(&self) -> PostgresOptions {
        PostgresOptions::default().schema(&self.schema)
    }

    /// Opens the store on this schema as the app role.
    pub(crate) async fn open(&self, max_connections: usize) -> PostgresStore {
        PostgresStore::open(
            &self.app_url,
            self.options().max_connections(max_connections),
        )
        .await
        .unwrap()
    }

    /// [`open`](Self::open), with the pool's sessions named `name` in
    /// `pg_stat_activity` (`application_name`), so a test can tell them
    /// from the sessions of the tests running beside it.
    pub(crate) async fn open_named(&self, max_connections: usize, name: &str) -> PostgresStore {
        let separator = if self.app_url.contains('?') { '&' } else { '?' };
        PostgresStore::open(
            &format!("{}{separator}application_name={name}", self.app_url),
            self.options().max_connections(max_connections),
        )
        .await
        .unwrap()
    }
}

/// A raw driver connection at `url` (plaintext: the test server's URLs say
/// `sslmode=disable`, which the driver parses itself).
pub(crate) async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let url = self.owner_url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        // Its own thread and runtime: the test's runtime may be shutting
        // down, or this may run inside it.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    let driver = tokio::spawn(conn);
                    let _ = client.batch_execute(&sql).await;
                    drop(client);
                    let _ = driver.await;
                }
            });
        })
        .join();
    }
}

/// A PostgreSQL store that drops its schema with itself.
#[derive(Debug)]
pub(crate) struct ScratchStore {
    pub(crate) store: PostgresStore,
    pub(crate) scratch: Scratch,
}

impl ScratchStore {
    /// A store on a new schema, or `None` when no server is configured, in
    /// the statement mode `SECRETS_CORE_POSTGRES_STATEMENTS` names
    /// (`unprepared`; prepared otherwise): how the Vault suite is run in the
    /// other mode.
    pub(crate) async fn new(max_connections: usize) -> Option<Self> {
        let mode = match std::env::var("SECRETS_CORE_POSTGRES_STATEMENTS").as_deref() {
            Ok("unprepared") => StatementMode::Unprepared,
            _ => StatementMode::Prepared,
        };
        Self::with_mode(max_connections, mode).await
    }

    /// The same, in statement mode `mode`.
    pub(crate) async fn with_mode(max_connections: usize, mode: StatementMode) -> Option<Self> {
        let scratch = Scratch::new().await?;
        let options = scratch
            .options()
            .max_connections(max_connections)
            .statement_mode(mode);
        let store = PostgresStore::open(&scratch.app_url, options)
            .await
            .unwrap();
        Some(Self { store, scratch })
    }
}

#[async_trait::async_trait]
impl Store for ScratchStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.store.tenant(id).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.store.directory_tenants(after, limit).await
    }
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.store.tenants(after, limit).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.store.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.store.get_by_lookup(tenant, kind, lookup).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.store.directory_lookup(kind, lookup).await
    }
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        self.store.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.store.list(tenant, query).await
    }
    async fn count(&self, tenant: TenantId, query: &ListQuery) -> Result<u64> {
        self.store.count(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        self.store.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.store.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.store.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.store.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.store.set_meta(name, value, expected).await
    }
}
