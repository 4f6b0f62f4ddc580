//! The SQL of writes: PostgreSQL's [`Tx`], the reads and writes of one open
//! transaction that the shared rules (`store/apply.rs`) run over. Nothing
//! here checks a rule; each method is one statement (erase: one per table).
//!
//! The transaction was opened by the store with the tenant context set
//! first (`sql::SET_TENANT`); every statement here runs under row-level
//! security as the app role, so a statement that named another tenant
//! would see no row and could write none (SQLSTATE 42501).

use std::future::Future;

use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::in_order;
use super::sql::{
    Conn, Params, Sql, col, corrupt, db, decode_tenant, uuid, version_from, version_to,
};
use crate::audit::AuditRecord;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{Head, Owned, Tx};
use crate::store::{Kind, Row, Tenant};

/// An audit log head: the last event's sequence number and hash.
type AuditHead = Option<(u64, [u8; 32])>;

/// A transaction open on a pooled connection, inside a tenant's context.
pub(super) struct PgTx<'a, 'c> {
    tx: &'a Transaction<'c>,
    sql: &'a Sql,
    /// The tenant's audit log head, read in the same round trip as the
    /// tenant's row lock (see [`PgTx::lock_tenant`]), until `audit_head`
    /// takes it.
    head: Option<(TenantId, AuditHead)>,
}

impl<'a, 'c> PgTx<'a, 'c> {
    /// Writes through `tx`, whose tenant context is already set.
    pub(super) fn new(tx: &'a Transaction<'c>, sql: &'a Sql) -> Self {
        Self {
            tx,
            sql,
            head: None,
        }
    }
}

/// Runs one statement in the store's statement mode and returns its rows.
pub(super) async fn query(
    tx: &Transaction<'_>,
    sql_set: &Sql,
    doing: &'static str,
    sql: &str,
    params: &Params<'_>,
) -> Result<Vec<tokio_postgres::Row>> {
    tx.rows(sql_set.prepared, sql, params)
        .await
        .map_err(db(doing))
}

/// Runs one statement and returns how many rows it changed.
pub(super) async fn execute(
    tx: &Transaction<'_>,
    sql_set: &Sql,
    doing: &'static str,
    sql: &str,
    params: &Params<'_>,
) -> Result<u64> {
    tx.count(sql_set.prepared, sql, params)
        .await
        .map_err(db(doing))
}

/// What reading the audit log head is called in errors.
const HEAD_READ: &str = "read the audit log head";

/// The audit log head from the rows of `Sql::audit_head`.
fn head_from(rows: &[tokio_postgres::Row]) -> Result<AuditHead> {
    rows.first()
        .map(|r| {
            let seq: i64 = col(r, 0, HEAD_READ)?;
            let hash: Vec<u8> = col(r, 1, HEAD_READ)?;
            let seq = u64::try_from(seq).map_err(|_| corrupt("audit sequence number"))?;
            let hash = <[u8; 32]>::try_from(hash).map_err(|_| corrupt("audit hash"))?;
            Ok((seq, hash))
        })
        .transpose()
}

/// What reading a tenant is called in errors.
pub(super) const TENANT_READ: &str = "read a tenant";

/// The tenant `id` from the rows of `Sql::tenant` (or its `FOR UPDATE`).
pub(super) fn tenant_from(rows: &[tokio_postgres::Row], id: TenantId) -> Result<Option<Tenant>> {
    rows.first()
        .map(|r| {
            let version: i64 = col(r, 0, TENANT_READ)?;
            let body: Vec<u8> = col(r, 1, TENANT_READ)?;
            decode_tenant(id, version, &body)
        })
        .transpose()
}

/// A write that a constraint refused, reported as the rules would have
/// reported it (a concurrent writer got there between the check and the
/// write); any other failure as a store error.
fn constraint_error(e: tokio_postgres::Error, doing: &'static str, what: &str, id: &str) -> Error {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::AlreadyExists {
            what: what.to_owned(),
            id: id.to_owned(),
        },
        _ => db(doing)(e),
    }
}

impl PgTx<'_, '_> {
    async fn write_tenant(&self, sql: &str, t: &Tenant, insert: bool) -> Result<()> {
        const D: &str = "write a tenant";
        let body = serde_json::to_vec(t).map_err(|_| Error::Internal {
            what: "serializing a tenant",
        })?;
        let id = uuid(t.id);
        let version = version_to(t.version)?;
        self.tx
            .count(
                self.sql.prepared,
                sql,
                &[
                    (&id, Type::UUID),
                    (&version, Type::INT8),
                    (&body, Type::BYTEA),
                ],
            )
            .await
            .map_err(|e| constraint_error(e, D, "tenant", &t.id.to_string()))?;
        if insert {
            execute(
                self.tx,
                self.sql,
                "add a tenant directory entry",
                &self.sql.insert_tenant_directory,
                &[(&id, Type::UUID)],
            )
            .await?;
        }
        Ok(())
    }

    async fn head(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Head>> {
        const D: &str = "read a row version";
        let rows = query(
            self.tx,
            self.sql,
            D,
            &self.sql.table(kind).head,
            &[
                (&uuid(tenant), Type::UUID),
                (&kind.as_str(), Type::TEXT),
                (&id, Type::TEXT),
            ],
        )
        .await?;
        rows.first()
            .map(|r| {
                Ok(Head {
                    version: version_from(col(r, 0, D)?)?,
                    lookup: col(r, 1, D)?,
                })
            })
            .transpose()
    }

    async fn holder(&self, tenant: TenantId, kind: Kind, lookup: &[u8]) -> Result<Option<String>> {
        const D: &str = "check a lookup key";
        let rows = query(
            self.tx,
            self.sql,
            D,
            &self.sql.table(kind).lookup_holder,
            &[
                (&uuid(tenant), Type::UUID),
                (&kind.as_str(), Type::TEXT),
                (&lookup, Type::BYTEA),
            ],
        )
        .await?;
        rows.first().map(|r| col(r, 0, D)).transpose()
    }

    /// Inserts `row`, or (with `expected`) replaces it at that version.
    /// Returns whether a row was written.
    async fn write_row(&self, tenant: TenantId, row: &Row, expected: Option<u64>) -> Result<bool> {
        const D: &str = "write a row";
        let t = self.sql.table(row.kind);
        let key_id = row.sealed_key()?.map(|k| i64::from(k.get()));
        let owner = row.owner.map(|o| o.to_string());
        let expires_at = row.expires_at.map(Timestamp::unix_millis);
        let version = version_to(row.version)?;
        let tag = row.tag.as_ref().map(<[u8; 32]>::as_slice);
        let expected = expected.map(version_to).transpose()?;
        let tenant_id = uuid(tenant);
        let kind = row.kind.as_str();
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&tenant_id, Type::UUID),
            (&kind, Type::TEXT),
            (&row.id, Type::TEXT),
            (&row.parent, Type::TEXT),
            (&owner, Type::TEXT),
            (&row.lookup, Type::BYTEA),
            (&expires_at, Type::INT8),
            (&version, Type::INT8),
            (&row.body, Type::BYTEA),
            (&row.sealed, Type::BYTEA),
            (&key_id, Type::INT8),
            (&tag, Type::BYTEA),
        ];
        let sql = match &expected {
            None => &t.insert,
            Some(v) => {
                params.push((v, Type::INT8));
                &t.update
            }
        };
        let written = self
            .tx
            .count(self.sql.prepared, sql, &params)
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => match row.owner {
                    Some(owner) => Error::not_found("user", owner),
                    None => Error::not_found("tenant", tenant),
                },
                Some(c)
                    if *c == SqlState::UNIQUE_VIOLATION
                        && e.as_db_error()
                            .and_then(|d| d.constraint())
                            .is_some_and(|c| c.ends_with("_lookup")) =>
                {
                    Error::AlreadyExists {
                        what: format!("{} lookup key", row.kind),
                        id: row.id.clone(),
                    }
                }
                _ => constraint_error(e, D, row.kind.as_str(), &row.id),
            })?;
        Ok(written == 1)
    }

    async fn delete(&self, tenant: TenantId, kind: Kind, id: &str, expected: u64) -> Result<bool> {
        let deleted = execute(
            self.tx,
            self.sql,
            "delete a row",
            &self.sql.table(kind).delete,
            &[
                (&uuid(tenant), Type::UUID),
                (&kind.as_str(), Type::TEXT),
                (&id, Type::TEXT),
                (&version_to(expected)?, Type::INT8),
            ],
        )
        .await?;
        Ok(deleted == 1)
    }

    async fn owned(&self, tenant: TenantId, owner: &str) -> Result<Vec<Owned>> {
        const D: &str = "list a user's rows";
        // Users own no users: `records` holds every ownable row.
        let rows = query(
            self.tx,
            self.sql,
            D,
            &self.sql.owned,
            &[(&uuid(tenant), Type::UUID), (&owner, Type::TEXT)],
        )
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = col(r, 0, D)?;
                Ok(Owned {
                    kind: Kind::parse(&kind).map_err(|_| corrupt("row kind"))?,
                    id: col(r, 1, D)?,
                    head: Head {
                        version: version_from(col(r, 2, D)?)?,
                        lookup: col(r, 3, D)?,
                    },
                })
            })
            .collect()
    }

    async fn directory(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        const D: &str = "read the directory";
        let rows = query(
            self.tx,
            self.sql,
            D,
            &self.sql.directory_lookup,
            &[(&kind.as_str(), Type::TEXT), (&lookup, Type::BYTEA)],
        )
        .await?;
        rows.first()
            .map(|r| col::<uuid::Uuid>(r, 0, D).map(TenantId::from_uuid))
            .transpose()
    }

    async fn directory_add(&self, tenant: TenantId, kind: Kind, lookup: &[u8]) -> Result<()> {
        const D: &str = "add a directory entry";
        let params: &Params<'_> = &[
            (&kind.as_str(), Type::TEXT),
            (&lookup, Type::BYTEA),
            (&uuid(tenant), Type::UUID),
        ];
        self.tx
            .count(self.sql.prepared, &self.sql.directory_insert, params)
            .await
            .map_err(|e| constraint_error(e, D, &format!("{kind} lookup key"), ""))?;
        Ok(())
    }

    async fn directory_drop(&self, tenant: TenantId, kind: Kind, lookup: &[u8]) -> Result<()> {
        execute(
            self.tx,
            self.sql,
            "remove a directory entry",
            &self.sql.directory_remove,
            &[
                (&kind.as_str(), Type::TEXT),
                (&lookup, Type::BYTEA),
                (&uuid(tenant), Type::UUID),
            ],
        )
        .await
        .map(drop)
    }

    async fn audit_head_now(&self, tenant: TenantId) -> Result<AuditHead> {
        let rows = query(
            self.tx,
            self.sql,
            HEAD_READ,
            &self.sql.audit_head,
            &[(&uuid(tenant), Type::UUID)],
        )
        .await?;
        head_from(&rows)
    }

    /// The tenant's row lock (`SELECT ... FOR UPDATE`), and its audit log
    /// head read right after it, in one round trip: both statements are
    /// sent together, the lock first. The server runs them in that order,
    /// so the head is read once the lock is held, with a snapshot of its
    /// own (READ COMMITTED): every batch of the tenant takes the lock
    /// before it writes an event, so no event can follow this head until
    /// this transaction ends, and `apply` writes its own event last. The
    /// head read here is therefore the one `apply` would read when it
    /// appends; without a tenant row no lock is held, and a batch that
    /// creates the tenant meets a concurrent creator at the tenant's
    /// primary key, before its event.
    async fn lock_tenant(&self, id: TenantId) -> Result<(Option<Tenant>, AuditHead)> {
        let tenant = uuid(id);
        let params: &Params<'_> = &[(&tenant, Type::UUID)];
        let (lock, head) = if self.sql.prepared {
            // Both prepared (cached per connection) before either is sent:
            // a prepare round trip between them would let the head read
            // overtake the lock.
            let lock = self
                .tx
                .prepare_typed_cached(&self.sql.tenant_for_update, &[Type::UUID])
                .await
                .map_err(db(TENANT_READ))?;
            let head = self
                .tx
                .prepare_typed_cached(&self.sql.audit_head, &[Type::UUID])
                .await
                .map_err(db(HEAD_READ))?;
            in_order(
                self.tx.query(&lock, &[&tenant]),
                self.tx.query(&head, &[&tenant]),
            )
            .await
        } else {
            in_order(
                self.tx.query_typed(&self.sql.tenant_for_update, params),
                self.tx.query_typed(&self.sql.audit_head, params),
            )
            .await
        };
        let lock = lock.map_err(db(TENANT_READ))?;
        let head = head.map_err(db(HEAD_READ))?;
        Ok((tenant_from(&lock, id)?, head_from(&head)?))
    }

    async fn insert_audit(&self, r: &AuditRecord) -> Result<()> {
        let details = serde_json::to_string(&r.event.details).map_err(|_| Error::Internal {
            what: "serializing audit details",
        })?;
        let seq = i64::try_from(r.seq).map_err(|_| corrupt("audit sequence number"))?;
        let at = r.event.at.unix_millis();
        let actor = r.event.actor.to_string();
        let outcome = r.event.outcome.as_str();
        let prev = r.prev_hash.as_slice();
        let hash = r.hash.as_slice();
        execute(
            self.tx,
            self.sql,
            "write an audit event",
            &self.sql.audit_insert,
            &[
                (&uuid(r.tenant), Type::UUID),
                (&seq, Type::INT8),
                (&at, Type::INT8),
                (&actor, Type::TEXT),
                (&r.event.action, Type::TEXT),
                (&r.event.target, Type::TEXT),
                (&r.event.source, Type::TEXT),
                (&outcome, Type::TEXT),
                (&details, Type::TEXT),
                (&prev, Type::BYTEA),
                (&hash, Type::BYTEA),
            ],
        )
        .await
        .map(drop)
    }

    async fn erase(&self, tenant: TenantId) -> Result<()> {
        let id = uuid(tenant);
        for sql in &self.sql.erase {
            execute(
                self.tx,
                self.sql,
                "erase a tenant",
                sql,
                &[(&id, Type::UUID)],
            )
            .await?;
        }
        Ok(())
    }
}

impl Tx for PgTx<'_, '_> {
    async fn tenant(&mut self, id: TenantId) -> Result<Option<Tenant>> {
        // The tenant's row lock, held to the end of the transaction, and
        // the audit log head, kept for `audit_head`.
        let (tenant, head) = self.lock_tenant(id).await?;
        self.head = Some((id, head));
        Ok(tenant)
    }

    fn insert_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        self.write_tenant(&self.sql.insert_tenant, t, true)
    }

    fn update_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        self.write_tenant(&self.sql.update_tenant, t, false)
    }

    fn row_head(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
    ) -> impl Future<Output = Result<Option<Head>>> + Send {
        self.head(tenant, kind, id)
    }

    fn row_by_lookup(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        self.holder(tenant, kind, lookup)
    }

    fn insert_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
    ) -> impl Future<Output = Result<()>> + Send {
        let fut = self.write_row(tenant, row, None);
        async move { fut.await.map(drop) }
    }

    fn update_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        self.write_row(tenant, row, Some(expected))
    }

    fn delete_row(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        self.delete(tenant, kind, id, expected)
    }

    fn owned_rows(
        &mut self,
        tenant: TenantId,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Owned>>> + Send {
        self.owned(tenant, owner)
    }

    fn directory_tenant(
        &mut self,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<TenantId>>> + Send {
        self.directory(kind, lookup)
    }

    fn directory_insert(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        self.directory_add(tenant, kind, lookup)
    }

    fn directory_remove(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        self.directory_drop(tenant, kind, lookup)
    }

    fn audit_head(
        &mut self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<(u64, [u8; 32])>>> + Send {
        let read = self.head.take();
        async move {
            match read {
                Some((t, head)) if t == tenant => Ok(head),
                _ => self.audit_head_now(tenant).await,
            }
        }
    }

    fn append_audit(&mut self, record: &AuditRecord) -> impl Future<Output = Result<()>> + Send {
        self.insert_audit(record)
    }

    fn erase_tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<()>> + Send {
        self.erase(tenant)
    }
}
