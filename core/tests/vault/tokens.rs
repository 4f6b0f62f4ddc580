use secrets_core::error::TokenRejection;
use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::Actor;
use secrets_core::rbac::{Permission, Role};

use crate::fixture::vault_test;

vault_test!(
    async fn mint_list_authenticate_revoke(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let minted = fx
            .vault
            .mint_api_token(
                &fx.admin,
                dev_id,
                "ci",
                &["apps:read", "secrets:write"],
                Some(Duration::from_secs(3600)),
            )
            .await
            .unwrap();
        let token = minted.token.expose_secret().to_owned();
        assert!(token.starts_with("scp_") && minted.display_prefix.starts_with("scp_"));
        assert!(token.starts_with(&minted.display_prefix));
        assert!(
            !format!("{minted:?}").contains(&token),
            "Debug shows the token"
        );

        let listed = fx.vault.list_api_tokens(&fx.admin, None).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].display_prefix, minted.display_prefix);
        assert!(!format!("{listed:?}").contains(&token[4..]));

        let caller = fx
            .vault
            .authenticate_api_token(&token, Some("10.0.0.1"))
            .await
            .unwrap();
        assert_eq!(
            caller.actor(),
            &Actor::ApiToken {
                token: minted.id.clone(),
                owner: dev_id
            }
        );
        assert_eq!(caller.role(), Role::Developer);
        assert_eq!(caller.tenant(), fx.tenant);
        // Scopes narrow: the token may write secrets but not inject them.
        let policy = fx.vault.policy();
        assert!(
            policy
                .decide(caller.role(), &caller.scopes(), Permission::WriteSecrets)
                .is_allowed()
        );
        assert!(
            !policy
                .decide(caller.role(), &caller.scopes(), Permission::InjectSecrets)
                .is_allowed()
        );

        fx.vault
            .revoke_api_token(&fx.admin, &minted.id)
            .await
            .unwrap();
        assert!(matches!(
            fx.vault.authenticate_api_token(&token, None).await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        assert!(
            fx.vault.list_api_tokens(&fx.admin, None).await.unwrap()[0]
                .revoked_at
                .is_some()
        );
    }
);

vault_test!(
    async fn only_admins_manage_tokens(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        assert!(matches!(
            fx.vault
                .mint_api_token(&dev, dev_id, "mine", &["*"], None)
                .await,
            Err(Error::Forbidden { .. })
        ));
        assert!(fx.vault.list_api_tokens(&dev, None).await.is_err());
        // An admin's token scoped to reading cannot mint tokens either.
        let read = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ro", &["apps:read"], None)
            .await
            .unwrap();
        let ro = fx
            .vault
            .authenticate_api_token(read.token.expose_secret(), None)
            .await
            .unwrap();
        assert!(matches!(
            fx.vault
                .mint_api_token(&ro, fx.admin_id, "escalate", &["*"], None)
                .await,
            Err(Error::Forbidden { .. })
        ));
        // Unknown scopes and owners are refused.
        assert!(
            fx.vault
                .mint_api_token(&fx.admin, dev_id, "x", &["root"], None)
                .await
                .is_err()
        );
        assert!(
            fx.vault
                .mint_api_token(
                    &fx.admin,
                    secrets_core::UserId::generate(),
                    "x",
                    &["*"],
                    None
                )
                .await
                .is_err()
        );
    }
);

vault_test!(
    async fn a_bad_checksum_never_reaches_storage(fx) {
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], None)
            .await
            .unwrap();
        let token = minted.token.expose_secret().to_owned();
        let before = fx.store.calls();
        let last = token.chars().last().unwrap();
        let typo = format!(
            "{}{}",
            &token[..token.len() - 1],
            if last == 'a' { 'b' } else { 'a' }
        );
        let err = fx
            .vault
            .authenticate_api_token(&typo, None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidToken {
                    reason: TokenRejection::BadChecksum
                }
            ),
            "{err}"
        );
        assert!(!err.to_string().contains(&typo));
        for garbage in [
            "",
            "scp_",
            "Bearer x",
            "scp_!!!!",
            &token.replace("scp_", "sca_"),
        ] {
            assert!(
                fx.vault
                    .authenticate_api_token(garbage, None)
                    .await
                    .is_err(),
                "{garbage}"
            );
        }
        assert_eq!(fx.store.calls(), before, "storage was touched");
    }
);

vault_test!(
    async fn last_used_is_written_at_most_once_a_minute(fx) {
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], None)
            .await
            .unwrap();
        let token = minted.token.expose_secret().to_owned();
        let writes = || fx.store.calls().1;
        let w0 = writes();
        fx.vault.authenticate_api_token(&token, None).await.unwrap();
        assert_eq!(writes(), w0 + 1, "first use is recorded");
        for _ in 0..20 {
            fx.vault.authenticate_api_token(&token, None).await.unwrap();
        }
        assert_eq!(writes(), w0 + 1, "no write on the hot path");
        fx.advance(Duration::from_secs(61));
        fx.vault.authenticate_api_token(&token, None).await.unwrap();
        assert_eq!(writes(), w0 + 2);
        let listed = fx.vault.list_api_tokens(&fx.admin, None).await.unwrap();
        assert!(listed[0].last_used_at.is_some());
    }
);

vault_test!(
    async fn expired_tokens_fail_and_are_pruned_after_retention(fx) {
        let minted = fx
            .vault
            .mint_api_token(
                &fx.admin,
                fx.admin_id,
                "short",
                &["*"],
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        let keep = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "keep", &["*"], None)
            .await
            .unwrap();
        fx.advance(Duration::from_secs(61));
        assert!(matches!(
            fx.vault
                .authenticate_api_token(minted.token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Expired })
        ));
        // Not pruned during the retention period...
        let system = secrets_core::vault::Caller::system(fx.tenant);
        assert_eq!(fx.vault.prune(&system).await.unwrap().deleted, 0);
        assert_eq!(
            fx.vault
                .list_api_tokens(&fx.admin, None)
                .await
                .unwrap()
                .len(),
            2
        );
        // ...then gone, while the live token stays.
        fx.advance(Duration::from_secs(31 * 24 * 3600));
        assert!(fx.vault.prune(&system).await.unwrap().deleted >= 1);
        let left = fx.vault.list_api_tokens(&fx.admin, None).await.unwrap();
        assert_eq!(
            left.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
            [keep.id.as_str()]
        );
        // A developer cannot prune.
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        assert!(matches!(
            fx.vault.prune(&dev).await,
            Err(Error::Forbidden { .. })
        ));
    }
);

vault_test!(
    async fn the_maintenance_task_prunes_every_tenant(fx) {
        fx.vault
            .mint_api_token(
                &fx.admin,
                fx.admin_id,
                "short",
                &["*"],
                Some(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        fx.advance(Duration::from_secs(31 * 24 * 3600));
        let task = fx
            .vault
            .spawn_maintenance(Duration::from_secs(3600), |_| {});
        // The first round runs at once; wait for it (bounded), then stop the task.
        let pruned = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if fx
                    .vault
                    .list_api_tokens(&fx.admin, None)
                    .await
                    .unwrap()
                    .is_empty()
                {
                    break;
                }
                tokio::task::yield_now().await;
            }
        })
        .await;
        task.abort();
        assert!(pruned.is_ok(), "the maintenance task did not prune");
        let prunes = fx
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "maintenance.prune")
            .count();
        assert!(prunes >= 1);
    }
);
