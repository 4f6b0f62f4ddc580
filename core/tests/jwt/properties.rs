//! Property tests: every issued token round-trips; any change to any byte of
//! a token is refused; for both algorithms.

use std::sync::Arc;

use proptest::prelude::*;
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::jwt::{JwtAlgorithm, JwtConfig, JwtSigner};
use secrets_core::rbac::Role;
use secrets_core::{TenantId, Timestamp, UserId};

fn ring() -> Arc<KeyRing> {
    Arc::new(KeyRing::new(MasterKey::from_bytes(&[0x33; 32]).unwrap()))
}

fn algorithm() -> impl Strategy<Value = JwtAlgorithm> {
    prop_oneof![Just(JwtAlgorithm::Hs256), Just(JwtAlgorithm::EdDsa)]
}

fn config(algorithm: JwtAlgorithm) -> JwtConfig {
    let mut c = JwtConfig::default();
    c.algorithm = algorithm;
    c
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Viewer), Just(Role::Developer), Just(Role::Admin)]
}

const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        scopes in prop::collection::vec(".{0,24}", 0..8),
        role in role(),
        seconds in 0i64..4_000_000_000,
        rotations in 0usize..3,
        algorithm in algorithm(),
    ) {
        let ring = ring();
        for _ in 0..rotations {
            ring.rotate().unwrap();
        }
        let jwt = JwtSigner::new(config(algorithm), Arc::clone(&ring)).unwrap();
        let now = Timestamp::from_unix_seconds(seconds);
        let (token, claims) = jwt
            .issue(UserId::generate(), TenantId::generate(), role, scopes.clone(), 0, now)
            .unwrap();
        prop_assert_eq!(&claims.scopes, &scopes);
        prop_assert_eq!(jwt.validate(&token, now).unwrap(), claims);
    }

    #[test]
    fn any_changed_byte_is_refused(
        index in any::<prop::sample::Index>(),
        pick in any::<prop::sample::Index>(),
        algorithm in algorithm(),
    ) {
        let jwt = JwtSigner::new(config(algorithm), ring()).unwrap();
        let now = Timestamp::from_unix_seconds(1_700_000_000);
        let (token, _) = jwt
            .issue(UserId::generate(), TenantId::DEFAULT, Role::Viewer, vec!["apps:read".into()], 0, now)
            .unwrap();
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        let replacement = *pick.get(BASE64URL);
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(jwt.validate(&tampered, now).is_err());
    }
}
