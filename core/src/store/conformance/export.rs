//! Exporting a tenant: its rows and audit log, no other tenant, no value in the
//! clear.

use super::*;

pub async fn export_holds_the_tenant_and_nothing_else(fx: Fx) {
    let t = fx.tenant("t").await;
    let other = fx.tenant("other").await;
    let u = fx.user(t, "u@example.com").await;
    let uo = fx.user(other, "o@example.com").await;
    let rows = fx.sample_rows(t, u, "x");
    fx.apply(t, rows.iter().cloned().map(Change::Insert).collect())
        .await
        .unwrap();
    fx.apply(
        other,
        fx.sample_rows(other, uo, "y")
            .into_iter()
            .map(Change::Insert)
            .collect(),
    )
    .await
    .unwrap();

    let mut out = Vec::new();
    let lines = fx.store.export_jsonl(t, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let parsed: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len() as u64, lines);
    let rows_out: Vec<&serde_json::Value> = parsed.iter().filter(|v| v["type"] == "row").collect();
    let audits: Vec<&serde_json::Value> = parsed.iter().filter(|v| v["type"] == "audit").collect();
    assert_eq!(parsed[0]["type"], "tenant");
    assert_eq!(rows_out.len(), rows.len() + 1);
    assert_eq!(audits.len(), fx.count_audit(t).await);
    for r in &rows {
        assert!(
            rows_out
                .iter()
                .any(|v| v["id"] == r.id.as_str() && v["kind"] == r.kind.as_str()),
            "{}",
            r.id
        );
    }
    assert!(
        !text.contains(&other.to_string()),
        "another tenant leaked into the export"
    );
    assert!(!text.contains(&uo.to_string()));
    assert!(
        !text.contains("secret of "),
        "a sealed value was exported in the clear"
    );
    assert!(matches!(
        fx.store
            .export_jsonl(TenantId::generate(), &mut Vec::new())
            .await,
        Err(Error::NotFound { .. })
    ));
}
