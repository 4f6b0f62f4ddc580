//! The SQL of the PostgreSQL store: every statement (built once per store
//! for its schema), row decoding, and how driver errors become this crate's
//! errors. Nothing here checks a rule.

use std::collections::BTreeMap;

use tokio_postgres::types::{ToSql, Type};

use crate::audit::{Actor, AuditDraft, AuditRecord, Outcome};
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::{TenantId, UserId};
use crate::store::{Credential, Kind, Row};

/// The columns of a row, in the order [`decode_row`] reads them.
pub(super) const ROW_COLUMNS: &str =
    "kind, id, parent, owner_id, lookup, expires_at, version, body, sealed, tag";

/// The columns of an audit event, in the order [`decode_audit`] reads them.
pub(super) const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, target, source, outcome, details, prev_hash, hash";

/// The first statement of every transaction that touches tenant rows: the
/// tenant context, transaction-local (`is_local = true`), as a bound
/// parameter. Never a session-level `SET`: the setting ends with the
/// transaction, so a pooled connection carries no tenant into its next use.
pub(super) const SET_TENANT: &str = "SELECT set_config('app.tenant', $1, true)";

/// [`SET_TENANT`], and generic plans for the rest of the transaction: the
/// context statement of the prepared mode, for transactions whose
/// statements have the same best plan whatever their values (an equality
/// on every leading column of a tenant-leading index, an order that index
/// gives). Still one statement, transaction-local (ends with the
/// transaction, works behind PgBouncer in transaction mode).
///
/// Why: by default the server plans such a prepared statement again at
/// every execution (its cost model prefers the custom plan:
/// `pg_prepared_statements` shows no generic plan ever chosen), and under
/// row-level security that planning also expands the policy and derives
/// its gate. With pgbench (5 tenants, text results, interleaved) a page of
/// 100 rows cost +32% under RLS with custom plans and +3-6% with generic
/// plans, both sides 35-50% faster; the Rust bench's page (one tenant's
/// rows, binary results) did not move, its RLS cost is in execution (see
/// benches/README.md, session 7). The policy is unchanged and is still
/// decided when the plan runs: the generic plan keeps the policy's
/// expression as a one-time filter evaluated at each execution against
/// the transaction's `app.tenant` (tests/postgres: a generic plan made in
/// one tenant binds the next).
pub(super) const SET_TENANT_GENERIC: &str = "SELECT set_config('app.tenant', $1, true), \
     set_config('plan_cache_mode', 'force_generic_plan', true)";

/// The statements of one row table (`users` or `records`).
#[derive(Debug)]
pub(super) struct TableSql {
    pub(super) get: String,
    pub(super) head: String,
    pub(super) by_lookup: String,
    pub(super) lookup_holder: String,
    pub(super) insert: String,
    pub(super) update: String,
    pub(super) delete: String,
    pub(super) list: String,
    pub(super) count: String,
}

impl TableSql {
    fn new(schema: &str, table: &str) -> Self {
        let t = format!("{schema}.{table}");
        Self {
            get: format!(
                "SELECT {ROW_COLUMNS} FROM {t} WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            ),
            head: format!(
                "SELECT version, lookup FROM {t} WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            ),
            by_lookup: format!(
                "SELECT {ROW_COLUMNS} FROM {t} WHERE tenant_id = $1 AND kind = $2 AND lookup = $3"
            ),
            lookup_holder: format!(
                "SELECT id FROM {t} WHERE tenant_id = $1 AND kind = $2 AND lookup = $3"
            ),
            insert: format!(
                "INSERT INTO {t} (tenant_id, kind, id, parent, owner_id, lookup, expires_at, \
                 version, body, sealed, key_id, tag) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            ),
            update: format!(
                "UPDATE {t} SET parent = $4, owner_id = $5, lookup = $6, expires_at = $7, \
                 version = $8, body = $9, sealed = $10, key_id = $11, tag = $12 \
                 WHERE tenant_id = $1 AND kind = $2 AND id = $3 AND version = $13"
            ),
            delete: format!(
                "DELETE FROM {t} WHERE tenant_id = $1 AND kind = $2 AND id = $3 AND version = $4"
            ),
            list: format!("SELECT {ROW_COLUMNS} FROM {t} WHERE tenant_id = $1 AND kind = $2"),
            count: format!("SELECT count(*) FROM {t} WHERE tenant_id = $1 AND kind = $2"),
        }
    }
}

/// Every statement of a store, with its schema name in place.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) schema: String,
    /// Statements are prepared and cached per connection (else unprepared).
    pub(super) prepared: bool,
    pub(super) users: TableSql,
    pub(super) records: TableSql,
    pub(super) tenant: String,
    pub(super) tenant_for_update: String,
    pub(super) insert_tenant: String,
    pub(super) insert_tenant_directory: String,
    pub(super) update_tenant: String,
    pub(super) owned: String,
    pub(super) directory_lookup: String,
    /// `find_credential(kind, lookup, owner, tenant)`: see
    /// [`decode_credential`] for its columns.
    pub(super) find_credential: String,
    pub(super) directory_insert: String,
    pub(super) directory_remove: String,
    pub(super) directory_tenants_first: String,
    pub(super) directory_tenants_after: String,
    pub(super) audit_head: String,
    pub(super) audit_insert: String,
    pub(super) audit_list: String,
    pub(super) erase: Vec<String>,
    pub(super) meta: String,
    pub(super) meta_insert: String,
    pub(super) meta_update: String,
}

impl Sql {
    /// The statements for the (already checked) schema name `s`.
    pub(super) fn new(s: &str, prepared: bool) -> Self {
        Self {
            schema: s.to_owned(),
            prepared,
            users: TableSql::new(s, "users"),
            records: TableSql::new(s, "records"),
            tenant: format!("SELECT version, body FROM {s}.tenants WHERE id = $1"),
            // The tenant's row lock: every apply takes it first, so the
            // batches of one tenant run one after the other (gapless audit
            // sequence numbers) while other tenants' batches run in parallel.
            tenant_for_update: format!(
                "SELECT version, body FROM {s}.tenants WHERE id = $1 FOR UPDATE"
            ),
            insert_tenant: format!(
                "INSERT INTO {s}.tenants (id, version, body) VALUES ($1, $2, $3)"
            ),
            insert_tenant_directory: format!("INSERT INTO {s}.tenant_directory (id) VALUES ($1)"),
            update_tenant: format!("UPDATE {s}.tenants SET version = $2, body = $3 WHERE id = $1"),
            owned: format!(
                "SELECT kind, id, version, lookup FROM {s}.records \
                 WHERE tenant_id = $1 AND owner_id = $2"
            ),
            directory_lookup: format!(
                "SELECT tenant_id FROM {s}.lookup_directory WHERE kind = $1 AND lookup = $2"
            ),
            find_credential: format!("SELECT * FROM {s}.find_credential($1, $2, $3, $4)"),
            directory_insert: format!(
                "INSERT INTO {s}.lookup_directory (kind, lookup, tenant_id) VALUES ($1, $2, $3)"
            ),
            directory_remove: format!(
                "DELETE FROM {s}.lookup_directory \
                 WHERE kind = $1 AND lookup = $2 AND tenant_id = $3"
            ),
            directory_tenants_first: format!(
                "SELECT id FROM {s}.tenant_directory ORDER BY id LIMIT $1"
            ),
            directory_tenants_after: format!(
                "SELECT id FROM {s}.tenant_directory WHERE id > $2 ORDER BY id LIMIT $1"
            ),
            audit_head: format!(
                "SELECT seq, hash FROM {s}.audit_events WHERE tenant_id = $1 \
                 ORDER BY seq DESC LIMIT 1"
            ),
            audit_insert: format!(
                "INSERT INTO {s}.audit_events (tenant_id, seq, at, actor, action, target, \
                 source, outcome, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            audit_list: format!(
                "SELECT {AUDIT_COLUMNS} FROM {s}.audit_events WHERE tenant_id = $1"
            ),
            // Children first and explicitly, rather than through the
            // cascades, as SQLite does.
            erase: vec![
                format!("DELETE FROM {s}.lookup_directory WHERE tenant_id = $1"),
                format!("DELETE FROM {s}.records WHERE tenant_id = $1"),
                format!("DELETE FROM {s}.users WHERE tenant_id = $1"),
                format!("DELETE FROM {s}.audit_events WHERE tenant_id = $1"),
                format!("DELETE FROM {s}.tenant_directory WHERE id = $1"),
                format!("DELETE FROM {s}.tenants WHERE id = $1"),
            ],
            meta: format!("SELECT value FROM {s}.meta WHERE name = $1"),
            meta_insert: format!(
                "INSERT INTO {s}.meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
            ),
            meta_update: format!("UPDATE {s}.meta SET value = $2 WHERE name = $1 AND value = $3"),
        }
    }

    /// The context statement of a transaction planned as `plans` says:
    /// generic plans only in the prepared mode.
    pub(super) fn set_tenant(&self, plans: super::Plans) -> &'static str {
        if self.prepared && plans == super::Plans::Generic {
            SET_TENANT_GENERIC
        } else {
            SET_TENANT
        }
    }

    /// The statements of the table that holds rows of `kind`.
    pub(super) fn table(&self, kind: Kind) -> &TableSql {
        if kind == Kind::User {
            &self.users
        } else {
            &self.records
        }
    }
}

/// A driver error as [`Error::Storage`], saying what was being done. The
/// message carries the server's SQLSTATE and message (which name tables,
/// columns and constraints; the server's `DETAIL`, which may echo a value,
/// is left out) and never a bound value.
pub(super) fn db(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| {
        let message = match e.as_db_error() {
            Some(d) => format!(
                "could not {context}: {} (SQLSTATE {})",
                d.message(),
                d.code().code()
            ),
            None if e.is_closed() => {
                format!("could not {context}: the connection to PostgreSQL is closed")
            }
            None => format!("could not {context}: {}", short(&e)),
        };
        Error::storage_from(message, e)
    }
}

/// The driver's own text of a non-server error (I/O, TLS, protocol).
fn short(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match e.source() {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

pub(super) use crate::store::columns::{corrupt, decode_tenant, limit, tag_from, version_from};

pub(super) fn version_to(v: u64) -> Result<i64> {
    crate::store::columns::version_to(v, "PostgreSQL's bigint")
}

/// A tenant id as the `uuid` the server stores.
pub(super) fn uuid(t: TenantId) -> uuid::Uuid {
    *t.as_uuid()
}

/// Reads column `i` of `r`, as a storage error if it has the wrong type.
pub(super) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    r: &'a tokio_postgres::Row,
    i: usize,
    doing: &'static str,
) -> Result<T> {
    r.try_get(i).map_err(db(doing))
}

/// Decodes [`ROW_COLUMNS`] starting at column 0.
pub(super) fn decode_row(r: &tokio_postgres::Row) -> Result<Row> {
    decode_row_at(r, 0)
}

/// Decodes [`ROW_COLUMNS`] starting at column `at`.
pub(super) fn decode_row_at(r: &tokio_postgres::Row, at: usize) -> Result<Row> {
    const D: &str = "read a row";
    let kind: String = col(r, at, D)?;
    let owner: Option<String> = col(r, at + 3, D)?;
    let expires_at: Option<i64> = col(r, at + 5, D)?;
    let version: i64 = col(r, at + 6, D)?;
    let tag: Option<Vec<u8>> = col(r, at + 9, D)?;
    Ok(Row {
        kind: Kind::parse(&kind).map_err(|_| corrupt("row kind"))?,
        id: col(r, at + 1, D)?,
        parent: col(r, at + 2, D)?,
        owner: owner
            .map(|o| o.parse::<UserId>().map_err(|_| corrupt("owner id")))
            .transpose()?,
        lookup: col(r, at + 4, D)?,
        expires_at: expires_at.map(Timestamp::from_unix_millis),
        version: version_from(version)?,
        body: col(r, at + 7, D)?,
        sealed: col(r, at + 8, D)?,
        tag: tag_from(tag)?,
    })
}

/// Decodes a row of `find_credential` ([`Sql::find_credential`]): the
/// tenant id, the credential's [`ROW_COLUMNS`], its owner's (all NULL when
/// not asked for or not found), and the tenant's version and body (NULL
/// likewise).
pub(super) fn decode_credential(r: &tokio_postgres::Row) -> Result<Credential> {
    const D: &str = "read a credential";
    const ROW: usize = 1;
    const OWNER: usize = ROW + 10;
    const TENANT: usize = OWNER + 10;
    let tenant = TenantId::from_uuid(col::<uuid::Uuid>(r, 0, D)?);
    let row = decode_row_at(r, ROW)?;
    // The owner's kind is NOT NULL in `users`: NULL means no owner row.
    let owner = match col::<Option<String>>(r, OWNER, D)? {
        Some(_) => Some(decode_row_at(r, OWNER)?),
        None => None,
    };
    let tenant_version: Option<i64> = col(r, TENANT, D)?;
    let tenant_body: Option<Vec<u8>> = col(r, TENANT + 1, D)?;
    let tenant_record = match (tenant_version, tenant_body) {
        (Some(version), Some(body)) => Some(decode_tenant(tenant, version, &body)?),
        _ => None,
    };
    Ok(Credential::new(tenant, row, owner, tenant_record))
}

/// Decodes [`AUDIT_COLUMNS`].
pub(super) fn decode_audit(tenant: TenantId, r: &tokio_postgres::Row) -> Result<AuditRecord> {
    const D: &str = "read an audit event";
    let seq: i64 = col(r, 0, D)?;
    let actor: String = col(r, 2, D)?;
    let outcome: String = col(r, 6, D)?;
    let details: String = col(r, 7, D)?;
    let prev_hash: Vec<u8> = col(r, 8, D)?;
    let hash: Vec<u8> = col(r, 9, D)?;
    let hash32 = |v: Vec<u8>| <[u8; 32]>::try_from(v).map_err(|_| corrupt("audit hash"));
    Ok(AuditRecord {
        tenant,
        seq: u64::try_from(seq).map_err(|_| corrupt("audit sequence number"))?,
        event: AuditDraft {
            actor: actor.parse::<Actor>().map_err(|_| corrupt("audit actor"))?,
            action: col(r, 3, D)?,
            target: col(r, 4, D)?,
            source: col(r, 5, D)?,
            outcome: Outcome::parse(&outcome).map_err(|_| corrupt("audit outcome"))?,
            at: Timestamp::from_unix_millis(col(r, 1, D)?),
            details: serde_json::from_str::<BTreeMap<String, String>>(&details)
                .map_err(|_| corrupt("audit details"))?,
        },
        prev_hash: hash32(prev_hash)?,
        hash: hash32(hash)?,
    })
}

/// One statement's parameters, each with its type: what an unprepared
/// statement (`query_typed`) must say, and what a prepared one is prepared
/// with.
pub(super) type Params<'p> = [(&'p (dyn ToSql + Sync), Type)];

/// A connection or transaction that runs one statement in the store's
/// [`StatementMode`](super::StatementMode): prepared once per connection and
/// cached, or unprepared (parse, bind and execute in one message, no named
/// statement left on the server: what works behind PgBouncer in transaction
/// mode before 1.21).
pub(super) trait Conn: Sync {
    /// The rows of `sql`.
    async fn rows(
        &self,
        prepared: bool,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>;

    /// How many rows `sql` changed.
    async fn count(
        &self,
        prepared: bool,
        sql: &str,
        params: &Params<'_>,
    ) -> std::result::Result<u64, tokio_postgres::Error>;
}

macro_rules! conn_impl {
    ($t:ty) => {
        impl Conn for $t {
            async fn rows(
                &self,
                prepared: bool,
                sql: &str,
                params: &Params<'_>,
            ) -> std::result::Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
                if !prepared {
                    return self.query_typed(sql, params).await;
                }
                let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
                let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
                let stmt = self.prepare_typed_cached(sql, &types).await?;
                self.query(&stmt, &values).await
            }

            async fn count(
                &self,
                prepared: bool,
                sql: &str,
                params: &Params<'_>,
            ) -> std::result::Result<u64, tokio_postgres::Error> {
                if !prepared {
                    return self.execute_typed(sql, params).await;
                }
                let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
                let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
                let stmt = self.prepare_typed_cached(sql, &types).await?;
                self.execute(&stmt, &values).await
            }
        }
    };
}

conn_impl!(deadpool_postgres::Transaction<'_>);
conn_impl!(deadpool_postgres::Client);
