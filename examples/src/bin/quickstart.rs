//! The main example: a tenant's security core on an embedded SQLite file.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin quickstart
//! ```
//!
//! Or on PostgreSQL, built with the `postgres` feature, with the app
//! role's URL in `SECRETS_CORE_POSTGRES_URL` and the owner's (who migrates
//! the schema first) in `SECRETS_CORE_POSTGRES_OWNER_URL`, as
//! `scripts/postgres-setup.sh` prints them:
//!
//! ```sh
//! export SECRETS_CORE_POSTGRES_URL="$(scripts/postgres-setup.sh)"
//! export SECRETS_CORE_POSTGRES_OWNER_URL="$(scripts/postgres-setup.sh --owner-url)"
//! cargo run -p secrets-core-examples --features postgres --bin quickstart
//! ```
//!
//! The database keeps what earlier runs wrote there, so each run on
//! PostgreSQL works in a tenant of its own (in the default schema, or the
//! one `SECRETS_CORE_POSTGRES_SCHEMA` names). The schema is bound to the
//! master key of its first run: keep `keys/master.key`.
//!
//! It bootstraps an Admin, creates a Developer and a Viewer, mints an API
//! token and authenticates with it (every credential through the one
//! `authenticate_bearer` call, as an `Authorization` header brings it),
//! shows a Viewer being denied, checks a permission of the host's own with
//! `require`, lets the Developer mint a personal token, logs in and
//! refreshes, then prints the audit trail and verifies its hash chain.
//!
//! The database and the master key live apart, because a backup that holds
//! both gives away every sealed secret in it:
//!
//! ```text
//! data/quickstart.db   the database (starts afresh on every run; back it up)
//! keys/master.key      the master key, mode 0600 in a 0700 directory; never
//!                      in a backup of data/ (or set SECRETS_CORE_MASTER_KEY,
//!                      base64 of 32 bytes, from a secret manager, and no
//!                      key file is written)
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

use std::path::Path;
use std::sync::Arc;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, SqliteStore, Store};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{SecretString, SystemClock, TenantId};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = Path::new("keys");
    let master = load_master_key(keys)?;

    // The host's own permission, beside the built-in ones: only Admins
    // promote a deploy.
    let mut config = VaultConfig::default();
    let promote = config.policy.register("deploy:promote", &[Role::Admin])?;

    let (store, tenant) = open_store().await?;
    let vault = Vault::new(
        store,
        Arc::new(KeyRing::new(master)),
        Arc::new(SystemClock),
        config,
    )
    .await?;

    // 1. The first Admin of the tenant: created on the first start, a
    //    cheap no-op on every later one.
    let ada_pw = SecretString::from("ada: correct horse battery staple");
    vault
        .ensure_bootstrapped(
            tenant,
            "acme",
            "ada@example.com",
            &ada_pw,
            Some("127.0.0.1"),
        )
        .await?;
    let ada_session = vault
        .login(tenant, "ada@example.com", &ada_pw, Some("127.0.0.1"))
        .await?;
    // What a client sends back: `Authorization: Bearer <access token>`.
    let header = format!("Bearer {}", ada_session.access_token.expose_secret());
    let ada = vault
        .authenticate_bearer(&header, Some("127.0.0.1"))
        .await?;
    println!("bootstrapped admin ada@example.com and logged in");

    // 2. A Developer and a Viewer.
    let dev_pw = SecretString::from("dev: a long enough passphrase");
    let viv_pw = SecretString::from("viv: another long passphrase");
    let dev = vault
        .create_user(&ada, "dev@example.com", Role::Developer, Some(&dev_pw))
        .await?;
    vault
        .create_user(&ada, "viv@example.com", Role::Viewer, Some(&viv_pw))
        .await?;
    println!("created dev@example.com (developer) and viv@example.com (viewer)");

    // 3. An API token for the Developer's CI, shown once, stored as SHA-256.
    let minted = vault
        .mint_api_token(&ada, dev, "ci", &["apps:read", "secrets:write"], None)
        .await?;
    println!(
        "minted API token {} for dev (shown once, stored hashed)",
        minted.display_prefix
    );
    let header = format!("Bearer {}", minted.token.expose_secret());
    let ci = vault.authenticate_bearer(&header, Some("10.0.0.7")).await?;
    println!("authenticated with it as {}", ci.actor());

    // 4. A Viewer cannot manage users: denied, and the attempt is audited.
    let viv_session = vault
        .login(tenant, "viv@example.com", &viv_pw, None)
        .await?;
    let viv = vault
        .authenticate_bearer(viv_session.access_token.expose_secret(), None)
        .await?;
    match vault
        .create_user(&viv, "mallory@example.com", Role::Admin, None)
        .await
    {
        Err(e @ secrets_core::Error::Forbidden { .. }) => println!("viewer denied: {e}"),
        other => return Err(unexpected("a viewer creating an admin", other.is_ok()).into()),
    }
    let me = vault.whoami(&viv).await?;
    println!(
        "viv is a {} and may: {}",
        me.role,
        me.permissions.join(", ")
    );

    // 5. The host's own permission, enforced and audited like a built-in
    //    one: the Admin may promote, the Developer's CI token may not.
    vault
        .require(&ada, promote, "deploy.promote", "app/web")
        .await?;
    println!("ada may promote app/web");
    match vault
        .require(&ci, promote, "deploy.promote", "app/web")
        .await
    {
        Err(e @ secrets_core::Error::Forbidden { .. }) => println!("ci token denied: {e}"),
        other => return Err(unexpected("a CI token promoting", other.is_ok()).into()),
    }

    // 6. The Developer mints a personal token (within what they hold).
    let dev_session = vault
        .login(tenant, "dev@example.com", &dev_pw, None)
        .await?;
    let dev_caller = vault
        .authenticate_bearer(dev_session.access_token.expose_secret(), None)
        .await?;
    let personal = vault
        .mint_api_token(&dev_caller, dev, "laptop", &["apps:read"], None)
        .await?;
    let own = vault.list_own_api_tokens(&dev_caller, None).await?;
    println!(
        "dev minted personal token {} and holds {} of their own (with the CI token)",
        personal.display_prefix,
        own.len()
    );

    // 7. Refresh: a new pair; the old refresh token is now spent.
    let refreshed = vault
        .refresh(ada_session.refresh_token.expose_secret(), None)
        .await?;
    println!(
        "refreshed: new access token until {}s, old refresh token spent",
        refreshed.access_expires_at.unix_seconds()
    );

    // 8. The audit trail (Admins only), and its hash chain.
    println!("audit trail:");
    for e in vault.audit_events(&ada, &AuditQuery::default()).await? {
        println!(
            "  #{:<2} {:<8} {:<22} {:<45} {}",
            e.seq,
            e.event.outcome.as_str(),
            e.event.action,
            e.event.target,
            e.event.actor
        );
    }
    let summary = vault.verify_audit_log(&ada).await?;
    println!("audit chain verified: {} events, untampered", summary.count);
    Ok(())
}

/// The store and the tenant to work in: PostgreSQL when built with the
/// `postgres` feature and `SECRETS_CORE_POSTGRES_URL` is set (the schema
/// migrated first as the owner when `SECRETS_CORE_POSTGRES_OWNER_URL` is),
/// in a new tenant; else `data/quickstart.db`, afresh, in the default one.
async fn open_store() -> Result<(Arc<dyn Store>, TenantId), Box<dyn std::error::Error>> {
    let url = std::env::var("SECRETS_CORE_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    #[cfg(feature = "postgres")]
    if let Some(url) = url {
        use secrets_core::store::{PostgresOptions, PostgresStore};
        let mut options = PostgresOptions::default();
        // Another schema than the default, if named (the tests use their own).
        if let Some(schema) = std::env::var("SECRETS_CORE_POSTGRES_SCHEMA")
            .ok()
            .filter(|s| !s.is_empty())
        {
            options = options.schema(schema);
        }
        if let Some(owner) = std::env::var("SECRETS_CORE_POSTGRES_OWNER_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            PostgresStore::migrate(&owner, &options).await?;
            println!("migrated the schema as the owner (SECRETS_CORE_POSTGRES_OWNER_URL)");
        }
        let store = PostgresStore::open(&url, options).await?;
        // Never the URL itself: it may carry a password.
        println!("opened PostgreSQL as the app role (SECRETS_CORE_POSTGRES_URL)");
        println!(
            "layout: the database on the server, the master key in keys/ (or the environment): back them up apart, never together"
        );
        return Ok((Arc::new(store), TenantId::generate()));
    }
    #[cfg(not(feature = "postgres"))]
    if url.is_some() {
        println!(
            "SECRETS_CORE_POSTGRES_URL is set, but this build has no `postgres` feature: using SQLite"
        );
    }
    let data = Path::new("data");
    std::fs::create_dir_all(data)?;
    let db = data.join("quickstart.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let store = SqliteStore::open(&db).await?;
    println!("opened {} (SQLite, embedded)", db.display());
    println!(
        "layout: the database in data/, the master key in keys/ (or the environment): back them up apart, never together"
    );
    Ok((Arc::new(store), TenantId::DEFAULT))
}

/// The master key: from `SECRETS_CORE_MASTER_KEY`, else from
/// `keys/master.key`, else a new one written there (the directory 0700, the
/// file 0600): never beside the database.
fn load_master_key(keys: &Path) -> Result<MasterKey, Box<dyn std::error::Error>> {
    if let Ok(text) = std::env::var("SECRETS_CORE_MASTER_KEY") {
        println!("master key from SECRETS_CORE_MASTER_KEY (no key file written)");
        return Ok(MasterKey::from_base64(&text)?);
    }
    let path = keys.join("master.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        println!("master key from {} (kept apart from data/)", path.display());
        return Ok(MasterKey::from_base64(&text)?);
    }
    create_private_dir(keys)?;
    let key = MasterKey::generate()?;
    write_private(&path, key.to_base64().expose_secret())?;
    println!(
        "generated a master key in {} (mode 0600, apart from data/: keep it safe, and out of backups of the database)",
        path.display()
    );
    Ok(key)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())
}

fn unexpected(what: &str, succeeded: bool) -> secrets_core::Error {
    secrets_core::Error::InvalidInput {
        field: "example",
        reason: format!("{what} should have been forbidden (succeeded: {succeeded})"),
    }
}
