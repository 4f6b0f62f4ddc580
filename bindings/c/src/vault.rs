//! `sc_vault`: a Vault with its own multi-threaded tokio runtime, on which
//! every call blocks.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use core_lib::store::{MemoryStore, SqliteStore, Store};
use core_lib::vault::{Vault, VaultConfig};
use core_lib::{Error, SystemClock};

use crate::boundary::{Fail, Out, free_guard, guard, handle, opt_text, text};
use crate::caller::{caller_arg, sc_caller};
use crate::keyring::sc_keyring;
use crate::result::sc_result;

/// A vault: the store, the key ring, and a tokio runtime of its own.
///
/// Thread-safe (`Vault` is `Send + Sync`): any number of threads may call
/// functions on one `sc_vault` at once. Used in a child process after
/// `fork()`, every call returns `SC_USED_AFTER_FORK` at once (the runtime's
/// threads do not exist there), and `sc_vault_free` in the child frees
/// nothing (it leaks the handle rather than wait for threads that are
/// gone): open a new vault in the child.
#[allow(non_camel_case_types)]
pub struct sc_vault {
    /// The process that created it.
    pid: u32,
    /// `None` only while being freed.
    runtime: Option<tokio::runtime::Runtime>,
    vault: Option<Vault>,
}

impl std::fmt::Debug for sc_vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("sc_vault")
            .field("pid", &self.pid)
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl sc_vault {
    /// Runs `f` on the vault, blocking the calling thread on the runtime.
    pub(crate) fn run<T, F>(&self, f: impl FnOnce(Vault) -> F) -> Result<T, Fail>
    where
        F: Future<Output = core_lib::Result<T>>,
    {
        if std::process::id() != self.pid {
            return Err(Fail::Fork("sc_vault"));
        }
        let (Some(runtime), Some(vault)) = (&self.runtime, &self.vault) else {
            return Err(Error::Internal {
                what: "the vault is being freed",
            }
            .into());
        };
        runtime.block_on(f(vault.clone())).map_err(Fail::Core)
    }
}

/// The bcrypt cost the vault uses when `password_cost` is 0.
pub const SC_DEFAULT_PASSWORD_COST: u32 = 12;
// A literal above, so that the header can carry it; equal to the core's.
const _: () = assert!(SC_DEFAULT_PASSWORD_COST == core_lib::password::DEFAULT_COST);

fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("secrets-core")
        .build()
        .map_err(|_| Error::Internal {
            what: "the tokio runtime could not be started",
        })
}

async fn open_store(url: &str, schema: Option<&str>) -> Result<Arc<dyn Store>, Error> {
    let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if schema.is_some() && !postgres {
        return Err(Error::invalid("schema", "is for a PostgreSQL URL only"));
    }
    if url == "memory:" || url == "memory://" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        if path.is_empty() {
            return Err(Error::invalid(
                "url",
                "names no SQLite file after `sqlite:`",
            ));
        }
        return Ok(Arc::new(SqliteStore::open(path).await?));
    }
    if postgres {
        return open_postgres(url, schema).await;
    }
    Err(Error::invalid(
        "url",
        "must be `memory:`, `sqlite:PATH` or `postgres://...`",
    ))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, schema: Option<&str>) -> Result<Arc<dyn Store>, Error> {
    let store = core_lib::store::PostgresStore::open(url, postgres_options(schema)).await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str, _schema: Option<&str>) -> Result<Arc<dyn Store>, Error> {
    Err(no_postgres())
}

/// Creates or upgrades the PostgreSQL schema `schema` (NULL for the
/// default, `secrets_core`), connecting as the owner role (`owner_url`; the
/// app role that `sc_vault_open` connects as cannot):
/// numbered migrations, each in one transaction, under an advisory lock.
/// Run it at deploy time, before opening vaults. Needs a build with the
/// `postgres` feature (`SC_ERR_INVALID_INPUT` otherwise).
///
/// # Safety
///
/// `owner_url`, `schema` NULL or valid for their lengths.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_postgres_migrate(
    owner_url: *const c_char,
    owner_url_len: usize,
    schema: *const c_char,
    schema_len: usize,
) -> sc_result {
    guard("sc_postgres_migrate", || {
        // SAFETY: the caller's contract above.
        let (url, schema) = unsafe {
            (
                text("owner_url", owner_url, owner_url_len)?,
                opt_text("schema", schema, schema_len)?,
            )
        };
        let runtime = runtime()?;
        let migrated = runtime.block_on(migrate_postgres(url, schema));
        runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        migrated.map_err(Fail::Core)
    })
}

#[cfg(feature = "postgres")]
fn postgres_options(schema: Option<&str>) -> core_lib::store::PostgresOptions {
    let options = core_lib::store::PostgresOptions::default();
    match schema {
        Some(schema) => options.schema(schema),
        None => options,
    }
}

#[cfg(feature = "postgres")]
async fn migrate_postgres(url: &str, schema: Option<&str>) -> Result<(), Error> {
    core_lib::store::PostgresStore::migrate(url, &postgres_options(schema)).await
}

#[cfg(not(feature = "postgres"))]
async fn migrate_postgres(_url: &str, _schema: Option<&str>) -> Result<(), Error> {
    Err(no_postgres())
}

#[cfg(not(feature = "postgres"))]
fn no_postgres() -> Error {
    Error::invalid(
        "url",
        "PostgreSQL needs a build of libsecrets_core with the `postgres` feature",
    )
}

/// Opens a vault on the store at `url` with the key ring `ring`:
/// `memory:` (nothing kept), `sqlite:PATH` (a file, created if missing) or
/// `postgres://user:password@host/db` (when built with the `postgres`
/// feature; connect as the app role, in schema `schema`, NULL for the
/// default `secrets_core`; `schema` must be NULL for the other stores).
/// `password_cost` is the bcrypt cost
/// for new hashes (0 for the default, 12; never under 10). The master key
/// is checked against the store (`SC_ERR_WRONG_MASTER_KEY`).
///
/// # Safety
///
/// `url`, `schema` NULL or valid for their lengths; `ring` NULL or live;
/// `vault_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_open(
    url: *const c_char,
    url_len: usize,
    schema: *const c_char,
    schema_len: usize,
    ring: *const sc_keyring,
    password_cost: u32,
    vault_out: *mut *mut sc_vault,
) -> sc_result {
    guard("sc_vault_open", || {
        // SAFETY: the caller's contract above, for every argument.
        let (url, schema, ring, out) = unsafe {
            (
                text("url", url, url_len)?,
                opt_text("schema", schema, schema_len)?,
                handle("ring", ring)?,
                Out::new("vault_out", vault_out)?,
            )
        };
        open_vault(url, schema, None, ring, password_cost, out)
    })
}

/// As `sc_vault_open`, with the tenants' data keys in the store at
/// `key_store` (same URL forms; a PostgreSQL key store is another
/// database, in the default schema) instead of `url`'s: erasing a tenant
/// then also makes backups of `url`'s store taken before the erase
/// unreadable for that tenant. Back the key store up apart, with a
/// retention no longer than the erasure promise, and always open a store
/// with the same key store (docs/THREAT_MODEL.md, "Erasing a tenant, and
/// backups").
///
/// # Safety
///
/// `url`, `schema`, `key_store` NULL or valid for their lengths; `ring`
/// NULL or live; `vault_out` NULL or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_open_with_key_store(
    url: *const c_char,
    url_len: usize,
    schema: *const c_char,
    schema_len: usize,
    key_store: *const c_char,
    key_store_len: usize,
    ring: *const sc_keyring,
    password_cost: u32,
    vault_out: *mut *mut sc_vault,
) -> sc_result {
    guard("sc_vault_open_with_key_store", || {
        // SAFETY: the caller's contract above, for every argument.
        let (url, schema, key_store, ring, out) = unsafe {
            (
                text("url", url, url_len)?,
                opt_text("schema", schema, schema_len)?,
                text("key_store", key_store, key_store_len)?,
                handle("ring", ring)?,
                Out::new("vault_out", vault_out)?,
            )
        };
        open_vault(url, schema, Some(key_store), ring, password_cost, out)
    })
}

/// The body of both opens: the stores, the vault on its own runtime.
fn open_vault(
    url: &str,
    schema: Option<&str>,
    key_store: Option<&str>,
    ring: &sc_keyring,
    password_cost: u32,
    out: Out<*mut sc_vault>,
) -> Result<(), Fail> {
    let mut config = VaultConfig::default();
    if password_cost != 0 {
        config.password_cost = password_cost;
    }
    let runtime = runtime()?;
    let ring = Arc::clone(&ring.ring);
    let vault = runtime.block_on(async move {
        let store = open_store(url, schema).await?;
        let clock = Arc::new(SystemClock);
        match key_store {
            Some(keys) => {
                let keys = open_store(keys, None).await?;
                Vault::with_key_store(store, keys, ring, clock, config).await
            }
            None => Vault::new(store, ring, clock, config).await,
        }
    });
    match vault {
        Ok(vault) => {
            out.write_box(sc_vault {
                pid: std::process::id(),
                runtime: Some(runtime),
                vault: Some(vault),
            });
            Ok(())
        }
        Err(e) => {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            Err(e.into())
        }
    }
}

/// Turns the caller's tenant's deletion protection on or off (Admin or
/// system caller; audited).
///
/// # Safety
///
/// `vault`, `caller` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_set_deletion_protection(
    vault: *const sc_vault,
    caller: *const sc_caller,
    enabled: bool,
) -> sc_result {
    guard("sc_vault_set_deletion_protection", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller) = unsafe { (vault_arg(vault)?, caller_arg(caller)?) };
        vault.run(|v| async move { v.set_deletion_protection(caller, enabled).await })?;
        Ok(())
    })
}

/// Erases the caller's tenant (Admin or system caller): its rows, audit log
/// and data keys, in the key store too. Final. `SC_ERR_DELETION_PROTECTED`
/// while its deletion protection is on; `SC_ERR_NOT_FOUND` once nothing of
/// it is left.
///
/// # Safety
///
/// `vault`, `caller` NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_erase_tenant(
    vault: *const sc_vault,
    caller: *const sc_caller,
) -> sc_result {
    guard("sc_vault_erase_tenant", || {
        // SAFETY: the caller's contract above, for every argument.
        let (vault, caller) = unsafe { (vault_arg(vault)?, caller_arg(caller)?) };
        vault.run(|v| async move { v.erase_tenant(caller).await })?;
        Ok(())
    })
}

/// How long freeing a vault waits for its runtime's threads.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Frees `vault`: drops the vault (closing the store) inside its runtime,
/// then shuts the runtime down, waiting for its threads, so nothing is
/// left running or allocated. NULL is a no-op. In a child process after
/// `fork()` it leaks the handle instead (see `sc_vault`).
///
/// # Safety
///
/// `vault` is NULL or a live `sc_vault`, not used afterwards, and no other
/// thread is inside a call on it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sc_vault_free(vault: *mut sc_vault) {
    free_guard(|| {
        if vault.is_null() {
            return;
        }
        // SAFETY: from `Box::into_raw` here, handed back once.
        let mut boxed = unsafe { Box::from_raw(vault) };
        if boxed.pid != std::process::id() {
            // The runtime's threads live in the parent: joining them here
            // would wait forever.
            std::mem::forget(boxed);
            return;
        }
        if let Some(runtime) = boxed.runtime.take() {
            {
                let _inside = runtime.enter();
                drop(boxed.vault.take());
            }
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
    });
}

/// The vault behind a handle argument, checked for NULL.
///
/// # Safety
///
/// `vault` NULL or a live `sc_vault`.
pub(crate) unsafe fn vault_arg<'a>(vault: *const sc_vault) -> Result<&'a sc_vault, Fail> {
    // SAFETY: the caller's contract, passed on.
    unsafe { handle("vault", vault) }
}
