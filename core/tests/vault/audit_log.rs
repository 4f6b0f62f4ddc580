use secrets_core::Error;
use secrets_core::audit::Outcome;
use secrets_core::rbac::Role;
use secrets_core::store::AuditQuery;

use crate::fixture::vault_test;

vault_test!(
    async fn only_admins_read_the_log_and_a_refusal_is_audited(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        for c in [&dev, &viewer] {
            assert!(matches!(
                fx.vault.audit_events(c, &AuditQuery::default()).await,
                Err(Error::Forbidden { .. })
            ));
            assert!(fx.vault.verify_audit_log(c).await.is_err());
            assert!(fx.vault.audit_checkpoint(c).await.is_err());
        }
        let events = fx
            .vault
            .audit_events(&fx.admin, &AuditQuery::default())
            .await
            .unwrap();
        let denied: Vec<_> = events
            .iter()
            .filter(|e| e.event.action == "audit.query")
            .collect();
        assert_eq!(denied.len(), 2);
        assert!(denied.iter().all(|e| e.event.outcome == Outcome::Denied));
        // Filters work through the vault too.
        let logins = fx
            .vault
            .audit_events(
                &fx.admin,
                &{
let mut c = AuditQuery::default();
c.action = Some("auth.login".into());
c
},
            )
            .await
            .unwrap();
        assert_eq!(logins.len(), 3);
    }
);

vault_test!(
    async fn verify_and_checkpoint(fx) {
        fx.user("dev@example.com", Role::Developer).await;
        let summary = fx.vault.verify_audit_log(&fx.admin).await.unwrap();
        let count = fx.audit().await.len() as u64;
        assert_eq!(summary.count, count);
        let cp = fx.vault.audit_checkpoint(&fx.admin).await.unwrap();
        assert_eq!(cp.count, count);
        // More events later: the checkpoint still holds.
        fx.user("more@example.com", Role::Viewer).await;
        fx.vault.verify_checkpoint(&fx.admin, &cp).await.unwrap();
        // A forged checkpoint is refused.
        let mut forged = cp.clone();
        forged.count += 1;
        assert!(matches!(
            fx.vault.verify_checkpoint(&fx.admin, &forged).await,
            Err(Error::Unauthenticated)
        ));
    }
);
