//! An OAuth 2.0 authorization-code flow with PKCE against an in-process
//! fake provider, then a token refresh 5 minutes before expiry.
//!
//! ```sh
//! cargo run -p secrets-core-examples --bin oauth_flow
//! ```
//!
//! The library never makes an HTTP call: the fake provider below stands in
//! for what the host would reach over the network (its authorize and token
//! endpoints), and the host's refresher calls it.

#![allow(clippy::print_stdout)] // an example talks to its reader

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::oauth::{self, TokenSet};
use secrets_core::store::MemoryStore;
use secrets_core::vault::{OAuthRefresher, Vault, VaultConfig};
use secrets_core::{Clock, Error, ManualClock, Result, SecretString, TenantId, Timestamp};
use sha2::{Digest, Sha256};

/// A provider with an authorize endpoint (remembers the PKCE challenge per
/// code) and a token endpoint (checks the verifier, rotates refresh tokens).
#[derive(Default)]
struct FakeProvider {
    challenges: Mutex<HashMap<String, String>>,
    refresh_tokens: Mutex<HashMap<String, u32>>,
    issued: Mutex<u32>,
}

impl FakeProvider {
    fn authorize(&self, url: &str) -> String {
        let challenge = query(url, "code_challenge").unwrap_or_default();
        let code = format!("code-{}", challenge.len());
        lock(&self.challenges).insert(code.clone(), challenge);
        code
    }

    /// The token endpoint: a form body in, a JSON body out.
    fn token(&self, form: &str) -> String {
        let field = |k: &str| query(&format!("?{form}"), k).unwrap_or_default();
        match field("grant_type").as_str() {
            "authorization_code" => {
                let expected = lock(&self.challenges).remove(&field("code"));
                let verifier = field("code_verifier");
                let actual = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if expected.as_deref() != Some(actual.as_str()) {
                    return r#"{"error":"invalid_grant"}"#.into();
                }
            }
            "refresh_token" => {
                // Rotating refresh tokens: each one works once.
                if lock(&self.refresh_tokens)
                    .remove(&field("refresh_token"))
                    .is_none()
                {
                    return r#"{"error":"invalid_grant"}"#.into();
                }
            }
            _ => return r#"{"error":"unsupported_grant_type"}"#.into(),
        }
        let mut n = lock(&self.issued);
        *n += 1;
        let refresh = format!("rt-{n}");
        lock(&self.refresh_tokens).insert(refresh.clone(), *n);
        format!(
            r#"{{"access_token":"at-{n}","token_type":"Bearer","expires_in":3600,"refresh_token":"{refresh}","scope":"repo read:user"}}"#
        )
    }
}

/// The host's refresher: posts the refresh form to the provider.
struct Host {
    provider: Arc<FakeProvider>,
    clock: ManualClock,
}

#[async_trait]
impl OAuthRefresher for Host {
    async fn refresh(&self, _provider: &str, current: &TokenSet) -> Result<TokenSet> {
        let refresh = current
            .refresh_token
            .as_ref()
            .ok_or_else(|| Error::invalid("tokens", "no refresh token"))?;
        let form = oauth::refresh_request_form(refresh, "client-123", &[])?;
        let body = self.provider.token(form.expose_secret());
        TokenSet::from_refresh_response(body.as_bytes(), self.clock.now(), current)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let clock = ManualClock::new(Timestamp::from_unix_seconds(1_767_225_600));
    let vault = Vault::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::new(MasterKey::generate()?)),
        Arc::new(clock.clone()),
        {
            let mut c = VaultConfig::default();
            c.password_cost = 10;
            c
        },
    )
    .await?;
    let pw = SecretString::from("an example passphrase");
    let tenant = TenantId::DEFAULT;
    let user = vault
        .bootstrap(tenant, "acme", "ada@example.com", &pw, None)
        .await?;
    let session = vault.login(tenant, "ada@example.com", &pw, None).await?;
    let ada = vault
        .authenticate_access_token(session.access_token.expose_secret(), None)
        .await?;
    let provider = Arc::new(FakeProvider::default());

    // 1. Begin: a single-use state and a PKCE challenge; the verifier stays sealed.
    let redirect = "https://app.example.com/oauth/callback";
    let start = vault.begin_oauth(&ada, "github", redirect).await?;
    let url = oauth::authorization_url(
        "https://provider.example/authorize",
        "client-123",
        redirect,
        &["repo", "read:user"],
        &start.state,
        &start.code_challenge,
    )?;
    println!("send the user to {url}");

    // 2. The provider redirects back with a code and our state.
    let code = provider.authorize(&url);
    let done = vault.complete_oauth(&ada, &start.state).await?;
    println!("state checked and consumed; provider {}", done.provider);
    match vault.complete_oauth(&ada, &start.state).await {
        Err(e @ Error::OAuth { .. }) => println!("the same state again is refused: {e}"),
        other => {
            return Err(Error::invalid(
                "example",
                format!("state reuse succeeded: {}", other.is_ok()),
            ));
        }
    }

    // 3. Exchange the code (the host's HTTP call) and store the tokens, sealed.
    let form = oauth::token_request_form(&code, &done.redirect_uri, "client-123", &done.verifier)?;
    let tokens = TokenSet::from_token_response(
        provider.token(form.expose_secret()).as_bytes(),
        clock.now(),
    )?;
    vault.store_oauth_tokens(&ada, "github", &tokens).await?;
    println!(
        "connected: scopes {:?}, tokens print as {:?}",
        tokens.scopes, tokens.access_token
    );

    // 4. A fresh token: valid for an hour, so no refresh.
    let host = Host {
        provider: provider.clone(),
        clock: clock.clone(),
    };
    let t = vault.fresh_token(&ada, user, "github", &host).await?;
    println!("fresh token: {} (no refresh needed)", t.expose_secret());

    // 5. 56 minutes later it expires within 5 minutes: refreshed first, once.
    clock.advance(Duration::from_secs(56 * 60));
    let (a, b) = tokio::join!(
        vault.fresh_token(&ada, user, "github", &host),
        vault.fresh_token(&ada, user, "github", &host)
    );
    println!(
        "after 56 minutes: {} and {} (one refresh for both callers)",
        a?.expose_secret(),
        b?.expose_secret()
    );
    Ok(())
}

fn query(url: &str, key: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
