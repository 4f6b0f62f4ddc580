//! `Vault::authenticate_bearer`: one call for whatever a client presents,
//! routed by shape and prefix, and the attacks on that routing.

use std::sync::Arc;
use std::time::Duration;

use secrets_core::audit::{Actor, Outcome};
use secrets_core::error::TokenRejection;
use secrets_core::rbac::Role;
use secrets_core::vault::{MAX_BEARER_LEN, Vault};
use secrets_core::{Error, SecretString, TenantId};

use crate::fixture::{Fx, PASSWORD, config, vault_test};

fn rejected<T: std::fmt::Debug>(r: secrets_core::Result<T>) -> TokenRejection {
    match r {
        Err(Error::InvalidToken { reason }) => reason,
        other => panic!("expected a token rejection, got {other:?}"),
    }
}

impl Fx {
    /// A fresh login of `login`: its access and refresh tokens.
    async fn session(&self, login: &str) -> secrets_core::vault::Session {
        self.vault
            .login(self.tenant, login, &SecretString::from(PASSWORD), None)
            .await
            .unwrap()
    }

    /// Authenticates `value` as a bearer credential.
    async fn bearer(&self, value: &str) -> secrets_core::Result<secrets_core::vault::Caller> {
        self.vault
            .authenticate_bearer(value, Some("198.51.100.7"))
            .await
    }
}

vault_test!(
    async fn every_kind_with_or_without_the_scheme(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let api = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["apps:read"], None)
            .await
            .unwrap();
        let agent = fx
            .vault
            .start_agent_session(&dev, "claude", &["apps:read"], None)
            .await
            .unwrap();
        let session = fx.session("dev@example.com").await;
        let cases = [
            (api.token.expose_secret(), Actor::ApiToken { token: api.id.clone(), owner: dev_id }),
            (
                agent.token.expose_secret(),
                Actor::Agent { session: agent.id.clone(), on_behalf_of: dev_id },
            ),
            (session.access_token.expose_secret(), Actor::User(dev_id)),
        ];
        for (credential, actor) in cases {
            for value in [
                credential.to_owned(),
                format!("Bearer {credential}"),
                format!("bearer {credential}"),
                format!("BEARER   {credential}"),
            ] {
                let caller = fx.bearer(&value).await.unwrap();
                assert_eq!(caller.actor(), &actor, "{actor}");
                assert_eq!(caller.tenant(), fx.tenant);
                assert_eq!(caller.source(), Some("198.51.100.7"));
            }
        }
        // The prefixes it routes by can be read back.
        let p = fx.vault.token_prefixes();
        assert_eq!((p.api(), p.agent(), p.refresh()), ("scp", "sca", "scr"));
    }
);

// A refresh token presented as a bearer is refused before storage, and is
// neither spent nor taken for a replay: the login goes on.
vault_test!(
    async fn a_refresh_token_is_not_a_bearer(fx) {
        let session = fx.session("admin@example.com").await;
        let refresh = session.refresh_token.expose_secret();
        let before = fx.store.calls();
        for value in [refresh.to_owned(), format!("Bearer {refresh}")] {
            assert_eq!(rejected(fx.bearer(&value).await), TokenRejection::WrongPrefix);
        }
        assert_eq!(fx.store.calls(), before, "storage was touched");
        let renewed = fx.vault.refresh(refresh, None).await.unwrap();
        assert!(fx.bearer(renewed.access_token.expose_secret()).await.is_ok());
    }
);

// Attack: an agent token relabelled with the API prefix, and prefixes
// configured so that one kind's prefix is another's: a token never
// authenticates as a kind it was not issued as.
vault_test!(
    async fn no_token_crosses_kinds_whatever_the_prefixes(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let agent = fx
            .vault
            .start_agent_session(&dev, "claude", &["*"], None)
            .await
            .unwrap();
        let agent = agent.token.expose_secret().to_owned();
        // Relabelled: the checksum covers the prefix.
        let relabelled = agent.replacen("sca_", "scp_", 1);
        assert_eq!(rejected(fx.bearer(&relabelled).await), TokenRejection::BadChecksum);
        // One prefix for two kinds: refused at once.
        let mut same = config();
        same.agent_token_prefix = same.api_token_prefix.clone();
        let r = Vault::new(fx.store.clone(), fx.ring.clone(), Arc::new(fx.clock.clone()), same).await;
        assert!(matches!(r, Err(Error::InvalidInput { field: "token prefixes", .. })), "{r:?}");
        // Swapped prefixes on the same store: the agent token now routes to
        // the API tokens, where no such token is stored.
        let mut swapped = config();
        swapped.api_token_prefix = "sca".into();
        swapped.agent_token_prefix = "scp".into();
        let other = Vault::new(fx.store.clone(), fx.ring.clone(), Arc::new(fx.clock.clone()), swapped)
            .await
            .unwrap();
        assert_eq!(other.token_prefixes().api(), "sca");
        let r = other.authenticate_bearer(&agent, None).await;
        assert_eq!(rejected(r), TokenRejection::Unknown);
        // And on the vault that issued it, it is the agent session it was.
        let caller = fx.bearer(&agent).await.unwrap();
        assert!(matches!(caller.actor(), Actor::Agent { .. }));
    }
);

// One prefix that begins another (`sc` and `sca`) routes by the whole
// prefix.
vault_test!(
    config = {
        let mut c = config();
        c.api_token_prefix = "sc".into();
        c
    };
    async fn a_prefix_that_begins_another_routes_exactly(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let api = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "ci", &["*"], None)
            .await
            .unwrap();
        assert!(api.token.expose_secret().starts_with("sc_"));
        let agent = fx
            .vault
            .start_agent_session(&dev, "claude", &["*"], None)
            .await
            .unwrap();
        let a = fx.bearer(api.token.expose_secret()).await.unwrap();
        assert!(matches!(a.actor(), Actor::ApiToken { .. }));
        let b = fx.bearer(agent.token.expose_secret()).await.unwrap();
        assert!(matches!(b.actor(), Actor::Agent { .. }));
    }
);

// Attack: `Bearer` twice, other schemes, whitespace, NUL, non-ASCII, empty,
// 1 MB: each refused with its reason, none reaches storage or hashing.
vault_test!(
    async fn hostile_values_are_refused_before_storage(fx) {
        let session = fx.session("admin@example.com").await;
        let jwt = session.access_token.expose_secret();
        let api = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], None)
            .await
            .unwrap();
        let api = api.token.expose_secret();
        let megabyte = 1 << 20;
        let malformed = [
            format!("Bearer Bearer {jwt}"),
            format!("Bearer  Bearer {jwt}"),
            format!("Bearer bearer {api}"),
            format!("Basic {api}"),
            format!("Bearer\t{jwt}"),
            format!(" Bearer {jwt}"),
            format!("Bearer {jwt} "),
            format!("Bearer {jwt}\r\n"),
            format!("{api}\n"),
            format!("Bearer {api}\0"),
            format!("Bearer \0{api}"),
            format!("Bearer {}", api.replace('_', "\0")),
            "\0".to_owned(),
            format!("Bearer {}é", &api[..api.len() - 1]),
            format!("Bearer {api}\u{200b}"),
            format!("Bearer\u{a0}{api}"),
            String::new(),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
            " ".to_owned(),
            "scp".to_owned(),
        ];
        let too_large = [
            format!("Bearer {}", "a".repeat(megabyte)),
            format!("Bearer {}.{}.{}", "e".repeat(megabyte), "e".repeat(10), "e"),
            format!("scp_{}", "A".repeat(megabyte)),
            "\0".repeat(megabyte),
            " ".repeat(megabyte),
            format!("Bearer {}", "é".repeat(megabyte / 2)),
            format!("Bearer {}", "a".repeat(MAX_BEARER_LEN)),
        ];
        let before = fx.store.calls();
        for v in &malformed {
            let r = fx.bearer(v).await;
            assert_eq!(rejected(r), TokenRejection::Malformed, "{:?}", v.escape_debug().to_string());
        }
        for v in &too_large {
            assert_eq!(rejected(fx.bearer(v).await), TokenRejection::TooLarge);
        }
        assert_eq!(fx.store.calls(), before, "storage was touched");
        // The error never carries the value.
        let err = fx.bearer(&format!("Bearer Bearer {jwt}")).await.unwrap_err();
        assert!(!err.to_string().contains(jwt));
    }
);

// Attack: a token of another tenant authenticates in its own tenant only:
// everything it does runs there.
vault_test!(
    async fn a_token_of_another_tenant_stays_in_its_tenant(fx) {
        let other = TenantId::generate();
        let pw = SecretString::from(PASSWORD);
        let mallory_id = fx
            .vault
            .bootstrap(other, "evil", "mallory@example.com", &pw, None)
            .await
            .unwrap();
        let s = fx.vault.login(other, "mallory@example.com", &pw, None).await.unwrap();
        let mallory = fx.bearer(s.access_token.expose_secret()).await.unwrap();
        let t = fx
            .vault
            .mint_api_token(&mallory, mallory_id, "x", &["*"], None)
            .await
            .unwrap();
        for value in [
            format!("Bearer {}", s.access_token.expose_secret()),
            format!("Bearer {}", t.token.expose_secret()),
        ] {
            let caller = fx.bearer(&value).await.unwrap();
            assert_eq!(caller.tenant(), other);
            let users = fx.vault.list_users(&caller, None).await.unwrap();
            assert_eq!(users.len(), 1);
            assert_eq!(users[0].login, "mallory@example.com");
            assert_eq!(fx.vault.whoami(&caller).await.unwrap().tenant, other);
        }
        // Nothing of the first tenant is visible or changed.
        let r = fx.vault.disable_user(&mallory, fx.admin_id).await;
        assert!(matches!(r, Err(Error::NotFound { .. })), "{r:?}");
        assert!(fx.vault.list_api_tokens(&fx.admin, None).await.unwrap().is_empty());
    }
);

// Revoked and expired credentials of each kind are refused through the
// one entry point exactly as through their own, and audited.
vault_test!(
    async fn revoked_and_expired_credentials_of_every_kind(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let minute = Some(Duration::from_secs(60));
        let revoked_api = fx.vault.mint_api_token(&fx.admin, dev_id, "a", &["*"], None).await.unwrap();
        let expiring_api = fx.vault.mint_api_token(&fx.admin, dev_id, "b", &["*"], minute).await.unwrap();
        fx.vault.revoke_api_token(&fx.admin, &revoked_api.id).await.unwrap();
        let revoked_agent = fx.vault.start_agent_session(&dev, "a", &["*"], None).await.unwrap();
        let expiring_agent = fx.vault.start_agent_session(&dev, "b", &["*"], minute).await.unwrap();
        fx.vault.revoke_agent_session(&dev, &revoked_agent.id).await.unwrap();
        let access = fx.session("dev@example.com").await;

        let bearer = |t: &SecretString| format!("Bearer {}", t.expose_secret());
        assert_eq!(rejected(fx.bearer(&bearer(&revoked_api.token)).await), TokenRejection::Revoked);
        assert_eq!(rejected(fx.bearer(&bearer(&revoked_agent.token)).await), TokenRejection::Revoked);
        fx.advance(Duration::from_secs(61));
        assert_eq!(rejected(fx.bearer(&bearer(&expiring_api.token)).await), TokenRejection::Expired);
        assert_eq!(rejected(fx.bearer(&bearer(&expiring_agent.token)).await), TokenRejection::Expired);
        // The access token is still good 61 s in; its user's disable stops it.
        assert!(fx.bearer(&bearer(&access.access_token)).await.is_ok());
        fx.vault.disable_user(&fx.admin, dev_id).await.unwrap();
        assert_eq!(rejected(fx.bearer(&bearer(&access.access_token)).await), TokenRejection::Revoked);
        // And a new login's token expires with its lifetime.
        let (_, _) = fx.user("late@example.com", Role::Viewer).await;
        let late = fx.session("late@example.com").await;
        fx.advance(Duration::from_secs(3600));
        assert_eq!(rejected(fx.bearer(&bearer(&late.access_token)).await), TokenRejection::Expired);

        // Every refusal that reached a stored credential is audited in its tenant.
        for action in ["api_token.authenticate", "agent_session.authenticate", "auth.access_token"] {
            let events = fx.audited(action).await;
            assert!(!events.is_empty(), "{action}");
            assert!(events.iter().all(|e| e.event.outcome == Outcome::Denied), "{action}");
        }
    }
);
