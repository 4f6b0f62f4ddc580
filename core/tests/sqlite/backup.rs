//! Online backup while a writer runs, and restore.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use secrets_core::store::{Batch, Change, Kind, ListQuery, Row, SqliteStore, Store};
use secrets_core::{Error, TenantId};

use crate::{all_events, assert_chain, chain, create_tenant, draft, integrity, raw};

const TENANT: TenantId = TenantId::DEFAULT;

fn row_id(n: u64) -> String {
    format!("w-{n:05}")
}

/// Every `w-` row id in the store.
async fn written(store: &SqliteStore) -> Vec<String> {
    let mut ids = Vec::new();
    let mut query = ListQuery::new(Kind::AppSecret);
    loop {
        let page = store.list(TENANT, &query).await.unwrap();
        let Some(last) = page.last() else { return ids };
        query = query.after(last.id.clone());
        ids.extend(page.into_iter().map(|r| r.id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_while_writing_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("live.db")).await.unwrap());
    let chain = chain();
    create_tenant(&store, TENANT, &chain).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (progress, mut committed) = tokio::sync::watch::channel(0_u64);
    let writer = {
        let (store, chain, stop) = (Arc::clone(&store), Arc::clone(&chain), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let row = Row::new(Kind::AppSecret, row_id(n), vec![b'x'; 2_000]);
                let batch = Batch::new(draft("w", row_id(n))).with(Change::Insert(row));
                store.apply(TENANT, batch, &chain).await.unwrap();
                n += 1;
                progress.send_replace(n);
            }
            n
        })
    };

    committed.wait_for(|n| *n >= 40).await.unwrap();
    let before = *committed.borrow();
    let backup = dir.path().join("live.backup");
    store.backup_to(&backup).await.unwrap();
    let after = *committed.borrow();
    // Let the writer carry on past the backup before stopping it.
    committed.wait_for(|n| *n >= after + 5).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let total = writer.await.unwrap();

    // The backup is one file, private, consistent.
    assert!(!dir.path().join("live.backup-wal").exists());
    assert!(!dir.path().join("live.backup-journal").exists());
    let header = std::fs::read(&backup).unwrap();
    assert_eq!(&header[..16], b"SQLite format 3\0");
    assert_eq!(
        (header[18], header[19]),
        (1, 1),
        "the backup should not need a WAL"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(integrity(&backup), ["ok"]);

    // Restore, open, and find a snapshot taken during the backup.
    let restored_path = dir.path().join("restored.db");
    SqliteStore::restore(&backup, &restored_path).await.unwrap();
    assert_eq!(integrity(&restored_path), ["ok"]);
    let restored = SqliteStore::open(&restored_path).await.unwrap();
    let ids = written(&restored).await;
    let n = ids.len() as u64;
    assert!(
        (before..=after).contains(&n),
        "the backup holds {n} rows; {before} were committed before it began, {after} when it ended"
    );
    assert!(n < total, "the writer went on after the backup");
    assert_eq!(
        ids,
        (0..n).map(row_id).collect::<Vec<_>>(),
        "a prefix of the writes"
    );
    let events = all_events(&restored, TENANT).await;
    assert_eq!(
        events.len() as u64,
        n + 1,
        "rows and audit events are one snapshot"
    );
    assert_chain(&events, chain.as_ref());
    // The restored store takes writes.
    let row = Row::new(Kind::AppSecret, "after-restore", b"{}".to_vec());
    restored
        .apply(
            TENANT,
            Batch::new(draft("w", "r")).with(Change::Insert(row)),
            &chain,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn existing_files_are_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("live.db")).await.unwrap();
    create_tenant(&store, TENANT, &chain()).await;

    let taken = dir.path().join("taken");
    std::fs::write(&taken, b"precious").unwrap();
    let err = store.backup_to(&taken).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&taken).unwrap(), b"precious");

    // A stale log beside the destination would be replayed into the copy.
    std::fs::write(dir.path().join("fresh-wal"), b"stale").unwrap();
    let err = store.backup_to(dir.path().join("fresh")).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert!(!dir.path().join("fresh").exists());

    let backup = dir.path().join("ok.backup");
    store.backup_to(&backup).await.unwrap();
    let err = SqliteStore::restore(&backup, &taken).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(std::fs::read(&taken).unwrap(), b"precious");
}

#[tokio::test]
async fn unsound_backups_are_not_restored() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("dest.db");
    let refused = |what: &str, err: Error, dest: &Path| {
        assert!(
            !dest.exists(),
            "{what}: something was left at the destination"
        );
        err
    };

    let err = SqliteStore::restore(dir.path().join("missing"), &dest)
        .await
        .unwrap_err();
    let err = refused("missing", err, &dest);
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = SqliteStore::restore(&garbage, &dest).await.unwrap_err();
    let err = refused("garbage", err, &dest);
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");

    // A SQLite database, but not ours.
    let foreign = dir.path().join("foreign.db");
    raw(&foreign)
        .execute_batch("CREATE TABLE t (x INTEGER)")
        .unwrap();
    let err = SqliteStore::restore(&foreign, &dest).await.unwrap_err();
    let err = refused("foreign", err, &dest);
    assert!(
        matches!(err, Error::Storage { message: ref m, .. } if m.contains("not a secrets-core database")),
        "{err:?}"
    );

    // Ours, from the future.
    let store = SqliteStore::open(dir.path().join("live.db")).await.unwrap();
    let newer = dir.path().join("newer.backup");
    store.backup_to(&newer).await.unwrap();
    raw(&newer)
        .execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, 0)",
            [secrets_core::store::SCHEMA_VERSION + 1],
        )
        .unwrap();
    let err = SqliteStore::restore(&newer, &dest).await.unwrap_err();
    let err = refused("newer", err, &dest);
    assert!(matches!(err, Error::SchemaTooNew { .. }), "{err:?}");

    // Ours, damaged: a page of the file overwritten.
    let damaged = dir.path().join("damaged.backup");
    store.backup_to(&damaged).await.unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    let page = 4096;
    assert!(bytes.len() >= 3 * page);
    for b in &mut bytes[page + 100..2 * page] {
        *b = 0xa5;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let err = SqliteStore::restore(&damaged, &dest).await.unwrap_err();
    let err = refused("damaged", err, &dest);
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
}
