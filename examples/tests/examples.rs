//! Runs every example binary and checks what it prints, so examples never rot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(bin: &str, envs: &[(&str, &str)]) -> String {
    let out = Command::new(bin)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success(),
        "{bin} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[test]
fn encrypt_at_rest_runs_every_step() {
    let out = run(env!("CARGO_BIN_EXE_encrypt_at_rest"), &[]);
    for line in [
        "using a fresh random master key",
        "sealed 25 bytes under key 1 (58 bytes stored)",
        "opened: 25 bytes, shown as SecretBytes([REDACTED])",
        "wrong context refused",
        "rotated: key 2 is now active; keys held: [KeyId(1), KeyId(2)]",
        "rewrapped onto key 2; still opens: true",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(
        !out.contains("sk-example"),
        "the secret leaked into output:\n{out}"
    );
}

#[test]
fn encrypt_at_rest_uses_the_configured_master_key() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let out = run(
        env!("CARGO_BIN_EXE_encrypt_at_rest"),
        &[("SECRETS_CORE_MASTER_KEY", key)],
    );
    assert!(!out.contains("fresh random master key"));
    assert!(out.contains("still opens: true"));
}

#[test]
fn encrypt_at_rest_rejects_a_bad_master_key_without_echoing_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_encrypt_at_rest"))
        .env("SECRETS_CORE_MASTER_KEY", "not-base64-secret!")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("not valid base64"), "{stderr}");
    assert!(!stderr.contains("not-base64-secret"), "{stderr}");
}

#[test]
fn quickstart_runs_on_sqlite_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
            .current_dir(dir.path())
            .env_remove("SECRETS_CORE_MASTER_KEY")
            .env_remove("SECRETS_CORE_POSTGRES_URL")
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            out.status.success(),
            "run {run}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for line in [
            "opened data/quickstart.db (SQLite, embedded)",
            "layout: the database in data/, the master key in keys/",
            "bootstrapped admin ada@example.com and logged in",
            "created dev@example.com (developer) and viv@example.com (viewer)",
            "minted API token scp_",
            "authenticated with it as token:",
            "viewer denied: forbidden: the caller may not `users:manage`",
            "viv is a viewer and may: apps:read, secrets:list",
            "ada may promote app/web",
            "ci token denied: forbidden: the caller may not `deploy:promote`",
            "dev minted personal token scp_",
            "and holds 2 of their own (with the CI token)",
            "deploy.promote",
            "refreshed: new access token until",
            "tenant.bootstrap",
            "api_token.mint",
            "denied",
            "audit chain verified:",
        ] {
            assert!(
                stdout.contains(line),
                "run {run}: missing {line:?} in:\n{stdout}"
            );
        }
        // The key file is created once, private, apart from the data, and
        // reused.
        assert_eq!(
            stdout.contains("generated a master key in keys/master.key"),
            run == 0,
            "{stdout}"
        );
        assert_eq!(
            stdout.contains("master key from keys/master.key"),
            run == 1,
            "{stdout}"
        );
        assert!(
            !stdout.contains("$2b$"),
            "a password hash leaked:\n{stdout}"
        );
    }
    // Nothing key-like in the data directory: a backup of it holds no key.
    for entry in std::fs::read_dir(dir.path().join("data")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.starts_with("quickstart.db"), "{name} in data/");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for (f, want) in [
            ("keys/master.key", 0o600),
            ("keys", 0o700),
            ("data/quickstart.db", 0o600),
        ] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, want, "{f}");
        }
    }
}

/// The quickstart on PostgreSQL (`--features postgres`, the server from
/// `scripts/postgres-setup.sh`), twice: skipped, saying so, when no server
/// is configured, failed when `SECRETS_CORE_INTEROP=required` and none is.
/// Its own schema, bound to this test's master key; a new tenant each run.
#[test]
fn quickstart_runs_on_postgres_and_can_run_again() {
    let required = std::env::var("SECRETS_CORE_INTEROP").as_deref() == Ok("required");
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(app), Some(owner)) = (
        var("SECRETS_CORE_POSTGRES_URL"),
        var("SECRETS_CORE_POSTGRES_OWNER_URL"),
    ) else {
        assert!(
            !required,
            "SECRETS_CORE_INTEROP=required but SECRETS_CORE_POSTGRES_URL and \
             SECRETS_CORE_POSTGRES_OWNER_URL are not both set: run scripts/test.sh"
        );
        eprintln!("skipped: no PostgreSQL configured (SECRETS_CORE_POSTGRES_URL)");
        return;
    };
    if !cfg!(feature = "postgres") {
        assert!(
            !required,
            "SECRETS_CORE_INTEROP=required and PostgreSQL is configured, but the examples \
             were built without `--features secrets-core-examples/postgres`"
        );
        eprintln!("skipped: built without the `postgres` feature");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
            .current_dir(dir.path())
            .env("SECRETS_CORE_POSTGRES_URL", &app)
            .env("SECRETS_CORE_POSTGRES_OWNER_URL", &owner)
            .env("SECRETS_CORE_POSTGRES_SCHEMA", "sc_examples_quickstart")
            .env(
                "SECRETS_CORE_MASTER_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            out.status.success(),
            "run {run}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        for line in [
            "migrated the schema as the owner",
            "opened PostgreSQL as the app role",
            "layout: the database on the server",
            "bootstrapped admin ada@example.com and logged in",
            "created dev@example.com (developer) and viv@example.com (viewer)",
            "authenticated with it as token:",
            "viewer denied: forbidden: the caller may not `users:manage`",
            "ci token denied: forbidden: the caller may not `deploy:promote`",
            "and holds 2 of their own (with the CI token)",
            "refreshed: new access token until",
            "tenant.bootstrap",
            "audit chain verified:",
        ] {
            assert!(
                stdout.contains(line),
                "run {run}: missing {line:?} in:\n{stdout}"
            );
        }
        assert!(!stdout.contains("SQLite"), "{stdout}");
        for url in [&app, &owner] {
            assert!(
                !stdout.contains(url.as_str()),
                "the URL was printed:\n{stdout}"
            );
        }
    }
    // Nothing written beside it: no SQLite file, no key file.
    assert!(!dir.path().join("data").exists());
    assert!(!dir.path().join("keys").exists());
}

#[test]
fn quickstart_takes_the_key_from_the_environment_and_writes_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .current_dir(dir.path())
        .env_remove("SECRETS_CORE_POSTGRES_URL")
        .env(
            "SECRETS_CORE_MASTER_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("master key from SECRETS_CORE_MASTER_KEY"),
        "{stdout}"
    );
    assert!(!dir.path().join("keys").exists());
    assert!(!dir.path().join("data/master.key").exists());
}

#[test]
fn app_secrets_lists_names_and_injects_values() {
    let out = run(env!("CARGO_BIN_EXE_app_secrets"), &[]);
    for line in [
        "set 2 secrets at once for app web",
        "a batch with a bad name is refused whole: true, REDIS_URL written: false",
        "set DATABASE_URL and STRIPE_KEY (now version 2) for app web",
        "  listed: DATABASE_URL (version 1, set by user:",
        "  listed: STRIPE_KEY (version 2, set by user:",
        "injected 2 variables: [\"DATABASE_URL\", \"STRIPE_KEY\"]",
        "values print as Some(SecretBytes([REDACTED]))",
        "the deployer token cannot even list: forbidden",
        "a viewer cannot inject: forbidden",
        "rolled STRIPE_KEY back to its previous value: true",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    for secret in ["postgres://", "sk_test_"] {
        assert!(!out.contains(secret), "a value leaked:\n{out}");
    }
}

#[test]
fn webhooks_round_trip_and_refusals() {
    let out = run(env!("CARGO_BIN_EXE_webhooks"), &[]);
    for line in [
        "registered endpoint ",
        "  webhook-id: msg_2a8f1c",
        "  webhook-timestamp: 1767225600",
        "  webhook-signature: v1,",
        "verified message msg_2a8f1c sent at 1767225600",
        "replay refused: webhook rejected: replayed message id",
        "stale delivery refused: webhook rejected: timestamp too old",
        "tampered payload refused: webhook rejected: no matching signature",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert!(!out.contains("whsec_") || out.contains("with a whsec_ secret (shown once)"));
    assert_eq!(
        out.matches("whsec_").count(),
        1,
        "the secret itself was printed:\n{out}"
    );
}

#[test]
fn oauth_flow_connects_and_refreshes_once() {
    let out = run(env!("CARGO_BIN_EXE_oauth_flow"), &[]);
    for line in [
        "send the user to https://provider.example/authorize?response_type=code&client_id=client-123",
        "code_challenge_method=S256",
        "state checked and consumed; provider github",
        "the same state again is refused: oauth: unknown or already used state",
        "connected: scopes [\"repo\", \"read:user\"], tokens print as SecretString([REDACTED])",
        "fresh token: at-1 (no refresh needed)",
        "after 56 minutes: at-2 and at-2 (one refresh for both callers)",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}
