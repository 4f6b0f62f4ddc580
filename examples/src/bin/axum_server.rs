//! A small axum service on secrets-core through `secrets-core-axum`: login
//! and refresh, bearer-authenticated routes, app secrets, inbound and
//! outbound webhooks, and the audit log for admins, with the security
//! headers and CORS of one layer.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin axum_server
//! curl -s -X POST localhost:8080/login -H 'content-type: application/json' \
//!   -d '{"login":"admin@example.com","password":"correct horse battery staple"}'
//! ```
//!
//! Configuration (environment; every value has an example default):
//!
//! | variable | default |
//! |---|---|
//! | `AXUM_EXAMPLE_ADDR` | `127.0.0.1:8080` (`127.0.0.1:0` picks a free port) |
//! | `AXUM_EXAMPLE_ORIGINS` | `http://127.0.0.1:5173` (comma-separated CORS allowlist) |
//! | `AXUM_EXAMPLE_ADMIN_PASSWORD` | `correct horse battery staple` |
//! | `AXUM_EXAMPLE_GITHUB_SECRET` | `It's a Secret to Everybody` (inbound source `github`) |
//!
//! The store is in memory and the bcrypt cost is 10 so that it starts at
//! once: a real service keeps SQLite or PostgreSQL and the default cost.
//! It prints `listening on http://ADDR` when it accepts connections.

#![allow(clippy::print_stdout)] // an example talks to its reader

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::headers::{Cors, SecurityHeaders};
use secrets_core::jwt::JwtAlgorithm;
use secrets_core::store::{AuditQuery, MemoryStore};
use secrets_core::vault::{Caller, SourceStyle, Vault, VaultConfig};
use secrets_core::{Error, SecretString, SystemClock, TenantId};
use secrets_core_axum::{
    ApiError, AuditSource, Authenticated, Authenticator, SecurityLayer, TokenResponse,
    VerifiedWebhook, WebhookReceiver,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The tenant this single-tenant service serves.
const TENANT: TenantId = TenantId::DEFAULT;

/// The router's state: how the extractors reach the Vault.
#[derive(Clone)]
struct AppState {
    auth: Authenticator,
    webhooks: WebhookReceiver,
}

impl axum::extract::FromRef<AppState> for Authenticator {
    fn from_ref(s: &AppState) -> Self {
        s.auth.clone()
    }
}

impl axum::extract::FromRef<AppState> for WebhookReceiver {
    fn from_ref(s: &AppState) -> Self {
        s.webhooks.clone()
    }
}

impl axum::extract::FromRef<AppState> for Vault {
    fn from_ref(s: &AppState) -> Self {
        s.auth.vault().clone()
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
struct Login {
    login: String,
    password: String,
}

async fn login(
    State(vault): State<Vault>,
    AuditSource(source): AuditSource,
    Json(body): Json<Login>,
) -> ApiResult<impl IntoResponse> {
    let password = SecretString::from(body.password);
    let session = vault
        .login(TENANT, &body.login, &password, source.as_deref())
        .await?;
    Ok(TokenResponse(Json(json!(session.expose_secrets()))))
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: String,
}

async fn refresh(
    State(vault): State<Vault>,
    AuditSource(source): AuditSource,
    Json(body): Json<Refresh>,
) -> ApiResult<impl IntoResponse> {
    let session = vault
        .refresh(&body.refresh_token, source.as_deref())
        .await?;
    Ok(TokenResponse(Json(json!(session.expose_secrets()))))
}

async fn me(State(vault): State<Vault>, caller: Authenticated) -> ApiResult<Json<Value>> {
    let profile = vault.whoami(&caller).await?;
    Ok(Json(json!({
        "caller": &*caller,
        "login": profile.login,
        "permissions": profile.permissions,
    })))
}

async fn hello(caller: Option<Authenticated>) -> Json<Value> {
    Json(json!({ "authenticated": caller.is_some() }))
}

async fn set_secret(
    State(vault): State<Vault>,
    caller: Authenticated,
    Path((app, name)): Path<(String, String)>,
    value: Bytes,
) -> ApiResult<Json<Value>> {
    let version = vault.set_secret(&caller, &app, &name, &value).await?;
    Ok(Json(json!({ "version": version })))
}

async fn list_secrets(
    State(vault): State<Vault>,
    caller: Authenticated,
    Path(app): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(json!(vault.list_secrets(&caller, &app).await?)))
}

async fn inject(
    State(vault): State<Vault>,
    caller: Authenticated,
    Path(app): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let env = vault.inject(&caller, &app).await?;
    let env: BTreeMap<String, String> = env
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(v.expose_secret()).into_owned()))
        .collect();
    // Secret values: never cached.
    Ok(TokenResponse(Json(json!(env))))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    scopes: Vec<String>,
}

/// Mints an API token for the caller, narrowed to `scopes`; shown once.
async fn mint_token(
    State(vault): State<Vault>,
    caller: Authenticated,
    Json(body): Json<NewToken>,
) -> ApiResult<impl IntoResponse> {
    let owner = caller
        .user()
        .ok_or_else(|| Error::invalid("caller", "has no user to own a token"))?;
    let scopes: Vec<&str> = body.scopes.iter().map(String::as_str).collect();
    let minted = vault
        .mint_api_token(&caller, owner, &body.name, &scopes, None)
        .await?;
    Ok(TokenResponse(Json(json!(minted.expose_secrets()))))
}

#[derive(Deserialize)]
struct NewEndpoint {
    url: String,
    description: String,
}

/// Registers an outbound endpoint; its signing secret is shown once.
async fn register_endpoint(
    State(vault): State<Vault>,
    caller: Authenticated,
    Json(body): Json<NewEndpoint>,
) -> ApiResult<impl IntoResponse> {
    let ep = vault
        .register_webhook_endpoint(&caller, &body.url, &body.description)
        .await?;
    Ok(TokenResponse(Json(json!(ep.expose_secrets()))))
}

/// Signs an outbound message: the headers a delivery worker sends with
/// the body to the endpoint.
async fn sign_message(
    State(vault): State<Vault>,
    caller: Authenticated,
    Path((endpoint, msg_id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let signed = vault
        .sign_webhook(&caller, &endpoint, &msg_id, &body)
        .await?;
    let headers: BTreeMap<&str, String> = signed
        .pairs()
        .into_iter()
        .map(|(n, v)| (n, v.to_string()))
        .collect();
    Ok(Json(json!({ "headers": headers })))
}

/// An inbound delivery, verified against the registered source named by
/// the path; the handler sees only verified, byte-exact bodies.
async fn receive(hook: VerifiedWebhook) -> Json<Value> {
    Json(json!({
        "id": hook.received.id,
        "style": hook.received.style,
        "bytes": hook.body.len(),
    }))
}

/// The audit log: Admins only (the Vault checks `audit:read` and audits a
/// refusal).
async fn audit(State(vault): State<Vault>, caller: Authenticated) -> ApiResult<Json<Value>> {
    let mut query = AuditQuery::default();
    query.limit = 100;
    Ok(Json(json!(vault.audit_events(&caller, &query).await?)))
}

async fn jwks(State(vault): State<Vault>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        vault.jwks().to_json(),
    )
}

/// A page whose inline script the CSP must block, and whose same-origin
/// script it allows: both write into the page.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>secrets-core axum example</title></head>
<body>
<p id="inline">inline script blocked</p>
<p id="external">external script did not run</p>
<script>document.getElementById("inline").textContent = "inline script ran";</script>
<script src="/app.js"></script>
</body></html>
"#;

const APP_JS: &str = r#"document.getElementById("external").textContent = "external script ran";"#;

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript")], APP_JS)
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The service, given a Vault and the CORS allowlist.
fn router(vault: Vault, origins: &[&str]) -> Result<Router, Error> {
    let auth = Authenticator::new(vault).with_peer_address();
    let state = AppState {
        webhooks: WebhookReceiver::new(auth.clone(), TENANT),
        auth,
    };
    let cors = Cors::new(origins)?
        .allow_credentials(true)
        .allowed_methods(&["GET", "POST", "PUT"])?
        .allowed_headers(&["Authorization", "Content-Type"])?;
    Ok(Router::new()
        .route("/", get(page))
        .route("/app.js", get(app_js))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/me", get(me))
        .route("/hello", get(hello))
        .route("/tokens", post(mint_token))
        .route("/apps/{app}/secrets", get(list_secrets))
        .route("/apps/{app}/secrets/{name}", put(set_secret))
        .route("/apps/{app}/env", get(inject))
        .route("/endpoints", post(register_endpoint))
        .route(
            "/endpoints/{endpoint}/messages/{msg_id}",
            post(sign_message),
        )
        .route("/webhooks/{source}", post(receive))
        .route("/audit", get(audit))
        .with_state(state)
        .layer(SecurityLayer::new(SecurityHeaders::new(), Some(cors))?))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = VaultConfig::default();
    config.password_cost = 10;
    // EdDSA access tokens: other services verify them with the JWKS alone.
    config.jwt.algorithm = JwtAlgorithm::EdDsa;
    let vault = Vault::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new(MasterKey::generate()?)),
        Arc::new(SystemClock),
        config,
    )
    .await?;
    let password = SecretString::from(env(
        "AXUM_EXAMPLE_ADMIN_PASSWORD",
        "correct horse battery staple",
    ));
    vault
        .bootstrap(TENANT, "example", "admin@example.com", &password, None)
        .await?;
    vault
        .register_webhook_source(
            &Caller::system(TENANT),
            "github",
            SourceStyle::Github,
            &env("AXUM_EXAMPLE_GITHUB_SECRET", "It's a Secret to Everybody"),
        )
        .await?;

    let origins = env("AXUM_EXAMPLE_ORIGINS", "http://127.0.0.1:5173");
    let origins: Vec<&str> = origins.split(',').map(str::trim).collect();
    let app = router(vault, &origins)?;

    let listener =
        tokio::net::TcpListener::bind(env("AXUM_EXAMPLE_ADDR", "127.0.0.1:8080")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
