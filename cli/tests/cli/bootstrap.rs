//! bootstrap, and where the master key comes from.

use secrets_core::TenantId;
use secrets_core::store::KDF_PARAMS_META;

use crate::fixture::{Fixture, PASSWORD};

#[test]
fn bootstrap_from_stdin_then_refused_with_4() {
    let f = Fixture::new();
    let run = f
        .run(
            &["--json", "bootstrap", "--login", "ada@example.com"],
            &format!("{PASSWORD}\n"),
        )
        .expect(0);
    let v = run.json();
    assert_eq!(v["tenant"], TenantId::DEFAULT.to_string());
    assert!(v["user"].is_string());
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    // A second run is refused, and says so in JSON.
    f.run(
        &["--json", "bootstrap", "--login", "bob@example.com"],
        &format!("{PASSWORD}\n"),
    )
    .expect_error(4, "already_exists");
    // No password on stdin: a plain failure, nothing created.
    let other = TenantId::generate().to_string();
    f.run(
        &[
            "--json",
            "bootstrap",
            "--login",
            "x@example.com",
            "--tenant",
            &other,
        ],
        "",
    )
    .expect_error(1, "invalid_input");
}

#[test]
fn a_wrong_master_key_exits_5() {
    let f = Fixture::new();
    f.bootstrap(TenantId::DEFAULT);
    let other = f.path("other.key");
    f.bare(&["keygen", "--out", other.to_str().unwrap()], "")
        .expect(0);
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url()).args([
        "--json",
        "--key-file",
        other.to_str().unwrap(),
        "audit",
        "verify",
    ]);
    Fixture::run_command(cmd, "").expect_error(5, "wrong_master_key");
    // No key at all: a usage error.
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url())
        .args(["--json", "audit", "verify"]);
    Fixture::run_command(cmd, "").expect_error(2, "usage");
}

/// A passphrase from stdin (first line; the password is the second) or
/// from the environment; its KDF parameters are stored in the store.
#[test]
fn passphrase_from_stdin_or_env_with_parameters_in_the_store() {
    let f = Fixture::new();
    let passphrase = "a long operator passphrase";
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", f.store_url()).args([
        "--passphrase-stdin",
        "bootstrap",
        "--login",
        "ada@example.com",
    ]);
    Fixture::run_command(cmd, &format!("{passphrase}\n{PASSWORD}\n")).expect(0);
    let stored: Vec<u8> = f
        .sqlite()
        .query_row(
            "SELECT value FROM meta WHERE name = ?1",
            [KDF_PARAMS_META],
            |r| r.get(0),
        )
        .unwrap();
    let params = secrets_core::crypto::KdfParams::from_bytes(&stored).unwrap();
    assert_eq!(params.iterations(), 65_536);

    let verify = |env: &str| {
        let mut cmd = f.command();
        cmd.env("SECRETS_CORE_STORE", f.store_url())
            .env("SECRETS_CORE_PASSPHRASE", env)
            .args(["--json", "audit", "verify"]);
        Fixture::run_command(cmd, "")
    };
    verify(passphrase).expect(0);
    verify("not the passphrase").expect_error(5, "wrong_master_key");
}
