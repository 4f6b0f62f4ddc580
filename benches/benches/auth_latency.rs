//! Issue 4, latency under bcrypt load: not a criterion timing loop, but a
//! small program that prints one table.
//!
//! On a two-worker tokio runtime (`new_multi_thread().worker_threads(2)`),
//! API-token authentications ([`Vault::authenticate_api_token`], hot path,
//! SQLite store with 100,000 tokens) arrive at a steady rate, and each one's
//! latency is measured. Three conditions, one after the other:
//!
//! 1. **idle**: nothing else runs.
//! 2. **2 logins**: two tasks on the same runtime call [`Vault::login`]
//!    (bcrypt cost 12) in a loop. The Vault runs bcrypt on tokio's blocking
//!    pool, so the two async workers stay free; the hashes still take both
//!    CPU cores of this machine.
//! 3. **control**: two tasks run the same bcrypt verification (cost 12)
//!    directly on the async workers, yielding between hashes: what the Vault
//!    avoids. It shows what "blowing up" would look like.
//!
//! Requests are generated open-loop, so that a stalled runtime cannot hide
//! its stalls (no coordinated omission): a plain OS thread, outside the
//! runtime, spawns one task per request every millisecond and notes the
//! time; a request's latency runs from that moment until its task has its
//! `Caller`. Waiting for a free worker is part of the latency, as it would be
//! for a request arriving from the network.
//!
//! Run with `cargo bench -p secrets-core-benches --bench auth_latency`. See
//! `benches/README.md` for the figures.

// Benchmark set-up: a failure here is a broken benchmark, and panicking with a
// message is the right report. Printing the table is this program's output.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use secrets_core::audit::{AuditChain, AuditLinker};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::password::PasswordPolicy;
use secrets_core::store::SqliteStore;
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{ManualClock, SecretString};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use common::{NOW, TOKENS, TokenTable, fill_tokens};

/// How long each condition sends requests.
const SAMPLE_FOR: Duration = Duration::from_secs(5);
/// The gap between two requests' arrivals.
const PACE: Duration = Duration::from_millis(1);
/// Requests sent before each condition's samples, and not counted.
const WARM_UP: usize = 200;
/// The bcrypt cost of the logins (the library's default).
const COST: u32 = 12;
/// Concurrent login loops.
const LOGINS: usize = 2;
const PASSWORD: &str = "correct horse battery staple";

/// What runs beside the requests.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    Idle,
    VaultLogins,
    InlineBcrypt,
}

impl Load {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::VaultLogins => "2 Vault::login loops (bcrypt on the blocking pool)",
            Self::InlineBcrypt => "control: 2 bcrypt loops on the async workers",
        }
    }
}

struct Row {
    load: Load,
    samples: Vec<Duration>,
    hashes_done: u64,
    hash_time: Duration,
}

/// Nearest-rank percentile of sorted samples, in microseconds.
fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e6
}

/// Sends requests from a plain thread for `duration` (after `warm_up`
/// uncounted ones) and returns the tasks of the counted ones, each of which
/// ends with its request's latency.
fn send_requests(
    rt: &Runtime,
    vault: &Vault,
    table: &Arc<TokenTable>,
    warm_up: usize,
    duration: Duration,
) -> Vec<JoinHandle<Duration>> {
    let order = table.probe_order();
    let mut tasks = Vec::new();
    let mut i = 0usize;
    let mut started = None::<Instant>;
    loop {
        if i == warm_up {
            started = Some(Instant::now());
        }
        if started.is_some_and(|s| s.elapsed() >= duration) {
            return tasks;
        }
        let (vault, table) = (vault.clone(), Arc::clone(table));
        let token = order[i % order.len()];
        let arrived = Instant::now();
        let task = rt.spawn(async move {
            vault
                .authenticate_api_token(&table.tokens[token], None)
                .await
                .unwrap();
            arrived.elapsed()
        });
        if i >= warm_up {
            tasks.push(task);
        }
        i += 1;
        std::thread::sleep(PACE);
    }
}

fn run(
    rt: &Runtime,
    vault: &Vault,
    table: &Arc<TokenTable>,
    policy: PasswordPolicy,
    hash: &str,
    load: Load,
) -> Row {
    let stop = Arc::new(AtomicBool::new(false));
    let hashes_done = Arc::new(AtomicU64::new(0));
    let hash_nanos = Arc::new(AtomicU64::new(0));
    let mut loops = Vec::new();
    if load != Load::Idle {
        for _ in 0..LOGINS {
            let (stop, done, nanos) = (
                Arc::clone(&stop),
                Arc::clone(&hashes_done),
                Arc::clone(&hash_nanos),
            );
            let (vault, table, hash) = (vault.clone(), Arc::clone(table), hash.to_owned());
            loops.push(rt.spawn(async move {
                let password = SecretString::from(PASSWORD);
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    if load == Load::VaultLogins {
                        vault
                            .login(table.tenant, &table.login, &password, None)
                            .await
                            .unwrap();
                    } else {
                        // The Vault's own verification, deliberately
                        // blocking the worker thread.
                        assert!(policy.verify(&password, &hash).unwrap());
                        tokio::task::yield_now().await;
                    }
                    let took = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    nanos.fetch_add(took, Ordering::Relaxed);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        // Let both loops get into their first hash.
        std::thread::sleep(Duration::from_millis(50));
    }
    let tasks = send_requests(rt, vault, table, WARM_UP, SAMPLE_FOR);
    // The load stops when the last request has been sent; under the control
    // load, requests still waiting for a worker then finish.
    stop.store(true, Ordering::Relaxed);
    let done = hashes_done.load(Ordering::Relaxed);
    let nanos = hash_nanos.load(Ordering::Relaxed);
    let mut samples = rt.block_on(async {
        for l in loops {
            l.await.unwrap();
        }
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    samples.sort_unstable();
    Row {
        load,
        samples,
        hashes_done: done,
        hash_time: Duration::from_nanos(nanos / done.max(1)),
    }
}

fn main() {
    // `cargo bench` passes `--bench` and any filter: this program takes none.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ring = Arc::new(KeyRing::new(MasterKey::generate().unwrap()));
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
    let policy = PasswordPolicy::new(COST).unwrap();
    let hash = policy.hash(&SecretString::from(PASSWORD)).unwrap();
    // Ten seconds after every token's last use: no last-used write is due.
    let clock = ManualClock::new(NOW.saturating_add(Duration::from_secs(10)));
    let (table, vault) = rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(dir.path().join("vault.db"))
                .await
                .unwrap(),
        );
        let table = fill_tokens(store.as_ref(), &chain, TOKENS, Some(hash.clone())).await;
        let config = {
            let mut c = VaultConfig::default();
            c.password_cost = COST;
            c
        };
        let vault = Vault::new(store, Arc::clone(&ring), Arc::new(clock), config)
            .await
            .unwrap();
        // The login the loops repeat works.
        vault
            .login(
                table.tenant,
                &table.login,
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        (Arc::new(table), vault)
    });

    let rows: Vec<Row> = [Load::Idle, Load::VaultLogins, Load::InlineBcrypt]
        .into_iter()
        .map(|load| run(&rt, &vault, &table, policy, &hash, load))
        .collect();

    println!();
    println!(
        "API-token authentication latency, 2-worker tokio runtime, {} tokens, \
         one request every {} ms for {} s",
        TOKENS,
        PACE.as_millis(),
        SAMPLE_FOR.as_secs()
    );
    println!();
    println!(
        "| condition | N | p50 (µs) | p99 (µs) | max (µs) | logins or hashes done (mean time each) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let hashes = if r.load == Load::Idle {
            "-".to_owned()
        } else {
            format!(
                "{} ({:.0} ms)",
                r.hashes_done,
                r.hash_time.as_secs_f64() * 1e3
            )
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} |",
            r.load.label(),
            r.samples.len(),
            percentile_us(&r.samples, 0.50),
            percentile_us(&r.samples, 0.99),
            percentile_us(&r.samples, 1.0),
            hashes,
        );
    }
}
