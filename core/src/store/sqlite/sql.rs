//! The SQL of reads: statements, row decoding, and the read functions the
//! store calls on a reader connection. The writes of a batch are in
//! `tx.rs`. Every function here runs on a blocking thread.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::audit::{Actor, AuditDraft, AuditRecord, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::store::{AuditQuery, Kind, ListQuery, Row, Tenant};

/// A rusqlite error as [`Error::Storage`], saying what was being done. The
/// message carries SQLite's own text (which names tables, columns and
/// constraints, never bound values) and no rusqlite detail that could echo
/// a stored value.
pub(super) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| {
        let message = describe(context, &e);
        Error::storage_from(message, e)
    }
}

fn describe(context: &str, e: &rusqlite::Error) -> String {
    use rusqlite::Error as E;
    let what = match e {
        E::SqliteFailure(f, msg) => {
            let text = msg
                .as_deref()
                .unwrap_or_else(|| rusqlite::ffi::code_to_str(f.extended_code));
            return format!(
                "could not {context}: {text} (SQLite code {})",
                f.extended_code
            );
        }
        E::SqlInputError { msg, .. } => return format!("could not {context}: {msg}"),
        E::QueryReturnedNoRows => "no row was returned",
        E::QueryReturnedMoreThanOneRow => "more than one row was returned",
        E::Utf8Error(..) => "a stored text is not valid UTF-8",
        E::IntegralValueOutOfRange(..) => "a stored integer is out of range",
        E::InvalidColumnType(..) | E::FromSqlConversionFailure(..) => {
            "a stored value has an unexpected type"
        }
        E::InvalidPath(_) => "the path is not valid for SQLite",
        E::NulError(_) => "a text contains a NUL byte",
        _ => "SQLite reported an error",
    };
    format!("could not {context}: {what}")
}

pub(super) use crate::store::columns::{corrupt, decode_tenant, limit, tag_from, version_from};

pub(super) fn version_to(v: u64) -> Result<i64> {
    crate::store::columns::version_to(v, "SQLite's integers")
}

// ---------------------------------------------------------------------------
// Statements. Users and other rows live in two tables with the same columns,
// so each statement exists once per table; `kind` is a column of both (a
// constant 'user' in `users`) so the statements are otherwise identical.

macro_rules! row_columns {
    () => {
        "kind, id, parent, owner_id, lookup, expires_at, version, body, sealed, tag"
    };
}

/// The statements of one row table.
pub(super) struct TableSql {
    get: &'static str,
    pub(super) head: &'static str,
    by_lookup: &'static str,
    pub(super) lookup_holder: &'static str,
    pub(super) insert: &'static str,
    pub(super) update: &'static str,
    /// `update` for a row whose indexed columns (other than `key_id`) keep
    /// their values: it sets only the others, so SQLite leaves the other
    /// indexes, the lookup's unique check and the owner's foreign key
    /// alone. Its `WHERE` holds the new indexed values, so it changes
    /// nothing (0 rows) unless they are the stored ones, and `update`
    /// follows.
    pub(super) update_in_place: &'static str,
    pub(super) delete: &'static str,
    list: &'static str,
    count: &'static str,
}

macro_rules! table_sql {
    ($t:literal) => {
        TableSql {
            get: concat!(
                "SELECT ",
                row_columns!(),
                " FROM ",
                $t,
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3"
            ),
            head: concat!(
                "SELECT version, lookup FROM ",
                $t,
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3"
            ),
            by_lookup: concat!(
                "SELECT ",
                row_columns!(),
                " FROM ",
                $t,
                " WHERE kind = ?1 AND lookup_scope = ?2 AND lookup = ?3 AND tenant_id = ?4"
            ),
            lookup_holder: concat!(
                "SELECT id FROM ",
                $t,
                " WHERE kind = ?1 AND lookup_scope = ?2 AND lookup = ?3 AND tenant_id = ?4"
            ),
            insert: concat!(
                "INSERT INTO ",
                $t,
                " (tenant_id, kind, id, parent, owner_id, lookup_scope,",
                " lookup, expires_at, version, body, sealed, key_id, tag)",
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            update: concat!(
                "UPDATE ",
                $t,
                " SET parent = ?4, owner_id = ?5, lookup_scope = ?6,",
                " lookup = ?7, expires_at = ?8, version = ?9, body = ?10, sealed = ?11,",
                " key_id = ?12, tag = ?13",
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3 AND version = ?14"
            ),
            update_in_place: concat!(
                "UPDATE ",
                $t,
                " SET version = ?9, body = ?10, sealed = ?11, key_id = ?12, tag = ?13",
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3 AND version = ?14",
                " AND parent IS ?4 AND owner_id IS ?5 AND lookup_scope IS ?6",
                " AND lookup IS ?7 AND expires_at IS ?8"
            ),
            delete: concat!(
                "DELETE FROM ",
                $t,
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3 AND version = ?4"
            ),
            list: concat!(
                "SELECT ",
                row_columns!(),
                " FROM ",
                $t,
                " WHERE tenant_id = ? AND kind = ?"
            ),
            count: concat!(
                "SELECT count(*) FROM ",
                $t,
                " WHERE tenant_id = ? AND kind = ?"
            ),
        }
    };
}

const USERS: TableSql = table_sql!("users");
const RECORDS: TableSql = table_sql!("records");

pub(super) fn table(kind: Kind) -> &'static TableSql {
    if kind == Kind::User { &USERS } else { &RECORDS }
}

/// The bytes stored in `lookup_scope` for a row of `kind` in `tenant`: the
/// tenant for per-tenant lookup keys, empty for global ones (see the schema).
pub(super) fn scope_bytes(tenant: &TenantId, kind: Kind) -> &[u8] {
    if kind.has_global_lookup() {
        &[]
    } else {
        tenant.as_bytes()
    }
}

const SELECT_TENANT: &str = "SELECT version, body FROM tenants WHERE id = ?1";

// ---------------------------------------------------------------------------
// Decoding.

fn decode_row(r: &rusqlite::Row<'_>) -> Result<Row> {
    decode_row_at(r, 0)
}

/// Decodes [`row_columns!`] starting at column `at`.
fn decode_row_at(r: &rusqlite::Row<'_>, at: usize) -> Result<Row> {
    let get = db("read a row");
    let kind: String = r.get(at).map_err(&get)?;
    let owner: Option<String> = r.get(at + 3).map_err(&get)?;
    let expires_at: Option<i64> = r.get(at + 5).map_err(&get)?;
    let version: i64 = r.get(at + 6).map_err(&get)?;
    let tag: Option<Vec<u8>> = r.get(at + 9).map_err(&get)?;
    Ok(Row {
        kind: Kind::parse(&kind).map_err(|_| corrupt("row kind"))?,
        id: r.get(at + 1).map_err(&get)?,
        parent: r.get(at + 2).map_err(&get)?,
        owner: owner
            .map(|o| o.parse::<UserId>().map_err(|_| corrupt("owner id")))
            .transpose()?,
        lookup: r.get(at + 4).map_err(&get)?,
        expires_at: expires_at.map(Timestamp::from_unix_millis),
        version: version_from(version)?,
        body: r.get(at + 7).map_err(&get)?,
        sealed: r.get(at + 8).map_err(&get)?,
        tag: tag_from(tag)?,
    })
}

const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, target, source, outcome, details, prev_hash, hash";

fn decode_audit(tenant: TenantId, r: &rusqlite::Row<'_>) -> Result<AuditRecord> {
    let get = db("read an audit event");
    let seq: i64 = r.get(0).map_err(&get)?;
    let actor: String = r.get(2).map_err(&get)?;
    let outcome: String = r.get(6).map_err(&get)?;
    let details: String = r.get(7).map_err(&get)?;
    let prev_hash: Vec<u8> = r.get(8).map_err(&get)?;
    let hash: Vec<u8> = r.get(9).map_err(&get)?;
    let hash32 = |v: Vec<u8>| <[u8; 32]>::try_from(v).map_err(|_| corrupt("audit hash"));
    Ok(AuditRecord {
        tenant,
        seq: u64::try_from(seq).map_err(|_| corrupt("audit sequence number"))?,
        event: AuditDraft {
            actor: actor.parse::<Actor>().map_err(|_| corrupt("audit actor"))?,
            action: r.get(3).map_err(&get)?,
            target: r.get(4).map_err(&get)?,
            source: r.get(5).map_err(&get)?,
            outcome: Outcome::parse(&outcome).map_err(|_| corrupt("audit outcome"))?,
            at: Timestamp::from_unix_millis(r.get(1).map_err(&get)?),
            details: serde_json::from_str::<BTreeMap<String, String>>(&details)
                .map_err(|_| corrupt("audit details"))?,
        },
        prev_hash: hash32(prev_hash)?,
        hash: hash32(hash)?,
    })
}

// ---------------------------------------------------------------------------
// Reads.

pub(super) fn tenant(conn: &Connection, id: TenantId) -> Result<Option<Tenant>> {
    let mut stmt = conn
        .prepare_cached(SELECT_TENANT)
        .map_err(db("read a tenant"))?;
    let found: Option<(i64, Vec<u8>)> = stmt
        .query_row([id.as_bytes().as_slice()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db("read a tenant"))?;
    found
        .map(|(v, body)| decode_tenant(id, v, &body))
        .transpose()
}

pub(super) fn tenants(conn: &Connection, after: Option<TenantId>, n: usize) -> Result<Vec<Tenant>> {
    let sql = [
        "SELECT id, version, body FROM tenants ORDER BY id LIMIT ?1",
        "SELECT id, version, body FROM tenants WHERE id > ?2 ORDER BY id LIMIT ?1",
    ];
    tenant_page(conn, sql, after, n, |id, r| {
        let version: i64 = r.get(1).map_err(db("list tenants"))?;
        let body: Vec<u8> = r.get(2).map_err(db("list tenants"))?;
        decode_tenant(id, version, &body)
    })
}

/// One page of the `tenants` table in id order, after `after`: `sql` is the
/// query without and with the `id > ?2` bound, its first column the id;
/// `read` turns each row (and its parsed id) into an item.
fn tenant_page<T>(
    conn: &Connection,
    sql: [&str; 2],
    after: Option<TenantId>,
    n: usize,
    mut read: impl FnMut(TenantId, &rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let [first, next] = sql;
    let mut stmt = conn
        .prepare_cached(if after.is_some() { next } else { first })
        .map_err(db("list tenants"))?;
    let mut params = vec![Value::Integer(limit(n))];
    if let Some(a) = after {
        params.push(Value::Blob(a.as_bytes().to_vec()));
    }
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(db("list tenants"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db("list tenants"))? {
        let id: Vec<u8> = r.get(0).map_err(db("list tenants"))?;
        let id = TenantId::from_slice(&id).map_err(|_| corrupt("tenant id"))?;
        out.push(read(id, r)?);
    }
    Ok(out)
}

pub(super) fn get(
    conn: &Connection,
    tenant: TenantId,
    kind: Kind,
    id: &str,
) -> Result<Option<Row>> {
    let mut stmt = conn
        .prepare_cached(table(kind).get)
        .map_err(db("read a row"))?;
    let mut rows = stmt
        .query(params![tenant.as_bytes().as_slice(), kind.as_str(), id])
        .map_err(db("read a row"))?;
    rows.next()
        .map_err(db("read a row"))?
        .map(decode_row)
        .transpose()
}

pub(super) fn get_by_lookup(
    conn: &Connection,
    tenant: TenantId,
    kind: Kind,
    lookup: &[u8],
) -> Result<Option<Row>> {
    let mut stmt = conn
        .prepare_cached(table(kind).by_lookup)
        .map_err(db("read a row by lookup key"))?;
    let mut rows = stmt
        .query(params![
            kind.as_str(),
            scope_bytes(&tenant, kind),
            lookup,
            tenant.as_bytes().as_slice()
        ])
        .map_err(db("read a row by lookup key"))?;
    rows.next()
        .map_err(db("read a row by lookup key"))?
        .map(decode_row)
        .transpose()
}

/// The tenant the directory names for `(kind, lookup)`. Only for kinds
/// with a global lookup key (the caller checks).
pub(super) fn directory_lookup(
    conn: &Connection,
    kind: Kind,
    lookup: &[u8],
) -> Result<Option<TenantId>> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached(DIRECTORY_LOOKUP)
        .map_err(db("read the directory"))?
        .query_row(params![kind.as_str(), lookup], |r| r.get(0))
        .optional()
        .map_err(db("read the directory"))?;
    found
        .map(|t| TenantId::from_slice(&t).map_err(|_| corrupt("tenant id")))
        .transpose()
}

/// The directory entry of a lookup key: the tenant holding it.
pub(super) const DIRECTORY_LOOKUP: &str =
    "SELECT tenant_id FROM lookup_directory WHERE kind = ?1 AND lookup = ?2";

/// Tenant ids in ascending order (the `tenants` table is SQLite's tenant
/// directory: one row per tenant, its id the key).
pub(super) fn directory_tenants(
    conn: &Connection,
    after: Option<TenantId>,
    n: usize,
) -> Result<Vec<TenantId>> {
    let sql = [
        "SELECT id FROM tenants ORDER BY id LIMIT ?1",
        "SELECT id FROM tenants WHERE id > ?2 ORDER BY id LIMIT ?1",
    ];
    tenant_page(conn, sql, after, n, |id, _| Ok(id))
}

/// The row holding a global lookup key, and its tenant, in one indexed
/// read. Only for kinds with a global lookup key (the caller checks).
///
/// It reads `records` by its unique index `(kind, lookup_scope, lookup)`,
/// which for these kinds holds exactly the directory's entries (both are
/// written in the same transaction, and the conformance suite checks that
/// this agrees with `directory_lookup`): the same answer as the provided
/// `Store::find_by_lookup`, without its second probe, on the hot path of
/// every token authentication.
pub(super) fn find_by_lookup(
    conn: &Connection,
    kind: Kind,
    lookup: &[u8],
) -> Result<Option<(TenantId, Row)>> {
    const SQL: &str = concat!(
        "SELECT tenant_id, ",
        row_columns!(),
        " FROM records WHERE kind = ?1 AND lookup_scope = X'' AND lookup = ?2"
    );
    let mut stmt = conn
        .prepare_cached(SQL)
        .map_err(db("find a row by lookup key"))?;
    let mut rows = stmt
        .query(params![kind.as_str(), lookup])
        .map_err(db("find a row by lookup key"))?;
    let Some(r) = rows.next().map_err(db("find a row by lookup key"))? else {
        return Ok(None);
    };
    let tenant: Vec<u8> = r.get(0).map_err(db("find a row by lookup key"))?;
    let tenant = TenantId::from_slice(&tenant).map_err(|_| corrupt("tenant id"))?;
    Ok(Some((tenant, decode_row_at(r, 1)?)))
}

/// The statement of `q` over its kind's table from `select` (a `SELECT`
/// with the tenant and kind conditions), with its filters, and its values.
fn filtered(select: &str, tenant: TenantId, q: &ListQuery) -> (String, Vec<Value>) {
    let mut sql = String::from(select);
    let mut params = vec![
        Value::Blob(tenant.as_bytes().to_vec()),
        Value::Text(q.kind.as_str().to_owned()),
    ];
    if let Some(p) = &q.parent {
        sql.push_str(" AND parent = ?");
        params.push(Value::Text(p.clone()));
    }
    if let Some(o) = q.owner {
        sql.push_str(" AND owner_id = ?");
        params.push(Value::Text(o.to_string()));
    }
    if let Some(t) = q.expires_before {
        sql.push_str(" AND expires_at IS NOT NULL AND expires_at < ?");
        params.push(Value::Integer(t.unix_millis()));
    }
    if let Some(k) = q.sealed_not_under {
        sql.push_str(" AND key_id IS NOT NULL AND key_id <> ?");
        params.push(Value::Integer(i64::from(k.get())));
    }
    if let Some(a) = &q.after {
        sql.push_str(" AND id > ?");
        params.push(Value::Text(a.clone()));
    }
    (sql, params)
}

pub(super) fn list(conn: &Connection, tenant: TenantId, q: &ListQuery) -> Result<Vec<Row>> {
    let (mut sql, mut params) = filtered(table(q.kind).list, tenant, q);
    sql.push_str(" ORDER BY id LIMIT ?");
    params.push(Value::Integer(limit(q.effective_limit())));

    let mut stmt = conn.prepare_cached(&sql).map_err(db("list rows"))?;
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(db("list rows"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db("list rows"))? {
        out.push(decode_row(r)?);
    }
    Ok(out)
}

pub(super) fn count(conn: &Connection, tenant: TenantId, q: &ListQuery) -> Result<u64> {
    let (sql, params) = filtered(table(q.kind).count, tenant, q);
    let n: i64 = conn
        .prepare_cached(&sql)
        .map_err(db("count rows"))?
        .query_row(params_from_iter(params), |r| r.get(0))
        .map_err(db("count rows"))?;
    u64::try_from(n).map_err(|_| corrupt("row count"))
}

pub(super) fn audit_events(
    conn: &Connection,
    tenant: TenantId,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>> {
    let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE tenant_id = ?");
    let mut params = vec![Value::Blob(tenant.as_bytes().to_vec())];
    if let Some(s) = q.after_seq {
        // Sequence numbers are stored as i64: none is after one beyond it.
        let Ok(s) = i64::try_from(s) else {
            return Ok(Vec::new());
        };
        sql.push_str(" AND seq > ?");
        params.push(Value::Integer(s));
    }
    if let Some(a) = &q.actor {
        sql.push_str(" AND actor = ?");
        params.push(Value::Text(a.to_string()));
    }
    if let Some(a) = &q.action {
        sql.push_str(" AND action = ?");
        params.push(Value::Text(a.clone()));
    }
    if let Some(t) = &q.target {
        sql.push_str(" AND target = ?");
        params.push(Value::Text(t.clone()));
    }
    if let Some(f) = q.from {
        sql.push_str(" AND at >= ?");
        params.push(Value::Integer(f.unix_millis()));
    }
    if let Some(u) = q.until {
        sql.push_str(" AND at < ?");
        params.push(Value::Integer(u.unix_millis()));
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    params.push(Value::Integer(limit(q.effective_limit())));

    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(db("read the audit log"))?;
    let mut rows = stmt
        .query(params_from_iter(params))
        .map_err(db("read the audit log"))?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db("read the audit log"))? {
        out.push(decode_audit(tenant, r)?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Store-wide settings.

pub(super) fn meta(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT value FROM meta WHERE name = ?1")
        .map_err(db("read a store setting"))?
        .query_row([name], |r| r.get(0))
        .optional()
        .map_err(db("read a store setting"))
}

/// Compare-and-set of a store setting (inside a write transaction).
pub(super) fn set_meta(
    conn: &Connection,
    name: &str,
    value: &[u8],
    expected: Option<&[u8]>,
) -> Result<bool> {
    if meta(conn, name)?.as_deref() != expected {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .map_err(db("write a store setting"))?
    .execute(params![name, value])
    .map_err(db("write a store setting"))?;
    Ok(true)
}
