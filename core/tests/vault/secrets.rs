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

/// Every value of `app`, by name, as text.
async fn env_of(fx: &Fx, app: &str) -> Vec<(String, String)> {
    let system = Caller::system(fx.tenant);
    fx.vault
        .inject(&system, app)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.expose_secret().to_vec()).unwrap()))
        .collect()
}

vault_test!(
    async fn set_secrets_writes_all_in_one_audited_batch(fx) {
        let (_, dev) = fx.user("dev@example.com", Role::Developer).await;
        fx.vault
            .set_secret(&dev, "web", "B_KEY", b"old-b")
            .await
            .unwrap();
        let before = (fx.store.calls().1, fx.audit().await.len());
        let versions = fx
            .vault
            .set_secrets(
                &dev,
                "web",
                [
                    ("C_KEY", &b"value-c"[..]),
                    ("A_KEY", b"value-a"),
                    ("B_KEY", b"value-b"),
                ],
            )
            .await
            .unwrap();
        let expected: Vec<(String, u64)> =
            vec![("A_KEY".into(), 1), ("B_KEY".into(), 2), ("C_KEY".into(), 1)];
        assert_eq!(versions.into_iter().collect::<Vec<_>>(), expected);
        // One write, one event.
        let after = (fx.store.calls().1, fx.audit().await.len());
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
        assert_eq!(
            env_of(&fx, "web").await,
            [
                ("A_KEY".into(), "value-a".into()),
                ("B_KEY".into(), "value-b".into()),
                ("C_KEY".into(), "value-c".into())
            ]
        );
        let listed = fx.vault.list_secrets(&dev, "web").await.unwrap();
        assert!(listed.iter().any(|s| s.name == "B_KEY" && s.has_previous));
        let event = fx.audited("secret.set_many").await.pop().unwrap();
        assert_eq!(event.event.target, "app/web");
        assert_eq!(event.event.actor, *dev.actor());
        assert_eq!(event.event.details["count"], "3");
        assert_eq!(event.event.details["secrets"], "A_KEY=1 B_KEY=2 C_KEY=1");
        assert!(!serde_json_contains(&fx, "value-").await, "a value reached the audit log");
        // Rollback works per secret, as after set_secret.
        fx.vault.rollback_secret(&dev, "web", "B_KEY").await.unwrap();
        assert!(env_of(&fx, "web").await.contains(&("B_KEY".into(), "old-b".into())));
        // A map from a request body works as is.
        let body: std::collections::HashMap<String, String> =
            [("D_KEY".to_owned(), "value-d".to_owned())].into();
        assert_eq!(
            fx.vault.set_secrets(&dev, "web", &body).await.unwrap()["D_KEY"],
            1
        );
    }
);

vault_test!(
    async fn set_secrets_with_one_bad_entry_writes_nothing(fx) {
        let system = Caller::system(fx.tenant);
        fx.vault
            .set_secret(&system, "web", "KEEP", b"kept")
            .await
            .unwrap();
        let before = (fx.store.calls().1, fx.audit().await.len());
        let too_big = vec![b'x'; MAX_SECRET_VALUE_LEN + 1];
        let too_many: Vec<(String, &[u8])> = (0..=100)
            .map(|i| (format!("K{i}"), &b"v"[..]))
            .collect();
        type Secrets<'a> = Vec<(String, &'a [u8])>;
        let cases: Vec<(&str, Secrets<'_>)> = vec![
            // The second name is invalid: the first is not written either.
            ("web", vec![("KEEP".into(), b"new"), ("1BAD".into(), b"x")]),
            ("web", vec![("KEEP".into(), b"new"), ("BAD-NAME".into(), b"x")]),
            ("web", vec![("KEEP".into(), b"new"), ("".into(), b"x")]),
            ("web", vec![("KEEP".into(), b"new"), ("A".repeat(129), b"x")]),
            ("web", vec![("KEEP".into(), b"new"), ("BIG".into(), &too_big)]),
            // The same name twice (which value was meant?).
            ("web", vec![("KEEP".into(), b"new"), ("X".into(), b"1"), ("KEEP".into(), b"other")]),
            // Nothing at all, and too much.
            ("web", vec![]),
            ("web", too_many),
            ("bad app", vec![("KEEP".into(), b"new")]),
        ];
        for (app, secrets) in cases {
            let n = secrets.len();
            let err = fx.vault.set_secrets(&system, app, secrets).await.unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. } | Error::TooLarge { .. }),
                "{app} ({n}): {err}"
            );
        }
        let err = fx
            .vault
            .set_secrets(&system, "web", [("A", "1"), ("A", "2")])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("`A`"), "{err}");
        // An endless source is refused at the bound, not read to the end.
        let err = fx
            .vault
            .set_secrets(&system, "web", std::iter::repeat(("A", "1")))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { .. }) && err.to_string().contains("100"),
            "{err}"
        );
        assert_eq!(
            (fx.store.calls().1, fx.audit().await.len()),
            before,
            "something was written"
        );
        assert_eq!(env_of(&fx, "web").await, [("KEEP".into(), "kept".into())]);
        // At the bound, it goes through.
        let hundred: Vec<(String, &[u8])> = (0..100).map(|i| (format!("K{i}"), &b"v"[..])).collect();
        assert_eq!(
            fx.vault.set_secrets(&system, "web", hundred).await.unwrap().len(),
            100
        );
    }
);

vault_test!(
    async fn set_secrets_is_refused_and_audited_without_write_permission(fx) {
        let (viewer_id, viewer) = fx.user("viv@example.com", Role::Viewer).await;
        let _ = viewer_id;
        let (dev_id, _) = fx.user("dev@example.com", Role::Developer).await;
        let deployer = fx
            .vault
            .mint_api_token(&fx.admin, dev_id, "deployer", &["secrets:inject"], None)
            .await
            .unwrap();
        let deployer = fx
            .vault
            .authenticate_api_token(deployer.token.expose_secret(), None)
            .await
            .unwrap();
        for caller in [&viewer, &deployer] {
            let before = fx.audited("secret.set_many").await.len();
            assert!(matches!(
                fx.vault.set_secrets(caller, "web", [("A", "1")]).await,
                Err(Error::Forbidden { .. })
            ));
            let denied = fx.audited("secret.set_many").await;
            assert_eq!(denied.len(), before + 1);
            assert_eq!(
                denied.last().unwrap().event.outcome,
                secrets_core::audit::Outcome::Denied
            );
        }
        assert!(env_of(&fx, "web").await.is_empty());
    }
);

vault_test!(
    async fn concurrent_set_secrets_never_mix_two_writers(fx) {
        let system = Caller::system(fx.tenant);
        const WRITERS: usize = 6;
        let mut tasks = Vec::new();
        for i in 0..WRITERS {
            let vault = fx.vault.clone();
            let caller = system.clone();
            tasks.push(tokio::spawn(async move {
                let v = format!("writer-{i}");
                vault
                    .set_secrets(&caller, "web", [("A", &v), ("B", &v), ("C", &v)])
                    .await
            }));
        }
        // A plain set_secret of one of them in between.
        let single = fx.vault.set_secret(&system, "web", "B", b"single").await;
        let mut ok = 0_u64;
        for t in tasks {
            match t.await.unwrap() {
                Ok(v) => {
                    ok += 1;
                    assert_eq!(v.len(), 3);
                }
                Err(e) => assert!(matches!(e, Error::Contended { .. }), "{e}"),
            }
        }
        assert!(ok >= 1);
        single.unwrap();
        let env = env_of(&fx, "web").await;
        let (a, b, c) = (&env[0].1, &env[1].1, &env[2].1);
        // A and C always come from one batch; B from that batch or the single write.
        assert_eq!(a, c, "{env:?}");
        assert!(b == a || b == "single", "{env:?}");
        let listed = fx.vault.list_secrets(&system, "web").await.unwrap();
        let version = |n: &str| listed.iter().find(|s| s.name == n).unwrap().version;
        assert_eq!((version("A"), version("C")), (ok, ok));
        assert_eq!(version("B"), ok + 1);
        assert_eq!(fx.audited("secret.set_many").await.len() as u64, ok);
    }
);

vault_test!(
    async fn set_secrets_racing_a_rollback_leaves_a_consistent_state(fx) {
        let system = Caller::system(fx.tenant);
        fx.vault.set_secret(&system, "web", "A", b"one").await.unwrap();
        fx.vault.set_secret(&system, "web", "A", b"two").await.unwrap();
        let (set, rolled) = tokio::join!(
            fx.vault
                .set_secrets(&system, "web", [("A", "three"), ("B", "three")]),
            fx.vault.rollback_secret(&system, "web", "A"),
        );
        let versions = set.unwrap();
        assert_eq!(versions["B"], 1);
        let env = env_of(&fx, "web").await;
        assert_eq!(env[1], ("B".into(), "three".into()));
        let a = env[0].1.as_str();
        // Swap A with its previous value to read that too.
        fx.vault.rollback_secret(&system, "web", "A").await.unwrap();
        let previous = env_of(&fx, "web").await[0].1.clone();
        match rolled {
            // The rollback lost its race: the batch's value, over "two".
            Err(Error::Conflict { .. }) => assert_eq!((a, previous.as_str()), ("three", "two")),
            // The rollback went first: "one" restored, then replaced by the batch.
            // Or the batch went first: "three" replaced by its previous, "two".
            Ok(_) => assert!(
                (a, previous.as_str()) == ("three", "one")
                    || (a, previous.as_str()) == ("two", "three"),
                "{a} / {previous}"
            ),
            Err(e) => panic!("{e}"),
        }
    }
);

vault_test!(
    async fn hosts_see_rfc3339_while_the_export_keeps_milliseconds(fx) {
        use secrets_core::store::StoreExt as _;
        let system = Caller::system(fx.tenant);
        fx.vault.set_secret(&system, "web", "A", b"1").await.unwrap();
        let listed = fx.vault.list_secrets(&system, "web").await.unwrap();
        let json = serde_json::to_value(&listed[0]).unwrap();
        assert_eq!(json["updated_at"], fx.now().to_rfc3339());
        let events = fx
            .vault
            .audit_events(&fx.admin, &Default::default())
            .await
            .unwrap();
        let last = serde_json::to_value(events.last().unwrap()).unwrap();
        assert_eq!(last["at"], fx.now().to_rfc3339());
        // The tenant export is a stored form: integer milliseconds, unchanged.
        let mut out = Vec::new();
        fx.store.export_jsonl(fx.tenant, &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let audit: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == "audit")
            .collect();
        assert!(!audit.is_empty());
        for line in &audit {
            assert!(line["event"]["at"].is_i64(), "{line}");
            // And it still reads back as an audit record.
            let _: secrets_core::audit::AuditRecord =
                serde_json::from_value(line["event"].clone()).unwrap();
        }
        assert_eq!(
            audit.last().unwrap()["event"]["at"],
            fx.now().unix_millis()
        );
    }
);

vault_test!(
    async fn a_session_serialises_without_tokens_unless_exposed(fx) {
        // Mid-second, so that `expires_in` cannot come from rounding luck.
        fx.advance(std::time::Duration::from_millis(700));
        let session = fx
            .vault
            .login(
                fx.tenant,
                "admin@example.com",
                &secrets_core::SecretString::from(crate::fixture::PASSWORD),
                None,
            )
            .await
            .unwrap();
        let ttl = crate::fixture::config().jwt.ttl.as_secs();
        assert_eq!(session.expires_in, ttl);
        let access = session.access_token.expose_secret().to_owned();
        let refresh = session.refresh_token.expose_secret().to_owned();
        let plain = serde_json::to_string(&session).unwrap();
        assert!(!plain.contains(&access) && !plain.contains(&refresh), "{plain}");
        assert!(!plain.contains("access_token") && !plain.contains("refresh_token"));
        let body = serde_json::to_value(session.expose_secrets()).unwrap();
        assert_eq!(body["access_token"], access.as_str());
        assert_eq!(body["refresh_token"], refresh.as_str());
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], ttl);
        assert_eq!(
            body["access_expires_at"],
            session.access_expires_at.to_rfc3339()
        );
        // The exposed access token is one the Vault accepts.
        let caller = fx
            .vault
            .authenticate_access_token(body["access_token"].as_str().unwrap(), None)
            .await
            .unwrap();
        assert_eq!(caller.user(), Some(fx.admin_id));
        // A minted token likewise.
        let minted = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["secrets:list"], None)
            .await
            .unwrap();
        let plain = serde_json::to_string(&minted).unwrap();
        assert!(!plain.contains(minted.token.expose_secret()), "{plain}");
        let shown = serde_json::to_value(minted.expose_secrets()).unwrap();
        assert_eq!(shown["token"], minted.token.expose_secret());
    }
);
