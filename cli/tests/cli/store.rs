//! prune, backup and restore, doctor and migrate on SQLite.

use std::sync::Arc;
use std::time::Duration;

use secrets_core::vault::Caller;
use secrets_core::{ManualClock, SystemClock, TenantId, Timestamp};

use crate::fixture::{Fixture, PASSWORD};

#[test]
fn prune_counts_what_it_deleted() {
    let f = Fixture::new();
    let t = TenantId::generate();
    // Tokens minted in 2020 with an hour to live: long expired, and past
    // the 30-day retention.
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_seconds(
        1_600_000_000,
    )));
    f.with_vault(clock, async |vault| {
        let pw = secrets_core::SecretString::from(PASSWORD);
        let admin = vault
            .bootstrap(t, "acme", "ada@example.com", &pw, None)
            .await
            .unwrap();
        for i in 0..3 {
            vault
                .mint_api_token(
                    &Caller::system(t),
                    admin,
                    &format!("ci-{i}"),
                    &["*"],
                    Some(Duration::from_secs(3600)),
                )
                .await
                .unwrap();
        }
        // One that is still valid today.
        vault
            .mint_api_token(&Caller::system(t), admin, "live", &["*"], None)
            .await
            .unwrap();
    });
    let v = f.run(&["--json", "prune"], "").expect(0).json();
    assert_eq!(v["deleted"], 3, "{v}");
    assert_eq!(v["failures"], serde_json::json!([]));
    let run = f.run(&["prune"], "").expect(0);
    assert!(run.stdout.contains("pruned 0 rows"), "{}", run.stdout);
}

/// A backup taken while another writer keeps writing restores to a store
/// whose every chain verifies.
#[test]
fn backup_during_writes_restores_and_verifies() {
    let f = Fixture::new();
    let t = TenantId::generate();
    f.seed(t, 50);
    let backup = f.path("backup.db");
    let restored = f.path("restored.db");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let f2 = Fixture {
            dir: tempfile::tempdir().unwrap(),
            key_file: f.key_file.clone(),
            db: f.db.clone(),
        };
        std::thread::spawn(move || {
            f2.with_vault(Arc::new(SystemClock), async |vault| {
                let mut writes = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || writes < 5 {
                    let name = format!("W{writes:04}");
                    vault
                        .set_secret(&Caller::system(t), "web", &name, b"during the backup")
                        .await
                        .unwrap();
                    writes += 1;
                }
                writes
            })
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    f.run(&["--json", "backup", "--out", backup.to_str().unwrap()], "")
        .expect(0);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().unwrap();
    assert!(writes >= 5);

    // Restore to a new path, then verify it with the same key.
    let mut cmd = f.command();
    cmd.env(
        "SECRETS_CORE_STORE",
        format!("sqlite:{}", restored.display()),
    )
    .args(["--json", "restore", "--from", backup.to_str().unwrap()]);
    Fixture::run_command(cmd, "").expect(0);
    let mut cmd = f.command();
    cmd.env(
        "SECRETS_CORE_STORE",
        format!("sqlite:{}", restored.display()),
    )
    .env("SECRETS_CORE_KEY_FILE", &f.key_file)
    .args(["--json", "audit", "verify"]);
    let v = Fixture::run_command(cmd, "").expect(0).json();
    assert_eq!(v["findings"], 0);
    assert!(v["tenants"][0]["events"].as_u64().unwrap() > 1);
    // The live store verifies too, with every write after the backup.
    f.run(&["audit", "verify"], "").expect(0);

    // Restoring over an existing file is refused.
    let mut cmd = f.command();
    cmd.env(
        "SECRETS_CORE_STORE",
        format!("sqlite:{}", restored.display()),
    )
    .args(["--json", "restore", "--from", backup.to_str().unwrap()]);
    Fixture::run_command(cmd, "").expect_error(4, "already_exists");
}

#[test]
fn doctor_and_migrate_on_sqlite() {
    let f = Fixture::new();
    // No file yet: doctor does not create one.
    f.run(&["--json", "doctor"], "")
        .expect_error(1, "not_found");
    assert!(!f.db.exists());
    let v = f.run(&["--json", "migrate"], "").expect(0).json();
    assert_eq!(v["backend"], "sqlite");
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url())
        .args(["--json", "doctor"]);
    let v = Fixture::run_command(cmd, "").expect(0).json();
    assert_eq!(v["findings"], 0);
    let names: Vec<_> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"integrity".to_owned()), "{names:?}");
    // Without a key, the key is not checked; with it, it is.
    assert!(!names.contains(&"master_key".to_owned()), "{names:?}");
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url())
        .env("SECRETS_CORE_KEY_FILE", &f.key_file)
        .args(["--json", "doctor"]);
    let v = Fixture::run_command(cmd, "").expect(0).json();
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "master_key" && c["ok"] == true),
        "{v}"
    );
    let other = f.path("other.key");
    f.bare(&["keygen", "--out", other.to_str().unwrap()], "")
        .expect(0);
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url())
        .env("SECRETS_CORE_KEY_FILE", &other)
        .args(["--json", "doctor"]);
    Fixture::run_command(cmd, "").expect_error(5, "wrong_master_key");
}
