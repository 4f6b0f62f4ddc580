use secrets_core::error::TokenRejection;
use std::time::Duration;

use secrets_core::{Error, SecretString};

use crate::fixture::{Fx, PASSWORD, vault_test};

async fn session(fx: &Fx) -> secrets_core::vault::Session {
    fx.vault
        .login(
            fx.tenant,
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap()
}

vault_test!(
    async fn each_refresh_rotates(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        assert!(t1.starts_with("scr_"));
        assert!(!format!("{s1:?}").contains(&t1));
        let s2 = fx.vault.refresh(&t1, None).await.unwrap();
        let t2 = s2.refresh_token.expose_secret().to_owned();
        assert_ne!(t1, t2);
        let caller = fx
            .vault
            .authenticate_access_token(s2.access_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(caller.user(), Some(fx.admin_id));
        let s3 = fx.vault.refresh(&t2, None).await.unwrap();
        fx.vault
            .refresh(s3.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
);

vault_test!(
    async fn a_replayed_token_revokes_the_family(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let s2 = fx.vault.refresh(&t1, None).await.unwrap();
        fx.advance(Duration::from_secs(60)); // well past the overlap window
        let err = fx.vault.refresh(&t1, None).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidToken { reason: TokenRejection::Reused }),
            "{err}"
        );
        // The whole family is gone, including the legitimate newest token.
        assert!(matches!(
            fx.vault
                .refresh(s2.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        assert!(
            fx.audit()
                .await
                .iter()
                .any(|e| e.event.action == "auth.refresh_reuse")
        );
        // Another login is unaffected.
        let other = session(&fx).await;
        fx.vault
            .refresh(other.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
);

vault_test!(
    async fn within_the_overlap_window_the_previous_token_works_once_more(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let tab_a = fx.vault.refresh(&t1, None).await.unwrap();
        fx.advance(Duration::from_secs(3));
        let tab_b = fx.vault.refresh(&t1, None).await.unwrap();
        // Both tabs now hold working tokens.
        fx.vault
            .refresh(tab_a.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        fx.vault
            .refresh(tab_b.refresh_token.expose_secret(), None)
            .await
            .unwrap();
    }
);

vault_test!(
    async fn only_the_most_recently_superseded_token_is_honoured(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let s2 = fx.vault.refresh(&t1, None).await.unwrap();
        let _s3 = fx
            .vault
            .refresh(s2.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        // t1 is two generations old: even inside the window it revokes the family.
        assert!(matches!(
            fx.vault.refresh(&t1, None).await,
            Err(Error::InvalidToken { reason: TokenRejection::Reused })
        ));
    }
);

vault_test!(
    async fn concurrent_refreshes_one_rotation_wins_and_both_get_the_successor(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let (a, b) = tokio::join!(fx.vault.refresh(&t1, None), fx.vault.refresh(&t1, None));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.refresh_token.expose_secret(),
            b.refresh_token.expose_secret()
        );
        let rotations = fx
            .audit()
            .await
            .iter()
            .filter(|e| e.event.action == "auth.refresh")
            .map(|e| e.event.details.contains_key("overlap"))
            .collect::<Vec<_>>();
        assert_eq!(
            rotations,
            [false, true],
            "exactly one rotation, one overlap grant"
        );
        let next = fx
            .vault
            .refresh(a.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        // The second tab's copy is now superseded, inside its window: it gets
        // the same next token.
        let again = fx
            .vault
            .refresh(b.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(
            next.refresh_token.expose_secret(),
            again.refresh_token.expose_secret()
        );
    }
);

vault_test!(
    config = {
let mut c = crate::fixture::config();
c.refresh_overlap = Duration::ZERO;
c
};
    async fn concurrent_refreshes_outside_the_window_revoke_the_family(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let a = fx.vault.refresh(&t1, None).await.unwrap();
        fx.advance(Duration::from_millis(1));
        assert!(matches!(
            fx.vault.refresh(&t1, None).await,
            Err(Error::InvalidToken { reason: TokenRejection::Reused })
        ));
        assert!(
            fx.vault
                .refresh(a.refresh_token.expose_secret(), None)
                .await
                .is_err()
        );
    }
);

vault_test!(
    async fn idle_and_absolute_lifetimes_end_a_login(fx) {
        let s = session(&fx).await;
        fx.advance(Duration::from_secs(7 * 24 * 3600 + 1));
        assert!(matches!(
            fx.vault
                .refresh(s.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Expired })
        ));
        // Refreshing every 6 days keeps a login alive until 30 days, not beyond.
        let mut s = session(&fx).await;
        for _ in 0..4 {
            fx.advance(Duration::from_secs(6 * 24 * 3600));
            s = fx
                .vault
                .refresh(s.refresh_token.expose_secret(), None)
                .await
                .unwrap();
        }
        fx.advance(Duration::from_secs(6 * 24 * 3600 + 1));
        assert!(matches!(
            fx.vault
                .refresh(s.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Expired })
        ));
    }
);

vault_test!(
    async fn logout_revokes_and_access_tokens_expire(fx) {
        let s = session(&fx).await;
        fx.vault
            .logout(s.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        assert!(matches!(
            fx.vault
                .refresh(s.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
        assert!(fx.vault.logout("scr_garbage", None).await.is_err());
        // The access token lives 15 minutes (plus a small leeway), no longer.
        fx.vault
            .authenticate_access_token(s.access_token.expose_secret(), None)
            .await
            .unwrap();
        fx.advance(Duration::from_secs(15 * 60 + 60));
        assert!(matches!(
            fx.vault
                .authenticate_access_token(s.access_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { .. })
        ));
    }
);

vault_test!(
    async fn inside_the_overlap_every_reuse_gets_the_same_successor(fx) {
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let tab_a = fx.vault.refresh(&t1, None).await.unwrap();
        for _ in 0..3 {
            fx.advance(Duration::from_secs(2));
            let tab = fx.vault.refresh(&t1, None).await.unwrap();
            assert_eq!(
                tab.refresh_token.expose_secret(),
                tab_a.refresh_token.expose_secret()
            );
        }
        // Past the window (10 s after the rotation), a reuse revokes the family.
        fx.advance(Duration::from_secs(5));
        assert!(matches!(
            fx.vault.refresh(&t1, None).await,
            Err(Error::InvalidToken { reason: TokenRejection::Reused })
        ));
        assert!(matches!(
            fx.vault
                .refresh(tab_a.refresh_token.expose_secret(), None)
                .await,
            Err(Error::InvalidToken { reason: TokenRejection::Revoked })
        ));
    }
);

vault_test!(
    async fn the_successor_is_stored_sealed_never_in_clear(fx) {
        use secrets_core::store::{Kind, Store as _};
        let s1 = session(&fx).await;
        let t1 = s1.refresh_token.expose_secret().to_owned();
        let s2 = fx.vault.refresh(&t1, None).await.unwrap();
        let t2 = s2.refresh_token.expose_secret().to_owned();
        let rows = fx
            .store
            .list(
                fx.tenant,
                &secrets_core::store::ListQuery::new(Kind::RefreshToken),
            )
            .await
            .unwrap();
        let sealed: Vec<_> = rows.iter().filter_map(|r| r.sealed.clone()).collect();
        assert_eq!(sealed.len(), 1, "only the used token carries its successor");
        for r in &rows {
            for bytes in [&r.body, r.sealed.as_ref().unwrap_or(&Vec::new())] {
                let text = String::from_utf8_lossy(bytes);
                assert!(!text.contains(&t2) && !text.contains(&t1));
            }
        }
    }
);
