//! EdDSA access tokens through the Vault: a login under
//! `JwtAlgorithm::EdDsa` gives a token the JWKS alone verifies, which the
//! Vault authenticates like an HS256 one (current role, revocation); the
//! JWKS follows key rotation; HS256 tokens keep working beside EdDSA.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrets_core::error::TokenRejection;
use secrets_core::jwt::{AccessClaims, JwtAlgorithm, decode_eddsa};
use secrets_core::rbac::Role;
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{Error, SecretString};

use crate::fixture::{Fx, PASSWORD, vault_test};

fn eddsa() -> VaultConfig {
    let mut c = crate::fixture::config();
    c.jwt.algorithm = JwtAlgorithm::EdDsa;
    c
}

fn header(token: &str) -> serde_json::Value {
    let segment = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

async fn login(fx: &Fx, login: &str) -> secrets_core::vault::Session {
    fx.vault
        .login(fx.tenant, login, &SecretString::from(PASSWORD), None)
        .await
        .unwrap()
}

/// Verifies `token` the way another service does: with the key of the
/// published JWKS its `kid` names, and nothing else.
fn verify_from_jwks(vault: &Vault, token: &str, fx: &Fx) -> AccessClaims {
    let kid = header(token)["kid"].as_str().unwrap().to_owned();
    let jwks: serde_json::Value = serde_json::from_str(&vault.jwks().to_json()).unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the kid is published");
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap();
    decode_eddsa(token, &x, fx.now(), Duration::from_secs(30)).unwrap()
}

vault_test!(
    config = eddsa();
    async fn a_login_gives_an_eddsa_token_the_jwks_verifies(fx) {
        let session = login(&fx, "admin@example.com").await;
        let token = session.access_token.expose_secret().to_owned();
        let h = header(&token);
        assert_eq!(h["alg"], "EdDSA");
        assert_eq!(h["typ"], "at+jwt");
        let claims = verify_from_jwks(&fx.vault, &token, &fx);
        assert_eq!(claims.sub, fx.admin_id);
        assert_eq!(claims.tid, fx.tenant);
        assert_eq!(claims.exp, session.access_expires_at.unix_seconds());
        let caller = fx
            .vault
            .authenticate_access_token(&token, None)
            .await
            .unwrap();
        assert_eq!(caller.user(), Some(fx.admin_id));
        assert_eq!(caller.role(), Role::Admin);
        // The JWKS of the Vault is its signer's: the same keys, public only.
        let text = fx.vault.jwks().to_json();
        assert!(!text.contains(r#""k""#) && !text.contains(r#""d""#));
        assert!(!text.contains("HS256"));
        // A refresh gives another EdDSA token.
        let again = fx
            .vault
            .refresh(session.refresh_token.expose_secret(), None)
            .await
            .unwrap();
        assert_eq!(header(again.access_token.expose_secret())["alg"], "EdDSA");
    }
);

vault_test!(
    config = eddsa();
    async fn an_eddsa_token_stops_with_its_user(fx) {
        let (user, _) = fx.user("dev@example.com", Role::Developer).await;
        let session = login(&fx, "dev@example.com").await;
        let token = session.access_token.expose_secret().to_owned();
        assert!(fx.vault.authenticate_access_token(&token, None).await.is_ok());
        fx.vault.disable_user(&fx.admin, user).await.unwrap();
        let refused = fx.vault.authenticate_access_token(&token, None).await;
        assert!(
            matches!(refused, Err(Error::InvalidToken { .. })),
            "{refused:?}"
        );
        // ...while a verifier holding only the JWKS still accepts it until
        // it expires: the documented staleness of stateless verification.
        assert_eq!(verify_from_jwks(&fx.vault, &token, &fx).sub, user);
        fx.advance(Duration::from_secs(15 * 60 + 30));
        let expired = fx.vault.authenticate_access_token(&token, None).await;
        assert!(
            matches!(
                expired,
                Err(Error::InvalidToken {
                    reason: TokenRejection::Expired
                })
            ),
            "{expired:?}"
        );
    }
);

vault_test!(
    config = eddsa();
    async fn rotation_moves_tokens_to_the_published_new_kid(fx) {
        let before = fx.vault.jwks();
        let old = login(&fx, "admin@example.com").await;
        let old_token = old.access_token.expose_secret().to_owned();
        fx.ring.rotate().unwrap();
        let new = login(&fx, "admin@example.com").await;
        let new_token = new.access_token.expose_secret().to_owned();
        let (old_kid, new_kid) = (header(&old_token)["kid"].clone(), header(&new_token)["kid"].clone());
        assert_ne!(old_kid, new_kid);
        // The new kid was published before the rotation; both validate.
        assert!(before.find(new_kid.as_str().unwrap()).is_some());
        for token in [&old_token, &new_token] {
            assert!(fx.vault.authenticate_access_token(token, None).await.is_ok());
            verify_from_jwks(&fx.vault, token, &fx);
        }
    }
);

vault_test!(
    async fn hs256_stays_the_default_and_eddsa_tokens_are_accepted_beside_it(fx) {
        let session = login(&fx, "admin@example.com").await;
        let token = session.access_token.expose_secret().to_owned();
        assert_eq!(header(&token)["alg"], "HS256");
        assert_eq!(header(&token)["kid"], "1");
        // A second Vault on the same store and key ring, switched to EdDSA
        // (a host migrating): its tokens and the HS256 ones both stand in
        // either Vault.
        let switched = Vault::new(
            fx.store.clone(),
            Arc::clone(&fx.ring),
            Arc::new(fx.clock.clone()),
            eddsa(),
        )
        .await
        .unwrap();
        let ed = switched
            .login(fx.tenant, "admin@example.com", &SecretString::from(PASSWORD), None)
            .await
            .unwrap();
        let ed_token = ed.access_token.expose_secret().to_owned();
        assert_eq!(header(&ed_token)["alg"], "EdDSA");
        for vault in [&fx.vault, &switched] {
            for t in [&token, &ed_token] {
                let caller = vault.authenticate_access_token(t, None).await.unwrap();
                assert_eq!(caller.user(), Some(fx.admin_id));
            }
        }
        // The HS256 Vault publishes the same JWKS.
        assert_eq!(fx.vault.jwks(), switched.jwks());
    }
);
