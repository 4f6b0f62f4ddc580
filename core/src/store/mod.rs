//! Tenant-scoped storage: the layer every Vault operation writes through.
//!
//! A backend implements the small, object-safe [`Store`] trait over [`Row`]s:
//! every read names its tenant, and every write is one [`Batch`] of
//! [`Change`]s applied together with its audit event, all or nothing.
//! Typed access ([`records`]) and whole-tenant operations (export, rewrap)
//! live in [`StoreExt`], implemented once for every backend.
//!
//! Backends: [`MemoryStore`] (always available) and
//! [`SqliteStore`] (feature `sqlite`, the
//! embedded default).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), secrets_core::Error> {
//! use std::sync::Arc;
//! use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
//! use secrets_core::crypto::{KeyRing, MasterKey};
//! use secrets_core::store::{Batch, Change, MemoryStore, Store, StoreExt, Tenant};
//! use secrets_core::{TenantId, Timestamp};
//!
//! let store = MemoryStore::new();
//! let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
//! let now = Timestamp::from_unix_seconds(1_700_000_000);
//! let tenant = Tenant::new(TenantId::DEFAULT, "acme", now)?;
//! store
//!     .apply(
//!         TenantId::DEFAULT,
//!         Batch::new(AuditDraft::new(Actor::System, "tenant.create", "tenant/acme", now))
//!             .with(Change::CreateTenant(tenant)),
//!         &chain,
//!     )
//!     .await?;
//! assert_eq!(store.tenant(TenantId::DEFAULT).await?.map(|t| t.name), Some("acme".into()));
//! # Ok(()) }
//! ```

mod batch;
#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
mod ext;
mod memory;
pub mod records;
mod row;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::audit::{AuditLinker, AuditRecord};
use crate::error::Result;
use crate::id::TenantId;

pub use batch::{AuditQuery, Batch, Change, ListQuery, MAX_BATCH, MAX_PAGE};
pub use ext::{RewrapProgress, StoreExt};
pub use memory::MemoryStore;
pub use records::{Record, Stored};
pub use row::{Kind, MAX_BODY_LEN, MAX_ID_LEN, MAX_LOOKUP_LEN, MAX_SEALED_LEN, Row, Tenant};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteStore};

/// A storage backend. Object safe: hosts hold an `Arc<dyn Store>`.
///
/// Every method names its tenant (except [`Store::find_by_lookup`], the
/// entry point of token authentication, which finds the tenant from a
/// globally unique secret hash). A backend must guarantee, and the
/// conformance suite checks, that:
///
/// - no method reads, lists, changes or deletes another tenant's rows, even
///   given their ids;
/// - [`Store::apply`] is atomic: every change and the audit event, or
///   nothing; if the audit event cannot be linked or written, nothing is;
/// - compare-and-swap updates fail with [`Error::Conflict`](crate::Error::Conflict)
///   when another writer got there first;
/// - lists come back in ascending id order, and pages do not skip or repeat.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// A tenant, if it exists.
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>>;

    /// Tenants in ascending id order, after `after`, at most `limit`
    /// (capped at [`MAX_PAGE`]). For maintenance across tenants.
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>>;

    /// One row by kind and id.
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>>;

    /// One row by its lookup key within a tenant (a user by login name).
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>>;

    /// The row, and its tenant, whose globally unique lookup key is `lookup`:
    /// how a presented token (hashed) finds its tenant. Only for kinds whose
    /// [`Kind::has_global_lookup`] is true.
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>>;

    /// A page of rows matching `query`, in ascending id order.
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>>;

    /// Applies `batch` atomically and returns the stored audit event.
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord>;

    /// A page of the tenant's audit log, in ascending `seq` order.
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>>;

    /// Deletes the tenant and everything it owns, its audit log included.
    /// Refused with [`Error::DeletionProtected`](crate::Error::DeletionProtected)
    /// while the tenant's deletion protection is on.
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()>;
}
