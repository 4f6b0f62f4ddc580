//! The SQL: statements, row encoding and decoding, and the per-change logic
//! of a batch. Every function here runs on a blocking thread, inside a
//! transaction when it writes.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params, params_from_iter};

use crate::audit::{Actor, AuditDraft, AuditRecord, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::store::{AuditQuery, Change, Kind, ListQuery, MAX_PAGE, Row, Tenant};

/// A rusqlite error as [`Error::Store`], saying what was being done. The
/// message carries SQLite's own text (which names tables, columns and
/// constraints, never bound values) and no rusqlite detail that could echo
/// a stored value.
pub(super) fn db(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::Store(describe(context, &e))
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

fn corrupt(what: &str) -> Error {
    Error::Store(format!(
        "the database holds a malformed {what}; restore it from a backup"
    ))
}

fn version_from(v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| corrupt("version"))
}

fn version_to(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Store("a version outgrew SQLite's integers".into()))
}

fn limit(n: usize) -> i64 {
    i64::try_from(n.min(MAX_PAGE)).unwrap_or(i64::MAX)
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
struct TableSql {
    get: &'static str,
    version: &'static str,
    by_lookup: &'static str,
    lookup_holder: &'static str,
    insert: &'static str,
    update: &'static str,
    delete: &'static str,
    list: &'static str,
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
            version: concat!(
                "SELECT version FROM ",
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
                "SELECT tenant_id, id FROM ",
                $t,
                " WHERE kind = ?1 AND lookup_scope = ?2 AND lookup = ?3"
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
                " key_id = ?12, tag = ?13 WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3"
            ),
            delete: concat!(
                "DELETE FROM ",
                $t,
                " WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3"
            ),
            list: concat!(
                "SELECT ",
                row_columns!(),
                " FROM ",
                $t,
                " WHERE tenant_id = ? AND kind = ?"
            ),
        }
    };
}

const USERS: TableSql = table_sql!("users");
const RECORDS: TableSql = table_sql!("records");

fn table(kind: Kind) -> &'static TableSql {
    if kind == Kind::User { &USERS } else { &RECORDS }
}

/// The bytes stored in `lookup_scope` for a row of `kind` in `tenant`: the
/// tenant for per-tenant lookup keys, empty for global ones (see the schema).
fn scope_bytes(tenant: &TenantId, kind: Kind) -> &[u8] {
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
        tag: tag
            .map(|t| <[u8; 32]>::try_from(t).map_err(|_| corrupt("row tag")))
            .transpose()?,
    })
}

fn decode_tenant(id: TenantId, version: i64, body: &[u8]) -> Result<Tenant> {
    let mut t: Tenant = serde_json::from_slice(body).map_err(|_| corrupt("tenant record"))?;
    if t.id != id {
        return Err(corrupt("tenant record"));
    }
    t.version = version_from(version)?;
    Ok(t)
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
    let sql = if after.is_some() {
        "SELECT id, version, body FROM tenants WHERE id > ?2 ORDER BY id LIMIT ?1"
    } else {
        "SELECT id, version, body FROM tenants ORDER BY id LIMIT ?1"
    };
    let mut stmt = conn.prepare_cached(sql).map_err(db("list tenants"))?;
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
        let version: i64 = r.get(1).map_err(db("list tenants"))?;
        let body: Vec<u8> = r.get(2).map_err(db("list tenants"))?;
        let id = TenantId::from_slice(&id).map_err(|_| corrupt("tenant id"))?;
        out.push(decode_tenant(id, version, &body)?);
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

/// Only for kinds with a global lookup key (the caller checks).
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

pub(super) fn list(conn: &Connection, tenant: TenantId, q: &ListQuery) -> Result<Vec<Row>> {
    let mut sql = String::from(table(q.kind).list);
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
// Writes. Each mirrors the in-memory reference backend check for check, so
// both report the same error for the same situation.

fn tenant_version(conn: &Connection, tenant: TenantId) -> Result<Option<u64>> {
    let mut stmt = conn
        .prepare_cached("SELECT version FROM tenants WHERE id = ?1")
        .map_err(db("read a tenant"))?;
    stmt.query_row([tenant.as_bytes().as_slice()], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(db("read a tenant"))?
        .map(version_from)
        .transpose()
}

fn require_tenant(conn: &Connection, tenant: TenantId) -> Result<u64> {
    tenant_version(conn, tenant)?.ok_or_else(|| Error::not_found("tenant", tenant))
}

fn row_version(conn: &Connection, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<u64>> {
    let mut stmt = conn
        .prepare_cached(table(kind).version)
        .map_err(db("read a row version"))?;
    stmt.query_row(
        params![tenant.as_bytes().as_slice(), kind.as_str(), id],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map_err(db("read a row version"))?
    .map(version_from)
    .transpose()
}

/// The reference backend's `check_row`: the tenant exists, the owner is a
/// user of the tenant, and the lookup key is not held by another row.
fn check_row(conn: &Connection, tenant: TenantId, row: &Row) -> Result<()> {
    require_tenant(conn, tenant)?;
    if let Some(owner) = row.owner
        && row_version(conn, tenant, Kind::User, &owner.to_string())?.is_none()
    {
        return Err(Error::not_found("user", owner));
    }
    if let Some(lookup) = &row.lookup {
        let mut stmt = conn
            .prepare_cached(table(row.kind).lookup_holder)
            .map_err(db("check a lookup key"))?;
        let holder: Option<(Vec<u8>, String)> = stmt
            .query_row(
                params![row.kind.as_str(), scope_bytes(&tenant, row.kind), lookup],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db("check a lookup key"))?;
        if holder.is_some_and(|(t, i)| t.as_slice() != tenant.as_bytes().as_slice() || i != row.id)
        {
            return Err(lookup_taken(row));
        }
    }
    Ok(())
}

fn lookup_taken(row: &Row) -> Error {
    Error::AlreadyExists {
        what: format!("{} lookup key", row.kind),
        id: row.id.clone(),
    }
}

/// Inserts (`insert = true`) or replaces a row at `version`.
fn write_row(
    conn: &Connection,
    tenant: TenantId,
    row: &Row,
    version: u64,
    insert: bool,
) -> Result<()> {
    let t = table(row.kind);
    let sql = if insert { t.insert } else { t.update };
    let key_id = row.sealed_key()?.map(|k| i64::from(k.get()));
    let scope = row.lookup.as_ref().map(|_| scope_bytes(&tenant, row.kind));
    let mut stmt = conn.prepare_cached(sql).map_err(db("write a row"))?;
    stmt.execute(params![
        tenant.as_bytes().as_slice(),
        row.kind.as_str(),
        row.id,
        row.parent,
        row.owner.map(|o| o.to_string()),
        scope,
        row.lookup,
        row.expires_at.map(Timestamp::unix_millis),
        version_to(version)?,
        row.body,
        row.sealed,
        key_id,
        row.tag.as_ref().map(<[u8; 32]>::as_slice),
    ])
    .map_err(|e| {
        // The checks before make these unreachable; should one slip through
        // anyway, report it as the reference backend would.
        match constraint(&e) {
            Some(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE) => lookup_taken(row),
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
    })?;
    Ok(())
}

/// The extended code of a constraint violation.
fn constraint(e: &rusqlite::Error) -> Option<std::ffi::c_int> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            Some(f.extended_code)
        }
        _ => None,
    }
}

fn tenant_body(t: &Tenant) -> Result<Vec<u8>> {
    serde_json::to_vec(t).map_err(|_| Error::Store("could not serialize a tenant".into()))
}

/// Applies one change of a batch (inside the batch's transaction).
pub(super) fn apply_change(conn: &Connection, tenant: TenantId, change: Change) -> Result<()> {
    match change {
        Change::CreateTenant(mut t) => {
            if tenant_version(conn, tenant)?.is_some() {
                return Err(Error::AlreadyExists {
                    what: "tenant".into(),
                    id: tenant.to_string(),
                });
            }
            t.version = 1;
            conn.prepare_cached("INSERT INTO tenants (id, version, body) VALUES (?1, 1, ?2)")
                .map_err(db("create a tenant"))?
                .execute(params![tenant.as_bytes().as_slice(), tenant_body(&t)?])
                .map_err(db("create a tenant"))?;
        }
        Change::UpdateTenant {
            tenant: mut t,
            expected_version,
        } => {
            let found = require_tenant(conn, tenant)?;
            if found != expected_version {
                return Err(Error::conflict("tenant", tenant, expected_version, found));
            }
            t.version = found + 1;
            conn.prepare_cached("UPDATE tenants SET version = ?2, body = ?3 WHERE id = ?1")
                .map_err(db("update a tenant"))?
                .execute(params![
                    tenant.as_bytes().as_slice(),
                    version_to(t.version)?,
                    tenant_body(&t)?
                ])
                .map_err(db("update a tenant"))?;
        }
        Change::Insert(row) => {
            check_row(conn, tenant, &row)?;
            if row_version(conn, tenant, row.kind, &row.id)?.is_some() {
                return Err(Error::AlreadyExists {
                    what: row.kind.to_string(),
                    id: row.id,
                });
            }
            write_row(conn, tenant, &row, 1, true)?;
        }
        Change::Update {
            row,
            expected_version,
        } => {
            require_tenant(conn, tenant)?;
            let found = row_version(conn, tenant, row.kind, &row.id)?
                .ok_or_else(|| Error::not_found(row.kind.as_str(), &row.id))?;
            if found != expected_version {
                return Err(Error::conflict(
                    row.kind.as_str(),
                    &row.id,
                    expected_version,
                    found,
                ));
            }
            check_row(conn, tenant, &row)?;
            write_row(conn, tenant, &row, found + 1, false)?;
        }
        Change::Delete {
            kind,
            id,
            expected_version,
        } => {
            require_tenant(conn, tenant)?;
            let found = row_version(conn, tenant, kind, &id)?
                .ok_or_else(|| Error::not_found(kind.as_str(), &id))?;
            if let Some(expected) = expected_version
                && found != expected
            {
                return Err(Error::conflict(kind.as_str(), &id, expected, found));
            }
            if kind == Kind::User {
                // Explicitly, rather than through the foreign key's cascade,
                // so it holds whatever the connection's pragmas.
                conn.prepare_cached("DELETE FROM records WHERE tenant_id = ?1 AND owner_id = ?2")
                    .map_err(db("delete a user's rows"))?
                    .execute(params![tenant.as_bytes().as_slice(), id])
                    .map_err(db("delete a user's rows"))?;
            }
            conn.prepare_cached(table(kind).delete)
                .map_err(db("delete a row"))?
                .execute(params![tenant.as_bytes().as_slice(), kind.as_str(), id])
                .map_err(db("delete a row"))?;
        }
    }
    Ok(())
}

/// The batch's audit record, numbered and chained to the tenant's last
/// event, with `hash` not yet set.
pub(super) fn next_audit(
    conn: &Connection,
    tenant: TenantId,
    event: AuditDraft,
) -> Result<AuditRecord> {
    require_tenant(conn, tenant)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_events WHERE tenant_id = ?1 ORDER BY seq DESC LIMIT 1",
        )
        .map_err(db("read the audit log head"))?;
    let last: Option<(i64, Vec<u8>)> = stmt
        .query_row([tenant.as_bytes().as_slice()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db("read the audit log head"))?;
    let (seq, prev_hash) = match last {
        None => (1, [0; 32]),
        Some((seq, hash)) => {
            let seq = u64::try_from(seq)
                .ok()
                .and_then(|s| s.checked_add(1))
                .ok_or_else(|| corrupt("audit sequence number"))?;
            let hash = <[u8; 32]>::try_from(hash).map_err(|_| corrupt("audit hash"))?;
            (seq, hash)
        }
    };
    Ok(AuditRecord {
        tenant,
        seq,
        event,
        prev_hash,
        hash: [0; 32],
    })
}

/// Stores a linked audit record.
pub(super) fn insert_audit(conn: &Connection, r: &AuditRecord) -> Result<()> {
    let details = serde_json::to_string(&r.event.details)
        .map_err(|_| Error::Store("could not serialize audit details".into()))?;
    let seq = i64::try_from(r.seq).map_err(|_| corrupt("audit sequence number"))?;
    conn.prepare_cached(
        "INSERT INTO audit_events (tenant_id, seq, at, actor, action, target, source, outcome,
             details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(db("write an audit event"))?
    .execute(params![
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
    ])
    .map_err(db("write an audit event"))?;
    Ok(())
}

/// Deletes a tenant and everything it owns (inside a transaction).
pub(super) fn erase_tenant(conn: &Connection, tenant: TenantId) -> Result<()> {
    let t = self::tenant(conn, tenant)?.ok_or_else(|| Error::not_found("tenant", tenant))?;
    if t.deletion_protection {
        return Err(Error::DeletionProtected {
            tenant: tenant.to_string(),
        });
    }
    // Children first and explicitly, rather than through the cascades, so
    // the erasure does not depend on the connection's pragmas.
    for sql in [
        "DELETE FROM records WHERE tenant_id = ?1",
        "DELETE FROM users WHERE tenant_id = ?1",
        "DELETE FROM audit_events WHERE tenant_id = ?1",
        "DELETE FROM tenants WHERE id = ?1",
    ] {
        conn.prepare_cached(sql)
            .map_err(db("erase a tenant"))?
            .execute([tenant.as_bytes().as_slice()])
            .map_err(db("erase a tenant"))?;
    }
    Ok(())
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
