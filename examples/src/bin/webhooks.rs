//! A webhook round trip: sign outbound, verify inbound, and refuse a replay
//! and a stale timestamp; then the same with asymmetric (`v1a`) signatures,
//! where the receiver holds only a public key.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin webhooks
//! ```
//!
//! The sender is a Vault with a registered endpoint; the receiver is another
//! tenant that registers the sender as an inbound source. Both run on one
//! in-memory store with a manual clock, so the example can step time.

#![allow(clippy::print_stdout)] // an example talks to its reader

use std::sync::Arc;
use std::time::Duration;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::MemoryStore;
use secrets_core::vault::{Caller, SourceStyle, Vault, VaultConfig};
use secrets_core::{Error, ManualClock, SecretString, TenantId, Timestamp};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock = ManualClock::new(Timestamp::from_unix_seconds(1_767_225_600));
    let vault = Vault::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new(MasterKey::generate()?)),
        Arc::new(clock.clone()),
        {
            let mut c = VaultConfig::default();
            c.password_cost = 10;
            c
        },
    )
    .await?;
    let pw = SecretString::from("an example passphrase");
    let (sender, receiver) = (TenantId::generate(), TenantId::generate());
    vault
        .bootstrap(sender, "sender", "ops@sender.example", &pw, None)
        .await?;
    vault
        .bootstrap(receiver, "receiver", "ops@receiver.example", &pw, None)
        .await?;
    let sender_system = Caller::system(sender);
    let receiver_system = Caller::system(receiver);

    // The sender registers the receiver's endpoint; the secret is shown once.
    let endpoint = vault
        .register_webhook_endpoint(
            &sender_system,
            "https://receiver.example/hooks",
            "deploy events",
        )
        .await?;
    println!(
        "registered endpoint {} with a whsec_ secret (shown once)",
        endpoint.id
    );
    // The receiver registers the sender as a source: the secret is checked
    // now and sealed.
    vault
        .register_webhook_source(
            &receiver_system,
            "sender",
            SourceStyle::Standard,
            endpoint.secret.expose_secret(),
        )
        .await?;

    // Sign a delivery: three Standard Webhooks headers.
    let payload = br#"{"type":"deploy.finished","app":"web"}"#;
    let signed = vault
        .sign_webhook(&sender_system, &endpoint.id, "msg_2a8f1c", payload)
        .await?;
    let pairs = signed.pairs();
    let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (k, v) in &headers {
        println!("  {k}: {v}");
    }

    // The receiver verifies it.
    let msg = vault
        .verify_inbound_webhook(receiver, "sender", &headers, payload, None)
        .await?;
    println!(
        "verified message {} sent at {}",
        msg.id,
        msg.timestamp.map_or(0, |t| t.unix_seconds())
    );

    // The same delivery again is a replay.
    match vault
        .verify_inbound_webhook(receiver, "sender", &headers, payload, None)
        .await
    {
        Err(e @ Error::Webhook { .. }) => println!("replay refused: {e}"),
        other => return Err(unexpected("a replay", other.is_ok())),
    }

    // A delivery signed ten minutes ago is stale (tolerance: 5 minutes).
    let old = vault
        .sign_webhook(&sender_system, &endpoint.id, "msg_9c0d11", payload)
        .await?;
    clock.advance(Duration::from_secs(600));
    let pairs = old.pairs();
    let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match vault
        .verify_inbound_webhook(receiver, "sender", &headers, payload, None)
        .await
    {
        Err(e @ Error::Webhook { .. }) => println!("stale delivery refused: {e}"),
        other => return Err(unexpected("a stale delivery", other.is_ok())),
    }

    // A tampered payload never verifies.
    let fresh = vault
        .sign_webhook(&sender_system, &endpoint.id, "msg_77aa02", payload)
        .await?;
    let pairs = fresh.pairs();
    let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match vault
        .verify_inbound_webhook(
            receiver,
            "sender",
            &headers,
            br#"{"type":"deploy.failed"}"#,
            None,
        )
        .await
    {
        Err(e @ Error::Webhook { .. }) => println!("tampered payload refused: {e}"),
        other => return Err(unexpected("a tampered payload", other.is_ok())),
    }

    // Asymmetric: the sender keeps the Ed25519 signing key sealed; the
    // receiver registers only the public key, so it can verify deliveries
    // but never forge one.
    let v1a = vault
        .register_asymmetric_webhook_endpoint(
            &sender_system,
            "https://receiver.example/hooks/v1a",
            "deploy events, signed with Ed25519",
        )
        .await?;
    println!(
        "registered endpoint {} with public key {}",
        v1a.id,
        v1a.public_key.to_text()
    );
    vault
        .register_webhook_source(
            &receiver_system,
            "sender-v1a",
            SourceStyle::StandardV1a,
            &v1a.public_key.to_text(),
        )
        .await?;
    let signed = vault
        .sign_webhook(&sender_system, &v1a.id, "msg_5e1f00", payload)
        .await?;
    let pairs = signed.pairs();
    let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let msg = vault
        .verify_inbound_webhook(receiver, "sender-v1a", &headers, payload, None)
        .await?;
    println!("verified v1a message {}", msg.id);
    Ok(())
}

fn unexpected(what: &str, succeeded: bool) -> Error {
    Error::InvalidInput {
        field: "example",
        reason: format!("{what} should have been refused (succeeded: {succeeded})"),
    }
}
