//! Issue 15: the key lifecycle's passes, beside a raw loop that reads,
//! re-seals and writes the same rows.
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
//! - With the `postgres` feature and a server configured
//!   (`SECRETS_CORE_POSTGRES_URL`, `SECRETS_CORE_POSTGRES_OWNER_URL`:
//!   `scripts/postgres-setup.sh`), the same three on PostgreSQL
//!   (`key_passes_postgres`): the Vault on a `PostgresStore` in a scratch
//!   schema, and raw tokio-postgres on a copy of its `records` table (in a
//!   schema of its own, row-level security forced with the same policy),
//!   tenant by tenant, pages of 500 rows in a transaction that sets the
//!   tenant context first, as the store does. Without a server that part
//!   says so and measures nothing.
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

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, TransactionBehavior, params};
use secrets_core::crypto::{Envelope, KeyRing, MasterKey, TENANT_ENVELOPE_VERSION};
use secrets_core::store::{Kind, Row, SqliteStore, Store};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{SecretString, SystemClock, TenantId};
use tokio::runtime::Runtime;

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

async fn vault_on(store: Arc<dyn Store>, ring: KeyRing) -> Vault {
    Vault::new(store, Arc::new(ring), Arc::new(SystemClock), config())
        .await
        .unwrap()
}

async fn open(path: &Path, ring: KeyRing) -> Vault {
    vault_on(Arc::new(SqliteStore::open(path).await.unwrap()), ring).await
}

/// Three tenants of `ROWS / 3` secrets each, under `vault`'s master.
async fn seed(vault: &Vault) {
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

/// The tenants' data keys of a peer's copy, opened with its ring from their
/// `tenant_key` rows.
#[derive(Default)]
struct PeerKeys(HashMap<(TenantId, u32), Aes256Gcm>);

impl PeerKeys {
    fn add(&mut self, ring: &KeyRing, tenant: TenantId, id: &str, sealed: &[u8]) {
        let key = ring
            .open(sealed, &Row::context(tenant, Kind::TenantKey, id))
            .unwrap();
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret()).unwrap();
        self.0.insert((tenant, id.parse().unwrap()), cipher);
    }

    /// A value sealed under a tenant data key (envelope version 2,
    /// `docs/FORMATS.md` "Tenant keys") opened with that key and sealed
    /// again under `ring` (version 1); `None` for a version-1 value.
    fn to_ring(
        &self,
        ring: &KeyRing,
        tenant: TenantId,
        kind: Kind,
        id: &str,
        sealed: &[u8],
    ) -> Option<Vec<u8>> {
        let envelope = Envelope::parse(sealed).unwrap();
        if envelope.version() != TENANT_ENVELOPE_VERSION {
            return None;
        }
        let context = Row::context(tenant, kind, id);
        let key_id = envelope.key_id().get();
        let mut aad = vec![TENANT_ENVELOPE_VERSION];
        aad.extend_from_slice(&key_id.to_be_bytes());
        aad.extend_from_slice(context.as_bytes());
        let plaintext = self
            .0
            .get(&(tenant, key_id))
            .unwrap()
            .decrypt(
                &Nonce::from(*envelope.nonce()),
                Payload {
                    msg: envelope.ciphertext_and_tag(),
                    aad: &aad,
                },
            )
            .unwrap();
        Some(ring.seal(&plaintext, &context).unwrap())
    }
}

/// Untimed set-up of the peer's copy: every value under a tenant data key
/// moved under `ring` (`PeerKeys::to_ring`), so that the peer's passes do
/// one open and one seal per row through `KeyRing::rewrap`. Returns the
/// rows moved.
fn to_ring_envelopes(conn: &mut Connection, ring: &KeyRing) -> usize {
    let tx = conn.transaction().unwrap();
    let rows: Vec<(Vec<u8>, String, String, Vec<u8>)> = {
        let mut stmt = tx
            .prepare("SELECT tenant_id, kind, id, sealed FROM records WHERE sealed IS NOT NULL")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    let mut keys = PeerKeys::default();
    for (tenant, kind, id, sealed) in &rows {
        if Kind::parse(kind).unwrap() == Kind::TenantKey {
            keys.add(ring, TenantId::from_slice(tenant).unwrap(), id, sealed);
        }
    }
    let mut moved = 0;
    for (tenant, kind, id, sealed) in &rows {
        let t = TenantId::from_slice(tenant).unwrap();
        let parsed = Kind::parse(kind).unwrap();
        if parsed == Kind::TenantKey {
            continue;
        }
        if let Some(resealed) = keys.to_ring(ring, t, parsed, id, sealed) {
            tx.execute(
                "UPDATE records SET sealed = ?4 WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3",
                params![tenant, kind, id, resealed],
            )
            .unwrap();
            moved += 1;
        }
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

/// The Vault's rewrap of every value of the store `open` opens with
/// `master(1)`, after a rotation (not timed).
fn bench_rewrap(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    open: &dyn Fn(KeyRing) -> Vault,
    sealed: usize,
) {
    let vault = open(KeyRing::new(master(1)));
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
}

/// The Vault's rekeys of the store `open` opens, alternating between two
/// masters; each starts from a store the previous one finished, or, where
/// `reset` is given, from the store as it was before the first (opening the
/// vault with the rekeying ring and the reset are not timed).
///
/// Every rekey adds its epoch's chain key to the `audit_keys` setting (36
/// bytes), which the store caps at 4,096: about 110 rekeys of one store
/// fill it, fewer than criterion runs at SQLite's speed, hence the reset.
fn bench_rekey(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    open: &dyn Fn(KeyRing) -> Vault,
    reset: Option<&dyn Fn()>,
    sealed: usize,
) {
    let mut owner = 1u8;
    group.bench_function("secrets-core/vault_rekey", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                if let Some(reset) = reset {
                    reset();
                    owner = 1;
                }
                let next = if owner == 1 { 2 } else { 1 };
                let vault = open(KeyRing::new(master(next)).with_retiring(master(owner)));
                let start = Instant::now();
                let report = rt.block_on(vault.rekey(&mut |_| {})).unwrap();
                total += start.elapsed();
                assert!(report.rewrapped as usize >= sealed);
                owner = next;
            }
            total
        });
    });
}

fn passes(c: &mut Criterion) {
    let rt = common::runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    rt.block_on(async { seed(&open(&path, KeyRing::new(master(1))).await).await });
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
    // The store as seeded (owned by `master(1)`), to start every rekey
    // from: taken before the rewraps, whose rotations each leave a tenant
    // key per tenant for the rekey to destroy, as many as criterion ran.
    let snapshot = dir.path().join("keys-before-rekey.db");
    Connection::open(&path)
        .unwrap()
        .execute("VACUUM INTO ?1", [snapshot.to_str().unwrap()])
        .unwrap();
    let open_sqlite = |ring: KeyRing| rt.block_on(open(&path, ring));
    bench_rewrap(&mut group, &rt, &open_sqlite, sealed);

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

    // Restored page by page through SQLite (the online backup API), not by
    // copying the file: the store keeps its WAL, as between the peer's
    // passes, instead of growing a new one in the timed rekey.
    let reset = || {
        Connection::open(&path)
            .unwrap()
            .restore(
                rusqlite::MAIN_DB,
                &snapshot,
                None::<fn(rusqlite::backup::Progress)>,
            )
            .unwrap();
    };
    bench_rekey(&mut group, &rt, &open_sqlite, Some(&reset), sealed);
    group.finish();
}

#[cfg(feature = "postgres")]
mod pg {
    //! The same passes on PostgreSQL (see the module documentation).

    use secrets_core::store::{MAX_PAGE, PostgresOptions, PostgresStore};
    use tokio_postgres::{Client, NoTls};

    use super::*;

    /// The app role's and the owner's URLs, or `None` when no server is
    /// configured.
    fn urls() -> Option<(String, String)> {
        let app = std::env::var("SECRETS_CORE_POSTGRES_URL").ok()?;
        let owner = std::env::var("SECRETS_CORE_POSTGRES_OWNER_URL").ok()?;
        (!app.is_empty() && !owner.is_empty()).then_some((app, owner))
    }

    /// A raw connection at `url` (plaintext, as `scripts/postgres-setup.sh`
    /// prints it), driven on `rt`.
    fn connect(rt: &Runtime, url: &str) -> Client {
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(url, NoTls).await.unwrap();
            tokio::spawn(conn);
            client
        })
    }

    /// The scratch schema and the peer's, dropped with this (also when a
    /// check panics).
    struct Scratch {
        owner_url: String,
        schema: String,
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let s = &self.schema;
            common::drop_schemas(&self.owner_url, &[format!("{s}_raw"), s.clone()]);
        }
    }

    const CONTEXT: &str = "SELECT set_config('app.tenant', $1, true)";

    /// The peer's copy (`raw`, a table like `records`) moved under `ring`
    /// (`PeerKeys::to_ring`), tenant by tenant in its context. Returns the
    /// rows moved.
    async fn to_ring_envelopes(
        client: &mut Client,
        raw: &str,
        tenants: &[TenantId],
        ring: &KeyRing,
    ) -> usize {
        let mut moved = 0;
        for &t in tenants {
            let tx = client.transaction().await.unwrap();
            tx.execute(CONTEXT, &[&t.to_string()]).await.unwrap();
            let rows = tx
                .query(
                    &format!(
                        "SELECT kind, id, sealed FROM {raw} \
                         WHERE tenant_id = $1 AND sealed IS NOT NULL"
                    ),
                    &[t.as_uuid()],
                )
                .await
                .unwrap();
            let rows: Vec<(String, String, Vec<u8>)> = rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            let mut keys = PeerKeys::default();
            for (kind, id, sealed) in &rows {
                if Kind::parse(kind).unwrap() == Kind::TenantKey {
                    keys.add(ring, t, id, sealed);
                }
            }
            let update = format!(
                "UPDATE {raw} SET sealed = $4 WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            );
            for (kind, id, sealed) in &rows {
                let k = Kind::parse(kind).unwrap();
                if k == Kind::TenantKey {
                    continue;
                }
                if let Some(resealed) = keys.to_ring(ring, t, k, id, sealed) {
                    tx.execute(&update, &[t.as_uuid(), kind, id, &resealed])
                        .await
                        .unwrap();
                    moved += 1;
                }
            }
            tx.commit().await.unwrap();
        }
        moved
    }

    /// The peer: every sealed value of `raw` re-sealed onto `ring`'s active
    /// key, tenant by tenant, 500 rows a transaction that sets the tenant
    /// context first; one `UPDATE` per row, each awaited (as the store
    /// writes). Returns the rows written.
    async fn raw_rewrap(
        client: &mut Client,
        raw: &str,
        tenants: &[TenantId],
        ring: &KeyRing,
    ) -> usize {
        let select = client
            .prepare(&format!(
                "SELECT kind, id, sealed FROM {raw} WHERE tenant_id = $1 \
                 AND sealed IS NOT NULL AND kind <> 'tenant_key' \
                 AND (kind, id) > ($2, $3) ORDER BY kind, id LIMIT $4"
            ))
            .await
            .unwrap();
        let update = client
            .prepare(&format!(
                "UPDATE {raw} SET sealed = $4 WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            ))
            .await
            .unwrap();
        let mut done = 0;
        for &t in tenants {
            let tenant = t.to_string();
            let mut after = (String::new(), String::new());
            loop {
                let tx = client.transaction().await.unwrap();
                tx.execute(CONTEXT, &[&tenant]).await.unwrap();
                let page = tx
                    .query(&select, &[t.as_uuid(), &after.0, &after.1, &(PAGE as i64)])
                    .await
                    .unwrap();
                for row in &page {
                    let kind: &str = row.get(0);
                    let id: &str = row.get(1);
                    let sealed: &[u8] = row.get(2);
                    let context = Row::context(t, Kind::parse(kind).unwrap(), id);
                    let resealed = ring.rewrap(sealed, &context).unwrap();
                    tx.execute(&update, &[t.as_uuid(), &kind, &id, &resealed])
                        .await
                        .unwrap();
                }
                tx.commit().await.unwrap();
                done += page.len();
                match page.last() {
                    Some(last) if page.len() == PAGE => after = (last.get(0), last.get(1)),
                    _ => break,
                }
            }
        }
        done
    }

    pub(super) fn passes(c: &mut Criterion) {
        let Some((app, owner_url)) = urls() else {
            eprintln!(
                "key_passes_postgres skipped: no PostgreSQL configured (set \
                 SECRETS_CORE_POSTGRES_URL and SECRETS_CORE_POSTGRES_OWNER_URL: \
                 scripts/postgres-setup.sh prints them)"
            );
            return;
        };
        let rt = common::runtime();
        let schema = format!("sc_keys_{}", TenantId::generate().as_uuid().simple());
        let options = PostgresOptions::default().schema(&schema);
        rt.block_on(PostgresStore::migrate(&owner_url, &options))
            .unwrap();
        let _scratch = Scratch {
            owner_url: owner_url.clone(),
            schema: schema.clone(),
        };
        let open = |ring: KeyRing| {
            rt.block_on(async {
                let store = PostgresStore::open(&app, options.clone()).await.unwrap();
                vault_on(Arc::new(store), ring).await
            })
        };
        let tenants = {
            let vault = open(KeyRing::new(master(1)));
            rt.block_on(seed(&vault));
            let store = rt
                .block_on(PostgresStore::open(&app, options.clone()))
                .unwrap();
            rt.block_on(store.directory_tenants(None, MAX_PAGE))
                .unwrap()
        };
        assert_eq!(tenants.len(), 3);

        // The peer's copy: same columns, indexes and rows, and the store's
        // tenant policy, forced (so the owner, whom the peer connects as,
        // is bound by it as the app role is). Filled tenant by tenant, in
        // the tenant's context (the original is under forced row-level
        // security too).
        let raw = format!("{schema}_raw.records");
        let mut client = connect(&rt, &owner_url);
        let policy = "tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid";
        rt.block_on(client.batch_execute(&format!(
            "CREATE SCHEMA {schema}_raw; \
             CREATE TABLE {raw} (LIKE {schema}.records INCLUDING ALL); \
             ALTER TABLE {raw} ENABLE ROW LEVEL SECURITY; \
             ALTER TABLE {raw} FORCE ROW LEVEL SECURITY; \
             CREATE POLICY tenant_isolation ON {raw} USING ({policy}) WITH CHECK ({policy})"
        )))
        .unwrap();
        rt.block_on(async {
            for &t in &tenants {
                let tx = client.transaction().await.unwrap();
                tx.execute(CONTEXT, &[&t.to_string()]).await.unwrap();
                tx.execute(
                    &format!("INSERT INTO {raw} SELECT * FROM {schema}.records"),
                    &[],
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
            client
                .batch_execute(&format!("ANALYZE {schema}.records; ANALYZE {raw}"))
                .await
                .unwrap();
        });
        let raw_ring = KeyRing::new(master(1));
        let moved = rt.block_on(to_ring_envelopes(&mut client, &raw, &tenants, &raw_ring));
        assert!(moved >= ROWS, "{moved} values under tenant keys");
        let sealed = rt.block_on(raw_rewrap(&mut client, &raw, &tenants, &raw_ring));
        assert!(sealed >= moved, "{sealed} sealed, {moved} moved");

        let mut group = c.benchmark_group("key_passes_postgres");
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10))
            .throughput(Throughput::Elements(sealed as u64));
        bench_rewrap(&mut group, &rt, &open, sealed);
        group.bench_function("tokio-postgres/read-reseal-write", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    raw_ring.rotate().unwrap();
                    let start = Instant::now();
                    let n = rt.block_on(raw_rewrap(&mut client, &raw, &tenants, &raw_ring));
                    total += start.elapsed();
                    assert_eq!(n, sealed);
                }
                total
            });
        });
        // No reset: a PostgreSQL pass is slow enough that criterion runs
        // far fewer than the ~110 rekeys that fill `audit_keys`.
        bench_rekey(&mut group, &rt, &open, None, sealed);
        group.finish();
    }
}

#[cfg(feature = "postgres")]
criterion_group!(benches, passes, pg::passes);
#[cfg(not(feature = "postgres"))]
criterion_group!(benches, passes);
criterion_main!(benches);
