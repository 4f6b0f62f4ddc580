//! Criterion benchmarks for issue 11: the PostgreSQL store beside raw
//! tokio-postgres on the same server, the same tables and the same rows, in
//! the same run. Every side connects as the app role (under row-level
//! security), except the copy with row-level security off.
//!
//! - `pg_api_token_auth`: [`Vault::authenticate_api_token`] on a
//!   `PostgresStore` holding [`PG_TOKENS`] tokens, on the hot path (every
//!   token used within the last minute: nothing is written, checked after
//!   the run), and the store's reads alone (`Store::find_by_lookup`: the
//!   token in its tenant's context; `Store::find_credential`: the token and
//!   its owner's user row, what authentication reads; each one statement
//!   since schema 2), beside raw
//!   tokio-postgres on a connection whose tenant context is set once for the
//!   session: one point lookup by hash with the store's own `SELECT` (the
//!   peer the target names), the token and then its owner's user row (what
//!   authentication reads), and the lookup in a transaction of its own with
//!   the context statement pipelined ahead of it (the least a per-request
//!   tenant context costs).
//! - `pg_audited_change`: one `Store::apply` of one `Insert` and its audit
//!   event, beside a raw single-row `INSERT` (the store's statement and
//!   columns) in a transaction of its own; and, as a diagnostic, the raw
//!   insert plus an audit row in the same transaction.
//! - `pg_rls_overhead`: the store's hot reads (point get, lookup by hash, a
//!   page of 100) as raw statements of the app role, on `records` (row-level
//!   security on and forced) and on `<schema>_norls.records`, a copy of it with the
//!   same rows and indexes and row-level security off; the same again on
//!   `<schema>_rlscopy.records`, a second copy with row-level security
//!   forced under the store's policy (copy against copy: the same layout on
//!   disk, so only the policy differs); and the tenant-context
//!   statement: alone, and a transaction with it pipelined ahead of a point
//!   get beside the same transaction without it. Criterion gives the
//!   medians; p50 and p99 of the same statements come from a plain timing
//!   loop that interleaves the sides, printed as a table, run twice: with
//!   the server's default plan choice, then with generic plans on both
//!   sides (`plan_cache_mode = force_generic_plan`), which the store's
//!   transactions set with their tenant context.
//! - `pg_concurrent_writers`: audited-change throughput of 8 writers, each
//!   in its own tenant, beside one writer, in batches per second.
//!
//! Needs `SECRETS_CORE_POSTGRES_URL` and `SECRETS_CORE_POSTGRES_OWNER_URL`
//! (`scripts/postgres-setup.sh`, plaintext URLs); without them it says so
//! and measures nothing. It works in a scratch schema that it drops at the
//! end. See `benches/README.md` for the figures.

// Benchmark set-up: a failure here is a broken benchmark, and panicking with a
// message is the right report; none of this code ships. The percentile
// tables are the bench's output, on stdout beside criterion's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::records::{AppSecret, SecretName};
use secrets_core::store::{
    AuditQuery, Batch, Change, Kind, MAX_PAGE, PostgresOptions, PostgresStore, Record, Row, Store,
    Tenant,
};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{ManualClock, TenantId};
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};

use common::{NOW, TokenTable, fill_tokens, runtime};

/// Tokens in the authentication table: fewer than the SQLite benches'
/// 100,000, since every one is written through `apply` over the network;
/// the lookups are index probes either way.
const PG_TOKENS: usize = 20_000;
/// Concurrent writers, and batches each writes per iteration.
const WRITERS: usize = 8;
const PER_WRITER: usize = 16;
/// Timed statements per side in the percentile loop.
const PERCENTILE_RUNS: usize = 3000;

const VAULT: &str = "secrets-core/vault+postgres";
const FIND: &str = "secrets-core/store.find_by_lookup";
const CREDENTIAL: &str = "secrets-core/store.find_credential";
const APPLY: &str = "secrets-core/postgres";
const RAW_LOOKUP: &str = "tokio-postgres/lookup";
const RAW_LOOKUP_OWNER: &str = "tokio-postgres/lookup+owner";
const RAW_TX_LOOKUP: &str = "tokio-postgres/tx(context+lookup)";
const RAW_INSERT: &str = "tokio-postgres/insert-tx";
const RAW_INSERT_AUDIT: &str = "tokio-postgres/insert+audit-row-tx";

/// The columns of a row, in the store's order (`core/src/store/postgres/sql.rs`).
const COLUMNS: &str = "kind, id, parent, owner_id, lookup, expires_at, version, body, sealed, tag";

/// The app role's and the owner's URLs, or `None` when no server is
/// configured.
fn urls() -> Option<(String, String)> {
    let app = std::env::var("SECRETS_CORE_POSTGRES_URL").ok()?;
    let owner = std::env::var("SECRETS_CORE_POSTGRES_OWNER_URL").ok()?;
    (!app.is_empty() && !owner.is_empty()).then_some((app, owner))
}

/// A raw connection at `url` (plaintext: the driver parses `sslmode=disable`
/// itself), driven on `rt`.
fn connect(rt: &Runtime, url: &str) -> Client {
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("the bench needs plaintext URLs (scripts/postgres-setup.sh): {e}")
            });
        tokio::spawn(conn);
        client
    })
}

/// The scratch schema, migrated as the owner, dropped with this (also when
/// a check panics).
struct Db {
    app_url: String,
    owner_url: String,
    owner: Client,
    schema: String,
}

impl Db {
    fn new(rt: &Runtime, app_url: String, owner_url: &str) -> Self {
        let schema = format!("sc_bench_{}", TenantId::generate().as_uuid().simple());
        rt.block_on(PostgresStore::migrate(
            owner_url,
            &PostgresOptions::default().schema(&schema),
        ))
        .unwrap();
        let owner = connect(rt, owner_url);
        Self {
            app_url,
            owner_url: owner_url.to_owned(),
            owner,
            schema,
        }
    }

    fn open(&self, rt: &Runtime, max_connections: usize) -> Arc<PostgresStore> {
        let options = PostgresOptions::default()
            .schema(&self.schema)
            .max_connections(max_connections);
        Arc::new(
            rt.block_on(PostgresStore::open(&self.app_url, options))
                .unwrap(),
        )
    }

    /// A raw app-role connection whose tenant context is `tenant` for the
    /// whole session (what a single-tenant raw user would do).
    fn raw_in(&self, rt: &Runtime, tenant: TenantId) -> Client {
        let client = connect(rt, &self.app_url);
        rt.block_on(client.execute(
            "SELECT set_config('app.tenant', $1, false)",
            &[&tenant.to_string()],
        ))
        .unwrap();
        client
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let s = &self.schema;
        common::drop_schemas(
            &self.owner_url,
            &[format!("{s}_norls"), format!("{s}_rlscopy"), s.clone()],
        );
    }
}

fn chain_and_ring() -> (Arc<KeyRing>, Arc<dyn AuditLinker>) {
    let ring = Arc::new(KeyRing::new(MasterKey::generate().unwrap()));
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
    (ring, chain)
}

async fn create_tenant(store: &dyn Store, chain: &Arc<dyn AuditLinker>) -> TenantId {
    let tenant = TenantId::generate();
    let batch = Batch::new(AuditDraft::new(
        Actor::System,
        "bench.setup",
        "tenant/bench",
        NOW,
    ))
    .with(Change::CreateTenant(
        Tenant::new(tenant, "bench", NOW).unwrap(),
    ));
    store.apply(tenant, batch, chain).await.unwrap();
    tenant
}

/// An application-secret row `app/VAR_i` with a sealed 64-byte value, as
/// `set secret` would write it (as in `store.rs`).
fn secret_row(ring: &KeyRing, tenant: TenantId, app: &str, i: usize) -> Row {
    let record = AppSecret::new(
        app,
        SecretName::parse(&format!("VAR_{i}")).unwrap(),
        Actor::System,
        NOW,
    )
    .unwrap();
    let sealed = ring
        .seal(
            &[0x5a_u8; 64],
            &Row::context(tenant, Kind::AppSecret, &record.id()),
        )
        .unwrap();
    record.to_row(Some(sealed)).unwrap()
}

fn secret_batch(row: Row) -> Batch {
    Batch::new(
        AuditDraft::new(Actor::System, "secret.set", row.id.clone(), NOW).detail("app", "web"),
    )
    .with(Change::Insert(row))
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

/// The raw reads of the authentication group, prepared on one connection.
struct RawReads {
    client: Client,
    lookup: Statement,
    user: Statement,
}

impl RawReads {
    fn new(rt: &Runtime, db: &Db, tenant: TenantId) -> Self {
        let client = db.raw_in(rt, tenant);
        let sc = &db.schema;
        // The store's `by_lookup` and `get` (users), word for word.
        let lookup = rt
            .block_on(client.prepare(&format!(
                "SELECT {COLUMNS} FROM {sc}.records WHERE tenant_id = $1 AND kind = $2 \
                 AND lookup = $3"
            )))
            .unwrap();
        let user = rt
            .block_on(client.prepare(&format!(
                "SELECT {COLUMNS} FROM {sc}.users WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            )))
            .unwrap();
        Self {
            client,
            lookup,
            user,
        }
    }

    /// The token row by its hash, every column read into an owned value.
    async fn token(&self, tenant: &(dyn ToSql + Sync), hash: &[u8]) -> tokio_postgres::Row {
        let params: [&(dyn ToSql + Sync); 3] = [tenant, &"api_token", &hash];
        let row = self.client.query_one(&self.lookup, &params).await.unwrap();
        owned(&row);
        row
    }

    /// The token, then its owner's user row.
    async fn token_and_owner(
        &self,
        tenant: &(dyn ToSql + Sync),
        hash: &[u8],
    ) -> tokio_postgres::Row {
        let token = self.token(tenant, hash).await;
        let owner: String = token.get(3);
        let params: [&(dyn ToSql + Sync); 3] = [tenant, &"user", &owner];
        let row = self.client.query_one(&self.user, &params).await.unwrap();
        owned(&row);
        row
    }
}

/// Reads every column of a row in the store's order into an owned value,
/// as the store's decoding does before it parses.
fn owned(row: &tokio_postgres::Row) {
    black_box((
        row.get::<_, String>(0),
        row.get::<_, String>(1),
        row.get::<_, Option<String>>(2),
        row.get::<_, Option<String>>(3),
        row.get::<_, Option<Vec<u8>>>(4),
        row.get::<_, Option<i64>>(5),
        row.get::<_, i64>(6),
        row.get::<_, Vec<u8>>(7),
        row.get::<_, Option<Vec<u8>>>(8),
        row.get::<_, Option<Vec<u8>>>(9),
    ));
}

/// A transaction on `client` whose tenant context is set by the store's own
/// statement (transaction-local, a bound parameter), sent pipelined ahead of
/// `stmt`, then committed: the shape of every store call.
async fn tx_with_context(
    client: &mut Client,
    context: &String,
    stmt: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> tokio_postgres::Row {
    let tx = client.transaction().await.unwrap();
    let set_params: [(&(dyn ToSql + Sync), tokio_postgres::types::Type); 1] =
        [(context, tokio_postgres::types::Type::TEXT)];
    let (set, row) = join(
        tx.query_typed("SELECT set_config('app.tenant', $1, true)", &set_params),
        tx.query_one(stmt, params),
    )
    .await;
    set.unwrap();
    let row = row.unwrap();
    tx.commit().await.unwrap();
    row
}

/// Both futures' outputs, `a` polled first each time (so its messages go
/// out first, pipelined ahead of `b`'s, as the store sends them).
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut a_out, mut b_out) = (None, None);
    poll_fn(|cx| {
        if a_out.is_none()
            && let Poll::Ready(r) = a.as_mut().poll(cx)
        {
            a_out = Some(r);
        }
        if b_out.is_none()
            && let Poll::Ready(r) = b.as_mut().poll(cx)
        {
            b_out = Some(r);
        }
        if a_out.is_some() && b_out.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (a_out.unwrap(), b_out.unwrap())
}

/// The same transaction without the context statement (the session's
/// context applies).
async fn tx_without_context(
    client: &mut Client,
    stmt: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> tokio_postgres::Row {
    let tx = client.transaction().await.unwrap();
    let row = tx.query_one(stmt, params).await.unwrap();
    tx.commit().await.unwrap();
    row
}

/// API-token authentication and the lookup it makes, beside raw lookups.
/// Returns the token table, which the row-level security group reads too.
fn api_token_auth(c: &mut Criterion, rt: &Runtime, db: &Db) -> TokenTable {
    let (ring, chain) = chain_and_ring();
    let store = db.open(rt, 4);
    let started = Instant::now();
    let table = rt.block_on(fill_tokens(store.as_ref(), &chain, PG_TOKENS, None));
    eprintln!(
        "set-up: {PG_TOKENS} tokens written through apply in {:.1?}",
        started.elapsed()
    );
    let sc = &db.schema;
    rt.block_on(db.owner.batch_execute(&format!(
        "ANALYZE {sc}.records; ANALYZE {sc}.users; ANALYZE {sc}.lookup_directory"
    )))
    .unwrap();
    // Ten seconds after every token's last use: no last-used write is due.
    let clock = ManualClock::new(NOW.saturating_add(Duration::from_secs(10)));
    let vault = rt
        .block_on(Vault::new(
            Arc::clone(&store) as Arc<dyn Store>,
            ring,
            Arc::new(clock),
            VaultConfig::default(),
        ))
        .unwrap();
    let order = table.probe_order();
    let raw = RawReads::new(rt, db, table.tenant);
    let tenant = *table.tenant.as_uuid();
    let context = table.tenant.to_string();
    let tx_client = connect(rt, &db.app_url);
    let tx_lookup = rt
        .block_on(tx_client.prepare(&format!(
            "SELECT {COLUMNS} FROM {sc}.records WHERE tenant_id = $1 AND kind = $2 AND lookup = $3"
        )))
        .unwrap();
    let tx_client = Arc::new(tokio::sync::Mutex::new(tx_client));

    // Every side finds the same token, and its owner.
    rt.block_on(async {
        for &i in &order {
            let hash = &table.hashes[i];
            let caller = vault
                .authenticate_api_token(&table.tokens[i], None)
                .await
                .unwrap();
            assert_eq!(caller.tenant(), table.tenant);
            assert_eq!(caller.user(), Some(table.owner));
            let (t, row) = store
                .find_by_lookup(Kind::ApiToken, hash)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t, table.tenant);
            let found = store
                .find_credential(Kind::ApiToken, hash, false)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((found.tenant, &found.row), (t, &row));
            assert_eq!(found.owner.unwrap().id, table.owner.to_string());
            let token = raw.token(&tenant, hash).await;
            assert_eq!(token.get::<_, String>(1), row.id);
            let owner = raw.token_and_owner(&tenant, hash).await;
            assert_eq!(owner.get::<_, String>(1), table.owner.to_string());
            let mut client = tx_client.lock().await;
            let params: [&(dyn ToSql + Sync); 3] = [&tenant, &"api_token", &hash.as_slice()];
            let in_tx = tx_with_context(&mut client, &context, &tx_lookup, &params).await;
            assert_eq!(in_tx.get::<_, String>(1), row.id);
        }
    });
    let events = || rt.block_on(count_events(store.as_ref(), table.tenant));
    let before = events();

    let mut group = c.benchmark_group("pg_api_token_auth");
    group.bench_function(VAULT, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter(|| {
            let token = table.tokens[order[n % order.len()]].as_str();
            n += 1;
            let vault = &vault;
            async move {
                vault
                    .authenticate_api_token(black_box(token), None)
                    .await
                    .unwrap()
            }
        });
    });
    group.bench_function(FIND, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            let store = &store;
            async move {
                store
                    .find_by_lookup(Kind::ApiToken, black_box(hash))
                    .await
                    .unwrap()
                    .unwrap()
            }
        });
    });
    group.bench_function(CREDENTIAL, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            let store = &store;
            async move {
                store
                    .find_credential(Kind::ApiToken, black_box(hash), false)
                    .await
                    .unwrap()
                    .unwrap()
            }
        });
    });
    group.bench_function(RAW_LOOKUP, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            let (raw, tenant) = (&raw, &tenant);
            async move { raw.token(tenant, black_box(hash)).await }
        });
    });
    group.bench_function(RAW_LOOKUP_OWNER, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            let (raw, tenant) = (&raw, &tenant);
            async move { raw.token_and_owner(tenant, black_box(hash)).await }
        });
    });
    group.bench_function(RAW_TX_LOOKUP, |b| {
        let mut n = 0usize;
        b.to_async(rt).iter_custom(|iters| {
            let probes: Vec<[u8; 32]> = (0..iters)
                .map(|_| {
                    n += 1;
                    table.hashes[order[n % order.len()]]
                })
                .collect();
            let (client, context, stmt, tenant) = (&tx_client, &context, &tx_lookup, &tenant);
            async move {
                let mut client = client.lock().await;
                let start = Instant::now();
                for hash in &probes {
                    let params: [&(dyn ToSql + Sync); 3] =
                        [tenant, &"api_token", &black_box(hash).as_slice()];
                    tx_with_context(&mut client, context, stmt, &params).await;
                }
                start.elapsed()
            }
        });
    });
    group.finish();

    // p50 and p99 of each side, interleaved so that all see the same noise,
    // in a rotating order.
    let lines = rt.block_on(async {
        let mut times: [Vec<Duration>; 5] = Default::default();
        for n in 0..PERCENTILE_RUNS {
            let i = order[n % order.len()];
            let hash = &table.hashes[i];
            // The sides in turn, each starting the round in its turn, so
            // that no side always follows the same one.
            for k in 0..5 {
                let side = (n + k) % 5;
                let start = Instant::now();
                match side {
                    0 => {
                        black_box(
                            vault
                                .authenticate_api_token(&table.tokens[i], None)
                                .await
                                .unwrap(),
                        );
                    }
                    1 => {
                        black_box(store.find_by_lookup(Kind::ApiToken, hash).await.unwrap());
                    }
                    2 => {
                        black_box(
                            store
                                .find_credential(Kind::ApiToken, hash, false)
                                .await
                                .unwrap(),
                        );
                    }
                    3 => {
                        black_box(raw.token(&tenant, hash).await);
                    }
                    _ => {
                        black_box(raw.token_and_owner(&tenant, hash).await);
                    }
                }
                times[side].push(start.elapsed());
            }
        }
        quantiles(&mut times)
    });
    print_table(
        "pg_api_token_auth",
        &[VAULT, FIND, CREDENTIAL, RAW_LOOKUP, RAW_LOOKUP_OWNER],
        &lines,
        3,
    );

    // The hot path wrote nothing: no last-used update, no audit event.
    assert_eq!(events(), before, "an authentication wrote to the store");
    table
}

/// One audited change beside a raw single-row insert transaction.
fn audited_change(c: &mut Criterion, rt: &Runtime, db: &Db) {
    let (ring, chain) = chain_and_ring();
    let store = db.open(rt, 4);
    let (tenant, raw_tenant, audit_tenant) = rt.block_on(async {
        (
            create_tenant(store.as_ref(), &chain).await,
            create_tenant(store.as_ref(), &chain).await,
            create_tenant(store.as_ref(), &chain).await,
        )
    });
    let sc = &db.schema;
    let insert_row = format!(
        "INSERT INTO {sc}.records (tenant_id, kind, id, parent, owner_id, lookup, expires_at, \
         version, body, sealed, key_id, tag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    let insert_audit = format!(
        "INSERT INTO {sc}.audit_events (tenant_id, seq, at, actor, action, target, source, \
         outcome, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    );
    let key_id = i64::from(ring.active_key_id().get());
    // Each raw side in its own tenant (the diagnostic numbers its own audit
    // events after the tenant's creation).
    let raw = [raw_tenant, audit_tenant].map(|t| {
        let client = db.raw_in(rt, t);
        let row = rt.block_on(client.prepare(&insert_row)).unwrap();
        let audit = rt.block_on(client.prepare(&insert_audit)).unwrap();
        (t, Arc::new(tokio::sync::Mutex::new(client)), row, audit)
    });

    /// The raw insert of `row` in a transaction of its own, with an audit
    /// row numbered `seq` when given.
    async fn raw_insert(
        client: &mut Client,
        statements: (&Statement, &Statement),
        tenant: TenantId,
        row: &Row,
        key_id: i64,
        seq: Option<i64>,
    ) {
        let tx = client.transaction().await.unwrap();
        let tenant = *tenant.as_uuid();
        let kind = row.kind.as_str();
        let version = 1_i64;
        let tag = row.tag.as_ref().map(<[u8; 32]>::as_slice);
        let n = tx
            .execute(
                statements.0,
                &[
                    &tenant,
                    &kind,
                    &row.id,
                    &row.parent,
                    &None::<String>,
                    &None::<Vec<u8>>,
                    &None::<i64>,
                    &version,
                    &row.body,
                    &row.sealed,
                    &key_id,
                    &tag,
                ],
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        if let Some(seq) = seq {
            tx.execute(
                statements.1,
                &[
                    &tenant,
                    &seq,
                    &NOW.unix_millis(),
                    &"system",
                    &"secret.set",
                    &row.id,
                    &None::<String>,
                    &"allowed",
                    &r#"{"app":"web"}"#,
                    &[0u8; 32].as_slice(),
                    &[1u8; 32].as_slice(),
                ],
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }

    let mut group = c.benchmark_group("pg_audited_change");
    group.sampling_mode(SamplingMode::Flat).sample_size(50);
    let applied = AtomicU64::new(0);
    let mut next = 0usize;
    group.bench_function(APPLY, |b| {
        b.to_async(rt).iter_batched(
            || {
                next += 1;
                secret_batch(secret_row(&ring, tenant, "web", next))
            },
            |batch| {
                let (store, chain, applied) = (&store, &chain, &applied);
                async move {
                    let event = store.apply(tenant, batch, chain).await.unwrap();
                    applied.fetch_add(1, Ordering::Relaxed);
                    event
                }
            },
            BatchSize::SmallInput,
        );
    });
    let mut seq = 1_i64;
    for (name, (t, client, row_stmt, audit_stmt)) in [RAW_INSERT, RAW_INSERT_AUDIT].iter().zip(&raw)
    {
        let with_audit = *name == RAW_INSERT_AUDIT;
        let mut next = 0usize;
        group.bench_function(*name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let rows: Vec<(Row, Option<i64>)> = (0..iters)
                    .map(|_| {
                        next += 1;
                        let audit = with_audit.then(|| {
                            seq += 1;
                            seq
                        });
                        (secret_row(&ring, *t, "raw", next), audit)
                    })
                    .collect();
                let statements = (row_stmt, audit_stmt);
                async move {
                    let mut client = client.lock().await;
                    let start = Instant::now();
                    for (row, audit) in &rows {
                        raw_insert(&mut client, statements, *t, row, key_id, *audit).await;
                    }
                    start.elapsed()
                }
            });
        });
    }
    group.finish();

    // p50 and p99 of each side, interleaved.
    let lines = rt.block_on(async {
        let mut times: [Vec<Duration>; 2] = Default::default();
        let (raw_tenant, client, row_stmt, audit_stmt) = &raw[0];
        let mut client = client.lock().await;
        for _ in 0..PERCENTILE_RUNS / 10 {
            next += 1;
            let batch = secret_batch(secret_row(&ring, tenant, "web", next));
            let start = Instant::now();
            store.apply(tenant, batch, &chain).await.unwrap();
            times[0].push(start.elapsed());
            applied.fetch_add(1, Ordering::Relaxed);
            let row = secret_row(&ring, *raw_tenant, "late", next);
            let start = Instant::now();
            raw_insert(
                &mut client,
                (row_stmt, audit_stmt),
                *raw_tenant,
                &row,
                key_id,
                None,
            )
            .await;
            times[1].push(start.elapsed());
        }
        quantiles(&mut times)
    });
    print_table("pg_audited_change", &[APPLY, RAW_INSERT], &lines, 1);

    // Every change reported applied is there, each with its audit event.
    let events = rt.block_on(count_events(store.as_ref(), tenant));
    assert_eq!(events, 1 + applied.load(Ordering::Relaxed));
    let raw_events = rt.block_on(count_events(store.as_ref(), audit_tenant));
    assert_eq!(raw_events, u64::try_from(seq).unwrap());
}

/// p50 and p99 of each side's samples, in µs.
fn quantiles<const N: usize>(times: &mut [Vec<Duration>; N]) -> [(f64, f64); N] {
    std::array::from_fn(|k| (percentile(&mut times[k], 50), percentile(&mut times[k], 99)))
}

/// Prints each side's p50 and p99, and its p50 against side `base`'s.
fn print_table(group: &str, names: &[&str], lines: &[(f64, f64)], base: usize) {
    let (base50, _) = lines[base];
    println!(
        "\n{group}: p50 and p99 over interleaved runs (µs)\n\n\
         | side | p50 | p99 | p50 against `{}` |\n|---|---:|---:|---:|",
        names[base]
    );
    for (name, (p50, p99)) in names.iter().zip(lines) {
        println!("| {name} | {p50:.1} | {p99:.1} | {:.2}x |", p50 / base50);
    }
    println!();
}

/// `p`-th percentile (0..=100) of `samples` (sorted here), in µs.
fn percentile(samples: &mut [Duration], p: usize) -> f64 {
    samples.sort_unstable();
    let i = (samples.len() * p / 100).min(samples.len() - 1);
    samples[i].as_secs_f64() * 1e6
}

/// Row-level security overhead: the same statements on `records` and on a
/// copy with row-level security off; the cost of the context statement.
fn rls_overhead(c: &mut Criterion, rt: &Runtime, db: &Db, table: &TokenTable) {
    let sc = &db.schema;
    let t = table.tenant;
    // The copy: same columns, indexes and rows; no policy, no RLS. Filled by
    // the owner inside the tenant's context (FORCE binds the owner too). In
    // a schema of its own: `PostgresStore::open` refuses a schema holding a
    // table without row-level security.
    // A second copy with row-level security forced under the store's
    // policy: copies are laid out alike (written in one statement, in the
    // same order), which `records`, written batch by batch, need not be, so
    // copy against copy isolates what the policy costs.
    let copy = format!("{sc}_norls.records");
    let rls_copy = format!("{sc}_rlscopy.records");
    let policy = "tenant_id = NULLIF(current_setting('app.tenant', true), '')::uuid";
    rt.block_on(db.owner.batch_execute(&format!(
        "CREATE SCHEMA {sc}_norls; \
         CREATE TABLE {copy} (LIKE {sc}.records INCLUDING ALL); \
         CREATE SCHEMA {sc}_rlscopy; \
         CREATE TABLE {rls_copy} (LIKE {sc}.records INCLUDING ALL); \
         ALTER TABLE {rls_copy} ENABLE ROW LEVEL SECURITY; \
         ALTER TABLE {rls_copy} FORCE ROW LEVEL SECURITY; \
         CREATE POLICY tenant_isolation ON {rls_copy} USING ({policy}) WITH CHECK ({policy}); \
         BEGIN; SELECT set_config('app.tenant', '{t}', true); \
         INSERT INTO {copy} SELECT * FROM {sc}.records; \
         INSERT INTO {rls_copy} SELECT * FROM {sc}.records; COMMIT; \
         ANALYZE {sc}.records; ANALYZE {copy}; ANALYZE {rls_copy}"
    )))
    .unwrap();
    let flags = rt
        .block_on(db.owner.query(
            "SELECT relnamespace::regnamespace::text, relrowsecurity, relforcerowsecurity \
             FROM pg_class WHERE relname = 'records' \
             AND relnamespace IN ($1::text::regnamespace, ($1 || '_norls')::regnamespace, \
                                  ($1 || '_rlscopy')::regnamespace) \
             ORDER BY 1",
            &[&sc.as_str()],
        ))
        .unwrap();
    let flags: Vec<(String, bool, bool)> = flags
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        flags,
        [
            (sc.clone(), true, true),
            (format!("{sc}_norls"), false, false),
            (format!("{sc}_rlscopy"), true, true),
        ]
    );

    let client = db.raw_in(rt, t);
    let tenant = *t.as_uuid();
    let statements = |sc: &str| {
        [
            format!(
                "SELECT {COLUMNS} FROM {sc}.records WHERE tenant_id = $1 AND kind = $2 AND id = $3"
            ),
            format!(
                "SELECT {COLUMNS} FROM {sc}.records WHERE tenant_id = $1 AND kind = $2 \
                 AND lookup = $3"
            ),
            format!(
                "SELECT {COLUMNS} FROM {sc}.records WHERE tenant_id = $1 AND kind = $2 \
                 AND id > $3 ORDER BY id LIMIT 100"
            ),
        ]
        .map(|sql| rt.block_on(client.prepare(&sql)).unwrap())
    };
    let on = statements(sc);
    let off = statements(&format!("{sc}_norls"));
    let on_copy = statements(&format!("{sc}_rlscopy"));
    let set = rt
        .block_on(client.prepare("SELECT set_config('app.tenant', $1, true)"))
        .unwrap();
    let order = table.probe_order();
    let ids: Vec<String> = order.iter().map(|i| format!("tok-{i:06}")).collect();
    let hashes: Vec<&[u8]> = order.iter().map(|&i| table.hashes[i].as_slice()).collect();
    let kind = "api_token";
    // The parameters of statement `s` for probe `n`.
    let params = |s: usize, n: usize| -> [&(dyn ToSql + Sync); 3] {
        let n = n % order.len();
        match s {
            0 => [&tenant, &kind, &ids[n]],
            1 => [&tenant, &kind, &hashes[n]],
            _ => [&tenant, &kind, &ids[n]],
        }
    };
    // Both tables answer alike.
    rt.block_on(async {
        for n in 0..order.len() {
            for s in 0..3 {
                let a = client.query(&on[s], &params(s, n)).await.unwrap();
                let b = client.query(&off[s], &params(s, n)).await.unwrap();
                let c = client.query(&on_copy[s], &params(s, n)).await.unwrap();
                assert_eq!(a.len(), b.len());
                assert_eq!(c.len(), b.len());
                assert!(!a.is_empty());
                let ids = |rows: &[tokio_postgres::Row]| -> Vec<String> {
                    rows.iter().map(|r| r.get(1)).collect()
                };
                assert_eq!(ids(&a), ids(&b));
            }
        }
    });

    let names = ["get", "lookup", "page100"];
    let mut group = c.benchmark_group("pg_rls_overhead");
    for s in 0..3 {
        for (side, stmts) in [
            ("rls-on", &on),
            ("rls-off", &off),
            ("rls-on-copy", &on_copy),
        ] {
            let mut n = 0usize;
            group.bench_function(format!("{side}/{}", names[s]), |b| {
                b.to_async(rt).iter(|| {
                    n += 1;
                    let p = params(s, n);
                    let (client, stmt) = (&client, &stmts[s]);
                    async move { client.query(stmt, black_box(&p)).await.unwrap() }
                });
            });
        }
    }
    let context = t.to_string();
    group.bench_function("context/set_config", |b| {
        b.to_async(rt)
            .iter(|| async { client.execute(&set, &[&context]).await.unwrap() });
    });
    let client = tokio::sync::Mutex::new(client);
    for with_context in [false, true] {
        let name = if with_context {
            "context/tx(context+get)"
        } else {
            "context/tx(get)"
        };
        let mut n = 0usize;
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let start_n = n;
                n += usize::try_from(iters).unwrap();
                let (client, context, stmt, params) = (&client, &context, &on[0], &params);
                async move {
                    let mut client = client.lock().await;
                    let start = Instant::now();
                    for i in 0..usize::try_from(iters).unwrap() {
                        let p = params(0, start_n + i);
                        if with_context {
                            tx_with_context(&mut client, context, stmt, &p).await;
                        } else {
                            tx_without_context(&mut client, stmt, &p).await;
                        }
                    }
                    start.elapsed()
                }
            });
        });
    }
    group.finish();

    // p50 and p99, the sides interleaved so that both see the same noise.
    let mut client = client.into_inner();
    let lines = rt.block_on(async {
        let mut lines = Vec::new();
        // Twice: with the server's default plan choice (a custom plan, made
        // again at every execution, for these statements), then with
        // generic plans, as the store's transactions run them (its context
        // statement sets `plan_cache_mode` transaction-locally; here the
        // raw session sets it for both sides alike).
        for generic in [false, true] {
            if generic {
                client
                    .batch_execute("SET plan_cache_mode = force_generic_plan")
                    .await
                    .unwrap();
            }
            for (s, copies) in (0..3).flat_map(|s| [(s, false), (s, true)]) {
                let on = if copies { &on_copy } else { &on };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                for n in 0..PERCENTILE_RUNS {
                    let p = params(s, n);
                    // Each side first in every other pair: the second of two
                    // nearly identical statements finds the server's and the
                    // client's caches warmer, which must not favour one side.
                    for on_side in [n % 2 == 0, n % 2 == 1] {
                        let (stmt, out) = if on_side {
                            (&on[s], &mut a)
                        } else {
                            (&off[s], &mut b)
                        };
                        let start = Instant::now();
                        black_box(client.query(stmt, &p).await.unwrap());
                        out.push(start.elapsed());
                    }
                }
                let (a50, a99) = (percentile(&mut a, 50), percentile(&mut a, 99));
                let (b50, b99) = (percentile(&mut b, 50), percentile(&mut b, 99));
                let plans = if generic { " (generic plans)" } else { "" };
                let copies = if copies { ", copy against copy" } else { "" };
                lines.push(format!(
                    "| {}{plans}{copies} | {a50:.1} | {a99:.1} | {b50:.1} | {b99:.1} | {:+.1}% | {:+.1}% |",
                    names[s],
                    (a50 / b50 - 1.0) * 100.0,
                    (a99 / b99 - 1.0) * 100.0
                ));
            }
            if generic {
                client.batch_execute("RESET plan_cache_mode").await.unwrap();
            }
        }
        let (mut with, mut without, mut alone) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..PERCENTILE_RUNS {
            let p = params(0, n);
            let start = Instant::now();
            tx_without_context(&mut client, &on[0], &p).await;
            without.push(start.elapsed());
            let start = Instant::now();
            tx_with_context(&mut client, &context, &on[0], &p).await;
            with.push(start.elapsed());
            let start = Instant::now();
            client.execute(&set, &[&context]).await.unwrap();
            alone.push(start.elapsed());
        }
        let (w50, w99) = (percentile(&mut with, 50), percentile(&mut with, 99));
        let (o50, o99) = (percentile(&mut without, 50), percentile(&mut without, 99));
        let (s50, s99) = (percentile(&mut alone, 50), percentile(&mut alone, 99));
        lines.push(format!(
            "| tx(context+get) vs tx(get) | {w50:.1} | {w99:.1} | {o50:.1} | {o99:.1} | {:+.1}% | {:+.1}% |",
            (w50 / o50 - 1.0) * 100.0,
            (w99 / o99 - 1.0) * 100.0
        ));
        lines.push(format!(
            "| set_config alone (own round trip) | {s50:.1} | {s99:.1} | | | | |"
        ));
        lines
    });
    println!(
        "\npg_rls_overhead percentiles ({PERCENTILE_RUNS} runs a side, interleaved; µs)\n\n\
         | statement | RLS on p50 | RLS on p99 | RLS off p50 | RLS off p99 | p50 overhead | p99 overhead |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for line in lines {
        println!("{line}");
    }
    println!();
}

/// Audited-change throughput: 8 writers in 8 tenants beside one writer.
fn concurrent_writers(c: &mut Criterion, rt: &Runtime, db: &Db) {
    let (ring, chain) = chain_and_ring();
    let store = db.open(rt, 2 * WRITERS);
    let tenants: Vec<TenantId> = rt.block_on(async {
        let mut tenants = Vec::new();
        for _ in 0..WRITERS {
            tenants.push(create_tenant(store.as_ref(), &chain).await);
        }
        tenants
    });
    let round = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group("pg_concurrent_writers");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for writers in [1, WRITERS] {
        group.throughput(Throughput::Elements((writers * PER_WRITER) as u64));
        let name = if writers == 1 {
            "1 writer".to_owned()
        } else {
            format!("{writers} writers, {writers} tenants")
        };
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let (store, chain, ring, tenants, round) =
                    (&store, &chain, &ring, &tenants, &round);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let r = round.fetch_add(1, Ordering::Relaxed) as usize;
                        let start = Instant::now();
                        let tasks: Vec<_> = tenants[..writers]
                            .iter()
                            .map(|&t| {
                                let (store, chain, ring) =
                                    (Arc::clone(store), Arc::clone(chain), Arc::clone(ring));
                                tokio::spawn(async move {
                                    for i in 0..PER_WRITER {
                                        let row = secret_row(&ring, t, "web", r * PER_WRITER + i);
                                        store.apply(t, secret_batch(row), &chain).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

fn main() {
    let Some((app, owner)) = urls() else {
        eprintln!(
            "skipped: no PostgreSQL configured (set SECRETS_CORE_POSTGRES_URL and \
             SECRETS_CORE_POSTGRES_OWNER_URL: scripts/postgres-setup.sh prints them)"
        );
        return;
    };
    let rt = runtime();
    let db = Db::new(&rt, app, &owner);
    // Modest times for a 2-core machine; command-line flags override these.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let table = api_token_auth(&mut c, &rt, &db);
    rls_overhead(&mut c, &rt, &db, &table);
    audited_change(&mut c, &rt, &db);
    concurrent_writers(&mut c, &rt, &db);
    drop(db);
    c.final_summary();
}
