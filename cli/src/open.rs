//! Opening what a command works on: the store named by `--store`, the
//! master key from a file, stdin or the environment, and the Vault over
//! them. The rules (the key check, the KDF parameters' home, the schema
//! checks) are the core's; this only gathers the inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::{SqliteStore, Store, passphrase_params};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{Error, SecretString, SystemClock};

use crate::args::Global;
use crate::exit::Failure;
use crate::input;

/// The environment variable holding the passphrase.
pub(crate) const PASSPHRASE_ENV: &str = "SECRETS_CORE_PASSPHRASE";
/// The environment variable holding the new passphrase of `rekey`.
pub(crate) const NEW_PASSPHRASE_ENV: &str = "SECRETS_CORE_NEW_PASSPHRASE";

/// Where `--store` points.
#[derive(Debug)]
pub(crate) enum Location {
    /// `sqlite:PATH`.
    Sqlite(PathBuf),
    /// `postgres://...` or `postgresql://...` (read only by a build with
    /// the `postgres` feature; others refuse it).
    Postgres(#[cfg_attr(not(feature = "postgres"), allow(dead_code))] String),
}

impl Location {
    /// Parses `--store`.
    pub(crate) fn parse(global: &Global) -> Result<Self, Failure> {
        let Some(url) = global.store.as_deref() else {
            return Err(Failure::Usage(
                "no store: pass --store sqlite:PATH or --store postgres://... \
                 (or set SECRETS_CORE_STORE)"
                    .into(),
            ));
        };
        Self::parse_url("--store", url)
    }

    /// Parses `url`, the value of `flag`.
    fn parse_url(flag: &str, url: &str) -> Result<Self, Failure> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(Failure::Usage(format!(
                    "`sqlite:` needs a path: {flag} sqlite:PATH"
                )));
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        Err(Failure::Usage(format!(
            "{flag} must be `sqlite:PATH` or a `postgres://` URL"
        )))
    }
}

/// An open store, by backend (backup and doctor need the concrete one).
#[derive(Debug, Clone)]
pub(crate) enum Opened {
    /// A SQLite file.
    Sqlite(Arc<SqliteStore>),
    /// A PostgreSQL schema, as the app role.
    #[cfg(feature = "postgres")]
    Postgres(Arc<secrets_core::store::PostgresStore>),
}

impl Opened {
    /// The store as the Vault takes it.
    pub(crate) fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(s) => Arc::clone(s) as Arc<dyn Store>,
            #[cfg(feature = "postgres")]
            Self::Postgres(s) => Arc::clone(s) as Arc<dyn Store>,
        }
    }
}

/// The PostgreSQL options from the global flags.
#[cfg(feature = "postgres")]
pub(crate) fn postgres_options(global: &Global) -> secrets_core::store::PostgresOptions {
    let options = secrets_core::store::PostgresOptions::default().max_connections(4);
    match &global.postgres_schema {
        Some(schema) => options.schema(schema.clone()),
        None => options,
    }
}

/// The refusal of a PostgreSQL URL by a build without the `postgres` feature.
#[cfg(not(feature = "postgres"))]
pub(crate) fn no_postgres() -> Failure {
    Failure::Usage(
        "this build has no PostgreSQL support (build secrets-core-cli with `--features postgres`)"
            .into(),
    )
}

/// Opens an existing SQLite file (never creates one by mistake: a typo in
/// the path is an error, not a new empty store).
pub(crate) async fn open_existing_sqlite(path: &Path) -> Result<Arc<SqliteStore>, Failure> {
    if !path.is_file() {
        return Err(Failure::Core(Error::NotFound {
            what: "SQLite store".into(),
            id: path.display().to_string(),
        }));
    }
    Ok(Arc::new(SqliteStore::open(path).await?))
}

/// Opens the store `--store` names. A SQLite file is created if missing
/// only when `create` (bootstrap, migrate).
pub(crate) async fn open_store(global: &Global, create: bool) -> Result<Opened, Failure> {
    open_location(global, Location::parse(global)?, create).await
}

/// Opens the key store `--key-store` names, if any (created with the
/// store, when `create`).
pub(crate) async fn open_key_store(
    global: &Global,
    create: bool,
) -> Result<Option<Arc<dyn Store>>, Failure> {
    let Some(url) = global.key_store.as_deref() else {
        return Ok(None);
    };
    let location = Location::parse_url("--key-store", url)?;
    Ok(Some(open_location(global, location, create).await?.store()))
}

async fn open_location(
    global: &Global,
    location: Location,
    create: bool,
) -> Result<Opened, Failure> {
    match location {
        Location::Sqlite(path) if create => {
            Ok(Opened::Sqlite(Arc::new(SqliteStore::open(&path).await?)))
        }
        Location::Sqlite(path) => Ok(Opened::Sqlite(open_existing_sqlite(&path).await?)),
        #[cfg(feature = "postgres")]
        Location::Postgres(url) => Ok(Opened::Postgres(Arc::new(
            secrets_core::store::PostgresStore::open(&url, postgres_options(global)).await?,
        ))),
        #[cfg(not(feature = "postgres"))]
        Location::Postgres(_) => {
            // Only the PostgreSQL options read the flags.
            let _ = global;
            Err(no_postgres())
        }
    }
}

/// Where a master key comes from.
enum KeySource {
    File(PathBuf),
    Passphrase(SecretString),
}

/// Reads the master key's source from the global flags: `--key-file`,
/// else `--passphrase-stdin` (stdin's next line), else the environment.
fn key_source(global: &Global) -> Result<KeySource, Failure> {
    match (&global.key_file, global.passphrase_stdin) {
        (Some(_), true) => Err(Failure::Usage(
            "give the master key once: --key-file or --passphrase-stdin, not both".into(),
        )),
        (Some(path), false) => Ok(KeySource::File(path.clone())),
        (None, true) if input::stdin_is_terminal() => {
            Ok(KeySource::Passphrase(input::prompt_once("passphrase")?))
        }
        (None, true) => Ok(KeySource::Passphrase(input::required_stdin_line(
            "passphrase",
        )?)),
        (None, false) => match std::env::var(PASSPHRASE_ENV) {
            Ok(p) if !p.is_empty() => Ok(KeySource::Passphrase(SecretString::new(p))),
            _ => Err(Failure::Usage(format!(
                "this command needs the master key: --key-file PATH (or SECRETS_CORE_KEY_FILE), \
                 --passphrase-stdin, or {PASSPHRASE_ENV}"
            ))),
        },
    }
}

/// Whether the global flags or the environment name a master key.
pub(crate) fn has_key(global: &Global) -> bool {
    global.key_file.is_some()
        || global.passphrase_stdin
        || std::env::var_os(PASSPHRASE_ENV).is_some_and(|p| !p.is_empty())
}

/// Reads a key file written by `keygen` (base64 of 32 bytes).
pub(crate) fn read_key_file(path: &Path) -> Result<MasterKey, Failure> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        Failure::Io(format!(
            "could not read the key file `{}`: {e}",
            path.display()
        ))
    })?);
    Ok(MasterKey::from_base64(&text)?)
}

/// Stretches `passphrase` with the store's parameters (stored on first
/// use, with `iterations`), off the async workers.
pub(crate) async fn derive(
    store: &dyn Store,
    passphrase: SecretString,
    iterations: u32,
) -> Result<MasterKey, Failure> {
    let params = passphrase_params(store, iterations).await?;
    let key = tokio::task::spawn_blocking(move || params.derive(&passphrase))
        .await
        .map_err(|_| Failure::Io("the key derivation task failed".into()))??;
    Ok(key)
}

/// The master key the global flags name, for `store`.
pub(crate) async fn master_key(global: &Global, store: &dyn Store) -> Result<MasterKey, Failure> {
    match key_source(global)? {
        KeySource::File(path) => read_key_file(&path),
        KeySource::Passphrase(p) => derive(store, p, global.kdf_iterations).await,
    }
}

/// The Vault configuration from the global flags.
pub(crate) fn config(global: &Global) -> VaultConfig {
    let mut config = VaultConfig::default();
    config.password_cost = global.password_cost;
    config
}

/// Opens a Vault on `store` with `ring`, and the key store of
/// `--key-store` if given (the core checks the key against the store's key
/// check value: a wrong key is `wrong_master_key`, exit 5).
pub(crate) async fn vault_with(
    global: &Global,
    store: Arc<dyn Store>,
    ring: KeyRing,
    create: bool,
) -> Result<Vault, Failure> {
    let (ring, clock, config) = (Arc::new(ring), Arc::new(SystemClock), config(global));
    Ok(match open_key_store(global, create).await? {
        Some(keys) => Vault::with_key_store(store, keys, ring, clock, config).await?,
        None => Vault::new(store, ring, clock, config).await?,
    })
}

/// Opens the store and a Vault over it with the global key.
pub(crate) async fn vault(global: &Global, create: bool) -> Result<(Opened, Vault), Failure> {
    let opened = open_store(global, create).await?;
    let store = opened.store();
    let master = master_key(global, store.as_ref()).await?;
    let vault = vault_with(global, store, KeyRing::new(master), create).await?;
    Ok((opened, vault))
}
