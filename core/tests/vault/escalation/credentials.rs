//! Attacks on the credential model: credentials outgrowing their creator or
//! owner, revocation failing for size or losing a race, the last Admin
//! (attacks 1-6 and 16-19).

#[allow(unused_imports)]
use super::*;

// Attack 16: a zero lifetime minted an already-expired API token (agent
// sessions already refused it). Refused now, like an agent session's.
both!(
    async fn zero_ttl_api_token_is_refused(fx) {
        let r = fx
            .vault
            .mint_api_token(&fx.admin, fx.admin_id, "ci", &["*"], Some(Duration::ZERO))
            .await;
        assert!(
            matches!(r, Err(secrets_core::Error::InvalidInput { field: "ttl", .. })),
            "{r:?}"
        );
        assert!(fx.audited("api_token.mint").await.is_empty());
    }
);
