//! No Vault operation reaches another tenant.

use secrets_core::rbac::Role;
use secrets_core::store::AuditQuery;
use secrets_core::vault::Vault;
use secrets_core::{Error, SecretString, TenantId};

use crate::fixture::{PASSWORD, vault_test};

vault_test!(
    async fn an_admin_of_one_tenant_cannot_touch_another(fx) {
        let vault: &Vault = &fx.vault;
        // A second tenant in the same vault and store.
        let other = TenantId::generate();
        let other_admin_id = vault
            .bootstrap(
                other,
                "globex",
                "admin@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        let s = vault
            .login(
                other,
                "admin@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        let other_admin = vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(other_admin.tenant(), other);
        let theirs = vault
            .mint_api_token(&other_admin, other_admin_id, "ci", &["*"], None)
            .await
            .unwrap();
        let their_agent = vault
            .start_agent_session(&other_admin, "bot", &["*"], None)
            .await
            .unwrap();

        // From tenant A, by id: every operation on B's things fails as unknown.
        let a = &fx.admin;
        assert!(matches!(
            vault.change_role(a, other_admin_id, Role::Viewer).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            vault.disable_user(a, other_admin_id).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            vault.delete_user(a, other_admin_id).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            vault.revoke_api_token(a, &theirs.id).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            vault.revoke_agent_session(a, &their_agent.id).await,
            Err(Error::NotFound { .. })
        ));
        assert!(
            vault
                .mint_api_token(a, other_admin_id, "steal", &["*"], None)
                .await
                .is_err()
        );
        // Listings show only A's own.
        assert!(
            vault
                .list_users(a, None)
                .await
                .unwrap()
                .iter()
                .all(|u| u.id != other_admin_id)
        );
        assert!(vault.list_api_tokens(a, None).await.unwrap().is_empty());
        assert!(vault.list_agent_sessions(a).await.unwrap().is_empty());
        for e in vault.audit_events(a, &AuditQuery::default()).await.unwrap() {
            assert_eq!(e.tenant, fx.tenant);
        }
        // Same login, same password, different tenants: separate accounts.
        let mine = vault
            .login(
                fx.tenant,
                "admin@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        assert_ne!(mine.user, other_admin_id);
        // B's credentials authenticate into B, never A.
        let c = vault
            .authenticate_api_token(theirs.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(c.tenant(), other);
        let c = vault
            .authenticate_agent(their_agent.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(c.tenant(), other);
        // And B is untouched.
        vault.verify_audit_log(&other_admin).await.unwrap();
        assert_eq!(
            vault
                .list_api_tokens(&other_admin, None)
                .await
                .unwrap()
                .len(),
            1
        );
    }
);
