//! The SQL of writes: SQLite's [`Tx`], the reads and writes of one open
//! transaction that the shared rules (`store/apply.rs`) run over. Nothing
//! here checks a rule; each function is one statement.
//!
//! Every method answers at once, on the writer's thread: the futures it
//! returns are complete when created, and the store drives the rules with
//! `apply::run_now`.

use std::collections::HashMap;
use std::future::{Future, ready};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::sql::{DIRECTORY_LOOKUP, corrupt, db, scope_bytes, table, version_from, version_to};
use crate::audit::AuditRecord;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{Head, Owned, Tx};
use crate::store::{Kind, Row, Tenant};

/// The newest audit event of a tenant (its chain head).
pub(super) const AUDIT_HEAD: &str =
    "SELECT seq, hash FROM audit_events WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1";

/// A transaction (or savepoint) open on the writer connection.
pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
    memo: &'c mut Memo,
    /// Whether a write was attempted: a batch that fails before its first
    /// write left nothing to undo (see [`SqliteTx::wrote`]).
    wrote: bool,
}

/// The tenant records and audit heads a transaction has read or written,
/// so that the batches of one group commit after the first need not read
/// them again (two of the five statements of an audited insert).
///
/// Sound because the transaction is `BEGIN IMMEDIATE` on the only writer
/// connection: while it is open no other connection writes the file, and
/// every write of this transaction goes through [`SqliteTx`], which keeps
/// the memo in step. A batch rolled back to its savepoint may have written
/// either before failing, so the group [forgets](Memo::forget) everything
/// then; a batch that failed before writing anything leaves it right (what
/// it read is what the transaction holds). The memo lives no longer than
/// its transaction.
#[derive(Debug, Default)]
pub(super) struct Memo {
    tenants: HashMap<TenantId, Option<Tenant>>,
    heads: HashMap<TenantId, Option<(u64, [u8; 32])>>,
}

impl Memo {
    /// Forgets everything, after a rollback to a savepoint.
    pub(super) fn forget(&mut self) {
        self.tenants.clear();
        self.heads.clear();
    }
}

impl<'c> SqliteTx<'c> {
    /// Writes through `conn`, which must be inside a transaction, with
    /// `memo` holding what this transaction has read or written so far.
    pub(super) fn new(conn: &'c Connection, memo: &'c mut Memo) -> Self {
        Self {
            conn,
            memo,
            wrote: false,
        }
    }

    /// Whether anything was written, or attempted, through this
    /// transaction: `false` means every call so far was a read, so the
    /// connection holds nothing this transaction changed. A write that
    /// failed counts as written (a failing statement is undone by SQLite,
    /// but what its failure left is not worth reasoning about).
    pub(super) fn wrote(&self) -> bool {
        self.wrote
    }

    fn tenant_now(&mut self, tenant: TenantId) -> Result<Option<Tenant>> {
        if let Some(known) = self.memo.tenants.get(&tenant) {
            return Ok(known.clone());
        }
        let found = super::sql::tenant(self.conn, tenant)?;
        self.memo.tenants.insert(tenant, found.clone());
        Ok(found)
    }

    fn write_tenant(&mut self, sql: &'static str, t: &Tenant) -> Result<()> {
        self.wrote = true;
        let body = serde_json::to_vec(t).map_err(|_| Error::Internal {
            what: "serializing a tenant",
        })?;
        self.conn
            .prepare_cached(sql)
            .map_err(db("write a tenant"))?
            .execute(params![
                t.id.as_bytes().as_slice(),
                version_to(t.version)?,
                body
            ])
            .map_err(db("write a tenant"))?;
        self.memo.tenants.insert(t.id, Some(t.clone()));
        Ok(())
    }

    fn head(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Head>> {
        let found: Option<(i64, Option<Vec<u8>>)> = self
            .conn
            .prepare_cached(table(kind).head)
            .map_err(db("read a row version"))?
            .query_row(
                params![tenant.as_bytes().as_slice(), kind.as_str(), id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db("read a row version"))?;
        found
            .map(|(version, lookup)| {
                Ok(Head {
                    version: version_from(version)?,
                    lookup,
                })
            })
            .transpose()
    }

    fn holder(&self, tenant: TenantId, kind: Kind, lookup: &[u8]) -> Result<Option<String>> {
        self.conn
            .prepare_cached(table(kind).lookup_holder)
            .map_err(db("check a lookup key"))?
            .query_row(
                params![
                    kind.as_str(),
                    scope_bytes(&tenant, kind),
                    lookup,
                    tenant.as_bytes().as_slice()
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("check a lookup key"))
    }

    /// Inserts `row`, or (with `expected`) replaces it at that version.
    /// Returns whether a row was written.
    fn write_row(&mut self, tenant: TenantId, row: &Row, expected: Option<u64>) -> Result<bool> {
        // No stored row is at a version the column cannot hold: nothing
        // matches, as for any other stale version.
        let Ok(expected) = expected.map(version_to).transpose() else {
            return Ok(false);
        };
        self.wrote = true;
        let t = table(row.kind);
        let key_id = row.sealed_key()?.map(|k| i64::from(k.get()));
        let scope = row.lookup.as_ref().map(|_| scope_bytes(&tenant, row.kind));
        let tenant_bytes = tenant.as_bytes();
        let owner = row.owner.map(|o| o.to_string());
        let expires_at = row.expires_at.map(Timestamp::unix_millis);
        let version = version_to(row.version)?;
        let tag = row.tag.as_ref().map(<[u8; 32]>::as_slice);
        let values = params![
            tenant_bytes.as_slice(),
            row.kind.as_str(),
            row.id,
            row.parent,
            owner,
            scope,
            row.lookup,
            expires_at,
            version,
            row.body,
            row.sealed,
            key_id,
            tag,
        ];
        let run = |sql: &'static str, values: &[&dyn rusqlite::ToSql]| {
            self.conn
                .prepare_cached(sql)
                .map_err(db("write a row"))?
                .execute(values)
                .map_err(|e| constraint_error(e, tenant, row))
        };
        let Some(v) = expected else {
            return Ok(run(t.insert, values)? == 1);
        };
        let mut with_version = values.to_vec();
        with_version.push(&v);
        // Most updates (a rewrap, a rekey, a secret's new value) leave the
        // indexed columns as they are: try the statement that writes only
        // the rest, and the whole row when it matched nothing.
        if run(t.update_in_place, &with_version)? == 1 {
            return Ok(true);
        }
        Ok(run(t.update, &with_version)? == 1)
    }

    fn delete(&mut self, tenant: TenantId, kind: Kind, id: &str, expected: u64) -> Result<bool> {
        self.wrote = true;
        let deleted = self
            .conn
            .prepare_cached(table(kind).delete)
            .map_err(db("delete a row"))?
            .execute(params![
                tenant.as_bytes().as_slice(),
                kind.as_str(),
                id,
                version_to(expected)?
            ])
            .map_err(db("delete a row"))?;
        Ok(deleted == 1)
    }

    fn owned(&self, tenant: TenantId, owner: &str) -> Result<Vec<Owned>> {
        // Users own no users: `records` holds every ownable row.
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT kind, id, version, lookup FROM records WHERE tenant_id = ?1 AND owner_id = ?2",
            )
            .map_err(db("list a user's rows"))?;
        let mut rows = stmt
            .query(params![tenant.as_bytes().as_slice(), owner])
            .map_err(db("list a user's rows"))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(db("list a user's rows"))? {
            let get = db("list a user's rows");
            let kind: String = r.get(0).map_err(&get)?;
            out.push(Owned {
                kind: Kind::parse(&kind).map_err(|_| corrupt("row kind"))?,
                id: r.get(1).map_err(&get)?,
                head: Head {
                    version: version_from(r.get(2).map_err(&get)?)?,
                    lookup: r.get(3).map_err(&get)?,
                },
            });
        }
        Ok(out)
    }

    fn directory(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        let found: Option<Vec<u8>> = self
            .conn
            .prepare_cached(DIRECTORY_LOOKUP)
            .map_err(db("read the directory"))?
            .query_row(params![kind.as_str(), lookup], |r| r.get(0))
            .optional()
            .map_err(db("read the directory"))?;
        found
            .map(|t| TenantId::from_slice(&t).map_err(|_| corrupt("tenant id")))
            .transpose()
    }

    /// Runs one writing statement.
    fn execute(
        &mut self,
        doing: &'static str,
        sql: &'static str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<()> {
        self.wrote = true;
        self.conn
            .prepare_cached(sql)
            .map_err(db(doing))?
            .execute(values)
            .map_err(db(doing))?;
        Ok(())
    }

    fn audit_head_now(&mut self, tenant: TenantId) -> Result<Option<(u64, [u8; 32])>> {
        if let Some(known) = self.memo.heads.get(&tenant) {
            return Ok(*known);
        }
        let last: Option<(i64, Vec<u8>)> = self
            .conn
            .prepare_cached(AUDIT_HEAD)
            .map_err(db("read the audit log head"))?
            .query_row([tenant.as_bytes().as_slice()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(db("read the audit log head"))?;
        last.map(|(seq, hash)| {
            let seq = u64::try_from(seq).map_err(|_| corrupt("audit sequence number"))?;
            let hash = <[u8; 32]>::try_from(hash).map_err(|_| corrupt("audit hash"))?;
            Ok((seq, hash))
        })
        .transpose()
        .inspect(|head| {
            self.memo.heads.insert(tenant, *head);
        })
    }

    fn insert_audit(&mut self, r: &AuditRecord) -> Result<()> {
        let details = serde_json::to_string(&r.event.details).map_err(|_| Error::Internal {
            what: "serializing audit details",
        })?;
        let seq = i64::try_from(r.seq).map_err(|_| corrupt("audit sequence number"))?;
        self.execute(
            "write an audit event",
            "INSERT INTO audit_events (tenant_id, seq, at, actor, action, target, source, outcome,
                 details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                r.tenant.as_bytes().as_slice(),
                seq,
                r.event.at.unix_millis(),
                r.event.actor.to_string(),
                r.event.action,
                r.event.target,
                r.event.source,
                r.event.outcome.as_str(),
                details,
                r.prev_hash.as_slice(),
                r.hash.as_slice(),
            ],
        )?;
        self.memo.heads.insert(r.tenant, Some((r.seq, r.hash)));
        Ok(())
    }

    fn erase(&mut self, tenant: TenantId) -> Result<()> {
        self.memo.tenants.remove(&tenant);
        self.memo.heads.remove(&tenant);
        // Children first and explicitly, rather than through the cascades, so
        // the erasure does not depend on the connection's pragmas.
        for sql in [
            "DELETE FROM lookup_directory WHERE tenant_id = ?1",
            "DELETE FROM records WHERE tenant_id = ?1",
            "DELETE FROM users WHERE tenant_id = ?1",
            "DELETE FROM audit_events WHERE tenant_id = ?1",
            "DELETE FROM tenants WHERE id = ?1",
        ] {
            self.execute("erase a tenant", sql, params![tenant.as_bytes().as_slice()])?;
        }
        Ok(())
    }
}

/// A constraint the rules' checks should have made unreachable, reported as
/// the rules would have reported it; any other failure as a store error.
fn constraint_error(e: rusqlite::Error, tenant: TenantId, row: &Row) -> Error {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            Some(f.extended_code)
        }
        _ => None,
    };
    match code {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) => Error::AlreadyExists {
            what: format!("{} lookup key", row.kind),
            id: row.id.clone(),
        },
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => Error::AlreadyExists {
            what: row.kind.to_string(),
            id: row.id.clone(),
        },
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => match row.owner {
            Some(owner) => Error::not_found("user", owner),
            None => Error::not_found("tenant", tenant),
        },
        _ => db("write a row")(e),
    }
}

impl Tx for SqliteTx<'_> {
    fn tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<Option<Tenant>>> + Send {
        ready(self.tenant_now(tenant))
    }

    fn insert_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        ready(self.write_tenant(
            "INSERT INTO tenants (id, version, body) VALUES (?1, ?2, ?3)",
            t,
        ))
    }

    fn update_tenant(&mut self, t: &Tenant) -> impl Future<Output = Result<()>> + Send {
        ready(self.write_tenant(
            "UPDATE tenants SET version = ?2, body = ?3 WHERE id = ?1",
            t,
        ))
    }

    fn row_head(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
    ) -> impl Future<Output = Result<Option<Head>>> + Send {
        ready(self.head(tenant, kind, id))
    }

    fn row_by_lookup(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<String>>> + Send {
        ready(self.holder(tenant, kind, lookup))
    }

    fn insert_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.write_row(tenant, row, None).map(drop))
    }

    fn update_row(
        &mut self,
        tenant: TenantId,
        row: &Row,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        ready(self.write_row(tenant, row, Some(expected)))
    }

    fn delete_row(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
    ) -> impl Future<Output = Result<bool>> + Send {
        ready(self.delete(tenant, kind, id, expected))
    }

    fn owned_rows(
        &mut self,
        tenant: TenantId,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<Owned>>> + Send {
        ready(self.owned(tenant, owner))
    }

    fn directory_tenant(
        &mut self,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<Option<TenantId>>> + Send {
        ready(self.directory(kind, lookup))
    }

    fn directory_insert(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.execute(
            "add a directory entry",
            "INSERT INTO lookup_directory (kind, lookup, tenant_id) VALUES (?1, ?2, ?3)",
            params![kind.as_str(), lookup, tenant.as_bytes().as_slice()],
        ))
    }

    fn directory_remove(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> impl Future<Output = Result<()>> + Send {
        ready(self.execute(
            "remove a directory entry",
            "DELETE FROM lookup_directory WHERE kind = ?1 AND lookup = ?2 AND tenant_id = ?3",
            params![kind.as_str(), lookup, tenant.as_bytes().as_slice()],
        ))
    }

    fn audit_head(
        &mut self,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Option<(u64, [u8; 32])>>> + Send {
        ready(self.audit_head_now(tenant))
    }

    fn append_audit(&mut self, record: &AuditRecord) -> impl Future<Output = Result<()>> + Send {
        ready(self.insert_audit(record))
    }

    fn erase_tenant(&mut self, tenant: TenantId) -> impl Future<Output = Result<()>> + Send {
        ready(self.erase(tenant))
    }
}
