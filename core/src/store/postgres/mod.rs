//! The PostgreSQL backend (feature `postgres`): the store for deployments
//! that outgrow one machine, with tenant isolation enforced a second time by
//! the server's row-level security.
//!
//! - **Roles.** `bootstrap.sql` (beside this file) creates an owner role,
//!   which owns the schema and runs the migrations
//!   ([`PostgresStore::migrate`]), and an app role (LOGIN, NOSUPERUSER,
//!   NOBYPASSRLS, owner of nothing, only SELECT/INSERT/UPDATE/DELETE), which
//!   [`PostgresStore::open`] connects as and checks it is.
//! - **Isolation.** Every table forces row-level security; every tenant
//!   table has one policy, `tenant_id = <schema>.current_tenant()` (from
//!   schema 2 with the function's body written out), and every
//!   transaction sets `app.tenant` first, transaction-locally, as a bound
//!   parameter (`sql::SET_TENANT`). A query that forgot its tenant
//!   predicate still sees only the current tenant; a session without a
//!   tenant sees nothing. A one-statement read sends `BEGIN`, the context,
//!   the statement and `COMMIT` together: one round trip. `apply` sends its
//!   statements in flights (`tx.rs`): a batch of inserts is two round trips,
//!   `BEGIN` with the context, the tenant's lock and the heads it reads,
//!   then its writes, its audit event and `COMMIT`.
//! - **Authentication** (`find_by_lookup`, `find_credential`) is one
//!   statement, `<schema>.find_credential(...)`: a `SECURITY INVOKER`
//!   function that reads the directory, sets the context to the tenant it
//!   names and reads the token, its owner and its tenant under the same
//!   policies.
//! - **Directories.** The two cross-tenant reads ([`Store::directory_lookup`],
//!   [`Store::directory_tenants`]) read tables whose policies let every
//!   session read and only the entry's own tenant write, so no role needs
//!   BYPASSRLS.
//! - **Concurrency.** READ COMMITTED; `apply` locks the tenant's row first
//!   (`SELECT ... FOR UPDATE`), so one tenant's batches run one after the
//!   other (gapless audit sequence numbers) and other tenants' in parallel.
//!   Serialization failures and deadlocks (SQLSTATE 40001, 40P01) are
//!   retried a bounded number of times with jitter; a connection lost during
//!   `COMMIT` is reported as an unknown outcome, never retried.
//! - **Transport.** `sslmode=verify-full` (CA from `sslrootcert=` or
//!   [`PostgresOptions::root_certificates_pem`], host name checked) is the
//!   default, and the driver's own mode is then `require`: a server without
//!   TLS is an error, never a plaintext fallback. Plaintext only with an
//!   explicit `sslmode=disable`, or over a Unix-domain socket (which
//!   PostgreSQL serves without TLS, and which never leaves the machine).
//!
//! The schema is in `schema.rs`, statements and decoding in `sql.rs`, the
//! writes of a batch in `tx.rs`, the connection string and TLS in `tls.rs`,
//! and what a batch checks in the shared rules (`store/apply.rs`).

mod schema;
mod sql;
mod tls;
mod tx;

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use self::sql::{
    Conn, Params, Sql, col, db, decode_audit, decode_credential, decode_row, limit, uuid,
};
use self::tx::PgTx;
use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{self, Checked};
use crate::store::{
    AuditQuery, Batch, Credential, HealthCheck, Kind, ListQuery, Row, Store, Tenant, check_meta,
};

pub use self::schema::POSTGRES_SCHEMA_VERSION;

/// How many times a batch that hit a serialization failure or a deadlock
/// is tried in all.
const MAX_ATTEMPTS: u32 = 5;

/// How the prepared statements of a transaction are planned (prepared mode
/// only; an unprepared statement is planned once, for its values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plans {
    /// One generic plan per statement and connection, reused: for
    /// statements whose best plan is the same for every value
    /// (`sql::SET_TENANT_GENERIC` says why).
    Generic,
    /// The server's default: a plan for each execution's values, for
    /// statements whose best plan depends on them.
    Custom,
}

/// How a [`PostgresStore`] connects: the schema its tables live in, the
/// pool size, and the CA that verifies the server.
///
/// ```
/// use secrets_core::store::PostgresOptions;
///
/// let options = PostgresOptions::default().schema("tenant_data").max_connections(8);
/// assert_eq!(options.schema_name(), "tenant_data");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    schema: String,
    max_connections: usize,
    root_certificates: Option<Vec<u8>>,
    statement_mode: StatementMode,
}

/// How statements reach the server.
///
/// ```
/// use secrets_core::store::{PostgresOptions, StatementMode};
///
/// let behind_old_pgbouncer = PostgresOptions::default().statement_mode(StatementMode::Unprepared);
/// assert_eq!(behind_old_pgbouncer.statement_mode_value(), StatementMode::Unprepared);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementMode {
    /// Each statement is prepared once per connection and cached (the
    /// default): one round trip per statement after the first.
    #[default]
    Prepared,
    /// No named statement is left on the server: each statement is parsed,
    /// bound and run in one message, with its parameter types given. For
    /// PgBouncer in transaction mode before 1.21 (Debian 12 ships 1.18),
    /// where a statement prepared on one server connection may be missing
    /// on the next. Costs a parse per statement.
    Unprepared,
}

impl fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("root_certificates", &self.root_certificates.is_some())
            .field("statement_mode", &self.statement_mode)
            .finish()
    }
}

impl Default for PostgresOptions {
    /// Schema `secrets_core`, 16 connections, no CA given (then
    /// `sslrootcert=` must name one, or the URL must say `sslmode=disable`).
    fn default() -> Self {
        Self {
            schema: "secrets_core".into(),
            max_connections: 16,
            root_certificates: None,
            statement_mode: StatementMode::Prepared,
        }
    }
}

impl PostgresOptions {
    /// The schema that holds the tables (`secrets_core` by default): 1 to
    /// 63 bytes of `a-z`, `0-9` and `_`, checked when the store opens.
    ///
    /// ```
    /// use secrets_core::store::PostgresOptions;
    ///
    /// assert_eq!(PostgresOptions::default().schema_name(), "secrets_core");
    /// ```
    #[must_use]
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = name.into();
        self
    }

    /// The schema's name.
    ///
    /// ```
    /// use secrets_core::store::PostgresOptions;
    ///
    /// assert_eq!(PostgresOptions::default().schema("s1").schema_name(), "s1");
    /// ```
    #[must_use]
    pub fn schema_name(&self) -> &str {
        &self.schema
    }

    /// The most connections the pool opens (at least 1; 16 by default).
    ///
    /// ```
    /// use secrets_core::store::PostgresOptions;
    ///
    /// let one = PostgresOptions::default().max_connections(0);
    /// assert_eq!(one.max_connections_value(), 1);
    /// ```
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// The pool size.
    ///
    /// ```
    /// use secrets_core::store::PostgresOptions;
    ///
    /// assert_eq!(PostgresOptions::default().max_connections_value(), 16);
    /// ```
    #[must_use]
    pub fn max_connections_value(&self) -> usize {
        self.max_connections
    }

    /// How statements reach the server ([`StatementMode::Prepared`] by
    /// default).
    ///
    /// ```
    /// use secrets_core::store::{PostgresOptions, StatementMode};
    ///
    /// let options = PostgresOptions::default().statement_mode(StatementMode::Unprepared);
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn statement_mode(mut self, mode: StatementMode) -> Self {
        self.statement_mode = mode;
        self
    }

    /// The statement mode.
    ///
    /// ```
    /// use secrets_core::store::{PostgresOptions, StatementMode};
    ///
    /// assert_eq!(PostgresOptions::default().statement_mode_value(), StatementMode::Prepared);
    /// ```
    #[must_use]
    pub fn statement_mode_value(&self) -> StatementMode {
        self.statement_mode
    }

    /// The CA certificates (PEM) that verify the server under
    /// `sslmode=verify-full`, instead of a `sslrootcert=` file.
    ///
    /// ```
    /// use secrets_core::store::PostgresOptions;
    ///
    /// let options = PostgresOptions::default().root_certificates_pem(b"-----BEGIN CERTIFICATE-----\n...".to_vec());
    /// # let _ = options;
    /// ```
    #[must_use]
    pub fn root_certificates_pem(mut self, pem: Vec<u8>) -> Self {
        self.root_certificates = Some(pem);
        self
    }
}

/// A [`Store`] in a PostgreSQL database, under row-level security.
///
/// Open it as the app role with [`PostgresStore::open`]; create and upgrade
/// its schema as the owner role with [`PostgresStore::migrate`] (see
/// `bootstrap.sql` beside this module for both roles). Every method runs in
/// its own transaction on a pooled connection, inside its tenant's context.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), secrets_core::Error> {
/// use secrets_core::store::{PostgresOptions, PostgresStore, Store};
/// use secrets_core::TenantId;
///
/// let options = PostgresOptions::default();
/// // Once per deployment and upgrade, as the owner role:
/// PostgresStore::migrate("postgres://owner@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ca.pem", &options).await?;
/// // In every app instance, as the app role:
/// let store = PostgresStore::open("postgres://app@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ca.pem", options).await?;
/// assert!(store.tenant(TenantId::DEFAULT).await?.is_none());
/// # Ok(()) }
/// ```
pub struct PostgresStore {
    pool: Pool,
    sql: Arc<Sql>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .field("max_connections", &self.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

/// A pool over `url` with `options` (no connection is made yet).
fn pool(url: &str, options: &PostgresOptions, size: usize) -> Result<Pool> {
    let (config, tls) = tls::parse(url, options.root_certificates.as_deref())?;
    let manager = match tls {
        tls::Transport::Plain => Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ),
        tls::Transport::Tls(connect) => Manager::from_config(
            config,
            connect,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        ),
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(15)))
        .build()
        .map_err(|_| Error::Internal {
            what: "building the PostgreSQL connection pool",
        })
}

/// A pooled connection, or the reason none could be had.
async fn checkout(pool: &Pool) -> Result<Client> {
    pool.get().await.map_err(|e| match e {
        deadpool_postgres::PoolError::Backend(e) => db("connect to PostgreSQL")(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            Error::storage("could not connect to PostgreSQL: timed out")
        }
        other => Error::storage(format!("could not connect to PostgreSQL: {other}")),
    })
}

impl PostgresStore {
    /// Connects as the app role at `url` and checks, before serving
    /// anything, that row-level security binds it: the role is not a
    /// superuser, has no BYPASSRLS, owns neither the schema nor a table (nor
    /// is a member of their owner), the schema is at
    /// [`POSTGRES_SCHEMA_VERSION`], and every table has ENABLE and FORCE
    /// ROW LEVEL SECURITY. It never issues DDL.
    ///
    /// `url` is a libpq-style URL or key-value string; besides the driver's
    /// own parameters it takes `sslmode=verify-full` (the default) or
    /// `sslmode=disable` (plaintext, explicitly), and `sslrootcert=` (a PEM
    /// file of CA certificates). A Unix-domain socket (`host=/run/postgresql`
    /// or the directory percent-encoded as the URL's host) is plaintext
    /// without a CA, as with libpq: PostgreSQL has no TLS there.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::store::{PostgresOptions, PostgresStore};
    ///
    /// let store = PostgresStore::open(
    ///     "postgres://secrets_core_app@127.0.0.1/secrets?sslmode=disable",
    ///     PostgresOptions::default(),
    /// )
    /// .await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed URL, an unknown `sslmode`, a
    /// bad schema name, and (field `postgres role` or `postgres schema`) for
    /// a role or schema that row-level security would not bind;
    /// [`Error::SchemaTooNew`] for a newer schema; [`Error::Storage`] when
    /// the server cannot be reached, refuses the login, or the schema was
    /// never migrated.
    pub async fn open(url: &str, options: PostgresOptions) -> Result<Self> {
        schema::check_schema_name(&options.schema)?;
        let pool = pool(url, &options, options.max_connections)?;
        let client = checkout(&pool).await?;
        schema::check_app_role(&client, &options.schema).await?;
        drop(client);
        Ok(Self {
            pool,
            sql: Arc::new(Sql::new(
                &options.schema,
                options.statement_mode == StatementMode::Prepared,
            )),
        })
    }

    /// Connects as [`PostgresStore::open`] does and reports every check it
    /// makes, failing ones included, instead of refusing at the first: an
    /// operator's `doctor`. Checks: `tls` (the server reports this session
    /// encrypted, or it runs over a Unix-domain socket), `superuser`,
    /// `bypassrls`, `owner` (the role owns nothing in the schema),
    /// `schema_version`, and `force_rls` (one finding per table without
    /// ENABLE and FORCE ROW LEVEL SECURITY).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::store::{PostgresOptions, PostgresStore};
    ///
    /// let url = "postgres://secrets_core_app@db.internal/secrets?sslrootcert=/etc/ca.pem";
    /// for check in PostgresStore::diagnose(url, &PostgresOptions::default()).await? {
    ///     println!("{} {}: {}", if check.ok { "ok" } else { "FINDING" }, check.name, check.detail);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed URL or schema name;
    /// [`Error::Storage`] when the server cannot be reached or refuses the
    /// login.
    pub async fn diagnose(url: &str, options: &PostgresOptions) -> Result<Vec<HealthCheck>> {
        schema::check_schema_name(&options.schema)?;
        let pool = pool(url, options, 1)?;
        let client = checkout(&pool).await?;
        const D: &str = "check the connection's transport";
        let row = client
            .query_one(
                "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false), \
                 inet_client_addr() IS NULL",
                &[],
            )
            .await
            .map_err(db(D))?;
        let encrypted: bool = row.try_get(0).map_err(db(D))?;
        let local_socket: bool = row.try_get(1).map_err(db(D))?;
        let tls = if encrypted {
            HealthCheck::new("tls", true, "the session is encrypted (TLS)")
        } else if local_socket {
            HealthCheck::new(
                "tls",
                true,
                "a Unix-domain socket (no TLS there; it never leaves the machine)",
            )
        } else {
            HealthCheck::new(
                "tls",
                false,
                "the session is plaintext over TCP: use `sslmode=verify-full` with \
                 `sslrootcert=` (the default) unless the network is the loopback",
            )
        };
        let facts = schema::role_facts(&client, &options.schema).await?;
        let mut checks = vec![tls];
        checks.extend(schema::health(&facts, &options.schema));
        Ok(checks)
    }

    /// Creates or upgrades the schema to [`POSTGRES_SCHEMA_VERSION`], as the
    /// owner role at `url`: in one transaction under a transaction-scoped
    /// advisory lock, so concurrent migrations apply each step once. The app
    /// role receives its privileges through the owner's default privileges
    /// (`bootstrap.sql`).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), secrets_core::Error> {
    /// use secrets_core::store::{PostgresOptions, PostgresStore};
    ///
    /// let url = "postgres://secrets_core_owner@127.0.0.1/secrets?sslmode=disable";
    /// PostgresStore::migrate(url, &PostgresOptions::default()).await?;
    /// // A second run finds the schema current and changes nothing.
    /// PostgresStore::migrate(url, &PostgresOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] as for [`PostgresStore::open`];
    /// [`Error::SchemaTooNew`] if a newer build migrated the schema;
    /// [`Error::Storage`] if the server refuses (nothing is changed then).
    pub async fn migrate(url: &str, options: &PostgresOptions) -> Result<()> {
        schema::check_schema_name(&options.schema)?;
        let pool = pool(url, options, 1)?;
        let mut client = checkout(&pool).await?;
        schema::migrate(&mut client, &options.schema).await
    }

    /// A pooled connection inside a new transaction whose tenant context is
    /// `tenant`: `f` runs the shared rules over it ([`PgTx`], which sends
    /// its statements in flights and reads the heads of `prefetch` with the
    /// tenant's lock), and the transaction commits if `f` succeeds, its
    /// queued writes sent with `COMMIT`. Dropping the returned future (a
    /// cancelled request) or an error drops the transaction, which writes
    /// `ROLLBACK` ahead of the connection's next use.
    async fn in_tenant<T>(
        &self,
        tenant: TenantId,
        prefetch: Vec<(Kind, String)>,
        f: impl AsyncFnOnce(&mut PgTx<'_>) -> Result<T>,
    ) -> Result<T> {
        let client = checkout(&self.pool).await?;
        let out = {
            let mut tx = PgTx::new(&client, &self.sql, tenant, prefetch);
            match f(&mut tx).await {
                Ok(out) => tx.commit().await.map(|()| out),
                Err(e) => Err(e),
            }
        };
        if matches!(out, Err(Error::OutcomeUnknown { .. })) {
            // The session is gone or in a state nobody knows: taken out of
            // the pool, so that the next checkout does not find it before
            // its connection task has noticed it closed.
            drop(deadpool_postgres::Object::take(client));
        }
        out
    }

    /// A credential by its globally unique lookup key, with its owner's
    /// user row and its tenant's record when asked for: one statement, one
    /// round trip, no explicit transaction. `find_credential` (schema 2)
    /// reads the directory, sets the tenant context it names
    /// transaction-locally, reads the rows under row-level security as the
    /// app role and puts the context back; the statement is its own
    /// transaction, so the context ends with it, as with `in_tenant`.
    async fn credential(
        &self,
        kind: Kind,
        lookup: &[u8],
        owner: bool,
        tenant: bool,
    ) -> Result<Option<Credential>> {
        const D: &str = "read a credential";
        apply::check_directory_kind(kind)?;
        let client = checkout(&self.pool).await?;
        let rows = client
            .rows(
                self.sql.prepared,
                &self.sql.find_credential,
                &[
                    (&kind.as_str(), Type::TEXT),
                    (&lookup, Type::BYTEA),
                    (&owner, Type::BOOL),
                    (&tenant, Type::BOOL),
                ],
            )
            .await
            .map_err(db(D))?;
        rows.first().map(decode_credential).transpose()
    }

    /// The rows of one statement, read in `tenant`'s context in a
    /// transaction of its own, in one round trip: `BEGIN`, the context
    /// statement, `sql` and `COMMIT` are written to the connection together
    /// (each driver call sends its messages on its first poll, and
    /// [`in_order4`] first-polls all four in that order within one poll),
    /// and the server runs them in that order. As with [`Self::in_tenant`],
    /// `sql` never runs without its tenant: were the context statement to
    /// fail, the transaction would be aborted and `sql` refused. Once sent,
    /// the four run to the end even if this future is dropped, so a
    /// cancelled read never leaves its connection inside a transaction; if
    /// it is dropped before (while the statement is prepared), nothing was
    /// sent.
    ///
    /// In the prepared mode the statement is prepared (once per connection,
    /// cached) before anything is sent: a prepare round trip in the middle
    /// would let `COMMIT` overtake the statement; and with
    /// [`Plans::Generic`] it runs on its generic plan
    /// (`sql::SET_TENANT_GENERIC`).
    async fn read_in_tenant(
        &self,
        tenant: TenantId,
        doing: &'static str,
        sql: &str,
        params: &Params<'_>,
        plans: Plans,
    ) -> Result<Vec<tokio_postgres::Row>> {
        let client = checkout(&self.pool).await?;
        let statement = if self.sql.prepared {
            let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
            Some(
                client
                    .prepare_typed_cached(sql, &types)
                    .await
                    .map_err(db(doing))?,
            )
        } else {
            None
        };
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(v, _)| *v).collect();
        let context = tenant.to_string();
        let set_params: [(&(dyn ToSql + Sync), Type); 1] = [(&context, Type::TEXT)];
        let (begun, set, rows, committed) = in_order4(
            client.batch_execute("BEGIN"),
            client.query_typed(self.sql.set_tenant(plans), &set_params),
            async {
                match &statement {
                    Some(s) => client.query(s, &values).await,
                    None => client.query_typed(sql, params).await,
                }
            },
            client.batch_execute("COMMIT"),
        )
        .await;
        let out = begun
            .map_err(db("begin a transaction"))
            .and(set.map_err(db("set the tenant context")))
            .and(rows.map_err(db(doing)));
        if let Err(e) = committed {
            // A read changed nothing, so its outcome is not in doubt; but
            // the session is in a state nobody knows: out of the pool.
            drop(deadpool_postgres::Object::take(client));
            return out.and(Err(db("commit")(e)));
        }
        out
    }

    /// One attempt at a checked batch.
    async fn apply_once(
        &self,
        tenant: TenantId,
        batch: Checked,
        linker: &dyn AuditLinker,
    ) -> Result<AuditRecord> {
        let prefetch = batch.row_keys();
        self.in_tenant(tenant, prefetch, async |tx| {
            apply::apply(tx, batch, linker).await
        })
        .await
    }
}

/// The outputs of four futures run on this task, each polled before the
/// next every time: the first poll of all four happens in one poll of this
/// future, in argument order, which is the order in which driver calls
/// (which send on their first poll) reach the connection.
async fn in_order4<A: Future, B: Future, C: Future, D: Future>(
    a: A,
    b: B,
    c: C,
    d: D,
) -> (A::Output, B::Output, C::Output, D::Output) {
    let (mut a, mut b, mut c, mut d) = (pin!(a), pin!(b), pin!(c), pin!(d));
    let (mut ao, mut bo, mut co, mut do_) = (None, None, None, None);
    poll_fn(|cx| {
        if ao.is_none()
            && let Poll::Ready(r) = a.as_mut().poll(cx)
        {
            ao = Some(r);
        }
        if bo.is_none()
            && let Poll::Ready(r) = b.as_mut().poll(cx)
        {
            bo = Some(r);
        }
        if co.is_none()
            && let Poll::Ready(r) = c.as_mut().poll(cx)
        {
            co = Some(r);
        }
        if do_.is_none()
            && let Poll::Ready(r) = d.as_mut().poll(cx)
        {
            do_ = Some(r);
        }
        match (ao.take(), bo.take(), co.take(), do_.take()) {
            (Some(a), Some(b), Some(c), Some(d)) => Poll::Ready((a, b, c, d)),
            (a, b, c, d) => {
                (ao, bo, co, do_) = (a, b, c, d);
                Poll::Pending
            }
        }
    })
    .await
}

/// A failed `COMMIT`: the server's refusal (an `ERROR`: the transaction was
/// rolled back) as a store error, which `apply` retries if it is a
/// serialization failure or a deadlock; anything else as an unknown
/// outcome, which is never retried and which the caller must not retry
/// blindly.
///
/// "Anything else" is a connection lost on the way (the server may have
/// committed before the reply was lost) and a `FATAL` or `PANIC` reply: the
/// server is ending the session (terminated by an administrator, shutting
/// down, crashing), and such a reply does not say on which side of the
/// commit record it was raised. A `PANIC` while the commit record is
/// flushed, for one, may leave the change committed after crash recovery.
fn commit_error(e: tokio_postgres::Error) -> Error {
    use tokio_postgres::error::Severity;
    let message = match e.as_db_error() {
        Some(d) if matches!(d.parsed_severity(), Some(Severity::Fatal | Severity::Panic)) => {
            format!(
                "the server ended the session during COMMIT ({} (SQLSTATE {}))",
                d.message(),
                d.code().code()
            )
        }
        Some(_) => return db("commit")(e),
        None => "the connection failed during COMMIT".to_owned(),
    };
    Error::OutcomeUnknown {
        message,
        source: Some(Box::new(e)),
    }
}

/// Whether `e` is a serialization failure or a deadlock, which a new attempt
/// of the whole transaction may not meet.
fn retryable(e: &Error) -> bool {
    let Error::Storage {
        source: Some(source),
        ..
    } = e
    else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|c| {
            *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
        })
}

/// A short random pause before attempt `n` (from 1): up to 2^n ms.
async fn jitter(attempt: u32) {
    let mut b = [0u8; 2];
    let wait = if getrandom::fill(&mut b).is_ok() {
        u64::from(u16::from_le_bytes(b)) % (1_u64 << attempt.min(8))
    } else {
        1
    };
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

/// The values of a dynamically built statement, with their types.
type Values = Vec<(Box<dyn ToSql + Sync + Send>, Type)>;

fn refs(values: &Values) -> Vec<(&(dyn ToSql + Sync), Type)> {
    values
        .iter()
        .map(|(v, t)| (v.as_ref() as &(dyn ToSql + Sync), t.clone()))
        .collect()
}

/// The statement of `q` from `select` (a `SELECT` over its kind's table
/// with the tenant and kind conditions as `$1` and `$2`), with its filters,
/// its values and how to plan it.
fn filtered(select: &str, tenant: TenantId, q: &ListQuery) -> (String, Values, Plans) {
    let mut sql = select.to_owned();
    let mut values: Values = vec![
        (Box::new(uuid(tenant)), Type::UUID),
        (Box::new(q.kind.as_str()), Type::TEXT),
    ];
    let mut add = |cond: &str, v: (Box<dyn ToSql + Sync + Send>, Type), values: &mut Values| {
        values.push(v);
        sql.push_str(&format!(" AND {cond}${}", values.len()));
    };
    if let Some(p) = &q.parent {
        add("parent = ", (Box::new(p.clone()), Type::TEXT), &mut values);
    }
    if let Some(o) = q.owner {
        add(
            "owner_id = ",
            (Box::new(o.to_string()), Type::TEXT),
            &mut values,
        );
    }
    if let Some(t) = q.expires_before {
        add(
            "expires_at IS NOT NULL AND expires_at < ",
            (Box::new(t.unix_millis()), Type::INT8),
            &mut values,
        );
    }
    if let Some(k) = q.sealed_not_under {
        add(
            "key_id IS NOT NULL AND key_id <> ",
            (Box::new(i64::from(k.get())), Type::INT8),
            &mut values,
        );
    }
    if let Some(a) = &q.after {
        add("id > ", (Box::new(a.clone()), Type::TEXT), &mut values);
    }
    // A range on a column that no index leads with after the tenant and
    // kind (an expiry, a key id to move away from) makes the best plan
    // depend on the value: planned for the value, as by default.
    let plans = if q.expires_before.is_some() || q.sealed_not_under.is_some() {
        Plans::Custom
    } else {
        Plans::Generic
    };
    (sql, values, plans)
}

#[async_trait]
impl Store for PostgresStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let rows = self
            .read_in_tenant(
                id,
                tx::TENANT_READ,
                &self.sql.tenant,
                &[(&uuid(id), Type::UUID)],
                Plans::Generic,
            )
            .await?;
        tx::tenant_from(&rows, id)
    }

    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit_n: usize,
    ) -> Result<Vec<TenantId>> {
        const D: &str = "list tenants";
        // No tenant context: the directory's read policy is open to all.
        let client = checkout(&self.pool).await?;
        let n = limit(limit_n);
        let prepared = self.sql.prepared;
        let rows = match after {
            None => {
                client
                    .rows(
                        prepared,
                        &self.sql.directory_tenants_first,
                        &[(&n, Type::INT8)],
                    )
                    .await
            }
            Some(a) => {
                client
                    .rows(
                        prepared,
                        &self.sql.directory_tenants_after,
                        &[(&n, Type::INT8), (&uuid(a), Type::UUID)],
                    )
                    .await
            }
        }
        .map_err(db(D))?;
        rows.iter()
            .map(|r| col::<uuid::Uuid>(r, 0, D).map(TenantId::from_uuid))
            .collect()
    }

    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        let rows = self
            .read_in_tenant(
                tenant,
                "read a row",
                &self.sql.table(kind).get,
                &[
                    (&uuid(tenant), Type::UUID),
                    (&kind.as_str(), Type::TEXT),
                    (&id, Type::TEXT),
                ],
                Plans::Generic,
            )
            .await?;
        rows.first().map(decode_row).transpose()
    }

    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        let rows = self
            .read_in_tenant(
                tenant,
                "read a row by lookup key",
                &self.sql.table(kind).by_lookup,
                &[
                    (&uuid(tenant), Type::UUID),
                    (&kind.as_str(), Type::TEXT),
                    (&lookup, Type::BYTEA),
                ],
                Plans::Generic,
            )
            .await?;
        rows.first().map(decode_row).transpose()
    }

    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        const D: &str = "read the directory";
        apply::check_directory_kind(kind)?;
        let client = checkout(&self.pool).await?;
        let rows = client
            .rows(
                self.sql.prepared,
                &self.sql.directory_lookup,
                &[(&kind.as_str(), Type::TEXT), (&lookup, Type::BYTEA)],
            )
            .await
            .map_err(db(D))?;
        rows.first()
            .map(|r| col::<uuid::Uuid>(r, 0, D).map(TenantId::from_uuid))
            .transpose()
    }

    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        Ok(self
            .credential(kind, lookup, false, false)
            .await?
            .map(|c| (c.tenant, c.row)))
    }

    async fn find_credential(
        &self,
        kind: Kind,
        lookup: &[u8],
        with_tenant: bool,
    ) -> Result<Option<Credential>> {
        self.credential(kind, lookup, true, with_tenant).await
    }

    async fn list(&self, tenant: TenantId, q: &ListQuery) -> Result<Vec<Row>> {
        let (mut sql, mut values, plans) = filtered(&self.sql.table(q.kind).list, tenant, q);
        values.push((Box::new(limit(q.effective_limit())), Type::INT8));
        sql.push_str(&format!(" ORDER BY id LIMIT ${}", values.len()));
        self.read_in_tenant(tenant, "list rows", &sql, &refs(&values), plans)
            .await?
            .iter()
            .map(decode_row)
            .collect()
    }

    async fn count(&self, tenant: TenantId, q: &ListQuery) -> Result<u64> {
        let (sql, values, plans) = filtered(&self.sql.table(q.kind).count, tenant, q);
        let rows = self
            .read_in_tenant(tenant, "count rows", &sql, &refs(&values), plans)
            .await?;
        let n: i64 = rows
            .first()
            .ok_or_else(|| Error::storage("count rows: no row returned"))?
            .try_get(0)
            .map_err(db("count rows"))?;
        u64::try_from(n).map_err(|_| Error::storage("count rows: a negative count"))
    }

    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let mut attempt = 1;
        loop {
            let checked = Checked::new(tenant, batch.clone())?;
            match self.apply_once(tenant, checked, linker.as_ref()).await {
                Err(e) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                    jitter(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn audit_events(&self, tenant: TenantId, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let mut sql = self.sql.audit_list.clone();
        let mut values: Values = vec![(Box::new(uuid(tenant)), Type::UUID)];
        let mut add = |cond: &str, v: (Box<dyn ToSql + Sync + Send>, Type), values: &mut Values| {
            values.push(v);
            sql.push_str(&format!(" AND {cond}${}", values.len()));
        };
        if let Some(s) = q.after_seq {
            // Sequence numbers are stored as bigint: none is after one beyond it.
            let Ok(s) = i64::try_from(s) else {
                return Ok(Vec::new());
            };
            add("seq > ", (Box::new(s), Type::INT8), &mut values);
        }
        if let Some(a) = &q.actor {
            add(
                "actor = ",
                (Box::new(a.to_string()), Type::TEXT),
                &mut values,
            );
        }
        if let Some(a) = &q.action {
            add("action = ", (Box::new(a.clone()), Type::TEXT), &mut values);
        }
        if let Some(t) = &q.target {
            add("target = ", (Box::new(t.clone()), Type::TEXT), &mut values);
        }
        if let Some(f) = q.from {
            add(
                "at >= ",
                (Box::new(f.unix_millis()), Type::INT8),
                &mut values,
            );
        }
        if let Some(u) = q.until {
            add(
                "at < ",
                (Box::new(u.unix_millis()), Type::INT8),
                &mut values,
            );
        }
        values.push((Box::new(limit(q.effective_limit())), Type::INT8));
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", values.len()));
        self.read_in_tenant(
            tenant,
            "read the audit log",
            &sql,
            &refs(&values),
            Plans::Generic,
        )
        .await?
        .iter()
        .map(|r| decode_audit(tenant, r))
        .collect()
    }

    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.in_tenant(tenant, Vec::new(), async |tx| {
            apply::erase(tx, tenant).await
        })
        .await
    }

    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        const D: &str = "read a store setting";
        check_meta(name, &[])?;
        let client = checkout(&self.pool).await?;
        let rows = client
            .rows(self.sql.prepared, &self.sql.meta, &[(&name, Type::TEXT)])
            .await
            .map_err(db(D))?;
        rows.first().map(|r| col(r, 0, D)).transpose()
    }

    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        const D: &str = "write a store setting";
        check_meta(name, value)?;
        let client = checkout(&self.pool).await?;
        // One statement each way, atomic against every other writer: an
        // insert that a present row turns into nothing, or an update at the
        // expected value.
        let prepared = self.sql.prepared;
        let written = match expected {
            None => {
                client
                    .count(
                        prepared,
                        &self.sql.meta_insert,
                        &[(&name, Type::TEXT), (&value, Type::BYTEA)],
                    )
                    .await
            }
            Some(old) => {
                client
                    .count(
                        prepared,
                        &self.sql.meta_update,
                        &[
                            (&name, Type::TEXT),
                            (&value, Type::BYTEA),
                            (&old, Type::BYTEA),
                        ],
                    )
                    .await
            }
        }
        .map_err(db(D))?;
        Ok(written == 1)
    }
}
