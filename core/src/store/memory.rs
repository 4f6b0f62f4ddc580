//! The in-memory backend: for tests and ephemeral use. Nothing survives the
//! process. Every write runs the shared rules ([`apply`](super::apply))
//! under one lock, over a transaction that keeps an undo log: a batch that
//! fails is undone step by step before the lock is released.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{self, Checked, Head, Owned, Tx};
use crate::store::{AuditQuery, Batch, Kind, ListQuery, MAX_PAGE, Row, Store, Tenant};

/// A [`Store`] held in memory.
///
/// ```
/// use std::sync::Arc;
/// use secrets_core::store::{MemoryStore, Store};
///
/// let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
/// # let _ = store;
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation is undone on error before the guard drops, and no
        // code under the lock panics by design; a poisoned lock is sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` over a transaction on the locked store; undoes everything
    /// it did if it fails.
    fn write<T>(&self, f: impl FnOnce(&mut MemoryTx<'_>) -> Result<T>) -> Result<T> {
        let mut inner = self.lock();
        let mut tx = MemoryTx {
            inner: &mut inner,
            undo: Vec::new(),
        };
        let out = f(&mut tx);
        if out.is_err() {
            let MemoryTx { inner, undo } = tx;
            inner.revert(undo);
        }
        out
    }
}

#[derive(Debug, Default)]
struct Inner {
    tenants: BTreeMap<TenantId, TenantData>,
    /// The directory: (kind, lookup key) -> tenant, for kinds whose lookup
    /// key is global.
    directory: HashMap<(Kind, Vec<u8>), TenantId>,
    /// Store-wide settings.
    meta: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct TenantData {
    tenant: Tenant,
    rows: BTreeMap<(Kind, String), Row>,
    /// Lookup keys of the tenant's rows (every kind): (kind, key) -> id.
    lookups: HashMap<(Kind, Vec<u8>), String>,
    audit: Vec<AuditRecord>,
}

impl TenantData {
    /// Replaces (or removes, with `None`) one row, keeping the lookup
    /// index right. Returns the previous row.
    fn set_row(&mut self, kind: Kind, id: &str, row: Option<Row>) -> Option<Row> {
        let key = (kind, id.to_owned());
        let lookup = row.as_ref().and_then(|r| r.lookup.clone());
        let previous = match row {
            Some(row) => self.rows.insert(key, row),
            None => self.rows.remove(&key),
        };
        if let Some(old) = previous.as_ref().and_then(|p| p.lookup.clone()) {
            self.lookups.remove(&(kind, old));
        }
        if let Some(new) = lookup {
            self.lookups.insert((kind, new), id.to_owned());
        }
        previous
    }
}

/// What to do to undo one step of a batch.
enum Undo {
    RemoveTenant(TenantId),
    RestoreTenant(Tenant),
    RestoreRow {
        tenant: TenantId,
        kind: Kind,
        id: String,
        previous: Option<Row>,
    },
    RestoreDirectory {
        key: (Kind, Vec<u8>),
        previous: Option<TenantId>,
    },
    PopAudit(TenantId),
    RestoreErased {
        data: Box<TenantData>,
        directory: Vec<((Kind, Vec<u8>), TenantId)>,
    },
}

impl Inner {
    fn data(&self, tenant: TenantId) -> Option<&TenantData> {
        self.tenants.get(&tenant)
    }

    fn data_mut(&mut self, tenant: TenantId) -> Result<&mut TenantData> {
        self.tenants
            .get_mut(&tenant)
            .ok_or_else(|| Error::not_found("tenant", tenant))
    }

    fn row(&self, tenant: TenantId, kind: Kind, id: &str) -> Option<&Row> {
        self.data(tenant)
            .and_then(|d| d.rows.get(&(kind, id.to_owned())))
    }

    fn by_lookup(&self, tenant: TenantId, kind: Kind, lookup: &[u8]) -> Option<&Row> {
        let data = self.data(tenant)?;
        let id = data.lookups.get(&(kind, lookup.to_vec()))?;
        data.rows.get(&(kind, id.clone()))
    }

    fn revert(&mut self, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::RemoveTenant(t) => {
                    self.tenants.remove(&t);
                }
                Undo::RestoreTenant(previous) => {
                    if let Some(d) = self.tenants.get_mut(&previous.id) {
                        d.tenant = previous;
                    }
                }
                Undo::RestoreRow {
                    tenant,
                    kind,
                    id,
                    previous,
                } => {
                    if let Some(d) = self.tenants.get_mut(&tenant) {
                        d.set_row(kind, &id, previous);
                    }
                }
                Undo::RestoreDirectory { key, previous } => match previous {
                    Some(t) => {
                        self.directory.insert(key, t);
                    }
                    None => {
                        self.directory.remove(&key);
                    }
                },
                Undo::PopAudit(t) => {
                    if let Some(d) = self.tenants.get_mut(&t) {
                        d.audit.pop();
                    }
                }
                Undo::RestoreErased { data, directory } => {
                    self.directory.extend(directory);
                    self.tenants.insert(data.tenant.id, *data);
                }
            }
        }
    }
}

/// The memory backend's [`Tx`]: direct edits of the locked store, each
/// recorded in an undo log. Its futures are complete when created.
struct MemoryTx<'a> {
    inner: &'a mut Inner,
    undo: Vec<Undo>,
}

impl MemoryTx<'_> {
    fn set_row(&mut self, tenant: TenantId, kind: Kind, id: &str, row: Option<Row>) -> Result<()> {
        let previous = self.inner.data_mut(tenant)?.set_row(kind, id, row);
        self.undo.push(Undo::RestoreRow {
            tenant,
            kind,
            id: id.to_owned(),
            previous,
        });
        Ok(())
    }

    /// Writes `row` if the stored version is `expected`.
    fn replace_at(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
        row: Option<Row>,
    ) -> Result<bool> {
        if self.inner.row(tenant, kind, id).map(|r| r.version) != Some(expected) {
            return Ok(false);
        }
        self.set_row(tenant, kind, id, row)?;
        Ok(true)
    }

    fn set_directory(&mut self, kind: Kind, lookup: &[u8], tenant: Option<TenantId>) {
        let key = (kind, lookup.to_vec());
        let previous = match tenant {
            Some(t) => self.inner.directory.insert(key.clone(), t),
            None => self.inner.directory.remove(&key),
        };
        self.undo.push(Undo::RestoreDirectory { key, previous });
    }
}

impl Tx for MemoryTx<'_> {
    fn tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<Option<Tenant>>> + Send {
        ready(Ok(self.inner.data(tenant).map(|d| d.tenant.clone())))
    }

    fn insert_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        self.inner.tenants.insert(
            t.id,
            TenantData {
                tenant: t.clone(),
                rows: BTreeMap::new(),
                lookups: HashMap::new(),
                audit: Vec::new(),
            },
        );
        self.undo.push(Undo::RemoveTenant(t.id));
        ready(Ok(()))
    }

    fn update_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        ready(self.inner.data_mut(t.id).map(|data| {
            let previous = std::mem::replace(&mut data.tenant, t.clone());
            self.undo.push(Undo::RestoreTenant(previous));
        }))
    }

    fn row_head(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
    ) -> impl Future<Output = Result<Option<Head>>> + Send {
        ready(Ok(self.inner.row(tenant, kind, id).map(|r| Head {
            version: r.version,
            lookup: r.lookup.clone(),
        })))
    }

    fn row_by_lookup(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        ready(Ok(self
            .inner
            .by_lookup(tenant, kind, lookup)
            .map(|r| r.id.clone())))
    }

    fn insert_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.set_row(tenant, row.kind, &row.id, Some(row.clone())))
    }

    fn update_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        ready(self.replace_at(tenant, row.kind, &row.id, expected, Some(row.clone())))
    }

    fn delete_row(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        ready(self.replace_at(tenant, kind, id, expected, None))
    }

    fn owned_rows(
        &mut self,
        tenant: TenantId,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Owned>>> + Send {
        let owned = self.inner.data(tenant).map_or_else(Vec::new, |d| {
            d.rows
                .values()
                .filter(|r| r.owner.is_some_and(|o| o.to_string() == owner))
                .map(|r| Owned {
                    kind: r.kind,
                    id: r.id.clone(),
                    head: Head {
                        version: r.version,
                        lookup: r.lookup.clone(),
                    },
                })
                .collect()
        });
        ready(Ok(owned))
    }

    fn directory_tenant(
        &mut self,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<TenantId>>> + Send {
        ready(Ok(self
            .inner
            .directory
            .get(&(kind, lookup.to_vec()))
            .copied()))
    }

    fn directory_insert(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        self.set_directory(kind, lookup, Some(tenant));
        ready(Ok(()))
    }

    fn directory_remove(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        // Only the tenant's own entry, as a backend under row-level
        // security could only remove its own.
        if self.inner.directory.get(&(kind, lookup.to_vec())) == Some(&tenant) {
            self.set_directory(kind, lookup, None);
        }
        ready(Ok(()))
    }

    fn audit_head(
        &mut self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<(u64, [u8; 32])>>> + Send {
        ready(Ok(self
            .inner
            .data(tenant)
            .and_then(|d| d.audit.last())
            .map(|last| (last.seq, last.hash))))
    }

    fn append_audit(&mut self, record: &AuditRecord) -> impl Future<Output = Result<()>> + Send {
        ready(self.inner.data_mut(record.tenant).map(|data| {
            data.audit.push(record.clone());
            self.undo.push(Undo::PopAudit(record.tenant));
        }))
    }

    fn erase_tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<()>> + Send {
        let Some(data) = self.inner.tenants.remove(&tenant) else {
            return ready(Err(Error::not_found("tenant", tenant)));
        };
        let mut directory = Vec::new();
        self.inner.directory.retain(|key, t| {
            if *t == tenant {
                directory.push((key.clone(), *t));
                false
            } else {
                true
            }
        });
        self.undo.push(Undo::RestoreErased {
            data: Box::new(data),
            directory,
        });
        ready(Ok(()))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        Ok(self.lock().data(id).map(|d| d.tenant.clone()))
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        let inner = self.lock();
        Ok(inner
            .tenants
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a))
            .take(limit.min(MAX_PAGE))
            .map(|(_, d)| d.tenant.clone())
            .collect())
    }

    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        let inner = self.lock();
        Ok(inner
            .tenants
            .keys()
            .filter(|id| after.is_none_or(|a| **id > a))
            .take(limit.min(MAX_PAGE))
            .copied()
            .collect())
    }

    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        Ok(self.lock().row(tenant, kind, id).cloned())
    }

    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        Ok(self.lock().by_lookup(tenant, kind, lookup).cloned())
    }

    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        apply::check_directory_kind(kind)?;
        Ok(self.lock().directory.get(&(kind, lookup.to_vec())).copied())
    }

    /// The directory and the tenant's row under one lock (the same answer
    /// as the provided method, without taking the lock twice).
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        apply::check_directory_kind(kind)?;
        let inner = self.lock();
        let Some(tenant) = inner.directory.get(&(kind, lookup.to_vec())).copied() else {
            return Ok(None);
        };
        Ok(inner
            .by_lookup(tenant, kind, lookup)
            .map(|row| (tenant, row.clone())))
    }

    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        let inner = self.lock();
        let Some(data) = inner.data(tenant) else {
            return Ok(Vec::new());
        };
        let start = (query.kind, query.after.clone().unwrap_or_default());
        let mut out = Vec::new();
        for ((kind, id), row) in data.rows.range(start..) {
            if *kind != query.kind || out.len() >= query.effective_limit() {
                break;
            }
            if query.after.as_deref() == Some(id.as_str()) {
                continue;
            }
            if query.matches(row)? {
                out.push(row.clone());
            }
        }
        Ok(out)
    }

    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let batch = Checked::new(tenant, batch)?;
        self.write(|tx| apply::run_now(apply::apply(tx, batch, linker.as_ref())))
    }

    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let inner = self.lock();
        let Some(data) = inner.data(tenant) else {
            return Ok(Vec::new());
        };
        Ok(data
            .audit
            .iter()
            .filter(|r| query.after_seq.is_none_or(|s| r.seq > s))
            .filter(|r| query.matches(r))
            .take(query.effective_limit())
            .cloned()
            .collect())
    }

    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.write(|tx| apply::run_now(apply::erase(tx, tenant)))
    }

    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        crate::store::check_meta(name, &[])?;
        Ok(self.lock().meta.get(name).cloned())
    }

    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        crate::store::check_meta(name, value)?;
        let mut inner = self.lock();
        if inner.meta.get(name).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        inner.meta.insert(name.to_owned(), value.to_vec());
        Ok(true)
    }
}
