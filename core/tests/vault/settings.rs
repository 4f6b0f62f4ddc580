use secrets_core::Error;
use secrets_core::audit::Outcome;
use secrets_core::rbac::Role;
use secrets_core::vault::Caller;

use crate::fixture::vault_test;

vault_test!(
    async fn settings_secrets_are_write_only_through_the_api(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        fx.vault
            .set_setting_secret(&fx.admin, "provider/openai", b"sk-openai-123")
            .await
            .unwrap();
        assert!(
            fx.vault
                .setting_secret_is_set(&fx.admin, "provider/openai")
                .await
                .unwrap()
        );
        assert!(
            !fx.vault
                .setting_secret_is_set(&fx.admin, "provider/anthropic")
                .await
                .unwrap()
        );
        assert_eq!(
            fx.vault.list_setting_secrets(&fx.admin).await.unwrap(),
            ["provider/openai"]
        );
        // Only admins manage settings.
        assert!(matches!(
            fx.vault
                .set_setting_secret(&dev, "provider/openai", b"x")
                .await,
            Err(Error::Forbidden { .. })
        ));
        assert!(
            fx.vault
                .setting_secret_is_set(&dev, "provider/openai")
                .await
                .is_err()
        );
        // No one but the host's own code reads a value back, not even an admin.
        assert!(matches!(
            fx.vault
                .read_setting_secret(&fx.admin, "provider/openai")
                .await,
            Err(Error::Forbidden { .. })
        ));
        let system = Caller::system(fx.tenant).with_source("worker");
        let value = fx
            .vault
            .read_setting_secret(&system, "provider/openai")
            .await
            .unwrap();
        assert_eq!(value.expose_secret(), b"sk-openai-123");
        let events = fx.audit().await;
        let reads: Vec<_> = events
            .iter()
            .filter(|e| e.event.action == "setting.read")
            .collect();
        assert_eq!(reads.len(), 2);
        assert_eq!(reads[0].event.outcome, Outcome::Denied);
        assert_eq!(reads[1].event.outcome, Outcome::Allowed);
        assert!(
            !events
                .iter()
                .any(|e| format!("{e:?}").contains("sk-openai"))
        );
        // Replace, clear, clear again.
        fx.vault
            .set_setting_secret(&fx.admin, "provider/openai", b"sk-openai-456")
            .await
            .unwrap();
        assert_eq!(
            fx.vault
                .read_setting_secret(&system, "provider/openai")
                .await
                .unwrap()
                .expose_secret(),
            b"sk-openai-456"
        );
        fx.vault
            .clear_setting_secret(&fx.admin, "provider/openai")
            .await
            .unwrap();
        fx.vault
            .clear_setting_secret(&fx.admin, "provider/openai")
            .await
            .unwrap();
        assert!(matches!(
            fx.vault
                .read_setting_secret(&system, "provider/openai")
                .await,
            Err(Error::NotFound { .. })
        ));
        for bad in ["", "Provider/OpenAI", "a b", "/leading", &"a".repeat(129)] {
            assert!(
                matches!(
                    fx.vault.set_setting_secret(&fx.admin, bad, b"x").await,
                    Err(Error::InvalidInput { .. })
                ),
                "{bad}"
            );
        }
    }
);
