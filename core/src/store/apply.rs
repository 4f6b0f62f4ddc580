//! The apply rules, written once: what [`Store::apply`](crate::store::Store::apply)
//! and [`Store::erase_tenant`](crate::store::Store::erase_tenant) check and
//! write, in what order, and which error each situation gives. A backend
//! implements only [`Tx`], the handful of reads and writes of one open
//! transaction, and runs [`apply`] (or [`erase`]) inside it; it never
//! re-states a rule.
//!
//! # One transaction, many backends
//!
//! [`Tx`] is an async trait whose methods return `impl Future + Send`, and
//! the rules are generic async functions over it. That is what the three
//! backends need:
//!
//! - PostgreSQL (next) is async all the way down (tokio-postgres): its
//!   transaction awaits the server on every call, so the rules must be able
//!   to await. A synchronous trait would force it to block a runtime thread
//!   or to re-state the rules as an async copy, which is what this module
//!   exists to prevent.
//! - SQLite and memory are synchronous: their calls are answered at once,
//!   under the writer lock, on the thread that holds it. Their `Tx` methods
//!   return futures that are already complete, and [`run_now`] drives the
//!   rules to the end with a single poll: no executor, no thread hop, no
//!   allocation per call, and no `Send` requirement on a `rusqlite`
//!   connection (the futures are never moved to another thread).
//!
//! Generic functions rather than `async_trait` objects: the rules are
//! monomorphised per backend, so a synchronous backend pays nothing for the
//! async shape (no boxed future per read), and the trait stays private to
//! the crate, where every backend lives.
//!
//! # The contract a backend keeps
//!
//! - Everything a [`Tx`] does between its creation and its commit is one
//!   transaction: all of it is made durable together, or none of it.
//! - Transactions of one tenant are serialisable: the rules read the
//!   tenant first ([`Tx::tenant`]), and a backend that runs transactions
//!   concurrently takes the tenant's lock there (PostgreSQL: `SELECT ...
//!   FOR UPDATE` on the tenant row), so that the audit head read later and
//!   the versions compared are not changed by anyone else before commit.
//!   The audit chain's gapless sequence numbers depend on it. SQLite and
//!   memory serialise every write behind one lock.
//! - The directory (`directory_*`) is written in the same transaction as
//!   the row it indexes: it is the only cross-tenant state besides the
//!   tenant list, and a backend under row-level security keeps it in a
//!   table readable by all and writable per tenant.

use std::collections::HashSet;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::{Batch, Change, Kind, Row, Tenant};

/// What the rules need to know of a stored row before they change it: its
/// version (compare-and-swap) and its lookup key (the directory entry to
/// move or remove with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Head {
    /// The stored version.
    pub(crate) version: u64,
    /// The stored lookup key.
    pub(crate) lookup: Option<Vec<u8>>,
}

/// A row owned by a user, as the user cascade lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owned {
    /// Its kind.
    pub(crate) kind: Kind,
    /// Its id.
    pub(crate) id: String,
    /// Its version and lookup key.
    pub(crate) head: Head,
}

/// One open transaction of a backend: the only thing a backend writes for
/// [`apply`] and [`erase`]. Every method names its tenant except the
/// directory reads; none checks a rule (the rules call them in the right
/// order, after the right checks).
///
/// Methods that write are called only after the rules established that the
/// write is valid; a backend may still enforce a constraint itself (a
/// unique index, a version in a `WHERE`) and fail, which aborts the batch.
pub(crate) trait Tx {
    /// The tenant's record, if it exists. Called first in every batch: a
    /// backend that runs transactions concurrently locks the tenant here
    /// (see the module docs).
    fn tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<Option<Tenant>>> + Send;

    /// Inserts the tenant record (its `version` is set) and, where the
    /// backend keeps one apart, its tenant-directory entry.
    fn insert_tenant(&mut self, tenant: &Tenant) -> impl Future<Output = Result<()>> + Send;

    /// Replaces the tenant record; its `version` is the new one.
    fn update_tenant(&mut self, tenant: &Tenant) -> impl Future<Output = Result<()>> + Send;

    /// The version and lookup key of a row, if it exists (read by key).
    fn row_head(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
    ) -> impl Future<Output = Result<Option<Head>>> + Send;

    /// The id of the row of `kind` in `tenant` holding `lookup`, if any
    /// (read by lookup).
    fn row_by_lookup(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    /// Inserts `row` (its `version` is set).
    fn insert_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Replaces the row of `row`'s kind and id if its stored version is
    /// `expected` (its `version` field holds the new one). `false` if no row
    /// was at that version.
    fn update_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Deletes a row if its stored version is `expected`. `false` if no row
    /// was at that version.
    fn delete_row(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Every row owned by the user whose row id is `owner` (the cascade
    /// listing).
    fn owned_rows(
        &mut self,
        tenant: TenantId,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Owned>>> + Send;

    /// The tenant holding the directory entry `(kind, lookup)`, if any
    /// (read inside the transaction, for the uniqueness check).
    fn directory_tenant(
        &mut self,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<TenantId>>> + Send;

    /// Adds the directory entry `(kind, lookup) -> tenant`.
    fn directory_insert(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send;

    /// Removes the directory entry `(kind, lookup)` of `tenant`.
    fn directory_remove(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send;

    /// The tenant's last audit event: its sequence number and hash.
    fn audit_head(
        &mut self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<(u64, [u8; 32])>>> + Send;

    /// Appends a linked audit record.
    fn append_audit(&mut self, record: &AuditRecord) -> impl Future<Output = Result<()>> + Send;

    /// Deletes the tenant and everything it owns: rows, audit log, its
    /// directory entries and the tenant record.
    fn erase_tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<()>> + Send;
}

/// A batch that passed [`Batch::validate`] for its tenant: the only input
/// [`apply`] takes, so no backend can skip the checks. Built before a
/// backend takes its writer lock (validation parses every sealed value).
/// A copy is as checked as the original (SQLite's group commit keeps one,
/// to run a batch again).
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    tenant: TenantId,
    batch: Batch,
}

impl Checked {
    /// Validates `batch` for `tenant`.
    ///
    /// # Errors
    ///
    /// What [`Batch::validate`] finds.
    pub(crate) fn new(tenant: TenantId, batch: Batch) -> Result<Self> {
        batch.validate(tenant)?;
        Ok(Self { tenant, batch })
    }

    /// The rows whose heads [`apply`] may read by key ([`Tx::row_head`]):
    /// each change's row and the owner of each row inserted or updated,
    /// without repeats. A backend that pays a round trip per read may fetch
    /// them all at once, after the tenant's lock (PostgreSQL does); it must
    /// still answer every `row_head` call as of the moment of the call,
    /// after this transaction's own writes, listed or not.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn row_keys(&self) -> Vec<(Kind, String)> {
        let mut keys: Vec<(Kind, String)> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |kind: Kind, id: String| {
            if seen.insert((kind, id.clone())) {
                keys.push((kind, id));
            }
        };
        for change in &self.batch.changes {
            match change {
                Change::CreateTenant(_) | Change::UpdateTenant { .. } => {}
                Change::Insert(row) | Change::Update { row, .. } => {
                    add(row.kind, row.id.clone());
                    if let Some(owner) = row.owner {
                        add(Kind::User, owner.to_string());
                    }
                }
                Change::Delete { kind, id, .. } => add(*kind, id.clone()),
            }
        }
        keys
    }
}

/// Applies a checked batch inside `tx` and returns its linked audit record.
/// On error the caller rolls the transaction back: the rules stop at the
/// first failing change and write nothing after it, but what they wrote
/// before it is only undone by the rollback.
///
/// # Errors
///
/// In the order checked, per change:
///
/// - `CreateTenant`: [`Error::AlreadyExists`] if the tenant exists;
/// - `UpdateTenant`: [`Error::NotFound`] (tenant), [`Error::Conflict`];
/// - `Insert`: [`Error::NotFound`] (tenant, then owner),
///   [`Error::AlreadyExists`] (lookup key, then id);
/// - `Update`: [`Error::NotFound`] (tenant, then row), [`Error::Conflict`],
///   [`Error::NotFound`] (owner), [`Error::AlreadyExists`] (lookup key).
///   (Of a kind whose lookup key is not global, the row is written at the
///   expected version without being read first, and read only when the
///   write or a check failed, to report the same error.)
/// - `Delete`: [`Error::NotFound`] (tenant, then row), [`Error::Conflict`];
///
/// then [`Error::NotFound`] for a batch whose tenant does not exist, the
/// linker's error, and the backend's errors.
pub(crate) async fn apply<T: Tx + ?Sized>(
    tx: &mut T,
    batch: Checked,
    linker: &dyn AuditLinker,
) -> Result<AuditRecord> {
    let Checked {
        tenant,
        batch: Batch { changes, audit },
    } = batch;
    // The tenant's version as this batch leaves it (None: no tenant).
    let mut current = tx.tenant(tenant).await?.map(|t| t.version);
    for change in changes {
        match change {
            Change::CreateTenant(mut t) => {
                if current.is_some() {
                    return Err(Error::AlreadyExists {
                        what: "tenant".into(),
                        id: tenant.to_string(),
                    });
                }
                t.version = 1;
                tx.insert_tenant(&t).await?;
                current = Some(1);
            }
            Change::UpdateTenant {
                tenant: mut t,
                expected_version,
            } => {
                let found = require(current, tenant)?;
                t.version = next_version("tenant", &tenant, expected_version, found)?;
                tx.update_tenant(&t).await?;
                current = Some(t.version);
            }
            Change::Insert(mut row) => {
                require(current, tenant)?;
                check_row(tx, tenant, &row).await?;
                if tx.row_head(tenant, row.kind, &row.id).await?.is_some() {
                    return Err(Error::AlreadyExists {
                        what: row.kind.to_string(),
                        id: row.id,
                    });
                }
                row.version = 1;
                tx.insert_row(tenant, &row).await?;
                if let Some(lookup) = directory_key(&row) {
                    tx.directory_insert(tenant, row.kind, lookup).await?;
                }
            }
            Change::Update {
                mut row,
                expected_version,
            } => {
                require(current, tenant)?;
                if !row.kind.has_global_lookup() {
                    // Written at the expected version, compare-and-swap; the
                    // head is read only when something failed, and a stale
                    // version is reported first, as when it was read first
                    // (a caller that lost a race retries on a conflict, not
                    // on the owner or lookup key its stale copy names).
                    let (kind, expected) = (row.kind, expected_version);
                    let Some(version) = expected.checked_add(1) else {
                        let why = stale(tx, tenant, kind, &row.id, expected).await?;
                        return Err(why.unwrap_or_else(|| moved_under_us(kind, &row.id)));
                    };
                    row.version = version;
                    if let Err(e) = check_row(tx, tenant, &row).await {
                        return Err(stale(tx, tenant, kind, &row.id, expected)
                            .await?
                            .unwrap_or(e));
                    }
                    if !tx.update_row(tenant, &row, expected).await? {
                        let why = stale(tx, tenant, kind, &row.id, expected).await?;
                        return Err(why.unwrap_or_else(|| moved_under_us(kind, &row.id)));
                    }
                    continue;
                }
                // The directory follows the lookup key: the stored one is
                // read first.
                let head = tx
                    .row_head(tenant, row.kind, &row.id)
                    .await?
                    .ok_or_else(|| Error::not_found(row.kind.as_str(), &row.id))?;
                row.version =
                    next_version(row.kind.as_str(), &row.id, expected_version, head.version)?;
                check_row(tx, tenant, &row).await?;
                if !tx.update_row(tenant, &row, head.version).await? {
                    return Err(moved_under_us(row.kind, &row.id));
                }
                if head.lookup != row.lookup {
                    if let Some(old) = &head.lookup {
                        tx.directory_remove(tenant, row.kind, old).await?;
                    }
                    if let Some(new) = &row.lookup {
                        tx.directory_insert(tenant, row.kind, new).await?;
                    }
                }
            }
            Change::Delete {
                kind,
                id,
                expected_version,
            } => {
                require(current, tenant)?;
                let head = tx
                    .row_head(tenant, kind, &id)
                    .await?
                    .ok_or_else(|| Error::not_found(kind.as_str(), &id))?;
                if let Some(expected) = expected_version
                    && head.version != expected
                {
                    return Err(Error::conflict(kind.as_str(), &id, expected, head.version));
                }
                if kind == Kind::User {
                    for owned in tx.owned_rows(tenant, &id).await? {
                        delete(tx, tenant, owned.kind, &owned.id, &owned.head).await?;
                    }
                }
                delete(tx, tenant, kind, &id, &head).await?;
            }
        }
    }
    require(current, tenant)?;
    let (seq, prev_hash) = match tx.audit_head(tenant).await? {
        None => (1, [0; 32]),
        Some((seq, hash)) => (
            seq.checked_add(1)
                .ok_or_else(|| Error::storage("the audit log's sequence number is exhausted"))?,
            hash,
        ),
    };
    let mut record = AuditRecord {
        tenant,
        seq,
        event: audit,
        prev_hash,
        hash: [0; 32],
    };
    record.hash = linker.link(&record)?;
    tx.append_audit(&record).await?;
    Ok(record)
}

/// Erases a tenant inside `tx`, unless its deletion protection is on.
///
/// # Errors
///
/// [`Error::NotFound`] for an unknown tenant,
/// [`Error::DeletionProtected`], and the backend's errors.
pub(crate) async fn erase<T: Tx + ?Sized>(tx: &mut T, tenant: TenantId) -> Result<()> {
    let t = tx
        .tenant(tenant)
        .await?
        .ok_or_else(|| Error::not_found("tenant", tenant))?;
    if t.deletion_protection {
        return Err(Error::DeletionProtected {
            tenant: tenant.to_string(),
        });
    }
    tx.erase_tenant(tenant).await
}

/// Refuses a directory read for a kind whose lookup keys are per tenant:
/// only hashes of random secrets are unique across tenants.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the kind.
pub(crate) fn check_directory_kind(kind: Kind) -> Result<()> {
    if kind.has_global_lookup() {
        Ok(())
    } else {
        Err(Error::invalid(
            "kind",
            format!("`{kind}` has no global lookup key; look it up within its tenant"),
        ))
    }
}

/// Runs a synchronous backend's transaction future to its end, in one poll.
///
/// The futures of the SQLite and memory [`Tx`] are complete when created,
/// so the rules never wait and the first poll finishes them. Should one
/// ever wait (a bug), the batch fails cleanly instead of blocking the
/// writer: the caller rolls back.
///
/// # Errors
///
/// The future's own error, or [`Error::Storage`] if it did not finish.
pub(crate) fn run_now<T>(fut: impl Future<Output = Result<T>>) -> Result<T> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(Error::Internal {
            what: "a synchronous store's transaction waited; it was rolled back",
        }),
    }
}

/// The batch's tenant's version, or [`Error::NotFound`].
fn require(current: Option<u64>, tenant: TenantId) -> Result<u64> {
    current.ok_or_else(|| Error::not_found("tenant", tenant))
}

/// The version a compare-and-swap writes: `found + 1` if `found` is the
/// `expected` version, [`Error::Conflict`] otherwise (also at `u64::MAX`,
/// where no version follows).
fn next_version(what: &str, id: &impl ToString, expected: u64, found: u64) -> Result<u64> {
    if found != expected {
        return Err(Error::conflict(what, id.to_string(), expected, found));
    }
    found
        .checked_add(1)
        .ok_or_else(|| Error::conflict(what, id.to_string(), expected, found))
}

/// The row's directory key, for kinds whose lookup is global.
fn directory_key(row: &Row) -> Option<&[u8]> {
    row.lookup
        .as_deref()
        .filter(|_| row.kind.has_global_lookup())
}

/// The owner (if any) is a user of the tenant, and the lookup key (if any)
/// is not held by another row: for global kinds by another tenant (the
/// directory) or another row of this one.
async fn check_row<T: Tx + ?Sized>(tx: &mut T, tenant: TenantId, row: &Row) -> Result<()> {
    if let Some(owner) = row.owner
        && tx
            .row_head(tenant, Kind::User, &owner.to_string())
            .await?
            .is_none()
    {
        return Err(Error::not_found("user", owner));
    }
    let Some(lookup) = &row.lookup else {
        return Ok(());
    };
    let elsewhere = row.kind.has_global_lookup()
        && tx
            .directory_tenant(row.kind, lookup)
            .await?
            .is_some_and(|holder| holder != tenant);
    let taken = elsewhere
        || tx
            .row_by_lookup(tenant, row.kind, lookup)
            .await?
            .is_some_and(|holder| holder != row.id);
    if taken {
        return Err(Error::AlreadyExists {
            what: format!("{} lookup key", row.kind),
            id: row.id.clone(),
        });
    }
    Ok(())
}

/// Deletes one row at its read version, and its directory entry.
async fn delete<T: Tx + ?Sized>(
    tx: &mut T,
    tenant: TenantId,
    kind: Kind,
    id: &str,
    head: &Head,
) -> Result<()> {
    if !tx.delete_row(tenant, kind, id, head.version).await? {
        return Err(moved_under_us(kind, id));
    }
    if kind.has_global_lookup()
        && let Some(lookup) = &head.lookup
    {
        tx.directory_remove(tenant, kind, lookup).await?;
    }
    Ok(())
}

/// Why an update at `expected` could not be made, if the row says so: it
/// is missing ([`Error::NotFound`]) or at another version, or at the last
/// one there is ([`Error::Conflict`]). `None` if it is there at `expected`.
async fn stale<T: Tx + ?Sized>(
    tx: &mut T,
    tenant: TenantId,
    kind: Kind,
    id: &str,
    expected: u64,
) -> Result<Option<Error>> {
    Ok(match tx.row_head(tenant, kind, id).await? {
        None => Some(Error::not_found(kind.as_str(), id)),
        Some(head) => next_version(kind.as_str(), &id, expected, head.version).err(),
    })
}

/// A row changed between the transaction's read and its write: only a
/// backend that breaks the serialisability contract gets here.
fn moved_under_us(kind: Kind, id: &str) -> Error {
    Error::storage(format!(
        "{kind} `{id}` changed inside its own transaction; the batch was rolled back"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn run_now_finishes_ready_futures_and_refuses_waiting_ones() {
        assert_eq!(run_now(async { Ok(7) }).unwrap(), 7);
        let waits = async {
            std::future::pending::<()>().await;
            Ok(())
        };
        assert!(matches!(run_now(waits), Err(Error::Internal { .. })));
    }

    #[test]
    fn versions_step_by_one_and_never_wrap() {
        assert_eq!(next_version("row", &"a", 3, 3).unwrap(), 4);
        assert!(matches!(
            next_version("row", &"a", 3, 4),
            Err(Error::Conflict {
                expected: 3,
                found: 4,
                ..
            })
        ));
        assert!(matches!(
            next_version("row", &"a", u64::MAX, u64::MAX),
            Err(Error::Conflict { .. })
        ));
    }

    #[test]
    fn row_keys_name_every_row_read_by_key_once() {
        let tenant = TenantId::generate();
        let owner = crate::id::UserId::generate();
        let mut token = Row::new(Kind::ApiToken, "t", b"{}".to_vec());
        token.owner = Some(owner);
        let batch = Batch::new(crate::audit::AuditDraft::new(
            crate::audit::Actor::System,
            "test",
            "x",
            crate::clock::Timestamp::from_unix_seconds(1),
        ))
        .with(Change::Insert(Row::new(
            Kind::User,
            owner.to_string(),
            b"{}".to_vec(),
        )))
        .with(Change::Insert(token.clone()))
        .with(Change::Update {
            row: token,
            expected_version: 1,
        })
        .with(Change::Delete {
            kind: Kind::AppSecret,
            id: "a".into(),
            expected_version: None,
        });
        let checked = Checked::new(tenant, batch).unwrap();
        assert_eq!(
            checked.row_keys(),
            vec![
                (Kind::User, owner.to_string()),
                (Kind::ApiToken, "t".to_owned()),
                (Kind::AppSecret, "a".to_owned()),
            ]
        );
    }

    #[test]
    fn only_global_kinds_have_directory_entries() {
        assert!(check_directory_kind(Kind::ApiToken).is_ok());
        assert!(matches!(
            check_directory_kind(Kind::User),
            Err(Error::InvalidInput { .. })
        ));
        let mut row = Row::new(Kind::User, "u", b"{}".to_vec());
        row.lookup = Some(b"ada".to_vec());
        assert_eq!(directory_key(&row), None);
        row.kind = Kind::ApiToken;
        assert_eq!(directory_key(&row), Some(&b"ada"[..]));
    }
}
