use secrets_core::audit::{Actor, Outcome};
use secrets_core::error::TokenRejection;
use secrets_core::rbac::Role;
use secrets_core::vault::Vault;
use secrets_core::{Error, SecretString, TenantId};

use crate::fixture::{Fx, PASSWORD, vault_test};

vault_test!(
    async fn bootstrap_happens_once(fx) {
        let err = fx
            .vault
            .bootstrap(
                fx.tenant,
                "acme",
                "second@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        // Racing bootstraps of a fresh tenant: exactly one wins.
        let t = TenantId::generate();
        let pw = SecretString::from(PASSWORD);
        let (a, b) = tokio::join!(
            fx.vault.bootstrap(t, "x", "a@example.com", &pw, None),
            fx.vault.bootstrap(t, "x", "b@example.com", &pw, None),
        );
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");
    }
);

vault_test!(
    async fn login_failures_look_the_same_and_are_audited(fx) {
        let (dev, _) = fx.user("dev@example.com", Role::Developer).await;
        fx.vault.disable_user(&fx.admin, dev).await.unwrap();
        let wrong = SecretString::from("not the password");
        let cases = [
            ("admin@example.com", &wrong),
            ("nobody@example.com", &wrong),
            ("dev@example.com", &SecretString::from(PASSWORD)), // disabled
            ("admin@example.com", &SecretString::from("x".repeat(73))), // over bcrypt's limit
        ];
        for (login, pw) in cases {
            let err = fx
                .vault
                .login(fx.tenant, login, pw, Some("203.0.113.5"))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidCredentials), "{login}: {err}");
            assert_eq!(err.to_string(), "invalid credentials");
        }
        let failed: Vec<_> = fx
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "auth.login" && e.event.outcome == Outcome::Failed)
            .collect();
        assert_eq!(failed.len(), 4);
        assert_eq!(failed[1].event.actor, Actor::Anonymous);
        assert_eq!(failed[0].event.source.as_deref(), Some("203.0.113.5"));
        // Login names are case-insensitive.
        fx.vault
            .login(
                fx.tenant,
                "ADMIN@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
    }
);

vault_test!(
    async fn a_weaker_stored_hash_is_upgraded_on_login(fx) {
        // Users created under cost 10, then the policy is raised to 11.
        let stronger = {
let mut c = crate::fixture::config();
c.password_cost = 11;
c
};
        let vault = Vault::new(
            fx.store.clone(),
            fx.ring.clone(),
            std::sync::Arc::new(fx.clock.clone()),
            stronger,
        )
        .await
        .unwrap();
        let cost_of = |fx: &Fx| {
            let store = fx.store.clone();
            let tenant = fx.tenant;
            let id = fx.admin_id;
            async move {
                use secrets_core::store::StoreExt;
                let u = store
                    .get_record::<secrets_core::store::records::User>(tenant, &id.to_string())
                    .await
                    .unwrap()
                    .unwrap();
                u.record.password_hash.unwrap()[4..6].to_string()
            }
        };
        assert_eq!(cost_of(&fx).await, "10");
        vault
            .login(
                fx.tenant,
                "admin@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        assert_eq!(cost_of(&fx).await, "11");
        // And the upgraded hash still logs in.
        vault
            .login(
                fx.tenant,
                "admin@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
    }
);

vault_test!(
    async fn viewers_and_developers_cannot_manage_users_and_each_refusal_is_audited(fx) {
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        for caller in [&viewer, &dev] {
            let err = fx
                .vault
                .create_user(caller, "x@example.com", Role::Admin, None)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Forbidden { .. }), "{err}");
            assert!(
                fx.vault
                    .change_role(caller, fx.admin_id, Role::Viewer)
                    .await
                    .is_err()
            );
            assert!(fx.vault.list_users(caller, None).await.is_err());
        }
        let denied = fx
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.outcome == Outcome::Denied)
            .count();
        assert_eq!(denied, 6);
        assert_eq!(fx.vault.list_users(&fx.admin, None).await.unwrap().len(), 3);
    }
);

vault_test!(
    async fn the_last_admin_stays(fx) {
        for r in [
            fx.vault
                .change_role(&fx.admin, fx.admin_id, Role::Developer)
                .await,
            fx.vault.disable_user(&fx.admin, fx.admin_id).await,
            fx.vault.delete_user(&fx.admin, fx.admin_id).await,
        ] {
            assert!(
                matches!(r, Err(Error::InvalidInput { field: "user", .. })),
                "{r:?}"
            );
        }
        let (second, _) = fx.user("second@example.com", Role::Admin).await;
        fx.vault
            .change_role(&fx.admin, fx.admin_id, Role::Developer)
            .await
            .unwrap();
        let _ = second;
    }
);

vault_test!(
    async fn disabling_a_user_revokes_every_credential_at_once(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["*"], None)
            .await
            .unwrap();
        let agent = fx
            .vault
            .start_agent_session(&dev, "claude", &["*"], None)
            .await
            .unwrap();
        let session = fx
            .vault
            .login(
                fx.tenant,
                "dev@example.com",
                &SecretString::from(PASSWORD),
                None,
            )
            .await
            .unwrap();
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        assert!(matches!(
            fx.vault
                .authenticate_api_token(minted.token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        assert!(matches!(
            fx.vault
                .authenticate_agent(agent.token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        assert!(matches!(
            fx.vault
                .refresh(session.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        // Re-enabling lets them log in, but what was revoked stays revoked.
        fx.vault.enable_user(&fx.admin, dev_id).await.unwrap();
        fx.login("dev@example.com").await;
        assert!(
            fx.vault
                .authenticate_api_token(minted.token.expose_secret(), None)
                .await
                .is_err()
        );
    }
);

vault_test!(
    async fn changing_a_role_changes_what_tokens_may_do(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["*"], None)
            .await
            .unwrap();
        let before = fx
            .vault
            .authenticate_api_token(minted.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(before.role(), Role::Developer);
        fx.vault
            .change_role(&fx.admin, dev_id, Role::Viewer)
            .await
            .unwrap();
        let after = fx
            .vault
            .authenticate_api_token(minted.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(after.role(), Role::Viewer);
    }
);

vault_test!(
    async fn deleting_a_user_removes_their_tokens(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["*"], None)
            .await
            .unwrap();
        fx.vault.delete_user(&fx.admin, dev_id).await.unwrap();
        assert!(matches!(
            fx.vault
                .authenticate_api_token(minted.token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Unknown })
        ));
        assert!(
            fx.vault
                .list_api_tokens(&fx.admin, None)
                .await
                .unwrap()
                .is_empty()
        );
    }
);
