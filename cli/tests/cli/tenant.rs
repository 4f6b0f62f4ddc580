//! tenant export and tenant erase.

use secrets_core::TenantId;

use crate::fixture::{Fixture, tenant_bytes};

#[test]
fn export_holds_exactly_one_tenants_records() {
    let f = Fixture::new();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    f.seed(a, 30);
    f.seed(b, 7);
    let out = f.path("a.jsonl");
    let v = f
        .run(
            &[
                "--json",
                "tenant",
                "export",
                "--tenant",
                &a.to_string(),
                "--out",
                out.to_str().unwrap(),
            ],
            "",
        )
        .expect(0)
        .json();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v["lines"], lines.len());
    assert_eq!(lines[0]["type"], "tenant");
    assert_eq!(lines[0]["tenant"]["id"], a.to_string());
    let rows: Vec<_> = lines.iter().filter(|l| l["type"] == "row").collect();
    assert!(rows.iter().all(|r| r["tenant"] == a.to_string()));
    let secrets = rows.iter().filter(|r| r["kind"] == "app_secret").count();
    assert_eq!(secrets, 30, "{rows:?}");
    let events = lines.iter().filter(|l| l["type"] == "audit").count();
    assert!(events > 0);
    assert!(
        !text.contains(&b.to_string()),
        "tenant b leaked into a's export"
    );
    // The file exists now: refused without --force.
    f.run(
        &[
            "--json",
            "tenant",
            "export",
            "--tenant",
            &a.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
        "",
    )
    .expect_error(4, "already_exists");
    // An unknown tenant.
    let other = f.path("none.jsonl");
    f.run(
        &[
            "--json",
            "tenant",
            "export",
            "--tenant",
            &TenantId::generate().to_string(),
            "--out",
            other.to_str().unwrap(),
        ],
        "",
    )
    .expect_error(1, "not_found");
}

fn tenant_exists(f: &Fixture, t: TenantId) -> bool {
    f.sqlite()
        .query_row(
            "SELECT count(*) FROM tenants WHERE id = ?1",
            [tenant_bytes(t)],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        == 1
}

#[test]
fn erase_needs_confirmation_and_honours_deletion_protection() {
    let f = Fixture::new();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    f.seed(a, 5);
    f.seed(b, 5);
    let id = a.to_string();
    // No confirmation (stdin ends), a wrong one: refused, nothing erased.
    f.run(&["--json", "tenant", "erase", "--tenant", &id], "")
        .expect_error(4, "not_confirmed");
    f.run(&["tenant", "erase", "--tenant", &id], "yes\n")
        .expect(4);
    assert!(tenant_exists(&f, a));

    // Deletion protection on: refused even with --yes.
    let set = |on: bool| {
        let mut args = vec!["--json", "tenant", "protect", "--tenant", &id];
        if !on {
            args.push("--off");
        }
        let v = f.run(&args, "").expect(0).json();
        assert_eq!(v["deletion_protection"], on);
    };
    set(true);
    f.run(&["--json", "--yes", "tenant", "erase", "--tenant", &id], "")
        .expect_error(4, "deletion_protected");
    assert!(tenant_exists(&f, a));

    // Off, and the id typed: erased; the other tenant untouched.
    set(false);
    let v = f
        .run(
            &["--json", "tenant", "erase", "--tenant", &id],
            &format!("{id}\n"),
        )
        .expect(0)
        .json();
    assert_eq!(v["erased"], id);
    assert!(!tenant_exists(&f, a));
    assert!(tenant_exists(&f, b));
    f.run(&["audit", "verify"], "").expect(0);
}

#[test]
fn with_a_key_store_an_erase_reaches_backups_taken_before_it() {
    use std::sync::Arc;

    use secrets_core::vault::Caller;
    use secrets_core::{Error, SystemClock};

    let f = Fixture::new();
    let keys = f.path("keys.db");
    let key_store = format!("sqlite:{}", keys.display());
    let (a, b) = (TenantId::generate(), TenantId::generate());
    f.with_vault_on(&f.db, Some(&keys), Arc::new(SystemClock), async |vault| {
        crate::fixture::seed_in(vault, a, 3).await;
        crate::fixture::seed_in(vault, b, 3).await;
    });
    let backup = f.path("before-erase.db");
    let with_keys = |args: &[&str]| {
        let mut all = vec!["--key-store", key_store.as_str()];
        all.extend_from_slice(args);
        f.run(&all, "")
    };
    with_keys(&["backup", "--out", backup.to_str().unwrap()]).expect(0);
    let v = with_keys(&[
        "--json",
        "--yes",
        "tenant",
        "erase",
        "--tenant",
        &a.to_string(),
    ])
    .expect(0)
    .json();
    assert_eq!(v["erased"], a.to_string());

    // The backup, opened with the key store in force: tenant a's values
    // are gone for good, tenant b's are all there.
    f.with_vault_on(&backup, Some(&keys), Arc::new(SystemClock), async |vault| {
        let lost = vault.inject(&Caller::system(a), "web").await;
        assert!(
            matches!(
                lost,
                Err(Error::Corrupt {
                    what: "tenant_key",
                    ..
                })
            ),
            "{lost:?}"
        );
        let kept = vault.inject(&Caller::system(b), "web").await.unwrap();
        assert_eq!(kept["S0002"].expose_secret(), b"value of S0002");
    });
    // The store is bound to its key store: a command without it (or with
    // another one) is refused before anything is written.
    let refused = f
        .run(&["--json", "key", "rotate"], "")
        .expect_error(1, "invalid_input");
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key store")
    );
    let other_path = f.path("other-keys.db");
    let other = format!("sqlite:{}", other_path.display());
    // A key store that does not exist is not created by mistake...
    f.run(&["--json", "--key-store", &other, "key", "rotate"], "")
        .expect_error(1, "not_found");
    // ...and an existing one that is not this store's is refused.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        secrets_core::store::SqliteStore::open(&other_path)
            .await
            .unwrap();
    });
    f.run(&["--json", "--key-store", &other, "key", "rotate"], "")
        .expect_error(1, "invalid_input");
    with_keys(&["key", "rotate"]).expect(0);
    with_keys(&["--json", "rewrap"]).expect(0);
}
