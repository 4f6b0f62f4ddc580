//! Bad input gets a clear error and writes nothing: every batch below
//! starts with a valid insert, which must not survive the failure.

use secrets_core::audit::{AuditLinker, AuditRecord};
use secrets_core::store::{
    Batch, Change, Kind, ListQuery, MAX_BATCH, MAX_BODY_LEN, MAX_ID_LEN, MAX_LOOKUP_LEN,
    MAX_SEALED_LEN, Row, SqliteStore, Store, Tenant,
};
use secrets_core::{Error, TenantId, UserId};
use std::sync::Arc;

use crate::{chain, counts, create_tenant, draft, now, raw};

#[derive(Debug)]
struct FailingLinker;

impl AuditLinker for FailingLinker {
    fn link(&self, _: &AuditRecord) -> secrets_core::Result<[u8; 32]> {
        Err(Error::Storage {
            message: "the linker is down".into(),
            source: None,
        })
    }
}

fn ok_row() -> Row {
    Row::new(Kind::AppSecret, "ok-row", b"{}".to_vec())
}

fn secret(id: &str) -> Row {
    Row::new(Kind::AppSecret, id, b"{}".to_vec())
}

fn user_row(id: UserId, login: &str) -> Row {
    let mut r = Row::new(Kind::User, id.to_string(), b"{}".to_vec());
    r.lookup = Some(login.as_bytes().to_vec());
    r
}

/// A batch: the valid insert, then `bad`.
fn batch(bad: Change) -> Batch {
    Batch::new(draft("bad.input", "bad"))
        .with(Change::Insert(ok_row()))
        .with(bad)
}

type Check = fn(&Error) -> bool;

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let chain = chain();
    let (a, b) = (TenantId::generate(), TenantId::generate());
    create_tenant(&store, a, &chain).await;
    create_tenant(&store, b, &chain).await;
    let (user_a, user_b) = (UserId::generate(), UserId::generate());
    let mut holder = Row::new(Kind::SettingSecret, "holder", b"{}".to_vec());
    holder.lookup = Some(b"taken-key".to_vec());
    let mut token = Row::new(Kind::ApiToken, "token-a", b"{}".to_vec());
    token.lookup = Some(b"global-key".to_vec());
    let setup = Batch::new(draft("setup", "setup"))
        .with(Change::Insert(user_row(user_a, "alice")))
        .with(Change::Insert(secret("existing")))
        .with(Change::Insert(holder))
        .with(Change::Insert(token));
    store.apply(a, setup, &chain).await.unwrap();
    let setup_b = Batch::new(draft("setup", "setup")).with(Change::Insert(user_row(user_b, "bob")));
    store.apply(b, setup_b, &chain).await.unwrap();

    let with = |f: fn(&mut Row)| {
        let mut r = secret("r");
        f(&mut r);
        Change::Insert(r)
    };
    let mut cases: Vec<(&str, TenantId, Batch, Check)> = vec![
        (
            "id too long",
            a,
            batch(Change::Insert(secret(&"x".repeat(MAX_ID_LEN + 1)))),
            |e| matches!(e, Error::TooLarge { what: "id", .. }),
        ),
        ("empty id", a, batch(Change::Insert(secret(""))), |e| {
            matches!(e, Error::InvalidInput { field: "id", .. })
        }),
        (
            "control character in id",
            a,
            batch(Change::Insert(secret("a\nb"))),
            |e| matches!(e, Error::InvalidInput { field: "id", .. }),
        ),
        (
            "parent too long",
            a,
            batch(with(|r| r.parent = Some("p".repeat(MAX_ID_LEN + 1)))),
            |e| matches!(e, Error::TooLarge { what: "parent", .. }),
        ),
        (
            "body too large",
            a,
            batch(with(|r| r.body = vec![b' '; MAX_BODY_LEN + 1])),
            |e| matches!(e, Error::TooLarge { what: "body", .. }),
        ),
        (
            "sealed value too large",
            a,
            batch(with(|r| r.sealed = Some(vec![1; MAX_SEALED_LEN + 1]))),
            |e| {
                matches!(
                    e,
                    Error::TooLarge {
                        what: "sealed value",
                        ..
                    }
                )
            },
        ),
        (
            "garbage sealed value",
            a,
            batch(with(|r| r.sealed = Some(vec![1, 2, 3]))),
            |e| matches!(e, Error::Truncated { .. }),
        ),
        (
            "sealed value of an unknown format",
            a,
            batch(with(|r| r.sealed = Some(vec![9; 64]))),
            |e| matches!(e, Error::UnsupportedVersion { .. }),
        ),
        (
            "empty lookup key",
            a,
            batch(with(|r| r.lookup = Some(Vec::new()))),
            |e| {
                matches!(
                    e,
                    Error::InvalidInput {
                        field: "lookup",
                        ..
                    }
                )
            },
        ),
        (
            "lookup key too long",
            a,
            batch(with(|r| r.lookup = Some(vec![1; MAX_LOOKUP_LEN + 1]))),
            |e| matches!(e, Error::TooLarge { what: "lookup", .. }),
        ),
        (
            "owner who is no user",
            a,
            batch(with(|r| r.owner = Some(UserId::generate()))),
            |e| matches!(e, Error::NotFound { what, .. } if what == "user"),
        ),
        (
            "user row with an owner",
            a,
            batch(Change::Insert({
                let mut u = user_row(UserId::generate(), "carol");
                u.owner = Some(UserId::generate());
                u
            })),
            |e| matches!(e, Error::InvalidInput { field: "owner", .. }),
        ),
        (
            "tenant name too long",
            a,
            batch(Change::UpdateTenant {
                tenant: Tenant {
                    name: "n".repeat(MAX_ID_LEN + 1),
                    ..Tenant::new(a, "acme", now()).unwrap()
                },
                expected_version: 1,
            }),
            |e| {
                matches!(
                    e,
                    Error::TooLarge {
                        what: "tenant name",
                        ..
                    }
                )
            },
        ),
        (
            "change to another tenant",
            a,
            batch(Change::UpdateTenant {
                tenant: Tenant::new(b, "other", now()).unwrap(),
                expected_version: 1,
            }),
            |e| {
                matches!(
                    e,
                    Error::InvalidInput {
                        field: "tenant",
                        ..
                    }
                )
            },
        ),
        (
            "empty audit action",
            a,
            Batch::new(draft("", "t")).with(Change::Insert(ok_row())),
            |e| {
                matches!(
                    e,
                    Error::InvalidInput {
                        field: "action",
                        ..
                    }
                )
            },
        ),
        (
            "control character in audit target",
            a,
            Batch::new(draft("a", "t\u{7}")).with(Change::Insert(ok_row())),
            |e| {
                matches!(
                    e,
                    Error::InvalidInput {
                        field: "target",
                        ..
                    }
                )
            },
        ),
        (
            "too many changes",
            a,
            {
                let mut b = batch(Change::Insert(secret("r")));
                for i in 0..MAX_BATCH {
                    b.push(Change::Insert(secret(&format!("r{i}"))));
                }
                b
            },
            |e| matches!(e, Error::TooLarge { what: "batch", .. }),
        ),
        (
            "duplicate id",
            a,
            batch(Change::Insert(secret("existing"))),
            |e| matches!(e, Error::AlreadyExists { what, .. } if what == "app_secret"),
        ),
        (
            "taken lookup key",
            a,
            batch(Change::Insert({
                let mut r = Row::new(Kind::SettingSecret, "other", b"{}".to_vec());
                r.lookup = Some(b"taken-key".to_vec());
                r
            })),
            |e| matches!(e, Error::AlreadyExists { what, .. } if what == "setting_secret lookup key"),
        ),
        (
            "update of a missing row",
            a,
            batch(Change::Update {
                row: secret("missing"),
                expected_version: 1,
            }),
            |e| matches!(e, Error::NotFound { what, .. } if what == "app_secret"),
        ),
        (
            "stale update",
            a,
            batch(Change::Update {
                row: secret("existing"),
                expected_version: 7,
            }),
            |e| {
                matches!(
                    e,
                    Error::Conflict {
                        expected: 7,
                        found: 1,
                        ..
                    }
                )
            },
        ),
        (
            "delete of a missing row",
            a,
            batch(Change::Delete {
                kind: Kind::AppSecret,
                id: "missing".into(),
                expected_version: None,
            }),
            |e| matches!(e, Error::NotFound { .. }),
        ),
        (
            "existing tenant created again",
            a,
            batch(Change::CreateTenant(
                Tenant::new(a, "again", now()).unwrap(),
            )),
            |e| matches!(e, Error::AlreadyExists { what, .. } if what == "tenant"),
        ),
        // Across tenants: another tenant's user, a global lookup key.
        (
            "owner from another tenant",
            b,
            batch(Change::Insert({
                let mut r = secret("owned");
                r.owner = Some(user_a);
                r
            })),
            |e| matches!(e, Error::NotFound { what, .. } if what == "user"),
        ),
        (
            "global lookup key taken in another tenant",
            b,
            batch(Change::Insert({
                let mut r = Row::new(Kind::ApiToken, "token-b", b"{}".to_vec());
                r.lookup = Some(b"global-key".to_vec());
                r
            })),
            |e| matches!(e, Error::AlreadyExists { what, .. } if what == "api_token lookup key"),
        ),
        (
            "tenant that does not exist",
            TenantId::generate(),
            batch(Change::Insert(secret("r"))),
            |e| matches!(e, Error::NotFound { what, .. } if what == "tenant"),
        ),
    ];
    // An audit event that cannot be linked: the whole batch goes.
    cases.push((
        "failing audit linker",
        a,
        batch(Change::Insert(secret("r"))),
        |e| matches!(e, Error::Storage { message: m, .. } if m.contains("linker is down")),
    ));

    let before = counts(&path);
    for (name, tenant, batch, check) in cases {
        let failing: Arc<dyn AuditLinker> = Arc::new(FailingLinker);
        let linker: &Arc<dyn AuditLinker> = if name == "failing audit linker" {
            &failing
        } else {
            &chain
        };
        let err = store.apply(tenant, batch, linker).await.expect_err(name);
        assert!(check(&err), "{name}: unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(counts(&path), before, "{name}: something was written");
        for t in [a, b] {
            assert!(
                store
                    .get(t, Kind::AppSecret, "ok-row")
                    .await
                    .unwrap()
                    .is_none(),
                "{name}"
            );
        }
    }

    // Error messages do not echo lookup keys (hashes of secrets).
    let mut r = Row::new(Kind::ApiToken, "token-c", b"{}".to_vec());
    r.lookup = Some(b"global-key".to_vec());
    let err = store
        .apply(
            b,
            Batch::new(draft("x", "y")).with(Change::Insert(r)),
            &chain,
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("global-key"));

    // The store still works after all that.
    store
        .apply(
            a,
            Batch::new(draft("ok", "ok")).with(Change::Insert(ok_row())),
            &chain,
        )
        .await
        .unwrap();
    assert_eq!(counts(&path), (before.0 + 1, before.1 + 1));
}

/// A damaged file (edited behind the store's back) gives an error, not a
/// panic, and the message does not carry the stored value.
#[tokio::test]
async fn malformed_stored_values_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let chain = chain();
    let t = TenantId::generate();
    create_tenant(&store, t, &chain).await;

    let conn = raw(&path);
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    // Invalid UTF-8 in a text column.
    conn.execute(
        "INSERT INTO records (tenant_id, kind, id, parent, version, body)
         VALUES (?1, 'app_secret', 'bad-utf8', CAST(X'FFFE' AS TEXT), 1, X'7B7D')",
        [t.as_bytes().as_slice()],
    )
    .unwrap();
    let err = store
        .list(t, &ListQuery::new(Kind::AppSecret))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");

    // An owner id that is not a UUID (foreign keys are off on this
    // connection, so the reference is not checked).
    conn.execute(
        "INSERT INTO records (tenant_id, kind, id, owner_id, version, body)
         VALUES (?1, 'setting_secret', 'bad-owner', 'secret-looking-owner', 1, X'7B7D')",
        [t.as_bytes().as_slice()],
    )
    .unwrap();
    let err = store
        .get(t, Kind::SettingSecret, "bad-owner")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
    assert!(!err.to_string().contains("secret-looking-owner"));

    // An audit hash of the wrong length.
    conn.execute_batch("PRAGMA ignore_check_constraints = ON")
        .unwrap();
    conn.execute(
        "UPDATE audit_events SET hash = X'00' WHERE tenant_id = ?1",
        [t.as_bytes().as_slice()],
    )
    .unwrap();
    let err = store
        .audit_events(t, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage { .. }), "{err:?}");
}
