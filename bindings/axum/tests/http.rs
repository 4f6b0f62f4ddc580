//! The crate through `tower::ServiceExt::oneshot`: every extractor outcome,
//! every error kind's response, the layer's headers and CORS answers, and
//! webhook receiving.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRef};
use axum::http::{Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::error::ErrorKind;
use secrets_core::headers::{Cors, SecurityHeaders};
use secrets_core::store::MemoryStore;
use secrets_core::vault::{SourceStyle, Vault, VaultConfig};
use secrets_core::webhook::sign_github;
use secrets_core::{Error, SecretString, SystemClock, TenantId};
use secrets_core_axum::{
    ApiError, Authenticated, Authenticator, SecurityLayer, TokenResponse, VerifiedWebhook,
    WebhookReceiver,
};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

struct Fixture {
    vault: Vault,
    access: String,
    api: String,
}

async fn fixture() -> Fixture {
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
    let pw = SecretString::from(PASSWORD);
    let tenant = TenantId::DEFAULT;
    let ada = vault
        .bootstrap(tenant, "acme", "ada@example.com", &pw, None)
        .await
        .unwrap();
    let session = vault
        .login(tenant, "ada@example.com", &pw, None)
        .await
        .unwrap();
    let access = session.access_token.expose_secret().to_owned();
    let caller = vault.authenticate_bearer(&access, None).await.unwrap();
    let minted = vault
        .mint_api_token(&caller, ada, "ci", &["apps:read"], None)
        .await
        .unwrap();
    let system = secrets_core::vault::Caller::system(tenant);
    vault
        .register_webhook_source(&system, "github", SourceStyle::Github, GITHUB_SECRET)
        .await
        .unwrap();
    Fixture {
        vault,
        access,
        api: minted.token.expose_secret().to_owned(),
    }
}

#[derive(Clone)]
struct AppState {
    auth: Authenticator,
    receiver: WebhookReceiver,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(s: &AppState) -> Self {
        s.auth.clone()
    }
}

impl FromRef<AppState> for WebhookReceiver {
    fn from_ref(s: &AppState) -> Self {
        s.receiver.clone()
    }
}

async fn whoami(caller: Authenticated) -> String {
    format!(
        "{:?} source={}",
        caller.user(),
        caller.source().unwrap_or("-")
    )
}

async fn hello(caller: Option<Authenticated>) -> &'static str {
    if caller.is_some() {
        "member"
    } else {
        "anonymous"
    }
}

async fn hook(hook: VerifiedWebhook) -> Vec<u8> {
    hook.body.to_vec()
}

fn app(auth: Authenticator) -> Router {
    let state = AppState {
        receiver: WebhookReceiver::new(auth.clone(), TenantId::DEFAULT),
        auth,
    };
    Router::new()
        .route("/whoami", get(whoami))
        .route("/hello", get(hello))
        .route("/webhooks/{source}", post(hook))
        .with_state(state)
        .layer(SecurityLayer::new(SecurityHeaders::new(), None).unwrap())
}

async fn send(app: &Router, req: Request<Body>) -> (Response<Body>, String) {
    let r = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = r.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        Response::from_parts(parts, Body::empty()),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn get_with(uri: &str, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

fn www(r: &Response<Body>) -> Option<&str> {
    r.headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap())
}

fn problem(body: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(body).unwrap() {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test]
async fn bearer_extractor_outcomes() {
    let f = fixture().await;
    let app = app(Authenticator::new(f.vault.clone()));

    // No header: challenge without an error code, no `code` in the body.
    let (r, body) = send(&app, get_with("/whoami", None)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&r), Some("Bearer"));
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let p = problem(&body);
    assert_eq!(p["status"], 401);
    assert!(!p.contains_key("code"), "{body}");

    // Refused credentials of every shape: malformed, unknown API token,
    // forged JWT, a refresh-shaped token, two headers.
    let forged = format!("{}x", f.access);
    for bad in [
        "Bearer not a token",
        "Basic YWRhOnB3",
        "Bearer scp_0123456789012345678901234567890123456",
        forged.as_str(),
    ] {
        let (r, body) = send(&app, get_with("/whoami", Some(bad))).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(www(&r), Some(r#"Bearer error="invalid_token""#), "{bad}");
        assert_eq!(problem(&body)["code"], "invalid_token");
        assert!(!body.contains("scp_"), "{body}");
    }
    let two = Request::get("/whoami")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.access))
        .header(header::AUTHORIZATION, format!("Bearer {}", f.api))
        .body(Body::empty())
        .unwrap();
    let (r, _) = send(&app, two).await;
    assert_eq!(www(&r), Some(r#"Bearer error="invalid_token""#));

    // Accepted: an access token and an API token; no source recorded by
    // default even when the peer is known.
    for good in [format!("Bearer {}", f.access), format!("bearer {}", f.api)] {
        let mut req = get_with("/whoami", Some(&good));
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))));
        let (r, body) = send(&app, req).await;
        assert_eq!(r.status(), StatusCode::OK, "{body}");
        assert!(body.starts_with("Some("), "{body}");
        assert!(body.ends_with("source=-"), "{body}");
    }

    // The optional variant: anonymous without a header, member with a
    // good one, still a 401 for a bad one.
    let (r, body) = send(&app, get_with("/hello", None)).await;
    assert_eq!((r.status(), body.as_str()), (StatusCode::OK, "anonymous"));
    let (_, body) = send(&app, get_with("/hello", Some(&format!("Bearer {}", f.api)))).await;
    assert_eq!(body, "member");
    let (r, _) = send(&app, get_with("/hello", Some("Bearer nope"))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(www(&r), Some(r#"Bearer error="invalid_token""#));
}

#[tokio::test]
async fn audit_source_is_the_peer_or_the_trusted_proxy_header_when_asked() {
    let f = fixture().await;
    let bearer = format!("Bearer {}", f.api);
    let peer = ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000)));
    let request = |xff: Option<&str>| {
        let mut req = get_with("/whoami", Some(&bearer));
        if let Some(v) = xff {
            req.headers_mut()
                .insert("x-forwarded-for", v.parse().unwrap());
        }
        req.extensions_mut().insert(peer);
        req
    };

    let by_peer = app(Authenticator::new(f.vault.clone()).with_peer_address());
    let (_, body) = send(&by_peer, request(Some("203.0.113.9"))).await;
    assert!(body.ends_with("source=192.0.2.7"), "{body}");

    let proxied = app(Authenticator::new(f.vault.clone())
        .with_peer_address()
        .with_trusted_proxy_header("x-forwarded-for")
        .unwrap());
    // The last address is the one the proxy appended; what the client
    // wrote before it is not taken.
    let (_, body) = send(&proxied, request(Some("10.9.9.9, 203.0.113.9"))).await;
    assert!(body.ends_with("source=203.0.113.9"), "{body}");
    // Not an address: the peer.
    let (_, body) = send(&proxied, request(Some("evil\tvalue"))).await;
    assert!(body.ends_with("source=192.0.2.7"), "{body}");
    let (_, body) = send(&proxied, request(None)).await;
    assert!(body.ends_with("source=192.0.2.7"), "{body}");

    assert!(
        Authenticator::new(f.vault.clone())
            .with_trusted_proxy_header("bad header")
            .is_err()
    );
}

/// One error of every kind, each with a message that must not leak.
fn one_of_each_kind() -> Vec<Error> {
    let secretish = "SECRET-DETAIL";
    vec![
        Error::invalid("region", secretish),
        Error::TooLarge {
            what: "SECRET-DETAIL",
            len: 9,
            max: 1,
        },
        Error::InvalidCredentials,
        Error::InvalidToken {
            reason: secrets_core::error::TokenRejection::Revoked,
        },
        Error::Forbidden {
            action: secretish.into(),
        },
        Error::Webhook {
            reason: secrets_core::error::WebhookRejection::NoMatchingSignature,
        },
        Error::OAuth {
            reason: secrets_core::error::OAuthFailure::UnknownState,
            detail: Some(secretish.into()),
        },
        Error::NotFound {
            what: "user".into(),
            id: secretish.into(),
        },
        Error::AlreadyExists {
            what: "user".into(),
            id: secretish.into(),
        },
        Error::Conflict {
            what: "user".into(),
            id: secretish.into(),
            expected: 1,
            found: 2,
        },
        Error::Contended {
            what: "SECRET-DETAIL",
        },
        Error::DeletionProtected {
            tenant: secretish.into(),
        },
        Error::Unauthenticated,
        Error::UnsupportedVersion {
            found: 9,
            supported: 1,
        },
        Error::UnknownKey { key_id: 7 },
        Error::KeyExhausted {
            key_id: 7,
            sealed: 1,
        },
        Error::Tampered {
            kind: "user",
            id: secretish.into(),
        },
        Error::WrongMasterKey,
        Error::AuditChainBroken {
            seq: 3,
            reason: secrets_core::error::ChainBreak::BadLink,
        },
        Error::SchemaTooNew {
            found: 9,
            supported: 1,
        },
        Error::Storage {
            message: "SECRET-DETAIL: postgres://user:pw@db".into(),
            source: Some(Box::new(std::io::Error::other("SECRET-DETAIL"))),
        },
        Error::Corrupt {
            what: "user",
            id: secretish.into(),
            reason: "SECRET-DETAIL",
        },
        Error::Internal {
            what: "SECRET-DETAIL",
        },
        Error::Rng("SECRET-DETAIL".into()),
        Error::OutcomeUnknown {
            message: "SECRET-DETAIL".into(),
            source: Some(Box::new(std::io::Error::other("SECRET-DETAIL"))),
        },
    ]
}

#[tokio::test]
async fn every_error_kind_answers_its_status_and_code_and_nothing_else() {
    let errors = one_of_each_kind();
    let kinds: Vec<ErrorKind> = errors.iter().map(Error::kind).collect();
    assert_eq!(kinds, ErrorKind::ALL, "one error per kind, in order");
    for e in errors {
        let kind = e.kind();
        let r = ApiError::from(e).into_response();
        assert_eq!(r.status().as_u16(), kind.http_status(), "{kind}");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("SECRET"), "{kind}: {body}");
        assert!(!body.contains("region"), "{kind}: {body}");
        let p = problem(&body);
        let mut keys: Vec<&str> = p.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "status", "title", "type"], "{kind}");
        assert_eq!(p["type"], "about:blank");
        assert_eq!(p["status"], kind.http_status());
        assert_eq!(p["code"], kind.code());
        let reason = StatusCode::from_u16(kind.http_status())
            .unwrap()
            .canonical_reason()
            .unwrap();
        assert_eq!(p["title"], reason);
    }
}

fn layered(cors: Option<Cors>) -> Router {
    async fn fail() -> Result<(), ApiError> {
        Err(Error::Storage {
            message: "down".into(),
            source: None,
        }
        .into())
    }
    async fn varied() -> impl IntoResponse {
        ([(header::VARY, "Accept-Encoding")], "ok")
    }
    async fn token() -> impl IntoResponse {
        TokenResponse("{\"access_token\":\"x\"}")
    }
    async fn weak_csp() -> impl IntoResponse {
        ([(header::CONTENT_SECURITY_POLICY, "default-src *")], "ok")
    }
    Router::new()
        .route("/ok", get(varied).post(varied))
        .route("/fail", get(fail))
        .route(
            "/bad",
            get(|| async { ApiError::from(Error::invalid("x", "y")) }),
        )
        .route("/token", post(token))
        .route("/weak", get(weak_csp))
        .layer(SecurityLayer::new(SecurityHeaders::new(), cors).unwrap())
}

fn assert_security_headers(r: &Response<Body>, what: &str) {
    for (name, value) in SecurityHeaders::new().headers() {
        let got: Vec<_> = r.headers().get_all(name.as_str()).iter().collect();
        assert_eq!(got, [value.as_str()], "{what}: {name}");
    }
}

fn cors() -> Cors {
    Cors::new(&["http://127.0.0.1:5173"])
        .unwrap()
        .allow_credentials(true)
        .allowed_methods(&["GET", "POST", "DELETE"])
        .unwrap()
        .allowed_headers(&["Authorization", "Content-Type"])
        .unwrap()
}

fn vary(r: &Response<Body>) -> Vec<String> {
    r.headers()
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cors_headers(r: &Response<Body>) -> Vec<String> {
    r.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn security_headers_on_2xx_4xx_5xx_and_no_store_only_on_token_responses() {
    let app = layered(Some(cors()));
    for (method, uri, status) in [
        ("GET", "/ok", 200),
        ("GET", "/bad", 400),
        ("GET", "/missing", 404),
        ("GET", "/fail", 503),
        ("POST", "/token", 200),
        ("GET", "/weak", 200),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let (r, _) = send(&app, req).await;
        assert_eq!(r.status().as_u16(), status, "{uri}");
        // The handler's weaker CSP is replaced.
        assert_security_headers(&r, uri);
        let cache = r
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap());
        let pragma = r.headers().get(header::PRAGMA).map(|v| v.to_str().unwrap());
        if uri == "/token" {
            assert_eq!((cache, pragma), (Some("no-store"), Some("no-cache")));
        } else {
            assert_eq!((cache, pragma), (None, None), "{uri}");
        }
    }
}

#[tokio::test]
async fn preflight_allowed_and_refused() {
    let app = layered(Some(cors()));
    let preflight = |origin: &str, method: &str, headers: &str| {
        Request::builder()
            .method("OPTIONS")
            .uri("/ok")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
            .body(Body::empty())
            .unwrap()
    };
    let (r, body) = send(
        &app,
        preflight("http://127.0.0.1:5173", "DELETE", "authorization"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    let h = r.headers();
    assert_eq!(
        h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:5173"
    );
    assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    assert!(
        h[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("DELETE")
    );
    assert!(
        h[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization")
    );
    assert!(vary(&r).join(",").contains("Origin"));
    assert_security_headers(&r, "preflight");

    for (origin, method, headers) in [
        ("http://127.0.0.1:5174", "GET", "authorization"),
        ("http://127.0.0.1:5173.evil.example", "GET", "authorization"),
        ("http://127.0.0.1:5173", "PUT", "authorization"),
        ("http://127.0.0.1:5173", "GET", "x-debug"),
    ] {
        let (r, _) = send(&app, preflight(origin, method, headers)).await;
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{origin} {method} {headers}"
        );
        assert!(cors_headers(&r).is_empty(), "{:?}", cors_headers(&r));
        assert!(vary(&r).join(",").contains("Origin"));
        assert_security_headers(&r, "refused preflight");
    }

    // Without a Cors, OPTIONS goes to the router (405 here) and gets no
    // CORS header.
    let plain = layered(None);
    let (r, _) = send(
        &plain,
        preflight("http://127.0.0.1:5173", "GET", "authorization"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(cors_headers(&r).is_empty());
}

#[tokio::test]
async fn simple_requests_allowed_and_refused_and_vary_is_appended() {
    let app = layered(Some(cors()));
    let simple = |origin: Option<&str>| {
        let mut b = Request::get("/ok");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        b.body(Body::empty()).unwrap()
    };
    let (r, body) = send(&app, simple(Some("http://127.0.0.1:5173"))).await;
    assert_eq!((r.status(), body.as_str()), (StatusCode::OK, "ok"));
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:5173"
    );
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
        "true"
    );
    // The handler's Vary kept, Origin added beside it.
    assert_eq!(vary(&r), ["Accept-Encoding", "Origin"]);

    for origin in [Some("http://evil.example"), Some("null"), None] {
        let (r, body) = send(&app, simple(origin)).await;
        assert_eq!((r.status(), body.as_str()), (StatusCode::OK, "ok"));
        assert!(cors_headers(&r).is_empty(), "{origin:?}");
        assert_eq!(vary(&r), ["Accept-Encoding", "Origin"]);
    }

    // An error response to an allowed origin carries the grant too, so the
    // page can read the problem document.
    let req = Request::get("/fail")
        .header(header::ORIGIN, "http://127.0.0.1:5173")
        .body(Body::empty())
        .unwrap();
    let (r, _) = send(&app, req).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://127.0.0.1:5173"
    );
}

fn delivery(source: &str, delivery: &str, body: &'static [u8], secret: &str) -> Request<Body> {
    Request::post(format!("/webhooks/{source}"))
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", sign_github(body, secret.as_bytes()))
        .body(Body::from(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn webhooks_verify_byte_exact_and_every_refusal_is_the_same_401() {
    let f = fixture().await;
    let app = app(Authenticator::new(f.vault.clone()));
    // Not UTF-8, with CR LF and trailing spaces: handed over untouched.
    let body: &'static [u8] = b"{\"a\":1}\r\n  \xff\xfe  ";
    let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let r = app
        .clone()
        .oneshot(delivery("github", id, body, GITHUB_SECRET))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (parts, echoed) = r.into_parts();
    let echoed = axum::body::to_bytes(echoed, usize::MAX).await.unwrap();
    assert_eq!(&echoed[..], body);
    assert_security_headers(&Response::from_parts(parts, Body::empty()), "hook");

    let mut answers = Vec::new();
    for req in [
        // Replayed.
        delivery("github", id, body, GITHUB_SECRET),
        // Wrong secret.
        delivery(
            "github",
            "00000000-cc78-11e3-81ab-4c9367dc0958",
            b"{}",
            "not the secret at all",
        ),
        // Unknown source.
        delivery(
            "gitlab",
            "11111111-cc78-11e3-81ab-4c9367dc0958",
            b"{}",
            GITHUB_SECRET,
        ),
        // No signature.
        Request::post("/webhooks/github")
            .body(Body::from("{}"))
            .unwrap(),
    ] {
        let (r, body) = send(&app, req).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        answers.push(body);
    }
    assert_eq!(problem(&answers[0])["code"], "webhook_rejected");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

#[tokio::test]
async fn a_failing_vault_is_its_own_status_without_a_challenge_or_a_generic_401() {
    let down = || Error::Storage {
        message: "SECRET-DETAIL".into(),
        source: None,
    };
    for r in [
        secrets_core_axum::AuthRejection::from(down()).into_response(),
        secrets_core_axum::WebhookRejection::from(down()).into_response(),
    ] {
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(problem(&body)["code"], "storage");
        assert!(!body.contains("SECRET"));
    }
    // A client-side refusal of a delivery is the generic 401 whatever its
    // kind (here too large).
    let r = secrets_core_axum::WebhookRejection::from(Error::TooLarge {
        what: "payload",
        len: 2,
        max: 1,
    })
    .into_response();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
