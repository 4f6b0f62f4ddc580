//! Criterion benchmarks for issue 5: webhooks and OAuth connections beside
//! the peer a user would otherwise pick, in the same run.
//!
//! - `webhook_sign_verify_1k`, `webhook_sign_1k`, `webhook_verify_1k`:
//!   Standard Webhooks signing and verification of a 1 KiB JSON payload with
//!   one 32-byte secret: [`webhook::sign`] and [`Verifier::verify`] beside
//!   the `standardwebhooks` crate (`Webhook::sign`, `Webhook::verify`), the
//!   specification's own Rust library. Before timing, both sides must produce
//!   the same `webhook-signature`, and each must accept the other's.
//! - `oauth_fresh_token`: [`Vault::fresh_token`] for a connection whose
//!   access token is valid for another hour (no refresh; the refresher
//!   panics if called), on a `SqliteStore`, beside the raw peer "one SQLite
//!   point lookup plus one open": rusqlite running the store's `get` SQL
//!   for the connection row by primary key on the same file, then
//!   [`KeyRing::open`] of its sealed value. The raw peer is also run inside
//!   `spawn_blocking`, as every `SqliteStore` call is, and a diagnostic
//!   times one empty blocking-pool round trip.
//!
//! See `benches/README.md` for the figures.

// Benchmark set-up: a failure here is a broken benchmark, and panicking with a
// message is the right report; none of this code ships.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::oauth::TokenSet;
use secrets_core::store::{AuditQuery, Kind, Row, SqliteStore, Store};
use secrets_core::vault::{Caller, OAuthRefresher, Vault, VaultConfig};
use secrets_core::webhook::{self, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Verifier};
use secrets_core::webhook::{DEFAULT_SECRET_LEN, WebhookSecret};
use secrets_core::{
    Clock, ManualClock, Result, SecretString, SystemClock, TenantId, Timestamp, UserId,
};
use standardwebhooks::Webhook;

use common::runtime;

const OURS: &str = "secrets-core";
const PEER: &str = "standardwebhooks";

/// The message id of every signed webhook.
const MSG_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
/// Payload size: 1 KiB.
const PAYLOAD_LEN: usize = 1024;

/// A 1 KiB JSON body (UTF-8: the peer takes the payload as text).
fn payload() -> Vec<u8> {
    let head = r#"{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"note":""#;
    let tail = r#""}}"#;
    let fill = PAYLOAD_LEN - head.len() - tail.len();
    let body = format!("{head}{}{tail}", "x".repeat(fill));
    assert_eq!(body.len(), PAYLOAD_LEN);
    body.into_bytes()
}

/// The peer's headers: a `HeaderMap`, as an `http`-based framework hands it
/// to the receiver.
fn header_map(id: &str, ts: &str, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(HEADER_ID, HeaderValue::from_str(id).unwrap());
    map.insert(HEADER_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
    map.insert(HEADER_SIGNATURE, HeaderValue::from_str(signature).unwrap());
    map
}

/// (a) Standard Webhooks sign and verify of 1 KiB.
fn webhooks(c: &mut Criterion) {
    let payload = payload();
    let secret = WebhookSecret::generate_with_len(DEFAULT_SECRET_LEN).unwrap();
    let peer = Webhook::new(secret.to_text().expose_secret()).unwrap();
    let verifier = Verifier::default();
    // The peer checks the timestamp against the system clock, so sign at
    // system time; ours reads the same clock in every verifying iteration.
    let ts = SystemClock.now().unix_seconds();
    let ts_text = ts.to_string();

    // Same signature, and each side accepts the other's.
    let ours = webhook::sign(&[&secret], MSG_ID, ts, &payload).unwrap();
    let theirs = peer.sign(MSG_ID, ts, &payload).unwrap();
    assert_eq!(ours.signature, theirs);
    let our_headers = [
        (HEADER_ID, MSG_ID),
        (HEADER_TIMESTAMP, ts_text.as_str()),
        (HEADER_SIGNATURE, theirs.as_str()),
    ];
    let msg = verifier
        .verify(&our_headers, &payload, &[&secret], SystemClock.now())
        .unwrap();
    assert_eq!((msg.id.as_str(), msg.timestamp), (MSG_ID, ts));
    let their_headers = header_map(MSG_ID, &ts_text, &ours.signature);
    peer.verify(&payload, &their_headers).unwrap();
    // And both refuse a tampered body.
    let mut tampered = payload.clone();
    tampered[PAYLOAD_LEN - 4] = b'y';
    assert!(
        verifier
            .verify(&our_headers, &tampered, &[&secret], SystemClock.now())
            .is_err()
    );
    assert!(peer.verify(&tampered, &their_headers).is_err());

    // Sign, then verify what was signed. Each side turns its signature into
    // the header form its verifier takes, with no other copying: ours borrows
    // the strings, the peer's `HeaderMap` already holds the id and timestamp
    // and only the signature is inserted.
    let mut group = c.benchmark_group("webhook_sign_verify_1k");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    group.bench_function(OURS, |b| {
        b.iter(|| {
            let signed = webhook::sign(&[&secret], MSG_ID, ts, black_box(&payload)).unwrap();
            let headers = [
                (HEADER_ID, signed.id.as_str()),
                (HEADER_TIMESTAMP, ts_text.as_str()),
                (HEADER_SIGNATURE, signed.signature.as_str()),
            ];
            verifier
                .verify(&headers, black_box(&payload), &[&secret], SystemClock.now())
                .unwrap()
        });
    });
    let mut map = header_map(MSG_ID, &ts_text, &theirs);
    group.bench_function(PEER, |b| {
        b.iter(|| {
            let signature = peer.sign(MSG_ID, ts, black_box(&payload)).unwrap();
            map.insert(HEADER_SIGNATURE, HeaderValue::from_str(&signature).unwrap());
            peer.verify(black_box(&payload), &map).unwrap();
        });
    });
    group.finish();

    let mut group = c.benchmark_group("webhook_sign_1k");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    group.bench_function(OURS, |b| {
        b.iter(|| webhook::sign(&[&secret], MSG_ID, ts, black_box(&payload)).unwrap());
    });
    group.bench_function(PEER, |b| {
        b.iter(|| peer.sign(MSG_ID, ts, black_box(&payload)).unwrap());
    });
    group.finish();

    // Headers as received, built once.
    let mut group = c.benchmark_group("webhook_verify_1k");
    group.throughput(Throughput::Bytes(PAYLOAD_LEN as u64));
    group.bench_function(OURS, |b| {
        b.iter(|| {
            verifier
                .verify(
                    black_box(&our_headers),
                    black_box(&payload),
                    &[&secret],
                    SystemClock.now(),
                )
                .unwrap()
        });
    });
    group.bench_function(PEER, |b| {
        b.iter(|| {
            peer.verify(black_box(&payload), black_box(&their_headers))
                .unwrap();
        });
    });
    group.finish();
}

/// A refresher that must never be called: the token is valid for an hour.
#[derive(Debug)]
struct MustNotRefresh;

#[async_trait]
impl OAuthRefresher for MustNotRefresh {
    async fn refresh(&self, provider: &str, _current: &TokenSet) -> Result<TokenSet> {
        panic!("fresh_token refreshed a valid `{provider}` token");
    }
}

/// The SQL `SqliteStore::get` runs for a non-user row
/// (`core/src/store/sqlite/sql.rs`, `table_sql!("records").get`), word for
/// word: the primary key `(tenant_id, kind, id)` answers it.
const GET_ROW: &str = "SELECT kind, id, parent, owner_id, lookup, expires_at, version, body, \
     sealed FROM records WHERE tenant_id = ?1 AND kind = ?2 AND id = ?3";

/// The row as the raw peer reads it: every column into an owned value, as
/// the store decodes it. Only `id` and `sealed` are used afterwards.
#[derive(Debug)]
#[allow(dead_code)]
struct RawConnectionRow {
    kind: String,
    id: String,
    parent: Option<String>,
    owner_id: Option<String>,
    lookup: Option<Vec<u8>>,
    expires_at: Option<i64>,
    version: i64,
    body: Vec<u8>,
    sealed: Option<Vec<u8>>,
}

/// A read-only connection opened as the store opens its readers, checked
/// to answer [`GET_ROW`] by primary key.
fn open_get_reader(path: &Path) -> Connection {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute_batch("PRAGMA trusted_schema = OFF;").unwrap();
    let plan: String = conn
        .query_row(
            &format!("EXPLAIN QUERY PLAN {GET_ROW}"),
            params![[0u8; 16].as_slice(), "oauth_connection", "x"],
            |r| r.get(3),
        )
        .unwrap();
    assert!(
        plan.contains("PRIMARY KEY") || plan.contains("sqlite_autoindex_records"),
        "the point lookup does not use the primary key: {plan}"
    );
    conn
}

/// One SQLite point lookup plus one open: what a user would write to read
/// sealed tokens without the Vault.
fn raw_token(conn: &Connection, ring: &KeyRing, tenant: TenantId, id: &str) -> Vec<u8> {
    let row = conn
        .prepare_cached(GET_ROW)
        .unwrap()
        .query_row(
            params![
                tenant.as_bytes().as_slice(),
                Kind::OAuthConnection.as_str(),
                id
            ],
            |r| {
                Ok(RawConnectionRow {
                    kind: r.get(0)?,
                    id: r.get(1)?,
                    parent: r.get(2)?,
                    owner_id: r.get(3)?,
                    lookup: r.get(4)?,
                    expires_at: r.get(5)?,
                    version: r.get(6)?,
                    body: r.get(7)?,
                    sealed: r.get(8)?,
                })
            },
        )
        .optional()
        .unwrap()
        .unwrap();
    let sealed = row.sealed.as_deref().unwrap();
    let context = Row::context(tenant, Kind::OAuthConnection, &row.id);
    ring.open(sealed, &context)
        .unwrap()
        .expose_secret()
        .to_vec()
}

/// (b) `fresh_token` of a valid cached connection on SQLite.
fn fresh_token(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ring = Arc::new(KeyRing::new(MasterKey::generate().unwrap()));
    let clock = ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000));
    let now = clock.now();
    let password = SecretString::from("correct horse battery staple");
    let tenant = TenantId::generate();
    let (store, vault, admin, admin_id): (Arc<SqliteStore>, Vault, Caller, UserId) =
        rt.block_on(async {
            let store = Arc::new(
                SqliteStore::open(dir.path().join("oauth.db"))
                    .await
                    .unwrap(),
            );
            let vault = Vault::new(
                Arc::clone(&store) as Arc<dyn Store>,
                Arc::clone(&ring),
                Arc::new(clock.clone()),
                {
                    // Only set-up logs in: keep bcrypt quick.
                    let mut c = VaultConfig::default();
                    c.password_cost = 10;
                    c
                },
            )
            .await
            .unwrap();
            let admin_id = vault
                .bootstrap(tenant, "acme", "admin@example.com", &password, None)
                .await
                .unwrap();
            let session = vault
                .login(tenant, "admin@example.com", &password, None)
                .await
                .unwrap();
            let admin = vault
                .authenticate_access_token(session.access_token.expose_secret(), None)
                .await
                .unwrap();
            let tokens = TokenSet::new(SecretString::from("gho_access_token_valid_for_an_hour"))
                .with_refresh_token(SecretString::from("ghr_refresh_token"))
                .with_expires_at(now.saturating_add(Duration::from_secs(3600)))
                .with_scopes(["repo", "read:org"])
                .with_token_type("bearer");
            vault
                .store_oauth_tokens(&admin, "github", &tokens)
                .await
                .unwrap();
            (store, vault, admin, admin_id)
        });
    let refresher = MustNotRefresh;
    // `OAuthConnection::id`: "{user}/{provider}".
    let id = format!("{admin_id}/github");
    let raw = open_get_reader(store.path());
    let shared_raw = Arc::new(Mutex::new(open_get_reader(store.path())));
    let events = || {
        rt.block_on(store.audit_events(tenant, &AuditQuery::default()))
            .unwrap()
            .len()
    };
    let before = events();

    // Both sides read the same token.
    let ours = rt
        .block_on(vault.fresh_token(&admin, admin_id, "github", &refresher))
        .unwrap();
    let theirs = raw_token(&raw, &ring, tenant, &id);
    let theirs = TokenSet::from_secret_json(&theirs).unwrap();
    assert_eq!(ours.expose_secret(), theirs.access_token.expose_secret());

    let mut group = c.benchmark_group("oauth_fresh_token");
    group.bench_function(format!("{OURS}/vault+sqlite"), |b| {
        b.to_async(&rt).iter(|| {
            let (vault, admin, refresher) = (&vault, &admin, &refresher);
            async move {
                vault
                    .fresh_token(admin, admin_id, black_box("github"), refresher)
                    .await
                    .unwrap()
            }
        });
    });
    group.bench_function("rusqlite+open", |b| {
        b.iter(|| raw_token(&raw, &ring, tenant, black_box(&id)));
    });
    group.bench_function("rusqlite+open+spawn_blocking", |b| {
        b.to_async(&rt).iter(|| {
            let conn = Arc::clone(&shared_raw);
            let ring = Arc::clone(&ring);
            let id = id.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    raw_token(&conn.lock().unwrap(), &ring, tenant, black_box(&id))
                })
                .await
                .unwrap()
            }
        });
    });
    group.bench_function("spawn_blocking(no-op)", |b| {
        b.to_async(&rt).iter(|| async {
            tokio::task::spawn_blocking(|| black_box(0u8))
                .await
                .unwrap()
        });
    });
    group.finish();

    // The valid-token path wrote nothing: no refresh, no audit event.
    assert_eq!(events(), before, "fresh_token wrote to the store");
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine; command-line flags override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = webhooks, fresh_token
}
criterion_main!(benches);
