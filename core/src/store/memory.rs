//! The in-memory backend: for tests and ephemeral use. Nothing survives the
//! process. Atomicity comes from one lock and an undo log.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::{AuditQuery, Batch, Change, Kind, ListQuery, Row, Store, Tenant};

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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation is undone on error before the guard drops, and no
        // code under the lock panics by design; a poisoned lock is sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Inner {
    tenants: BTreeMap<TenantId, TenantData>,
    /// Lookup keys of kinds with a global lookup: (kind, key) -> (tenant, id).
    global: HashMap<(Kind, Vec<u8>), (TenantId, String)>,
    /// Store-wide settings.
    meta: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
struct TenantData {
    tenant: Tenant,
    rows: BTreeMap<(Kind, String), Row>,
    /// Lookup keys of other kinds, unique per tenant: (kind, key) -> id.
    lookups: HashMap<(Kind, Vec<u8>), String>,
    audit: Vec<AuditRecord>,
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
    PopAudit(TenantId),
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

    /// Replaces (or removes, with `None`) one row, keeping the lookup
    /// indexes right. Returns the previous row.
    fn set_row(&mut self, tenant: TenantId, kind: Kind, id: &str, row: Option<Row>) -> Option<Row> {
        let data = self.tenants.get_mut(&tenant)?;
        let key = (kind, id.to_owned());
        let previous = match row {
            Some(row) => data.rows.insert(key, row),
            None => data.rows.remove(&key),
        };
        if let Some(lookup) = previous.as_ref().and_then(|p| p.lookup.clone()) {
            if kind.has_global_lookup() {
                self.global.remove(&(kind, lookup));
            } else {
                data.lookups.remove(&(kind, lookup));
            }
        }
        if let Some(lookup) = data
            .rows
            .get(&(kind, id.to_owned()))
            .and_then(|r| r.lookup.clone())
        {
            if kind.has_global_lookup() {
                self.global.insert((kind, lookup), (tenant, id.to_owned()));
            } else {
                data.lookups.insert((kind, lookup), id.to_owned());
            }
        }
        previous
    }

    /// Writes `row`, recording how to undo it.
    fn put_row(&mut self, tenant: TenantId, row: Row, undo: &mut Vec<Undo>) {
        let (kind, id) = (row.kind, row.id.clone());
        let previous = self.set_row(tenant, kind, &id, Some(row));
        undo.push(Undo::RestoreRow {
            tenant,
            kind,
            id,
            previous,
        });
    }

    /// Whether `lookup` of `kind` is taken by a row other than `id`.
    fn lookup_taken(&self, tenant: TenantId, kind: Kind, lookup: &[u8], id: &str) -> bool {
        let holder = if kind.has_global_lookup() {
            self.global
                .get(&(kind, lookup.to_vec()))
                .map(|(t, i)| (*t, i.as_str()))
        } else {
            self.data(tenant)
                .and_then(|d| d.lookups.get(&(kind, lookup.to_vec())))
                .map(|i| (tenant, i.as_str()))
        };
        holder.is_some_and(|(t, i)| t != tenant || i != id)
    }

    fn check_row(&self, tenant: TenantId, row: &Row) -> Result<()> {
        let data = self
            .data(tenant)
            .ok_or_else(|| Error::not_found("tenant", tenant))?;
        if let Some(owner) = row.owner {
            let key = (Kind::User, owner.to_string());
            if !data.rows.contains_key(&key) {
                return Err(Error::not_found("user", owner));
            }
        }
        if let Some(lookup) = &row.lookup
            && self.lookup_taken(tenant, row.kind, lookup, &row.id)
        {
            return Err(Error::AlreadyExists {
                what: format!("{} lookup key", row.kind),
                id: row.id.clone(),
            });
        }
        Ok(())
    }

    fn apply_one(&mut self, tenant: TenantId, change: Change, undo: &mut Vec<Undo>) -> Result<()> {
        match change {
            Change::CreateTenant(mut t) => {
                if self.tenants.contains_key(&tenant) {
                    return Err(Error::AlreadyExists {
                        what: "tenant".into(),
                        id: tenant.to_string(),
                    });
                }
                t.version = 1;
                self.tenants.insert(
                    tenant,
                    TenantData {
                        tenant: t,
                        rows: BTreeMap::new(),
                        lookups: HashMap::new(),
                        audit: Vec::new(),
                    },
                );
                undo.push(Undo::RemoveTenant(tenant));
            }
            Change::UpdateTenant {
                tenant: mut t,
                expected_version,
            } => {
                let data = self.data_mut(tenant)?;
                let found = data.tenant.version;
                if found != expected_version {
                    return Err(Error::conflict("tenant", tenant, expected_version, found));
                }
                t.version = found + 1;
                let previous = std::mem::replace(&mut data.tenant, t);
                undo.push(Undo::RestoreTenant(previous));
            }
            Change::Insert(mut row) => {
                self.check_row(tenant, &row)?;
                let data = self
                    .data(tenant)
                    .ok_or_else(|| Error::not_found("tenant", tenant))?;
                if data.rows.contains_key(&(row.kind, row.id.clone())) {
                    return Err(Error::AlreadyExists {
                        what: row.kind.to_string(),
                        id: row.id,
                    });
                }
                row.version = 1;
                self.put_row(tenant, row, undo);
            }
            Change::Update {
                mut row,
                expected_version,
            } => {
                let data = self
                    .data(tenant)
                    .ok_or_else(|| Error::not_found("tenant", tenant))?;
                let found = data
                    .rows
                    .get(&(row.kind, row.id.clone()))
                    .map(|r| r.version)
                    .ok_or_else(|| Error::not_found(row.kind.as_str(), &row.id))?;
                if found != expected_version {
                    return Err(Error::conflict(
                        row.kind.as_str(),
                        &row.id,
                        expected_version,
                        found,
                    ));
                }
                self.check_row(tenant, &row)?;
                row.version = found + 1;
                self.put_row(tenant, row, undo);
            }
            Change::Delete {
                kind,
                id,
                expected_version,
            } => {
                let data = self
                    .data(tenant)
                    .ok_or_else(|| Error::not_found("tenant", tenant))?;
                let found = data
                    .rows
                    .get(&(kind, id.clone()))
                    .map(|r| r.version)
                    .ok_or_else(|| Error::not_found(kind.as_str(), &id))?;
                if let Some(expected) = expected_version
                    && found != expected
                {
                    return Err(Error::conflict(kind.as_str(), &id, expected, found));
                }
                if kind == Kind::User {
                    let owned: Vec<(Kind, String)> = data
                        .rows
                        .iter()
                        .filter(|(_, r)| r.owner.is_some_and(|o| o.to_string() == id))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for (k, i) in owned {
                        let previous = self.set_row(tenant, k, &i, None);
                        undo.push(Undo::RestoreRow {
                            tenant,
                            kind: k,
                            id: i,
                            previous,
                        });
                    }
                }
                let previous = self.set_row(tenant, kind, &id, None);
                undo.push(Undo::RestoreRow {
                    tenant,
                    kind,
                    id,
                    previous,
                });
            }
        }
        Ok(())
    }

    fn append_audit(
        &mut self,
        tenant: TenantId,
        batch: &Batch,
        linker: &dyn AuditLinker,
        undo: &mut Vec<Undo>,
    ) -> Result<AuditRecord> {
        let data = self.data_mut(tenant)?;
        let (seq, prev_hash) = data
            .audit
            .last()
            .map_or((1, [0; 32]), |last| (last.seq + 1, last.hash));
        let mut record = AuditRecord {
            tenant,
            seq,
            event: batch.audit.clone(),
            prev_hash,
            hash: [0; 32],
        };
        record.hash = linker.link(&record)?;
        data.audit.push(record.clone());
        undo.push(Undo::PopAudit(tenant));
        Ok(record)
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
                    self.set_row(tenant, kind, &id, previous);
                }
                Undo::PopAudit(t) => {
                    if let Some(d) = self.tenants.get_mut(&t) {
                        d.audit.pop();
                    }
                }
            }
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        Ok(self.lock().data(id).map(|d| d.tenant.clone()))
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        let inner = self.lock();
        let limit = limit.min(crate::store::MAX_PAGE);
        Ok(inner
            .tenants
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a))
            .take(limit)
            .map(|(_, d)| d.tenant.clone())
            .collect())
    }

    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        Ok(self
            .lock()
            .data(tenant)
            .and_then(|d| d.rows.get(&(kind, id.to_owned())).cloned()))
    }

    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        let inner = self.lock();
        let id = if kind.has_global_lookup() {
            inner
                .global
                .get(&(kind, lookup.to_vec()))
                .filter(|(t, _)| *t == tenant)
                .map(|(_, id)| id.clone())
        } else {
            inner
                .data(tenant)
                .and_then(|d| d.lookups.get(&(kind, lookup.to_vec())).cloned())
        };
        Ok(id.and_then(|id| {
            inner
                .data(tenant)
                .and_then(|d| d.rows.get(&(kind, id)).cloned())
        }))
    }

    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        check_global_lookup(kind)?;
        let inner = self.lock();
        let Some((tenant, id)) = inner.global.get(&(kind, lookup.to_vec())).cloned() else {
            return Ok(None);
        };
        Ok(inner
            .data(tenant)
            .and_then(|d| d.rows.get(&(kind, id)).cloned())
            .map(|row| (tenant, row)))
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
        batch.validate(tenant)?;
        let mut inner = self.lock();
        let mut undo = Vec::new();
        let changes = batch.changes.clone();
        let result = changes
            .into_iter()
            .try_for_each(|change| inner.apply_one(tenant, change, &mut undo))
            .and_then(|()| inner.append_audit(tenant, &batch, linker.as_ref(), &mut undo));
        if result.is_err() {
            inner.revert(undo);
        }
        result
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
        let mut inner = self.lock();
        let data = inner
            .data(tenant)
            .ok_or_else(|| Error::not_found("tenant", tenant))?;
        if data.tenant.deletion_protection {
            return Err(Error::DeletionProtected {
                tenant: tenant.to_string(),
            });
        }
        inner.global.retain(|_, (t, _)| *t != tenant);
        inner.tenants.remove(&tenant);
        Ok(())
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

/// Refuses a global lookup on a kind whose lookup keys are per tenant.
pub(crate) fn check_global_lookup(kind: Kind) -> Result<()> {
    if kind.has_global_lookup() {
        Ok(())
    } else {
        Err(Error::invalid(
            "kind",
            format!("`{kind}` has no global lookup key; look it up within its tenant"),
        ))
    }
}
