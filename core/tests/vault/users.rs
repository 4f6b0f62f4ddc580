use std::time::Duration;

use secrets_core::audit::{Actor, Outcome};
use secrets_core::error::TokenRejection;
use secrets_core::rbac::Role;
use secrets_core::vault::{Bootstrapped, Caller, CallerKind, Vault};
use secrets_core::{Error, SecretString, TenantId};

use crate::fixture::{Fx, PASSWORD, config, master, vault_test};

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

// Start-up code calls `ensure_bootstrapped` on every boot: when the tenant
// has its Admin it hashes nothing and writes nothing. Counted, not timed:
// the same call on a fresh tenant counts one hash, so the counter sees
// hashing when there is some.
vault_test!(
    async fn ensure_bootstrapped_is_cheap_when_the_tenant_exists(fx) {
        let pw = SecretString::from(PASSWORD);
        let hashes = fx.vault.password_hashes();
        let (reads, writes) = fx.store.calls();
        for login in ["admin@example.com", "someone-else@example.com"] {
            let r = fx
                .vault
                .ensure_bootstrapped(fx.tenant, "acme", login, &pw, None)
                .await
                .unwrap();
            assert_eq!(r, Bootstrapped::Existing);
        }
        // Not even a password bcrypt would refuse is looked at.
        let r = fx
            .vault
            .ensure_bootstrapped(fx.tenant, "acme", "admin@example.com", &SecretString::from("x".repeat(100)), None)
            .await
            .unwrap();
        assert_eq!(r, Bootstrapped::Existing);
        assert_eq!(fx.vault.password_hashes(), hashes, "a password was hashed");
        let (r2, w2) = fx.store.calls();
        assert_eq!(w2, writes, "something was written");
        assert!(r2 - reads <= 6, "{} reads for three calls", r2 - reads);
        // `bootstrap` itself now refuses a repeat before hashing too.
        let err = fx.vault.bootstrap(fx.tenant, "acme", "x@example.com", &pw, None).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(fx.vault.password_hashes(), hashes);

        // The control: a new tenant is created, with one hash, once.
        let t = TenantId::generate();
        let first = fx.vault.ensure_bootstrapped(t, "new", "root@example.com", &pw, Some("boot")).await.unwrap();
        let Bootstrapped::Created(root) = first else { panic!("{first:?}") };
        assert_eq!(fx.vault.password_hashes(), hashes + 1);
        let again = fx.vault.ensure_bootstrapped(t, "new", "root@example.com", &pw, None).await.unwrap();
        assert_eq!(again, Bootstrapped::Existing);
        assert_eq!(fx.vault.password_hashes(), hashes + 1);
        let s = fx.vault.login(t, "root@example.com", &pw, None).await.unwrap();
        assert_eq!(s.user, root);
        // Invalid input is still refused when it would be used.
        let r = fx.vault.ensure_bootstrapped(TenantId::generate(), "x", "", &pw, None).await;
        assert!(matches!(r, Err(Error::InvalidInput { .. })), "{r:?}");
    }
);

// Concurrent start-ups, two tasks on each of two Vaults on one database,
// create exactly one Admin per tenant.
vault_test!(
    async fn concurrent_ensure_bootstrapped_creates_one_admin(backend: Backend) {
        let (store, dir) = backend.open().await;
        let second = backend.second_handle(&store, dir.as_ref()).await;
        let open = |s: std::sync::Arc<dyn secrets_core::store::Store>| async move {
            Vault::new(
                s,
                std::sync::Arc::new(secrets_core::crypto::KeyRing::new(master())),
                std::sync::Arc::new(secrets_core::SystemClock),
                config(),
            )
            .await
            .unwrap()
        };
        let (a, b) = (open(store).await, open(second).await);
        let pw = SecretString::from(PASSWORD);
        for round in 0..3 {
            let t = TenantId::generate();
            let login = |i: usize| format!("admin{i}@example.com");
            let calls = [&a, &b, &a, &b].into_iter().enumerate().map(|(i, v)| {
                let (v, pw, login) = (v.clone(), pw.clone(), login(i));
                tokio::spawn(
                    async move { v.ensure_bootstrapped(t, "acme", &login, &pw, None).await },
                )
            });
            let mut created = Vec::new();
            for c in calls.collect::<Vec<_>>() {
                if let Some(id) = c.await.unwrap().unwrap().created() {
                    created.push(id);
                }
            }
            assert_eq!(created.len(), 1, "round {round}: {created:?}");
            let users = a.list_users(&Caller::system(t), None).await.unwrap();
            assert_eq!(users.len(), 1, "round {round}: {users:?}");
            assert_eq!((users[0].id, users[0].role), (created[0], Role::Admin));
            let boots = b
                .audit_events(
                    &Caller::system(t),
                    &secrets_core::store::AuditQuery::default(),
                )
                .await
                .unwrap();
            assert_eq!(
                boots
                    .iter()
                    .filter(|e| e.event.action == "tenant.bootstrap")
                    .count(),
                1
            );
        }
    }
);

// `whoami` for every kind of caller, every role, the Viewer included.
vault_test!(
    async fn whoami_for_every_caller(fx) {
        let policy = fx.vault.policy().clone();
        let names = |role: Role| policy.role_scopes(role).names(&policy);
        // A human, by access token.
        let me = fx.vault.whoami(&fx.admin).await.unwrap();
        assert_eq!(
            (me.tenant, me.kind, me.user, me.login.as_deref(), me.role),
            (fx.tenant, CallerKind::User, Some(fx.admin_id), Some("admin@example.com"), Role::Admin)
        );
        assert_eq!(me.actor, Actor::User(fx.admin_id));
        assert_eq!(me.permissions, names(Role::Admin));
        assert_eq!((me.scopes.clone(), me.expires_at), (vec!["*".to_owned()], None));
        // A Viewer, who may list nothing else about users.
        let (viv_id, viv) = fx.user("viv@example.com", Role::Viewer).await;
        assert!(fx.vault.list_users(&viv, None).await.is_err());
        let me = fx.vault.whoami(&viv).await.unwrap();
        assert_eq!((me.user, me.role, me.kind), (Some(viv_id), Role::Viewer, CallerKind::User));
        assert_eq!(me.permissions, ["apps:read", "secrets:list"]);
        // An API token: its owner, its scopes, its expiry; permissions the
        // intersection with the owner's role.
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let t = fx
            .vault
            .mint_api_token(&dev, dev_id, "ci", &["apps:read", "secrets:write"], Some(Duration::from_secs(600)))
            .await
            .unwrap();
        let token = fx.vault.authenticate_bearer(t.token.expose_secret(), None).await.unwrap();
        let me = fx.vault.whoami(&token).await.unwrap();
        assert_eq!(me.kind, CallerKind::ApiToken);
        assert_eq!(me.actor, Actor::ApiToken { token: t.id.clone(), owner: dev_id });
        assert_eq!((me.user, me.login.as_deref(), me.role), (Some(dev_id), Some("dev@example.com"), Role::Developer));
        assert_eq!(me.scopes, ["apps:read", "secrets:write"]);
        assert_eq!(me.permissions, ["apps:read", "secrets:write"]);
        assert_eq!(me.expires_at, t.expires_at);
        // After a demotion, permissions shrink at once; scopes stay stored.
        fx.vault.change_role(&fx.admin, dev_id, Role::Viewer).await.unwrap();
        let me = fx.vault.whoami(&token).await.unwrap();
        assert_eq!((me.role, me.permissions.clone()), (Role::Viewer, vec!["apps:read".to_owned()]));
        assert_eq!(me.scopes, ["apps:read", "secrets:write"]);
        fx.vault.change_role(&fx.admin, dev_id, Role::Developer).await.unwrap();
        // An agent session, acting for its human.
        let started = fx.vault.start_agent_session(&dev, "claude", &["apps:read"], None).await.unwrap();
        let agent = fx.vault.authenticate_bearer(started.token.expose_secret(), None).await.unwrap();
        let me = fx.vault.whoami(&agent).await.unwrap();
        assert_eq!(me.kind, CallerKind::Agent);
        assert_eq!((me.user, me.login.as_deref()), (Some(dev_id), Some("dev@example.com")));
        assert_eq!((me.permissions.clone(), me.expires_at), (vec!["apps:read".to_owned()], Some(started.expires_at)));
        // The system.
        let me = fx.vault.whoami(&Caller::system(fx.tenant)).await.unwrap();
        assert_eq!((me.kind, me.user, me.login, me.role), (CallerKind::System, None, None, Role::Admin));
        assert_eq!(me.permissions, names(Role::Admin));
        // Asking is not audited; a dead credential is refused, audited.
        let before = fx.audit().await.len();
        fx.vault.whoami(&viv).await.unwrap();
        assert_eq!(fx.audit().await.len(), before);
        fx.vault.disable_user(&fx.admin, viv_id).await.unwrap();
        let r = fx.vault.whoami(&viv).await;
        assert!(matches!(r, Err(Error::InvalidToken { reason: TokenRejection::Revoked })), "{r:?}");
        assert_eq!(fx.audited("user.whoami").await.len(), 1);
    }
);
