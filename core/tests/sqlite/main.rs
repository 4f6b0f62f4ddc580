//! Reliability tests of the SQLite backend: crash safety under SIGKILL,
//! concurrent compare-and-swap writers, bad input, the schema and file
//! mode, and online backup and restore.
//!
//! Behaviour shared by every backend is checked by the conformance suite;
//! these tests cover what only a file on disk can get wrong.
#![cfg(feature = "sqlite")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod backup;
mod bad_input;
mod concurrency;
mod crash;
mod group;
mod schema;

use std::path::Path;

use std::sync::Arc;

use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker, AuditRecord};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::{AuditQuery, Batch, Change, SqliteStore, Store, Tenant};
use secrets_core::{TenantId, Timestamp};

/// The audit chain every test links with.
fn chain() -> Arc<dyn AuditLinker> {
    Arc::new(AuditChain::new(&KeyRing::new(
        MasterKey::from_bytes(&[7; 32]).unwrap(),
    )))
}

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(1_700_000_000)
}

fn draft(action: &str, target: impl Into<String>) -> AuditDraft {
    AuditDraft::new(Actor::System, action, target, now())
}

/// Creates `tenant` (its first audit event).
async fn create_tenant(store: &SqliteStore, tenant: TenantId, linker: &Arc<dyn AuditLinker>) {
    let t = Tenant::new(tenant, "acme", now()).unwrap();
    store
        .apply(
            tenant,
            Batch::new(draft("tenant.create", "tenant/acme")).with(Change::CreateTenant(t)),
            linker,
        )
        .await
        .unwrap();
}

/// A plain connection to the file, bypassing the store.
fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// `PRAGMA integrity_check` through a plain connection: "ok" or the problems.
fn integrity(path: &Path) -> Vec<String> {
    let conn = raw(path);
    let mut stmt = conn.prepare("PRAGMA integrity_check").unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Rows of every table (tenants, users, records) and audit events in the file.
fn counts(path: &Path) -> (i64, i64) {
    let conn = raw(path);
    let rows = conn
        .query_row(
            "SELECT (SELECT count(*) FROM tenants) + (SELECT count(*) FROM users)
                  + (SELECT count(*) FROM records)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let events = conn
        .query_row("SELECT count(*) FROM audit_events", [], |r| r.get(0))
        .unwrap();
    (rows, events)
}

/// The tenant's whole audit log, page by page.
async fn all_events(store: &dyn Store, tenant: TenantId) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::new();
    loop {
        let page = store
            .audit_events(tenant, &{
                let mut c = AuditQuery::default();
                c.after_seq = out.last().map(|r| r.seq);
                c.limit = 500;
                c
            })
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Checks the log is numbered 1..=n without gaps and every link holds.
fn assert_chain(events: &[AuditRecord], linker: &dyn AuditLinker) {
    let mut prev = [0; 32];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "gap or repeat in the audit log");
        assert_eq!(e.prev_hash, prev, "broken link at seq {}", e.seq);
        assert_eq!(linker.link(e).unwrap(), e.hash, "bad hash at seq {}", e.seq);
        prev = e.hash;
    }
}
