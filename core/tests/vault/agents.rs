use secrets_core::error::TokenRejection;
use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::{Actor, Outcome};
use secrets_core::rbac::Role;

use crate::fixture::vault_test;

vault_test!(
    async fn developers_start_sessions_viewers_cannot(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        assert!(matches!(
            fx.vault
                .start_agent_session(&viewer, "claude", &["*"], None)
                .await,
            Err(Error::Forbidden { .. })
        ));
        let started = fx
            .vault
            .start_agent_session(
                &dev,
                "claude",
                &["apps:read", "secrets:list"],
                Some(Duration::from_secs(600)),
            )
            .await
            .unwrap();
        assert!(started.token.expose_secret().starts_with("sca_"));
        assert!(!format!("{started:?}").contains(started.token.expose_secret()));
        let agent = fx
            .vault
            .authenticate_agent(started.token.expose_secret(), Some("10.1.1.1"))
            .await
            .unwrap();
        assert_eq!(
            agent.actor(),
            &Actor::Agent {
                session: started.id.clone(),
                on_behalf_of: dev_id
            }
        );
        assert_eq!(agent.user(), Some(dev_id));

        // The agent's own attempts are attributed to it and its human.
        assert!(matches!(
            fx.vault
                .create_user(&agent, "x@example.com", Role::Admin, None)
                .await,
            Err(Error::Forbidden { .. })
        ));
        let last = fx.audit().await.pop().unwrap();
        assert_eq!(
            last.event.actor.to_string(),
            format!("agent:{}@{dev_id}", started.id)
        );
        assert_eq!(last.event.outcome, Outcome::Denied);
        assert_eq!(last.event.source.as_deref(), Some("10.1.1.1"));

        // An agent cannot start another session, nor can an API token.
        assert!(
            fx.vault
                .start_agent_session(&agent, "nested", &["*"], None)
                .await
                .is_err()
        );
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["*"], None)
            .await
            .unwrap();
        let ci = fx
            .vault
            .authenticate_api_token(minted.token.expose_secret(), None)
            .await
            .unwrap();
        assert!(
            fx.vault
                .start_agent_session(&ci, "bot", &["*"], None)
                .await
                .is_err()
        );

        // Sessions expire.
        fx.advance(Duration::from_secs(601));
        assert!(matches!(
            fx.vault
                .authenticate_agent(started.token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Expired })
        ));
        // Lifetimes are bounded.
        assert!(
            fx.vault
                .start_agent_session(&dev, "claude", &["*"], Some(Duration::from_secs(13 * 3600)))
                .await
                .is_err()
        );
    }
);

vault_test!(
    async fn agent_scopes_narrow_the_human(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let started = fx
            .vault
            .start_agent_session(&dev, "claude", &["secrets:list"], None)
            .await
            .unwrap();
        let agent = fx
            .vault
            .authenticate_agent(started.token.expose_secret(), None)
            .await
            .unwrap();
        let p = fx.vault.policy();
        use secrets_core::rbac::Permission::*;
        assert!(
            p.decide(agent.role(), &agent.scopes(), ListSecretNames)
                .is_allowed()
        );
        assert!(
            !p.decide(agent.role(), &agent.scopes(), WriteSecrets)
                .is_allowed()
        );
        assert!(
            !p.decide(agent.role(), &agent.scopes(), InjectSecrets)
                .is_allowed()
        );
    }
);

vault_test!(
    async fn disabling_agents_for_the_tenant_revokes_every_session(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let a = fx
            .vault
            .start_agent_session(&dev, "one", &["*"], None)
            .await
            .unwrap();
        let b = fx
            .vault
            .start_agent_session(&fx.admin, "two", &["*"], None)
            .await
            .unwrap();
        assert_eq!(
            fx.vault.list_agent_sessions(&fx.admin).await.unwrap().len(),
            2
        );
        assert_eq!(fx.vault.list_agent_sessions(&dev).await.unwrap().len(), 1);
        assert!(matches!(
            fx.vault.set_agent_sessions_enabled(&dev, false).await,
            Err(Error::Forbidden { .. })
        ));
        fx.vault
            .set_agent_sessions_enabled(&fx.admin, false)
            .await
            .unwrap();
        for s in [&a, &b] {
            assert!(matches!(
                fx.vault
                    .authenticate_agent(s.token.expose_secret(), None)
                    .await,
                Err(Error::InvalidToken { reason: TokenRejection::Revoked })
            ));
        }
        assert!(
            fx.vault
                .list_agent_sessions(&fx.admin)
                .await
                .unwrap()
                .iter()
                .all(|s| s.revoked_at.is_some())
        );
        assert!(matches!(
            fx.vault
                .start_agent_session(&dev, "three", &["*"], None)
                .await,
            Err(Error::Forbidden { .. })
        ));
        fx.vault
            .set_agent_sessions_enabled(&fx.admin, true)
            .await
            .unwrap();
        let c = fx
            .vault
            .start_agent_session(&dev, "four", &["*"], None)
            .await
            .unwrap();
        fx.vault
            .authenticate_agent(c.token.expose_secret(), None)
            .await
            .unwrap();
        // Its human can revoke it; another developer cannot.
        let (_, other) = fx.user("other@example.com", Role::Developer).await;
        assert!(matches!(
            fx.vault.revoke_agent_session(&other, &c.id).await,
            Err(Error::Forbidden { .. })
        ));
        fx.vault.revoke_agent_session(&dev, &c.id).await.unwrap();
        assert!(
            fx.vault
                .authenticate_agent(c.token.expose_secret(), None)
                .await
                .is_err()
        );
    }
);
