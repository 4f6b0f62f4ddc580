//! The SQL of writes: PostgreSQL's [`Tx`], the reads and writes of one open
//! transaction that the shared rules (`store/apply.rs`) run over. Nothing
//! here checks a rule; each method is one statement (erase: one per table).
//!
//! Every statement runs under row-level security as the app role, inside
//! the tenant context that the transaction sets first (`sql::SET_TENANT`,
//! with generic plans in the prepared mode: `sql::SET_TENANT_GENERIC`),
//! so a statement that named another tenant would see no row and could
//! write none (SQLSTATE 42501).
//!
//! # Flights: the round trips of a batch
//!
//! A [`PgTx`] does not send a statement when the rules call it but in
//! *flights*: statements written to the connection together, each with its
//! own `Sync`, which the server runs one after the other in the order sent
//! and answers in that order (the driver sends a call's messages on its
//! first poll; [`in_order_all`] first-polls every call of a flight, in
//! order, within one poll). A batch that inserts a row makes two round
//! trips in all:
//!
//! 1. `BEGIN`, the tenant context, the tenant's row lock, its audit log
//!    head and the heads of the rows the batch names
//!    ([`Checked::row_keys`](crate::store::apply::Checked::row_keys)): the
//!    reads run once the lock is granted, each with a snapshot of its own,
//!    so they see every batch of the tenant committed before this one and
//!    none can commit a change to them before this one ends. (Without a
//!    tenant row no lock is held; a batch that creates the tenant meets a
//!    concurrent creator at the tenant's primary key, before its event.)
//! 2. The writes, the audit event and `COMMIT`.
//!
//! Writes whose failure is a server error (an `INSERT` meeting a key, a
//! policy or a trigger; a `DELETE` of the erase) wait in a queue and go out
//! with the next flight: with the next read, or with `COMMIT`. Calls that
//! answer something the rules decide on (a read, a compare-and-swap
//! `UPDATE` or `DELETE` and its row count) are a flight of their own,
//! queued writes first, so a read sees this transaction's writes.
//!
//! The queue changes nothing of what is committed, only when a server error
//! is seen, and these rules keep that safe:
//!
//! - Every reply of a flight is checked. A statement that failed aborted
//!   the transaction on the server; every later one in the flight failed
//!   too, and a `COMMIT` behind it was answered with a rollback (tag
//!   `ROLLBACK`, not an error, which the driver does not expose): the
//!   first failure is the batch's error, and nothing was written. A
//!   `COMMIT` counts as a commit only if every statement before it in the
//!   transaction succeeded, which the flights before established and this
//!   one's replies show.
//! - An `UPDATE` or `DELETE` that could match no row is never queued: its
//!   count is read before anything after it is sent.
//! - A failed write is seen later than the rules would have seen it when
//!   every call waited: a check that the rules make after it (on a head
//!   read in the first flight) may fail first. Either way the batch fails
//!   whole; only which of two errors it reports can differ, and only when a
//!   constraint refused what the rules had let through (a race that the
//!   tenant's lock does not cover: a lookup key taken by another tenant).
//! - A connection lost during the last flight, or a server ending the
//!   session there, is an unknown outcome (the `COMMIT` was sent and may
//!   have run), never retried; a server error before `COMMIT` is a known
//!   failure, and a serialization failure or deadlock there is retried as
//!   anywhere else.
//! - Dropped before its end (a cancelled request, a failed batch), a
//!   `PgTx` writes `ROLLBACK` to the connection without waiting for the
//!   reply, as the driver's own transaction does: the connection goes back
//!   to the pool with the rollback ahead of anything its next user sends.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use deadpool_postgres::Client;
use tokio_postgres::error::{Severity, SqlState};
use tokio_postgres::types::{ToSql, Type};

use super::Values;
use super::sql::{Sql, col, corrupt, db, decode_tenant, uuid, version_from, version_to};
use crate::audit::AuditRecord;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{Head, Owned, Tx};
use crate::store::{Kind, Row, Tenant};

/// An audit log head: the last event's sequence number and hash.
type AuditHead = Option<(u64, [u8; 32])>;

/// How a server's refusal of one statement becomes this crate's error.
type OnError = Box<dyn Fn(tokio_postgres::Error) -> Error + Send + Sync>;

/// One statement of a flight.
struct Stmt<'s> {
    sql: &'s str,
    values: Values,
    /// Its rows are wanted (a read), or only its row count.
    rows: bool,
    on_error: OnError,
}

impl<'s> Stmt<'s> {
    fn read(sql: &'s str, values: Values, doing: &'static str) -> Self {
        Self {
            sql,
            values,
            rows: true,
            on_error: Box::new(db(doing)),
        }
    }

    fn write(sql: &'s str, values: Values, on_error: OnError) -> Self {
        Self {
            sql,
            values,
            rows: false,
            on_error,
        }
    }
}

/// A statement's answer.
enum Reply {
    Rows(Vec<tokio_postgres::Row>),
    Count(u64),
}

impl Reply {
    fn rows(self) -> Vec<tokio_postgres::Row> {
        match self {
            Self::Rows(rows) => rows,
            Self::Count(_) => Vec::new(),
        }
    }

    fn count(&self) -> u64 {
        match self {
            Self::Rows(rows) => rows.len() as u64,
            Self::Count(n) => *n,
        }
    }
}

/// A statement's answer as the driver gives it.
type Answer = std::result::Result<Reply, tokio_postgres::Error>;

/// A driver call of a flight, already holding what it sends.
type Flying<'f> = Pin<Box<dyn Future<Output = Answer> + Send + 'f>>;

/// What reading the audit log head is called in errors.
const HEAD_READ: &str = "read the audit log head";

/// What reading a row's version is called in errors.
const ROW_HEAD_READ: &str = "read a row version";

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

/// A row's head from the rows of its table's `head` statement.
fn row_head_from(rows: &[tokio_postgres::Row]) -> Result<Option<Head>> {
    rows.first()
        .map(|r| {
            Ok(Head {
                version: version_from(col(r, 0, ROW_HEAD_READ)?)?,
                lookup: col(r, 1, ROW_HEAD_READ)?,
            })
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
fn constraint_error(doing: &'static str, what: String, id: String) -> OnError {
    Box::new(move |e| match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::AlreadyExists {
            what: what.clone(),
            id: id.clone(),
        },
        _ => db(doing)(e),
    })
}

/// The errors of a row's `INSERT` or `UPDATE`, as the rules name them.
fn row_error(tenant: TenantId, row: &Row) -> OnError {
    const D: &str = "write a row";
    let (kind, id, owner) = (row.kind, row.id.clone(), row.owner);
    Box::new(move |e| match e.code() {
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => match owner {
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
                what: format!("{kind} lookup key"),
                id: id.clone(),
            }
        }
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Error::AlreadyExists {
            what: kind.to_string(),
            id: id.clone(),
        },
        _ => db(D)(e),
    })
}

/// Whether `e` is a server's `ERROR` (not `FATAL` or `PANIC`): the
/// statement failed and its transaction is aborted, the session lives on.
fn statement_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .and_then(tokio_postgres::error::DbError::parsed_severity)
        .is_some_and(|s| matches!(s, Severity::Error))
}

/// The outputs of `futures`, run on this task, each polled before the next
/// every time: the first poll of all of them happens in one poll of this
/// future, in order, which is the order in which driver calls (which send
/// their messages on their first poll) reach the connection.
pub(super) async fn in_order_all<F: Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut outs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut done = true;
        for (f, out) in futures.iter_mut().zip(outs.iter_mut()) {
            if out.is_none() {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(r) => *out = Some(r),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(outs.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A transaction of one tenant on a pooled connection, sent in flights
/// (see the module docs). Nothing is sent until the rules' first call;
/// [`PgTx::commit`] sends what is queued with `COMMIT`; dropped before, it
/// rolls back.
pub(super) struct PgTx<'a> {
    client: &'a Client,
    sql: &'a Sql,
    /// The tenant whose context the transaction runs in.
    tenant: TenantId,
    /// `tenant` as `app.tenant` holds it.
    context: String,
    /// `BEGIN` was sent.
    begun: bool,
    /// The transaction ended (a reply to `COMMIT` came).
    ended: bool,
    /// Writes waiting for the next flight.
    queued: Vec<Stmt<'a>>,
    /// The rows whose heads the first flight reads, until it does.
    prefetch: Vec<(Kind, String)>,
    /// Row heads read in the first flight, each until this transaction
    /// writes its row.
    heads: HashMap<(Kind, String), Option<Head>>,
    /// The audit log head read in the first flight, until `audit_head`
    /// takes it.
    audit: Option<(TenantId, AuditHead)>,
}

impl<'a> PgTx<'a> {
    /// A transaction in `tenant`'s context on `client`, which will read the
    /// heads of `prefetch` together with the tenant's lock.
    pub(super) fn new(
        client: &'a Client,
        sql: &'a Sql,
        tenant: TenantId,
        prefetch: Vec<(Kind, String)>,
    ) -> Self {
        Self {
            client,
            sql,
            tenant,
            context: tenant.to_string(),
            begun: false,
            ended: false,
            queued: Vec::new(),
            prefetch,
            heads: HashMap::new(),
            audit: None,
        }
    }

    /// Sends what is queued and `COMMIT`, in one flight, and checks every
    /// reply.
    ///
    /// # Errors
    ///
    /// The first queued write's failure (nothing was committed), or the
    /// `COMMIT`'s: a refusal, or [`Error::OutcomeUnknown`] for a connection
    /// lost or a session ended by the server during the flight.
    pub(super) async fn commit(&mut self) -> Result<()> {
        if !self.begun && self.queued.is_empty() {
            return Ok(());
        }
        self.send(Vec::new(), true).await.map(drop)
    }

    /// Sends one flight: `BEGIN` and the context if not yet sent, the
    /// queued writes, `wanted`, and `COMMIT` if `commit`. Returns the
    /// replies to `wanted`, once every reply of the flight has been checked.
    async fn send(&mut self, wanted: Vec<Stmt<'a>>, commit: bool) -> Result<Vec<Reply>> {
        let mut stmts = std::mem::take(&mut self.queued);
        let queued = stmts.len();
        stmts.extend(wanted);
        let client: &'a Client = self.client;
        // Prepared mode: every statement prepared (once per connection,
        // cached) before anything is sent; a prepare round trip in the
        // middle of the flight would let later statements overtake it.
        let mut prepared = Vec::with_capacity(if self.sql.prepared { stmts.len() } else { 0 });
        if self.sql.prepared {
            for s in &stmts {
                let types: Vec<Type> = s.values.iter().map(|(_, t)| t.clone()).collect();
                let statement = client
                    .prepare_typed_cached(s.sql, &types)
                    .await
                    .map_err(|e| (s.on_error)(e))?;
                prepared.push(statement);
            }
        }
        let typed: Vec<Vec<(&(dyn ToSql + Sync), Type)>> = stmts
            .iter()
            .map(|s| {
                s.values
                    .iter()
                    .map(|(v, t)| (v.as_ref() as &(dyn ToSql + Sync), t.clone()))
                    .collect()
            })
            .collect();
        let open = !self.begun;
        // Generic plans: every statement of a batch has an equality on the
        // leading columns of a tenant-leading index.
        let set_tenant = self.sql.set_tenant(super::Plans::Generic);
        let context = self.context.as_str();
        let set_params: [(&(dyn ToSql + Sync), Type); 1] = [(&context, Type::TEXT)];
        let mut flight: Vec<Flying<'_>> = Vec::with_capacity(stmts.len() + 3);
        if open {
            flight.push(Box::pin(async move {
                client
                    .batch_execute("BEGIN")
                    .await
                    .map(|()| Reply::Count(0))
            }));
            let set_params = &set_params;
            flight.push(Box::pin(async move {
                client
                    .query_typed(set_tenant, set_params)
                    .await
                    .map(Reply::Rows)
            }));
        }
        for (k, (s, params)) in stmts.iter().zip(&typed).enumerate() {
            let statement = prepared.get(k);
            let (sql, rows) = (s.sql, s.rows);
            flight.push(Box::pin(async move {
                let values = || params.iter().map(|(v, _)| *v).collect::<Vec<_>>();
                match (statement, rows) {
                    (Some(st), true) => client.query(st, &values()).await.map(Reply::Rows),
                    (Some(st), false) => client.execute(st, &values()).await.map(Reply::Count),
                    (None, true) => client.query_typed(sql, params).await.map(Reply::Rows),
                    (None, false) => client.execute_typed(sql, params).await.map(Reply::Count),
                }
            }));
        }
        if commit {
            flight.push(Box::pin(async move {
                client
                    .batch_execute("COMMIT")
                    .await
                    .map(|()| Reply::Count(0))
            }));
        }
        // From here on the server may hold an open transaction: dropped,
        // this rolls it back (a `ROLLBACK` with none open only warns).
        self.begun = true;
        let mut answers = in_order_all(flight).await.into_iter();

        // Every reply, in order; the first failure decides.
        let opening: [OnError; 2] = [
            Box::new(db("begin a transaction")),
            Box::new(db("set the tenant context")),
        ];
        let mut failure: Option<(tokio_postgres::Error, &OnError)> = None;
        if open {
            for on_error in &opening {
                if let Some(Err(e)) = answers.next()
                    && failure.is_none()
                {
                    failure = Some((e, on_error));
                }
            }
        }
        let mut out = Vec::with_capacity(stmts.len().saturating_sub(queued));
        for (k, (s, answer)) in stmts.iter().zip(&mut answers).enumerate() {
            match answer {
                Ok(reply) if k >= queued => out.push(reply),
                Ok(_) => {}
                Err(e) => {
                    if failure.is_none() {
                        failure = Some((e, &s.on_error));
                    }
                }
            }
        }
        let committed = if commit { answers.next() } else { None };
        match (failure, committed) {
            (None, None) if !commit => Ok(out),
            (None, Some(Ok(_))) => {
                self.ended = true;
                Ok(out)
            }
            (None, Some(Err(e))) => {
                if statement_error(&e) {
                    // Refused: the server rolled the transaction back.
                    self.ended = true;
                }
                Err(super::commit_error(e))
            }
            (Some((e, on_error)), committed) => {
                if commit && !statement_error(&e) {
                    // The connection failed, or the server ended the
                    // session, with `COMMIT` sent behind: it may have run.
                    return Err(super::commit_error(e));
                }
                // A statement refused: the transaction is aborted, and a
                // `COMMIT` behind it was answered with a rollback.
                if matches!(committed, Some(Ok(_))) {
                    self.ended = true;
                }
                Err(on_error(e))
            }
            (None, None) => Err(Error::Internal {
                what: "a PostgreSQL flight with COMMIT had no reply for it",
            }),
        }
    }

    /// Sends `stmt` (queued writes first) and returns its reply.
    async fn one(&mut self, stmt: Stmt<'a>) -> Result<Reply> {
        self.send(vec![stmt], false)
            .await?
            .pop()
            .ok_or(Error::Internal {
                what: "a PostgreSQL flight had no reply for its statement",
            })
    }

    /// The statement reading the head of row `(kind, id)` of `tenant`.
    fn head_stmt(&self, tenant: TenantId, kind: Kind, id: &str) -> Stmt<'a> {
        let sql: &'a Sql = self.sql;
        Stmt::read(
            &sql.table(kind).head,
            vec![
                (Box::new(uuid(tenant)), Type::UUID),
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(id.to_owned()), Type::TEXT),
            ],
            ROW_HEAD_READ,
        )
    }

    /// The row `(kind, id)` is written by this transaction: a head read
    /// before is no longer its head.
    fn forget(&mut self, kind: Kind, id: &str) {
        self.heads.remove(&(kind, id.to_owned()));
    }

    /// `INSERT` or (with `expected`) compare-and-swap `UPDATE` of `row`.
    fn row_write(&self, tenant: TenantId, row: &Row, expected: Option<u64>) -> Result<Stmt<'a>> {
        let sql: &'a Sql = self.sql;
        let t = sql.table(row.kind);
        let key_id = row.sealed_key()?.map(|k| i64::from(k.get()));
        let mut values: Values = vec![
            (Box::new(uuid(tenant)), Type::UUID),
            (Box::new(row.kind.as_str()), Type::TEXT),
            (Box::new(row.id.clone()), Type::TEXT),
            (Box::new(row.parent.clone()), Type::TEXT),
            (Box::new(row.owner.map(|o| o.to_string())), Type::TEXT),
            (Box::new(row.lookup.clone()), Type::BYTEA),
            (
                Box::new(row.expires_at.map(Timestamp::unix_millis)),
                Type::INT8,
            ),
            (Box::new(version_to(row.version)?), Type::INT8),
            (Box::new(row.body.clone()), Type::BYTEA),
            (Box::new(row.sealed.clone()), Type::BYTEA),
            (Box::new(key_id), Type::INT8),
            (Box::new(row.tag.map(|t| t.to_vec())), Type::BYTEA),
        ];
        let sql = match expected {
            None => &t.insert,
            Some(v) => {
                values.push((Box::new(version_to(v)?), Type::INT8));
                &t.update
            }
        };
        Ok(Stmt::write(sql, values, row_error(tenant, row)))
    }

    /// Queues the tenant record's `INSERT` or `UPDATE` (and, for an insert,
    /// its tenant-directory entry).
    fn queue_tenant(&mut self, t: &Tenant, insert: bool) -> Result<()> {
        const D: &str = "write a tenant";
        let sql: &'a Sql = self.sql;
        let body = serde_json::to_vec(t).map_err(|_| Error::Internal {
            what: "serializing a tenant",
        })?;
        let version = version_to(t.version)?;
        let statement = if insert {
            &sql.insert_tenant
        } else {
            &sql.update_tenant
        };
        self.queued.push(Stmt::write(
            statement,
            vec![
                (Box::new(uuid(t.id)), Type::UUID),
                (Box::new(version), Type::INT8),
                (Box::new(body), Type::BYTEA),
            ],
            constraint_error(D, "tenant".to_owned(), t.id.to_string()),
        ));
        if insert {
            self.queued.push(Stmt::write(
                &sql.insert_tenant_directory,
                vec![(Box::new(uuid(t.id)), Type::UUID)],
                Box::new(db("add a tenant directory entry")),
            ));
        }
        Ok(())
    }

    /// Queues the audit event's `INSERT`.
    fn queue_audit(&mut self, r: &AuditRecord) -> Result<()> {
        let sql: &'a Sql = self.sql;
        let details = serde_json::to_string(&r.event.details).map_err(|_| Error::Internal {
            what: "serializing audit details",
        })?;
        let seq = i64::try_from(r.seq).map_err(|_| corrupt("audit sequence number"))?;
        self.queued.push(Stmt::write(
            &sql.audit_insert,
            vec![
                (Box::new(uuid(r.tenant)), Type::UUID),
                (Box::new(seq), Type::INT8),
                (Box::new(r.event.at.unix_millis()), Type::INT8),
                (Box::new(r.event.actor.to_string()), Type::TEXT),
                (Box::new(r.event.action.clone()), Type::TEXT),
                (Box::new(r.event.target.clone()), Type::TEXT),
                (Box::new(r.event.source.clone()), Type::TEXT),
                (Box::new(r.event.outcome.as_str()), Type::TEXT),
                (Box::new(details), Type::TEXT),
                (Box::new(r.prev_hash.to_vec()), Type::BYTEA),
                (Box::new(r.hash.to_vec()), Type::BYTEA),
            ],
            Box::new(db("write an audit event")),
        ));
        Ok(())
    }
}

impl Drop for PgTx<'_> {
    /// Rolls back a transaction that did not reach its `COMMIT`'s reply:
    /// writes `ROLLBACK` to the connection (the driver sends a call's
    /// messages on its first poll, which needs no waker) and does not wait
    /// for the reply, as the driver's own `Transaction` does when dropped.
    /// The server runs it after whatever was sent before; the connection's
    /// next user's statements queue behind it.
    fn drop(&mut self) {
        if self.begun && !self.ended {
            let rollback = pin!(self.client.batch_execute("ROLLBACK"));
            let _ = rollback.poll(&mut Context::from_waker(Waker::noop()));
        }
    }
}

impl<'a> Tx for PgTx<'a> {
    async fn tenant(&mut self, id: TenantId) -> Result<Option<Tenant>> {
        // The tenant's row lock, held to the end of the transaction, then
        // its audit log head and the batch's row heads, in the flight that
        // opens the transaction.
        let sql: &'a Sql = self.sql;
        let tenant = || -> Values { vec![(Box::new(uuid(id)), Type::UUID)] };
        let mut stmts = vec![
            Stmt::read(&sql.tenant_for_update, tenant(), TENANT_READ),
            Stmt::read(&sql.audit_head, tenant(), HEAD_READ),
        ];
        let keys = if id == self.tenant {
            std::mem::take(&mut self.prefetch)
        } else {
            Vec::new()
        };
        for (kind, row) in &keys {
            stmts.push(self.head_stmt(id, *kind, row));
        }
        let mut replies = self.send(stmts, false).await?.into_iter();
        let lock = replies.next().map(Reply::rows).unwrap_or_default();
        let head = replies.next().map(Reply::rows).unwrap_or_default();
        let record = tenant_from(&lock, id)?;
        self.audit = Some((id, head_from(&head)?));
        for (key, reply) in keys.into_iter().zip(replies) {
            let head = row_head_from(&reply.rows())?;
            self.heads.insert(key, head);
        }
        Ok(record)
    }

    async fn insert_tenant(&mut self, t: &Tenant) -> Result<()> {
        self.queue_tenant(t, true)
    }

    async fn update_tenant(&mut self, t: &Tenant) -> Result<()> {
        self.queue_tenant(t, false)
    }

    async fn row_head(&mut self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Head>> {
        if tenant == self.tenant
            && let Some(head) = self.heads.get(&(kind, id.to_owned()))
        {
            return Ok(head.clone());
        }
        let stmt = self.head_stmt(tenant, kind, id);
        row_head_from(&self.one(stmt).await?.rows())
    }

    async fn row_by_lookup(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<String>> {
        const D: &str = "check a lookup key";
        let sql: &'a Sql = self.sql;
        let stmt = Stmt::read(
            &sql.table(kind).lookup_holder,
            vec![
                (Box::new(uuid(tenant)), Type::UUID),
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(lookup.to_vec()), Type::BYTEA),
            ],
            D,
        );
        let rows = self.one(stmt).await?.rows();
        rows.first().map(|r| col(r, 0, D)).transpose()
    }

    async fn insert_row(&mut self, tenant: TenantId, row: &Row) -> Result<()> {
        self.forget(row.kind, &row.id);
        let stmt = self.row_write(tenant, row, None)?;
        self.queued.push(stmt);
        Ok(())
    }

    async fn update_row(&mut self, tenant: TenantId, row: &Row, expected: u64) -> Result<bool> {
        // No stored row is at a version the column cannot hold: nothing
        // matches, as for any other stale version.
        if version_to(expected).is_err() {
            return Ok(false);
        }
        // Its row count decides: sent now, not queued.
        self.forget(row.kind, &row.id);
        let stmt = self.row_write(tenant, row, Some(expected))?;
        Ok(self.one(stmt).await?.count() == 1)
    }

    async fn delete_row(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        expected: u64,
    ) -> Result<bool> {
        // Its row count decides: sent now, not queued.
        self.forget(kind, id);
        let sql: &'a Sql = self.sql;
        let stmt = Stmt::write(
            &sql.table(kind).delete,
            vec![
                (Box::new(uuid(tenant)), Type::UUID),
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(id.to_owned()), Type::TEXT),
                (Box::new(version_to(expected)?), Type::INT8),
            ],
            Box::new(db("delete a row")),
        );
        Ok(self.one(stmt).await?.count() == 1)
    }

    async fn owned_rows(&mut self, tenant: TenantId, owner: &str) -> Result<Vec<Owned>> {
        const D: &str = "list a user's rows";
        let sql: &'a Sql = self.sql;
        // Users own no users: `records` holds every ownable row.
        let stmt = Stmt::read(
            &sql.owned,
            vec![
                (Box::new(uuid(tenant)), Type::UUID),
                (Box::new(owner.to_owned()), Type::TEXT),
            ],
            D,
        );
        let rows = self.one(stmt).await?.rows();
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

    async fn directory_tenant(&mut self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        const D: &str = "read the directory";
        let sql: &'a Sql = self.sql;
        let stmt = Stmt::read(
            &sql.directory_lookup,
            vec![
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(lookup.to_vec()), Type::BYTEA),
            ],
            D,
        );
        let rows = self.one(stmt).await?.rows();
        rows.first()
            .map(|r| col::<uuid::Uuid>(r, 0, D).map(TenantId::from_uuid))
            .transpose()
    }

    async fn directory_insert(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<()> {
        let sql: &'a Sql = self.sql;
        self.queued.push(Stmt::write(
            &sql.directory_insert,
            vec![
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(lookup.to_vec()), Type::BYTEA),
                (Box::new(uuid(tenant)), Type::UUID),
            ],
            constraint_error(
                "add a directory entry",
                format!("{kind} lookup key"),
                String::new(),
            ),
        ));
        Ok(())
    }

    async fn directory_remove(
        &mut self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<()> {
        let sql: &'a Sql = self.sql;
        self.queued.push(Stmt::write(
            &sql.directory_remove,
            vec![
                (Box::new(kind.as_str()), Type::TEXT),
                (Box::new(lookup.to_vec()), Type::BYTEA),
                (Box::new(uuid(tenant)), Type::UUID),
            ],
            Box::new(db("remove a directory entry")),
        ));
        Ok(())
    }

    async fn audit_head(&mut self, tenant: TenantId) -> Result<AuditHead> {
        if let Some((t, head)) = self.audit.take()
            && t == tenant
        {
            return Ok(head);
        }
        let sql: &'a Sql = self.sql;
        let stmt = Stmt::read(
            &sql.audit_head,
            vec![(Box::new(uuid(tenant)), Type::UUID)],
            HEAD_READ,
        );
        head_from(&self.one(stmt).await?.rows())
    }

    async fn append_audit(&mut self, record: &AuditRecord) -> Result<()> {
        self.queue_audit(record)
    }

    async fn erase_tenant(&mut self, tenant: TenantId) -> Result<()> {
        let sql: &'a Sql = self.sql;
        self.heads.clear();
        for statement in &sql.erase {
            self.queued.push(Stmt::write(
                statement,
                vec![(Box::new(uuid(tenant)), Type::UUID)],
                Box::new(db("erase a tenant")),
            ));
        }
        Ok(())
    }
}
