//! The CLI on PostgreSQL: migrate as the owner, bootstrap and verify as the
//! app role, backup refused with the pg_dump explanation, and doctor
//! finding a table without FORCE ROW LEVEL SECURITY. Skipped (with the
//! reason printed) unless SECRETS_CORE_POSTGRES_URL and
//! SECRETS_CORE_POSTGRES_OWNER_URL are set (scripts/postgres-setup.sh
//! prints both) and this build has the `postgres` feature.

use crate::fixture::{Fixture, PASSWORD};

fn urls() -> Option<(String, String)> {
    let app = std::env::var("SECRETS_CORE_POSTGRES_URL").ok();
    let owner = std::env::var("SECRETS_CORE_POSTGRES_OWNER_URL").ok();
    match (app, owner) {
        (Some(a), Some(o)) if cfg!(feature = "postgres") => Some((a, o)),
        (Some(_), Some(_)) => {
            println!("skipped: built without the `postgres` feature");
            None
        }
        _ => {
            println!(
                "skipped: set SECRETS_CORE_POSTGRES_URL and SECRETS_CORE_POSTGRES_OWNER_URL \
                 (scripts/postgres-setup.sh prints them) to run the PostgreSQL CLI tests"
            );
            None
        }
    }
}

fn psql(url: &str, sql: &str) {
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .output()
        .expect("psql (the PostgreSQL client) is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn postgres_lifecycle_and_doctor_finds_unforced_rls() {
    let Some((app, owner)) = urls() else { return };
    let f = Fixture::new();
    let schema = format!("cli_{}", uuid_suffix());
    let run = |url: &str, args: &[&str], stdin: &str| {
        let mut cmd = f.command();
        cmd.env("SECRETS_CORE_STORE", url)
            .env("SECRETS_CORE_KEY_FILE", &f.key_file)
            .env("SECRETS_CORE_POSTGRES_SCHEMA", &schema)
            .args(args);
        Fixture::run_command(cmd, stdin)
    };
    run(&owner, &["--json", "migrate"], "").expect(0).json();
    // The owner is refused as the app's connection.
    run(&owner, &["--json", "audit", "verify"], "").expect_error(1, "invalid_input");
    run(
        &app,
        &["--json", "bootstrap", "--login", "ada@example.com"],
        &format!("{PASSWORD}\n"),
    )
    .expect(0);
    run(
        &app,
        &["--json", "bootstrap", "--login", "ada@example.com"],
        &format!("{PASSWORD}\n"),
    )
    .expect_error(4, "already_exists");
    let v = run(&app, &["--json", "audit", "verify"], "")
        .expect(0)
        .json();
    assert_eq!(v["findings"], 0);
    run(&app, &["--json", "prune"], "").expect(0).json();

    // The key lifecycle: rotate, rewrap (twice: the second rewraps 0),
    // rekey onto a new key file; the old key is refused afterwards.
    run(&app, &["--json", "key", "rotate"], "").expect(0);
    // (A bootstrapped tenant holds no sealed value yet: the SQLite tests
    // rewrap 500.)
    let v = run(&app, &["--json", "rewrap"], "").expect(0).json();
    assert_eq!(
        (v["tenants"].as_u64(), v["active_key"].as_u64()),
        (Some(1), Some(2)),
        "{v}"
    );
    let v = run(&app, &["--json", "rewrap"], "").expect(0).json();
    assert_eq!(v["rewrapped"], 0, "{v}");
    let new_key = f.path("new.key");
    let new_key = new_key.to_str().unwrap();
    f.bare(&["keygen", "--out", new_key], "").expect(0);
    let v = run(&app, &["--json", "rekey", "--new-key-file", new_key], "")
        .expect(0)
        .json();
    assert_eq!(v["epoch"], 2, "{v}");
    run(&app, &["--json", "audit", "verify"], "").expect_error(5, "wrong_master_key");
    let v = run(
        &app,
        &["--json", "--key-file", new_key, "audit", "verify"],
        "",
    )
    .expect(0)
    .json();
    assert_eq!(v["findings"], 0, "{v}");
    // From here on, the new key is the key.
    std::fs::copy(new_key, &f.key_file).unwrap();
    let run_backup = run(&app, &["--json", "backup", "--out", "x"], "").expect_error(2, "usage");
    assert!(run_backup.stdout.contains("pg_dump"));

    let forced = |v: &serde_json::Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"] == "force_rls" && c["ok"] == false)
            .map(|c| c["detail"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = run(&app, &["--json", "doctor"], "").json();
    assert!(forced(&before).is_empty(), "{before}");
    // Plaintext over TCP (the test server) is itself a finding.
    let tls_ok = before["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "tls" && c["ok"] == true);
    assert_eq!(
        before["findings"].as_u64().unwrap() == 0,
        tls_ok,
        "{before}"
    );

    // Over the server's Unix-domain socket (no TLS there, and none needed):
    // a clean bill of health.
    if let Some(socket) = socket_url(&app) {
        let v = run(&socket, &["--json", "doctor"], "").expect(0).json();
        assert_eq!(v["findings"], 0, "{v}");
    } else {
        println!("skipped the Unix-socket doctor run: no socket of the server found");
    }

    psql(
        &owner,
        &format!("ALTER TABLE {schema}.records NO FORCE ROW LEVEL SECURITY"),
    );
    let after = run(&app, &["--json", "doctor"], "").expect(3).json();
    let found = forced(&after);
    assert_eq!(found.len(), 1, "{after}");
    assert!(found[0].contains(&format!("{schema}.records")), "{found:?}");
    // The human form names it too.
    let text = run(&app, &["doctor"], "").expect(3);
    assert!(text.stdout.contains("FINDING") && text.stdout.contains("records"));
    psql(
        &owner,
        &format!("ALTER TABLE {schema}.records FORCE ROW LEVEL SECURITY"),
    );
    let restored = run(&app, &["--json", "doctor"], "").json();
    assert!(forced(&restored).is_empty(), "{restored}");
    psql(&owner, &format!("DROP SCHEMA {schema} CASCADE"));
}

fn uuid_suffix() -> String {
    secrets_core::TenantId::generate()
        .to_string()
        .replace('-', "")
        .chars()
        .take(12)
        .collect()
}

/// `url` (`postgres://user@host:port/db?...`) over the server's socket in
/// the first of the usual directories that holds it.
fn socket_url(url: &str) -> Option<String> {
    let (scheme_user, rest) = url.split_once('@')?;
    let (host_port, path) = rest.split_once('/')?;
    let port = host_port.rsplit_once(':').map_or("5432", |(_, p)| p);
    let db = path.split('?').next()?;
    let dir = std::env::var("SECRETS_CORE_POSTGRES_SOCKET_DIR")
        .map(|d| vec![d])
        .unwrap_or_else(|_| {
            vec![
                "/var/run/postgresql".into(),
                "/run/postgresql".into(),
                "/tmp".into(),
            ]
        })
        .into_iter()
        .find(|d| {
            std::path::Path::new(d)
                .join(format!(".s.PGSQL.{port}"))
                .exists()
        })?;
    Some(format!(
        "{scheme_user}@{}:{port}/{db}",
        dir.replace('/', "%2F")
    ))
}
