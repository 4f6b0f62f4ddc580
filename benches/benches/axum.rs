//! Criterion benchmarks for issue 14: the axum front end beside what a user
//! would otherwise write, in the same run.
//!
//! - `axum_layer`: a trivial handler (`"ok"`) behind [`SecurityLayer`]
//!   (the core's six default security headers and an exact-origin,
//!   credentialed CORS policy) beside the same router behind tower-http's
//!   `CorsLayer` (the same origin, credentials, methods and headers) and
//!   six `SetResponseHeaderLayer::overriding` with the same values, in one
//!   `ServiceBuilder` (as tower-http's documentation composes them), for a
//!   simple GET from the allowed origin and for an allowed preflight.
//!   Before timing, both must answer with the same status and the same
//!   security and CORS headers.
//! - `axum_bearer`: the [`Authenticated`] extractor on a request with an
//!   `Authorization: Bearer` access token (HS256, no store read), beside
//!   the direct call a handler would make, `Vault::authenticate_bearer` on
//!   the header's value.
//!
//! See `benches/README.md` for the figures.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderName, HeaderValue, Method, Request, header};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::headers::{Cors, SecurityHeaders};
use secrets_core::store::MemoryStore;
use secrets_core::vault::{Vault, VaultConfig};
use secrets_core::{SecretString, SystemClock, TenantId};
use secrets_core_axum::{Authenticated, Authenticator, SecurityLayer};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

const ORIGIN: &str = "https://app.example.com";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn handler_router() -> Router {
    Router::new().route("/", get(|| async { "ok" }).post(|| async { "ok" }))
}

fn ours() -> Router {
    let cors = Cors::new(&[ORIGIN])
        .unwrap()
        .allow_credentials(true)
        .allowed_methods(&["GET", "POST"])
        .unwrap()
        .allowed_headers(&["authorization", "content-type"])
        .unwrap();
    handler_router().layer(SecurityLayer::new(SecurityHeaders::new(), Some(cors)).unwrap())
}

fn peer() -> Router {
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list([HeaderValue::from_static(ORIGIN)]))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    // CORS inside, the headers outside, so that preflight answers get the
    // security headers too, as ours do; composed with one ServiceBuilder,
    // so the router boxes the stack once (a `Router::layer` per layer would
    // box each).
    let h: Vec<(HeaderName, HeaderValue)> = SecurityHeaders::new()
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            )
        })
        .collect();
    assert_eq!(h.len(), 6);
    let set = |i: usize| SetResponseHeaderLayer::overriding(h[i].0.clone(), h[i].1.clone());
    handler_router().layer(
        ServiceBuilder::new()
            .layer(set(0))
            .layer(set(1))
            .layer(set(2))
            .layer(set(3))
            .layer(set(4))
            .layer(set(5))
            .layer(cors),
    )
}

fn simple() -> Request<Body> {
    Request::get("/")
        .header(header::ORIGIN, ORIGIN)
        .body(Body::empty())
        .unwrap()
}

fn preflight() -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/")
        .header(header::ORIGIN, ORIGIN)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
        .body(Body::empty())
        .unwrap()
}

/// The headers both sides must send alike (names, lowercased values).
fn checked(r: &http::Response<Body>) -> Vec<(String, String)> {
    let out: Vec<(String, String)> = SecurityHeaders::new()
        .headers()
        .into_iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .chain(
            [
                "access-control-allow-origin",
                "access-control-allow-credentials",
            ]
            .map(str::to_owned),
        )
        .map(|n| {
            let v = r
                .headers()
                .get(&n)
                .map(|v| v.to_str().unwrap().to_ascii_lowercase())
                .unwrap_or_default();
            (n, v)
        })
        .collect();
    out
}

fn layer(c: &mut Criterion) {
    let rt = runtime();
    let (ours, peer) = (ours(), peer());
    // The same headers from both (ours answers a preflight 204, tower-http
    // 200).
    for req in [simple(), preflight()] {
        let again = Request::builder()
            .method(req.method())
            .uri(req.uri())
            .body(Body::empty());
        let mut again = again.unwrap();
        *again.headers_mut() = req.headers().clone();
        let a = rt.block_on(ours.clone().oneshot(req)).unwrap();
        let b = rt.block_on(peer.clone().oneshot(again)).unwrap();
        assert!(a.status().is_success() && b.status().is_success());
        assert_eq!(checked(&a), checked(&b));
    }

    let mut group = c.benchmark_group("axum_layer");
    group.bench_function("simple_get/secrets-core-axum", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(ours.clone().oneshot(simple()).await.unwrap()) });
    });
    group.bench_function("simple_get/tower-http", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(peer.clone().oneshot(simple()).await.unwrap()) });
    });
    group.bench_function("preflight/secrets-core-axum", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(ours.clone().oneshot(preflight()).await.unwrap()) });
    });
    group.bench_function("preflight/tower-http", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(peer.clone().oneshot(preflight()).await.unwrap()) });
    });
    group.finish();
}

fn bearer(c: &mut Criterion) {
    let rt = runtime();
    let (vault, header) = rt.block_on(async {
        let mut config = VaultConfig::default();
        config.password_cost = 10;
        let vault = Vault::new(
            Arc::new(MemoryStore::new()),
            Arc::new(KeyRing::new(MasterKey::generate().unwrap())),
            Arc::new(SystemClock),
            config,
        )
        .await
        .unwrap();
        let pw = SecretString::from("correct horse battery");
        vault
            .bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &pw, None)
            .await
            .unwrap();
        let session = vault
            .login(TenantId::DEFAULT, "ada@example.com", &pw, None)
            .await
            .unwrap();
        let header = format!("Bearer {}", session.access_token.expose_secret());
        (vault, header)
    });
    let auth = Authenticator::new(vault.clone());
    let (mut parts, ()) = Request::get("/")
        .header(header::AUTHORIZATION, &header)
        .body(())
        .unwrap()
        .into_parts();
    // Both accept the same caller.
    let via_extractor = rt
        .block_on(Authenticated::from_request_parts(&mut parts, &auth))
        .unwrap();
    let direct = rt
        .block_on(vault.authenticate_bearer(&header, None))
        .unwrap();
    assert_eq!(*via_extractor, direct);

    let mut group = c.benchmark_group("axum_bearer");
    group.bench_function("extractor/secrets-core-axum", |b| {
        b.to_async(&rt).iter(|| async {
            let mut parts = parts.clone();
            black_box(
                Authenticated::from_request_parts(&mut parts, &auth)
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("direct/authenticate_bearer", |b| {
        b.to_async(&rt).iter(|| async {
            // The same work a handler does without the extractor: read the
            // header from the request's parts, then authenticate it.
            let parts = parts.clone();
            let value = parts.headers[header::AUTHORIZATION].to_str().unwrap();
            black_box(vault.authenticate_bearer(value, None).await.unwrap())
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Modest times for a 2-core machine; command-line flags override these.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = layer, bearer
}
criterion_main!(benches);
