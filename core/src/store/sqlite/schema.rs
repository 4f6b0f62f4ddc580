//! The schema (numbered migrations) and how connections are opened.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::sql::db;
use crate::error::{Error, Result};

/// The schema version this build writes, and the newest it opens. A database
/// with a newer version is refused with [`Error::SchemaTooNew`].
///
/// ```
/// use secrets_core::store::SCHEMA_VERSION;
///
/// // Versions count the migrations applied, from 1.
/// assert!(SCHEMA_VERSION >= 1);
/// ```
pub const SCHEMA_VERSION: i64 = 4;

/// The migrations, in order: migration `n` (from 1) brings the schema from
/// version `n - 1` to `n`. Never edit a released one; append a new one.
///
/// Layout (the whole of it is in `docs/FORMATS.md`, "SQLite store"),
/// version 1:
///
/// - `users` and `records` hold [`Row`](crate::store::Row)s with the same
///   columns: users (kind `user`) sit in their own table so that
///   `records (tenant_id, owner_id)` can reference `users (tenant_id, id)`:
///   a row can only be owned by a user of its own tenant, and goes with it.
/// - `lookup_scope` is the tenant id for per-tenant lookup keys and an empty
///   blob for kinds whose lookup key is unique across tenants, so one unique
///   index `(kind, lookup_scope, lookup)` enforces both rules.
/// - `key_id` is the key that sealed `sealed`, for rewrap's
///   "sealed under another key" filter.
/// - Times are Unix milliseconds; tenant ids 16-byte blobs; owner ids the
///   user id's hyphenated text (a user row's id).
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE tenants (
    id          BLOB    PRIMARY KEY CHECK (length(id) = 16),
    version     INTEGER NOT NULL CHECK (version >= 1),
    body        BLOB    NOT NULL
) STRICT;

CREATE TABLE users (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind = 'user'),
    id           TEXT    NOT NULL,
    parent       TEXT,
    owner_id     TEXT    CHECK (owner_id IS NULL),
    lookup_scope BLOB,
    lookup       BLOB,
    expires_at   INTEGER,
    version      INTEGER NOT NULL CHECK (version >= 1),
    body         BLOB    NOT NULL,
    sealed       BLOB,
    key_id       INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK ((lookup IS NULL) = (lookup_scope IS NULL))
) STRICT;
CREATE UNIQUE INDEX users_lookup ON users (kind, lookup_scope, lookup);
CREATE INDEX users_parent ON users (tenant_id, parent, id) WHERE parent IS NOT NULL;
CREATE INDEX users_key ON users (tenant_id, key_id) WHERE key_id IS NOT NULL;

CREATE TABLE records (
    tenant_id    BLOB    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind <> 'user'),
    id           TEXT    NOT NULL,
    parent       TEXT,
    owner_id     TEXT,
    lookup_scope BLOB,
    lookup       BLOB,
    expires_at   INTEGER,
    version      INTEGER NOT NULL CHECK (version >= 1),
    body         BLOB    NOT NULL,
    sealed       BLOB,
    key_id       INTEGER,
    PRIMARY KEY (tenant_id, kind, id),
    FOREIGN KEY (tenant_id, owner_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CHECK ((lookup IS NULL) = (lookup_scope IS NULL))
) STRICT;
CREATE UNIQUE INDEX records_lookup ON records (kind, lookup_scope, lookup);
CREATE INDEX records_parent ON records (tenant_id, kind, parent, id) WHERE parent IS NOT NULL;
CREATE INDEX records_owner ON records (tenant_id, owner_id, kind, id);
CREATE INDEX records_expiry ON records (tenant_id, kind, expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX records_key ON records (tenant_id, kind, key_id) WHERE key_id IS NOT NULL;

CREATE TABLE audit_events (
    tenant_id   BLOB    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    source      TEXT,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
    details     TEXT    NOT NULL CHECK (json_valid(details)),
    prev_hash   BLOB    NOT NULL CHECK (length(prev_hash) = 32),
    hash        BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, seq)
) STRICT;
CREATE INDEX audit_actor ON audit_events (tenant_id, actor, seq);
CREATE INDEX audit_action ON audit_events (tenant_id, action, seq);
CREATE INDEX audit_target ON audit_events (tenant_id, target, seq);
",
    // Version 2: row integrity and store-wide settings (issue 8, I7 and the
    // master key check). `tag` is a row's 32-byte MAC (`docs/FORMATS.md`), NULL
    // on rows written before this version until the Vault's tagging pass runs;
    // `meta` holds store-wide settings outside every tenant (the master key's
    // check value, the tagging marker).
    r"
ALTER TABLE users ADD COLUMN tag BLOB CHECK (tag IS NULL OR length(tag) = 32);
ALTER TABLE records ADD COLUMN tag BLOB CHECK (tag IS NULL OR length(tag) = 32);
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;
",
    // Version 3: the lookup directory (issue 9). `(kind, lookup) -> tenant`
    // for the kinds whose lookup key is global (token hashes, OAuth states):
    // what token authentication reads before it knows the tenant. Written in
    // the same transaction as the row it indexes (the shared rules do it);
    // filled here from the rows already stored. The primary key makes a
    // global lookup key unique across tenants. The tenant directory is the
    // `tenants` table itself (one row per tenant, keyed by id).
    r"
CREATE TABLE lookup_directory (
    kind      TEXT NOT NULL,
    lookup    BLOB NOT NULL,
    tenant_id BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, lookup)
) STRICT, WITHOUT ROWID;
CREATE INDEX lookup_directory_tenant ON lookup_directory (tenant_id);
INSERT INTO lookup_directory (kind, lookup, tenant_id)
    SELECT kind, lookup, tenant_id FROM records
    WHERE lookup_scope = X'' AND lookup IS NOT NULL;
",
    // Version 4: no index on `key_id`. The rewrap filter ("sealed under
    // another key than k") is an inequality, which SQLite answers from the
    // primary key (tenant, kind, id) in id order, the order the pass pages
    // in; the indexes were never used and cost every re-sealing write an
    // index entry moved.
    r"
DROP INDEX records_key;
DROP INDEX users_key;
",
];

// One migration per schema version, no more, no fewer.
const _: () = assert!(MIGRATIONS.len() as i64 == SCHEMA_VERSION);

/// How long a connection waits for another process's lock before failing
/// with "database is locked". Within one process writes queue on a mutex
/// first, so this only matters when several processes share the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection: the fixed ones plus the list
/// query shapes in use.
const STATEMENT_CACHE: usize = 64;

/// Opens the one writing connection, sets it up and migrates the schema.
///
/// Pragmas:
///
/// - `journal_mode = WAL`: readers never block the writer nor it them, and
///   a commit is one append to the log.
/// - `synchronous = FULL`: every commit is fsynced to the log before
///   [`Store::apply`](crate::store::Store::apply) returns, so a committed
///   change survives power loss and OS crashes, not only the process being
///   killed. (Under WAL, `NORMAL` already survives SIGKILL, since committed
///   frames are in the OS page cache; it could lose the last commits on
///   power loss, and a revocation or an audit event that silently
///   un-happens is not acceptable here. The price is one fsync per write.)
/// - `foreign_keys = ON`: the composite references are enforced (defence
///   in depth: the store also checks owners itself to report `NotFound`).
/// - `secure_delete = ON`: deleted rows (token hashes, sealed values) are
///   overwritten in the file instead of lingering in free pages.
/// - `trusted_schema = OFF`: no SQL functions with side effects from the
///   schema of a file someone may have tampered with.
/// - `journal_size_limit = 64 MiB`: after a burst of writes the log file is
///   cut back to this size at the next checkpoint instead of keeping its
///   high-water size.
/// - `temp_store = MEMORY`: the statement journal of a batch's savepoint
///   (the prior content of every page the batch touches; savepoints are
///   used when a batch of a group fails after writing) stays in memory
///   instead of spilling to a temporary file beside the system's other
///   temporary files, which costs a file creation per group and would put
///   copies of pages on disk outside the database.
///
/// And on every connection the query planner stability guarantee (see
/// [`stable_plans`]).
pub(super) fn open_writer(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(db("open the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("set busy_timeout"))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(db("enable WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::storage(format!(
            "the database refused WAL mode (it stays in `{mode}` mode)"
        )));
    }
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;
         PRAGMA trusted_schema = OFF;",
    )
    .map_err(db("set pragmas"))?;
    stable_plans(&conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens a read-only connection (the schema must exist).
pub(super) fn open_reader(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db("open a reader"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(db("set busy_timeout"))?;
    conn.execute_batch("PRAGMA trusted_schema = OFF;")
        .map_err(db("set pragmas"))?;
    stable_plans(&conn)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Turns on SQLite's query planner stability guarantee: a statement's plan
/// never depends on the values bound to it. Every query here is keyed by
/// equality on indexed columns, so no plan is lost, and without it SQLite
/// marks some statements (the audit head's, for one) as depending on their
/// parameters and compiles them again on every use from the statement
/// cache, which was a tenth of the writer's time.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(db("enable the query planner stability guarantee"))?;
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`] in one immediate transaction
/// (two processes opening the same new file at once migrate it once).
fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db("begin the migration"))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         ) STRICT;",
    )
    .map_err(db("create the schema_version table"))?;
    let current = version(&tx)?;
    if current > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    let now = crate::clock::Clock::now(&crate::clock::SystemClock).unix_millis();
    for (number, sql) in (1_i64..).zip(MIGRATIONS) {
        if number <= current {
            continue;
        }
        tx.execute_batch(sql).map_err(db("apply a migration"))?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (number, now),
        )
        .map_err(db("record a migration"))?;
    }
    tx.commit().map_err(db("commit the migration"))
}

/// The schema version of an open database (0 for an empty one).
///
/// # Errors
///
/// [`Error::Storage`] if it has no `schema_version` table (not a
/// secrets-core database) or it cannot be read.
pub(super) fn version(conn: &Connection) -> Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
    .map_err(db("read the schema version"))
}
