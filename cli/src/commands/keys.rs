//! `key rotate`, `rewrap` and `rekey`: the core's key lifecycle, with a
//! progress bar on a terminal.

use serde_json::json;

use secrets_core::crypto::{KeyRing, MasterKey};

use crate::args::{Global, Rekey};
use crate::exit::Failure;
use crate::input;
use crate::open::{self, NEW_PASSPHRASE_ENV};
use crate::output::{self, Report};

/// Makes a new data key the active one.
pub(crate) async fn rotate(g: &Global) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, false).await?;
    let key = vault.rotate_key().await?;
    Ok(Report::ok(
        json!({"active_key": key.get()}),
        format!(
            "data key {key} is now the active one; run `secrets-core rewrap` to move stored values onto it"
        ),
    ))
}

/// Re-seals every stored value under the active data key.
pub(crate) async fn rewrap(g: &Global) -> Result<Report, Failure> {
    let (_, vault) = open::vault(g, false).await?;
    let bar = output::progress(g, 0, "rewrap");
    let mut on_progress = |p: secrets_core::vault::Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let report = vault.rewrap(&mut on_progress).await;
    bar.finish_and_clear();
    let report = report?;
    Ok(Report::ok(
        json!(report),
        format!(
            "rewrapped {} of {} rows examined in {} tenants (active data key {})",
            report.rewrapped, report.examined, report.tenants, report.active_key
        ),
    ))
}

/// The new master key of `rekey`.
async fn new_master(
    g: &Global,
    args: &Rekey,
    store: &dyn secrets_core::store::Store,
) -> Result<MasterKey, Failure> {
    match (&args.new_key_file, args.new_passphrase_stdin) {
        (Some(_), true) => Err(Failure::Usage(
            "give the new master key once: --new-key-file or --new-passphrase-stdin".into(),
        )),
        (Some(path), false) => open::read_key_file(path),
        (None, true) => {
            let p = if input::stdin_is_terminal() {
                input::prompt_twice("new passphrase")?
            } else {
                input::required_stdin_line("new passphrase")?
            };
            open::derive(store, p, g.kdf_iterations).await
        }
        (None, false) => match std::env::var(NEW_PASSPHRASE_ENV) {
            Ok(p) if !p.is_empty() => {
                open::derive(store, secrets_core::SecretString::new(p), g.kdf_iterations).await
            }
            _ => Err(Failure::Usage(format!(
                "rekey needs the new master key: --new-key-file PATH, --new-passphrase-stdin, \
                 or {NEW_PASSPHRASE_ENV}"
            ))),
        },
    }
}

/// Replaces the master key (begins or resumes the pass, then finishes it).
pub(crate) async fn rekey(g: &Global, args: &Rekey) -> Result<Report, Failure> {
    let opened = open::open_store(g, false).await?;
    let store = opened.store();
    let retiring = open::master_key(g, store.as_ref()).await?;
    let new = new_master(g, args, store.as_ref()).await?;
    let ring = KeyRing::new(new).with_retiring(retiring);
    let vault = open::vault_with(g, store, ring, false).await?;
    let status = vault.key_status();
    if !status.rekeying {
        // The core found the store already under the new master (a rekey
        // that finished earlier) and set the old one aside: nothing to do.
        return Ok(Report::ok(
            json!({"already_complete": true, "epoch": status.epoch, "active_key": status.active_key}),
            format!(
                "the store is already under the new master key (epoch {}); nothing to do",
                status.epoch
            ),
        ));
    }
    let bar = output::progress(g, 0, "rekey");
    let mut on_progress = |p: secrets_core::vault::Progress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    };
    let report = vault.rekey(&mut on_progress).await;
    bar.finish_and_clear();
    let report = report?;
    Ok(Report::ok(
        json!(report),
        format!(
            "rekeyed: {} rows of {} tenants re-sealed under the new master key (epoch {}); \
             the old key is refused from now on: destroy every copy of it",
            report.rewrapped, report.tenants, report.epoch
        ),
    ))
}
