//! Encryption at rest in five steps: seal, open, rotate, rewrap, and watch a
//! wrong context fail.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin encrypt_at_rest
//! ```
//!
//! The master key comes from `SECRETS_CORE_MASTER_KEY` (base64 of 32 bytes,
//! as `MasterKey::to_base64` writes it) when set; otherwise a fresh one is
//! generated for this run.

#![allow(clippy::print_stdout)] // an example talks to its reader

use secrets_core::Error;
use secrets_core::crypto::{Context, Envelope, KeyRing, MasterKey};

fn main() -> Result<(), Error> {
    let master = match std::env::var("SECRETS_CORE_MASTER_KEY") {
        Ok(text) => MasterKey::from_base64(&text)?,
        Err(_) => {
            println!("no SECRETS_CORE_MASTER_KEY set: using a fresh random master key");
            MasterKey::generate()?
        }
    };
    let ring = KeyRing::new(master);

    // 1. Seal a provider key, bound to where it belongs.
    let ctx = Context::new(["tenant-acme", "provider_key", "openai"]);
    let value = b"sk-example-not-a-real-key";
    let sealed = ring.seal(value, &ctx)?;
    let env = Envelope::parse(&sealed)?;
    println!(
        "sealed {} bytes under key {} ({} bytes stored)",
        value.len(),
        env.key_id(),
        sealed.len()
    );

    // 2. Open it with the same context.
    let opened = ring.open(&sealed, &ctx)?;
    println!(
        "opened: {} bytes, shown as {:?}",
        opened.len(),
        opened // Debug is redacted: the value never reaches a log by accident
    );

    // 3. The same bytes under another tenant's context do not open.
    let elsewhere = Context::new(["tenant-other", "provider_key", "openai"]);
    match ring.open(&sealed, &elsewhere) {
        Err(Error::Unauthenticated) => {
            println!("wrong context refused: ciphertext could not be authenticated")
        }
        other => {
            return Err(unexpected(
                "open under another tenant's context",
                other.is_ok(),
            ));
        }
    }

    // 4. Rotate: a new key seals from now on; the old one still opens.
    let new_key = ring.rotate()?;
    println!(
        "rotated: key {new_key} is now active; keys held: {:?}",
        ring.key_ids()
    );

    // 5. Rewrap the old value onto the new key without ever seeing it.
    let rewrapped = ring.rewrap(&sealed, &ctx)?;
    println!(
        "rewrapped onto key {}; still opens: {}",
        Envelope::parse(&rewrapped)?.key_id(),
        ring.open(&rewrapped, &ctx)?.expose_secret() == opened.expose_secret()
    );
    Ok(())
}

fn unexpected(what: &str, opened: bool) -> Error {
    Error::InvalidInput {
        field: "example",
        reason: format!("{what} should have failed (opened: {opened})"),
    }
}
