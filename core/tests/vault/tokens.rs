use secrets_core::error::TokenRejection;
use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::{Actor, Outcome};
use secrets_core::rbac::{Permission, Role};
use secrets_core::vault::Vault;

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
    async fn only_admins_manage_everyones_tokens(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        assert!(matches!(
            fx.vault
                .mint_api_token(&dev, fx.admin_id, "theirs", &["*"], None)
                .await,
            Err(Error::Forbidden { action }) if action == "tokens:manage"
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

// Self-service personal tokens (`tokens:own`): a Developer mints, lists and
// revokes their own, attributed to them; never anyone else's.
vault_test!(
    async fn a_developer_manages_their_own_tokens(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let admins = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "admin's", &["*"], None)
            .await
            .unwrap();
        let mine = fx
            .vault
            .mint_api_token(&dev, dev_id, "laptop", &["apps:read", "secrets:write"], None)
            .await
            .unwrap();
        // Attributed to the Developer, not to `system`.
        let minted = fx.audited("api_token.mint").await;
        let event = minted.last().unwrap();
        assert_eq!(event.event.actor, Actor::User(dev_id));
        assert_eq!(event.event.details["owner"], dev_id.to_string());
        // Listed: their own only; everyone's stays the Admin's.
        let listed = fx.vault.list_own_api_tokens(&dev, None).await.unwrap();
        assert_eq!(listed.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [mine.id.as_str()]);
        assert_eq!(listed[0].scopes, ["apps:read", "secrets:write"]);
        let admin_own = fx.vault.list_own_api_tokens(&fx.admin, None).await.unwrap();
        assert_eq!(admin_own.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [admins.id.as_str()]);
        assert_eq!(fx.vault.list_api_tokens(&fx.admin, None).await.unwrap().len(), 2);
        // The token works, then is revoked by its owner.
        let caller = fx
            .vault
            .authenticate_api_token(mine.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(caller.user(), Some(dev_id));
        fx.vault.revoke_api_token(&dev, &mine.id).await.unwrap();
        assert!(matches!(
            fx.vault.authenticate_api_token(mine.token.expose_secret(), None).await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        let revoked = fx.audited("api_token.revoke").await;
        assert_eq!(revoked.last().unwrap().event.actor, Actor::User(dev_id));
        // An Admin still manages everyone's.
        let again = fx.vault.mint_api_token(&dev, dev_id, "again", &["*"], None).await.unwrap();
        fx.vault.revoke_api_token(&fx.admin, &again.id).await.unwrap();
    }
);

// Attack: a Developer revokes, lists or mints someone else's tokens.
vault_test!(
    async fn a_developer_cannot_touch_anyone_elses_tokens(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (other_id, _) = fx.user("other@example.com", Role::Developer).await;
        let admins = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "admin's", &["*"], None)
            .await
            .unwrap();
        let others = fx
            .vault
            .mint_api_token(&fx.admin, other_id, "other's", &["*"], None)
            .await
            .unwrap();
        for id in [&admins.id, &others.id] {
            let r = fx.vault.revoke_api_token(&dev, id).await;
            assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "tokens:manage"), "{r:?}");
        }
        for t in [&admins, &others] {
            assert!(fx.vault.authenticate_api_token(t.token.expose_secret(), None).await.is_ok());
        }
        let r = fx.vault.list_api_tokens(&dev, None).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        let listed = fx.vault.list_own_api_tokens(&dev, None).await.unwrap();
        assert!(listed.is_empty(), "{listed:?}");
        for owner in [fx.admin_id, other_id] {
            let r = fx.vault.mint_api_token(&dev, owner, "x", &["apps:read"], None).await;
            assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "tokens:manage"), "{r:?}");
        }
        // Every attempt is audited as the Developer's, denied.
        let denied: Vec<_> = fx
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.outcome == Outcome::Denied && e.event.actor == Actor::User(dev_id))
            .collect();
        assert_eq!(denied.len(), 5, "{denied:?}");
        assert!(denied.iter().all(|e| e.event.details["permission"] == "tokens:manage"));
        // An unknown id is not found, and a revoked one stays revoked.
        let r = fx.vault.revoke_api_token(&dev, "0190d0c0-0000-7000-8000-000000000000").await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
    }
);

// Attack: a self-minted token wider than its minter: `users:manage`,
// `tokens:manage`, or a Viewer minting at all.
vault_test!(
    async fn personal_tokens_never_exceed_their_minter(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        for scopes in [&["users:manage"][..], &["tokens:manage"], &["apps:read", "settings:manage"]] {
            let r = fx.vault.mint_api_token(&dev, dev_id, "x", scopes, None).await;
            assert!(matches!(r, Err(Error::Forbidden { .. })), "{scopes:?}: {r:?}");
        }
        // `*` is what the Developer holds, stored by name.
        let all = fx.vault.mint_api_token(&dev, dev_id, "all", &["*"], None).await.unwrap();
        let info = fx.vault.list_own_api_tokens(&dev, None).await.unwrap();
        let info = info.iter().find(|t| t.id == all.id).unwrap();
        let dev_perms = fx.vault.policy().role_scopes(Role::Developer).names(fx.vault.policy());
        assert_eq!(info.scopes, dev_perms);
        assert!(info.scopes.contains(&"tokens:own".to_owned()));
        assert!(!info.scopes.contains(&"tokens:manage".to_owned()));
        let caller = fx.vault.authenticate_api_token(all.token.expose_secret(), None).await.unwrap();
        assert!(matches!(fx.vault.list_users(&caller, None).await, Err(Error::Forbidden { .. })));

        // A Viewer has no personal tokens to manage.
        let (viv_id, viv) = fx.user("viv@example.com", Role::Viewer).await;
        let r = fx.vault.mint_api_token(&viv, viv_id, "x", &["apps:read"], None).await;
        assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "tokens:own"), "{r:?}");
        let r = fx.vault.list_own_api_tokens(&viv, None).await;
        assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "tokens:own"), "{r:?}");
        // Nor may the Admin hand one a token that manages its own tokens:
        // the Viewer's role does not hold it.
        let given = fx.vault.mint_api_token(&fx.admin, viv_id, "ro", &["*"], None).await.unwrap();
        let given = fx.vault.authenticate_api_token(given.token.expose_secret(), None).await.unwrap();
        let r = fx.vault.mint_api_token(&given, viv_id, "x", &["apps:read"], None).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        // The system has no tokens of its own.
        let system = secrets_core::vault::Caller::system(fx.tenant);
        assert!(matches!(fx.vault.list_own_api_tokens(&system, None).await, Err(Error::Forbidden { .. })));
    }
);

// A token may mint a token, as the escalation rules allow any non-agent
// credential: within its own scopes and lifetime. An agent session never
// mints one.
vault_test!(
    async fn tokens_mint_within_themselves_and_agents_never(fx) {
        let hour = Duration::from_secs(3600);
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let parent = fx
            .vault
            .mint_api_token(&dev, dev_id, "parent", &["tokens:own", "apps:read"], Some(hour))
            .await
            .unwrap();
        let parent = fx.vault.authenticate_api_token(parent.token.expose_secret(), None).await.unwrap();
        // Forever, or longer than itself: refused.
        for ttl in [None, Some(2 * hour)] {
            let r = fx.vault.mint_api_token(&parent, dev_id, "child", &["*"], ttl).await;
            assert!(matches!(r, Err(Error::Forbidden { .. })), "{ttl:?}: {r:?}");
        }
        // A scope it lacks though its owner holds it: refused.
        let r = fx
            .vault
            .mint_api_token(&parent, dev_id, "child", &["secrets:write"], Some(hour / 2))
            .await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        // Within both: allowed, and `*` means what the parent holds.
        let child = fx
            .vault
            .mint_api_token(&parent, dev_id, "child", &["*"], Some(hour / 2))
            .await
            .unwrap();
        let listed = fx.vault.list_own_api_tokens(&parent, None).await.unwrap();
        let info = listed.iter().find(|t| t.id == child.id).unwrap();
        assert_eq!(info.scopes, ["apps:read", "tokens:own"]);
        // The audit names the parent token as the minter.
        let event = fx.audited("api_token.mint").await.pop().unwrap();
        assert!(matches!(event.event.actor, Actor::ApiToken { owner, .. } if owner == dev_id));

        // An agent session scoped to `tokens:own` mints nothing.
        let agent = fx
            .vault
            .start_agent_session(&dev, "claude", &["tokens:own"], None)
            .await
            .unwrap();
        let agent = fx.vault.authenticate_agent(agent.token.expose_secret(), None).await.unwrap();
        for ttl in [None, Some(Duration::from_secs(60))] {
            let r = fx.vault.mint_api_token(&agent, dev_id, "x", &["*"], ttl).await;
            assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        }
    }
);

// Stored scopes are permission names, never bit positions: a token keeps
// exactly its permissions when a later version or a host adds permissions
// before its own (the custom permissions' positions move).
vault_test!(
    config = {
        let mut c = crate::fixture::config();
        c.policy.register("deploy:promote", &[Role::Developer, Role::Admin]).unwrap();
        c
    };
    async fn stored_scopes_survive_new_permissions(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let t = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["deploy:promote", "apps:read"], None)
            .await
            .unwrap();
        let mut config = crate::fixture::config();
        config.policy.register("billing:read", &[Role::Admin]).unwrap();
        let promote = config
            .policy
            .register("deploy:promote", &[Role::Developer, Role::Admin])
            .unwrap();
        assert_ne!(Some(promote), fx.vault.policy().permission("deploy:promote"));
        let later = Vault::new(
            fx.store.clone(),
            fx.ring.clone(),
            std::sync::Arc::new(fx.clock.clone()),
            config,
        )
        .await
        .unwrap();
        let caller = later.authenticate_api_token(t.token.expose_secret(), None).await.unwrap();
        let policy = later.policy();
        let billing = policy.permission("billing:read").unwrap();
        assert!(policy.decide(caller.role(), &caller.scopes(), promote).is_allowed());
        assert!(policy.decide(caller.role(), &caller.scopes(), Permission::ReadApps).is_allowed());
        assert!(!policy.decide(caller.role(), &caller.scopes(), billing).is_allowed());
        assert_eq!(later.whoami(&caller).await.unwrap().permissions, ["apps:read", "deploy:promote"]);
    }
);

// Attack: a Developer's personal token leaks; the attacker authenticates
// with it, the Developer revokes it, and the attacker's request goes on to
// mint a child token. The child must not outlive the revocation of the
// token that minted it: a revoked token mints nothing, even with a caller
// authenticated before the revocation (invariant I4, revocation never
// loses a race).
vault_test!(
    async fn a_token_revoked_mid_request_mints_no_child(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let leaked = fx
            .vault
            .mint_api_token(&dev, dev_id, "laptop", &["*"], None)
            .await
            .unwrap();
        let attacker = fx
            .vault
            .authenticate_api_token(leaked.token.expose_secret(), None)
            .await
            .unwrap();
        fx.vault.revoke_api_token(&dev, &leaked.id).await.unwrap();
        let r = fx
            .vault
            .mint_api_token(&attacker, dev_id, "persist", &["*"], None)
            .await;
        assert!(
            matches!(r, Err(Error::InvalidToken { reason: TokenRejection::Revoked })),
            "{r:?}"
        );
        let listed = fx.vault.list_own_api_tokens(&dev, None).await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        let denied = fx.audited("api_token.mint").await.pop().unwrap();
        assert_eq!(denied.event.outcome, secrets_core::audit::Outcome::Denied);
    }
);

// The same race, run for real: the owner revokes a token while requests
// authenticated with it mint. Whichever wins, no child is written after
// the revocation (the audit log's order is the commit order).
vault_test!(
    async fn no_child_is_minted_after_its_minter_is_revoked(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        for round in 0..12 {
            let parent = fx
                .vault
                .mint_api_token(&dev, dev_id, "parent", &["*"], None)
                .await
                .unwrap();
            let caller = fx
                .vault
                .authenticate_api_token(parent.token.expose_secret(), None)
                .await
                .unwrap();
            let (v1, v2, dev2, pid) = (fx.vault.clone(), fx.vault.clone(), dev.clone(), parent.id.clone());
            let mint = tokio::spawn(async move {
                v1.mint_api_token(&caller, dev_id, "child", &["apps:read"], None).await
            });
            let revoke = tokio::spawn(async move { v2.revoke_api_token(&dev2, &pid).await });
            let (minted, revoked) = (mint.await.unwrap(), revoke.await.unwrap());
            revoked.unwrap();
            let log = fx.audit().await;
            let seq_of = |action: &str, target: &str| {
                log.iter()
                    .find(|e| {
                        e.event.action == action
                            && e.event.target == target
                            && e.event.outcome == Outcome::Allowed
                    })
                    .map(|e| e.seq)
            };
            let revoked_at = seq_of("api_token.revoke", &format!("api_token/{}", parent.id)).unwrap();
            match minted {
                Ok(child) => {
                    let minted_at = seq_of("api_token.mint", &format!("api_token/{}", child.id)).unwrap();
                    assert!(minted_at < revoked_at, "round {round}: minted after the revocation");
                }
                Err(e) => assert!(
                    matches!(e, Error::InvalidToken { .. } | Error::Contended { .. }),
                    "round {round}: {e:?}"
                ),
            }
        }
    }
);
