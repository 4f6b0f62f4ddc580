//! key rotate, rewrap and rekey.

use std::sync::Arc;

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::SqliteStore;
use secrets_core::vault::{Caller, Vault, VaultConfig};
use secrets_core::{SystemClock, TenantId};

use crate::fixture::{Fixture, tenant_bytes};

/// Every `web` secret of `tenant`, opened under `master` (panics if one
/// does not open).
fn open_all(f: &Fixture, master: MasterKey, tenants: &[TenantId]) -> usize {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut config = VaultConfig::default();
        config.password_cost = 10;
        let store = Arc::new(SqliteStore::open(&f.db).await.unwrap());
        let vault = Vault::new(
            store,
            Arc::new(KeyRing::new(master)),
            Arc::new(SystemClock),
            config,
        )
        .await
        .unwrap();
        let mut n = 0;
        for t in tenants {
            n += vault
                .inject(&Caller::system(*t), "web")
                .await
                .unwrap()
                .len();
        }
        n
    })
}

fn three_tenants(f: &Fixture) -> [TenantId; 3] {
    let ts = [
        TenantId::generate(),
        TenantId::generate(),
        TenantId::generate(),
    ];
    f.seed(ts[0], 167);
    f.seed(ts[1], 167);
    f.seed(ts[2], 166);
    ts
}

#[test]
fn rotate_and_rewrap_500_values_in_3_tenants() {
    let f = Fixture::new();
    let ts = three_tenants(&f);
    let v = f.run(&["--json", "key", "rotate"], "").expect(0).json();
    assert!(v["active_key"].as_u64().unwrap() >= 2, "{v}");
    // stderr is a pipe here: no progress bar, no escape code.
    let run = f.run(&["rewrap"], "").expect(0);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(!run.stdout.contains('\u{1b}'));
    let v = f.run(&["--json", "rewrap"], "").expect(0).json();
    assert_eq!(v["rewrapped"], 0, "{v}");
    assert_eq!(open_all(&f, f.master(), &ts), 500);
    f.run(&["audit", "verify"], "").expect(0);
}

#[test]
fn an_interrupted_rewrap_completes_when_run_again() {
    let f = Fixture::new();
    // One tenant of three batches: a pass goes through a tenant's batches
    // one after the other (tenants run side by side, and their batches may
    // share a commit, so a kill after the first would not be part-way).
    let t = TenantId::generate();
    f.seed(t, 1_500);
    let v = f.run(&["--json", "key", "rotate"], "").expect(0).json();
    let active = v["active_key"].as_i64().unwrap();
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url())
        .env("SECRETS_CORE_KEY_FILE", &f.key_file)
        .arg("rewrap")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // Killed (SIGKILL) as soon as its first batch is committed. On a
    // machine so fast that it finished first, the assertions below still
    // hold.
    let rewrapped_batches = || -> i64 {
        f.sqlite()
            .query_row(
                "SELECT count(*) FROM audit_events WHERE action = 'key.rewrapped'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0)
    };
    for _ in 0..10_000 {
        if rewrapped_batches() > 0 || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    // The values still sealed under another key than the active one.
    let left: i64 = f
        .sqlite()
        .query_row(
            "SELECT count(*) FROM records WHERE kind <> 'tenant_key' \
             AND key_id IS NOT NULL AND key_id <> ?1",
            [active],
            |r| r.get(0),
        )
        .unwrap();
    println!(
        "rewrap {} after {} of 3 batches, {left} values left",
        if status.success() {
            "finished"
        } else {
            "killed"
        },
        rewrapped_batches()
    );
    if status.success() {
        assert_eq!(left, 0);
    }
    let v = f.run(&["--json", "rewrap"], "").expect(0).json();
    assert_eq!(v["rewrapped"].as_i64(), Some(left), "{v}");
    let v = f.run(&["--json", "rewrap"], "").expect(0).json();
    assert_eq!(v["rewrapped"], 0, "{v}");
    assert_eq!(open_all(&f, f.master(), &[t]), 1_500);
    f.run(&["audit", "verify"], "").expect(0);
}

#[test]
fn rekey_replaces_the_master_key() {
    let f = Fixture::new();
    let ts = three_tenants(&f);
    let new_key = f.path("new.key");
    f.bare(&["keygen", "--out", new_key.to_str().unwrap()], "")
        .expect(0);
    let run = f
        .run(
            &[
                "--json",
                "rekey",
                "--new-key-file",
                new_key.to_str().unwrap(),
            ],
            "",
        )
        .expect(0);
    run.json();
    // The old key is refused; the new one opens everything.
    f.run(&["--json", "audit", "verify"], "")
        .expect_error(5, "wrong_master_key");
    let with_new = |args: &[&str]| {
        let mut cmd = f.command();
        cmd.env("SECRETS_CORE_STORE", f.store_url())
            .env("SECRETS_CORE_KEY_FILE", &new_key)
            .args(args);
        Fixture::run_command(cmd, "")
    };
    let v = with_new(&["--json", "audit", "verify"]).expect(0).json();
    assert_eq!(v["findings"], 0, "{v}");
    let master = MasterKey::from_base64(&std::fs::read_to_string(&new_key).unwrap()).unwrap();
    assert_eq!(open_all(&f, master, &ts), 500);
    // A byte of an event from before the rekey is still caught.
    f.sqlite()
        .execute(
            "UPDATE audit_events SET action = 'X' || substr(action, 2) \
             WHERE tenant_id = ?1 AND seq = 2",
            [tenant_bytes(ts[1])],
        )
        .unwrap();
    let run = with_new(&["audit", "verify"]).expect(3);
    assert!(
        run.stdout.contains(&ts[1].to_string()) && run.stdout.contains("seq 2"),
        "{}",
        run.stdout
    );
    // Run again with the same two keys: nothing left to do.
    let v = f
        .run(
            &[
                "--json",
                "rekey",
                "--new-key-file",
                new_key.to_str().unwrap(),
            ],
            "",
        )
        .expect(0)
        .json();
    assert_eq!(v["already_complete"], true, "{v}");
    assert_eq!(v["epoch"], 2, "{v}");
    // No new key given: a usage error.
    with_new(&["--json", "rekey"]).expect_error(2, "usage");
}

/// A leaked passphrase replaced by another, both from the environment.
#[test]
fn rekey_from_one_passphrase_to_another() {
    let f = Fixture::new();
    let with = |pass: &str, new: Option<&str>, args: &[&str], stdin: &str| {
        let mut cmd = f.command();
        cmd.env("SECRETS_CORE_STORE", f.store_url())
            .env("SECRETS_CORE_PASSPHRASE", pass)
            .args(args);
        if let Some(n) = new {
            cmd.env("SECRETS_CORE_NEW_PASSPHRASE", n);
        }
        Fixture::run_command(cmd, stdin)
    };
    let (old, new) = ("the old leaked passphrase", "a brand new passphrase");
    with(
        old,
        None,
        &["bootstrap", "--login", "ada@example.com"],
        "correct horse battery staple\n",
    )
    .expect(0);
    with(old, Some(new), &["--json", "rekey"], "")
        .expect(0)
        .json();
    with(old, None, &["--json", "audit", "verify"], "").expect_error(5, "wrong_master_key");
    let v = with(new, None, &["--json", "audit", "verify"], "")
        .expect(0)
        .json();
    assert_eq!(v["findings"], 0, "{v}");
}
