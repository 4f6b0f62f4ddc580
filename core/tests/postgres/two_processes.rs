//! Two app instances on one database (issue 11, item 9): two `Vault`s in
//! two OS processes on one PostgreSQL schema, raced on what must hold
//! across instances: refresh-token rotation, webhook replay ids, the OAuth
//! refresh lease and API-token last-used coalescing.
//!
//! The test re-runs its own binary as the second process (`--exact` this
//! test, with `SECRETS_CORE_TWO_PROCESSES_DIR` set). The two meet before
//! each race at a file barrier in a temporary directory, which also carries
//! the setup (schema, tokens, signed delivery) and the second process's
//! results back. Each process loads the key and opens its own pool.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrets_core::audit::Outcome;
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::error::{TokenRejection, WebhookRejection};
use secrets_core::oauth::TokenSet;
use secrets_core::rbac::Role;
use secrets_core::store::{AuditQuery, PostgresOptions, PostgresStore, Store};
use secrets_core::vault::{RefreshStart, SourceStyle, Vault, VaultConfig};
use secrets_core::webhook::{self, WebhookSecret};
use secrets_core::{Error, ManualClock, SecretString, TenantId, Timestamp};

use super::scratch::{self, Scratch};

/// This test's name, for `--exact`.
const TEST: &str = "two_processes::two_app_instances_race_on_one_schema";
/// Set in the second process: the shared directory.
const CHILD: &str = "SECRETS_CORE_TWO_PROCESSES_DIR";
const PASSWORD: &str = "correct horse battery staple";
const START: i64 = 1_750_000_000;
const BODY: &[u8] = b"{\"paid\":1}";
/// API-token authentications per process.
const USES: usize = 10;

fn config() -> VaultConfig {
    let mut c = VaultConfig::default();
    c.password_cost = 10;
    c
}

async fn open(schema: &str, clock: &ManualClock) -> (Vault, Arc<dyn Store>) {
    let (app_url, _) = scratch::urls().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::open(&app_url, PostgresOptions::default().schema(schema))
            .await
            .unwrap(),
    );
    let ring = Arc::new(KeyRing::new(MasterKey::from_bytes(&[0x5a; 32]).unwrap()));
    let vault = Vault::new(store.clone(), ring, Arc::new(clock.clone()), config())
        .await
        .unwrap();
    (vault, store)
}

/// Waits until the other process has reached `step` too.
async fn meet(dir: &Path, step: &str, me: &str, other: &str) {
    std::fs::write(dir.join(format!("{step}.{me}")), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !dir.join(format!("{step}.{other}")).exists() {
        assert!(
            Instant::now() < deadline,
            "{me}: the other process never reached {step}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the parent set up, as both processes read it.
struct Setup {
    schema: String,
    tenant: TenantId,
    refresh_token: String,
    api_token: String,
    headers: Vec<(String, String)>,
}

impl Setup {
    fn write(&self, dir: &Path) {
        let mut text = format!(
            "{}\n{}\n{}\n{}\n",
            self.schema, self.tenant, self.refresh_token, self.api_token
        );
        for (k, v) in &self.headers {
            text.push_str(&format!("{k}\t{v}\n"));
        }
        std::fs::write(dir.join("setup"), text).unwrap();
    }

    fn read(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join("setup")).unwrap();
        let mut lines = text.lines();
        let mut next = || lines.next().unwrap().to_owned();
        let (schema, tenant, refresh_token, api_token) = (next(), next(), next(), next());
        let headers = text
            .lines()
            .skip(4)
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        Self {
            schema,
            tenant: tenant.parse().unwrap(),
            refresh_token,
            api_token,
            headers,
        }
    }
}

/// One process's side of the races, its outcomes one per line: the
/// refresh, the webhook, the lease, the API-token uses.
async fn race(dir: &Path, setup: &Setup, vault: &Vault, me: &str, other: &str) -> Vec<String> {
    // Each logs the developer in itself (its own process state).
    let session = vault
        .login(
            setup.tenant,
            "dev@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
    let dev = vault
        .authenticate_access_token(session.access_token.expose_secret(), None)
        .await
        .unwrap();
    let dev_id = dev.user().unwrap();
    let mut out = Vec::new();

    meet(dir, "refresh", me, other).await;
    out.push(match vault.refresh(&setup.refresh_token, None).await {
        Ok(s) => format!("ok {}", s.refresh_token.expose_secret()),
        Err(e) => format!("err {e:?}"),
    });

    meet(dir, "webhook", me, other).await;
    let headers: Vec<(&str, &str)> = setup
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    out.push(
        match vault
            .verify_inbound_webhook(setup.tenant, "billing", &headers, BODY, None)
            .await
        {
            Ok(got) => format!("accepted {}", got.id),
            Err(Error::Webhook {
                reason: WebhookRejection::Replayed,
            }) => "replayed".to_owned(),
            Err(e) => format!("err {e:?}"),
        },
    );

    meet(dir, "lease", me, other).await;
    out.push(match vault.begin_refresh(&dev, dev_id, "github").await {
        Ok(RefreshStart::Refresh(_)) => "lease".to_owned(),
        Ok(RefreshStart::Busy { .. }) => "busy".to_owned(),
        Ok(other) => format!("unexpected {other:?}"),
        Err(e) => format!("err {e:?}"),
    });

    meet(dir, "last_used", me, other).await;
    let mut ok = 0;
    for _ in 0..USES {
        match vault.authenticate_api_token(&setup.api_token, None).await {
            Ok(_) => ok += 1,
            Err(e) => out.push(format!("err {e:?}")),
        }
    }
    out.push(format!("uses {ok}"));
    out
}

/// The second process: reads the setup, races, writes its outcomes.
async fn child(dir: &Path) {
    let setup = Setup::read(dir);
    let clock = ManualClock::new(Timestamp::from_unix_seconds(START));
    let (vault, _) = open(&setup.schema, &clock).await;
    let out = race(dir, &setup, &vault, "child", "parent").await;
    std::fs::write(dir.join("child.out"), out.join("\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_app_instances_race_on_one_schema() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir)).await;
        return;
    }
    let Some(s) = Scratch::new().await else {
        return;
    };
    let clock = ManualClock::new(Timestamp::from_unix_seconds(START));
    let (vault, store) = open(&s.schema, &clock).await;
    let tenant = TenantId::generate();
    let admin_id = vault
        .bootstrap(
            tenant,
            "acme",
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
    let session = vault
        .login(
            tenant,
            "admin@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
    let admin = vault
        .authenticate_access_token(session.access_token.expose_secret(), None)
        .await
        .unwrap();
    // The refresh token both present; the API token both use.
    let refresh_token = session.refresh_token.expose_secret().to_owned();
    let minted = vault
        .mint_api_token(&admin, admin_id, "ci", &["*"], None)
        .await
        .unwrap();
    // A developer connected to GitHub, a minute left: due for a refresh.
    vault
        .create_user(
            &admin,
            "dev@example.com",
            Role::Developer,
            Some(&SecretString::from(PASSWORD)),
        )
        .await
        .unwrap();
    let dev_session = vault
        .login(
            tenant,
            "dev@example.com",
            &SecretString::from(PASSWORD),
            None,
        )
        .await
        .unwrap();
    let dev = vault
        .authenticate_access_token(dev_session.access_token.expose_secret(), None)
        .await
        .unwrap();
    let mut set = TokenSet::new(SecretString::from("access-0"))
        .with_expires_at(Timestamp::from_unix_seconds(START + 60))
        .with_scopes(["repo"]);
    set.refresh_token = Some(SecretString::from("refresh-0"));
    vault
        .store_oauth_tokens(&dev, "github", &set)
        .await
        .unwrap();
    // One signed delivery, handed to both.
    let secret = WebhookSecret::generate().unwrap();
    vault
        .register_webhook_source(
            &admin,
            "billing",
            SourceStyle::Standard,
            secret.to_text().expose_secret(),
        )
        .await
        .unwrap();
    let signed = webhook::sign(&[&secret], "msg_a", START, BODY).unwrap();
    let setup = Setup {
        schema: s.schema.clone(),
        tenant,
        refresh_token: refresh_token.clone(),
        api_token: minted.token.expose_secret().to_owned(),
        headers: signed
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    };
    let dir = tempfile::tempdir().unwrap();
    setup.write(dir.path());

    let second = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mine = race(dir.path(), &setup, &vault, "parent", "child").await;
    let done = second.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "the second process failed: {}\n{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    let theirs: Vec<String> = std::fs::read_to_string(dir.path().join("child.out"))
        .expect("the second process ran the races (not a skip)")
        .lines()
        .map(str::to_owned)
        .collect();
    let both = |i: usize| [mine[i].as_str(), theirs[i].as_str()];

    // Refresh: both inside the overlap window, so both get the one
    // successor; one rotation in the log, one overlap grant.
    let [a, b] = both(0);
    assert!(a.starts_with("ok ") && a == b, "refresh: {a} / {b}");
    let successor = a.trim_start_matches("ok ").to_owned();
    let audited = |action: &'static str| {
        let store = store.clone();
        async move {
            let mut q = AuditQuery::default();
            q.action = Some(action.to_owned());
            store.audit_events(tenant, &q).await.unwrap()
        }
    };
    let rotations: Vec<bool> = audited("auth.refresh")
        .await
        .iter()
        .map(|e| e.event.details.contains_key("overlap"))
        .collect();
    assert_eq!(rotations.len(), 2, "{rotations:?}");
    assert_eq!(
        rotations.iter().filter(|o| !**o).count(),
        1,
        "exactly one rotation: {rotations:?}"
    );

    // The webhook: accepted once, the other a replay.
    let mut hooks = both(1);
    hooks.sort_unstable();
    assert_eq!(hooks, ["accepted msg_a", "replayed"]);
    let receives = audited("webhook.receive").await;
    assert_eq!(
        receives
            .iter()
            .filter(|r| r.event.outcome == Outcome::Allowed)
            .count(),
        1
    );

    // The OAuth lease: one holder, the other told to wait.
    let mut leases = both(2);
    leases.sort_unstable();
    assert_eq!(leases, ["busy", "lease"]);

    // Last-used: every use authenticated, no error, the time written.
    let uses = format!("uses {USES}");
    assert_eq!(both(3), [uses.as_str(), uses.as_str()]);
    assert_eq!(mine.len(), 4, "{mine:?}");
    assert_eq!(theirs.len(), 4, "{theirs:?}");
    let listed = vault.list_api_tokens(&admin, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].last_used_at,
        Some(Timestamp::from_unix_seconds(START))
    );

    // Past the overlap window, the raced token again: a reuse, which
    // revokes the family, the successor both got included.
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        vault.refresh(&refresh_token, None).await,
        Err(Error::InvalidToken {
            reason: TokenRejection::Reused
        })
    ));
    assert!(matches!(
        vault.refresh(&successor, None).await,
        Err(Error::InvalidToken {
            reason: TokenRejection::Revoked
        })
    ));
}
