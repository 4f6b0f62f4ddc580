//! One function per command: gather the inputs, call the core, shape the
//! report. No rule of the core is restated here.

mod audit;
mod backup;
mod bootstrap;
mod keygen;
mod keys;
mod maintenance;
mod tenant;

use std::path::Path;

use secrets_core::store::{MAX_PAGE, Store};
use secrets_core::{Error, TenantId};

use crate::args::{AuditCmd, Cli, Cmd, KeyCmd, TenantCmd};
use crate::exit::Failure;
use crate::output::Report;

/// The source recorded in the audit events this command causes.
pub(crate) const SOURCE: &str = "secrets-core cli";

/// Runs the parsed command.
pub(crate) async fn run(cli: &Cli) -> Result<Report, Failure> {
    let g = &cli.global;
    match &cli.command {
        Cmd::Keygen(a) => keygen::keygen(a),
        Cmd::Bootstrap(a) => bootstrap::bootstrap(g, a).await,
        Cmd::Key(KeyCmd::Rotate) => keys::rotate(g).await,
        Cmd::Rewrap => keys::rewrap(g).await,
        Cmd::Rekey(a) => keys::rekey(g, a).await,
        Cmd::Audit(AuditCmd::Verify(a)) => audit::verify(g, a).await,
        Cmd::Audit(AuditCmd::Checkpoint(a)) => audit::checkpoint(g, a).await,
        Cmd::Backup(a) => backup::backup(g, a).await,
        Cmd::Restore(a) => backup::restore(g, a).await,
        Cmd::Prune => maintenance::prune(g).await,
        Cmd::Tenant(TenantCmd::Export(a)) => tenant::export(g, a).await,
        Cmd::Tenant(TenantCmd::Erase(a)) => tenant::erase(g, a).await,
        Cmd::Tenant(TenantCmd::Protect(a)) => tenant::protect(g, a).await,
        Cmd::Migrate => maintenance::migrate(g).await,
        Cmd::Doctor => maintenance::doctor(g).await,
    }
}

/// Every tenant of the store, in id order (the store's directory read).
pub(crate) async fn all_tenants(store: &dyn Store) -> Result<Vec<TenantId>, Failure> {
    let mut out = Vec::new();
    loop {
        let page = store
            .directory_tenants(out.last().copied(), MAX_PAGE)
            .await?;
        let done = page.len() < MAX_PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Creates `path` for writing, mode 0600 on Unix: refused (`already_exists`,
/// exit 4) if it exists, unless `force`.
pub(crate) fn create_file(path: &Path, force: bool) -> Result<std::fs::File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Failure::Core(Error::AlreadyExists {
                what: "file".into(),
                id: path.display().to_string(),
            })
        } else {
            Failure::Io(format!("could not create `{}`: {e}", path.display()))
        }
    })
}

/// Writes `bytes` to a new file at `path` (see [`create_file`]) and
/// flushes it to disk.
pub(crate) fn write_file(path: &Path, force: bool, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut file = create_file(path, force)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Failure::Io(format!("could not write `{}`: {e}", path.display())))
}
