//! Criterion benchmarks for issues 3 and 9: the storage layer beside raw
//! rusqlite on the same file, in the same run.
//!
//! - `token_lookup_100k`: one API token found by its SHA-256 among 100,000
//!   (`Store::find_by_lookup`), on `SqliteStore` and `MemoryStore`, beside
//!   rusqlite running the store's own `SELECT` on a read-only connection to
//!   the same file, called directly and inside `spawn_blocking`, and beside a
//!   `Mutex<HashMap>` for the memory backend.
//! - `audited_change`: one `Store::apply` of a batch with one `Insert` and
//!   its audit event, beside a raw single-row `INSERT` of the same row in its
//!   own `BEGIN IMMEDIATE` transaction with the store's pragmas (WAL,
//!   `synchronous = FULL`), on the same file; and the memory backend beside
//!   a `Mutex<HashMap>` insert.
//! - `concurrent_audited_writes`: 8 tasks applying audited changes at once
//!   (one `Insert` and its audit event per batch, 16 batches each), in
//!   batches per second, on `SqliteStore` with group commit (the default)
//!   beside the same store opened with `SqliteOptions::group_commit(false)`
//!   (one transaction and fsync per batch, today's behaviour before group
//!   commit), on two files of the same schema. Beside them, a bound rather
//!   than a peer: the same rows and audit rows inserted by hand on one
//!   rusqlite connection, one commit per batch and then 8 batches per
//!   commit, which is the most any group commit can gain on this disk.
//! - `rewrap`: `StoreExt::rewrap` of 10,000 sealed rows after
//!   `KeyRing::rotate`, in rows per second, beside a hand-written rusqlite
//!   loop that re-seals the same rows in transactions of the same size.
//! - Two diagnostics, not peers, to explain the gaps: `spawn_blocking(no-op)`
//!   (one round trip to tokio's blocking pool, which every `SqliteStore` call
//!   makes) in `token_lookup_100k`, and `rusqlite+audit-row` (the raw insert
//!   plus the store's audit-row `INSERT` in the same transaction) in
//!   `audited_change`.
//!
//! Every setup checks that both sides find, write or re-seal the same thing
//! before anything is timed. See `benches/README.md` for the figures.

// Benchmark set-up: a failure here is a broken benchmark, and panicking with a
// message is the right report; none of this code ships.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use secrets_core::TenantId;
use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::records::{AppSecret, SecretName};
use secrets_core::store::{
    AuditQuery, Batch, Change, Kind, MAX_BATCH, MAX_PAGE, MemoryStore, Record, Row, SqliteOptions,
    SqliteStore, Store, StoreExt, Tenant,
};

use common::{NOW, TOKENS, fill_tokens, open_raw_reader, raw_find, runtime};

const SQLITE: &str = "secrets-core/sqlite";
const MEMORY: &str = "secrets-core/memory";
const RAW: &str = "rusqlite";
const RAW_SPAWN: &str = "rusqlite+spawn_blocking";
const HASHMAP: &str = "Mutex<HashMap>";
/// Diagnostics beside the peers: what one hop to the blocking pool costs,
/// and a raw insert that also writes an audit row.
const HOP: &str = "spawn_blocking(no-op)";
const RAW_AUDIT: &str = "rusqlite+audit-row";

/// Rows re-sealed by one `rewrap` iteration.
const REWRAP_ROWS: usize = 10_000;
/// Rows per atomic batch (store) or transaction (raw): one full page.
const REWRAP_BATCH: usize = 1000;
/// Plaintext size of every sealed value.
const VALUE_LEN: usize = 64;

/// The store's row `INSERT` (`core/src/store/sqlite/sql.rs`, table `records`).
const INSERT_ROW: &str = "INSERT INTO records (tenant_id, kind, id, parent, owner_id, \
     lookup_scope, lookup, expires_at, version, body, sealed, key_id) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

fn chain_and_ring() -> (Arc<KeyRing>, Arc<dyn AuditLinker>) {
    let ring = Arc::new(KeyRing::new(MasterKey::generate().unwrap()));
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
    (ring, chain)
}

/// A writing connection set up as `schema::open_writer` sets up the store's
/// (the schema already exists): WAL, `synchronous = FULL`, the same pragmas.
fn open_raw_writer(path: &Path) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA trusted_schema = OFF;",
    )
    .unwrap();
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sync, 2, "synchronous = FULL");
    conn
}

/// An application-secret row `app/VAR_i` with a sealed 64-byte value, as
/// `set secret` would write it.
fn secret_row(ring: &KeyRing, tenant: TenantId, app: &str, i: usize) -> Row {
    let record = AppSecret::new(
        app,
        SecretName::parse(&format!("VAR_{i}")).unwrap(),
        Actor::System,
        NOW,
    )
    .unwrap();
    let value = [0x5a_u8; VALUE_LEN];
    let sealed = ring
        .seal(&value, &Row::context(tenant, Kind::AppSecret, &record.id()))
        .unwrap();
    record.to_row(Some(sealed)).unwrap()
}

fn audit_draft(target: String) -> AuditDraft {
    AuditDraft::new(Actor::System, "secret.set", target, NOW).detail("app", "web")
}

/// The store's audit `INSERT` (`core/src/store/sqlite/sql.rs`).
const INSERT_AUDIT: &str = "INSERT INTO audit_events (tenant_id, seq, at, actor, action, target, \
     source, outcome, details, prev_hash, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";

/// The raw peer's insert of `row`: the store's `INSERT`, its columns bound
/// as the store binds them, in a transaction of its own. With `audit_seq`,
/// the diagnostic variant also inserts an audit row numbered `audit_seq` in
/// the same transaction, with the store's `INSERT` (fixed hashes: no chain).
fn raw_insert(
    conn: &mut Connection,
    tenant: TenantId,
    row: &Row,
    key_id: i64,
    audit_seq: Option<i64>,
) {
    raw_insert_many(conn, tenant, &[(row, audit_seq)], key_id);
}

/// [`raw_insert`] of several rows (each with its optional audit row) in one
/// transaction.
fn raw_insert_many(
    conn: &mut Connection,
    tenant: TenantId,
    rows: &[(&Row, Option<i64>)],
    key_id: i64,
) {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    for &(row, audit_seq) in rows {
        raw_insert_in(&tx, tenant, row, key_id, audit_seq);
    }
    tx.commit().unwrap();
}

fn raw_insert_in(
    tx: &rusqlite::Transaction<'_>,
    tenant: TenantId,
    row: &Row,
    key_id: i64,
    audit_seq: Option<i64>,
) {
    tx.prepare_cached(INSERT_ROW)
        .unwrap()
        .execute(params![
            tenant.as_bytes().as_slice(),
            row.kind.as_str(),
            row.id,
            row.parent,
            None::<String>,
            None::<Vec<u8>>,
            None::<Vec<u8>>,
            None::<i64>,
            1_i64,
            row.body,
            row.sealed,
            key_id,
        ])
        .unwrap();
    if let Some(seq) = audit_seq {
        tx.prepare_cached(INSERT_AUDIT)
            .unwrap()
            .execute(params![
                tenant.as_bytes().as_slice(),
                seq,
                NOW.unix_millis(),
                "system",
                "secret.set",
                row.id,
                None::<String>,
                "allowed",
                r#"{"app":"web"}"#,
                [0u8; 32].as_slice(),
                [1u8; 32].as_slice(),
            ])
            .unwrap();
    }
}

async fn create_tenant(store: &dyn Store, chain: &Arc<dyn AuditLinker>) -> TenantId {
    let tenant = TenantId::generate();
    store
        .apply(
            tenant,
            Batch::new(AuditDraft::new(
                Actor::System,
                "bench.setup",
                "tenant/bench",
                NOW,
            ))
            .with(Change::CreateTenant(
                Tenant::new(tenant, "bench", NOW).unwrap(),
            )),
            chain,
        )
        .await
        .unwrap();
    tenant
}

/// (a) and (d, lookup): one API token by hash among 100,000.
fn token_lookup(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let (_ring, chain) = chain_and_ring();
    let (sqlite, memory, table, mem_table) = rt.block_on(async {
        let sqlite = SqliteStore::open(&path).await.unwrap();
        let table = fill_tokens(&sqlite, &chain, TOKENS, None).await;
        let memory = MemoryStore::new();
        let mem_table = fill_tokens(&memory, &chain, TOKENS, None).await;
        (sqlite, memory, table, mem_table)
    });
    let order = table.probe_order();
    let raw = open_raw_reader(sqlite.path());
    let shared_raw = Arc::new(Mutex::new(open_raw_reader(sqlite.path())));

    // The memory backend's peer: what a user would keep instead of a store.
    let map: Mutex<HashMap<[u8; 32], (TenantId, Row)>> = Mutex::new(HashMap::new());
    rt.block_on(async {
        for hash in &mem_table.hashes {
            let (t, row) = memory
                .find_by_lookup(Kind::ApiToken, hash)
                .await
                .unwrap()
                .unwrap();
            map.lock().unwrap().insert(*hash, (t, row));
        }
    });

    // Both sides find the same row for every probe.
    rt.block_on(async {
        for &i in &order {
            let (t, row) = sqlite
                .find_by_lookup(Kind::ApiToken, &table.hashes[i])
                .await
                .unwrap()
                .unwrap();
            let r = raw_find(&raw, &table.hashes[i]).unwrap();
            assert_eq!(t, table.tenant);
            assert_eq!(
                (r.id.as_str(), r.body.as_slice()),
                (row.id.as_str(), row.body.as_slice())
            );
            assert_eq!(r.tenant_id, t.as_bytes());
        }
    });

    let mut group = c.benchmark_group("token_lookup_100k");
    group.bench_function(SQLITE, |b| {
        let mut n = 0usize;
        b.to_async(&rt).iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            let store = &sqlite;
            async move {
                store
                    .find_by_lookup(Kind::ApiToken, black_box(hash))
                    .await
                    .unwrap()
                    .unwrap()
            }
        });
    });
    group.bench_function(RAW, |b| {
        let mut n = 0usize;
        b.iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            raw_find(&raw, black_box(hash)).unwrap()
        });
    });
    group.bench_function(RAW_SPAWN, |b| {
        let mut n = 0usize;
        b.to_async(&rt).iter(|| {
            let hash = table.hashes[order[n % order.len()]];
            n += 1;
            let conn = Arc::clone(&shared_raw);
            async move {
                tokio::task::spawn_blocking(move || {
                    raw_find(&conn.lock().unwrap(), black_box(&hash)).unwrap()
                })
                .await
                .unwrap()
            }
        });
    });
    group.bench_function(HOP, |b| {
        b.to_async(&rt).iter(|| async {
            tokio::task::spawn_blocking(|| black_box(0u8))
                .await
                .unwrap()
        });
    });
    let mem_order = mem_table.probe_order();
    group.bench_function(MEMORY, |b| {
        let mut n = 0usize;
        b.to_async(&rt).iter(|| {
            let hash = &mem_table.hashes[mem_order[n % mem_order.len()]];
            n += 1;
            let store = &memory;
            async move {
                store
                    .find_by_lookup(Kind::ApiToken, black_box(hash))
                    .await
                    .unwrap()
                    .unwrap()
            }
        });
    });
    group.bench_function(HASHMAP, |b| {
        let mut n = 0usize;
        b.iter(|| {
            let hash = &mem_table.hashes[mem_order[n % mem_order.len()]];
            n += 1;
            map.lock().unwrap().get(black_box(hash)).cloned().unwrap()
        });
    });
    group.finish();
}

/// (b) and (d, audited change): one row and its audit event, atomically.
fn audited_change(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("changes.db");
    let (ring, chain) = chain_and_ring();
    let (sqlite, memory, tenant, raw_tenant, mem_tenant) = rt.block_on(async {
        let sqlite = SqliteStore::open(&path).await.unwrap();
        let tenant = create_tenant(&sqlite, &chain).await;
        // The diagnostic raw variant numbers its own audit events.
        let raw_tenant = create_tenant(&sqlite, &chain).await;
        let memory = MemoryStore::new();
        let mem_tenant = create_tenant(&memory, &chain).await;
        (sqlite, memory, tenant, raw_tenant, mem_tenant)
    });
    let mut raw = open_raw_writer(sqlite.path());
    let key_id = i64::from(ring.active_key_id().get());

    // Both sides store the same row.
    let probe = secret_row(&ring, tenant, "probe", 0);
    let raw_probe = secret_row(&ring, tenant, "rawprobe", 0);
    rt.block_on(async {
        let batch = Batch::new(audit_draft(probe.id.clone())).with(Change::Insert(probe.clone()));
        sqlite.apply(tenant, batch, &chain).await.unwrap();
    });
    raw_insert(&mut raw, tenant, &raw_probe, key_id, None);
    rt.block_on(async {
        let ours = sqlite
            .get(tenant, Kind::AppSecret, &probe.id)
            .await
            .unwrap()
            .unwrap();
        let theirs = sqlite
            .get(tenant, Kind::AppSecret, &raw_probe.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ours.version, theirs.version);
        assert_eq!(ours.sealed_key().unwrap(), theirs.sealed_key().unwrap());
        assert_eq!(ours.parent.as_deref(), Some("probe"));
        assert_eq!(theirs.parent.as_deref(), Some("rawprobe"));
    });

    let mut group = c.benchmark_group("audited_change");
    // Milliseconds an iteration on SQLite (an fsync each): flat sampling.
    group.sampling_mode(SamplingMode::Flat).sample_size(50);

    let applied = AtomicU64::new(0);
    let mut next = 1usize;
    group.bench_function(SQLITE, |b| {
        b.to_async(&rt).iter_batched(
            || {
                next += 1;
                let row = secret_row(&ring, tenant, "web", next);
                Batch::new(audit_draft(row.id.clone())).with(Change::Insert(row))
            },
            |batch| {
                let (store, chain, applied) = (&sqlite, &chain, &applied);
                async move {
                    let event = store.apply(tenant, batch, chain).await.unwrap();
                    applied.fetch_add(1, Ordering::Relaxed);
                    event
                }
            },
            BatchSize::SmallInput,
        );
    });
    let mut next = 1usize;
    group.bench_function(RAW, |b| {
        b.iter_batched(
            || {
                next += 1;
                secret_row(&ring, tenant, "raw", next)
            },
            |row| raw_insert(&mut raw, tenant, &row, key_id, None),
            BatchSize::SmallInput,
        );
    });
    // Diagnostic, not a peer: the same row plus an audit row in one
    // transaction, to split the gap into SQLite work and the store's own.
    let mut next = 1usize;
    let mut seq = 1_i64;
    group.bench_function(RAW_AUDIT, |b| {
        b.iter_batched(
            || {
                next += 1;
                seq += 1;
                (secret_row(&ring, raw_tenant, "raw", next), seq)
            },
            |(row, seq)| raw_insert(&mut raw, raw_tenant, &row, key_id, Some(seq)),
            BatchSize::SmallInput,
        );
    });
    let mut next = 1usize;
    group.bench_function(MEMORY, |b| {
        b.to_async(&rt).iter_batched(
            || {
                next += 1;
                let row = secret_row(&ring, mem_tenant, "web", next);
                Batch::new(audit_draft(row.id.clone())).with(Change::Insert(row))
            },
            |batch| {
                let (store, chain) = (&memory, &chain);
                async move { store.apply(mem_tenant, batch, chain).await.unwrap() }
            },
            BatchSize::SmallInput,
        );
    });
    let map: Mutex<HashMap<(TenantId, Kind, String), Row>> = Mutex::new(HashMap::new());
    let mut next = 1usize;
    group.bench_function(HASHMAP, |b| {
        b.iter_batched(
            || {
                next += 1;
                secret_row(&ring, mem_tenant, "web", next)
            },
            |row| {
                let key = (mem_tenant, row.kind, row.id.clone());
                assert!(map.lock().unwrap().insert(key, row).is_none());
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // Every change reported applied is there, each with its audit event:
    // the tenant's creation, the probe, then one per timed `apply`.
    let events = rt.block_on(count_events(&sqlite, tenant));
    assert_eq!(events, 2 + applied.load(Ordering::Relaxed));
    // And the diagnostic wrote one audit row per insert, after the tenant's.
    let raw_events = rt.block_on(count_events(&sqlite, raw_tenant));
    assert_eq!(raw_events, u64::try_from(seq).unwrap());
}

/// Concurrent writers of `concurrent_audited_writes`, and batches each.
const WRITERS: usize = 8;
const PER_WRITER: usize = 16;
const GROUPED: &str = "secrets-core/sqlite+group-commit";
const UNGROUPED: &str = "secrets-core/sqlite+commit-per-apply";
/// The bound beside them: hand-written inserts, one commit per batch or
/// `WRITERS` batches per commit.
const RAW_PER_BATCH: &str = "bound/rusqlite+commit-per-batch";
const RAW_GROUPED: &str = "bound/rusqlite+8-batches-per-commit";

/// `WRITERS` tasks, each applying `PER_WRITER` audited single-row inserts
/// into `tenant` as fast as it can; returns once all are applied.
async fn write_concurrently(
    store: &Arc<SqliteStore>,
    chain: &Arc<dyn AuditLinker>,
    ring: &Arc<KeyRing>,
    tenant: TenantId,
    round: usize,
) {
    let mut tasks = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let (store, chain, ring) = (Arc::clone(store), Arc::clone(chain), Arc::clone(ring));
        tasks.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                let n = (round * WRITERS + w) * PER_WRITER + i;
                let row = secret_row(&ring, tenant, "web", n);
                let batch = Batch::new(audit_draft(row.id.clone())).with(Change::Insert(row));
                store.apply(tenant, batch, &chain).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// (issue 9, item 8): audited-write throughput of 8 concurrent writers,
/// with and without group commit.
fn concurrent_audited_writes(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (ring, chain) = chain_and_ring();
    let stores = rt.block_on(async {
        let mut stores = Vec::new();
        for (name, options) in [
            (GROUPED, SqliteOptions::default()),
            (UNGROUPED, SqliteOptions::default().group_commit(false)),
        ] {
            let file = dir
                .path()
                .join(format!("{}.db", name.replace(['/', '+'], "-")));
            let store = Arc::new(SqliteStore::open_with(file, options).await.unwrap());
            let tenant = create_tenant(store.as_ref(), &chain).await;
            stores.push((name, store, tenant));
        }
        stores
    });

    let mut group = c.benchmark_group("concurrent_audited_writes");
    group
        .throughput(Throughput::Elements((WRITERS * PER_WRITER) as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    for (name, store, tenant) in &stores {
        let round = AtomicU64::new(0);
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (store, chain, ring, round) = (store, &chain, &ring, &round);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let r = round.fetch_add(1, Ordering::Relaxed) as usize;
                        let start = Instant::now();
                        write_concurrently(store, chain, ring, *tenant, r).await;
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
        // Every batch is there, each with its audit event.
        let events = rt.block_on(count_events(store.as_ref(), *tenant));
        let rounds = round.load(Ordering::Relaxed);
        assert_eq!(events, 1 + rounds * (WRITERS * PER_WRITER) as u64);
    }
    // The bound, not a peer: the same rows and audit rows written by hand on
    // one connection with no checking read, no link and no queue, one commit
    // per batch and then `WRITERS` batches per commit (a perfect group of
    // one batch per writer). What these two give is the most any group
    // commit over this schema and this disk can gain.
    let key_id = i64::from(ring.active_key_id().get());
    for (name, per_commit) in [(RAW_PER_BATCH, 1), (RAW_GROUPED, WRITERS)] {
        let file = dir.path().join(format!(
            "{}.db",
            name.replace(['/', '+', '(', ')', ' '], "-")
        ));
        let tenant = rt.block_on(async {
            let store = SqliteStore::open(&file).await.unwrap();
            create_tenant(&store, &chain).await
        });
        let mut raw = open_raw_writer(&file);
        let mut seq = 1_i64;
        let mut round = 0usize;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let rows: Vec<(Row, i64)> = (0..WRITERS * PER_WRITER)
                        .map(|i| {
                            seq += 1;
                            (
                                secret_row(&ring, tenant, "web", round * WRITERS * PER_WRITER + i),
                                seq,
                            )
                        })
                        .collect();
                    round += 1;
                    let start = Instant::now();
                    for commit in rows.chunks(per_commit) {
                        let commit: Vec<(&Row, Option<i64>)> =
                            commit.iter().map(|(row, seq)| (row, Some(*seq))).collect();
                        raw_insert_many(&mut raw, tenant, &commit, key_id);
                    }
                    total += start.elapsed();
                }
                total
            });
        });
        let written: i64 = raw
            .query_row(
                "SELECT count(*) FROM audit_events WHERE tenant_id = ?1",
                [tenant.as_bytes().as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(written, seq, "one audit row per batch, after the tenant's");
    }
    group.finish();
}

/// The number of audit events of `tenant`, page by page.
async fn count_events(store: &dyn Store, tenant: TenantId) -> u64 {
    let mut query = AuditQuery::default();
    let mut count = 0;
    loop {
        let page = store.audit_events(tenant, &query).await.unwrap();
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == MAX_PAGE => query.after_seq = Some(last.seq),
            _ => return count,
        }
    }
}

/// Fills `tenant` with [`REWRAP_ROWS`] sealed rows, through the store.
async fn fill_secrets(
    store: &dyn Store,
    chain: &Arc<dyn AuditLinker>,
    ring: &KeyRing,
    tenant: TenantId,
) {
    for start in (0..REWRAP_ROWS).step_by(MAX_BATCH) {
        let mut batch = Batch::new(AuditDraft::new(Actor::System, "bench.fill", "app/web", NOW));
        for i in start..(start + MAX_BATCH).min(REWRAP_ROWS) {
            batch.push(Change::Insert(secret_row(ring, tenant, "web", i)));
        }
        store.apply(tenant, batch, chain).await.unwrap();
    }
}

/// The raw peer of `rewrap`: pages of [`REWRAP_BATCH`] rows not yet under
/// the active key, each re-sealed and updated in one transaction.
fn raw_rewrap(conn: &mut Connection, ring: &KeyRing, tenant: TenantId) -> usize {
    let active = i64::from(ring.active_key_id().get());
    let mut after = String::new();
    let mut done = 0;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let page: Vec<(String, Vec<u8>)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, sealed FROM records WHERE tenant_id = ?1 AND kind = ?2 \
                     AND key_id IS NOT NULL AND key_id <> ?3 AND id > ?4 ORDER BY id LIMIT ?5",
                )
                .unwrap();
            stmt.query_map(
                params![
                    tenant.as_bytes().as_slice(),
                    "app_secret",
                    active,
                    after,
                    REWRAP_BATCH as i64
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE records SET sealed = ?4, key_id = ?5, version = version + 1 \
                     WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3",
                )
                .unwrap();
            for (id, sealed) in &page {
                let context = Row::context(tenant, Kind::AppSecret, id);
                let resealed = ring.rewrap(sealed, &context).unwrap();
                update
                    .execute(params![
                        tenant.as_bytes().as_slice(),
                        "app_secret",
                        id,
                        resealed,
                        active
                    ])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
        done += page.len();
        match page.last() {
            Some((id, _)) if page.len() == REWRAP_BATCH => after.clone_from(id),
            _ => return done,
        }
    }
}

/// (c): rewrap throughput, rows per second.
fn rewrap(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (ring, chain) = chain_and_ring();
    let (raw_ring, raw_chain) = chain_and_ring();
    let (mem_ring, mem_chain) = chain_and_ring();
    let raw_path = dir.path().join("rewrap-raw.db");
    let (sqlite, raw_tenant, memory) = rt.block_on(async {
        let sqlite = SqliteStore::open(dir.path().join("rewrap.db"))
            .await
            .unwrap();
        let tenant = create_tenant(&sqlite, &chain).await;
        fill_secrets(&sqlite, &chain, &ring, tenant).await;
        // The raw peer's file: the same schema and rows, written the same way.
        let raw_store = SqliteStore::open(&raw_path).await.unwrap();
        let raw_tenant = create_tenant(&raw_store, &raw_chain).await;
        fill_secrets(&raw_store, &raw_chain, &raw_ring, raw_tenant).await;
        drop(raw_store);
        let memory = MemoryStore::new();
        let mem_tenant = create_tenant(&memory, &mem_chain).await;
        fill_secrets(&memory, &mem_chain, &mem_ring, mem_tenant).await;
        (sqlite, raw_tenant, memory)
    });
    let mut raw = open_raw_writer(&raw_path);

    // Both sides move every row onto the new key.
    ring.rotate().unwrap();
    let done = rt.block_on(sqlite.rewrap(&ring, &chain, NOW, REWRAP_BATCH, &mut |_| {}));
    assert_eq!(done.unwrap().rows_rewrapped, REWRAP_ROWS as u64);
    raw_ring.rotate().unwrap();
    assert_eq!(raw_rewrap(&mut raw, &raw_ring, raw_tenant), REWRAP_ROWS);
    assert_eq!(raw_rewrap(&mut raw, &raw_ring, raw_tenant), 0);

    let mut group = c.benchmark_group("rewrap");
    group
        .throughput(Throughput::Elements(REWRAP_ROWS as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    group.bench_function(format!("{SQLITE}/{REWRAP_ROWS}"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, ring, chain) = (&sqlite, &ring, &chain);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ring.rotate().unwrap();
                    let start = Instant::now();
                    let done = store
                        .rewrap(ring, chain, NOW, REWRAP_BATCH, &mut |_| {})
                        .await
                        .unwrap();
                    total += start.elapsed();
                    assert_eq!(done.rows_rewrapped, REWRAP_ROWS as u64);
                }
                total
            }
        });
    });
    group.bench_function(format!("{RAW}/{REWRAP_ROWS}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                raw_ring.rotate().unwrap();
                let start = Instant::now();
                let done = raw_rewrap(&mut raw, &raw_ring, raw_tenant);
                total += start.elapsed();
                assert_eq!(done, REWRAP_ROWS);
            }
            total
        });
    });
    group.bench_function(format!("{MEMORY}/{REWRAP_ROWS}"), |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, ring, chain) = (&memory, &mem_ring, &mem_chain);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ring.rotate().unwrap();
                    let start = Instant::now();
                    let done = store
                        .rewrap(ring, chain, NOW, REWRAP_BATCH, &mut |_| {})
                        .await
                        .unwrap();
                    total += start.elapsed();
                    assert_eq!(done.rows_rewrapped, REWRAP_ROWS as u64);
                }
                total
            }
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine; command-line flags override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = token_lookup, audited_change, concurrent_audited_writes, rewrap
}
criterion_main!(benches);
