//! Group commit under real concurrency: writers that arrive while another
//! commit is in flight are committed together, and a failing batch among
//! them fails alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::store::{Batch, Change, Kind, Row, SqliteOptions, SqliteStore, Store};
use secrets_core::{Error, TenantId};

use crate::{all_events, assert_chain, chain, create_tenant, draft, raw};

const TENANT: TenantId = TenantId::DEFAULT;
const WRITERS: usize = 8;
/// Writers whose batch ends with a change that fails.
const FAILING: [usize; 2] = [2, 5];

/// The audit chain, noting on which thread each event was linked: a batch
/// is linked inside the transaction that commits it, so a batch linked on
/// another thread than its caller's was committed by another caller's group.
#[derive(Debug)]
struct Recording {
    chain: Arc<dyn AuditLinker>,
    linked_on: Mutex<HashMap<String, ThreadId>>,
}

impl AuditLinker for Recording {
    fn link(&self, record: &AuditRecord) -> secrets_core::Result<[u8; 32]> {
        self.linked_on
            .lock()
            .unwrap()
            .insert(record.event.target.clone(), std::thread::current().id());
        self.chain.link(record)
    }
}

struct Outcome {
    caller: ThreadId,
    result: secrets_core::Result<AuditRecord>,
}

/// Holds SQLite's write lock from another connection while the writers
/// start, so that they queue up behind the first, then lets them go.
async fn run_writers(
    options: SqliteOptions,
) -> (
    Vec<Outcome>,
    Arc<Recording>,
    Arc<SqliteStore>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let store = Arc::new(SqliteStore::open_with(&path, options).await.unwrap());
    let recording = Arc::new(Recording {
        chain: chain(),
        linked_on: Mutex::new(HashMap::new()),
    });
    let linker: Arc<dyn AuditLinker> = recording.clone();
    create_tenant(&store, TENANT, &linker).await;
    let taken = Row::new(Kind::AppSecret, "taken", b"{}".to_vec());
    store
        .apply(
            TENANT,
            Batch::new(draft("setup", "taken")).with(Change::Insert(taken.clone())),
            &linker,
        )
        .await
        .unwrap();

    let blocker = raw(&path);
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (store, linker, taken) = (Arc::clone(&store), Arc::clone(&linker), taken.clone());
        handles.push(tokio::spawn(async move {
            let id = format!("w{w}");
            let mut batch = Batch::new(draft("write", id.clone())).with(Change::Insert(Row::new(
                Kind::AppSecret,
                id,
                b"{}".to_vec(),
            )));
            if FAILING.contains(&w) {
                batch.push(Change::Insert(taken));
            }
            // The batch runs on this thread if this caller commits it.
            let caller = std::thread::current().id();
            let result = store.apply(TENANT, batch, &linker).await;
            Outcome { caller, result }
        }));
    }
    // Time for every writer to queue (not a correctness wait: the asserts
    // below hold whatever the grouping; only the grouping check needs it).
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute_batch("COMMIT").unwrap();
    let mut outcomes = Vec::new();
    for h in handles {
        outcomes.push(h.await.unwrap());
    }
    drop(blocker);
    (outcomes, recording, store, dir)
}

/// Every batch succeeds or fails on its own; the log is whole and gapless.
async fn check_outcomes(outcomes: &[Outcome], store: &SqliteStore, linker: &dyn AuditLinker) {
    let mut seqs = Vec::new();
    for (w, o) in outcomes.iter().enumerate() {
        let stored = store
            .get(TENANT, Kind::AppSecret, &format!("w{w}"))
            .await
            .unwrap();
        if FAILING.contains(&w) {
            assert!(
                matches!(o.result, Err(Error::AlreadyExists { .. })),
                "w{w}: {:?}",
                o.result
            );
            assert!(stored.is_none(), "w{w} failed but its row was kept");
        } else {
            seqs.push(o.result.as_ref().unwrap().seq);
            assert!(stored.is_some(), "w{w} succeeded but its row is missing");
        }
    }
    seqs.sort_unstable();
    let ok = (WRITERS - FAILING.len()) as u64;
    assert_eq!(seqs, (3..3 + ok).collect::<Vec<_>>());
    let events = all_events(store, TENANT).await;
    assert_eq!(events.len() as u64, 2 + ok);
    assert_chain(&events, linker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_batch_in_a_group_fails_alone_and_the_others_commit() {
    let (outcomes, recording, store, _dir) = run_writers(SqliteOptions::default()).await;
    check_outcomes(&outcomes, &store, recording.chain.as_ref()).await;
    // Grouped: some succeeding batches were committed by another caller.
    let linked_on = recording.linked_on.lock().unwrap().clone();
    let by_others = outcomes
        .iter()
        .enumerate()
        .filter(|(w, o)| !FAILING.contains(w) && linked_on[&format!("w{w}")] != o.caller)
        .count();
    assert!(
        by_others > 0,
        "no batch was committed in another caller's group"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_group_commit_each_caller_commits_its_own_batch() {
    let (outcomes, recording, store, _dir) =
        run_writers(SqliteOptions::default().group_commit(false)).await;
    check_outcomes(&outcomes, &store, recording.chain.as_ref()).await;
    let linked_on = recording.linked_on.lock().unwrap().clone();
    for (w, o) in outcomes.iter().enumerate() {
        if !FAILING.contains(&w) {
            assert_eq!(linked_on[&format!("w{w}")], o.caller, "w{w}");
        }
    }
}
