//! Issue 15: the key lifecycle's passes on SQLite, beside a raw rusqlite
//! loop that reads, re-seals and writes the same rows.
//!
//! - `vault_rewrap`: `Vault::rewrap` after a `Vault::rotate_key` (the
//!   rotation is set-up, not timed) of [`ROWS`] application secrets in 3
//!   tenants.
//! - `vault_rekey`: `Vault::rekey` of the same store, alternating between
//!   two master keys (opening the vault with the rekeying ring is set-up, not
//!   timed). A rekey also re-tags every other row of the store and writes one
//!   event per tenant.
//! - `rusqlite`: the peer, on a copy of the same file: pages of 500 rows of
//!   `records` with a sealed value (all but the `tenant_key` rows, which
//!   neither pass re-seals), each page in one transaction: read,
//!   `KeyRing::rewrap` onto a freshly rotated key, `UPDATE` the sealed value.
//!   No tag, no audit event, no checking read.
//!
//! The crypto work per row is the same on both sides: one AES-256-GCM open
//! and one seal, with a key schedule computed once per key, not per row.
//! The Vault's values are version-2 envelopes under the tenants' data keys;
//! before it is timed, the peer's copy is moved (untimed) to version-1
//! envelopes under its ring, which `KeyRing::rewrap` opens and seals.
//!
//! Throughput in rows per second; the target is the Vault at no less than
//! half the peer's.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, TransactionBehavior, params};
use secrets_core::crypto::{Envelope, KeyRing, MasterKey, TENANT_ENVELOPE_VERSION};
use secrets_core::store::{Kind, Row, SqliteStore};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{SecretString, SystemClock, TenantId};

mod common;

/// Application secrets in all (three tenants).
const ROWS: usize = 3_000;
const PAGE: usize = 500;

fn config() -> VaultConfig {
    let mut c = VaultConfig::default();
    c.password_cost = 10;
    c
}

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes(&[byte; 32]).unwrap()
}

async fn open(path: &Path, ring: KeyRing) -> Vault {
    let store = SqliteStore::open(path).await.unwrap();
    Vault::new(
        Arc::new(store),
        Arc::new(ring),
        Arc::new(SystemClock),
        config(),
    )
    .await
    .unwrap()
}

/// Three tenants of `ROWS / 3` secrets each, under `master(1)`.
async fn seed(path: &Path) {
    let vault = open(path, KeyRing::new(master(1))).await;
    for t in 0..3 {
        let tenant = TenantId::generate();
        let pw = SecretString::from("correct horse battery");
        let login = format!("admin{t}@example.com");
        vault
            .bootstrap(tenant, "bench", &login, &pw, None)
            .await
            .unwrap();
        let session = vault.login(tenant, &login, &pw, None).await.unwrap();
        let admin = vault
            .authenticate_access_token(session.access_token.expose_secret(), None)
            .await
            .unwrap();
        for chunk in 0..ROWS / 3 / 100 {
            let values: Vec<(String, Vec<u8>)> = (0..100)
                .map(|i| (format!("K_{chunk}_{i}"), vec![b'v'; 64]))
                .collect();
            vault.set_secrets(&admin, "web", values).await.unwrap();
        }
    }
}

/// Untimed set-up of the peer's copy: every value sealed under a tenant
/// data key (envelope version 2, `docs/FORMATS.md` "Tenant keys") opened
/// with that key (itself opened with `ring` from its `tenant_key` row) and
/// sealed again under `ring` (version 1), so that the peer's passes do one
/// open and one seal per row through `KeyRing::rewrap`. Returns the rows
/// moved.
fn to_ring_envelopes(conn: &mut Connection, ring: &KeyRing) -> usize {
    let tx = conn.transaction().unwrap();
    let mut keys: HashMap<(Vec<u8>, u32), Aes256Gcm> = HashMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT tenant_id, id, sealed FROM records WHERE kind = 'tenant_key'")
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .unwrap();
        for row in rows {
            let (tenant, id, sealed) = row.unwrap();
            let t = TenantId::from_slice(&tenant).unwrap();
            let key = ring
                .open(&sealed, &Row::context(t, Kind::TenantKey, &id))
                .unwrap();
            let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).unwrap();
            keys.insert((tenant, id.parse().unwrap()), cipher);
        }
    }
    let page: Vec<(Vec<u8>, String, String, Vec<u8>)> = {
        let mut stmt = tx
            .prepare(
                "SELECT tenant_id, kind, id, sealed FROM records \
                 WHERE sealed IS NOT NULL AND kind <> 'tenant_key'",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let mut moved = 0;
    for (tenant, kind, id, sealed) in &page {
        let envelope = Envelope::parse(sealed).unwrap();
        if envelope.version() != TENANT_ENVELOPE_VERSION {
            continue;
        }
        let t = TenantId::from_slice(tenant).unwrap();
        let context = Row::context(t, Kind::parse(kind).unwrap(), id);
        let key_id = envelope.key_id().get();
        let mut aad = vec![TENANT_ENVELOPE_VERSION];
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad.extend_from_slice(context.as_bytes());
        let plaintext = keys
            .get(&(tenant.clone(), key_id))
            .unwrap()
            .decrypt(
                &Nonce::from(*envelope.nonce()),
                Payload {
                    msg: envelope.ciphertext_and_tag(),
                    aad: &aad,
                },
            )
            .unwrap();
        let resealed = ring.seal(&plaintext, &context).unwrap();
        tx.execute(
            "UPDATE records SET sealed = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3",
            params![tenant, kind, id, resealed],
        )
        .unwrap();
        moved += 1;
    }
    tx.commit().unwrap();
    moved
}

/// The peer: every sealed value re-sealed onto `ring`'s active key, 500
/// rows a transaction. Returns the rows written.
fn raw_rewrap(conn: &mut Connection, ring: &KeyRing) -> usize {
    let mut after: (Vec<u8>, String, String) = (Vec::new(), String::new(), String::new());
    let mut done = 0;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let page: Vec<(Vec<u8>, String, String, Vec<u8>)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT tenant_id, kind, id, sealed FROM records WHERE sealed IS NOT NULL \
                     AND kind <> 'tenant_key' AND (tenant_id, kind, id) > (?1, ?2, ?3) ORDER BY tenant_id, kind, id LIMIT ?4",
                )
                .unwrap();
            stmt.query_map(params![after.0, after.1, after.2, PAGE as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE records SET sealed = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3",
                )
                .unwrap();
            for (tenant, kind, id, sealed) in &page {
                let tenant = TenantId::from_slice(tenant).unwrap();
                let kind = Kind::parse(kind).unwrap();
                let context = Row::context(tenant, kind, id);
                let resealed = ring.rewrap(sealed, &context).unwrap();
                update
                    .execute(params![
                        tenant.as_bytes().as_slice(),
                        kind.as_str(),
                        id,
                        resealed
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        done += page.len();
        match page.last() {
            Some((t, k, i, _)) if page.len() == PAGE => after = (t.clone(), k.clone(), i.clone()),
            _ => return done,
        }
    }
}

fn passes(c: &mut Criterion) {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    rt.block_on(seed(&path));
    let raw_path = dir.path().join("keys-raw.db");
    std::fs::copy(&path, &raw_path).unwrap();
    let mut raw = Connection::open(&raw_path).unwrap();
    raw.pragma_update(None, "journal_mode", "WAL").unwrap();
    raw.pragma_update(None, "synchronous", "FULL").unwrap();
    let raw_ring = KeyRing::new(master(1));
    let moved = to_ring_envelopes(&mut raw, &raw_ring);
    assert!(moved >= ROWS, "{moved} values under tenant keys");
    // Both sides see the same rows: every sealed value, once.
    let sealed = raw_rewrap(&mut raw, &raw_ring);
    assert!(sealed >= moved, "{sealed} sealed, {moved} moved");

    let mut group = c.benchmark_group("key_passes");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(sealed as u64));

    let vault = rt.block_on(open(&path, KeyRing::new(master(1))));
    group.bench_function("secrets-core/vault_rewrap", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                rt.block_on(vault.rotate_key()).unwrap();
                let start = Instant::now();
                let report = rt.block_on(vault.rewrap(&mut |_| {})).unwrap();
                total += start.elapsed();
                assert_eq!(report.rewrapped as usize, sealed);
            }
            total
        });
    });
    drop(vault);

    group.bench_function("rusqlite/read-reseal-write", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                raw_ring.rotate().unwrap();
                let start = Instant::now();
                let n = raw_rewrap(&mut raw, &raw_ring);
                total += start.elapsed();
                assert_eq!(n, sealed);
            }
            total
        });
    });

    // Rekeys alternate between two masters; each starts from a store the
    // previous one finished.
    let mut owner = 1u8;
    group.bench_function("secrets-core/vault_rekey", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let next = if owner == 1 { 2 } else { 1 };
                let vault = rt.block_on(open(
                    &path,
                    KeyRing::new(master(next)).with_retiring(master(owner)),
                ));
                let start = Instant::now();
                let report = rt.block_on(vault.rekey(&mut |_| {})).unwrap();
                total += start.elapsed();
                assert!(report.rewrapped as usize >= sealed);
                owner = next;
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, passes);
criterion_main!(benches);
