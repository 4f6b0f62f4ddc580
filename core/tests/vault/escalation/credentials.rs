//! Attacks on the credential model: credentials outgrowing their creator or
//! owner, revocation failing for size or losing a race, the last Admin
//! (attacks 1-7 and 16-19).

#[allow(unused_imports)]
use super::*;

use secrets_core::Error;
use secrets_core::audit::Outcome;
use secrets_core::vault::MintedToken;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Fx {
    /// Mints an API token for `owner` as the Admin.
    async fn token(&self, owner: UserId, scopes: &[&str], ttl: Option<Duration>) -> MintedToken {
        self.vault
            .mint_api_token(&self.admin, owner, "t", scopes, ttl)
            .await
            .unwrap()
    }

    async fn as_token(&self, t: &MintedToken) -> secrets_core::Result<Caller> {
        self.vault
            .authenticate_api_token(t.token.expose_secret(), None)
            .await
    }

    /// How many enabled Admins the tenant has.
    async fn admins(&self) -> usize {
        self.vault
            .list_users(&Caller::system(self.tenant), None)
            .await
            .unwrap()
            .iter()
            .filter(|u| u.role == Role::Admin && !u.disabled)
            .count()
    }
}

impl Fx {
    /// `tasks` tasks each minting up to `n` tokens for `owner` as the Admin,
    /// until the owner is disabled.
    fn mint_concurrently(
        &self,
        owner: UserId,
        tasks: usize,
        n: usize,
    ) -> Vec<tokio::task::JoinHandle<Vec<MintedToken>>> {
        (0..tasks)
            .map(|_| {
                let vault = self.vault.clone();
                let admin = self.admin.clone();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for _ in 0..n {
                        match vault.mint_api_token(&admin, owner, "t", &["*"], None).await {
                            Ok(t) => out.push(t),
                            Err(Error::InvalidInput { field: "owner", .. }) => break,
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    out
                })
            })
            .collect()
    }
}

impl Fx {
    /// Waits until the tenant holds at least `n` API tokens.
    async fn minted_at_least(&self, n: usize) {
        let system = Caller::system(self.tenant);
        while self
            .vault
            .list_api_tokens(&system, None)
            .await
            .unwrap()
            .len()
            < n
        {
            tokio::task::yield_now().await;
        }
    }
}

async fn collect(tasks: Vec<tokio::task::JoinHandle<Vec<MintedToken>>>) -> Vec<MintedToken> {
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.unwrap());
    }
    out
}

fn revoked<T: std::fmt::Debug>(r: &secrets_core::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidToken { .. }))
}

fn forbidden<T: std::fmt::Debug>(r: &secrets_core::Result<T>) -> bool {
    matches!(r, Err(Error::Forbidden { .. }))
}

// Attack 1a: a disabled user's still-valid access token started a 12-hour
// agent session that still worked 11 hours later.
vault_test!(
    async fn disabled_users_access_token_starts_no_agent_session(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let r = fx
            .vault
            .start_agent_session(&dev, "claude", &["*"], Some(12 * HOUR))
            .await;
        assert!(revoked(&r), "{r:?}");
        let denied = fx.audited("agent_session.start").await;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].event.outcome, Outcome::Denied);
        assert_eq!(denied[0].event.details["reason"], "user disabled");
    }
);

// Attack 1b: a demoted Admin's access token started an agent session
// stored with role Admin, which later created a new Admin.
vault_test!(
    async fn demoted_admins_agent_session_cannot_create_an_admin(fx) {
        let (second_id, second) = fx.user("second@example.com", Role::Admin).await;
        fx.vault
            .change_role(&fx.admin, second_id, Role::Developer)
            .await
            .unwrap();
        // The access token still says Admin; the session gets what the
        // user holds now.
        let started = fx
            .vault
            .start_agent_session(&second, "claude", &["*"], Some(12 * HOUR))
            .await
            .unwrap();
        fx.advance(HOUR);
        let agent = fx
            .vault
            .authenticate_agent(started.token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(agent.role(), Role::Developer);
        let r = fx
            .vault
            .create_user(&agent, "evil@example.com", Role::Admin, None)
            .await;
        assert!(forbidden(&r), "{r:?}");
        // Asking for an Admin-only scope outright is refused.
        let r = fx
            .vault
            .start_agent_session(&second, "claude", &["users:manage"], None)
            .await;
        assert!(forbidden(&r), "{r:?}");
    }
);

// Attack 1c: a disabled Admin's access token minted a never-expiring `*`
// token for another Admin, still valid 90 days later.
vault_test!(
    async fn disabled_admins_access_token_mints_nothing(fx) {
        let (second_id, second) = fx.user("second@example.com", Role::Admin).await;
        fx.vault.disable_user(&fx.admin, second_id).await.unwrap();
        let r = fx
            .vault
            .mint_api_token(&second, fx.admin_id, "backdoor", &["*"], None)
            .await;
        assert!(revoked(&r), "{r:?}");
        fx.advance(90 * DAY);
        assert!(fx.vault.list_api_tokens(&fx.admin, None).await.unwrap().is_empty());
    }
);

// Attack 2a: an agent session scoped to `tokens:manage` for 60 seconds
// minted a permanent `*` API token.
vault_test!(
    async fn agent_session_mints_no_api_token(fx) {
        let started = fx
            .vault
            .start_agent_session(&fx.admin, "claude", &["tokens:manage"], Some(Duration::from_secs(60)))
            .await
            .unwrap();
        let agent = fx
            .vault
            .authenticate_agent(started.token.expose_secret(), None)
            .await
            .unwrap();
        for ttl in [None, Some(Duration::from_secs(30))] {
            let r = fx.vault.mint_api_token(&agent, fx.admin_id, "x", &["*"], ttl).await;
            assert!(forbidden(&r), "{r:?}");
        }
        let refused = fx.audited("api_token.mint").await;
        assert_eq!(refused.len(), 2);
        assert!(refused.iter().all(|e| e.event.outcome == Outcome::Denied));
    }
);

// Attack 2b: an API token scoped to `tokens:manage` minted a permanent `*`
// token.
vault_test!(
    async fn scoped_token_mints_nothing_wider_or_longer(fx) {
        let minter = fx
            .token(fx.admin_id, &["tokens:manage"], Some(Duration::from_secs(60)))
            .await;
        let minter = fx.as_token(&minter).await.unwrap();
        // Forever, or longer than itself: refused.
        for ttl in [None, Some(HOUR)] {
            let r = fx.vault.mint_api_token(&minter, fx.admin_id, "x", &["*"], ttl).await;
            assert!(forbidden(&r), "{r:?}");
        }
        // A scope it lacks: refused.
        let r = fx
            .vault
            .mint_api_token(&minter, fx.admin_id, "x", &["secrets:write"], Some(Duration::from_secs(30)))
            .await;
        assert!(forbidden(&r), "{r:?}");
        // `*` means what the minter holds, not what the owner does.
        let child = fx
            .vault
            .mint_api_token(&minter, fx.admin_id, "x", &["*"], Some(Duration::from_secs(30)))
            .await
            .unwrap();
        let listed = fx.vault.list_api_tokens(&fx.admin, None).await.unwrap();
        let info = listed.iter().find(|t| t.id == child.id).unwrap();
        assert_eq!(info.scopes, vec!["tokens:manage".to_owned()]);
        let child = fx.as_token(&child).await.unwrap();
        let r = fx.vault.list_users(&child, None).await;
        assert!(forbidden(&r), "{r:?}");
        // And it dies with its parent's lifetime.
        fx.advance(Duration::from_secs(31));
        assert!(revoked(&fx.as_token(&minter_token_again(&fx).await).await));
    }
);

/// A token that expired: for the lifetime check above.
async fn minter_token_again(fx: &Fx) -> MintedToken {
    let t = fx
        .token(fx.admin_id, &["*"], Some(Duration::from_secs(1)))
        .await;
    fx.advance(Duration::from_secs(2));
    t
}

// Attack 2c: a token scoped to `users:manage` created an Admin with a
// password of its choosing.
vault_test!(
    async fn users_manage_scope_creates_no_admin(fx) {
        let t = fx.token(fx.admin_id, &["users:manage"], None).await;
        let caller = fx.as_token(&t).await.unwrap();
        for role in [Role::Admin, Role::Developer, Role::Viewer] {
            let r = fx
                .vault
                .create_user(&caller, "evil@example.com", role, Some(&SecretString::from(PASSWORD)))
                .await;
            assert!(forbidden(&r), "{role:?}: {r:?}");
        }
        // Nor raise someone, nor act on an Admin.
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let r = fx.vault.change_role(&caller, dev_id, Role::Admin).await;
        assert!(forbidden(&r), "{r:?}");
        let r = fx.vault.disable_user(&caller, fx.admin_id).await;
        assert!(forbidden(&r), "{r:?}");
        assert_eq!(
            fx.audited("user.create")
                .await
                .iter()
                .filter(|e| e.event.outcome == Outcome::Denied)
                .count(),
            3
        );
    }
);

// Attack 3a: minting raced a demotion, and most tokens minted meanwhile
// kept role Admin.
vault_test!(
    async fn tokens_minted_during_a_demotion_follow_the_owner(fx) {
        let (second_id, _) = fx.user("second@example.com", Role::Admin).await;
        let minting = fx.mint_concurrently(second_id, 4, 30);
        fx.minted_at_least(8).await;
        fx.vault
            .change_role(&fx.admin, second_id, Role::Developer)
            .await
            .unwrap();
        let minted = collect(minting).await;
        assert!(!minted.is_empty());
        for t in &minted {
            let caller = fx.as_token(t).await.unwrap();
            assert_eq!(caller.role(), Role::Developer);
            let r = fx.vault.list_users(&caller, None).await;
            assert!(forbidden(&r), "{r:?}");
        }
    }
);

// Attack 3b: a mint racing a disable left a working token after
// `disable_user` returned Ok.
vault_test!(
    async fn tokens_minted_during_a_disable_are_dead(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let minting = fx.mint_concurrently(dev_id, 4, 30);
        fx.minted_at_least(8).await;
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        for t in collect(minting).await {
            assert!(revoked(&fx.as_token(&t).await));
        }
        // Enabling again does not bring them back.
        fx.vault.enable_user(&fx.admin, dev_id).await.unwrap();
        let fresh = fx.token(dev_id, &["*"], None).await;
        assert!(fx.as_token(&fresh).await.is_ok());
    }
);

// Attack 4: a user holding 1,000 agent sessions, 1,000 API tokens and a
// login refreshed 1,100 times could be neither demoted nor disabled
// (`TooLarge`), live or expired.
vault_test!(
    async fn revocation_never_fails_for_size(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let mut agents = Vec::new();
        for _ in 0..1000 {
            agents.push(
                fx.vault
                    .start_agent_session(&dev, "bot", &["*"], Some(HOUR))
                    .await
                    .unwrap(),
            );
        }
        let mut tokens = Vec::new();
        for _ in 0..1000 {
            tokens.push(fx.token(dev_id, &["*"], None).await);
        }
        // Some live, some expired.
        fx.advance(2 * HOUR);
        let live = fx
            .vault
            .start_agent_session(&dev, "bot", &["*"], Some(HOUR))
            .await
            .unwrap();
        fx.vault
            .change_role(&fx.admin, dev_id, Role::Viewer)
            .await
            .unwrap();
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let r = fx
            .vault
            .authenticate_agent(live.token.expose_secret(), None)
            .await;
        assert!(revoked(&r), "{r:?}");
        assert!(revoked(&fx.as_token(&tokens[0]).await));
        assert!(revoked(&fx.as_token(&tokens[999]).await));
        fx.vault.delete_user(&fx.admin, dev_id).await.unwrap();
        assert!(fx.vault.list_api_tokens(&fx.admin, None).await.unwrap().is_empty());
    }
);

// Attack 5: `disable_user` failed with `Conflict` when the user's token was
// used during it (the last-used write), and the token kept working.
vault_test!(
    config = {
let mut c = config();
c.last_used_granularity = Duration::ZERO;
c
};
    async fn disable_wins_against_token_use(fx) {
        for round in 0..10 {
            let login = format!("dev{round}@example.com");
            let (dev_id, dev) = fx.user(&login, Role::Developer).await;
            let t = fx.token(dev_id, &["*"], None).await;
            // Sessions too, so the disable has something to revoke.
            for _ in 0..20 {
                fx.vault.start_agent_session(&dev, "bot", &["*"], None).await.unwrap();
            }
            let using: Vec<_> = (0..3)
                .map(|_| {
                    let vault = fx.vault.clone();
                    let secret = t.token.expose_secret().to_owned();
                    tokio::spawn(async move {
                        for _ in 0..500 {
                            if vault.authenticate_api_token(&secret, None).await.is_err() {
                                return;
                            }
                        }
                    })
                })
                .collect();
            tokio::task::yield_now().await;
            fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
            assert!(revoked(&fx.as_token(&t).await));
            for u in using {
                u.await.unwrap();
            }
        }
    }
);

// Attack 6: two Admins demoted (or disabled) each other at the same moment;
// both succeeded and the tenant had no Admin left.
vault_test!(
    async fn two_admins_cannot_remove_each_other(fx) {
        let (b_id, b) = fx.user("b@example.com", Role::Admin).await;
        let a = fx.admin.clone();
        let a_id = fx.admin_id;
        for round in 0..20 {
            let disable = round % 2 == 1;
            let (va, vb) = (fx.vault.clone(), fx.vault.clone());
            let (ca, cb) = (a.clone(), b.clone());
            let x = tokio::spawn(async move {
                if disable {
                    va.disable_user(&ca, b_id).await
                } else {
                    va.change_role(&ca, b_id, Role::Developer).await
                }
            });
            let y = tokio::spawn(async move {
                if disable {
                    vb.disable_user(&cb, a_id).await
                } else {
                    vb.change_role(&cb, a_id, Role::Developer).await
                }
            });
            let (x, y) = (x.await.unwrap(), y.await.unwrap());
            assert!(x.is_err() || y.is_err(), "round {round}: both succeeded");
            assert_eq!(fx.admins().await, 1, "round {round}");
            // Put both back for the next round.
            let system = Caller::system(fx.tenant);
            for id in [a_id, b_id] {
                fx.vault.enable_user(&system, id).await.unwrap();
                fx.vault.change_role(&system, id, Role::Admin).await.unwrap();
            }
        }
    }
);

// Attack 7 (refusals): a 260-byte or control-character source made the
// audit write of a refused credential fail silently.
vault_test!(
    async fn hostile_source_never_switches_auditing_off(fx) {
        let t = fx.token(fx.admin_id, &["*"], None).await;
        fx.vault.revoke_api_token(&fx.admin, &t.id).await.unwrap();
        let source = format!("203.0.113.7\r\n\u{1b}[31m{}", "x".repeat(260));
        for _ in 0..10 {
            let r = fx
                .vault
                .authenticate_api_token(t.token.expose_secret(), Some(&source))
                .await;
            assert!(revoked(&r), "{r:?}");
        }
        let refused = fx.audited("api_token.authenticate").await;
        assert_eq!(refused.len(), 10);
        let s = refused[0].event.source.as_deref().unwrap();
        assert!(s.starts_with("203.0.113.7\\u{d}\\u{a}\\u{1b}[31m"), "{s}");
        assert!(s.len() <= secrets_core::audit::MAX_SOURCE_LEN);
        // An allowed operation with that source is audited too, not refused.
        let caller = fx.admin.clone().with_source(source.clone());
        fx.vault.list_users(&caller, None).await.unwrap();
        fx.vault
            .create_user(&caller, "new@example.com", Role::Viewer, None)
            .await
            .unwrap();
        assert_eq!(fx.audited("user.create").await.len(), 1);
    }
);

// Attack 16: a zero lifetime minted an already-expired API token (agent
// sessions already refused it). Refused now, like an agent session's.
vault_test!(
    async fn zero_ttl_api_token_is_refused(fx) {
        for ttl in [Duration::ZERO, Duration::from_millis(999)] {
            let r = fx
                .vault
                .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], Some(ttl))
                .await;
            assert!(
                matches!(r, Err(Error::InvalidInput { field: "ttl", .. })),
                "{r:?}"
            );
        }
        assert!(fx.audited("api_token.mint").await.is_empty());
    }
);

// Attack 17: `list_agent_sessions` for a non-user caller returned
// `Forbidden` without an audit record.
vault_test!(
    async fn every_refusal_is_audited(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let t = fx.token(dev_id, &["*"], None).await;
        let caller = fx.as_token(&t).await.unwrap();
        let r = fx.vault.list_agent_sessions(&caller).await;
        assert!(forbidden(&r), "{r:?}");
        let denied = fx.audited("agent_session.list").await;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].event.outcome, Outcome::Denied);
    }
);

// Attack 19: pruning a login family with more than 1,000 tokens failed
// every run, and the maintenance task dropped the error.
vault_test!(
    async fn prune_handles_a_family_of_any_size(fx) {
        let mut s = fx
            .vault
            .login(fx.tenant, "admin@example.com", &SecretString::from(PASSWORD), None)
            .await
            .unwrap();
        for _ in 0..1100 {
            s = fx.vault.refresh(s.refresh_token.expose_secret(), None).await.unwrap();
        }
        fx.vault.logout(s.refresh_token.expose_secret(), None).await.unwrap();
        fx.advance(31 * DAY);
        let report = fx.vault.prune(&Caller::system(fx.tenant)).await.unwrap();
        // The family and its 1,101 tokens.
        assert_eq!(report.deleted, 1102, "{report:?}");
        assert!(
            fx.vault.refresh(s.refresh_token.expose_secret(), None).await.is_err()
        );
        // The maintenance task hands every round's report to the host.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = fx.vault.spawn_maintenance(HOUR, move |round| {
            let _ = tx.send(round);
        });
        let round = rx.recv().await.unwrap().unwrap();
        task.abort();
        assert!(round.failures.is_empty(), "{round:?}");
    }
);

// I3 for access tokens: a disabled or demoted user's access token still
// authenticated, with the role it was issued with, for its 15 minutes.
vault_test!(
    async fn access_tokens_follow_the_user_at_once(fx) {
        let (dev_id, _) = fx.user("dev@example.com", Role::Admin).await;
        let s = fx
            .vault
            .login(fx.tenant, "dev@example.com", &SecretString::from(PASSWORD), None)
            .await
            .unwrap();
        let access = s.access_token.expose_secret().to_owned();
        fx.vault.change_role(&fx.admin, dev_id, Role::Developer).await.unwrap();
        let caller = fx.vault.authenticate_access_token(&access, None).await.unwrap();
        assert_eq!(caller.role(), Role::Developer);
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        let r = fx.vault.authenticate_access_token(&access, None).await;
        assert!(revoked(&r), "{r:?}");
        assert_eq!(fx.audited("auth.access_token").await.len(), 1);
        // Enabled again: the old token stays dead, a new login works fully.
        fx.vault.enable_user(&fx.admin, dev_id).await.unwrap();
        assert!(revoked(&fx.vault.authenticate_access_token(&access, None).await));
        let fresh = fx.login("dev@example.com").await;
        fx.vault
            .start_agent_session(&fresh, "claude", &["*"], None)
            .await
            .unwrap();
    }
);
