//! Tenant-scoped storage: the layer every Vault operation writes through.
//!
//! A backend implements the small, object-safe [`Store`] trait over [`Row`]s:
//! every read names its tenant, and every write is one [`Batch`] of
//! [`Change`]s applied together with its audit event, all or nothing.
//! Typed access (the record types) and whole-tenant operations (export, rewrap)
//! live in [`StoreExt`], implemented once for every backend.
//!
//! What `apply` checks and writes (versions, the user cascade, lookup
//! keys, the directory, the audit link) is written once, backend-neutral;
//! a backend supplies only the reads and writes of one transaction. Two
//! operations cross tenants, named as such: the directory reads
//! ([`Store::directory_lookup`], [`Store::directory_tenants`]).
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

mod apply;
mod batch;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
mod ext;
mod health;
mod memory;
pub(crate) mod page;
mod passphrase;
// The stored record types are the library's own business (a `User` holds a
// password hash): hosts see the Vault's `*Info` types. Backend authors' and
// this crate's integration tests reach them through `conformance`.
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod records;
#[cfg(not(feature = "conformance"))]
pub(crate) mod records;
pub(crate) mod retry;
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
pub use health::HealthCheck;
pub use memory::MemoryStore;
pub use passphrase::{KDF_PARAMS_META, passphrase_params};
#[cfg(feature = "postgres")]
pub use postgres::{POSTGRES_SCHEMA_VERSION, PostgresOptions, PostgresStore, StatementMode};
pub use records::{Record, Stored};
pub use row::{Kind, MAX_BODY_LEN, MAX_ID_LEN, MAX_LOOKUP_LEN, MAX_SEALED_LEN, Row, Tenant};
#[cfg(feature = "sqlite")]
pub use sqlite::{SCHEMA_VERSION, SqliteOptions, SqliteStore};

/// A storage backend. Object safe: hosts hold an `Arc<dyn Store>`.
///
/// # Tenant operations
///
/// Every method names its tenant, except the two *directory operations*
/// below. A backend must guarantee, and the conformance suite checks, that:
///
/// - no method reads, lists, changes or deletes another tenant's rows, even
///   given their ids;
/// - [`Store::apply`] is atomic: every change and the audit event, or
///   nothing; if the audit event cannot be linked or written, nothing is;
/// - [`Store::apply`] is serialisable per tenant: the batches of one tenant
///   take effect one after the other, as if alone, so that the tenant's
///   audit events are numbered 1, 2, 3, ... without a gap or a repeat and
///   each links to the one before. (SQLite and memory serialise all
///   writes; PostgreSQL locks the tenant's row first.) A backend writes
///   through the shared rules (`store/apply.rs`), which depend on it;
/// - compare-and-swap updates fail with [`Error::Conflict`](crate::Error::Conflict)
///   when another writer got there first;
/// - lists come back in ascending id order, and pages do not skip or repeat.
///
/// # Directory operations (privileged)
///
/// [`Store::directory_lookup`] and [`Store::directory_tenants`] are the only
/// reads that cross tenants: token authentication starts from a presented
/// secret whose tenant is not known yet, and maintenance walks every tenant.
/// They read a *directory*, not the tenants' rows: `(kind, lookup hash) ->
/// tenant` for the kinds whose lookup key is the hash of a random secret
/// ([`Kind::has_global_lookup`]), and the list of tenant ids. The directory
/// entry of a row is written, moved and removed in the same transaction as
/// the row itself, so it never names a tenant that does not hold the row
/// (at most it outlives the row by that transaction). A backend under
/// row-level security (PostgreSQL with `FORCE ROW LEVEL SECURITY`) keeps
/// the directory in tables readable by every session and writable only in
/// the entry's own tenant, and then reads the row itself inside that
/// tenant: no role that bypasses row-level security is needed. The reads
/// that start from a directory entry ([`Store::find_by_lookup`],
/// [`Store::find_credential`]) cross tenants the same way. Only the
/// Vault's authentication and maintenance paths call them; a host should
/// not hand them to tenant-scoped code.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// A tenant, if it exists.
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>>;

    /// Privileged directory read: tenant ids in ascending order, after
    /// `after`, at most `limit` (capped at [`MAX_PAGE`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{Batch, Change, MemoryStore, Store, Tenant};
    /// use secrets_core::{TenantId, Timestamp};
    ///
    /// let store = MemoryStore::new();
    /// let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let mut ids = vec![TenantId::generate(), TenantId::generate()];
    /// for id in &ids {
    ///     let create = Batch::new(AuditDraft::new(Actor::System, "tenant.create", "tenant", now))
    ///         .with(Change::CreateTenant(Tenant::new(*id, "acme", now)?));
    ///     store.apply(*id, create, &chain).await?;
    /// }
    /// ids.sort();
    /// assert_eq!(store.directory_tenants(None, 10).await?, ids);
    /// assert_eq!(store.directory_tenants(Some(ids[0]), 10).await?, &ids[1..]);
    /// # Ok(()) }
    /// ```
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>>;

    /// Tenants in ascending id order, after `after`, at most `limit`
    /// (capped at [`MAX_PAGE`]): the tenant directory, each tenant's record
    /// then read within the tenant. For maintenance across tenants. A
    /// backend may answer it in one read; the result must be the same.
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        let mut out = Vec::new();
        for id in self.directory_tenants(after, limit).await? {
            // A tenant erased since the directory read is simply skipped.
            if let Some(t) = self.tenant(id).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// One row by kind and id.
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>>;

    /// One row by its lookup key within a tenant (a user by login name).
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>>;

    /// Privileged directory read: the tenant whose row of `kind` holds the
    /// globally unique lookup key `lookup` (a token's hash), if any. Only for
    /// kinds whose [`Kind::has_global_lookup`] is true.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{Batch, Change, Kind, MemoryStore, Row, Store, Tenant};
    /// use secrets_core::{TenantId, Timestamp};
    ///
    /// let store = MemoryStore::new();
    /// let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let tenant = TenantId::generate();
    /// let mut token = Row::new(Kind::ApiToken, "tok-1", b"{}".to_vec());
    /// token.lookup = Some(vec![0xab; 32]); // the token's SHA-256
    /// let batch = Batch::new(AuditDraft::new(Actor::System, "setup", "tenant", now))
    ///     .with(Change::CreateTenant(Tenant::new(tenant, "acme", now)?))
    ///     .with(Change::Insert(token));
    /// store.apply(tenant, batch, &chain).await?;
    ///
    /// assert_eq!(store.directory_lookup(Kind::ApiToken, &[0xab; 32]).await?, Some(tenant));
    /// assert_eq!(store.directory_lookup(Kind::ApiToken, &[0xcd; 32]).await?, None);
    /// // Logins are unique per tenant only: no directory for them.
    /// assert!(store.directory_lookup(Kind::User, b"ada").await.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a kind whose
    /// lookup keys are per tenant; the store's errors.
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>>;

    /// The row, and its tenant, whose globally unique lookup key is `lookup`:
    /// how a presented token (hashed) finds its tenant. The directory names
    /// the tenant ([`Store::directory_lookup`]), and the row is then read
    /// within it ([`Store::get_by_lookup`]). A backend may answer it in one
    /// read; the result must be the same.
    ///
    /// # Errors
    ///
    /// As [`Store::directory_lookup`].
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        let Some(tenant) = self.directory_lookup(kind, lookup).await? else {
            return Ok(None);
        };
        Ok(self
            .get_by_lookup(tenant, kind, lookup)
            .await?
            .map(|row| (tenant, row)))
    }

    /// What authenticating a presented credential reads, found by its
    /// globally unique lookup key `lookup` (a token's hash): the row and its
    /// tenant as [`Store::find_by_lookup`] finds them, the user row of the
    /// row's [`owner`](Row::owner) in that tenant (if it names one and the
    /// user exists), and, with `with_tenant`, the tenant's record.
    ///
    /// The default reads them one after the other with
    /// [`Store::find_by_lookup`], [`Store::get`] and [`Store::tenant`]; a
    /// backend may answer in one read (PostgreSQL does, in one round trip),
    /// and the result must be the same. Only the reads are fused: the
    /// caller checks what they say (revocation, expiry, the owner's state).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{Batch, Change, Kind, MemoryStore, Row, Store, Tenant};
    /// use secrets_core::{TenantId, Timestamp, UserId};
    ///
    /// let store = MemoryStore::new();
    /// let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let (tenant, ada) = (TenantId::generate(), UserId::generate());
    /// let mut token = Row::new(Kind::ApiToken, "tok-1", b"{}".to_vec());
    /// token.lookup = Some(vec![0xab; 32]); // the token's SHA-256
    /// token.owner = Some(ada);
    /// let batch = Batch::new(AuditDraft::new(Actor::System, "setup", "tenant", now))
    ///     .with(Change::CreateTenant(Tenant::new(tenant, "acme", now)?))
    ///     .with(Change::Insert(Row::new(Kind::User, ada.to_string(), b"{}".to_vec())))
    ///     .with(Change::Insert(token));
    /// store.apply(tenant, batch, &chain).await?;
    ///
    /// let found = store.find_credential(Kind::ApiToken, &[0xab; 32], true).await?.unwrap();
    /// assert_eq!(found.tenant, tenant);
    /// assert_eq!(found.row.id, "tok-1");
    /// assert_eq!(found.owner.map(|u| u.id), Some(ada.to_string()));
    /// assert_eq!(found.tenant_record.map(|t| t.name), Some("acme".into()));
    /// assert!(store.find_credential(Kind::ApiToken, &[0xcd; 32], true).await?.is_none());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::directory_lookup`].
    async fn find_credential(
        &self,
        kind: Kind,
        lookup: &[u8],
        with_tenant: bool,
    ) -> Result<Option<Credential>> {
        let Some((tenant, row)) = self.find_by_lookup(kind, lookup).await? else {
            return Ok(None);
        };
        let owner = match row.owner {
            Some(owner) => self.get(tenant, Kind::User, &owner.to_string()).await?,
            None => None,
        };
        let tenant_record = if with_tenant {
            self.tenant(tenant).await?
        } else {
            None
        };
        Ok(Some(Credential::new(tenant, row, owner, tenant_record)))
    }

    /// A page of rows matching `query`, in ascending id order.
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>>;

    /// How many rows match `query`'s filters (after its cursor, if it has
    /// one; its limit does not apply): what [`Store::list`] would return
    /// page after page. A read like any other, not a snapshot of the pages
    /// read later. The default reads the pages; SQLite and PostgreSQL count
    /// in the database.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use std::sync::Arc;
    /// use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
    /// use secrets_core::crypto::{KeyRing, MasterKey};
    /// use secrets_core::store::{Batch, Change, Kind, ListQuery, MemoryStore, Row, Store, Tenant};
    /// use secrets_core::{TenantId, Timestamp};
    ///
    /// let store = MemoryStore::new();
    /// let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
    /// let now = Timestamp::from_unix_seconds(1_700_000_000);
    /// let tenant = TenantId::generate();
    /// let mut batch = Batch::new(AuditDraft::new(Actor::System, "setup", "tenant", now))
    ///     .with(Change::CreateTenant(Tenant::new(tenant, "acme", now)?));
    /// for id in ["a", "b", "c"] {
    ///     batch = batch.with(Change::Insert(Row::new(Kind::AppSecret, id, b"{}".to_vec())));
    /// }
    /// store.apply(tenant, batch, &chain).await?;
    ///
    /// assert_eq!(store.count(tenant, &ListQuery::new(Kind::AppSecret).limit(1)).await?, 3);
    /// assert_eq!(store.count(tenant, &ListQuery::new(Kind::AppSecret).after("a")).await?, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Store::list`].
    async fn count(&self, tenant: TenantId, query: &ListQuery) -> Result<u64> {
        let mut pages = page::Pages::rows(self, tenant, query.clone().limit(MAX_PAGE));
        let mut n = 0u64;
        while let Some(page) = pages.next().await? {
            n = n.saturating_add(page.len() as u64);
        }
        Ok(n)
    }

    /// Applies `batch` atomically and returns the stored audit event:
    /// serialisable with every other batch of the tenant (see the trait
    /// docs), so the event's `seq` follows the tenant's last one by exactly
    /// one and its `prev_hash` is that event's hash.
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

    /// A store-wide setting, outside every tenant (the master key's check
    /// value, the row-tagging marker), if set.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a name that
    /// [`check_meta`] refuses; the store's errors.
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Compare-and-set of a store-wide setting: writes `value` if the current
    /// value is `expected` (`None`: not set) and returns `true`; returns
    /// `false`, writing nothing, if it is anything else. Atomic with respect
    /// to every other writer of the store.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) or
    /// [`Error::TooLarge`](crate::Error::TooLarge) for a name or value that
    /// [`check_meta`] refuses; the store's errors.
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool>;
}

/// A credential's row and what authenticating it reads beside it: the
/// answer of [`Store::find_credential`].
///
/// ```
/// # fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::store::{Credential, Kind, Row};
/// use secrets_core::TenantId;
///
/// let found = Credential::new(TenantId::DEFAULT, Row::new(Kind::ApiToken, "tok-1", b"{}".to_vec()), None, None);
/// assert_eq!(found.row.id, "tok-1");
/// assert!(found.owner.is_none());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credential {
    /// The tenant the directory names, in which the rows below were read.
    pub tenant: TenantId,
    /// The credential's row.
    pub row: Row,
    /// The user row of the credential's owner ([`Row::owner`]), if the row
    /// names one and that user exists in the tenant.
    pub owner: Option<Row>,
    /// The tenant's record, when asked for (and while the tenant exists).
    pub tenant_record: Option<Tenant>,
}

impl Credential {
    /// The answer of [`Store::find_credential`], for a backend that
    /// implements it itself.
    ///
    /// ```
    /// use secrets_core::store::{Credential, Kind, Row};
    /// use secrets_core::TenantId;
    ///
    /// let row = Row::new(Kind::AgentSession, "s-1", b"{}".to_vec());
    /// assert_eq!(Credential::new(TenantId::DEFAULT, row, None, None).tenant, TenantId::DEFAULT);
    /// ```
    #[must_use]
    pub fn new(
        tenant: TenantId,
        row: Row,
        owner: Option<Row>,
        tenant_record: Option<Tenant>,
    ) -> Self {
        Self {
            tenant,
            row,
            owner,
            tenant_record,
        }
    }
}

/// Longest store-wide setting name, in bytes.
pub const MAX_META_NAME_LEN: usize = 64;
/// Largest store-wide setting value, in bytes.
pub const MAX_META_VALUE_LEN: usize = 4096;

/// Checks a store-wide setting's name (1 to [`MAX_META_NAME_LEN`] bytes of
/// `a-z`, `0-9`, `_`, `-`, `.`) and value (at most [`MAX_META_VALUE_LEN`]
/// bytes); every backend calls it first.
///
/// ```
/// use secrets_core::store::check_meta;
///
/// assert!(check_meta("key_check", &[0; 32]).is_ok());
/// assert!(check_meta("Key Check", b"").is_err());
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for a bad name,
/// [`Error::TooLarge`](crate::Error::TooLarge) for a value over the limit.
pub fn check_meta(name: &str, value: &[u8]) -> Result<()> {
    use crate::error::Error;
    if name.is_empty() || name.len() > MAX_META_NAME_LEN {
        return Err(Error::invalid(
            "meta name",
            format!("must be 1 to {MAX_META_NAME_LEN} bytes"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(Error::invalid(
            "meta name",
            "may hold only `a-z`, `0-9`, `_`, `-` and `.`",
        ));
    }
    if value.len() > MAX_META_VALUE_LEN {
        return Err(Error::TooLarge {
            what: "meta value",
            len: value.len(),
            max: MAX_META_VALUE_LEN,
        });
    }
    Ok(())
}
