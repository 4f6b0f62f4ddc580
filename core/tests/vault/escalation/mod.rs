//! Privilege escalation: one test per attack of the hostile review (issue 8),
//! each run on every backend.
//!
//! Every test here is written as the attacker would write it: it performs the
//! attack through the public API and asserts the attack fails. Each one
//! failed on the code before the fix it pins.
//!
//! Each is a [`vault_test!`], run on every backend with a fresh [`Fx`] (a
//! vault with a bootstrapped Admin, logged in); the few that attack one
//! backend's file directly say so.

use std::sync::Arc;
use std::time::Duration;

use secrets_core::audit::AuditRecord;
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, Row, SqliteStore, Store};
use secrets_core::vault::{Caller, Vault};
use secrets_core::{ManualClock, SecretString, TenantId, Timestamp, UserId};

pub(crate) use crate::fixture::{Backend, Fx, PASSWORD, config, master, vault_test};

mod credentials;
mod integrity;
mod login;
mod model;
mod webhooks;

/// The row tag an operator holding the fixture's master key (or an earlier
/// version's migration) computes for `row` stored in `tenant` at `version`,
/// written from `docs/FORMATS.md` ("Row tag") alone, not from the core's
/// code: tests that need a row only a key holder could write use it.
pub(crate) fn keyholder_tag(tenant: TenantId, row: &Row, version: u64) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    type H = Hmac<sha2::Sha256>;
    fn str_(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap().to_be_bytes());
        out.extend_from_slice(b);
    }
    fn opt(out: &mut Vec<u8>, b: Option<&[u8]>) {
        match b {
            None => out.push(0),
            Some(b) => {
                out.push(1);
                str_(out, b);
            }
        }
    }
    let mut key = <H as KeyInit>::new_from_slice(&[0x42; 32]).unwrap();
    key.update(b"secrets-core/v1/subkey/row-integrity");
    let row_key = key.finalize().into_bytes();
    let mut c = Vec::new();
    str_(&mut c, b"secrets-core/v1/row");
    c.extend_from_slice(tenant.as_bytes());
    str_(&mut c, row.kind.as_str().as_bytes());
    str_(&mut c, row.id.as_bytes());
    opt(&mut c, row.parent.as_deref().map(str::as_bytes));
    opt(&mut c, row.owner.as_ref().map(|o| o.as_bytes().as_slice()));
    opt(&mut c, row.lookup.as_deref());
    match row.expires_at {
        None => c.push(0),
        Some(t) => {
            c.push(1);
            c.extend_from_slice(&t.unix_millis().to_be_bytes());
        }
    }
    c.extend_from_slice(&version.to_be_bytes());
    str_(&mut c, &row.body);
    opt(&mut c, row.sealed.as_deref());
    let mut mac = <H as KeyInit>::new_from_slice(&row_key).unwrap();
    mac.update(&c);
    mac.finalize().into_bytes().into()
}
