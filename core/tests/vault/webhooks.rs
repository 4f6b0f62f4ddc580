//! Webhooks through the Vault: outbound endpoints (`v1` and `v1a`), their
//! rotation and signing permissions, and typed inbound sources.

use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::Outcome;
use secrets_core::error::WebhookRejection;
use secrets_core::rbac::Role;
use secrets_core::vault::{Caller, SourceStyle};
use secrets_core::webhook::{
    self, SignatureVersion, SignedHeaders, Verifier, WebhookPublicKey, WebhookSecret,
    WebhookSigningKey, sign_github,
};

use crate::fixture::{Fx, vault_test};

/// The signed headers, owned, as a receiver's framework hands them over.
fn owned(signed: &SignedHeaders) -> Vec<(String, String)> {
    signed
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn borrowed(h: &[(String, String)]) -> Vec<(&str, &str)> {
    h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn rejection(result: secrets_core::Result<impl std::fmt::Debug>) -> WebhookRejection {
    match result {
        Err(Error::Webhook { reason }) => reason,
        other => panic!("expected a webhook rejection, got {other:?}"),
    }
}

fn invalid(result: secrets_core::Result<()>) -> (&'static str, String) {
    match result {
        Err(Error::InvalidInput { field, reason }) => (field, reason),
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

fn github_headers(delivery: &str, signature: &str) -> Vec<(String, String)> {
    vec![
        ("X-GitHub-Delivery".to_owned(), delivery.to_owned()),
        ("X-Hub-Signature-256".to_owned(), signature.to_owned()),
        ("X-GitHub-Event".to_owned(), "push".to_owned()),
    ]
}

impl Fx {
    /// Registers a Standard Webhooks (`v1`) source with a fresh secret.
    async fn standard_source(&self, id: &str) -> WebhookSecret {
        let secret = WebhookSecret::generate().unwrap();
        self.vault
            .register_webhook_source(
                &self.admin,
                id,
                SourceStyle::Standard,
                secret.to_text().expose_secret(),
            )
            .await
            .unwrap();
        secret
    }

    /// The `webhook.receive` events with this outcome.
    async fn receives(&self, outcome: Outcome) -> usize {
        self.audited("webhook.receive")
            .await
            .iter()
            .filter(|r| r.event.outcome == outcome)
            .count()
    }
}

// --- Outbound ---------------------------------------------------------------

vault_test!(
    /// A backslash reads differently to different parsers: the WHATWG
    /// parser (the `url` crate, the host's HTTP client) sends
    /// `https://evil.example\@hooks.example.com/` to `evil.example`, while
    /// Python's `urllib.parse` reads the host `hooks.example.com`, so a
    /// reviewer or an allowlist written in Python would be misled.
    async fn endpoint_urls_with_a_backslash_are_refused(fx) {
        for bad in [
            "https://evil.example\\@hooks.example.com/",
            "https://hooks.example.com\\evil.example/in",
            "http://localhost\\@evil.example/",
            "https://hooks.example.com/in\\x",
            "https:\\\\hooks.example.com/in",
        ] {
            let err = fx
                .vault
                .register_webhook_endpoint(&fx.admin, bad, "attack")
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field: "url", reason } if reason.contains("backslash")),
                "{bad}: {err}"
            );
        }
        assert!(
            fx.vault
                .register_webhook_endpoint(&fx.admin, "https://hooks.example.com/in%5Cx", "ok")
                .await
                .is_ok()
        );
    }
);

vault_test!(
    async fn outbound_endpoints_sign_and_rotate(fx) {
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        assert!(matches!(
            fx.vault
                .register_webhook_endpoint(&viewer, "https://hooks.example.com/in", "x")
                .await,
            Err(Error::Forbidden { .. })
        ));
        assert!(
            fx.vault
                .register_webhook_endpoint(&fx.admin, "ftp://example.com", "x")
                .await
                .is_err()
        );
        let ep = fx
            .vault
            .register_webhook_endpoint(&fx.admin, "https://hooks.example.com/in", "deploys")
            .await
            .unwrap();
        let secret_text = ep.secret.expose_secret().to_owned();
        assert!(secret_text.starts_with("whsec_"));
        assert!(!format!("{ep:?}").contains(&secret_text));
        let receiver = WebhookSecret::parse(&secret_text).unwrap();

        let system = Caller::system(fx.tenant);
        let signed = fx
            .vault
            .sign_webhook(&system, &ep.id, "msg_1", br#"{"ok":true}"#)
            .await
            .unwrap();
        let h = owned(&signed);
        Verifier::default()
            .verify(&borrowed(&h), br#"{"ok":true}"#, &[&receiver], fx.now())
            .unwrap();

        // Rotation: both secrets sign during the grace period, then only the new.
        let new_text = fx
            .vault
            .rotate_webhook_secret(&fx.admin, &ep.id, Duration::from_secs(3600))
            .await
            .unwrap();
        let new_secret = WebhookSecret::parse(new_text.expose_secret()).unwrap();
        let signed = fx
            .vault
            .sign_webhook(&system, &ep.id, "msg_2", b"{}")
            .await
            .unwrap();
        assert_eq!(signed.signature.split(' ').count(), 2);
        for s in [&receiver, &new_secret] {
            let h = owned(&signed);
            Verifier::default()
                .verify(&borrowed(&h), b"{}", &[s], fx.now())
                .unwrap();
        }
        let listed = fx.vault.list_webhook_endpoints(&fx.admin).await.unwrap();
        assert!(listed[0].previous_secret_until.is_some());
        assert_eq!(listed[0].version, SignatureVersion::V1);
        assert_eq!(listed[0].public_key, None);
        fx.advance(Duration::from_secs(3601));
        let signed = fx
            .vault
            .sign_webhook(&system, &ep.id, "msg_3", b"{}")
            .await
            .unwrap();
        assert_eq!(signed.signature.split(' ').count(), 1);
        // A v1 endpoint has no signing key to rotate.
        let (field, reason) = invalid(
            fx.vault
                .rotate_webhook_signing_key(&fx.admin, &ep.id, Duration::ZERO)
                .await
                .map(drop),
        );
        assert_eq!(field, "endpoint");
        assert!(reason.contains("rotate_webhook_secret"), "{reason}");
        fx.vault
            .delete_webhook_endpoint(&fx.admin, &ep.id)
            .await
            .unwrap();
        assert!(matches!(
            fx.vault.sign_webhook(&system, &ep.id, "msg_4", b"{}").await,
            Err(Error::NotFound { .. })
        ));
    }
);

vault_test!(
    async fn asymmetric_endpoints_sign_v1a_that_receivers_verify_with_the_public_key(fx) {
        let ep = fx
            .vault
            .register_asymmetric_webhook_endpoint(&fx.admin, "https://hooks.example.com/in", "x")
            .await
            .unwrap();
        let listed = fx.vault.list_webhook_endpoints(&fx.admin).await.unwrap();
        assert_eq!(listed[0].version, SignatureVersion::V1a);
        assert_eq!(listed[0].public_key, Some(ep.public_key.to_text()));
        // What a receiver is given parses back to the same key.
        let receiver = WebhookPublicKey::parse(&ep.public_key.to_text()).unwrap();

        let payload = br#"{"type":"deploy.finished"}"#;
        let signed = fx
            .vault
            .sign_webhook(&fx.admin, &ep.id, "msg_1", payload)
            .await
            .unwrap();
        assert!(signed.signature.starts_with("v1a,"), "{}", signed.signature);
        assert_eq!(signed.signature.len(), 4 + 88);
        let h = owned(&signed);
        webhook::verify_asymmetric(&borrowed(&h), payload, &[&receiver], fx.now()).unwrap();
        assert_eq!(
            rejection(webhook::verify_asymmetric(&borrowed(&h), b"{}", &[&receiver], fx.now())),
            WebhookRejection::NoMatchingSignature
        );
        // Algorithm confusion: the public key, known to all, as an HMAC
        // secret verifies nothing, and a v1a header offers no v1 entry.
        let as_hmac = WebhookSecret::from_bytes(receiver.as_bytes()).unwrap();
        assert_eq!(
            rejection(webhook::verify(&borrowed(&h), payload, &[&as_hmac], fx.now())),
            WebhookRejection::NoSupportedSignature
        );

        // Rotation with a grace period: both keys sign, each verifies.
        let new_public = fx
            .vault
            .rotate_webhook_signing_key(&fx.admin, &ep.id, Duration::from_secs(600))
            .await
            .unwrap();
        assert_ne!(new_public, receiver);
        let signed = fx
            .vault
            .sign_webhook(&fx.admin, &ep.id, "msg_2", payload)
            .await
            .unwrap();
        assert_eq!(signed.signature.split(' ').count(), 2);
        let h = owned(&signed);
        for key in [&receiver, &new_public] {
            webhook::verify_asymmetric(&borrowed(&h), payload, &[key], fx.now()).unwrap();
        }
        let listed = fx.vault.list_webhook_endpoints(&fx.admin).await.unwrap();
        assert_eq!(listed[0].public_key, Some(new_public.to_text()));
        fx.advance(Duration::from_secs(601));
        let signed = fx
            .vault
            .sign_webhook(&fx.admin, &ep.id, "msg_3", payload)
            .await
            .unwrap();
        let h = owned(&signed);
        assert_eq!(
            rejection(webhook::verify_asymmetric(&borrowed(&h), payload, &[&receiver], fx.now())),
            WebhookRejection::NoMatchingSignature
        );
        webhook::verify_asymmetric(&borrowed(&h), payload, &[&new_public], fx.now()).unwrap();

        // A v1a endpoint has no shared secret to reveal.
        let (field, reason) = invalid(
            fx.vault
                .rotate_webhook_secret(&fx.admin, &ep.id, Duration::ZERO)
                .await
                .map(drop),
        );
        assert_eq!(field, "endpoint");
        assert!(reason.contains("rotate_webhook_signing_key"), "{reason}");
        // The signing key never appears in an output or the audit log.
        let seed_text = format!("{ep:?}{listed:?}");
        assert!(!seed_text.contains("whsk_"));
        for event in fx.audit().await {
            assert!(!format!("{event:?}").contains("whsk_"));
        }
    }
);

vault_test!(
    async fn signing_and_rotating_are_admin_permissions_and_denials_are_audited(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        // A Developer still manages endpoints.
        let ep = fx
            .vault
            .register_webhook_endpoint(&dev, "https://hooks.example.com/in", "x")
            .await
            .unwrap();
        let v1a = fx
            .vault
            .register_asymmetric_webhook_endpoint(&dev, "https://hooks.example.com/b", "y")
            .await
            .unwrap();
        assert_eq!(fx.vault.list_webhook_endpoints(&dev).await.unwrap().len(), 2);

        // ... but signs nothing as the platform, and rotates no secret.
        let err = fx
            .vault
            .sign_webhook(&dev, &ep.id, "msg_1", b"{}")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Forbidden { action } if action == "webhooks:sign"),
            "{err}"
        );
        let err = fx
            .vault
            .rotate_webhook_secret(&dev, &ep.id, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Forbidden { action } if action == "webhooks:rotate"),
            "{err}"
        );
        let err = fx
            .vault
            .rotate_webhook_signing_key(&dev, &v1a.id, Duration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Forbidden { .. }), "{err}");
        for (action, permission, count) in [
            ("webhook.sign", "webhooks:sign", 1),
            ("webhook.rotate", "webhooks:rotate", 2),
        ] {
            let denied: Vec<_> = fx
                .audited(action)
                .await
                .into_iter()
                .filter(|r| r.event.outcome == Outcome::Denied)
                .collect();
            assert_eq!(denied.len(), count, "{action}");
            for d in &denied {
                assert_eq!(d.event.actor, *dev.actor());
                assert_eq!(d.event.details["permission"], permission);
            }
        }
        // The secret is still the one registered: nothing was rotated.
        let signed = fx
            .vault
            .sign_webhook(&fx.admin, &ep.id, "msg_1", b"{}")
            .await
            .unwrap();
        assert_eq!(signed.signature.split(' ').count(), 1);
        // An Admin may do both.
        fx.vault
            .rotate_webhook_secret(&fx.admin, &ep.id, Duration::ZERO)
            .await
            .unwrap();
        fx.vault
            .rotate_webhook_signing_key(&fx.admin, &v1a.id, Duration::ZERO)
            .await
            .unwrap();
        fx.vault
            .sign_webhook(&fx.admin, &v1a.id, "msg_2", b"{}")
            .await
            .unwrap();
        assert_eq!(
            fx.audited("webhook.rotate")
                .await
                .iter()
                .filter(|r| r.event.outcome == Outcome::Allowed)
                .count(),
            2
        );
    }
);

// --- Inbound sources ----------------------------------------------------------

vault_test!(
    async fn a_standard_source_verifies_once_and_refuses_replays_and_stale_ones(fx) {
        let secret = fx.standard_source("billing").await;
        let now = fx.now();
        let signed = webhook::sign(&[&secret], "msg_a", now.unix_seconds(), b"{\"paid\":1}").unwrap();
        let h = owned(&signed);
        let got = fx
            .vault
            .verify_inbound_webhook(
                fx.tenant,
                "billing",
                &borrowed(&h),
                b"{\"paid\":1}",
                Some("198.51.100.1"),
            )
            .await
            .unwrap();
        assert_eq!(got.id, "msg_a");
        assert_eq!(got.timestamp, Some(now));
        assert_eq!(got.style, SourceStyle::Standard);
        // The same message again: a replay.
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{\"paid\":1}", None)
                    .await
            ),
            WebhookRejection::Replayed
        );
        // A tampered payload, and a stale timestamp.
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{\"paid\":2}", None)
                    .await
            ),
            WebhookRejection::NoMatchingSignature
        );
        let stale = webhook::sign(&[&secret], "msg_b", now.unix_seconds() - 301, b"{}").unwrap();
        let hs = owned(&stale);
        for source in ["billing", "unknown"] {
            assert_eq!(
                rejection(
                    fx.vault
                        .verify_inbound_webhook(fx.tenant, source, &borrowed(&hs), b"{}", None)
                        .await
                ),
                WebhookRejection::TimestampTooOld,
                "{source}"
            );
        }
        assert_eq!(fx.receives(Outcome::Allowed).await, 1);
        assert_eq!(fx.receives(Outcome::Denied).await, 4);
        let first = &fx.audited("webhook.receive").await[0];
        assert_eq!(first.event.details["style"], "standard");
        assert_eq!(first.event.details["message_id"], "msg_a");
        assert_eq!(first.event.source.as_deref(), Some("198.51.100.1"));
        // Seen ids are pruned once out of the window.
        fx.advance(Duration::from_secs(600));
        assert!(
            fx.vault
                .prune(&Caller::system(fx.tenant))
                .await
                .unwrap()
                .deleted
                >= 1
        );
    }
);

vault_test!(
    async fn a_github_source_verifies_deliveries_by_headers(fx) {
        fx.vault
            .register_webhook_source(&fx.admin, "github", SourceStyle::Github, GITHUB_SECRET)
            .await
            .unwrap();
        let body = b"Hello, World!";
        let sig = sign_github(body, GITHUB_SECRET.as_bytes());
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let h = github_headers(DELIVERY, &sig);
        let got = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), body, None)
            .await
            .unwrap();
        assert_eq!(
            (got.id.as_str(), got.timestamp, got.style),
            (DELIVERY, None, SourceStyle::Github)
        );
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), body, None)
                    .await
            ),
            WebhookRejection::ReplayedDelivery
        );
        let h2 = github_headers("d-2", &sig);
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h2), b"Hello, World?", None)
                    .await
            ),
            WebhookRejection::NoMatchingSignature
        );
        let sha1 = github_headers("d-3", "sha1=abc");
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "github", &borrowed(&sha1), body, None)
                    .await
            ),
            WebhookRejection::GithubSha1
        );
        // Each header once.
        let mut twice = github_headers("d-4", &sig);
        twice.push(("x-hub-signature-256".to_owned(), sig.clone()));
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "github", &borrowed(&twice), body, None)
                    .await
            ),
            WebhookRejection::DuplicateGithubHeader
        );
        let no_sig = vec![("X-GitHub-Delivery".to_owned(), "d-5".to_owned())];
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "github", &borrowed(&no_sig), body, None)
                    .await
            ),
            WebhookRejection::MissingGithubSignature
        );
    }
);

vault_test!(
    async fn a_v1a_source_verifies_with_the_public_key_only(fx) {
        let sender = WebhookSigningKey::generate().unwrap();
        let public = sender.public_key();
        fx.vault
            .register_webhook_source(&fx.admin, "partner", SourceStyle::StandardV1a, &public.to_text())
            .await
            .unwrap();
        let listed = fx.vault.list_webhook_sources(&fx.admin).await.unwrap();
        assert_eq!(listed[0].style, SourceStyle::StandardV1a);
        assert_eq!(listed[0].public_key, Some(public.to_text()));

        let t = fx.now().unix_seconds();
        let signed = webhook::sign_asymmetric(&[&sender], "msg_1", t, b"{}").unwrap();
        let h = owned(&signed);
        let got = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "partner", &borrowed(&h), b"{}", None)
            .await
            .unwrap();
        assert_eq!(got.style, SourceStyle::StandardV1a);

        // Algorithm confusion: the attacker knows the public key (it is
        // public) and signs `v1` with it as the HMAC key; or signs `v1a`
        // with a key of their own. Neither verifies.
        let as_hmac = WebhookSecret::from_bytes(public.as_bytes()).unwrap();
        let forged_v1 = webhook::sign(&[&as_hmac], "msg_2", t, b"{}").unwrap();
        let attacker = WebhookSigningKey::generate().unwrap();
        let forged_v1a = webhook::sign_asymmetric(&[&attacker], "msg_3", t, b"{}").unwrap();
        // Both kinds in one header, neither valid.
        let mut mixed_h = owned(&forged_v1a);
        mixed_h[2].1 = format!("{} {}", forged_v1.signature, forged_v1a.signature);
        for h in [owned(&forged_v1), owned(&forged_v1a), mixed_h] {
            assert_eq!(
                rejection(
                    fx.vault
                        .verify_inbound_webhook(fx.tenant, "partner", &borrowed(&h), b"{}", None)
                        .await
                ),
                WebhookRejection::NoMatchingSignature
            );
        }
        // A header with a forged v1 and the genuine v1a verifies on the v1a.
        let genuine = webhook::sign_asymmetric(&[&sender], "msg_4", t, b"{}").unwrap();
        let mut h = owned(&genuine);
        h[2].1 = format!("{} {}", forged_v1.signature, genuine.signature);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "partner", &borrowed(&h), b"{}", None)
            .await
            .unwrap();
        assert_eq!(fx.receives(Outcome::Allowed).await, 2);
    }
);

vault_test!(
    async fn a_v1_source_never_checks_v1a_signatures(fx) {
        // The source holds an HMAC secret; the attacker signs v1a with a key
        // of their own, alone or beside a v1 entry of their making. Nothing
        // verifies, and the answer is the one a wrong signature gets.
        let secret = fx.standard_source("billing").await;
        let t = fx.now().unix_seconds();
        let attacker = WebhookSigningKey::generate().unwrap();
        let forged = webhook::sign_asymmetric(&[&attacker], "msg_1", t, b"{}").unwrap();
        let guessed = WebhookSecret::generate().unwrap();
        let forged_v1 = webhook::sign(&[&guessed], "msg_1", t, b"{}").unwrap();
        let alone = owned(&forged);
        let mut beside = owned(&forged);
        beside[2].1 = format!("{} {}", forged.signature, forged_v1.signature);
        for h in [alone, beside] {
            assert_eq!(
                rejection(
                    fx.vault
                        .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                        .await
                ),
                WebhookRejection::NoMatchingSignature
            );
        }
        // The genuine v1 beside a v1a entry verifies.
        let genuine = webhook::sign(&[&secret], "msg_2", t, b"{}").unwrap();
        let mut h = owned(&genuine);
        h[2].1 = format!("{} {}", forged.signature, genuine.signature);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
            .await
            .unwrap();
    }
);

vault_test!(
    async fn sources_are_checked_when_saved(fx) {
        let b64_32 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo=";
        let cases: Vec<(SourceStyle, String, &str, &str)> = vec![
            (SourceStyle::Standard, "whsec_not base64!".into(), "secret", "not valid base64"),
            (SourceStyle::Standard, "whsec_AAAA".into(), "secret", "shorter than the minimum"),
            (SourceStyle::Standard, "my-shared-secret".into(), "secret", "does not start with `whsec_`"),
            (
                SourceStyle::Standard,
                "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
                "secret",
                "SourceStyle::StandardV1a",
            ),
            (
                SourceStyle::Standard,
                "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=".into(),
                "secret",
                "private key",
            ),
            (SourceStyle::StandardV1a, b64_32.into(), "secret", "SourceStyle::Standard"),
            (
                SourceStyle::StandardV1a,
                "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=".into(),
                "secret",
                "private key",
            ),
            (
                SourceStyle::StandardV1a,
                "whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                "secret",
                "small-order",
            ),
            (SourceStyle::StandardV1a, "whpk_AAAA".into(), "secret", "decodes to 3 bytes"),
            (SourceStyle::Github, "short".into(), "secret", "at least 16"),
            (SourceStyle::Github, format!("{GITHUB_SECRET}\n"), "secret", "whitespace"),
            (SourceStyle::Github, b64_32.into(), "secret", "SourceStyle::Standard"),
            (SourceStyle::Github, "x".repeat(1025), "secret", "at most 1024"),
            (SourceStyle::Github, "tab\tinside a long secret".into(), "secret", "control character"),
        ];
        for (style, secret, want_field, want) in &cases {
            let (field, reason) = invalid(
                fx.vault
                    .register_webhook_source(&fx.admin, "src", *style, secret)
                    .await,
            );
            assert_eq!(field, *want_field, "{style:?} {secret:?}");
            assert!(reason.contains(want), "{style:?}: `{reason}` lacks `{want}`");
            if secret.len() > 12 && !secret.starts_with("whpk_") {
                assert!(!reason.contains(secret.as_str()), "the secret is echoed");
            }
        }
        for bad_id in ["", "GitHub", "a/b", "webhook/github"] {
            let (field, _) = invalid(
                fx.vault
                    .register_webhook_source(&fx.admin, bad_id, SourceStyle::Github, GITHUB_SECRET)
                    .await,
            );
            assert_eq!(field, "source");
        }
        assert!(fx.vault.list_webhook_sources(&fx.admin).await.unwrap().is_empty());

        // The issue's secret: no padding, non-zero trailing bits. The
        // reference libraries accept it; so does registration.
        fx.vault
            .register_webhook_source(
                &fx.admin,
                "issue",
                SourceStyle::Standard,
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr",
            )
            .await
            .unwrap();
        let key = WebhookSecret::parse_lenient("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwBr").unwrap();
        assert_eq!(key.expose_secret().len(), 25);
        let signed = webhook::sign(&[&key], "msg_1", fx.now().unix_seconds(), b"{}").unwrap();
        fx.vault
            .verify_inbound_webhook(fx.tenant, "issue", &borrowed(&owned(&signed)), b"{}", None)
            .await
            .unwrap();
        // A sender's key may decode to anything, even bytes that spell
        // `whsec_`: it is stored and used as given.
        let odd_key = [b"whsec_".as_slice(), &[0x5a; 26]].concat();
        let odd = {
            use base64::Engine as _;
            format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&odd_key))
        };
        fx.vault
            .register_webhook_source(&fx.admin, "odd", SourceStyle::Standard, &odd)
            .await
            .unwrap();
        let odd_secret = WebhookSecret::parse(&odd).unwrap();
        assert_eq!(odd_secret.expose_secret(), odd_key.as_slice());
        let signed = webhook::sign(&[&odd_secret], "msg_2", fx.now().unix_seconds(), b"{}").unwrap();
        fx.vault
            .verify_inbound_webhook(fx.tenant, "odd", &borrowed(&owned(&signed)), b"{}", None)
            .await
            .unwrap();
        // An id is registered once.
        assert!(matches!(
            fx.vault
                .register_webhook_source(&fx.admin, "issue", SourceStyle::Github, GITHUB_SECRET)
                .await,
            Err(Error::AlreadyExists { .. })
        ));
    }
);

vault_test!(
    async fn a_rotated_source_accepts_the_previous_secret_for_the_grace_period(fx) {
        let old = fx.standard_source("billing").await;
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
        let info = &fx.vault.list_webhook_sources(&fx.admin).await.unwrap()[0];
        assert_eq!(info.rotated_at, Some(fx.now()));
        assert!(info.previous_until.is_some());
        let deliver = |secret: &WebhookSecret, id: &str| {
            let signed = webhook::sign(&[secret], id, fx.now().unix_seconds(), b"{}").unwrap();
            owned(&signed)
        };
        for (secret, id) in [(&old, "m1"), (&new, "m2")] {
            let h = deliver(secret, id);
            fx.vault
                .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                .await
                .unwrap();
        }
        fx.advance(Duration::from_secs(3600));
        let h = deliver(&old, "m3");
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                    .await
            ),
            WebhookRejection::NoMatchingSignature
        );
        assert_eq!(
            fx.vault.list_webhook_sources(&fx.admin).await.unwrap()[0].previous_until,
            None
        );
        // A rotation with no grace drops the old secret at once; the new
        // secret is checked for the source's style.
        let (field, _) = invalid(
            fx.vault
                .rotate_webhook_source(&fx.admin, "billing", GITHUB_SECRET, Duration::ZERO)
                .await,
        );
        assert_eq!(field, "secret");
        let newest = WebhookSecret::generate().unwrap();
        fx.vault
            .rotate_webhook_source(
                &fx.admin,
                "billing",
                newest.to_text().expose_secret(),
                Duration::ZERO,
            )
            .await
            .unwrap();
        let h = deliver(&new, "m4");
        assert!(
            fx.vault
                .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                .await
                .is_err()
        );
        // Deleted: an unknown source from then on.
        fx.vault
            .delete_webhook_source(&fx.admin, "billing")
            .await
            .unwrap();
        let h = deliver(&newest, "m5");
        assert_eq!(
            rejection(
                fx.vault
                    .verify_inbound_webhook(fx.tenant, "billing", &borrowed(&h), b"{}", None)
                    .await
            ),
            WebhookRejection::NoMatchingSignature
        );
        assert!(matches!(
            fx.vault.delete_webhook_source(&fx.admin, "billing").await,
            Err(Error::NotFound { .. })
        ));
        let actions: Vec<_> = fx
            .audit()
            .await
            .into_iter()
            .filter(|r| r.event.action.starts_with("webhook_source."))
            .map(|r| r.event.action)
            .collect();
        assert_eq!(
            actions,
            [
                "webhook_source.register",
                "webhook_source.rotate",
                "webhook_source.rotate",
                "webhook_source.delete"
            ]
        );
    }
);

vault_test!(
    async fn only_settings_managers_manage_sources(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let err = fx
            .vault
            .register_webhook_source(&dev, "github", SourceStyle::Github, GITHUB_SECRET)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Forbidden { action } if action == "settings:manage"),
            "{err}"
        );
        fx.vault
            .register_webhook_source(&fx.admin, "github", SourceStyle::Github, GITHUB_SECRET)
            .await
            .unwrap();
        for result in [
            fx.vault
                .rotate_webhook_source(&dev, "github", "another long secret value", Duration::ZERO)
                .await,
            fx.vault.delete_webhook_source(&dev, "github").await,
            fx.vault.list_webhook_sources(&dev).await.map(drop),
        ] {
            assert!(matches!(result, Err(Error::Forbidden { .. })), "{result:?}");
        }
        let denied = fx
            .audit()
            .await
            .into_iter()
            .filter(|r| {
                r.event.action.starts_with("webhook_source.") && r.event.outcome == Outcome::Denied
            })
            .count();
        assert_eq!(denied, 4);
        // The source is untouched.
        let sig = sign_github(b"{}", GITHUB_SECRET.as_bytes());
        fx.vault
            .verify_inbound_webhook(
                fx.tenant,
                "github",
                &borrowed(&github_headers(DELIVERY, &sig)),
                b"{}",
                None,
            )
            .await
            .unwrap();
    }
);

// Attack: GitHub signs the body alone, never `X-GitHub-Delivery`. An
// attacker who captured one delivery (a proxy log, a request dump) replays
// it with a delivery id of their own, and every copy is a new delivery if
// the replay store is keyed by that unsigned id alone. The signed content
// (the body) must be what is remembered.
vault_test!(
    async fn a_github_delivery_replayed_under_a_fresh_delivery_id_is_refused(fx) {
        fx.vault
            .register_webhook_source(&fx.admin, "github", SourceStyle::Github, GITHUB_SECRET)
            .await
            .unwrap();
        let body = br#"{"action":"released","release":{"tag_name":"v1.0.0"}}"#;
        let sig = sign_github(body, GITHUB_SECRET.as_bytes());
        let h = github_headers(DELIVERY, &sig);
        fx.vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), body, None)
            .await
            .unwrap();
        for forged in ["attacker-1", "72d3162e-cc78-11e3-81ab-4c9367dc0959"] {
            let replay = github_headers(forged, &sig);
            assert_eq!(
                rejection(
                    fx.vault
                        .verify_inbound_webhook(fx.tenant, "github", &borrowed(&replay), body, None)
                        .await
                ),
                WebhookRejection::ReplayedDelivery,
                "{forged}"
            );
        }
        // A different body (another event) is a new delivery.
        let other = br#"{"action":"released","release":{"tag_name":"v1.0.1"}}"#;
        let h = github_headers("d-other", &sign_github(other, GITHUB_SECRET.as_bytes()));
        fx.vault
            .verify_inbound_webhook(fx.tenant, "github", &borrowed(&h), other, None)
            .await
            .unwrap();
    }
);
