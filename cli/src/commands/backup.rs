//! `backup` and `restore`: SQLite's online backup, through the core. On
//! PostgreSQL these are the database's own tools' job.

use serde_json::json;

use secrets_core::store::SqliteStore;

use crate::args::{Backup, Global, Restore};
use crate::exit::Failure;
use crate::open::{self, Location};
use crate::output::Report;

/// What to do instead on PostgreSQL (exit 2).
fn use_pg_dump(command: &str) -> Failure {
    Failure::Usage(format!(
        "`{command}` copies SQLite files; on PostgreSQL use the server's tools: \
         `pg_dump --format=custom --schema=secrets_core` as the owner role (and \
         `pg_restore` into a migrated schema), or continuous archiving. A dump holds \
         only sealed values; keep the master key apart from it"
    ))
}

/// Copies the SQLite store to a new file, online.
pub(crate) async fn backup(g: &Global, args: &Backup) -> Result<Report, Failure> {
    let path = match Location::parse(g)? {
        Location::Sqlite(path) => path,
        Location::Postgres(_) => return Err(use_pg_dump("backup")),
    };
    let store = open::open_existing_sqlite(&path).await?;
    store.backup_to(&args.out).await?;
    let out = args.out.display().to_string();
    Ok(Report::ok(
        json!({"backup": out, "store": store.path().display().to_string()}),
        format!("backed up {} to {out}", store.path().display()),
    ))
}

/// Restores a backup to the `--store` path, which must not exist.
pub(crate) async fn restore(g: &Global, args: &Restore) -> Result<Report, Failure> {
    let path = match Location::parse(g)? {
        Location::Sqlite(path) => path,
        Location::Postgres(_) => return Err(use_pg_dump("restore")),
    };
    SqliteStore::restore(&args.from, &path).await?;
    let (from, to) = (args.from.display().to_string(), path.display().to_string());
    Ok(Report::ok(
        json!({"restored": to, "from": from}),
        format!(
            "restored {from} to {to}; check it with `secrets-core --store sqlite:{to} audit verify`"
        ),
    ))
}
