//! Interoperability: PyJWT verifies an EdDSA access token from the JWKS
//! alone (`core/tests/interop/pyjwt_verify.py`), and refuses a tampered
//! one, an HS256 one and one from another deployment.
//!
//! The interpreter is `$SECRETS_CORE_PYTHON` (default `python3`). Without
//! PyJWT and `cryptography` the test prints a note and passes, unless
//! `SECRETS_CORE_INTEROP=required` (CI sets it), where it fails.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::{Value, json};

use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::jwt::{JwtAlgorithm, JwtConfig, JwtSigner};
use secrets_core::rbac::Role;
use secrets_core::{Clock, SystemClock, TenantId, UserId};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/pyjwt_verify.py");

/// The exit status the script gives when PyJWT is not importable.
const NOT_INSTALLED: i32 = 77;

/// What the script said: its exit code, stdout and stderr; `None` if
/// PyJWT (or Python) is not there and that is allowed.
fn pyjwt(request: &Value) -> Option<(i32, String, String)> {
    let python = std::env::var("SECRETS_CORE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let required = std::env::var("SECRETS_CORE_INTEROP").as_deref() == Ok("required");
    let skip = |why: String| {
        assert!(!required, "SECRETS_CORE_INTEROP=required, but {why}");
        eprintln!(
            "note: PyJWT interop test skipped ({why}); set SECRETS_CORE_PYTHON to a Python \
             with PyJWT and cryptography, and SECRETS_CORE_INTEROP=required to make this a failure"
        );
        None
    };
    let mut child = match Command::new(&python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return skip(format!("`{python}` could not be run: {e}")),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if code == NOT_INSTALLED {
        return skip(format!(
            "PyJWT is not importable by `{python}`: {}",
            stderr.trim()
        ));
    }
    Some((
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    ))
}

fn eddsa_signer(master: [u8; 32]) -> (Arc<KeyRing>, JwtSigner) {
    let ring = Arc::new(KeyRing::new(MasterKey::from_bytes(&master).unwrap()));
    let mut config = JwtConfig::default();
    config.algorithm = JwtAlgorithm::EdDsa;
    config.issuer = "https://id.example.com".into();
    config.audience = "api://deploy".into();
    let jwt = JwtSigner::new(config, Arc::clone(&ring)).unwrap();
    (ring, jwt)
}

#[test]
fn pyjwt_verifies_an_eddsa_token_from_the_jwks_alone() {
    let (ring, jwt) = eddsa_signer([0x19; 32]);
    // PyJWT checks exp against the real clock.
    let now = SystemClock.now();
    let user = UserId::generate();
    let (token, claims) = jwt
        .issue(
            user,
            TenantId::DEFAULT,
            Role::Developer,
            vec!["apps:read".into()],
            4,
            now,
        )
        .unwrap();
    let request = |token: &str, jwks: String| {
        json!({
            "jwks": jwks,
            "token": token,
            "issuer": "https://id.example.com",
            "audience": "api://deploy",
            "expect": {"sub": user.to_string(), "role": "developer", "epoch": 4},
        })
    };
    let Some((code, stdout, stderr)) = pyjwt(&request(&token, jwt.jwks().to_json())) else {
        return;
    };
    assert_eq!(code, 0, "PyJWT refused a valid token: {stderr}");
    let verified: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verified, serde_json::to_value(&claims).unwrap());

    // The argv form: a JWKS file, the token, the issuer and the audience.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwt.jwks().to_json()).unwrap();
    let python = std::env::var("SECRETS_CORE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let out = Command::new(&python)
        .arg(SCRIPT)
        .arg(&path)
        .arg(&token)
        .arg("https://id.example.com")
        .arg("api://deploy")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verified: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["jti"], claims.jti.as_str());
    let out = Command::new(&python)
        .arg(SCRIPT)
        .arg(&path)
        .arg(&token)
        .arg("https://id.example.com")
        .arg("api://another")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "wrong audience accepted");

    // After a rotation: the new token under the new kid, the old one under
    // the still-published old kid, both from the JWKS published before the
    // rotation too (the new key was published ahead of use).
    let before = jwt.jwks().to_json();
    ring.rotate().unwrap();
    let (new, _) = jwt
        .issue(user, TenantId::DEFAULT, Role::Developer, vec![], 4, now)
        .unwrap();
    for (what, t, jwks) in [
        ("new token, new JWKS", &new, jwt.jwks().to_json()),
        ("new token, JWKS of before", &new, before.clone()),
        ("old token, new JWKS", &token, jwt.jwks().to_json()),
    ] {
        let (code, _, stderr) = pyjwt(&request(t, jwks)).unwrap();
        assert_eq!(code, 0, "{what}: {stderr}");
    }

    // Refusals: one signature bit changed; a claim changed; another
    // deployment's token; an HS256 token (its key is in no JWKS).
    let (input, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = crate::unb64(sig);
    bytes[0] ^= 1;
    let tampered = format!("{input}.{}", crate::b64(&bytes));
    let (_, other) = eddsa_signer([0x20; 32]);
    let (foreign, _) = other
        .issue(user, TenantId::DEFAULT, Role::Admin, vec![], 4, now)
        .unwrap();
    let hs = JwtSigner::new(
        {
            let mut c = JwtConfig::default();
            c.issuer = "https://id.example.com".into();
            c.audience = "api://deploy".into();
            c
        },
        Arc::clone(&ring),
    )
    .unwrap();
    let (hs256, _) = hs
        .issue(user, TenantId::DEFAULT, Role::Admin, vec![], 4, now)
        .unwrap();
    let mut wrong_claims = request(&token, jwt.jwks().to_json());
    wrong_claims["expect"]["role"] = json!("admin");
    for (what, req) in [
        ("tampered", request(&tampered, jwt.jwks().to_json())),
        ("foreign", request(&foreign, jwt.jwks().to_json())),
        ("hs256", request(&hs256, jwt.jwks().to_json())),
        ("claim not as expected", wrong_claims),
    ] {
        let (code, _, stderr) = pyjwt(&req).unwrap();
        assert_eq!(code, 1, "{what} was not refused: {stderr}");
    }
}
