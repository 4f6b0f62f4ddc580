//! Criterion benchmarks for issue 4: the Vault's hot paths beside the peer a
//! user would otherwise pick, in the same run.
//!
//! - `rbac_decide`: [`Policy::decide`] beside the `casbin` crate enforcing
//!   the same three-role model (the model and policy lines are below), with
//!   its in-memory adapter. One allowed and one denied decision, and the
//!   whole 3 × 12 matrix per iteration. Before timing, both sides are checked
//!   to agree on all 45 decisions.
//! - `jwt_validate`: [`JwtSigner::validate`] beside bare
//!   `jsonwebtoken::decode` of the same token with the same key and the same
//!   checks (HS256 pinned, `exp`, `nbf`, `iss`, `aud`, 30 s leeway).
//! - `api_token_auth_100k`: [`Vault::authenticate_api_token`] on a
//!   `SqliteStore` holding 100,000 tokens, on the hot path (every token was
//!   used within the last minute, so nothing is written: checked after the
//!   run), beside rusqlite making the same two reads on the same file with
//!   the store's own `SELECT`s: the token row by its hash, then its owner's
//!   user row (authentication reads the owner's current role and state,
//!   issue 8), called directly and inside `spawn_blocking`, and once more
//!   starting from the token text (hashing it first, as any implementation
//!   must). The token-only lookup of the `store` bench is measured beside
//!   them for reference.
//!
//! ## The `jsonwebtoken` peer
//!
//! secrets-core no longer depends on `jsonwebtoken` (issue 9): it signs and
//! verifies HS256 itself on `hmac`, `sha2` and `subtle`, and installs
//! nothing process-wide. The peer is built here as a user would build it,
//! with its own `rust_crypto` backend (its HMAC runs on the older `hmac`
//! 0.12 and `sha2` 0.10; both use the same SHA-256 instructions), and finds
//! that backend by itself: nothing in this bench installs a provider, and
//! nothing of secrets-core runs on `jsonwebtoken`.
//!
//! See `benches/README.md` for the figures.

// Benchmark set-up: a failure here is a broken benchmark, and panicking with a
// message is the right report; none of this code ships.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casbin::prelude::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrets_core::audit::{AuditChain, AuditLinker};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::jwt::{AccessClaims, JwtConfig, JwtSigner};
use secrets_core::rbac::{Permission, Policy, Role, Scopes};
use secrets_core::store::{AuditQuery, SqliteStore, Store};
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{Clock, ManualClock, SystemClock, TenantId, UserId};
use sha2::{Digest as _, Sha256};

use common::{NOW, TOKENS, fill_tokens, open_raw_reader, raw_find, raw_find_with_owner, runtime};

const OURS: &str = "secrets-core";

/// Every built-in permission, in the order of `Policy::permissions`.
const PERMISSIONS: [Permission; 15] = [
    Permission::ReadApps,
    Permission::ListSecretNames,
    Permission::WriteSecrets,
    Permission::InjectSecrets,
    Permission::StartAgentSession,
    Permission::ManageWebhooks,
    Permission::ConnectIntegrations,
    Permission::ManageApiTokens,
    Permission::ManageUsers,
    Permission::ManageSettings,
    Permission::ReadAuditLog,
    Permission::OverrideDeployGate,
    Permission::ManageOwnApiTokens,
    Permission::SignWebhooks,
    Permission::RotateWebhookSecrets,
];

/// RBAC with role inheritance: a request names a role and a permission.
const CASBIN_MODEL: &str = "
[request_definition]
r = sub, act

[policy_definition]
p = sub, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.act == p.act
";

/// The three roles of `secrets_core::rbac`: each role's own permissions,
/// and `g` lines for admin ⊇ developer ⊇ viewer.
const CASBIN_POLICY: [(&str, &str); 15] = [
    ("viewer", "apps:read"),
    ("viewer", "secrets:list"),
    ("developer", "secrets:write"),
    ("developer", "secrets:inject"),
    ("developer", "agents:start"),
    ("developer", "webhooks:manage"),
    ("developer", "integrations:connect"),
    ("admin", "tokens:manage"),
    ("admin", "users:manage"),
    ("admin", "settings:manage"),
    ("admin", "audit:read"),
    ("admin", "gate:override"),
    ("developer", "tokens:own"),
    ("admin", "webhooks:sign"),
    ("admin", "webhooks:rotate"),
];
const CASBIN_ROLES: [(&str, &str); 2] = [("developer", "viewer"), ("admin", "developer")];

fn casbin_enforcer(rt: &tokio::runtime::Runtime) -> Enforcer {
    rt.block_on(async {
        let model = DefaultModel::from_str(CASBIN_MODEL).await.unwrap();
        let mut e = Enforcer::new(model, MemoryAdapter::default())
            .await
            .unwrap();
        let lines = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(a, b)| vec![(*a).to_owned(), (*b).to_owned()])
                .collect::<Vec<_>>()
        };
        assert!(e.add_policies(lines(&CASBIN_POLICY)).await.unwrap());
        assert!(e.add_grouping_policies(lines(&CASBIN_ROLES)).await.unwrap());
        e
    })
}

/// (e) RBAC decision.
fn rbac_decide(c: &mut Criterion) {
    let rt = runtime();
    let policy = Policy::new();
    let all = Scopes::all();
    let enforcer = casbin_enforcer(&rt);

    // Both sides take all 45 decisions the same way, over every permission.
    assert_eq!(PERMISSIONS.len(), policy.permissions().count());
    for role in Role::ALL {
        for p in PERMISSIONS {
            let ours = policy.decide(role, &all, p).is_allowed();
            let theirs = enforcer.enforce((role.as_str(), policy.name(p))).unwrap();
            assert_eq!(ours, theirs, "{role} {}", policy.name(p));
        }
    }

    let mut group = c.benchmark_group("rbac_decide");
    group.bench_function(format!("{OURS}/allow"), |b| {
        b.iter(|| {
            policy.decide(
                black_box(Role::Developer),
                &all,
                black_box(Permission::WriteSecrets),
            )
        });
    });
    group.bench_function("casbin/allow", |b| {
        b.iter(|| {
            enforcer
                .enforce((black_box("developer"), black_box("secrets:write")))
                .unwrap()
        });
    });
    group.bench_function(format!("{OURS}/deny"), |b| {
        b.iter(|| {
            policy.decide(
                black_box(Role::Viewer),
                &all,
                black_box(Permission::WriteSecrets),
            )
        });
    });
    group.bench_function("casbin/deny", |b| {
        b.iter(|| {
            enforcer
                .enforce((black_box("viewer"), black_box("secrets:write")))
                .unwrap()
        });
    });
    group.throughput(Throughput::Elements(36));
    group.bench_function(format!("{OURS}/matrix36"), |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for role in Role::ALL {
                for p in PERMISSIONS {
                    allowed += u32::from(policy.decide(black_box(role), &all, p).is_allowed());
                }
            }
            allowed
        });
    });
    let names: Vec<&str> = PERMISSIONS.iter().map(|p| policy.name(*p)).collect();
    group.bench_function("casbin/matrix36", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for role in Role::ALL {
                for name in &names {
                    allowed +=
                        u32::from(enforcer.enforce((black_box(role.as_str()), *name)).unwrap());
                }
            }
            allowed
        });
    });
    group.finish();
}

/// (f) JWT validation.
fn jwt_validate(c: &mut Criterion) {
    let master = [0x42_u8; 32];
    let ring = Arc::new(KeyRing::new(MasterKey::from_bytes(&master).unwrap()));
    let config = JwtConfig::default();
    let jwt = JwtSigner::new(config.clone(), ring).unwrap();
    // Bare `decode` checks `exp` and `nbf` against the system clock, so the
    // token is issued now (it lives 15 minutes, far longer than this group).
    let now = SystemClock.now();
    let (token, issued) = jwt
        .issue(
            UserId::generate(),
            TenantId::DEFAULT,
            Role::Developer,
            vec!["apps:read".into(), "secrets:list".into()],
            0,
            now,
        )
        .unwrap();

    // The signing key of key id 1, derived as `core/src/jwt.rs` documents:
    // HMAC-SHA256(master key, "secrets-core/v1/subkey/jwt/1").
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&master).unwrap();
    mac.update(b"secrets-core/v1/subkey/jwt/1");
    let key = DecodingKey::from_secret(&mac.finalize().into_bytes());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = config.leeway.as_secs();

    // Both sides accept the token and read the same claims.
    assert_eq!(jwt.validate(&token, now).unwrap(), issued);
    let bare = jsonwebtoken::decode::<AccessClaims>(&token, &key, &validation).unwrap();
    assert_eq!(bare.claims, issued);

    let mut group = c.benchmark_group("jwt_validate");
    group.bench_function(OURS, |b| {
        b.iter(|| jwt.validate(black_box(&token), now).unwrap());
    });
    group.bench_function("jsonwebtoken::decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessClaims>(black_box(&token), &key, &validation)
                .unwrap()
                .claims
        });
    });
    group.finish();
}

/// (g) API-token authentication on SQLite, hot path.
fn api_token_auth(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let ring = Arc::new(KeyRing::new(MasterKey::generate().unwrap()));
    let chain: Arc<dyn AuditLinker> = Arc::new(AuditChain::new(&ring));
    // Ten seconds after every token's last use: no last-used write is due.
    let clock = ManualClock::new(NOW.saturating_add(Duration::from_secs(10)));
    let (store, table, vault) = rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(dir.path().join("vault.db"))
                .await
                .unwrap(),
        );
        let table = fill_tokens(store.as_ref(), &chain, TOKENS, None).await;
        let vault = Vault::new(
            Arc::clone(&store) as Arc<dyn Store>,
            Arc::clone(&ring),
            Arc::new(clock),
            VaultConfig::default(),
        )
        .await
        .unwrap();
        (store, table, vault)
    });
    let order = table.probe_order();
    let raw = open_raw_reader(store.path());
    let shared_raw = Arc::new(Mutex::new(open_raw_reader(store.path())));
    let events = || {
        rt.block_on(store.audit_events(table.tenant, &AuditQuery::default()))
            .unwrap()
            .len()
    };
    let before = events();

    // Both sides find every probed token.
    rt.block_on(async {
        for &i in &order {
            let caller = vault
                .authenticate_api_token(&table.tokens[i], None)
                .await
                .unwrap();
            assert_eq!(caller.tenant(), table.tenant);
            assert_eq!(caller.user(), Some(table.owner));
            let (token, owner) = raw_find_with_owner(&raw, &table.hashes[i]).unwrap();
            assert_eq!(owner.id, table.owner.to_string());
            assert!(token.tag.is_some() && owner.tag.is_some());
        }
    });

    let mut group = c.benchmark_group("api_token_auth_100k");
    group.bench_function(format!("{OURS}/vault+sqlite"), |b| {
        let mut n = 0usize;
        b.to_async(&rt).iter(|| {
            let token = table.tokens[order[n % order.len()]].as_str();
            n += 1;
            let vault = &vault;
            async move {
                vault
                    .authenticate_api_token(black_box(token), None)
                    .await
                    .unwrap()
            }
        });
    });
    group.bench_function("rusqlite/token+owner", |b| {
        let mut n = 0usize;
        b.iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            raw_find_with_owner(&raw, black_box(hash)).unwrap()
        });
    });
    group.bench_function("rusqlite+spawn_blocking/token+owner", |b| {
        let mut n = 0usize;
        b.to_async(&rt).iter(|| {
            let hash = table.hashes[order[n % order.len()]];
            n += 1;
            let conn = Arc::clone(&shared_raw);
            async move {
                tokio::task::spawn_blocking(move || {
                    raw_find_with_owner(&conn.lock().unwrap(), black_box(&hash)).unwrap()
                })
                .await
                .unwrap()
            }
        });
    });
    // The same two reads starting, as the Vault does, from the token text:
    // its SHA-256 is the lookup key, so any implementation computes it.
    group.bench_function("rusqlite/sha256+token+owner", |b| {
        let mut n = 0usize;
        b.iter(|| {
            let token = table.tokens[order[n % order.len()]].as_bytes();
            n += 1;
            let hash: [u8; 32] = Sha256::digest(black_box(token)).into();
            raw_find_with_owner(&raw, &hash).unwrap()
        });
    });
    group.bench_function("rusqlite/token_only", |b| {
        let mut n = 0usize;
        b.iter(|| {
            let hash = &table.hashes[order[n % order.len()]];
            n += 1;
            raw_find(&raw, black_box(hash)).unwrap()
        });
    });
    group.finish();

    // The hot path wrote nothing: no last-used update, no audit event.
    assert_eq!(events(), before, "an authentication wrote to the store");
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine; command-line flags override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = rbac_decide, jwt_validate, api_token_auth
}
criterion_main!(benches);
