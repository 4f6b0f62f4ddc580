//! The SQLite backend: the whole store in one file, with the bundled SQLite.
//!
//! One writing connection behind a mutex (every batch in a `BEGIN IMMEDIATE`
//! transaction), a few read-only connections so reads run beside writes
//! (WAL), and every call on Tokio's blocking pool, never on an async worker
//! thread. Concurrent batches share a transaction and its fsync (group
//! commit, `group.rs`). The schema and the pragmas are described in
//! `schema.rs`; the reads are in `sql.rs`, the writes of a batch in `tx.rs`,
//! and what a batch checks in the shared rules (`store/apply.rs`).

mod group;
mod schema;
mod sql;
mod tx;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Duration;
use std::{fmt, io};

use async_trait::async_trait;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use self::group::Committer;
use self::sql::db;
use crate::audit::{AuditLinker, AuditRecord};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::store::apply::{self, Checked};
use crate::store::{AuditQuery, Batch, HealthCheck, Kind, ListQuery, Row, Store, Tenant};

pub use self::schema::SCHEMA_VERSION;

/// Read-only connections per store: reads beyond this many at once queue.
const READERS: usize = 4;

/// How a [`SqliteStore`] is opened: [`SqliteStore::open_with`].
///
/// ```
/// use secrets_core::store::SqliteOptions;
///
/// let options = SqliteOptions::default().group_commit(false);
/// assert!(!options.is_group_commit());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SqliteOptions {
    group_commit: bool,
}

impl Default for SqliteOptions {
    /// Group commit on.
    fn default() -> Self {
        Self { group_commit: true }
    }
}

impl SqliteOptions {
    /// Whether concurrent batches share one transaction and one fsync (on by
    /// default). Each batch still succeeds or fails alone (one that fails
    /// after writing is rolled back to a savepoint of its own) and each
    /// caller returns only once the shared commit is
    /// durable; off, every batch is its own transaction and fsync, and
    /// concurrent writers wait for each other's. Off is for comparison
    /// (`benches/benches/store.rs`); there is no durability or isolation
    /// reason to turn it off.
    ///
    /// ```
    /// use secrets_core::store::SqliteOptions;
    ///
    /// assert!(SqliteOptions::default().is_group_commit());
    /// assert!(!SqliteOptions::default().group_commit(false).is_group_commit());
    /// ```
    #[must_use]
    pub fn group_commit(mut self, on: bool) -> Self {
        self.group_commit = on;
        self
    }

    /// Whether group commit is on.
    ///
    /// ```
    /// use secrets_core::store::SqliteOptions;
    ///
    /// assert!(SqliteOptions::default().is_group_commit());
    /// ```
    #[must_use]
    pub fn is_group_commit(&self) -> bool {
        self.group_commit
    }
}

/// A [`Store`] in one SQLite file.
///
/// The file is created with mode 0600 on Unix (its `-wal` and `-shm`
/// companions inherit it), opened in WAL mode with foreign keys on and
/// migrated to [`SCHEMA_VERSION`]. Reads (and writes with group commit
/// off) run off the runtime's workers (`block_in_place` on a multi-threaded
/// Tokio runtime, the blocking pool on a current-thread one), so the store
/// must be used inside a Tokio runtime (either flavour); outside one such a
/// call fails with [`Error::Internal`].
///
/// A batch reported applied has been fsynced: it survives the process being
/// killed and the machine losing power. Deleted rows are overwritten in the
/// file (`secure_delete`), and erasing a tenant also empties the
/// write-ahead log, so erased values do not linger on disk (backups taken
/// before hold them, of course).
///
/// Concurrent writers share commits: the store's own writer thread takes
/// every batch queued while it was committing the previous group and
/// applies them together in the next transaction (one failing batch fails
/// alone, rolled back to a savepoint of its own), with one fsync for all; each
/// caller awaits its answer without blocking a runtime worker and returns
/// once that commit is durable. This is [`SqliteOptions::group_commit`], on
/// by default; the thread ends when the store is dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
/// use secrets_core::crypto::{KeyRing, MasterKey};
/// use secrets_core::store::{Batch, Change, Kind, Row, SqliteStore, Store, Tenant};
/// use secrets_core::{TenantId, Timestamp};
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("secrets.db")).await?;
/// let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&KeyRing::new(MasterKey::generate()?)));
/// let now = Timestamp::from_unix_seconds(1_700_000_000);
///
/// let tenant = Tenant::new(TenantId::DEFAULT, "acme", now)?;
/// let row = Row::new(Kind::AppSecret, "web/DATABASE_URL", br#"{"v":1}"#.to_vec());
/// let batch = Batch::new(AuditDraft::new(Actor::System, "setup", "tenant/acme", now))
///     .with(Change::CreateTenant(tenant))
///     .with(Change::Insert(row));
/// let event = store.apply(TenantId::DEFAULT, batch, &chain).await?;
/// assert_eq!(event.seq, 1);
///
/// let stored = store.get(TenantId::DEFAULT, Kind::AppSecret, "web/DATABASE_URL").await?;
/// assert_eq!(stored.map(|r| r.version), Some(1));
/// # Ok(()) }
/// ```
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    // Fields drop in order: the readers close before the writer, so that
    // the last connection to close can checkpoint and remove the WAL (a
    // read-only one cannot).
    // The writer thread holds the writer too, and closes it last, when
    // the committer (dropped after the readers) has joined it.
    readers: Vec<Mutex<Connection>>,
    writer: Arc<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The writer thread that group-commits batches (`group.rs`); `None`
    /// with group commit off.
    committer: Option<Committer>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("readers", &self.inner.readers.len())
            .field("group_commit", &self.inner.committer.is_some())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file (mode 0600 on Unix) if
    /// it does not exist, and migrating its schema to [`SCHEMA_VERSION`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("secrets.db");
    /// let store = SqliteStore::open(&path).await?;
    /// drop(store);
    /// // Opening again finds the schema in place.
    /// let again = SqliteStore::open(&path).await?;
    /// # let _ = again;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::SchemaTooNew`] if a newer version of this library wrote the
    /// database; [`Error::Storage`] if the file cannot be created or opened,
    /// is not a SQLite database, or refuses WAL mode.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Opens the store at `path` as [`SqliteStore::open`] does, with
    /// `options`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::{SqliteOptions, SqliteStore};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let one_commit_per_batch = SqliteOptions::default().group_commit(false);
    /// let store = SqliteStore::open_with(dir.path().join("secrets.db"), one_commit_per_batch).await?;
    /// # let _ = store;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`SqliteStore::open`].
    pub async fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let inner = off_worker(move || Inner::open(path, &options)).await?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The database file, as an absolute path.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("secrets.db")).await?;
    /// assert!(store.path().is_absolute());
    /// assert!(store.path().ends_with("secrets.db"));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes a consistent copy of the database to `dest`, online: writers
    /// carry on while it runs. The copy is one self-contained file (no
    /// `-wal` beside it), mode 0600 on Unix, fsynced; restore it with
    /// [`SqliteStore::restore`].
    ///
    /// The copy is made with SQLite's backup API from a separate read-only
    /// connection, in one step: it sees one snapshot of the database, and
    /// under WAL that snapshot does not hold writers back.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("secrets.db")).await?;
    /// let backup = dir.path().join("secrets.backup");
    /// store.backup_to(&backup).await?;
    /// assert!(backup.is_file());
    /// // An existing file is never overwritten.
    /// assert!(store.backup_to(&backup).await.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if `dest` (or a `-wal` or `-journal` file
    /// beside it) exists; [`Error::Storage`] if the copy fails, in which case
    /// nothing is left at `dest`.
    pub async fn backup_to(&self, dest: impl AsRef<Path>) -> Result<()> {
        let source = self.inner.path.clone();
        let dest = dest.as_ref().to_path_buf();
        off_worker(move || {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let src = Connection::open_with_flags(&source, flags)
                .map_err(db("open the database for a backup"))?;
            src.busy_timeout(Duration::from_secs(5))
                .map_err(db("set busy_timeout"))?;
            copy_database(&src, &dest)
        })
        .await
    }

    /// Restores the backup at `backup` to a new database file at `dest`,
    /// to be opened with [`SqliteStore::open`]. The backup is checked first:
    /// it must be a SQLite database that passes `PRAGMA integrity_check` and
    /// `PRAGMA foreign_key_check` and carries a schema version this build
    /// knows. The backup itself is opened read-only and left untouched.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("secrets.db")).await?;
    /// let backup = dir.path().join("secrets.backup");
    /// store.backup_to(&backup).await?;
    ///
    /// let restored = dir.path().join("restored.db");
    /// SqliteStore::restore(&backup, &restored).await?;
    /// let reopened = SqliteStore::open(&restored).await?;
    /// # let _ = reopened;
    /// // Restoring over an existing file is refused.
    /// assert!(SqliteStore::restore(&backup, &restored).await.is_err());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if `backup` is not a file; [`Error::SchemaTooNew`]
    /// if a newer version of this library wrote it; [`Error::Storage`] if it is
    /// not a secrets-core database, fails a check, or the copy fails (then
    /// nothing is left at `dest`); [`Error::AlreadyExists`] if `dest` (or a
    /// `-wal` or `-journal` file beside it) exists.
    pub async fn restore(backup: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<()> {
        let backup = backup.as_ref().to_path_buf();
        let dest = dest.as_ref().to_path_buf();
        off_worker(move || {
            let src = open_verified_backup(&backup)?;
            copy_database(&src, &dest)
        })
        .await
    }

    /// Checks the live database as an operator's `doctor` does: SQLite's
    /// `PRAGMA integrity_check` (every page, index and constraint of the
    /// file), `PRAGMA foreign_key_check`, and the schema version. Online, on
    /// a reader connection: writers carry on. A failing check is a finding
    /// in the result, not an error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use secrets_core::store::SqliteStore;
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = SqliteStore::open(dir.path().join("secrets.db")).await?;
    /// let checks = store.diagnose().await?;
    /// assert!(checks.iter().all(|c| c.ok));
    /// assert!(checks.iter().any(|c| c.name == "integrity"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] if a check cannot run at all.
    pub async fn diagnose(&self) -> Result<Vec<HealthCheck>> {
        self.read(diagnose).await
    }

    /// Runs `f` on a reader connection, on the blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        off_worker(move || f(&inner.reader())).await
    }
}

impl Inner {
    fn open(path: PathBuf, options: &SqliteOptions) -> Result<Self> {
        create_private_file(&path, false)?;
        let path = std::fs::canonicalize(&path).map_err(|e| io_error("resolve", &path, &e))?;
        let writer = schema::open_writer(&path)?;
        let readers = (0..READERS)
            .map(|_| schema::open_reader(&path).map(Mutex::new))
            .collect::<Result<Vec<_>>>()?;
        let writer = Arc::new(Mutex::new(writer));
        let committer = if options.group_commit {
            Some(Committer::start(Arc::clone(&writer))?)
        } else {
            None
        };
        Ok(Self {
            path,
            writer,
            readers,
            next_reader: AtomicUsize::new(0),
            committer,
        })
    }

    /// A reader connection: the first free one, starting from a rotating
    /// position, or, if all are busy, the next in turn once it frees.
    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
        let mut turn = self.readers.iter().cycle().skip(start).take(READERS);
        for m in turn.clone() {
            match m.try_lock() {
                Ok(guard) => return guard,
                Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        // A connection holds no state between calls (a panicking read only
        // unwinds through a finished statement), so a poisoned lock is sound.
        match turn.next() {
            Some(m) => m.lock().unwrap_or_else(PoisonError::into_inner),
            // There is always a reader; reading through the writer is
            // correct should that ever change.
            None => self.writer.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// The writer connection. A panic under the lock unwinds through the
    /// transaction's drop, which rolls back, and a connection left inside a
    /// transaction is rolled back before its next use, so a poisoned lock
    /// is sound.
    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one checked batch in a transaction of its own (group commit
    /// off).
    fn apply_alone(&self, batch: Checked, linker: &dyn AuditLinker) -> Result<AuditRecord> {
        self.write(|tx| group::run(tx, &mut tx::Memo::default(), batch, linker))
    }

    /// Runs `f` inside an immediate transaction on the writer, and commits
    /// if it succeeds; any error rolls everything back.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer();
        if !conn.is_autocommit() {
            // Only if a rollback failed earlier: start clean.
            conn.execute_batch("ROLLBACK")
                .map_err(db("roll back an abandoned transaction"))?;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db("begin a transaction"))?;
        let out = f(&tx)?;
        tx.commit().map_err(db("commit"))?;
        Ok(out)
    }

    /// Copies the WAL into the database file and empties it, so that the
    /// values just erased (overwritten in the file under `secure_delete`)
    /// do not linger in old log frames. Best effort: it waits for in-flight
    /// reads (up to the busy timeout), and if it cannot finish the frames
    /// stay until the log is next reused.
    fn truncate_log(&self) {
        let conn = self.writer();
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    }
}

/// Runs blocking SQLite work without blocking the async runtime's workers.
///
/// On a multi-threaded Tokio runtime (what servers run) the work runs right
/// here inside [`tokio::task::block_in_place`], which first hands this
/// worker's other tasks to another thread: no thread hand-off on the way in
/// or out, which is most of the cost of a short indexed read. On a
/// current-thread runtime, where that is not allowed, it goes to the
/// blocking pool with `spawn_blocking`. Either way no async worker stalls.
///
/// One consequence of the first path: futures joined *within the same task*
/// (`tokio::join!`) do not interleave with the SQLite work; separate tasks
/// (`tokio::spawn`) run in parallel as usual.
async fn off_worker<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::Internal {
        what: "the SQLite store was used outside a Tokio runtime",
    })?;
    if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(f);
    }
    handle
        .spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal {
            what: if e.is_panic() {
                "a SQLite worker thread panicked"
            } else {
                "a SQLite worker task was cancelled"
            },
        })?
}

fn io_error(doing: &str, path: &Path, e: &io::Error) -> Error {
    Error::storage_from(
        format!("could not {doing} `{}`: {e}", path.display()),
        io::Error::new(e.kind(), e.to_string()),
    )
}

/// `path` with `suffix` appended (`x.db` -> `x.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Creates `path` readable and writable by its owner only (on Unix), before
/// SQLite opens it: SQLite gives its `-wal` and `-shm` files the same mode.
/// With `new`, refuses an existing file; without, keeps one.
fn create_private_file(path: &Path, new: bool) -> Result<()> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true).truncate(false);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(Error::AlreadyExists {
            what: "file".into(),
            id: path.display().to_string(),
        }),
        Err(e) => Err(io_error("create", path, &e)),
    }
}

/// What `PRAGMA integrity_check` reports, none for a sound file.
fn integrity_problems(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(db("run SQLite's integrity check"))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db("run SQLite's integrity check"))?;
    let problems = rows
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db("run SQLite's integrity check"))?;
    Ok(if problems == ["ok"] {
        Vec::new()
    } else {
        problems
    })
}

/// How many references `PRAGMA foreign_key_check` finds broken.
fn broken_references(conn: &Connection) -> Result<i64> {
    conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })
    .map_err(db("check the database's references"))
}

/// The checks of [`SqliteStore::diagnose`], on one connection.
fn diagnose(conn: &Connection) -> Result<Vec<HealthCheck>> {
    let problems = integrity_problems(conn)?;
    let integrity = match problems.first() {
        None => HealthCheck::new("integrity", true, "PRAGMA integrity_check: ok"),
        Some(first) => HealthCheck::new(
            "integrity",
            false,
            format!(
                "PRAGMA integrity_check found {} problems, the first: {first}; \
                 restore the latest backup that passes",
                problems.len()
            ),
        ),
    };
    let broken = broken_references(conn)?;
    let references = HealthCheck::new(
        "foreign_keys",
        broken == 0,
        format!("PRAGMA foreign_key_check: {broken} broken references"),
    );
    let version = schema::version(conn)?;
    let schema = HealthCheck::new(
        "schema_version",
        version == SCHEMA_VERSION,
        format!("version {version} (this build writes {SCHEMA_VERSION})"),
    );
    Ok(vec![integrity, references, schema])
}

/// Opens a backup read-only and checks it is a sound secrets-core database.
fn open_verified_backup(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(Error::NotFound {
            what: "backup file".into(),
            id: path.display().to_string(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(db("open the backup"))?;
    let problems = integrity_problems(&conn)?;
    if !problems.is_empty() {
        return Err(Error::storage(format!(
            "the backup `{}` fails SQLite's integrity check ({} problems); it cannot be restored",
            path.display(),
            problems.len()
        )));
    }
    let version = schema::version(&conn).map_err(|_| {
        Error::storage(format!(
            "`{}` is not a secrets-core database (it has no schema version)",
            path.display()
        ))
    })?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version < 1 {
        return Err(Error::storage(format!(
            "`{}` is not a secrets-core database (its schema version is {version})",
            path.display()
        )));
    }
    let broken = broken_references(&conn)?;
    if broken != 0 {
        return Err(Error::storage(format!(
            "the backup `{}` has {broken} broken references; it cannot be restored",
            path.display()
        )));
    }
    Ok(conn)
}

/// Copies the database of `src` into a new file at `dest`; on failure,
/// removes what it created.
fn copy_database(src: &Connection, dest: &Path) -> Result<()> {
    // A stale log or journal beside `dest` would be replayed into the copy.
    for suffix in ["-wal", "-journal"] {
        let companion = sibling(dest, suffix);
        if companion.exists() {
            return Err(Error::AlreadyExists {
                what: "file".into(),
                id: companion.display().to_string(),
            });
        }
    }
    create_private_file(dest, true)?;
    let result = copy_into(src, dest);
    if result.is_err() {
        for path in [
            dest.to_path_buf(),
            sibling(dest, "-journal"),
            sibling(dest, "-wal"),
            sibling(dest, "-shm"),
        ] {
            // Best effort: the copy's own error is what the caller needs.
            let _ = std::fs::remove_file(path);
        }
    }
    result
}

fn copy_into(src: &Connection, dest: &Path) -> Result<()> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    {
        let mut dst = Connection::open_with_flags(dest, flags).map_err(db("open the copy"))?;
        let backup = Backup::new(src, &mut dst).map_err(db("start the copy"))?;
        // Every page in one step, in one read transaction of the source: a
        // consistent snapshot, which under WAL does not block writers.
        // Stepping a few pages at a time would restart the copy whenever
        // another connection writes, and might never finish under steady
        // writes.
        let mut waits = 0;
        loop {
            match backup.step(-1).map_err(db("copy the database"))? {
                StepResult::Done => break,
                StepResult::More => {}
                _ => {
                    // Busy or locked: another process holds a lock.
                    waits += 1;
                    if waits > 50 {
                        return Err(Error::storage(
                            "could not copy the database: it stayed locked",
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    // The copy carries the source's WAL flag: switch it to a rollback
    // journal so that it is one self-contained file, then close it cleanly.
    let dst = Connection::open_with_flags(dest, flags).map_err(db("open the copy"))?;
    dst.query_row("PRAGMA journal_mode = DELETE", [], |r| {
        r.get::<_, String>(0)
    })
    .map_err(db("set the copy's journal mode"))?;
    dst.close().map_err(|(_, e)| db("close the copy")(e))?;
    let file = std::fs::File::open(dest).map_err(|e| io_error("open", dest, &e))?;
    file.sync_all().map_err(|e| io_error("sync", dest, &e))?;
    sync_parent(dest)
}

/// Makes the new directory entry of `path` durable.
fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync the directory of", path, &e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.read(move |c| sql::tenant(c, id)).await
    }

    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.read(move |c| sql::directory_tenants(c, after, limit))
            .await
    }

    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.read(move |c| sql::tenants(c, after, limit)).await
    }

    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        let id = id.to_owned();
        self.read(move |c| sql::get(c, tenant, kind, &id)).await
    }

    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        let lookup = lookup.to_vec();
        self.read(move |c| sql::get_by_lookup(c, tenant, kind, &lookup))
            .await
    }

    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        apply::check_directory_kind(kind)?;
        let lookup = lookup.to_vec();
        self.read(move |c| sql::directory_lookup(c, kind, &lookup))
            .await
    }

    /// One indexed read on one reader hop: the same answer as the provided
    /// method's two reads (see `sql::find_by_lookup`).
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        apply::check_directory_kind(kind)?;
        let lookup = lookup.to_vec();
        self.read(move |c| sql::find_by_lookup(c, kind, &lookup))
            .await
    }

    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        let query = query.clone();
        self.read(move |c| sql::list(c, tenant, &query)).await
    }

    async fn count(&self, tenant: TenantId, query: &ListQuery) -> Result<u64> {
        let query = query.clone();
        self.read(move |c| sql::count(c, tenant, &query)).await
    }

    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        let batch = Checked::new(tenant, batch)?;
        // The event is numbered and linked inside the write transaction, on
        // the writer's thread: no change without its linked audit event.
        let linker = Arc::clone(linker);
        let Some(committer) = &self.inner.committer else {
            let inner = Arc::clone(&self.inner);
            return off_worker(move || inner.apply_alone(batch, linker.as_ref())).await;
        };
        // A lone writer on a multi-threaded runtime commits in place; under
        // load the batch joins the writer thread's next group.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi_thread && committer.idle() {
            let free = match self.inner.writer.try_lock() {
                Ok(conn) => Some(conn),
                // See `Inner::writer` on why a poisoned lock is sound.
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut conn) = free {
                return tokio::task::block_in_place(|| {
                    Committer::commit_alone(&mut conn, batch, linker)
                });
            }
        }
        committer.submit(batch, linker)?.answer().await
    }

    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        let query = query.clone();
        self.read(move |c| sql::audit_events(c, tenant, &query))
            .await
    }

    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        off_worker(move || {
            inner.write(|tx| {
                let mut memo = tx::Memo::default();
                apply::run_now(apply::erase(&mut tx::SqliteTx::new(tx, &mut memo), tenant))
            })?;
            inner.truncate_log();
            Ok(())
        })
        .await
    }

    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        crate::store::check_meta(name, &[])?;
        let name = name.to_owned();
        self.read(move |c| sql::meta(c, &name)).await
    }

    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        crate::store::check_meta(name, value)?;
        let (name, value) = (name.to_owned(), value.to_vec());
        let expected = expected.map(<[u8]>::to_vec);
        let inner = Arc::clone(&self.inner);
        off_worker(move || inner.write(|tx| sql::set_meta(tx, &name, &value, expected.as_deref())))
            .await
    }
}
