//! App secrets: set, listed as names only, injected into a runtime.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin app_secrets
//! ```
//!
//! Runs on an in-memory store with a fresh master key: nothing is kept.

#![allow(clippy::print_stdout)] // an example talks to its reader

use std::sync::Arc;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::MemoryStore;
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{Error, SecretString, SystemClock, TenantId};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let vault = Vault::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new(MasterKey::generate()?)),
        Arc::new(SystemClock),
        {
            let mut c = VaultConfig::default();
            c.password_cost = 10;
            c
        },
    )
    .await?;
    let tenant = TenantId::DEFAULT;
    let pw = SecretString::from("an example passphrase");
    let admin_id = vault
        .bootstrap(tenant, "acme", "ada@example.com", &pw, None)
        .await?;
    let admin = login(&vault, "ada@example.com", &pw).await?;
    vault
        .create_user(&admin, "dev@example.com", Role::Developer, Some(&pw))
        .await?;
    vault
        .create_user(&admin, "viv@example.com", Role::Viewer, Some(&pw))
        .await?;
    let dev = login(&vault, "dev@example.com", &pw).await?;
    let viewer = login(&vault, "viv@example.com", &pw).await?;

    // A developer sets secrets, several at once: all are written or none
    // (one bad name leaves everything as it was), in one audited event.
    let versions = vault
        .set_secrets(
            &dev,
            "web",
            [
                ("DATABASE_URL", &b"postgres://app:example@db/app"[..]),
                ("STRIPE_KEY", &b"sk_test_one"[..]),
            ],
        )
        .await?;
    println!("set {} secrets at once for app web", versions.len());
    let refused = vault
        .set_secrets(
            &dev,
            "web",
            [
                ("REDIS_URL", &b"redis://cache"[..]),
                ("not a name", &b"x"[..]),
            ],
        )
        .await;
    println!(
        "a batch with a bad name is refused whole: {}, REDIS_URL written: {}",
        refused.is_err(),
        vault
            .list_secrets(&dev, "web")
            .await?
            .iter()
            .any(|s| s.name == "REDIS_URL")
    );
    // Setting one again keeps the old value for rollback.
    let version = vault
        .set_secret(&dev, "web", "STRIPE_KEY", b"sk_test_two")
        .await?;
    println!("set DATABASE_URL and STRIPE_KEY (now version {version}) for app web");

    // Everyone, even a viewer, sees names and metadata, never values.
    for s in vault.list_secrets(&viewer, "web").await? {
        println!(
            "  listed: {} (version {}, set by {})",
            s.name, s.version, s.updated_by
        );
    }

    // The deployer injects values with a token scoped to inject, and nothing else.
    let deployer = vault
        .mint_api_token(&admin, admin_id, "deployer", &["secrets:inject"], None)
        .await?;
    let deployer = vault
        .authenticate_api_token(deployer.token.expose_secret(), None)
        .await?;
    let env = vault.inject(&deployer, "web").await?;
    println!(
        "injected {} variables: {:?}",
        env.len(),
        env.keys().collect::<Vec<_>>()
    );
    println!("values print as {:?}", env.get("STRIPE_KEY"));
    match vault.list_secrets(&deployer, "web").await {
        Err(e @ Error::Forbidden { .. }) => println!("the deployer token cannot even list: {e}"),
        other => return Err(unexpected(other.is_ok())),
    }
    match vault.inject(&viewer, "web").await {
        Err(e @ Error::Forbidden { .. }) => println!("a viewer cannot inject: {e}"),
        other => return Err(unexpected(other.is_ok())),
    }

    // Roll back the last change.
    vault.rollback_secret(&dev, "web", "STRIPE_KEY").await?;
    let env = vault.inject(&deployer, "web").await?;
    let rolled_back = env
        .get("STRIPE_KEY")
        .is_some_and(|v| v.expose_secret() == b"sk_test_one");
    println!("rolled STRIPE_KEY back to its previous value: {rolled_back}");
    Ok(())
}

async fn login(
    vault: &Vault,
    login: &str,
    pw: &SecretString,
) -> Result<secrets_core::vault::Caller, Error> {
    let s = vault.login(TenantId::DEFAULT, login, pw, None).await?;
    vault
        .authenticate_access_token(s.access_token.expose_secret(), None)
        .await
}

fn unexpected(succeeded: bool) -> Error {
    Error::InvalidInput {
        field: "example",
        reason: format!("that should have been forbidden (succeeded: {succeeded})"),
    }
}
