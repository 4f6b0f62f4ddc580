use secrets_core::error::WebhookRejection;
use std::time::Duration;

use secrets_core::Error;
use secrets_core::audit::Outcome;
use secrets_core::rbac::Role;
use secrets_core::vault::Caller;
use secrets_core::webhook::{Verifier, WebhookSecret, sign_github};

use crate::fixture::vault_test;

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
        let pairs = signed.pairs();
        let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Verifier::default()
            .verify(&headers, br#"{"ok":true}"#, &[&receiver], fx.now())
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
            let pairs = signed.pairs();
            let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            Verifier::default()
                .verify(&headers, b"{}", &[s], fx.now())
                .unwrap();
        }
        let listed = fx.vault.list_webhook_endpoints(&fx.admin).await.unwrap();
        assert!(listed[0].previous_secret_until.is_some());
        fx.advance(Duration::from_secs(3601));
        let signed = fx
            .vault
            .sign_webhook(&system, &ep.id, "msg_3", b"{}")
            .await
            .unwrap();
        assert_eq!(signed.signature.split(' ').count(), 1);
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
    async fn inbound_webhooks_verify_once_and_refuse_replays_and_stale_ones(fx) {
        let secret = WebhookSecret::generate().unwrap();
        fx.vault
            .set_setting_secret(
                &fx.admin,
                "webhook/billing",
                secret.to_text().expose_secret().as_bytes(),
            )
            .await
            .unwrap();
        let now = fx.now();
        let signed =
            secrets_core::webhook::sign(&[&secret], "msg_a", now.unix_seconds(), b"{\"paid\":1}")
                .unwrap();
        let pairs = signed.pairs();
        let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let msg = fx
            .vault
            .verify_inbound_webhook(
                fx.tenant,
                "billing",
                &headers,
                b"{\"paid\":1}",
                Some("198.51.100.1"),
            )
            .await
            .unwrap();
        assert_eq!(msg.id, "msg_a");
        // The same message again: a replay.
        let err = fx
            .vault
            .verify_inbound_webhook(fx.tenant, "billing", &headers, b"{\"paid\":1}", None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Webhook {
                    reason: WebhookRejection::Replayed
                }
            ),
            "{err}"
        );
        // A tampered payload, and a stale timestamp.
        assert!(matches!(
            fx.vault
                .verify_inbound_webhook(fx.tenant, "billing", &headers, b"{\"paid\":2}", None)
                .await,
            Err(Error::Webhook { .. })
        ));
        let stale =
            secrets_core::webhook::sign(&[&secret], "msg_b", now.unix_seconds() - 301, b"{}").unwrap();
        let pairs = stale.pairs();
        let headers: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert!(matches!(
            fx.vault
                .verify_inbound_webhook(fx.tenant, "billing", &headers, b"{}", None)
                .await,
            Err(Error::Webhook {
                reason: WebhookRejection::TimestampTooOld
            })
        ));
        // No secret configured for a source: the sender learns nothing more
        // than from a bad signature (the audit event says which).
        assert!(matches!(
            fx.vault
                .verify_inbound_webhook(fx.tenant, "unknown", &headers, b"{}", None)
                .await,
            Err(Error::Webhook {
                reason: WebhookRejection::TimestampTooOld
            })
        ));
        let receives: Vec<_> = fx
            .audit()
            .await
            .into_iter()
            .filter(|e| e.event.action == "webhook.receive")
            .collect();
        assert_eq!(receives.len(), 5);
        assert_eq!(
            receives
                .iter()
                .filter(|e| e.event.outcome == Outcome::Allowed)
                .count(),
            1
        );
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
    async fn github_style_signatures(fx) {
        fx.vault
            .set_setting_secret(&fx.admin, "webhook/github", b"It's a Secret to Everybody")
            .await
            .unwrap();
        let header = sign_github(b"Hello, World!", b"It's a Secret to Everybody");
        assert_eq!(
            header,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        fx.vault
            .verify_github_webhook(fx.tenant, "github", "d-1", &header, b"Hello, World!", None)
            .await
            .unwrap();
        assert!(
            fx.vault
                .verify_github_webhook(fx.tenant, "github", "d-2", &header, b"Hello, World?", None)
                .await
                .is_err()
        );
        assert!(
            fx.vault
                .verify_github_webhook(
                    fx.tenant,
                    "github",
                    "d-3",
                    "sha1=abc",
                    b"Hello, World!",
                    None
                )
                .await
                .is_err()
        );
    }
);
