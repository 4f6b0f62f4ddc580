//! Runs the `axum_server` example as a user would, over real HTTP on a
//! loopback port: the documented flow, then the interoperability checks
//! (Python's `standardwebhooks` and PyJWT) and a real browser (headless
//! Chromium) for CORS and the CSP.
//!
//! The Python checks need `$SECRETS_CORE_PYTHON` (scripts/test.sh sets it
//! up); the browser check needs `chromium` (or `$SECRETS_CORE_CHROMIUM`).
//! Each is skipped with a note when its peer is missing, and fails instead
//! under `SECRETS_CORE_INTEROP=required` / `SECRETS_CORE_BROWSER=required`
//! (what scripts/test.sh sets in CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};

/// The example server, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(origins: &str) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_axum_server"))
        .env("AXUM_EXAMPLE_ADDR", "127.0.0.1:0")
        .env("AXUM_EXAMPLE_ORIGINS", origins)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server { child, addr }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request, `Connection: close`.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap(), 16).unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + len]);
            rest = &rest[end + 2 + len + 2..];
        }
        body = out;
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn login(addr: &str) -> Value {
    let body = json!({"login": "admin@example.com", "password": "correct horse battery staple"});
    let r = http(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

fn bearer(token: &Value) -> String {
    format!("Bearer {}", token.as_str().unwrap())
}

#[test]
fn axum_server_serves_the_documented_flow() {
    let server = start("http://127.0.0.1:5173");
    let addr = server.addr.as_str();
    let session = login(addr);
    let admin = bearer(&session["access_token"]);

    // Anonymous and authenticated routes; the security headers on both.
    let r = http(addr, "GET", "/me", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    let r = http(addr, "GET", "/me", &[("Authorization", "Bearer nope")], b"");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
    assert_eq!(r.json()["code"], "invalid_token");
    let r = http(addr, "GET", "/me", &[("Authorization", &admin)], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["login"], "admin@example.com");
    assert_eq!(r.json()["caller"]["source"], "127.0.0.1");
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'self'")
    );
    assert_eq!(r.header("cache-control"), None);
    let r = http(addr, "GET", "/hello", &[], b"");
    assert_eq!(r.json()["authenticated"], false);

    // Refresh: a new pair; the old refresh token is not a bearer credential.
    let body = json!({"refresh_token": session["refresh_token"]}).to_string();
    let r = http(
        addr,
        "POST",
        "/refresh",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_ne!(r.json()["refresh_token"], session["refresh_token"]);
    let r = http(
        addr,
        "GET",
        "/me",
        &[("Authorization", &bearer(&session["refresh_token"]))],
        b"",
    );
    assert_eq!(r.status, 401);

    // App secrets.
    let r = http(
        addr,
        "PUT",
        "/apps/web/secrets/DATABASE_URL",
        &[("Authorization", &admin)],
        b"postgres://db",
    );
    assert_eq!((r.status, r.json()["version"].as_u64()), (200, Some(1)));
    let r = http(
        addr,
        "PUT",
        "/apps/web/secrets/not-a-name",
        &[("Authorization", &admin)],
        b"x",
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("invalid_input"))
    );
    let r = http(
        addr,
        "GET",
        "/apps/web/secrets",
        &[("Authorization", &admin)],
        b"",
    );
    assert_eq!(r.json()[0]["name"], "DATABASE_URL");
    assert!(!String::from_utf8_lossy(&r.body).contains("postgres://db"));
    let r = http(
        addr,
        "GET",
        "/apps/web/env",
        &[("Authorization", &admin)],
        b"",
    );
    assert_eq!(r.json()["DATABASE_URL"], "postgres://db");
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // A narrowed API token: reads the list, may not read the audit log.
    let body = json!({"name": "ci", "scopes": ["apps:read", "secrets:list"]}).to_string();
    let r = http(
        addr,
        "POST",
        "/tokens",
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let ci = bearer(&r.json()["token"]);
    assert_eq!(
        http(
            addr,
            "GET",
            "/apps/web/secrets",
            &[("Authorization", &ci)],
            b""
        )
        .status,
        200
    );
    let r = http(addr, "GET", "/audit", &[("Authorization", &ci)], b"");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (403, Some("forbidden"))
    );

    // Inbound webhook from the registered GitHub source, byte-exact.
    let payload = br#"{"action":"opened"}"#;
    let sig = secrets_core::webhook::sign_github(payload, b"It's a Secret to Everybody");
    let hook = |sig: &str| {
        http(
            addr,
            "POST",
            "/webhooks/github",
            &[
                ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                ("X-Hub-Signature-256", sig),
            ],
            payload,
        )
    };
    let r = hook(&sig);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["bytes"], payload.len());
    let replay = hook(&sig);
    assert_eq!(
        (replay.status, replay.json()["code"].as_str()),
        (401, Some("webhook_rejected"))
    );

    // The audit log, for the admin: the login, the refusal, the delivery.
    let r = http(addr, "GET", "/audit", &[("Authorization", &admin)], b"");
    assert_eq!(r.status, 200);
    let actions: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect();
    for action in [
        "auth.login",
        "auth.refresh",
        "secret.set",
        "api_token.mint",
        "webhook.receive",
        "audit.query",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "no {action} in {actions:?}"
        );
    }
}

/// The test venv's Python, when it is there; a panic when it must be.
fn python() -> Option<String> {
    let python = std::env::var("SECRETS_CORE_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let probe = Command::new(&python)
        .args(["-c", "import jwt, standardwebhooks"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Some(python),
        other => {
            let required = std::env::var("SECRETS_CORE_INTEROP").as_deref() == Ok("required");
            assert!(
                !required,
                "SECRETS_CORE_INTEROP=required but {python} cannot import jwt and standardwebhooks: {other:?}"
            );
            println!(
                "note: Python interop skipped (set SECRETS_CORE_PYTHON to a Python with PyJWT and standardwebhooks)"
            );
            None
        }
    }
}

fn run_python(python: &str, script: &str, input: &Value) -> String {
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

const VERIFY_WEBHOOK: &str = r#"
import json, sys
from standardwebhooks import Webhook
d = json.load(sys.stdin)
wh = Webhook(d["secret"])
wh.verify(d["payload"], d["headers"])
try:
    wh.verify(d["payload"] + " ", d["headers"])
    print("tampered payload accepted")
except Exception:
    print("verified")
"#;

const VERIFY_JWT: &str = r#"
import json, sys
import jwt
d = json.load(sys.stdin)
token = d["token"]
kid = jwt.get_unverified_header(token)["kid"]
keys = jwt.PyJWKSet.from_json(d["jwks"])
key = next(k for k in keys.keys if k.key_id == kid)
claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience="secrets-core", issuer="secrets-core")
try:
    jwt.decode(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), key.key, algorithms=["EdDSA"], audience="secrets-core", issuer="secrets-core")
    print("forged token accepted")
except jwt.InvalidTokenError:
    print("valid " + claims["sub"])
"#;

#[test]
fn outbound_webhooks_verify_in_standardwebhooks_and_tokens_in_pyjwt() {
    let Some(python) = python() else { return };
    let server = start("http://127.0.0.1:5173");
    let addr = server.addr.as_str();
    let session = login(addr);
    let admin = bearer(&session["access_token"]);

    let body = json!({"url": "https://hooks.example.com/in", "description": "deploys"}).to_string();
    let r = http(
        addr,
        "POST",
        "/endpoints",
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let endpoint = r.json();
    let payload = r#"{"type":"deploy.finished","app":"web"}"#;
    let path = format!(
        "/endpoints/{}/messages/msg_1",
        endpoint["id"].as_str().unwrap()
    );
    let r = http(
        addr,
        "POST",
        &path,
        &[("Authorization", &admin)],
        payload.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let out = run_python(
        &python,
        VERIFY_WEBHOOK,
        &json!({
            "secret": endpoint["secret"],
            "payload": payload,
            "headers": r.json()["headers"],
        }),
    );
    assert_eq!(out.trim(), "verified");

    let jwks = http(addr, "GET", "/.well-known/jwks.json", &[], b"");
    assert_eq!(jwks.status, 200);
    let out = run_python(
        &python,
        VERIFY_JWT,
        &json!({
            "token": session["access_token"],
            "jwks": String::from_utf8(jwks.body).unwrap(),
        }),
    );
    assert_eq!(
        out.trim(),
        format!("valid {}", session["user"].as_str().unwrap())
    );
}

/// The browser, when it is there; a panic when it must be.
fn chromium() -> Option<String> {
    let bin = std::env::var("SECRETS_CORE_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    match Command::new(&bin).arg("--version").output() {
        Ok(out) if out.status.success() => Some(bin),
        other => {
            let required = std::env::var("SECRETS_CORE_BROWSER").as_deref() == Ok("required");
            assert!(
                !required,
                "SECRETS_CORE_BROWSER=required but {bin} does not run: {other:?}"
            );
            println!(
                "note: browser test skipped (install Debian's `chromium`, or set SECRETS_CORE_CHROMIUM)"
            );
            None
        }
    }
}

/// What headless Chromium shows of `url` once its scripts have run.
fn dump_dom(chromium: &str, url: &str) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let profile = std::env::temp_dir().join(format!(
        "secrets-core-chromium-{}-{run}",
        std::process::id()
    ));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox", // CI runs as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--virtual-time-budget=10000",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            url,
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Serves `page` at every path of `listener`, forever (the test's end
/// stops it).
fn serve_page(listener: TcpListener, page: String) {
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
}

/// A page whose script calls the API with the token and writes what the
/// browser let it see into `#out`.
fn calling_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><body><p id="out">pending</p><script>
fetch("http://{api}/me", {{ credentials: "include", headers: {{ "Authorization": "Bearer {token}" }} }})
  .then(r => r.json().then(j => {{ document.getElementById("out").textContent = "fetched " + r.status + " " + j.login; }}))
  .catch(e => {{ document.getElementById("out").textContent = "blocked " + e.name; }});
</script></body></html>"#
    )
}

fn out_of(dom: &str) -> &str {
    let start = dom
        .find(r#"<p id="out">"#)
        .unwrap_or_else(|| panic!("no #out in {dom}"))
        + r#"<p id="out">"#.len();
    let end = dom[start..].find("</p>").unwrap() + start;
    &dom[start..end]
}

#[test]
fn a_real_browser_enforces_our_cors_and_csp() {
    let Some(chromium) = chromium() else { return };
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = TcpListener::bind("127.0.0.1:0").unwrap();
    let allowed_origin = format!("http://{}", allowed.local_addr().unwrap());
    let refused_origin = format!("http://{}", refused.local_addr().unwrap());
    let server = start(&allowed_origin);
    let token = login(&server.addr)["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = calling_page(&server.addr, &token);
    serve_page(allowed, page.clone());
    serve_page(refused, page);

    // The allowed origin's credentialed fetch (a preflight for the
    // Authorization header, then the GET) reads the answer.
    let dom = dump_dom(&chromium, &format!("{allowed_origin}/"));
    assert_eq!(out_of(&dom), "fetched 200 admin@example.com", "{dom}");
    // Another origin's same fetch fails in the browser.
    let dom = dump_dom(&chromium, &format!("{refused_origin}/"));
    assert_eq!(out_of(&dom), "blocked TypeError", "{dom}");

    // The example's own page: our CSP blocks its inline script and lets
    // its same-origin script run.
    let dom = dump_dom(&chromium, &format!("http://{}/", server.addr));
    assert!(dom.contains("inline script blocked"), "{dom}");
    assert!(dom.contains("external script ran"), "{dom}");
}
