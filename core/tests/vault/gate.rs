use secrets_core::Error;
use secrets_core::gate::{Finding, LintResult, Profile, Severity, Verdict};
use secrets_core::rbac::Role;

use crate::fixture::vault_test;

vault_test!(
    async fn hardened_holds_and_only_admins_override(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let findings = [Finding::new(
            "CVE-2026-0001",
            "libfoo",
            Severity::Critical,
            "remote code execution",
        )];
        let lints = [LintResult::new("clippy", true, "")];
        let v = fx
            .vault
            .evaluate_deploy(&dev, "web-42", Profile::Standard, &findings, &lints)
            .await
            .unwrap();
        assert!(matches!(v, Verdict::Proceed { .. }));
        // The latest evaluation is the one an override lifts.
        let v = fx
            .vault
            .evaluate_deploy(&dev, "web-42", Profile::Hardened, &findings, &lints)
            .await
            .unwrap();
        assert!(v.is_hold());
        assert!(matches!(
            fx.vault.override_gate(&dev, "web-42", "looked at it").await,
            Err(Error::Forbidden { .. })
        ));
        assert!(
            fx.vault
                .override_gate(&fx.admin, "web-42", "  ")
                .await
                .is_err()
        );
        fx.vault
            .override_gate(&fx.admin, "web-42", "not reachable in our build")
            .await
            .unwrap();
        let events = fx.audit().await;
        let overrides: Vec<_> = events
            .iter()
            .filter(|e| e.event.action == "gate.override")
            .collect();
        assert_eq!(overrides.len(), 2);
        assert_eq!(
            overrides[1].event.details["justification"],
            "not reachable in our build"
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| e.event.action == "gate.evaluate")
                .count(),
            2
        );
    }
);
