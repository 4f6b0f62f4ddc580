//! The C ABI's overhead, measured: each group runs the same operation
//! through the `extern "C"` functions (as a C host calls them, linked from
//! this crate's rlib) and through the Rust API, in the same run.
//!
//! - `webhook_verify_1k`: a Standard Webhooks delivery of 1 KiB, the secret
//!   parsed from its `whsec_` text on every call on both sides (the C
//!   function takes the text).
//! - `api_token_auth_memory`: an API token authenticated on an in-memory
//!   store: `sc_vault_authenticate` (+ `sc_caller_free`) against
//!   `Vault::authenticate_bearer` blocked on a multi-threaded tokio runtime,
//!   which is what a synchronous Rust host does, and what `sc_vault` does.
#![allow(unsafe_code, missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::ffi::c_char;
use std::hint::black_box;
use std::sync::Arc;

use core_lib::crypto::{KeyRing, MasterKey};
use core_lib::store::MemoryStore;
use core_lib::vault::{Caller, Vault, VaultConfig};
use core_lib::webhook::{self, WebhookSecret};
use core_lib::{SecretString, SystemClock, TenantId, Timestamp};
use criterion::{Criterion, criterion_group, criterion_main};
use secrets_core as c;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TS: i64 = 1_700_000_000;
const TENANT: &str = "00000000-0000-0000-0000-000000000000";

fn s(text: &str) -> c::sc_str {
    c::sc_str {
        ptr: text.as_ptr().cast::<c_char>(),
        len: text.len(),
    }
}

fn webhook_verify(cr: &mut Criterion) {
    let payload = vec![b'a'; 1024];
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let signed = webhook::sign(&[&secret], "msg_bench", TS, &payload).unwrap();
    let ts = TS.to_string();
    let pairs = [
        ("webhook-id", "msg_bench"),
        ("webhook-timestamp", ts.as_str()),
        ("webhook-signature", signed.signature.as_str()),
    ];
    let now = Timestamp::from_unix_seconds(TS);
    let headers: Vec<c::sc_header> = pairs
        .iter()
        .map(|(n, v)| c::sc_header {
            name: s(n),
            value: s(v),
        })
        .collect();
    let secrets = [s(SECRET)];

    let mut g = cr.benchmark_group("webhook_verify_1k");
    g.bench_function("rust", |b| {
        b.iter(|| {
            let secret = WebhookSecret::parse(black_box(SECRET)).unwrap();
            webhook::verify(black_box(&pairs), black_box(&payload), &[&secret], now).unwrap()
        });
    });
    g.bench_function("c_abi", |b| {
        b.iter(|| {
            // SAFETY: every pointer is to live memory of the stated length.
            let r = unsafe {
                c::sc_webhook_verify(
                    secrets.as_ptr(),
                    secrets.len(),
                    headers.as_ptr(),
                    headers.len(),
                    black_box(payload.as_ptr()),
                    payload.len(),
                    TS,
                )
            };
            assert_eq!(r, c::sc_result::SC_OK);
        });
    });
    // The boundary alone: GitHub's check is one HMAC, so what is left is
    // the cost of crossing.
    let gh_secret = b"It's a Secret to Everybody";
    let gh_sig = webhook::sign_github(&payload, gh_secret);
    g.bench_function("github_rust", |b| {
        b.iter(|| {
            webhook::verify_github(black_box(&gh_sig), black_box(&payload), gh_secret).unwrap()
        });
    });
    g.bench_function("github_c_abi", |b| {
        b.iter(|| {
            // SAFETY: every pointer is to live memory of the stated length.
            let r = unsafe {
                c::sc_webhook_verify_github(
                    black_box(gh_sig.as_ptr().cast()),
                    gh_sig.len(),
                    black_box(payload.as_ptr()),
                    payload.len(),
                    gh_secret.as_ptr(),
                    gh_secret.len(),
                )
            };
            assert_eq!(r, c::sc_result::SC_OK);
        });
    });
    g.finish();
}

/// A vault through the C ABI with an Admin, and an API token of theirs.
fn c_vault() -> (*mut c::sc_vault, String) {
    let pw = "correct horse battery";
    let mut ring = std::ptr::null_mut();
    let mut vault = std::ptr::null_mut();
    let mut id = [0 as c_char; c::SC_ID_SIZE];
    let mut access = std::ptr::null_mut();
    let mut refresh = std::ptr::null_mut();
    let mut admin = std::ptr::null_mut();
    let mut token = std::ptr::null_mut();
    let all = [s("*")];
    // SAFETY: every pointer is to live memory of the stated length, and
    // each output is read only after SC_OK.
    unsafe {
        assert_eq!(c::sc_keyring_generate(&raw mut ring), c::sc_result::SC_OK);
        let url = "memory:";
        let r = c::sc_vault_open(
            url.as_ptr().cast(),
            url.len(),
            std::ptr::null(),
            0,
            ring,
            10,
            &raw mut vault,
        );
        assert_eq!(r, c::sc_result::SC_OK);
        c::sc_keyring_free(ring);
        let login = "ada@example.com";
        let r = c::sc_vault_bootstrap(
            vault,
            TENANT.as_ptr().cast(),
            TENANT.len(),
            "acme".as_ptr().cast(),
            4,
            login.as_ptr().cast(),
            login.len(),
            pw.as_ptr().cast(),
            pw.len(),
            std::ptr::null(),
            0,
            id.as_mut_ptr(),
            id.len(),
        );
        assert_eq!(r, c::sc_result::SC_OK);
        let r = c::sc_vault_login(
            vault,
            TENANT.as_ptr().cast(),
            TENANT.len(),
            login.as_ptr().cast(),
            login.len(),
            pw.as_ptr().cast(),
            pw.len(),
            std::ptr::null(),
            0,
            &raw mut access,
            &raw mut refresh,
        );
        assert_eq!(r, c::sc_result::SC_OK);
        let (mut data, mut len) = (std::ptr::null(), 0usize);
        c::sc_secret_expose(access, &raw mut data, &raw mut len);
        let r =
            c::sc_vault_authenticate(vault, data.cast(), len, std::ptr::null(), 0, &raw mut admin);
        assert_eq!(r, c::sc_result::SC_OK);
        let mut token_id = [0 as c_char; c::SC_ID_SIZE];
        let owner = std::ffi::CStr::from_ptr(id.as_ptr()).to_str().unwrap();
        let r = c::sc_vault_mint_api_token(
            vault,
            admin,
            owner.as_ptr().cast(),
            owner.len(),
            "bench".as_ptr().cast(),
            5,
            all.as_ptr(),
            1,
            0,
            token_id.as_mut_ptr(),
            token_id.len(),
            &raw mut token,
        );
        assert_eq!(r, c::sc_result::SC_OK);
        c::sc_secret_expose(token, &raw mut data, &raw mut len);
        let text = std::str::from_utf8(std::slice::from_raw_parts(data, len))
            .unwrap()
            .to_owned();
        c::sc_secret_free(token);
        c::sc_secret_free(access);
        c::sc_secret_free(refresh);
        c::sc_caller_free(admin);
        (vault, text)
    }
}

fn api_token_auth(cr: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (vault, token) = rt.block_on(async {
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
        let ada = vault
            .bootstrap(TenantId::DEFAULT, "acme", "ada@example.com", &pw, None)
            .await
            .unwrap();
        let system = Caller::system(TenantId::DEFAULT);
        let minted = vault
            .mint_api_token(&system, ada, "bench", &["*"], None)
            .await
            .unwrap();
        (vault, minted.token.expose_secret().to_owned())
    });
    let (c_vault, c_token) = c_vault();

    let mut g = cr.benchmark_group("api_token_auth_memory");
    g.bench_function("rust", |b| {
        b.iter(|| {
            rt.block_on(vault.authenticate_bearer(black_box(&token), None))
                .unwrap()
        });
    });
    g.bench_function("c_abi", |b| {
        b.iter(|| {
            let mut caller = std::ptr::null_mut();
            // SAFETY: a live vault, a live token text, a writable output.
            unsafe {
                let r = c::sc_vault_authenticate(
                    c_vault,
                    black_box(c_token.as_ptr().cast()),
                    c_token.len(),
                    std::ptr::null(),
                    0,
                    &raw mut caller,
                );
                assert_eq!(r, c::sc_result::SC_OK);
                c::sc_caller_free(caller);
            }
        });
    });
    g.finish();
    // SAFETY: the vault from `c_vault`, freed once.
    unsafe { c::sc_vault_free(c_vault) };
}

criterion_group!(benches, webhook_verify, api_token_auth);
criterion_main!(benches);
