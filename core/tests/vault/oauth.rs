use secrets_core::error::OAuthFailure;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrets_core::oauth::TokenSet;
use secrets_core::rbac::Role;
use secrets_core::vault::{Caller, OAuthRefresher};
use secrets_core::{Error, Result, SecretString, Timestamp};

use crate::fixture::vault_test;

fn tokens(access: &str, expires_at: Timestamp) -> TokenSet {
    TokenSet::new(SecretString::from(access))
        .with_refresh_token(SecretString::from(format!("refresh-{access}")))
        .with_expires_at(expires_at)
        .with_scopes(["repo"])
}

/// A fake provider: counts refreshes, can fail or hang.
struct Provider {
    calls: AtomicUsize,
    now: Timestamp,
    mode: &'static str,
}

#[async_trait]
impl OAuthRefresher for Provider {
    async fn refresh(&self, _provider: &str, current: &TokenSet) -> Result<TokenSet> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(current.refresh_token.is_some());
        // Let concurrent callers pile up behind the single flight: each
        // must have made its first read before this refresh's outcome is
        // recorded (a caller arriving later tries again, by design), and
        // under load a spawned task can take tens of milliseconds to run.
        tokio::time::sleep(Duration::from_millis(300)).await;
        match self.mode {
            "fail" => Err(Error::InvalidInput {
                field: "provider",
                reason: "invalid_grant".into(),
            }),
            "hang" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                unreachable!()
            }
            _ => Ok(tokens(
                &format!("access-{n}"),
                self.now.saturating_add(Duration::from_secs(3600)),
            )),
        }
    }
}

vault_test!(
    async fn pkce_state_is_single_use_bound_to_the_user_and_expires(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (_, other) = fx.user("other@example.com", Role::Developer).await;
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        assert!(matches!(
            fx.vault
                .begin_oauth(&viewer, "github", "https://app/cb")
                .await,
            Err(Error::Forbidden { .. })
        ));
        let start = fx
            .vault
            .begin_oauth(&dev, "github", "https://app.example.com/cb")
            .await
            .unwrap();
        assert_eq!(start.state.len(), 36);
        // Another user cannot complete it (CSRF), and the attempt does not consume it.
        assert!(matches!(
            fx.vault.complete_oauth(&other, &start.state).await,
            Err(Error::OAuth { .. })
        ));
        let done = fx.vault.complete_oauth(&dev, &start.state).await.unwrap();
        assert_eq!(done.provider, "github");
        assert_eq!(done.redirect_uri, "https://app.example.com/cb");
        assert_eq!(done.verifier.challenge(), start.code_challenge);
        // Single use.
        assert!(matches!(
            fx.vault.complete_oauth(&dev, &start.state).await,
            Err(Error::OAuth { .. })
        ));
        // Expiry after 10 minutes.
        let late = fx
            .vault
            .begin_oauth(&dev, "github", "https://app.example.com/cb")
            .await
            .unwrap();
        fx.advance(Duration::from_secs(601));
        let err = fx
            .vault
            .complete_oauth(&dev, &late.state)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        assert!(fx.vault.complete_oauth(&dev, "not-a-uuid").await.is_err());
    }
);

vault_test!(
    async fn fresh_token_refreshes_once_for_many_callers(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let now = fx.now();
        // Valid for an hour: returned as is, no refresh.
        fx.vault
            .store_oauth_tokens(
                &dev,
                "github",
                &tokens("first", now.saturating_add(Duration::from_secs(3600))),
            )
            .await
            .unwrap();
        let provider = Arc::new(Provider {
            calls: AtomicUsize::new(0),
            now,
            mode: "ok",
        });
        let t = fx
            .vault
            .fresh_token(&dev, dev_id, "github", provider.as_ref())
            .await
            .unwrap();
        assert_eq!(t.expose_secret(), "first");
        assert_eq!(provider.calls.load(Ordering::SeqCst), 0);
        // Within 5 minutes of expiry: eight concurrent callers, one refresh.
        fx.advance(Duration::from_secs(3600 - 299));
        let provider = Arc::new(Provider {
            calls: AtomicUsize::new(0),
            now: fx.now(),
            mode: "ok",
        });
        let mut handles = Vec::new();
        for _ in 0..8 {
            let vault = fx.vault.clone();
            let dev = dev.clone();
            let provider = provider.clone();
            handles.push(tokio::spawn(async move {
                vault
                    .fresh_token(&dev, dev_id, "github", provider.as_ref())
                    .await
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap().unwrap().expose_secret(), "access-1");
        }
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1, "single flight");
        // Another user cannot take this user's token.
        let (_, other) = fx.user("other@example.com", Role::Developer).await;
        assert!(matches!(
            fx.vault
                .fresh_token(&other, dev_id, "github", provider.as_ref())
                .await,
            Err(Error::Forbidden { .. })
        ));
        // The system caller (the host's job) can.
        fx.vault
            .fresh_token(
                &Caller::system(fx.tenant),
                dev_id,
                "github",
                provider.as_ref(),
            )
            .await
            .unwrap();
    }
);

vault_test!(
    config = {
let mut c = crate::fixture::config();
// Longer than the provider's 300 ms pile-up, short for the hung refresh.
c.oauth_refresh_timeout = Duration::from_secs(1);
c
};
    async fn failed_and_hung_refreshes_are_recorded_and_bounded(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let now = fx.now();
        fx.vault
            .store_oauth_tokens(&dev, "github", &tokens("old", now))
            .await
            .unwrap();
        // Four callers at once against a failing provider: one refresh, and the
        // failure is shared instead of retried at once.
        let failing = Arc::new(Provider {
            calls: AtomicUsize::new(0),
            now,
            mode: "fail",
        });
        let mut handles = Vec::new();
        for _ in 0..4 {
            let (vault, dev, failing) = (fx.vault.clone(), dev.clone(), failing.clone());
            handles.push(tokio::spawn(async move {
                vault
                    .fresh_token(&dev, dev_id, "github", failing.as_ref())
                    .await
            }));
        }
        for h in handles {
            assert!(matches!(h.await.unwrap(), Err(Error::OAuth { .. })));
        }
        assert_eq!(failing.calls.load(Ordering::SeqCst), 1);
        let err = fx
            .vault
            .fresh_token(&dev, dev_id, "github", failing.as_ref())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::OAuth { reason: OAuthFailure::RefreshFailed, detail: Some(d) } if d.contains("invalid_grant")),
            "{err}"
        );
        let info = fx.vault.list_oauth_connections(&dev).await.unwrap();
        assert!(
            info[0]
                .last_refresh_error
                .as_deref()
                .unwrap()
                .contains("invalid_grant")
        );
        let hanging = Provider {
            calls: AtomicUsize::new(0),
            now,
            mode: "hang",
        };
        let err = fx
            .vault
            .fresh_token(&dev, dev_id, "github", &hanging)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        // Disconnect deletes the tokens.
        fx.vault.disconnect_oauth(&dev, "github").await.unwrap();
        assert!(matches!(
            fx.vault
                .fresh_token(&dev, dev_id, "github", failing.as_ref())
                .await,
            Err(Error::OAuth { .. })
        ));
        assert!(
            fx.vault
                .list_oauth_connections(&dev)
                .await
                .unwrap()
                .is_empty()
        );
    }
);

// A zero refresh timeout would make every refresh lease lapse at once, so
// concurrent callers would all present the same refresh token: refused.
#[tokio::test]
async fn a_refresh_timeout_under_100_ms_is_refused() {
    use secrets_core::crypto::{KeyRing, MasterKey};
    use secrets_core::store::MemoryStore;
    let mut config = crate::fixture::config();
    config.oauth_refresh_timeout = Duration::ZERO;
    let r = secrets_core::vault::Vault::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new(MasterKey::from_bytes(&[7; 32]).unwrap())),
        Arc::new(secrets_core::SystemClock),
        config,
    )
    .await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidInput {
                field: "oauth_refresh_timeout",
                ..
            })
        ),
        "{r:?}"
    );
}
