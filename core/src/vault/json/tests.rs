#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::audit::{Actor, AuditChain, AuditDraft, AuditLinker, AuditRecord, ChainSummary};
use crate::crypto::{KeyRing, MasterKey};
use crate::gate::{Finding, LintResult, Profile, Severity, Verdict};
use crate::id::{TenantId, UserId};
use crate::rbac::Role;
use crate::secret::SecretString;
use crate::store::AuditQuery;
use crate::vault::{
    AgentSessionInfo, ApiTokenInfo, AsymmetricEndpoint, ConnectionInfo, EndpointInfo, OAuthStart,
    PruneReport, ReceivedWebhook, SecretInfo, SourceInfo, SourceStyle, UserInfo,
};

const TOKEN: &str = "scp_0123456789abcdefghijABCDEFGHIJ012345";
const REFRESH: &str = "scr_0123456789abcdefghijABCDEFGHIJ543210";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

fn user() -> UserId {
    UserId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_0001,
    ))
}

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x0190_0000_0000_7000_8000_0000_0000_00aa,
    ))
}

fn record(chain: &AuditChain) -> AuditRecord {
    let event = AuditDraft::new(
        Actor::User(user()),
        "secret.set",
        "app/web/secret/A",
        at(1_750_000_000_123),
    )
    .source("203.0.113.9")
    .detail("version", "2");
    let mut r = AuditRecord {
        tenant: tenant(),
        seq: 1,
        event,
        prev_hash: [0; 32],
        hash: [0; 32],
    };
    r.hash = chain.link(&r).unwrap();
    r
}

fn chain() -> AuditChain {
    AuditChain::new(&KeyRing::new(MasterKey::from_bytes(&[7; 32]).unwrap()))
}

fn session() -> Session {
    Session {
        tenant: tenant(),
        user: user(),
        access_token: SecretString::from("eyJhbGciOiJIUzI1NiJ9.e30.sig"),
        access_expires_at: at(1_750_000_900_000),
        expires_in: 900,
        refresh_token: SecretString::from(REFRESH),
        refresh_expires_at: at(1_752_592_000_000),
    }
}

fn minted() -> MintedToken {
    MintedToken {
        id: "tok_1".into(),
        token: SecretString::from(TOKEN),
        display_prefix: "scp_0123".into(),
        expires_at: Some(at(1_750_086_400_000)),
    }
}

/// One sample of every output, serialised.
fn samples() -> BTreeMap<&'static str, Value> {
    let chain = chain();
    let mut m = BTreeMap::new();
    m.insert(
        "SecretInfo",
        json!(SecretInfo {
            name: "DATABASE_URL".into(),
            version: 3,
            updated_by: Actor::User(user()),
            updated_at: at(1_750_000_000_123),
            has_previous: true,
        }),
    );
    m.insert("MintedToken", json!(minted()));
    m.insert(
        "MintedToken.expose_secrets",
        json!(minted().expose_secrets()),
    );
    m.insert(
        "ApiTokenInfo",
        json!(ApiTokenInfo {
            id: "tok_1".into(),
            owner: user(),
            name: "deployer".into(),
            display_prefix: "scp_0123".into(),
            scopes: vec!["secrets:inject".into()],
            created_at: at(1_750_000_000_000),
            expires_at: Some(at(1_750_086_400_000)),
            last_used_at: None,
            revoked_at: None,
        }),
    );
    m.insert(
        "UserInfo",
        json!(UserInfo {
            id: user(),
            login: "ada@example.com".into(),
            role: Role::Developer,
            disabled: false,
        }),
    );
    m.insert(
        "EndpointInfo",
        json!(EndpointInfo {
            id: "ep_1".into(),
            url: "https://hooks.example.com/in".into(),
            description: "billing".into(),
            created_at: at(1_750_000_000_000),
            previous_secret_until: Some(at(1_750_086_400_000)),
            version: crate::webhook::SignatureVersion::V1,
            public_key: None,
        }),
    );
    let public = crate::webhook::WebhookPublicKey::parse(WHPK).unwrap();
    m.insert(
        "AsymmetricEndpoint",
        json!(AsymmetricEndpoint {
            id: "ep_2".into(),
            public_key: public,
        }),
    );
    m.insert(
        "SourceInfo",
        json!(SourceInfo {
            id: "partner".into(),
            style: SourceStyle::StandardV1a,
            created_at: at(1_750_000_000_000),
            rotated_at: Some(at(1_750_000_600_000)),
            previous_until: Some(at(1_750_004_200_000)),
            public_key: Some(WHPK.into()),
        }),
    );
    m.insert(
        "ReceivedWebhook",
        json!(ReceivedWebhook {
            id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W".into(),
            timestamp: Some(at(1_750_000_000_000)),
            style: SourceStyle::Standard,
        }),
    );
    let registered = RegisteredEndpoint {
        id: "ep_1".into(),
        secret: SecretString::from(WHSEC),
    };
    m.insert("RegisteredEndpoint", json!(registered));
    m.insert(
        "RegisteredEndpoint.expose_secrets",
        json!(registered.expose_secrets()),
    );
    m.insert("Session", json!(session()));
    m.insert("Session.expose_secrets", json!(session().expose_secrets()));
    let started = StartedAgentSession {
        id: "ag_1".into(),
        token: SecretString::from(TOKEN),
        expires_at: at(1_750_003_600_000),
    };
    m.insert("StartedAgentSession", json!(started));
    m.insert(
        "StartedAgentSession.expose_secrets",
        json!(started.expose_secrets()),
    );
    m.insert(
        "AgentSessionInfo",
        json!(AgentSessionInfo {
            id: "ag_1".into(),
            user: user(),
            agent: "ci".into(),
            scopes: vec!["secrets:list".into()],
            created_at: at(1_750_000_000_000),
            expires_at: at(1_750_003_600_000),
            revoked_at: Some(at(1_750_001_000_000)),
        }),
    );
    m.insert(
        "OAuthStart",
        json!(OAuthStart {
            state: "6f1c1e5e-4b7a-4a4e-9d2c-0a4c6b0f1e2d".into(),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            expires_at: at(1_750_000_600_000),
        }),
    );
    m.insert(
        "ConnectionInfo",
        json!(ConnectionInfo {
            provider: "github".into(),
            scopes: vec!["repo".into()],
            access_expires_at: Some(at(1_750_028_800_000)),
            last_refresh_error: None,
            needs_reconnect: false,
            refreshing_until: None,
        }),
    );
    m.insert(
        "Caller",
        json!(crate::vault::Caller::system(tenant()).with_source("cron")),
    );
    m.insert(
        "PruneReport",
        json!(PruneReport {
            deleted: 12,
            failures: vec![]
        }),
    );
    let r = record(&chain);
    m.insert("AuditRecord", json!(r));
    m.insert(
        "ChainSummary",
        json!(ChainSummary {
            count: 1,
            head: r.hash
        }),
    );
    m.insert(
        "Checkpoint",
        json!(chain.checkpoint(tenant(), 1, r.hash, at(1_750_000_000_456))),
    );
    let q = AuditQuery {
        action: Some("secret.set".into()),
        from: Some(at(1_750_000_000_000)),
        limit: 50,
        ..AuditQuery::default()
    };
    m.insert("AuditQuery", json!(q));
    m.insert(
        "gate.Finding",
        json!(Finding::new(
            "CVE-2021-44228",
            "log4j-core",
            Severity::Critical,
            "Log4Shell"
        )),
    );
    m.insert(
        "gate.LintResult",
        json!(LintResult::new("dockerfile-user", false, "runs as root")),
    );
    m.insert("gate.Profile", json!(Profile::Hardened));
    m.insert(
        "gate.Verdict",
        json!(Verdict::Hold {
            reasons: vec!["critical vulnerability CVE-2021-44228 in log4j-core: Log4Shell".into()],
            warnings: vec![],
        }),
    );
    m
}

#[test]
fn outputs_match_the_committed_host_json() {
    let file: Value =
        serde_json::from_str(include_str!("../../../tests/data/host_json_v1.json")).unwrap();
    let expected = file["samples"].as_object().unwrap();
    let actual = samples();
    // To regenerate after a deliberate change: PRINT_HOST_JSON=1 and
    // --nocapture, then wrap the output as the file's `samples`.
    if std::env::var_os("PRINT_HOST_JSON").is_some() {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string_pretty(&actual).unwrap());
        }
    }
    let names: Vec<&str> = expected.keys().map(String::as_str).collect();
    let ours: Vec<&str> = actual.keys().copied().collect();
    assert_eq!(names, ours, "a sample was added or removed");
    for (name, value) in &actual {
        assert_eq!(&expected[*name], value, "{name} changed shape");
    }
}

#[test]
fn every_time_a_host_sees_is_rfc3339() {
    fn walk(path: &str, v: &Value, times: &mut usize) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = format!("{path}.{k}");
                    let is_time = k.ends_with("_at")
                        || k == "at"
                        || k.ends_with("_until")
                        || k == "from"
                        || k == "until";
                    if is_time && !v.is_null() {
                        let s = v
                            .as_str()
                            .unwrap_or_else(|| panic!("{p} is not a string: {v}"));
                        assert_eq!(s.len(), 24, "{p}");
                        assert!(Timestamp::parse_rfc3339(s).is_ok(), "{p}");
                        *times += 1;
                    }
                    walk(&p, v, times);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(path, v, times)),
            _ => {}
        }
    }
    let mut times = 0;
    for (name, v) in samples() {
        walk(name, &v, &mut times);
    }
    assert!(times >= 20, "{times}");
}

#[test]
fn secrets_leave_only_through_expose_secrets() {
    let plain = [
        serde_json::to_string(&minted()).unwrap(),
        serde_json::to_string(&session()).unwrap(),
        serde_json::to_string(&StartedAgentSession {
            id: "ag_1".into(),
            token: SecretString::from(TOKEN),
            expires_at: at(0),
        })
        .unwrap(),
        serde_json::to_string(&RegisteredEndpoint {
            id: "ep".into(),
            secret: SecretString::from(WHSEC),
        })
        .unwrap(),
    ];
    for text in &plain {
        for secret in [TOKEN, REFRESH, WHSEC, "eyJ", "scp_0123456789", "whsec_"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    let exposed = serde_json::to_string(&minted().expose_secrets()).unwrap();
    assert!(exposed.contains(TOKEN));
    let s = session();
    let body: Value = serde_json::to_value(s.expose_secrets()).unwrap();
    assert_eq!(body["access_token"], "eyJhbGciOiJIUzI1NiJ9.e30.sig");
    assert_eq!(body["refresh_token"], REFRESH);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // Debug of the view redacts like the output's own.
    for shown in [
        format!("{:?}", s.expose_secrets()),
        format!("{:?}", minted().expose_secrets()),
    ] {
        assert!(
            !shown.contains(REFRESH) && !shown.contains(TOKEN) && !shown.contains("eyJ"),
            "{shown}"
        );
    }
}

#[test]
fn listings_read_back_what_they_write() {
    let s = samples();
    let back = |name: &str| s[name].clone();
    macro_rules! round_trip {
        ($($t:ty = $name:literal),*) => {$(
            let v: $t = serde_json::from_value(back($name)).unwrap();
            assert_eq!(serde_json::to_value(&v).unwrap(), back($name), $name);
        )*};
    }
    round_trip!(
        SecretInfo = "SecretInfo",
        ApiTokenInfo = "ApiTokenInfo",
        UserInfo = "UserInfo",
        EndpointInfo = "EndpointInfo",
        AsymmetricEndpoint = "AsymmetricEndpoint",
        SourceInfo = "SourceInfo",
        ReceivedWebhook = "ReceivedWebhook",
        AgentSessionInfo = "AgentSessionInfo",
        OAuthStart = "OAuthStart",
        ConnectionInfo = "ConnectionInfo",
        PruneReport = "PruneReport",
        ChainSummary = "ChainSummary",
        AuditQuery = "AuditQuery",
        Verdict = "gate.Verdict"
    );
    // A query from a request: every field optional; integers are not times.
    let q: AuditQuery = serde_json::from_str(r#"{"from":"2025-06-15T15:06:40Z"}"#).unwrap();
    assert_eq!(q.from, Some(at(1_750_000_000_000)));
    assert!(serde_json::from_str::<AuditQuery>(r#"{"from":1750000000}"#).is_err());
    assert!(
        serde_json::from_str::<SecretInfo>(
            &s["SecretInfo"]
                .to_string()
                .replace("2025-06-15T15:06:40.123Z", "1750000000123")
        )
        .is_err()
    );
}

#[test]
fn audit_records_and_checkpoints_still_verify_from_json_old_and_new() {
    let chain = chain();
    let r = record(&chain);
    // New form: RFC 3339 with milliseconds, lossless.
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        json.contains(r#""at":"2025-06-15T15:06:40.123Z""#),
        "{json}"
    );
    let back: AuditRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    assert_eq!(chain.link(&back).unwrap(), r.hash);
    // The integer milliseconds written before (and by the export) still read.
    let mut old: Value = serde_json::to_value(&r).unwrap();
    old["at"] = json!(1_750_000_000_123_i64);
    let back: AuditRecord = serde_json::from_value(old).unwrap();
    assert_eq!(chain.link(&back).unwrap(), r.hash);
    let cp = chain.checkpoint(tenant(), 1, r.hash, at(1_750_000_000_456));
    for text in [
        serde_json::to_string(&cp).unwrap(),
        serde_json::to_string(&cp)
            .unwrap()
            .replace(r#""2025-06-15T15:06:40.456Z""#, "1750000000456"),
    ] {
        let back: crate::audit::Checkpoint = serde_json::from_str(&text).unwrap();
        chain.verify_checkpoint(&back).unwrap();
    }
}
