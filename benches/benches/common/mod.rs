//! Set-up shared by the `store`, `vault` and `auth_latency` benches: a table
//! of API tokens written through the store, and the raw rusqlite peer that
//! reads it with the store's own SQL.

// Each bench binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use secrets_core::audit::{Actor, AuditDraft, AuditLinker};
use secrets_core::rbac::Role;
use secrets_core::store::records::{ApiToken, User};
use secrets_core::store::{Batch, Change, MAX_BATCH, Record, Store, Tenant};
use secrets_core::token::TokenFormat;
use secrets_core::{TenantId, Timestamp, UserId};

/// Rows in the token table of the lookup and authentication benches.
pub(crate) const TOKENS: usize = 100_000;

/// The time every fixture is written at. The token rows' `last_used_at` is
/// this time, so a Vault whose clock reads a few seconds later finds every
/// token used "within the last minute" and writes nothing.
pub(crate) const NOW: Timestamp = Timestamp::from_unix_seconds(1_700_000_000);

/// Distinct tokens the timing loops cycle through, in a fixed scattered
/// order, the same for every side of a group.
pub(crate) const PROBES: usize = 1024;

/// A two-worker multi-threaded runtime: a server on this 2-core machine.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The tenant, its one user and its API tokens, as written.
pub(crate) struct TokenTable {
    pub(crate) tenant: TenantId,
    pub(crate) owner: UserId,
    pub(crate) login: String,
    /// The plaintext tokens (`scp_...`), for the Vault benches.
    pub(crate) tokens: Vec<String>,
    /// SHA-256 of each token: the `lookup` column.
    pub(crate) hashes: Vec<[u8; 32]>,
}

impl TokenTable {
    /// `PROBES` indexes into `tokens`, scattered over the whole table.
    pub(crate) fn probe_order(&self) -> Vec<usize> {
        let n = self.tokens.len();
        (0..PROBES.min(n))
            .map(|i| (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n)
            .collect()
    }
}

/// Creates the tenant, a Developer (with `password_hash`, for login), and `n`
/// API tokens owned by them, through `store.apply` in batches of
/// [`MAX_BATCH`] rows: the same rows `Vault::mint_api_token` writes, but
/// without one fsync per token. Every token was last used at [`NOW`].
pub(crate) async fn fill_tokens(
    store: &dyn Store,
    chain: &Arc<dyn AuditLinker>,
    n: usize,
    password_hash: Option<String>,
) -> TokenTable {
    let tenant = TenantId::generate();
    let owner = UserId::generate();
    let login = "dev@example.com".to_owned();
    let user = User {
        id: owner,
        login: login.clone(),
        role: Role::Developer,
        password_hash,
        disabled: false,
        created_at: NOW,
        credential_epoch: 0,
        credentials_revoked_at: None,
    };
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
            ))
            .with(Change::Insert(user.to_row(None).unwrap())),
            chain,
        )
        .await
        .unwrap();

    let format = TokenFormat::api();
    let mut tokens = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    let mut batch = None::<Batch>;
    for i in 0..n {
        let token = format.generate().unwrap();
        let parsed = format.parse(token.expose_secret()).unwrap();
        let record = ApiToken {
            id: format!("tok-{i:06}"),
            owner,
            name: format!("ci token {i}"),
            hash: parsed.hash,
            display_prefix: parsed.display_prefix.clone(),
            scopes: vec!["*".to_owned()],
            created_at: NOW,
            expires_at: None,
            last_used_at: Some(NOW),
            revoked_at: None,
            epoch: 0,
        };
        batch
            .get_or_insert_with(|| {
                Batch::new(AuditDraft::new(
                    Actor::System,
                    "bench.fill",
                    "api_token",
                    NOW,
                ))
            })
            .push(Change::Insert(record.to_row(None).unwrap()));
        tokens.push(token.expose_secret().to_owned());
        hashes.push(parsed.hash);
        if batch.as_ref().is_some_and(|b| b.changes.len() == MAX_BATCH) {
            store
                .apply(tenant, batch.take().unwrap(), chain)
                .await
                .unwrap();
        }
    }
    if let Some(b) = batch {
        store.apply(tenant, b, chain).await.unwrap();
    }
    TokenTable {
        tenant,
        owner,
        login,
        tokens,
        hashes,
    }
}

/// The SQL `SqliteStore::find_by_lookup` runs (`core/src/store/sqlite/sql.rs`),
/// word for word: the unique index `records_lookup (kind, lookup_scope,
/// lookup)` answers it.
pub(crate) const FIND_BY_LOOKUP: &str = "SELECT tenant_id, kind, id, parent, owner_id, lookup, \
     expires_at, version, body, sealed, tag FROM records \
     WHERE kind = ?1 AND lookup_scope = X'' AND lookup = ?2";

/// The SQL `SqliteStore::get` runs for a user row, word for word: the
/// primary key of `users` answers it.
pub(crate) const GET_USER: &str = "SELECT kind, id, parent, owner_id, lookup, expires_at, \
     version, body, sealed, tag FROM users WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3";

/// A row as the raw peer reads it: every column into an owned Rust value,
/// without parsing into `secrets-core` types.
#[derive(Debug)]
pub(crate) struct RawRow {
    pub(crate) tenant_id: Vec<u8>,
    pub(crate) kind: String,
    pub(crate) id: String,
    pub(crate) parent: Option<String>,
    pub(crate) owner_id: Option<String>,
    pub(crate) lookup: Option<Vec<u8>>,
    pub(crate) expires_at: Option<i64>,
    pub(crate) version: i64,
    pub(crate) body: Vec<u8>,
    pub(crate) sealed: Option<Vec<u8>>,
    pub(crate) tag: Option<Vec<u8>>,
}

/// A read-only connection opened as the store opens its readers
/// (`schema.rs`: read-only, no mutex, busy timeout, `trusted_schema = OFF`).
pub(crate) fn open_raw_reader(path: &Path) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("PRAGMA trusted_schema = OFF;").unwrap();
    let plan: String = conn
        .query_row(
            &format!("EXPLAIN QUERY PLAN {FIND_BY_LOOKUP}"),
            params!["api_token", [0u8; 32].as_slice()],
            |r| r.get(3),
        )
        .unwrap();
    assert!(
        plan.contains("records_lookup"),
        "the lookup does not use its index: {plan}"
    );
    conn
}

/// What a rusqlite user writes: a cached statement, one indexed row, every
/// column read into an owned value.
pub(crate) fn raw_find(conn: &Connection, lookup: &[u8]) -> Option<RawRow> {
    conn.prepare_cached(FIND_BY_LOOKUP)
        .unwrap()
        .query_row(params!["api_token", lookup], |r| {
            Ok(RawRow {
                tenant_id: r.get(0)?,
                kind: r.get(1)?,
                id: r.get(2)?,
                parent: r.get(3)?,
                owner_id: r.get(4)?,
                lookup: r.get(5)?,
                expires_at: r.get(6)?,
                version: r.get(7)?,
                body: r.get(8)?,
                sealed: r.get(9)?,
                tag: r.get(10)?,
            })
        })
        .optional()
        .unwrap()
}

/// The lookups API-token authentication makes, as a rusqlite user would
/// write them: the token row by its hash ([`raw_find`]), then its owner's
/// user row by tenant and id (the owner's current role and state decide),
/// every column of both read into owned values.
pub(crate) fn raw_find_with_owner(conn: &Connection, lookup: &[u8]) -> Option<(RawRow, RawRow)> {
    let token = raw_find(conn, lookup)?;
    let owner = conn
        .prepare_cached(GET_USER)
        .unwrap()
        .query_row(params![token.tenant_id, "user", token.owner_id], |r| {
            Ok(RawRow {
                tenant_id: token.tenant_id.clone(),
                kind: r.get(0)?,
                id: r.get(1)?,
                parent: r.get(2)?,
                owner_id: r.get(3)?,
                lookup: r.get(4)?,
                expires_at: r.get(5)?,
                version: r.get(6)?,
                body: r.get(7)?,
                sealed: r.get(8)?,
                tag: r.get(9)?,
            })
        })
        .optional()
        .unwrap()?;
    Some((token, owner))
}

/// Drops the scratch schemas `schemas` as `owner_url`, on a thread and
/// runtime of its own (the bench's runtime may be gone, or this may run
/// inside it): what a bench's scratch database does when dropped. Errors
/// are ignored, as in any `Drop`.
#[cfg(feature = "postgres")]
pub(crate) fn drop_schemas(owner_url: &str, schemas: &[String]) {
    let url = owner_url.to_owned();
    let sql: String = schemas
        .iter()
        .map(|s| format!("DROP SCHEMA IF EXISTS {s} CASCADE; "))
        .collect();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            if let Ok((client, conn)) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await {
                let driver = tokio::spawn(conn);
                let _ = client.batch_execute(&sql).await;
                drop(client);
                let _ = driver.await;
            }
        });
    })
    .join();
}
