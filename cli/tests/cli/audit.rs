//! audit verify and audit checkpoint.

use secrets_core::TenantId;

use crate::fixture::{Fixture, tenant_bytes};

#[test]
fn a_flipped_byte_exits_3_naming_the_tenant_and_seq() {
    let f = Fixture::new();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    f.seed(a, 120);
    f.seed(b, 10);
    f.run(&["audit", "verify"], "").expect(0);
    let cp = f.path("checkpoint.json");
    let cp = cp.to_str().unwrap();
    f.run(&["audit", "checkpoint", "--out", cp], "").expect(0);
    f.run(&["audit", "verify", "--checkpoint", cp], "")
        .expect(0);

    // One byte of tenant b's event 2, changed in the file.
    let changed = f
        .sqlite()
        .execute(
            "UPDATE audit_events SET action = 'X' || substr(action, 2) \
             WHERE tenant_id = ?1 AND seq = 2",
            [tenant_bytes(b)],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let run = f.run(&["audit", "verify"], "").expect(3);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("BROKEN"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.contains(&b.to_string()) && line.contains("seq 2"),
        "{line}"
    );
    assert!(
        run.stdout.contains(&format!("tenant {a}: ok")),
        "{}",
        run.stdout
    );

    let v = f.run(&["--json", "audit", "verify"], "").expect(3).json();
    assert_eq!(v["findings"], 1);
    let broken: Vec<_> = v["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["ok"] == false)
        .collect();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0]["tenant"], b.to_string());
    assert_eq!(broken[0]["seq"], 2);
    assert_eq!(broken[0]["reason"], "altered");

    // Only tenant a: fine.
    f.run(&["audit", "verify", "--tenant", &a.to_string()], "")
        .expect(0);
    // A checkpoint of a broken log is refused, and nothing is written.
    let again = f.path("again.json");
    f.run(
        &[
            "--json",
            "audit",
            "checkpoint",
            "--out",
            again.to_str().unwrap(),
        ],
        "",
    )
    .expect_error(3, "audit_chain_broken");
    assert!(!again.exists());
}

#[test]
fn a_truncated_log_fails_its_checkpoint() {
    let f = Fixture::new();
    let a = TenantId::generate();
    f.seed(a, 20);
    let cp = f.path("checkpoint.json");
    let cp = cp.to_str().unwrap();
    f.run(&["audit", "checkpoint", "--out", cp], "").expect(0);
    // Drop the newest event: the chain itself still verifies...
    f.sqlite()
        .execute(
            "DELETE FROM audit_events WHERE tenant_id = ?1 AND seq = \
             (SELECT max(seq) FROM audit_events WHERE tenant_id = ?1)",
            [tenant_bytes(a)],
        )
        .unwrap();
    f.run(&["audit", "verify"], "").expect(0);
    // ...but not against the checkpoint kept off the host.
    let v = f
        .run(&["--json", "audit", "verify", "--checkpoint", cp], "")
        .expect(3)
        .json();
    assert_eq!(v["tenants"][0]["reason"], "truncated", "{v}");
    // A checkpoint file edited by hand does not pass either.
    let text = std::fs::read_to_string(cp).unwrap();
    let forged = text.replacen("\"count\": ", "\"count\": 1", 1);
    std::fs::write(cp, forged).unwrap();
    f.run(&["audit", "verify", "--checkpoint", cp], "")
        .expect(3);
}
