//! The command tree (clap derive). No argument takes a secret as its value:
//! argv is visible to every user of the machine (`ps`), so the master key
//! comes from a file, and passphrases and passwords from stdin, a TTY or
//! the environment.

use std::path::PathBuf;

use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueHint};
use secrets_core::TenantId;

use crate::exit::EXIT_CODES;

/// The environment section of every command's `--help`.
const ENVIRONMENT: &str = "\
Environment:
  SECRETS_CORE_STORE             the store, as --store
  SECRETS_CORE_KEY_STORE         the key store of the tenants' data keys, as --key-store
  SECRETS_CORE_KEY_FILE          the master key file, as --key-file
  SECRETS_CORE_PASSPHRASE        the passphrase, when there is no key file and no --passphrase-stdin
  SECRETS_CORE_NEW_PASSPHRASE    rekey: the new passphrase, when there is no --new-key-file
  SECRETS_CORE_KDF_ITERATIONS    PBKDF2 iterations of a new store's passphrase (default 600000)
  SECRETS_CORE_PASSWORD_COST     bcrypt cost of passwords hashed here (default 12, at least 10)
  SECRETS_CORE_POSTGRES_SCHEMA   the PostgreSQL schema (default secrets_core)";

/// The whole command tree, with the environment and exit-code sections on
/// every command's `--help`: what `secrets-core` parses.
///
/// ```
/// let cmd = secrets_core_cli::command();
/// assert_eq!(cmd.get_name(), "secrets-core");
/// assert!(cmd.get_subcommands().any(|c| c.get_name() == "doctor"));
/// ```
#[must_use]
pub fn command() -> clap::Command {
    fn decorate(cmd: clap::Command) -> clap::Command {
        cmd.after_help(format!("{ENVIRONMENT}\n\n{EXIT_CODES}"))
            .mut_subcommands(decorate)
    }
    decorate(Cli::command())
}

/// `secrets-core`: operate a secrets-core store.
#[derive(Debug, Parser)]
#[command(name = "secrets-core", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The store: `sqlite:PATH`, or a `postgres://` URL (as the app role;
    /// `sslmode=verify-full` with `sslrootcert=PATH` by default,
    /// `sslmode=disable` for plaintext). Prefer the environment when the URL
    /// holds a password.
    #[arg(long, env = "SECRETS_CORE_STORE", value_name = "URL", global = true)]
    pub(crate) store: Option<String>,

    /// The key store holding the tenants' data keys, apart from the store
    /// (`sqlite:PATH` or a `postgres://` URL): with it, erasing a tenant
    /// also makes backups of the store taken before the erase unreadable
    /// for that tenant. Back it up separately, with a retention no longer
    /// than your erasure promise, and always pass the same one.
    #[arg(long, env = "SECRETS_CORE_KEY_STORE", value_name = "URL",
          value_hint = ValueHint::Url, global = true)]
    pub(crate) key_store: Option<String>,

    /// The master key: a file holding its base64 (as `keygen` writes it).
    #[arg(long, env = "SECRETS_CORE_KEY_FILE", value_name = "PATH",
          value_hint = ValueHint::FilePath, global = true)]
    pub(crate) key_file: Option<PathBuf>,

    /// The master key from a passphrase: read stdin's first line. (Without
    /// this or --key-file, SECRETS_CORE_PASSPHRASE is used.) Its PBKDF2
    /// parameters are kept in the store (setting `kdf_params`).
    #[arg(long, global = true)]
    pub(crate) passphrase_stdin: bool,

    /// PBKDF2-HMAC-SHA256 iterations for the passphrase of a store that has
    /// none stored yet (at least 65536); later the stored count is used.
    #[arg(long, env = "SECRETS_CORE_KDF_ITERATIONS", value_name = "N",
          default_value_t = secrets_core::crypto::DEFAULT_ITERATIONS, global = true)]
    pub(crate) kdf_iterations: u32,

    /// bcrypt cost of passwords hashed by this command (bootstrap): at
    /// least 10.
    #[arg(long, env = "SECRETS_CORE_PASSWORD_COST", value_name = "COST",
          default_value_t = secrets_core::password::DEFAULT_COST, global = true)]
    pub(crate) password_cost: u32,

    /// The PostgreSQL schema holding the tables.
    #[arg(
        long,
        env = "SECRETS_CORE_POSTGRES_SCHEMA",
        value_name = "NAME",
        global = true
    )]
    pub(crate) postgres_schema: Option<String>,

    /// Print exactly one JSON document on stdout, on success and on
    /// failure (`{"error": {"code": ..., "message": ...}}`).
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print nothing on stdout on success (errors still go to stderr).
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,

    /// Do not ask for confirmation (tenant erase).
    #[arg(long, short, global = true)]
    pub(crate) yes: bool,

    /// No progress bars (they are drawn only when stderr is a terminal).
    #[arg(long, global = true)]
    pub(crate) no_progress: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Write a new random master key to a file (mode 0600).
    Keygen(Keygen),
    /// Create a tenant and its first Admin (the password is read from the
    /// TTY, twice, or from stdin's next line).
    Bootstrap(Bootstrap),
    /// Data keys: rotate.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Re-seal every stored value under the active data key (resumable,
    /// idempotent).
    Rewrap,
    /// Replace the master key: re-seal everything under the new one
    /// (--new-key-file, or SECRETS_CORE_NEW_PASSPHRASE / --new-passphrase-stdin);
    /// afterwards the old key is refused. Resumable: run it again with the
    /// same two keys after an interruption.
    Rekey(Rekey),
    /// The audit log: verify its chains, or write a checkpoint to keep off
    /// the host.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Copy a SQLite store to a new file, online (PostgreSQL: use pg_dump).
    Backup(Backup),
    /// Restore a SQLite backup to the --store path, which must not exist.
    Restore(Restore),
    /// Delete expired and revoked tokens, sessions and states in every tenant.
    Prune,
    /// One tenant: export or erase.
    #[command(subcommand)]
    Tenant(TenantCmd),
    /// Create or upgrade the schema (PostgreSQL: connect as the owner role).
    Migrate,
    /// Check the store: SQLite integrity; PostgreSQL TLS, the app role, FORCE
    /// ROW LEVEL SECURITY on every table, the schema version. Given a master
    /// key, also that it opens the store (a wrong one exits 5).
    Doctor,
}

/// `keygen`.
#[derive(Debug, Args)]
pub(crate) struct Keygen {
    /// Where to write the key (created with mode 0600).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `bootstrap`.
#[derive(Debug, Args)]
pub(crate) struct Bootstrap {
    /// The first Admin's login name.
    #[arg(long, value_name = "LOGIN")]
    pub(crate) login: String,
    /// The tenant (a UUID; the default tenant if left out).
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: Option<TenantId>,
    /// The tenant's display name, if it is created.
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub(crate) tenant_name: String,
}

/// `key ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Make a new data key the active one (stored); rewrap moves old values
    /// onto it.
    Rotate,
}

/// `rekey`.
#[derive(Debug, Args)]
pub(crate) struct Rekey {
    /// The new master key's file (as `keygen` writes it).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) new_key_file: Option<PathBuf>,
    /// The new passphrase: read stdin's next line.
    #[arg(long)]
    pub(crate) new_passphrase_stdin: bool,
}

/// `audit ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCmd {
    /// Verify every tenant's chain (or one), and optionally that nothing up
    /// to a checkpoint was truncated or rewritten.
    Verify(AuditVerify),
    /// Verify and write a signed checkpoint of every tenant's log (or one)
    /// to a file: keep it off the database host.
    Checkpoint(AuditCheckpoint),
}

/// `audit verify`.
#[derive(Debug, Args)]
pub(crate) struct AuditVerify {
    /// Only this tenant.
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: Option<TenantId>,
    /// A checkpoint file written by `audit checkpoint`.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) checkpoint: Option<PathBuf>,
}

/// `audit checkpoint`.
#[derive(Debug, Args)]
pub(crate) struct AuditCheckpoint {
    /// Where to write the checkpoints (JSON).
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub(crate) out: PathBuf,
    /// Only this tenant.
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: Option<TenantId>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `backup`.
#[derive(Debug, Args)]
pub(crate) struct Backup {
    /// The backup file to create (it must not exist).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) out: PathBuf,
}

/// `restore`.
#[derive(Debug, Args)]
pub(crate) struct Restore {
    /// The backup file to restore from.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) from: PathBuf,
}

/// `tenant ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum TenantCmd {
    /// Write one tenant's rows (sealed values stay sealed) and audit log as
    /// JSON lines.
    Export(TenantExport),
    /// Delete a tenant and everything it owns. Asks to type the tenant id
    /// unless --yes; refused while its deletion protection is on.
    Erase(TenantErase),
    /// Turn a tenant's deletion protection on (erase is then refused), or
    /// off with --off.
    Protect(TenantProtect),
}

/// `tenant protect`.
#[derive(Debug, Args)]
pub(crate) struct TenantProtect {
    /// The tenant.
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: TenantId,
    /// Turn the protection off.
    #[arg(long)]
    pub(crate) off: bool,
}

/// `tenant export`.
#[derive(Debug, Args)]
pub(crate) struct TenantExport {
    /// The tenant.
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: TenantId,
    /// The file to write (mode 0600).
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub(crate) out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub(crate) force: bool,
}

/// `tenant erase`.
#[derive(Debug, Args)]
pub(crate) struct TenantErase {
    /// The tenant.
    #[arg(long, value_name = "UUID", value_parser = parse_tenant)]
    pub(crate) tenant: TenantId,
}

fn parse_tenant(s: &str) -> Result<TenantId, String> {
    s.parse::<TenantId>().map_err(|e| e.to_string())
}
