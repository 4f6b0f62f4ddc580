//! Eight tasks on a multi-threaded runtime doing read-modify-write with
//! compare-and-swap on shared rows, beside readers: no update is lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use secrets_core::store::{Batch, Change, Kind, ListQuery, Row, SqliteStore, Store};
use secrets_core::{Error, TenantId};

use crate::{all_events, assert_chain, chain, create_tenant, draft};

const TENANT: TenantId = TenantId::DEFAULT;
const WRITERS: u64 = 8;
const INCREMENTS: u64 = 15;
const COUNTERS: [&str; 2] = ["c0", "c1"];

fn count(row: &Row) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&row.body).unwrap();
    v["n"].as_u64().unwrap()
}

fn with_count(row: &Row, n: u64) -> Row {
    let mut new = row.clone();
    new.body = format!(r#"{{"n":{n}}}"#).into_bytes();
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cas_writers_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("cas.db")).await.unwrap());
    let chain = chain();
    create_tenant(&store, TENANT, &chain).await;
    let mut setup = Batch::new(draft("counter.create", "counters"));
    for id in COUNTERS {
        setup.push(Change::Insert(Row::new(
            Kind::AppSecret,
            id,
            br#"{"n":0}"#.to_vec(),
        )));
    }
    store.apply(TENANT, setup, &chain).await.unwrap();

    // Everyone reads c0 before anyone writes it: the first round must
    // produce WRITERS - 1 conflicts, whatever the scheduling.
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS as usize));
    let conflicts = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (store, chain, barrier, conflicts) = (
            Arc::clone(&store),
            Arc::clone(&chain),
            Arc::clone(&barrier),
            Arc::clone(&conflicts),
        );
        writers.push(tokio::spawn(async move {
            for k in 0..INCREMENTS {
                let id = COUNTERS[((w + k) % 2) as usize];
                let id = if k == 0 { COUNTERS[0] } else { id };
                let mut first_attempt = true;
                loop {
                    let row = store
                        .get(TENANT, Kind::AppSecret, id)
                        .await
                        .unwrap()
                        .unwrap();
                    if k == 0 && first_attempt {
                        barrier.wait().await;
                    }
                    first_attempt = false;
                    let batch = Batch::new(draft("counter.bump", id)).with(Change::Update {
                        row: with_count(&row, count(&row) + 1),
                        expected_version: row.version,
                    });
                    match store.apply(TENANT, batch, &chain).await {
                        Ok(_) => break,
                        Err(Error::Conflict {
                            expected, found, ..
                        }) => {
                            assert_eq!(expected, row.version);
                            assert!(found > expected, "a conflict means someone got there first");
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
        }));
    }

    // Readers run beside the writers: a row is never seen going back in
    // time, nor torn (its count always matches its version).
    let mut readers = Vec::new();
    for _ in 0..2 {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        readers.push(tokio::spawn(async move {
            let mut seen = [0_u64; 2];
            let mut reads = 0_u64;
            while !done.load(Ordering::Relaxed) {
                let rows = store
                    .list(TENANT, &ListQuery::new(Kind::AppSecret))
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 2);
                for (i, row) in rows.iter().enumerate() {
                    assert_eq!(row.id, COUNTERS[i]);
                    assert_eq!(count(row), row.version - 1, "torn read of {}", row.id);
                    assert!(row.version >= seen[i], "{} went back in time", row.id);
                    seen[i] = row.version;
                }
                reads += 1;
            }
            reads
        }));
    }

    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }

    let total = WRITERS * INCREMENTS;
    let mut sum = 0;
    for id in COUNTERS {
        let row = store
            .get(TENANT, Kind::AppSecret, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            row.version,
            count(&row) + 1,
            "{id}: version and count disagree"
        );
        sum += count(&row);
    }
    assert_eq!(sum, total, "lost updates");
    let conflicts = conflicts.load(Ordering::Relaxed);
    assert!(conflicts >= WRITERS - 1, "only {conflicts} conflicts seen");

    // One audit event per successful write, numbered without gaps.
    let events = all_events(&*store, TENANT).await;
    assert_eq!(events.len() as u64, 2 + total);
    assert_chain(&events, chain.as_ref());
}
