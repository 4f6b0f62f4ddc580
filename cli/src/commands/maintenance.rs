//! `prune`, `migrate` and `doctor`.

use serde_json::json;

use secrets_core::store::{HealthCheck, SCHEMA_VERSION, SqliteStore};

use crate::args::Global;
use crate::exit::{Exit, Failure};
use crate::open::{self, Location};
use crate::output::Report;

/// Prunes every tenant (the core's `prune_all_tenants`); exit 1 if a
/// tenant failed, after the others were pruned.
pub(crate) async fn prune(g: &Global) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, false).await?;
    let report = vault.prune_all_tenants().await?;
    let failures: Vec<_> = report
        .failures
        .iter()
        .map(|(t, e)| json!({"tenant": t, "message": e}))
        .collect();
    let mut text = format!("pruned {} rows", report.deleted);
    for (t, e) in &report.failures {
        text.push_str(&format!("\ntenant {t}: prune failed: {e}"));
    }
    let out = Report::ok(
        json!({"deleted": report.deleted, "failures": failures}),
        text,
    );
    Ok(if report.failures.is_empty() {
        out
    } else {
        out.exit(Exit::Failed)
    })
}

/// Creates or upgrades the schema: on PostgreSQL as the owner role the
/// URL names; a SQLite file is migrated by opening it.
pub(crate) async fn migrate(g: &Global) -> Result<Report, Failure> {
    match Location::parse(g)? {
        Location::Sqlite(path) => {
            let store = SqliteStore::open(&path).await?;
            Ok(Report::ok(
                json!({"backend": "sqlite", "schema_version": SCHEMA_VERSION}),
                format!(
                    "{}: schema at version {SCHEMA_VERSION}",
                    store.path().display()
                ),
            ))
        }
        #[cfg(feature = "postgres")]
        Location::Postgres(url) => {
            use secrets_core::store::{POSTGRES_SCHEMA_VERSION, PostgresStore};
            let options = open::postgres_options(g);
            PostgresStore::migrate(&url, &options).await?;
            Ok(Report::ok(
                json!({"backend": "postgres", "schema": options.schema_name(),
                       "schema_version": POSTGRES_SCHEMA_VERSION}),
                format!(
                    "schema `{}` at version {POSTGRES_SCHEMA_VERSION}",
                    options.schema_name()
                ),
            ))
        }
        #[cfg(not(feature = "postgres"))]
        Location::Postgres(_) => Err(open::no_postgres()),
    }
}

/// Runs the store's health checks (the core's `diagnose`); exit 3 if any
/// fails.
pub(crate) async fn doctor(g: &Global) -> Result<Report, Failure> {
    let (backend, checks) = match Location::parse(g)? {
        Location::Sqlite(path) => {
            let store = open::open_existing_sqlite(&path).await?;
            ("sqlite", store.diagnose().await?)
        }
        #[cfg(feature = "postgres")]
        Location::Postgres(url) => {
            let options = open::postgres_options(g);
            (
                "postgres",
                secrets_core::store::PostgresStore::diagnose(&url, &options).await?,
            )
        }
        #[cfg(not(feature = "postgres"))]
        Location::Postgres(_) => return Err(open::no_postgres()),
    };
    let mut checks = checks;
    // With the master key, and a store that passed: the key check and the
    // key state, as the core reads them when a vault opens.
    if open::has_key(g) && checks.iter().all(|c| c.ok) {
        let (_, vault) = open::vault(g, false).await?;
        let status = vault.key_status();
        checks.push(HealthCheck::new(
            "master_key",
            true,
            format!(
                "the master key opens the store (key epoch {}, active data key {})",
                status.epoch, status.active_key
            ),
        ));
    }
    let findings = checks.iter().filter(|c| !c.ok).count();
    let text = checks
        .iter()
        .map(|c: &HealthCheck| {
            format!(
                "{:8} {}: {}",
                if c.ok { "ok" } else { "FINDING" },
                c.name,
                c.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let report = Report::ok(
        json!({"backend": backend, "checks": checks, "findings": findings}),
        text,
    );
    Ok(if findings > 0 {
        report.exit(Exit::Integrity)
    } else {
        report
    })
}
