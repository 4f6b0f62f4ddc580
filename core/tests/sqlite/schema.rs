//! The schema: migrations are idempotent, a newer schema is refused, tables
//! are STRICT, and the files are private to their owner.

use secrets_core::Error;
use secrets_core::store::{Batch, Change, Kind, Row, SCHEMA_VERSION, SqliteStore, Store};

use secrets_core::TenantId;
use secrets_core::crypto::{KeyId, KeyRing, MasterKey};

use crate::{chain, create_tenant, draft, raw};

#[tokio::test]
async fn reopening_is_idempotent_and_tables_are_strict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.db");
    let chain = chain();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        create_tenant(&store, TenantId::DEFAULT, &chain).await;
        // A second store on the same file at the same time.
        let second = SqliteStore::open(&path).await.unwrap();
        let row = Row::new(Kind::AppSecret, "kept", b"{}".to_vec());
        second
            .apply(
                TenantId::DEFAULT,
                Batch::new(draft("w", "t")).with(Change::Insert(row)),
                &chain,
            )
            .await
            .unwrap();
        // Touch every reader connection of both stores.
        for s in [&store, &second] {
            for _ in 0..8 {
                assert!(s.tenant(TenantId::DEFAULT).await.unwrap().is_some());
            }
        }
    }
    // Closing the last connection checkpoints the log and removes it (the
    // last to close must be a writer: a read-only connection leaves it).
    assert!(!dir.path().join("schema.db-wal").exists());
    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        let kept = store
            .get(TenantId::DEFAULT, Kind::AppSecret, "kept")
            .await
            .unwrap();
        assert_eq!(kept.map(|r| r.version), Some(1));
    }

    let conn = raw(&path);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        versions,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "each migration once"
    );
    let loose: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND strict = 0 AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(loose.is_empty(), "tables that are not STRICT: {loose:?}");
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    drop(SqliteStore::open(&path).await.unwrap());
    raw(&path)
        .execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found, supported }
            if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade"));
    // Refused again, not half-migrated by the first attempt.
    assert!(matches!(
        SqliteStore::open(&path).await,
        Err(Error::SchemaTooNew { .. })
    ));
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, vec![b'#'; 4096]).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        vec![b'#'; 4096],
        "the file was changed"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = SqliteStore::open(&path).await.unwrap();
    create_tenant(&store, TenantId::DEFAULT, &chain()).await;
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("private.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    }
}

/// An erased tenant's values are gone from the bytes on disk: overwritten
/// in the database file and not left in the write-ahead log.
#[tokio::test]
async fn erased_values_do_not_linger_on_disk() {
    const MARKER: &[u8] = b"MARKER-OF-AN-ERASED-VALUE";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("erase.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let chain = chain();
    let (kept, erased) = (TenantId::generate(), TenantId::generate());
    for t in [kept, erased] {
        create_tenant(&store, t, &chain).await;
    }
    let mut body = MARKER.to_vec();
    body.extend_from_slice(&[b'.'; 3000]);
    let batch =
        Batch::new(draft("w", "t")).with(Change::Insert(Row::new(Kind::AppSecret, "doomed", body)));
    store.apply(erased, batch, &chain).await.unwrap();
    let contains = |bytes: &[u8]| bytes.windows(MARKER.len()).any(|w| w == MARKER);
    let on_disk = || {
        let mut all = std::fs::read(&path).unwrap();
        all.extend(std::fs::read(dir.path().join("erase.db-wal")).unwrap_or_default());
        all
    };
    assert!(
        contains(&on_disk()),
        "the marker should be on disk before the erase"
    );

    store.erase_tenant(erased).await.unwrap();
    assert!(store.tenant(erased).await.unwrap().is_none());
    assert!(store.tenant(kept).await.unwrap().is_some());
    assert!(
        !contains(&on_disk()),
        "the erased value is still in the files"
    );
}

/// A file written by version 1 of the schema (before row tags and store
/// settings) migrates to version 2 in place: its rows are kept, untagged
/// (the Vault's tagging pass tags them), and store settings work.
#[tokio::test]
async fn a_version_1_file_migrates_to_row_tags_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let chain = chain();
    {
        let store = SqliteStore::open(&path).await.unwrap();
        create_tenant(&store, TenantId::DEFAULT, &chain).await;
        let row = Row::new(Kind::AppSecret, "old", b"{}".to_vec());
        store
            .apply(
                TenantId::DEFAULT,
                Batch::new(draft("w", "t")).with(Change::Insert(row)),
                &chain,
            )
            .await
            .unwrap();
    }
    // Undo migrations 4 to 2 by hand: what version 1 left on disk.
    raw(&path)
        .execute_batch(
            "CREATE INDEX users_key ON users (tenant_id, key_id) WHERE key_id IS NOT NULL;
             CREATE INDEX records_key ON records (tenant_id, kind, key_id) WHERE key_id IS NOT NULL;
             DROP TABLE lookup_directory;
             ALTER TABLE users DROP COLUMN tag;
             ALTER TABLE records DROP COLUMN tag;
             DROP TABLE meta;
             DELETE FROM schema_version WHERE version >= 2;",
        )
        .unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    let old = store
        .get(TenantId::DEFAULT, Kind::AppSecret, "old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((old.version, old.tag), (1, None));
    assert_eq!(store.meta("key_check").await.unwrap(), None);
    assert!(store.set_meta("key_check", &[1; 32], None).await.unwrap());
    assert_eq!(store.meta("key_check").await.unwrap(), Some(vec![1; 32]));
    let versions: i64 = raw(&path)
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(versions, SCHEMA_VERSION);
    // A tag of the wrong length cannot be stored.
    assert!(
        raw(&path)
            .execute("UPDATE records SET tag = X'00' WHERE id = 'old'", [])
            .is_err()
    );
}

/// A file written by version 2 of the schema (before the lookup directory)
/// migrates to version 3 in place: the directory is filled from the rows
/// already stored, so every token finds its tenant again, across tenants,
/// and a token hash stays unique across tenants.
#[tokio::test]
async fn a_version_2_file_migrates_to_the_lookup_directory() {
    use secrets_core::Error;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let chain = chain();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let token = |id: &str, hash: u8| {
        let mut row = Row::new(Kind::ApiToken, id, b"{}".to_vec());
        row.lookup = Some(vec![hash; 32]);
        row
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        for (t, hash) in [(a, 0xa0), (b, 0xb0)] {
            create_tenant(&store, t, &chain).await;
            let mut user = Row::new(Kind::User, "u1", b"{}".to_vec());
            user.lookup = Some(b"same-login".to_vec());
            let batch = Batch::new(draft("w", "t"))
                .with(Change::Insert(user))
                .with(Change::Insert(token("tok", hash)))
                .with(Change::Insert(token("tok2", hash + 1)));
            store.apply(t, batch, &chain).await.unwrap();
        }
    }
    // Undo migrations 4 and 3 by hand: what version 2 left on disk.
    raw(&path)
        .execute_batch(
            "CREATE INDEX users_key ON users (tenant_id, key_id) WHERE key_id IS NOT NULL;
             CREATE INDEX records_key ON records (tenant_id, kind, key_id) WHERE key_id IS NOT NULL;
             DROP TABLE lookup_directory;
             DELETE FROM schema_version WHERE version >= 3;",
        )
        .unwrap();
    let version: i64 = raw(&path)
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);

    let store = SqliteStore::open(&path).await.unwrap();
    for (t, hash) in [(a, 0xa0), (a, 0xa1), (b, 0xb0), (b, 0xb1)] {
        assert_eq!(
            store
                .directory_lookup(Kind::ApiToken, &[hash; 32])
                .await
                .unwrap(),
            Some(t)
        );
        let (found, row) = store
            .find_by_lookup(Kind::ApiToken, &[hash; 32])
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found, row.lookup), (t, Some(vec![hash; 32])));
    }
    // Per-tenant lookups (user logins) are not in the directory.
    let entries: i64 = raw(&path)
        .query_row("SELECT count(*) FROM lookup_directory", [], |r| r.get(0))
        .unwrap();
    assert_eq!(entries, 4);
    // Still unique across tenants, and kept up to date from now on.
    let err = store
        .apply(
            b,
            Batch::new(draft("w", "t")).with(Change::Insert(token("dup", 0xa0))),
            &chain,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    store
        .apply(
            a,
            Batch::new(draft("w", "t")).with(Change::Delete {
                kind: Kind::ApiToken,
                id: "tok".into(),
                expected_version: Some(1),
            }),
            &chain,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .directory_lookup(Kind::ApiToken, &[0xa0; 32])
            .await
            .unwrap(),
        None
    );
    let version: i64 = raw(&path)
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

/// A file written by version 3 of the schema migrates to version 4 in
/// place: the unused `key_id` indexes are dropped, the rows kept, and the
/// rewrap filter still finds exactly the rows sealed under another key.
#[tokio::test]
async fn a_version_3_file_migrates_without_the_key_id_indexes() {
    use secrets_core::store::ListQuery;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let chain = chain();
    let sealed = |id: &str, key: u32| {
        let ring = KeyRing::with_active(
            MasterKey::from_bytes(&[7; 32]).unwrap(),
            KeyId::new(key).unwrap(),
        );
        let mut row = Row::new(Kind::AppSecret, id, b"{}".to_vec());
        row.sealed = Some(
            ring.seal(b"v", &Row::context(TenantId::DEFAULT, Kind::AppSecret, id))
                .unwrap(),
        );
        row
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        create_tenant(&store, TenantId::DEFAULT, &chain).await;
        let batch = Batch::new(draft("w", "t"))
            .with(Change::Insert(sealed("a", 1)))
            .with(Change::Insert(sealed("b", 2)))
            .with(Change::Insert(sealed("c", 1)));
        store.apply(TenantId::DEFAULT, batch, &chain).await.unwrap();
    }
    // Undo migration 4 by hand: what version 3 left on disk.
    raw(&path)
        .execute_batch(&format!(
            "{}DELETE FROM schema_version WHERE version >= 4;",
            "CREATE INDEX users_key ON users (tenant_id, key_id) WHERE key_id IS NOT NULL;
CREATE INDEX records_key ON records (tenant_id, kind, key_id) WHERE key_id IS NOT NULL;"
        ))
        .unwrap();
    let indexes = || -> Vec<String> {
        let conn = raw(&path);
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE '%_key' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(indexes(), ["records_key", "users_key"]);

    let store = SqliteStore::open(&path).await.unwrap();
    assert!(indexes().is_empty());
    let version: i64 = raw(&path)
        .query_row("SELECT max(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 4);
    let q = ListQuery::new(Kind::AppSecret).sealed_not_under(KeyId::new(2).unwrap());
    let ids: Vec<String> = store
        .list(TenantId::DEFAULT, &q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(store.count(TenantId::DEFAULT, &q).await.unwrap(), 2);
}
