//! OAuth refresh leases across processes: two `Vault`s on one store (two
//! SQLite handles on one file, or one shared memory store), each with its
//! own in-process state, as two app instances would be.

use secrets_core::error::OAuthFailure;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use secrets_core::audit::{AuditRecord, Outcome};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::oauth::TokenSet;
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, Store};
use secrets_core::vault::{
    Caller, OAuthRefresher, RefreshFailure, RefreshLease, RefreshStart, Vault, VaultConfig,
};
use secrets_core::{Clock, Error, ManualClock, Result, SecretString, TenantId, Timestamp, UserId};

use crate::fixture::{Backend, PASSWORD, config, vault_test};

/// Two vaults on one store, a connection that is due for a refresh, and
/// its user logged in on each.
struct Two {
    a: Vault,
    b: Vault,
    /// The store under `a`, to read the audit log.
    store: Arc<dyn Store>,
    clock: ManualClock,
    tenant: TenantId,
    admin: Caller,
    dev_id: UserId,
    /// The user, authenticated by `a`.
    dev_a: Caller,
    /// The same user, authenticated by `b` (the other process).
    dev_b: Caller,
    _dir: Option<tempfile::TempDir>,
}

fn master() -> MasterKey {
    MasterKey::from_bytes(&[0x5a; 32]).unwrap()
}

fn token_set(access: &str, refresh: Option<&str>, expires_at: Timestamp) -> TokenSet {
    let mut set = TokenSet::new(SecretString::from(access))
        .with_expires_at(expires_at)
        .with_scopes(["repo"]);
    set.refresh_token = refresh.map(SecretString::from);
    set
}

impl Two {
    async fn new(backend: Backend) -> Self {
        Self::with_config(backend, config()).await
    }

    async fn with_config(backend: Backend, config: VaultConfig) -> Self {
        let (store_a, dir) = backend.open().await;
        let store_b = backend.second_handle(&store_a, dir.as_ref()).await;
        let clock = ManualClock::new(Timestamp::from_unix_seconds(1_750_000_000));
        let vault = |store: Arc<dyn Store>| {
            // Each process loads the key itself: its own ring, same key.
            Vault::new(
                store,
                Arc::new(KeyRing::new(master())),
                Arc::new(clock.clone()),
                config.clone(),
            )
        };
        let a = vault(store_a.clone()).await.unwrap();
        let tenant = TenantId::generate();
        a.bootstrap(
            tenant,
            "acme",
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
        let b = vault(store_b).await.unwrap();
        let admin = login(&a, tenant, "admin@example.com").await;
        let dev_id = a
            .create_user(
                &admin,
                "dev@example.com",
                Role::Developer,
                Some(&SecretString::from(PASSWORD)),
            )
            .await
            .unwrap();
        let dev_a = login(&a, tenant, "dev@example.com").await;
        let dev_b = login(&b, tenant, "dev@example.com").await;
        let two = Self {
            a,
            b,
            store: store_a,
            clock,
            tenant,
            admin,
            dev_id,
            dev_a,
            dev_b,
            _dir: dir,
        };
        // Connected, with a minute left: inside the 5-minute refresh window.
        let soon = two.now().saturating_add(Duration::from_secs(60));
        two.a
            .store_oauth_tokens(
                &two.dev_a,
                "github",
                &token_set("access-0", Some("refresh-0"), soon),
            )
            .await
            .unwrap();
        two
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn audited(&self, action: &str) -> Vec<AuditRecord> {
        let query = {
            let mut c = AuditQuery::default();
            c.action = Some(action.to_owned());
            c
        };
        self.store.audit_events(self.tenant, &query).await.unwrap()
    }

    async fn lease(&self, vault: &Vault, caller: &Caller) -> RefreshLease {
        match vault
            .begin_refresh(caller, self.dev_id, "github")
            .await
            .unwrap()
        {
            RefreshStart::Refresh(lease) => lease,
            other => panic!("expected the lease, got {other:?}"),
        }
    }

    async fn start(&self, vault: &Vault, caller: &Caller) -> RefreshStart {
        vault
            .begin_refresh(caller, self.dev_id, "github")
            .await
            .unwrap()
    }
}

async fn login(vault: &Vault, tenant: TenantId, login: &str) -> Caller {
    let session = vault
        .login(tenant, login, &SecretString::from(PASSWORD), None)
        .await
        .unwrap();
    vault
        .authenticate_access_token(session.access_token.expose_secret(), None)
        .await
        .unwrap()
}

/// A provider that rotates refresh tokens, as GitHub Apps and Google (for
/// some clients) do: each refresh token works once.
struct Rotating {
    clock: ManualClock,
    valid: Mutex<String>,
    calls: AtomicUsize,
    dead_uses: AtomicUsize,
    /// How long a refresh takes at the provider.
    latency: Duration,
}

impl Rotating {
    fn new(clock: &ManualClock) -> Self {
        Self {
            clock: clock.clone(),
            valid: Mutex::new("refresh-0".to_owned()),
            calls: AtomicUsize::new(0),
            dead_uses: AtomicUsize::new(0),
            latency: Duration::from_millis(150),
        }
    }
}

#[async_trait]
impl OAuthRefresher for Rotating {
    async fn refresh(&self, provider: &str, current: &TokenSet) -> Result<TokenSet> {
        self.try_refresh(provider, current)
            .await
            .map_err(Error::from)
    }

    async fn try_refresh(
        &self,
        _provider: &str,
        current: &TokenSet,
    ) -> std::result::Result<TokenSet, RefreshFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        // Let every other caller, in both vaults, pile up meanwhile.
        tokio::time::sleep(self.latency).await;
        let presented = current
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        let mut valid = self.valid.lock().unwrap();
        if presented != *valid {
            self.dead_uses.fetch_add(1, Ordering::SeqCst);
            return Err(RefreshFailure::InvalidGrant);
        }
        *valid = format!("refresh-{n}");
        Ok(token_set(
            &format!("access-{n}"),
            Some(&valid),
            self.clock.now().saturating_add(Duration::from_secs(3600)),
        ))
    }
}

vault_test!(
    async fn two_processes_refresh_once_and_both_get_the_new_token(backend: Backend) {
        let two = Two::new(backend).await;
        let two = Arc::new(two);
        let provider = Arc::new(Rotating::new(&two.clock));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (two, provider) = (two.clone(), provider.clone());
            tasks.push(tokio::spawn(async move {
                let (vault, caller) = if i % 2 == 0 {
                    (&two.a, &two.dev_a)
                } else {
                    (&two.b, &two.dev_b)
                };
                vault
                    .fresh_token(caller, two.dev_id, "github", provider.as_ref())
                    .await
            }));
        }
        for task in tasks {
            let token = task.await.unwrap().unwrap();
            assert_eq!(token.expose_secret(), "access-1");
        }
        assert_eq!(
            provider.calls.load(Ordering::SeqCst),
            1,
            "one refresh in all"
        );
        assert_eq!(provider.dead_uses.load(Ordering::SeqCst), 0);
        // One lease, one completion; the lease is gone.
        assert_eq!(two.audited("oauth.refresh.begin").await.len(), 1);
        let done = two.audited("oauth.refresh").await;
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].event.outcome, Outcome::Allowed);
        for (vault, caller) in [(&two.a, &two.dev_a), (&two.b, &two.dev_b)] {
            let info = vault.list_oauth_connections(caller).await.unwrap();
            assert_eq!(info[0].refreshing_until, None);
            // The rotated set was stored: both now read it without a refresh.
            let token = vault
                .fresh_token(caller, two.dev_id, "github", provider.as_ref())
                .await
                .unwrap();
            assert_eq!(token.expose_secret(), "access-1");
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        // Both processes wrote one chain.
        two.a.verify_audit_log(&two.admin).await.unwrap();
    }
);

vault_test!(
    async fn two_phases_end_to_end(backend: Backend) {
        let two = Two::new(backend).await;
        let lease = two.lease(&two.b, &two.dev_b).await;
        assert_eq!(lease.refresh_token().expose_secret(), "refresh-0");
        assert_eq!(lease.current().access_token.expose_secret(), "access-0");
        assert_eq!(lease.provider(), "github");
        assert_eq!(lease.user(), two.dev_id);
        // Twice the default 30 s refresh timeout.
        assert_eq!(
            lease.expires_at(),
            two.now().saturating_add(Duration::from_secs(60))
        );
        let shown = format!("{lease:?}");
        assert!(
            !shown.contains("refresh-0") && !shown.contains("access-0"),
            "{shown}"
        );
        // Meanwhile the other process is told to wait, briefly.
        match two.start(&two.a, &two.dev_a).await {
            RefreshStart::Busy { retry_after } => {
                assert!(retry_after > Duration::ZERO);
                assert!(retry_after <= Duration::from_millis(100));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        let info = two.a.list_oauth_connections(&two.dev_a).await.unwrap();
        assert_eq!(info[0].refreshing_until, Some(lease.expires_at()));
        // The provider did not rotate: the response has no refresh token, and
        // no scope, so both are kept.
        let later = two.now().saturating_add(Duration::from_secs(3600));
        let mut new = token_set("access-1", None, later);
        new.scopes.clear();
        two.b
            .complete_refresh(&two.dev_b, &lease, &new)
            .await
            .unwrap();
        // Both processes now get the new token, without a refresh.
        for (vault, caller) in [(&two.a, &two.dev_a), (&two.b, &two.dev_b)] {
            match two.start(vault, caller).await {
                RefreshStart::Fresh(token) => assert_eq!(token.expose_secret(), "access-1"),
                other => panic!("expected the fresh token, got {other:?}"),
            }
        }
        let info = two.a.list_oauth_connections(&two.dev_a).await.unwrap();
        assert_eq!(info[0].scopes, ["repo"]);
        assert_eq!(info[0].access_expires_at, Some(later));
        assert_eq!(info[0].refreshing_until, None);
        two.clock.advance(Duration::from_secs(3600));
        let next = two.lease(&two.a, &two.dev_a).await;
        assert_eq!(next.refresh_token().expose_secret(), "refresh-0");
        // A spent lease finishes nothing.
        let err = two
            .b
            .complete_refresh(&two.dev_b, &lease, &new)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::OAuth {
                    reason: OAuthFailure::LeaseLost,
                    ..
                }
            ),
            "{err}"
        );
        // Audited: who took the lease, when it lapses, who completed.
        let begun = two.audited("oauth.refresh.begin").await;
        assert_eq!(begun.len(), 2);
        assert_eq!(begun[0].event.actor, *two.dev_b.actor());
        assert_eq!(
            begun[0].event.details.get("lease_expires_at"),
            Some(&lease.expires_at().unix_millis().to_string())
        );
        let outcomes: Vec<Outcome> = two
            .audited("oauth.refresh")
            .await
            .iter()
            .map(|r| r.event.outcome)
            .collect();
        assert_eq!(outcomes, [Outcome::Allowed, Outcome::Denied]);
    }
);

vault_test!(
    async fn a_crashed_holder_blocks_others_only_until_its_lease_lapses(backend: Backend) {
        let two = Two::new(backend).await;
        // Process A takes the lease and dies without a word.
        let lease = two.lease(&two.a, &two.dev_a).await;
        let lapses = lease.expires_at();
        drop(lease);
        assert!(matches!(
            two.start(&two.b, &two.dev_b).await,
            RefreshStart::Busy { .. }
        ));
        two.clock
            .set(lapses.saturating_sub(Duration::from_millis(1)));
        match two.start(&two.b, &two.dev_b).await {
            RefreshStart::Busy { retry_after } => {
                assert_eq!(retry_after, Duration::from_millis(1));
            }
            other => panic!("expected busy, got {other:?}"),
        }
        // At its expiry, B takes it over, and the callback form works again.
        two.clock.set(lapses);
        let provider = Rotating::new(&two.clock);
        let token = two
            .b
            .fresh_token(&two.dev_b, two.dev_id, "github", &provider)
            .await
            .unwrap();
        assert_eq!(token.expose_secret(), "access-1");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        let begun = two.audited("oauth.refresh.begin").await;
        assert_eq!(begun.len(), 2);
        assert_eq!(begun[0].event.details.get("took_over"), None);
        assert_eq!(
            begun[1].event.details.get("took_over").map(String::as_str),
            Some("a lapsed lease")
        );
    }
);

vault_test!(
    async fn completing_after_a_takeover_is_refused(backend: Backend) {
        let two = Two::new(backend).await;
        let provider = Rotating::new(&two.clock);
        let slow = two.lease(&two.a, &two.dev_a).await;
        two.clock.set(slow.expires_at());
        let fast = two.lease(&two.b, &two.dev_b).await;
        // Both present the same refresh token; the provider honours the first.
        let b_tokens = provider
            .try_refresh("github", fast.current())
            .await
            .unwrap();
        let a_refused = provider.try_refresh("github", slow.current()).await;
        assert_eq!(a_refused.unwrap_err(), RefreshFailure::InvalidGrant);
        let a_tokens = token_set("access-late", Some("refresh-late"), two.now());
        // The lapsed holder can neither store nor record anything.
        let err = two
            .a
            .complete_refresh(&two.dev_a, &slow, &a_tokens)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::OAuth {
                    reason: OAuthFailure::LeaseLost,
                    ..
                }
            ),
            "{err}"
        );
        let err = two
            .a
            .abandon_refresh(&two.dev_a, &slow, RefreshFailure::InvalidGrant)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::OAuth { .. }), "{err}");
        // In particular its invalid_grant did not kill the connection.
        let info = two.a.list_oauth_connections(&two.dev_a).await.unwrap();
        assert!(!info[0].needs_reconnect);
        two.b
            .complete_refresh(&two.dev_b, &fast, &b_tokens)
            .await
            .unwrap();
        match two.start(&two.a, &two.dev_a).await {
            RefreshStart::Fresh(token) => assert_eq!(token.expose_secret(), "access-1"),
            other => panic!("expected the fresh token, got {other:?}"),
        }
        let denied = two
            .audited("oauth.refresh")
            .await
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Denied)
            .count();
        assert_eq!(denied, 2);
    }
);

vault_test!(
    async fn a_lapsed_lease_nobody_took_still_completes(backend: Backend) {
        let two = Two::new(backend).await;
        let lease = two.lease(&two.a, &two.dev_a).await;
        two.clock
            .set(lease.expires_at().saturating_add(Duration::from_secs(5)));
        let later = two.now().saturating_add(Duration::from_secs(3600));
        two.a
            .complete_refresh(
                &two.dev_a,
                &lease,
                &token_set("access-1", Some("refresh-1"), later),
            )
            .await
            .unwrap();
        match two.start(&two.b, &two.dev_b).await {
            RefreshStart::Fresh(token) => assert_eq!(token.expose_secret(), "access-1"),
            other => panic!("expected the fresh token, got {other:?}"),
        }
    }
);

vault_test!(
    async fn invalid_grant_marks_the_connection_for_reconnection(backend: Backend) {
        let two = Two::new(backend).await;
        // Two-phase: the host reports the provider's refusal.
        let lease = two.lease(&two.a, &two.dev_a).await;
        two.a
            .abandon_refresh(&two.dev_a, &lease, RefreshFailure::InvalidGrant)
            .await
            .unwrap();
        let info = two.b.list_oauth_connections(&two.dev_b).await.unwrap();
        assert!(info[0].needs_reconnect);
        assert_eq!(info[0].refreshing_until, None);
        assert!(
            info[0]
                .last_refresh_error
                .as_deref()
                .unwrap()
                .contains("invalid_grant")
        );
        // No one presents the dead refresh token again, in either process.
        let provider = Rotating::new(&two.clock);
        for (vault, caller) in [(&two.a, &two.dev_a), (&two.b, &two.dev_b)] {
            let err = vault
                .begin_refresh(caller, two.dev_id, "github")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("connect again"), "{err}");
            let err = vault
                .fresh_token(caller, two.dev_id, "github", &provider)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("invalid_grant"), "{err}");
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
        let failed = two.audited("oauth.refresh").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].event.outcome, Outcome::Failed);
        // Connecting again clears it.
        let later = two.now().saturating_add(Duration::from_secs(3600));
        two.b
            .store_oauth_tokens(
                &two.dev_b,
                "github",
                &token_set("access-9", Some("refresh-9"), later),
            )
            .await
            .unwrap();
        match two.start(&two.a, &two.dev_a).await {
            RefreshStart::Fresh(token) => assert_eq!(token.expose_secret(), "access-9"),
            other => panic!("expected the fresh token, got {other:?}"),
        }
    }
);

vault_test!(
    async fn invalid_grant_from_a_refresher_marks_it_too(backend: Backend) {
        let two = Two::new(backend).await;
        // The provider has already rotated refresh-0 away (another client).
        let provider = Rotating::new(&two.clock);
        *provider.valid.lock().unwrap() = "refresh-elsewhere".into();
        let err = two
            .a
            .fresh_token(&two.dev_a, two.dev_id, "github", &provider)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connect again"), "{err}");
        let err = two
            .b
            .fresh_token(&two.dev_b, two.dev_id, "github", &provider)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connect again"), "{err}");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        assert!(two.a.list_oauth_connections(&two.dev_a).await.unwrap()[0].needs_reconnect);
    }
);

vault_test!(
    async fn a_passing_failure_keeps_the_tokens_and_frees_the_lease(backend: Backend) {
        let two = Two::new(backend).await;
        let lease = two.lease(&two.a, &two.dev_a).await;
        two.a
            .abandon_refresh(
                &two.dev_a,
                &lease,
                RefreshFailure::Failed("provider answered 503".into()),
            )
            .await
            .unwrap();
        let info = two.b.list_oauth_connections(&two.dev_b).await.unwrap();
        assert!(!info[0].needs_reconnect);
        assert_eq!(
            info[0].last_refresh_error.as_deref(),
            Some("provider answered 503")
        );
        // Anyone may try again at once, with the same refresh token.
        let again = two.lease(&two.b, &two.dev_b).await;
        assert_eq!(again.refresh_token().expose_secret(), "refresh-0");
        let failed = two.audited("oauth.refresh").await;
        assert_eq!(failed[0].event.outcome, Outcome::Failed);
        assert_eq!(
            failed[0].event.details.get("reason").map(String::as_str),
            Some("provider answered 503")
        );
    }
);

vault_test!(
    async fn leases_are_the_users_own(backend: Backend) {
        let two = Two::new(backend).await;
        two.a
            .create_user(
                &two.admin,
                "other@example.com",
                Role::Developer,
                Some(&SecretString::from(PASSWORD)),
            )
            .await
            .unwrap();
        let other = login(&two.a, two.tenant, "other@example.com").await;
        // Another user can neither take the lease nor finish one.
        let err = two
            .a
            .begin_refresh(&other, two.dev_id, "github")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        let lease = two.lease(&two.a, &two.dev_a).await;
        let stolen = token_set("attacker", Some("attacker"), two.now());
        let err = two
            .a
            .complete_refresh(&other, &lease, &stolen)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        let err = two
            .a
            .abandon_refresh(&other, &lease, RefreshFailure::InvalidGrant)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        // Nor can a caller of another tenant, even the system.
        let elsewhere = Caller::system(TenantId::generate());
        let err = two
            .a
            .complete_refresh(&elsewhere, &lease, &stolen)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        // The system caller of the tenant (the host's job) may.
        let later = two.now().saturating_add(Duration::from_secs(3600));
        two.b
            .complete_refresh(
                &Caller::system(two.tenant),
                &lease,
                &token_set("access-1", Some("refresh-1"), later),
            )
            .await
            .unwrap();
        let denied = two
            .audited("oauth.token")
            .await
            .into_iter()
            .chain(two.audited("oauth.refresh").await)
            .filter(|r| r.event.outcome == Outcome::Denied)
            .count();
        assert_eq!(denied, 3);
    }
);

#[tokio::test]
async fn fresh_token_waits_for_another_process_at_most_one_lease() {
    let config = {
        let mut c = config();
        c.oauth_refresh_timeout = Duration::from_millis(100);
        c
    };
    let two = Two::with_config(Backend::Sqlite, config).await;
    // Process A holds the lease (the manual clock never lets it lapse).
    let lease = two.lease(&two.a, &two.dev_a).await;
    let provider = Rotating::new(&two.clock);
    let started = std::time::Instant::now();
    let err = two
        .b
        .fresh_token(&two.dev_b, two.dev_id, "github", &provider)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Contended {
                what: "the OAuth connection"
            }
        ),
        "{err}"
    );
    // About one lease lifetime of real time: 2 x 100 ms.
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
    // A finishes; B then gets its result.
    let later = two.now().saturating_add(Duration::from_secs(3600));
    two.a
        .complete_refresh(
            &two.dev_a,
            &lease,
            &token_set("access-1", Some("refresh-1"), later),
        )
        .await
        .unwrap();
    let token = two
        .b
        .fresh_token(&two.dev_b, two.dev_id, "github", &provider)
        .await
        .unwrap();
    assert_eq!(token.expose_secret(), "access-1");
}
