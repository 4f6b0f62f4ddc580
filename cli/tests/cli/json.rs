//! Every command with --json, on success and on an induced failure:
//! stdout is exactly one JSON value and the exit code matches the table.

use secrets_core::TenantId;

use crate::fixture::{Fixture, PASSWORD};

#[test]
fn every_command_answers_one_json_document() {
    let f = Fixture::new();
    let t = TenantId::generate();
    let ts = t.to_string();
    let missing_tenant = TenantId::generate().to_string();
    let p = |n: &str| f.path(n).to_str().unwrap().to_owned();
    let (k2, cp, bk, ex, missing) = (
        p("k2"),
        p("cp.json"),
        p("bk.db"),
        p("ex.jsonl"),
        p("missing"),
    );
    let restored = format!("sqlite:{}", p("restored.db"));
    let pw = format!("{PASSWORD}\n");

    // (arguments, stdin, expected exit, error code when failing)
    let cases: Vec<(Vec<&str>, &str, i32, Option<&str>)> = vec![
        (vec!["keygen", "--out", &k2], "", 0, None),
        (vec!["keygen", "--out", &k2], "", 4, Some("already_exists")),
        (vec!["migrate"], "", 0, None),
        (
            vec!["bootstrap", "--login", "ada@example.com", "--tenant", &ts],
            &pw,
            0,
            None,
        ),
        (
            vec!["bootstrap", "--login", "ada@example.com", "--tenant", &ts],
            &pw,
            4,
            Some("already_exists"),
        ),
        (vec!["audit", "verify"], "", 0, None),
        (
            vec!["audit", "verify", "--checkpoint", &missing],
            "",
            1,
            Some("io"),
        ),
        (vec!["audit", "checkpoint", "--out", &cp], "", 0, None),
        (
            vec!["audit", "checkpoint", "--out", &cp],
            "",
            4,
            Some("already_exists"),
        ),
        (vec!["prune"], "", 0, None),
        (vec!["doctor"], "", 0, None),
        (vec!["backup", "--out", &bk], "", 0, None),
        (vec!["backup", "--out", &bk], "", 4, Some("already_exists")),
        (
            vec!["tenant", "export", "--tenant", &ts, "--out", &ex],
            "",
            0,
            None,
        ),
        (
            vec!["tenant", "export", "--tenant", &ts, "--out", &ex],
            "",
            4,
            Some("already_exists"),
        ),
        (
            vec!["tenant", "erase", "--tenant", &ts],
            "",
            4,
            Some("not_confirmed"),
        ),
        (
            vec!["tenant", "erase", "--tenant", &ts],
            "",
            4,
            Some("not_confirmed"),
        ),
        (
            vec!["restore", "--from", &missing],
            "",
            1,
            Some("not_found"),
        ),
        (vec!["key", "rotate"], "", 0, None),
        (vec!["rewrap"], "", 0, None),
        (vec!["rekey"], "", 2, Some("usage")),
        (vec!["rekey", "--new-key-file", &missing], "", 1, Some("io")),
        (vec!["tenant", "protect", "--tenant", &ts], "", 0, None),
        (
            vec!["--yes", "tenant", "erase", "--tenant", &ts],
            "",
            4,
            Some("deletion_protected"),
        ),
        (
            vec!["tenant", "protect", "--tenant", &ts, "--off"],
            "",
            0,
            None,
        ),
        (
            vec!["tenant", "protect", "--tenant", &missing_tenant],
            "",
            1,
            Some("not_found"),
        ),
    ];
    for (args, stdin, exit, code) in cases {
        let mut all = vec!["--json"];
        all.extend(args.iter().copied());
        let run = f.run(&all, stdin);
        let run = match code {
            Some(code) => run.expect_error(exit, code),
            None => run.expect(exit),
        };
        let v = run.json();
        if code.is_none() {
            assert!(v.get("error").is_none(), "{args:?}: {v}");
        }
    }
    // restore onto a new path, and erase with --yes: success.
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", &restored)
        .args(["--json", "restore", "--from", &bk]);
    Fixture::run_command(cmd, "").expect(0).json();
    let run = f.run(&["--json", "--yes", "tenant", "erase", "--tenant", &ts], "");
    run.expect(0).json();
    // prune and doctor failing: a store that is not there.
    for args in [
        &["--json", "prune"][..],
        &["--json", "doctor"],
        &["--json", "key", "rotate"],
        &["--json", "rewrap"],
    ] {
        let mut cmd = f.command();
        cmd.env("SECRETS_CORE_STORE", format!("sqlite:{missing}"))
            .env("SECRETS_CORE_KEY_FILE", &f.key_file)
            .args(args);
        Fixture::run_command(cmd, "").expect_error(1, "not_found");
    }
    // migrate failing: not a store URL at all.
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", "mysql://nope")
        .args(["--json", "migrate"]);
    Fixture::run_command(cmd, "").expect_error(2, "usage");
    // backup on PostgreSQL: explained, exit 2.
    let mut cmd = f.command();
    cmd.env("SECRETS_CORE_STORE", "postgres://app@127.0.0.1/db")
        .args(["--json", "backup", "--out", &p("pg.dump")]);
    let run = Fixture::run_command(cmd, "").expect_error(2, "usage");
    assert!(
        run.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pg_dump")
    );
    // keygen failing on an unwritable path.
    f.bare(
        &["--json", "keygen", "--out", &format!("{missing}/dir/key")],
        "",
    )
    .expect_error(1, "io");
    // Last (it retires the fixture's key): rekey onto k2.
    let v = f
        .run(&["--json", "rekey", "--new-key-file", &k2], "")
        .expect(0)
        .json();
    assert_eq!(v["epoch"], 2, "{v}");
}
