use secrets_core::Error;
use secrets_core::audit::Actor;
use secrets_core::rbac::Role;
use secrets_core::store::records::MAX_SECRET_VALUE_LEN;
use secrets_core::store::{Kind, Store};
use secrets_core::vault::Caller;

use crate::fixture::{Fx, vault_test};

vault_test!(
    async fn set_list_inject_and_every_role_sees_names_only(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        let (_, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        assert_eq!(
            fx.vault
                .set_secret(&dev, "web", "DATABASE_URL", b"postgres://u:pw@db/app")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            fx.vault
                .set_secret(&dev, "web", "STRIPE_KEY", b"sk_live_123")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            fx.vault
                .set_secret(&dev, "web", "STRIPE_KEY", b"sk_live_456")
                .await
                .unwrap(),
            2
        );
        fx.vault
            .set_secret(&dev, "api", "OTHER", b"x")
            .await
            .unwrap();

        for caller in [&viewer, &dev, &fx.admin] {
            let listed = fx.vault.list_secrets(caller, "web").await.unwrap();
            let names: Vec<_> = listed.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["DATABASE_URL", "STRIPE_KEY"]);
            assert_eq!(listed[1].version, 2);
            assert!(listed[1].has_previous && !listed[0].has_previous);
            assert!(matches!(listed[0].updated_by, Actor::User(_)));
            let shown = format!("{listed:?}");
            assert!(
                !shown.contains("sk_live") && !shown.contains("postgres://"),
                "{shown}"
            );
        }
        // A viewer cannot write or inject.
        assert!(matches!(
            fx.vault.set_secret(&viewer, "web", "X", b"1").await,
            Err(Error::Forbidden { .. })
        ));
        assert!(matches!(
            fx.vault.inject(&viewer, "web").await,
            Err(Error::Forbidden { .. })
        ));

        let env = fx.vault.inject(&dev, "web").await.unwrap();
        assert_eq!(env.len(), 2);
        assert_eq!(env["STRIPE_KEY"].expose_secret(), b"sk_live_456");
        assert_eq!(
            env["DATABASE_URL"].expose_secret(),
            b"postgres://u:pw@db/app"
        );
        assert!(!format!("{env:?}").contains("sk_live"));
        let inject_event = fx
            .audit()
            .await
            .into_iter()
            .rfind(|e| e.event.action == "secret.inject")
            .unwrap();
        assert_eq!(
            inject_event.event.details["names"],
            "DATABASE_URL STRIPE_KEY"
        );
        assert!(
            !serde_json_contains(&fx, "sk_live").await,
            "a value reached the audit log"
        );
        // Values are sealed at rest, bound to their row.
        let row = fx
            .store
            .get(fx.tenant, Kind::AppSecret, "web/STRIPE_KEY")
            .await
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8_lossy(row.sealed.as_ref().unwrap()).contains("sk_live"));
    }
);

async fn serde_json_contains(fx: &Fx, needle: &str) -> bool {
    let events = fx.audit().await;
    events.iter().any(|e| format!("{e:?}").contains(needle))
}

vault_test!(
    async fn inject_is_separate_from_list(fx) {
        let (dev_id, dev) = fx.user("dev@example.com", Role::Developer).await;
        fx.vault.set_secret(&dev, "web", "A", b"1").await.unwrap();
        let deployer = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "deployer", &["secrets:inject"], None)
            .await
            .unwrap();
        let lister = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "lister", &["secrets:list"], None)
            .await
            .unwrap();
        let deployer = fx
            .vault
            .authenticate_api_token(deployer.token.expose_secret(), None)
            .await
            .unwrap();
        let lister = fx
            .vault
            .authenticate_api_token(lister.token.expose_secret(), None)
            .await
            .unwrap();
        // The deployer injects without being able to list or write.
        assert_eq!(fx.vault.inject(&deployer, "web").await.unwrap().len(), 1);
        assert!(fx.vault.list_secrets(&deployer, "web").await.is_err());
        assert!(
            fx.vault
                .set_secret(&deployer, "web", "A", b"2")
                .await
                .is_err()
        );
        // The lister lists without being able to read values.
        assert_eq!(
            fx.vault.list_secrets(&lister, "web").await.unwrap().len(),
            1
        );
        assert!(matches!(
            fx.vault.inject(&lister, "web").await,
            Err(Error::Forbidden { .. })
        ));
    }
);

vault_test!(
    async fn rollback_swaps_with_the_previous_value(fx) {
        let system = Caller::system(fx.tenant);
        fx.vault
            .set_secret(&system, "web", "KEY", b"one")
            .await
            .unwrap();
        fx.vault
            .set_secret(&system, "web", "KEY", b"two")
            .await
            .unwrap();
        fx.vault
            .rollback_secret(&system, "web", "KEY")
            .await
            .unwrap();
        assert_eq!(
            fx.vault.inject(&system, "web").await.unwrap()["KEY"].expose_secret(),
            b"one"
        );
        fx.vault
            .rollback_secret(&system, "web", "KEY")
            .await
            .unwrap();
        assert_eq!(
            fx.vault.inject(&system, "web").await.unwrap()["KEY"].expose_secret(),
            b"two"
        );
        fx.vault
            .set_secret(&system, "web", "NEW", b"x")
            .await
            .unwrap();
        assert!(matches!(
            fx.vault.rollback_secret(&system, "web", "NEW").await,
            Err(Error::NotFound { .. })
        ));
        fx.vault.delete_secret(&system, "web", "KEY").await.unwrap();
        assert!(matches!(
            fx.vault.rollback_secret(&system, "web", "KEY").await,
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            fx.vault.list_secrets(&system, "web").await.unwrap().len(),
            1
        );
    }
);

vault_test!(
    async fn archive_and_restore(fx) {
        let system = Caller::system(fx.tenant);
        fx.vault
            .set_secret(&system, "old", "A", b"alpha")
            .await
            .unwrap();
        fx.vault
            .set_secret(&system, "old", "B", b"beta")
            .await
            .unwrap();
        fx.vault
            .set_secret(&system, "old", "B", b"beta2")
            .await
            .unwrap();
        assert_eq!(fx.vault.archive_app(&system, "old").await.unwrap(), 2);
        assert!(
            fx.vault
                .list_secrets(&system, "old")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(fx.vault.inject(&system, "old").await.unwrap().is_empty());
        assert!(matches!(
            fx.vault.archive_app(&system, "old").await,
            Err(Error::AlreadyExists { .. })
        ));
        let archive = fx
            .store
            .get(fx.tenant, Kind::AppArchive, "old")
            .await
            .unwrap()
            .unwrap();
        assert!(!String::from_utf8_lossy(archive.sealed.as_ref().unwrap()).contains("alpha"));
        assert_eq!(fx.vault.restore_app(&system, "old").await.unwrap(), 2);
        let env = fx.vault.inject(&system, "old").await.unwrap();
        assert_eq!(env["A"].expose_secret(), b"alpha");
        assert_eq!(env["B"].expose_secret(), b"beta2");
        assert!(matches!(
            fx.vault.restore_app(&system, "old").await,
            Err(Error::NotFound { .. })
        ));
        let actions: Vec<String> = fx
            .audit()
            .await
            .into_iter()
            .map(|e| e.event.action)
            .collect();
        assert!(
            actions.contains(&"app.archive".to_string())
                && actions.contains(&"app.restore".to_string())
        );
    }
);

vault_test!(
    async fn bad_names_and_values_write_nothing(fx) {
        let system = Caller::system(fx.tenant);
        let before = (fx.store.calls().1, fx.audit().await.len());
        let too_long = "A".repeat(129);
        let too_big = vec![0u8; MAX_SECRET_VALUE_LEN + 1];
        let cases: [(&str, &str, &[u8]); 7] = [
            ("web", "1STARTS_WITH_DIGIT", b"x"),
            ("web", "HAS-DASH", b"x"),
            ("web", "", b"x"),
            ("web", &too_long, b"x"),
            ("web", "OK", &too_big),
            ("bad app/name", "OK", b"x"),
            ("", "OK", b"x"),
        ];
        for (app, name, value) in cases {
            let err = fx
                .vault
                .set_secret(&system, app, name, value)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. } | Error::TooLarge { .. }),
                "{app}/{name}: {err}"
            );
        }
        assert_eq!(
            (fx.store.calls().1, fx.audit().await.len()),
            before,
            "something was written"
        );
        assert!(
            fx.vault
                .list_secrets(&system, "web")
                .await
                .unwrap()
                .is_empty()
        );
    }
);
