//! Crash safety: a child process applies batches in a loop and is killed
//! with SIGKILL; every batch it reported committed must be there, whole,
//! and the file must pass `PRAGMA integrity_check`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use secrets_core::TenantId;
use secrets_core::store::{Batch, Change, Kind, ListQuery, Row, SqliteStore, Store};

use crate::{all_events, assert_chain, chain, create_tenant, draft, integrity};

/// Set in the child: the database path.
const CHILD_DB: &str = "SECRETS_CORE_CRASH_CHILD";
/// Set in the child: the round, which prefixes its row ids.
const CHILD_ROUND: &str = "SECRETS_CORE_CRASH_ROUND";
/// The child stops on its own after this many batches (if nobody kills it).
const CHILD_MAX_BATCHES: u32 = 5_000;
const ROUNDS: u32 = 3;
const TENANT: TenantId = TenantId::DEFAULT;

/// Big enough that the log grows past SQLite's auto-checkpoint threshold
/// across the rounds, so kills also land around checkpoints.
fn body(n: u32) -> Vec<u8> {
    let mut b = format!(r#"{{"n":{n},"pad":""#).into_bytes();
    b.resize(6_000, b'x');
    b.extend_from_slice(br#""}"#);
    b
}

/// The child process: not a test on its own, it does nothing unless
/// [`committed_batches_survive_sigkill`] runs it with `CHILD_DB` set.
#[test]
#[ignore = "the child process of crash::committed_batches_survive_sigkill"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let round: u32 = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = SqliteStore::open(&path).await.unwrap();
        let chain = chain();
        if store.tenant(TENANT).await.unwrap().is_none() {
            create_tenant(&store, TENANT, &chain).await;
        }
        let mut stdout = std::io::stdout();
        for n in 1..=CHILD_MAX_BATCHES {
            let id = format!("r{round}-{n:05}");
            let mut row = Row::new(Kind::AppSecret, id.clone(), body(n));
            row.parent = Some("crash".into());
            // Each batch also bumps one shared counter row: after the crash
            // its version must equal the number of batches present.
            let counter = store.get(TENANT, Kind::AppSecret, "counter").await.unwrap();
            let bump = match counter {
                None => Change::Insert(Row::new(Kind::AppSecret, "counter", b"{}".to_vec())),
                Some(c) => Change::Update {
                    expected_version: c.version,
                    row: c,
                },
            };
            let batch = Batch::new(draft("crash.write", format!("crash/{id}")))
                .with(Change::Insert(row))
                .with(bump);
            store.apply(TENANT, batch, &chain).await.unwrap();
            writeln!(stdout, "committed {id}").unwrap();
            stdout.flush().unwrap();
        }
    });
}

#[cfg(unix)]
#[test]
fn committed_batches_survive_sigkill() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let mut reported: Vec<BTreeSet<String>> = Vec::new();
    for round in 0..ROUNDS {
        // Kill after 50 to 199 reported commits, varying between runs.
        let kill_after = 50 + (seed / 7 + round * 61) % 150;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, &path)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut ids = BTreeSet::new();
        let committed = |line: &str| {
            // libtest may print "test crash::crash_child ... " before the
            // first line of the test's own output.
            line.split_once("committed ")
                .map(|(_, id)| id.trim().to_owned())
        };
        for line in lines.by_ref() {
            if let Some(id) = committed(&line.unwrap()) {
                ids.insert(id);
                if ids.len() as u32 == kill_after {
                    child.kill().unwrap();
                    break;
                }
            }
        }
        // Lines written before the child died were committed too.
        for line in lines {
            if let Some(id) = committed(&line.unwrap()) {
                ids.insert(id);
            }
        }
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child must die of SIGKILL, not end on its own ({status}); \
             it reported {} commits",
            ids.len()
        );
        assert!(ids.len() as u32 >= kill_after);
        reported.push(ids);

        assert_eq!(integrity(&path), ["ok"], "round {round}");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(check(&path, &reported));
    }
}

/// Every reported batch is present, whole; at most one more per round (the
/// one in flight when the kill landed) is present unreported.
async fn check(path: &Path, reported: &[BTreeSet<String>]) {
    let store = SqliteStore::open(path).await.unwrap();
    let mut present = BTreeSet::new();
    let mut query = ListQuery::new(Kind::AppSecret).parent("crash");
    loop {
        let page = store.list(TENANT, &query).await.unwrap();
        let Some(last) = page.last() else { break };
        query = query.after(last.id.clone());
        for row in &page {
            assert_eq!(row.version, 1);
            let n: u32 = row.id.split_once('-').unwrap().1.parse().unwrap();
            assert_eq!(row.body, body(n), "row {} is torn", row.id);
            present.insert(row.id.clone());
        }
    }
    for (round, ids) in reported.iter().enumerate() {
        let missing: Vec<_> = ids.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "reported committed but lost: {missing:?}"
        );
        let in_round = present
            .iter()
            .filter(|id| id.starts_with(&format!("r{round}-")))
            .count();
        assert!(
            in_round <= ids.len() + 1,
            "round {round}: {in_round} rows present, {} reported",
            ids.len()
        );
    }

    // All or nothing: one counter bump and one audit event per row.
    let counter = store
        .get(TENANT, Kind::AppSecret, "counter")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter.version, present.len() as u64);
    let chain = chain();
    let events = all_events(&store, TENANT).await;
    assert_chain(&events, chain.as_ref());
    let targets: BTreeSet<String> = events
        .iter()
        .filter(|e| e.event.action == "crash.write")
        .map(|e| e.event.target.trim_start_matches("crash/").to_owned())
        .collect();
    assert_eq!(targets, present, "rows and audit events disagree");
    let writes = events
        .iter()
        .filter(|e| e.event.action == "crash.write")
        .count();
    assert_eq!(writes, present.len(), "one audit event per batch");
    // The file is still writable after recovery.
    let probe = Batch::new(draft("crash.probe", "crash/probe"));
    store.apply(TENANT, probe, &chain).await.unwrap();
}
