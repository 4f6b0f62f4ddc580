//! Attacks through webhooks, OAuth and the deploy gate: endpoint URLs,
//! redirect URIs, inbound replays, leaked configuration detail, gate
//! overrides, lost token sets (attacks 10-13, 15, 17 for `fresh_token`,
//! and 20).

use super::*;
#[allow(unused_imports)]
use secrets_core::error::WebhookRejection;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use secrets_core::audit::{AuditLinker, Outcome};
use secrets_core::gate::{Finding, LintResult, Profile, Severity};
use secrets_core::oauth::TokenSet;
use secrets_core::store::{Batch, Change, Kind, ListQuery, Row, Tenant};
use secrets_core::vault::OAuthRefresher;
use secrets_core::vault::SourceStyle;
use secrets_core::webhook::{self, WebhookSecret, WebhookSigningKey, sign_github};
use secrets_core::{Clock, Error, Result};

/// The headers of a signed message, as a receiver's framework hands them over.
fn headers(signed: &webhook::SignedHeaders) -> Vec<(String, String)> {
    signed
        .pairs()
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn borrowed(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

impl Fx {
    /// Registers an inbound Standard Webhooks source with a fresh secret.
    async fn inbound_source(&self, source: &str) -> WebhookSecret {
        let secret = WebhookSecret::generate().unwrap();
        self.vault
            .register_webhook_source(
                &self.admin,
                source,
                SourceStyle::Standard,
                secret.to_text().expose_secret(),
            )
            .await
            .unwrap();
        secret
    }
}

/// The headers of a GitHub delivery.
fn github(delivery: &str, signature: &str) -> Vec<(String, String)> {
    vec![
        ("X-GitHub-Delivery".to_owned(), delivery.to_owned()),
        ("X-Hub-Signature-256".to_owned(), signature.to_owned()),
    ]
}

// --- 10. Webhook endpoint URLs -------------------------------------------

vault_test!(
    async fn endpoint_urls_are_parsed_not_prefix_matched(fx) {
        for bad in [
            "http://localhost.evil.example/",
            "http://localhost@evil.example/",
            "http://127.0.0.1@10.0.0.5/",
            "http://127.0.0.1.nip.io/",
            "http://localhost:80@evil.example/hook",
            "https://",
            "https:///path",
            "https://user:pass@hooks.example.com/in",
            "https://@hooks.example.com/in",
            "http://hooks.example.com/in",
            "http://10.0.0.5/",
            "http://[::2]/",
            "ftp://hooks.example.com/",
            "javascript:alert(1)",
            "hooks.example.com/in",
            "https://hooks.example.com/in path",
        ] {
            let err = fx
                .vault
                .register_webhook_endpoint(&fx.admin, bad, "attack")
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "url", .. }),
                "{bad}: {err}"
            );
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
        assert!(matches!(
            fx.vault.register_webhook_endpoint(&fx.admin, &long, "x").await,
            Err(Error::InvalidInput { field: "url", .. })
        ));
        for good in [
            "https://hooks.example.com/in",
            "HTTPS://Hooks.Example.com:8443/in?x=1",
            "http://localhost:8080/hook",
            "http://LOCALHOST/hook",
            "http://127.0.0.1/hook",
            "http://127.8.9.10:9000/hook",
            "http://[::1]:9000/hook",
        ] {
            fx.vault
                .register_webhook_endpoint(&fx.admin, good, "ok")
                .await
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        assert_eq!(
            fx.vault.list_webhook_endpoints(&fx.admin).await.unwrap().len(),
            7
        );
    }
);

// --- 11. OAuth redirect URIs ---------------------------------------------

vault_test!(
    async fn oauth_redirect_uris_are_web_urls(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        for bad in [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "not a uri",
            "https://app.example/cb#frag",
            "https://user@app.example/cb",
            "http://localhost@evil.example/cb",
            "http://localhost.evil.example/cb",
            "http://app.example/cb",
            "https:///cb",
            "file:///etc/passwd",
            "com.example.app:/oauth2redirect",
            "/cb",
            "",
        ] {
            let err = fx
                .vault
                .begin_oauth(&dev, "github", bad)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { field: "redirect_uri", .. }),
                "{bad}: {err}"
            );
        }
        for good in [
            "https://app.example.com/oauth/callback?x=1",
            "http://127.0.0.1:53117/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            fx.vault
                .begin_oauth(&dev, "github", good)
                .await
                .unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }
);

// --- 12. Inbound replays ----------------------------------------------------

vault_test!(
    async fn a_message_is_not_accepted_again_after_a_prune_in_its_last_second(fx) {
        let secret = fx.inbound_source("billing").await;
        let t = fx.now().unix_seconds();
        let signed = webhook::sign(&[&secret], "msg_edge", t, b"{\"paid\":1}").unwrap();
        let h = headers(&signed);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{\"paid\":1}", None)
            .await
            .unwrap();
        // The last millisecond the timestamp check still accepts (tolerance
        // 300 s, compared in whole seconds), and maintenance runs then.
        fx.advance(Duration::from_millis(300_999));
        fx.vault.prune(&Caller::system(fx.tenant)).await.unwrap();
        let err = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{\"paid\":1}", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Webhook { reason: WebhookRejection::Replayed }),
            "{err}"
        );
        // One millisecond later the timestamp itself is refused, and the id
        // may go.
        fx.advance(Duration::from_millis(1));
        fx.vault.prune(&Caller::system(fx.tenant)).await.unwrap();
        let err = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{\"paid\":1}", None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Webhook { reason: WebhookRejection::TimestampTooOld }),
            "{err}"
        );
        let allowed = fx
            .audited("webhook.receive")
            .await
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Allowed)
            .count();
        assert_eq!(allowed, 1);
    }
);

vault_test!(
    async fn a_message_under_the_previous_secret_is_accepted_once(fx) {
        // Mid-rotation: the sender still signs with the old secret.
        let old = fx.inbound_source("billing").await;
        let new = WebhookSecret::generate().unwrap();
        fx.vault
            .rotate_webhook_source(
                &fx.admin,
                "billing",
                new.to_text().expose_secret(),
                Duration::from_secs(3600),
            )
            .await
            .unwrap();
        let signed = webhook::sign(&[&old], "msg_rot", fx.now().unix_seconds(), b"{}").unwrap();
        let h = headers(&signed);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
            .await
            .unwrap();
        // Again, and re-signed with the new secret (the same id): replays.
        let resigned = webhook::sign(&[&new], "msg_rot", fx.now().unix_seconds(), b"{}").unwrap();
        for h in [h, headers(&resigned)] {
            let err = fx
                .vault
                .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::Webhook { reason: WebhookRejection::Replayed }),
                "{err}"
            );
        }
        let allowed = fx
            .audited("webhook.receive")
            .await
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Allowed)
            .count();
        assert_eq!(allowed, 1);
    }
);

const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

vault_test!(
    async fn a_github_delivery_is_accepted_once_and_audited(fx) {
        fx.vault
            .register_webhook_source(
                &fx.admin,
                "github",
                SourceStyle::Github,
                "It's a Secret to Everybody",
            )
            .await
            .unwrap();
        let body = br#"{"action":"opened"}"#;
        let sig = sign_github(body, b"It's a Secret to Everybody");
        let h = github(DELIVERY, &sig);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), body, Some("192.0.2.9"))
            .await
            .unwrap();
        // The captured delivery, replayed, even a month less a second later
        // and after maintenance.
        fx.advance(Duration::from_secs(30 * 24 * 3600 - 1));
        fx.vault.prune(&Caller::system(fx.tenant)).await.unwrap();
        let err = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), body, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Webhook { reason: WebhookRejection::ReplayedDelivery }),
            "{err}"
        );
        // Without a delivery id there is no replay protection: refused.
        let err = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&github("", &sig)), body, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Webhook { reason: WebhookRejection::MissingDelivery }),
            "{err}"
        );
        let events = fx.audited("webhook.receive").await;
        let outcomes: Vec<_> = events.iter().map(|r| r.event.outcome).collect();
        assert_eq!(outcomes, [Outcome::Allowed, Outcome::Denied, Outcome::Denied]);
        assert_eq!(events[0].event.details["style"], "github");
        assert_eq!(events[0].event.details["message_id"], DELIVERY);
        assert_eq!(events[0].event.source.as_deref(), Some("192.0.2.9"));
    }
);

// --- 13. What an unauthenticated sender learns -------------------------------

vault_test!(
    async fn senders_get_one_generic_failure_and_the_audit_log_says_which(fx) {
        let secret = fx.inbound_source("billing").await;
        // Sources of the other styles: a delivery in the Standard `v1` style
        // is no more use to them than to an unknown source.
        fx.vault
            .register_webhook_source(&fx.admin, "gh", SourceStyle::Github, "It's a Secret to Everybody")
            .await
            .unwrap();
        let partner = WebhookSigningKey::generate().unwrap();
        fx.vault
            .register_webhook_source(
                &fx.admin,
                "partner",
                SourceStyle::StandardV1a,
                &partner.public_key().to_text(),
            )
            .await
            .unwrap();
        let forged = WebhookSecret::generate().unwrap();
        let signed = webhook::sign(&[&forged], "msg_x", fx.now().unix_seconds(), b"{}").unwrap();
        let h = headers(&signed);
        let mut texts = Vec::new();
        for source in ["nosuch", "gh", "partner", "billing", "Not/A/Source"] {
            let err = fx
                .vault
                .verify_inbound_webhook(fx.tenant, source, &borrowed(&h), b"{}", Some("198.51.100.7"))
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Webhook { .. }), "{source}: {err}");
            texts.push(err.to_string());
        }
        assert!(texts.iter().all(|t| *t == texts[0]), "{texts:?}");
        for t in &texts {
            for leak in ["webhook_source", "github", "whsec", "v1a", "partner", "nosuch", "style"] {
                assert!(!t.contains(leak), "{t} leaks {leak}");
            }
        }
        // A stale message gets the same answer whatever the source.
        let stale = webhook::sign(&[&secret], "msg_s", fx.now().unix_seconds() - 3600, b"{}").unwrap();
        let hs = headers(&stale);
        let mut stale_texts = Vec::new();
        for source in ["billing", "nosuch", "gh", "partner"] {
            stale_texts.push(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, source, &borrowed(&hs), b"{}", None)
                    .await
                    .unwrap_err()
                    .to_string(),
            );
        }
        assert!(stale_texts.iter().all(|t| *t == stale_texts[0]), "{stale_texts:?}");
        // So does a `v1a`-only delivery, stale or not, and a header with
        // only unknown versions.
        for ts in [fx.now().unix_seconds(), fx.now().unix_seconds() - 3600] {
            let attacker = WebhookSigningKey::generate().unwrap();
            let v1a = webhook::sign_asymmetric(&[&attacker], "msg_a", ts, b"{}").unwrap();
            let mut unknown = headers(&v1a);
            unknown[2].1 = "v2,abc".into();
            for h in [headers(&v1a), unknown] {
                let mut answers = Vec::new();
                for source in ["billing", "nosuch", "gh", "partner"] {
                    answers.push(
                        fx.vault
                            .verify_inbound_webhook(fx.tenant, source, &borrowed(&h), b"{}", None)
                            .await
                            .unwrap_err()
                            .to_string(),
                    );
                }
                assert!(answers.iter().all(|t| *t == answers[0]), "{answers:?}");
            }
        }

        // GitHub style: the same cases, one answer, and the same as above.
        let sig = sign_github(b"{}", b"guessed");
        let mut gh = Vec::new();
        for source in ["gh-nosuch", "billing", "partner", "gh"] {
            let err = fx
                .vault
                .verify_inbound_webhook(fx.tenant, source, &borrowed(&github(DELIVERY, &sig)), b"{}", None)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::Webhook { .. }), "{source}: {err}");
            gh.push(err.to_string());
        }
        assert!(gh.iter().all(|t| *t == texts[0]), "{gh:?}");

        // The host's audit log tells the cases apart.
        let denied: Vec<_> = fx
            .audited("webhook.receive")
            .await
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Denied)
            .map(|r| r.event.details.get("reason").cloned().unwrap_or_default())
            .collect();
        for want in [
            "unknown source",
            "signed in another style than the source's",
            "no matching signature",
        ] {
            assert!(
                denied.iter().filter(|r| r.as_str() == want).count() >= 2,
                "{want}: {denied:?}"
            );
        }
    }
);

// --- 15. Gate overrides --------------------------------------------------

fn critical() -> Vec<Finding> {
    vec![Finding::new(
        "CVE-2026-0001",
        "libfoo",
        Severity::Critical,
        "remote code execution",
    )]
}

vault_test!(
    async fn only_a_recorded_hold_can_be_overridden_and_only_once(fx) {
        let lints: [LintResult; 0] = [];
        // Never evaluated.
        let err = fx
            .vault
            .override_gate(&fx.admin, "web-1", "trust me")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        // Evaluated, not held.
        fx.vault
            .evaluate_deploy(&fx.admin, "web-2", Profile::Standard, &critical(), &lints)
            .await
            .unwrap();
        let err = fx
            .vault
            .override_gate(&fx.admin, "web-2", "trust me")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        // Held: one override, not two.
        let v = fx
            .vault
            .evaluate_deploy(&fx.admin, "web-3", Profile::Hardened, &critical(), &lints)
            .await
            .unwrap();
        assert!(v.is_hold());
        fx.vault
            .override_gate(&fx.admin, "web-3", "not reachable in our build")
            .await
            .unwrap();
        let err = fx
            .vault
            .override_gate(&fx.admin, "web-3", "again")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        // A new evaluation that holds again needs a new override.
        fx.vault
            .evaluate_deploy(&fx.admin, "web-3", Profile::Hardened, &critical(), &lints)
            .await
            .unwrap();
        fx.vault
            .override_gate(&fx.admin, "web-3", "still not reachable")
            .await
            .unwrap();

        let overrides = fx.audited("gate.override").await;
        let outcomes: Vec<_> = overrides.iter().map(|r| r.event.outcome).collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Denied,
                Outcome::Denied,
                Outcome::Allowed,
                Outcome::Denied,
                Outcome::Allowed
            ]
        );
    }
);

vault_test!(
    async fn concurrent_overrides_lift_a_hold_once(fx) {
        let lints: [LintResult; 0] = [];
        fx.vault
            .evaluate_deploy(&fx.admin, "web-9", Profile::Hardened, &critical(), &lints)
            .await
            .unwrap();
        // The evaluation is a stored row of its own kind.
        assert!(
            fx.store
                .get(fx.tenant, Kind::DeployEvaluation, "web-9")
                .await
                .unwrap()
                .is_some()
        );
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let vault = fx.vault.clone();
                let admin = fx.admin.clone();
                tokio::spawn(async move {
                    vault
                        .override_gate(&admin, "web-9", &format!("reviewer {i} says fine"))
                        .await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(Error::Forbidden { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 1);
        let overrides = fx.audited("gate.override").await;
        assert_eq!(overrides.len(), 4);
        assert_eq!(
            overrides
                .iter()
                .filter(|r| r.event.outcome == Outcome::Allowed)
                .count(),
            1
        );
    }
);

// --- 17. fresh_token for another user's connection --------------------------

fn token_set(access: &str, refresh: &str, expires_at: Timestamp) -> TokenSet {
    TokenSet::new(SecretString::from(access))
        .with_refresh_token(SecretString::from(refresh))
        .with_expires_at(expires_at)
        .with_scopes(["repo"])
}

/// A provider that rotates refresh tokens: each one works once, and using a
/// dead one is counted (a real provider would revoke the grant).
struct Rotating {
    clock: ManualClock,
    valid: Mutex<String>,
    calls: AtomicUsize,
    dead_uses: AtomicUsize,
}

impl Rotating {
    fn new(clock: &ManualClock, first: &str) -> Self {
        Self {
            clock: clock.clone(),
            valid: Mutex::new(first.to_owned()),
            calls: AtomicUsize::new(0),
            dead_uses: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl OAuthRefresher for Rotating {
    async fn refresh(&self, _provider: &str, current: &TokenSet) -> Result<TokenSet> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let presented = current
            .refresh_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default();
        let mut valid = self.valid.lock().unwrap();
        if presented != *valid {
            self.dead_uses.fetch_add(1, Ordering::SeqCst);
            return Err(Error::invalid("refresh_token", "invalid_grant"));
        }
        *valid = format!("refresh-{n}");
        Ok(token_set(
            &format!("access-{n}"),
            &valid,
            self.clock.now().saturating_add(Duration::from_secs(3600)),
        ))
    }
}

vault_test!(
    async fn fresh_token_for_another_users_connection_is_an_audited_refusal(fx) {
        let (victim_id, victim) = fx.user("victim@example.com", Role::Developer).await;
        let (_, attacker) = fx.user("attacker@example.com", Role::Developer).await;
        let far = fx.now().saturating_add(Duration::from_secs(3600));
        fx.vault
            .store_oauth_tokens(&victim, "github", &token_set("at", "rt", far))
            .await
            .unwrap();
        let provider = Rotating::new(&fx.clock, "rt");
        let err = fx
            .vault
            .fresh_token(&attacker, victim_id, "github", &provider)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        let denied = fx.audited("oauth.token").await;
        assert_eq!(denied.len(), 1);
        assert_eq!(denied[0].event.outcome, Outcome::Denied);
        assert_eq!(denied[0].event.actor, *attacker.actor());
    }
);

// --- 20. A rotated token set is never dropped -------------------------------

/// Wraps a store and interferes with the write that stores a refreshed
/// token set: `fail` makes it fail outright (a full disk, a lost
/// connection); `race` runs a concurrent writer of the connection row (a
/// real Vault call, so the row it writes is properly tagged) just before it
/// (a genuine version conflict).
#[derive(Debug)]
struct Interfering {
    inner: Arc<dyn Store>,
    fail: AtomicUsize,
    race: std::sync::Mutex<Option<Racer>>,
}

/// A concurrent write, run once.
struct Racer(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>);

impl std::fmt::Debug for Racer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Racer")
    }
}

impl Interfering {
    fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            fail: AtomicUsize::new(0),
            race: std::sync::Mutex::new(None),
        }
    }

    fn take(counter: &AtomicUsize) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn stores_refreshed_tokens(batch: &Batch) -> Option<&Row> {
    if batch.audit.action != "oauth.refresh" || batch.audit.outcome != Outcome::Allowed {
        return None;
    }
    batch.changes.iter().find_map(|c| match c {
        Change::Update { row, .. } if row.kind == Kind::OAuthConnection => Some(row),
        _ => None,
    })
}

#[async_trait]
impl Store for Interfering {
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.inner.tenant(id).await
    }
    async fn tenants(&self, after: Option<TenantId>, limit: usize) -> Result<Vec<Tenant>> {
        self.inner.tenants(after, limit).await
    }
    async fn directory_tenants(
        &self,
        after: Option<TenantId>,
        limit: usize,
    ) -> Result<Vec<TenantId>> {
        self.inner.directory_tenants(after, limit).await
    }
    async fn directory_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<TenantId>> {
        self.inner.directory_lookup(kind, lookup).await
    }
    async fn get(&self, tenant: TenantId, kind: Kind, id: &str) -> Result<Option<Row>> {
        self.inner.get(tenant, kind, id).await
    }
    async fn get_by_lookup(
        &self,
        tenant: TenantId,
        kind: Kind,
        lookup: &[u8],
    ) -> Result<Option<Row>> {
        self.inner.get_by_lookup(tenant, kind, lookup).await
    }
    async fn find_by_lookup(&self, kind: Kind, lookup: &[u8]) -> Result<Option<(TenantId, Row)>> {
        self.inner.find_by_lookup(kind, lookup).await
    }
    async fn list(&self, tenant: TenantId, query: &ListQuery) -> Result<Vec<Row>> {
        self.inner.list(tenant, query).await
    }
    async fn apply(
        &self,
        tenant: TenantId,
        batch: Batch,
        linker: &Arc<dyn AuditLinker>,
    ) -> Result<AuditRecord> {
        if stores_refreshed_tokens(&batch).is_some() {
            if Self::take(&self.fail) {
                return Err(Error::Storage {
                    message: "injected: the disk is full".into(),
                    source: None,
                });
            }
            let racer = self.race.lock().unwrap().take();
            if let Some(racer) = racer {
                racer.0.await;
            }
        }
        self.inner.apply(tenant, batch, linker).await
    }
    async fn audit_events(&self, tenant: TenantId, query: &AuditQuery) -> Result<Vec<AuditRecord>> {
        self.inner.audit_events(tenant, query).await
    }
    async fn erase_tenant(&self, tenant: TenantId) -> Result<()> {
        self.inner.erase_tenant(tenant).await
    }
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta(name).await
    }
    async fn set_meta(&self, name: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.inner.set_meta(name, value, expected).await
    }
}

impl Fx {
    /// A second vault over the same store and keys, through `Interfering`.
    async fn interfered(&self) -> (Vault, Arc<Interfering>) {
        let store = Arc::new(Interfering::new(self.store.clone()));
        let vault = Vault::new(
            store.clone(),
            self.ring.clone(),
            Arc::new(self.clock.clone()),
            config(),
        )
        .await
        .unwrap();
        (vault, store)
    }
}

vault_test!(
    async fn a_refreshed_token_set_that_cannot_be_stored_is_never_dropped_silently(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let soon = fx.now().saturating_add(Duration::from_secs(60));
        fx.vault
            .store_oauth_tokens(&dev, "github", &token_set("at-0", "rt-0", soon))
            .await
            .unwrap();
        let (vault, store) = fx.interfered().await;
        let provider = Rotating::new(&fx.clock, "rt-0");
        store.fail.store(1, Ordering::SeqCst);
        let err = vault
            .fresh_token(&dev, dev_id, "github", &provider)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connect again"), "{err}");
        // The next call must not present the refresh token the provider
        // has already rotated away.
        let err = vault
            .fresh_token(&dev, dev_id, "github", &provider)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("connect again"), "{err}");
        assert_eq!(provider.dead_uses.load(Ordering::SeqCst), 0);
        assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
        // The host sees it, and so does the audit log.
        let listed = vault.list_oauth_connections(&dev).await.unwrap();
        assert!(listed[0].needs_reconnect);
        let failed = fx
            .audited("oauth.refresh")
            .await
            .into_iter()
            .filter(|r| r.event.outcome == Outcome::Failed)
            .count();
        assert_eq!(failed, 1);
        // Connecting again clears it.
        let later = fx.now().saturating_add(Duration::from_secs(3600));
        vault
            .store_oauth_tokens(&dev, "github", &token_set("at-9", "rt-9", later))
            .await
            .unwrap();
        assert!(!vault.list_oauth_connections(&dev).await.unwrap()[0].needs_reconnect);
        let at = vault
            .fresh_token(&dev, dev_id, "github", &provider)
            .await
            .unwrap();
        assert_eq!(at.expose_secret(), "at-9");
    }
);

vault_test!(
    async fn a_refreshed_token_set_survives_a_concurrent_write(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        let soon = fx.now().saturating_add(Duration::from_secs(60));
        fx.vault
            .store_oauth_tokens(&dev, "github", &token_set("at-0", "rt-0", soon))
            .await
            .unwrap();
        let (vault, store) = fx.interfered().await;
        let provider = Rotating::new(&fx.clock, "rt-0");
        // Another writer stores the same set again meanwhile.
        let (racing, d) = (fx.vault.clone(), dev.clone());
        let same = token_set("at-0", "rt-0", soon);
        *store.race.lock().unwrap() = Some(Racer(Box::pin(async move {
            racing.store_oauth_tokens(&d, "github", &same).await.unwrap();
        })));
        let at = vault
            .fresh_token(&dev, dev_id, "github", &provider)
            .await
            .unwrap();
        assert_eq!(at.expose_secret(), "access-1");
        // The rotated set was stored: the next refresh presents it.
        fx.advance(Duration::from_secs(3600));
        let at = vault
            .fresh_token(&dev, dev_id, "github", &provider)
            .await
            .unwrap();
        assert_eq!(at.expose_secret(), "access-2");
        assert_eq!(provider.dead_uses.load(Ordering::SeqCst), 0);
    }
);
