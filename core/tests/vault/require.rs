//! `Vault::require`: a host's own permissions, enforced and audited like
//! the Vault's.

use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::{Actor, Outcome};
use secrets_core::error::TokenRejection;
use secrets_core::rbac::{Permission, Policy, Role};

use crate::fixture::{Fx, config, vault_test};

/// The fixture's configuration with the host's `deploy:promote` (Admins)
/// and `deploy:run` (Developers and Admins).
fn host_config() -> secrets_core::vault::VaultConfig {
    let mut c = config();
    c.policy.register("deploy:promote", &[Role::Admin]).unwrap();
    c.policy
        .register("deploy:run", &[Role::Developer, Role::Admin])
        .unwrap();
    c
}

impl Fx {
    fn host_permission(&self, name: &str) -> Permission {
        self.vault.policy().permission(name).unwrap()
    }
}

vault_test!(
    config = host_config();
    async fn a_host_permission_is_decided_by_role_and_scopes(fx) {
        let promote = fx.host_permission("deploy:promote");
        let run = fx.host_permission("deploy:run");
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (_, viv) = fx.user("viv@example.com", Role::Viewer).await;
        let before = fx.audit().await.len();
        // Allowed: nothing is written.
        fx.vault.require(&fx.admin, promote, "deploy.promote", "app/web").await.unwrap();
        fx.vault.require(&dev, run, "deploy.run", "app/web").await.unwrap();
        fx.vault.require(&dev, Permission::WriteSecrets, "deploy.run", "app/web").await.unwrap();
        assert_eq!(fx.audit().await.len(), before, "an allowed check was audited");
        // Denied by role.
        for (caller, p) in [(&dev, promote), (&viv, run), (&viv, promote)] {
            let r = fx.vault.require(caller, p, "deploy.promote", "app/web").await;
            let name = fx.vault.policy().name(p).to_owned();
            assert!(matches!(&r, Err(Error::Forbidden { action }) if *action == name), "{r:?}");
        }
        // Denied by a token's scopes, whoever owns it.
        let t = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["apps:read", "deploy:run"], None)
            .await
            .unwrap();
        let token = fx.vault.authenticate_api_token(t.token.expose_secret(), None).await.unwrap();
        fx.vault.require(&token, run, "deploy.run", "app/web").await.unwrap();
        let r = fx.vault.require(&token, promote, "deploy.promote", "app/web").await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        // And at once when the role changes.
        fx.vault.change_role(&fx.admin, dev_id, Role::Viewer).await.unwrap();
        let r = fx.vault.require(&dev, run, "deploy.run", "app/web").await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
    }
);

// A denial of a host feature lands in the audit log exactly as a denial
// of a built-in one does.
vault_test!(
    config = host_config();
    async fn a_host_denial_is_audited_like_a_built_in_one(fx) {
        let promote = fx.host_permission("deploy:promote");
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let dev = dev.with_source("203.0.113.9");
        let r = fx.vault.require(&dev, promote, "deploy.promote", "app/web").await;
        let host_err = r.unwrap_err();
        let r = fx.vault.list_users(&dev, None).await;
        let builtin_err = r.unwrap_err();
        assert_eq!(host_err.kind(), builtin_err.kind());
        let host = fx.audited("deploy.promote").await;
        let builtin = fx.audited("user.list").await;
        assert_eq!((host.len(), builtin.len()), (1, 1));
        let (h, b) = (&host[0].event, &builtin[0].event);
        assert_eq!(h.actor, Actor::User(dev_id));
        assert_eq!(h.actor, b.actor);
        assert_eq!((h.outcome, b.outcome), (Outcome::Denied, Outcome::Denied));
        assert_eq!(h.source.as_deref(), Some("203.0.113.9"));
        assert_eq!(h.source, b.source);
        assert_eq!(h.target, "app/web");
        assert_eq!(h.details.keys().collect::<Vec<_>>(), b.details.keys().collect::<Vec<_>>());
        assert_eq!(h.details["permission"], "deploy:promote");
        assert_eq!(b.details["permission"], "users:manage");
        // The chain still verifies with the host's events in it.
        fx.vault.verify_audit_log(&fx.admin).await.unwrap();
    }
);

// Attack: a credential that no longer stands is refused by the check, and
// that refusal is audited too.
vault_test!(
    config = host_config();
    async fn a_revoked_credential_is_refused_and_audited(fx) {
        let run = fx.host_permission("deploy:run");
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let t = fx
            .vault
            .mint_api_token(&dev, dev_id, "ci", &["deploy:run"], Some(Duration::from_secs(60)))
            .await
            .unwrap();
        let token = fx.vault.authenticate_api_token(t.token.expose_secret(), None).await.unwrap();
        fx.advance(Duration::from_secs(61));
        let r = fx.vault.require(&token, run, "deploy.run", "app/web").await;
        assert!(matches!(r, Err(Error::InvalidToken { reason: TokenRejection::Revoked })), "{r:?}");
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let r = fx.vault.require(&dev, run, "deploy.run", "app/web").await;
        assert!(matches!(r, Err(Error::InvalidToken { reason: TokenRejection::Revoked })), "{r:?}");
        let events = fx.audited("deploy.run").await;
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.event.outcome == Outcome::Denied));
        assert_eq!(events[0].event.details["reason"], "credential expired");
        assert_eq!(events[1].event.details["reason"], "user disabled");
    }
);

// A permission this Vault's policy never registered is never held, and a
// bad action name is a host bug, refused before anything is decided.
vault_test!(
    config = host_config();
    async fn unknown_permissions_and_bad_actions(fx) {
        let mut bigger = host_config().policy;
        let foreign = bigger.register("billing:refund", &[Role::Admin]).unwrap();
        let mut huge = Policy::new();
        let mut far = Permission::ReadApps;
        for i in 0..100 {
            far = huge.register(&format!("p{i}"), &[Role::Admin]).unwrap();
        }
        for p in [foreign, far] {
            let r = fx.vault.require(&fx.admin, p, "billing.refund", "invoice/1").await;
            assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "unknown"), "{r:?}");
        }
        let before = fx.audit().await.len();
        let promote = fx.host_permission("deploy:promote");
        for action in ["", "Deploy.Promote", "deploy promote", "deploy\npromote", &"a".repeat(129), "déploy"] {
            let r = fx.vault.require(&fx.admin, promote, action, "app/web").await;
            assert!(matches!(r, Err(Error::InvalidInput { field: "action", .. })), "{action:?}: {r:?}");
        }
        assert_eq!(fx.audit().await.len(), before);
        // A hostile target cannot stop the denial from being audited.
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let target = format!("app/\u{1b}[31m{}", "x".repeat(1 << 20));
        let r = fx.vault.require(&dev, promote, "deploy.promote", &target).await;
        assert!(matches!(r, Err(Error::Forbidden { .. })), "{r:?}");
        let event = fx.audited("deploy.promote").await.pop().unwrap();
        assert!(event.event.target.starts_with("app/\\u{1b}[31m"));
        assert!(event.event.target.len() <= secrets_core::audit::MAX_TARGET_LEN);
    }
);

// Attack (host confusion): a permission taken from another policy whose
// custom permissions were registered in another order sits at a position
// this Vault's policy gives to a different permission. It names another
// permission, so it is never held here, whoever holds the one at that
// position (a Developer's `deploy:run` must not pass for `billing:refund`).
vault_test!(
    config = host_config();
    async fn a_foreign_permission_at_a_taken_position_is_never_held(fx) {
        let mut other = Policy::new();
        let refund = other.register("billing:refund", &[Role::Admin]).unwrap();
        let export = other.register("billing:export", &[Role::Admin]).unwrap();
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        for (caller, p) in [(&fx.admin, refund), (&dev, export), (&fx.admin, export)] {
            let r = fx.vault.require(caller, p, "billing.refund", "invoice/1").await;
            assert!(matches!(&r, Err(Error::Forbidden { action }) if action == "unknown"), "{r:?}");
            let policy = fx.vault.policy();
            assert_eq!(policy.name(p), "unknown");
            assert!(!policy.decide(Role::Admin, &secrets_core::rbac::Scopes::all(), p).is_allowed());
        }
        // The same name at the same position is the same permission.
        let mut same = Policy::new();
        same.register("deploy:promote", &[Role::Admin]).unwrap();
        let promote = same.register("deploy:run", &[]).unwrap();
        assert_eq!(Some(promote), fx.vault.policy().permission("deploy:run"));
        fx.vault.require(&dev, promote, "deploy.run", "app/web").await.unwrap();
    }
);
