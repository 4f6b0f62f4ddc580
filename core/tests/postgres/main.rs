//! Row-level security, attacked: what a forgotten predicate, a wrong
//! tenant, a privileged role or a cancelled request can reach on the
//! PostgreSQL store. Every case connects as the app role unless it says
//! otherwise; each works in its own scratch schema (`scratch.rs`).
//!
//! Skipped (saying so) when no server is configured, failed when
//! `SECRETS_CORE_INTEROP=required` (scripts/test.sh) and none is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod flights;
mod retry;
#[path = "scratch.rs"]
mod scratch;
mod two_processes;

use std::sync::Arc;
use std::time::Duration;

use secrets_core::audit::{Actor, AuditChain, AuditDraft, AuditLinker};
use secrets_core::crypto::{KeyRing, MasterKey};
use secrets_core::store::{
    Batch, Change, Kind, POSTGRES_SCHEMA_VERSION, PostgresStore, Row, Store, Tenant,
};
use secrets_core::{Error, TenantId, Timestamp, UserId};
use tokio_postgres::error::SqlState;

use self::scratch::{Scratch, raw};

/// The tables holding one tenant's rows, each under the one-policy rule.
const TENANT_TABLES: [&str; 4] = ["tenants", "users", "records", "audit_events"];
/// Every table of the schema.
const ALL_TABLES: [&str; 8] = [
    "tenants",
    "tenant_directory",
    "users",
    "records",
    "audit_events",
    "lookup_directory",
    "meta",
    "schema_version",
];

fn linker() -> Arc<dyn AuditLinker> {
    Arc::new(AuditChain::new(&KeyRing::new(
        MasterKey::generate().unwrap(),
    )))
}

fn now() -> Timestamp {
    Timestamp::from_unix_seconds(1_750_000_000)
}

/// Creates `tenant` with `n` app secrets, one API token (lookup
/// `token_hash`) and one user: rows in every tenant table.
async fn seed(store: &dyn Store, tenant: TenantId, n: usize, token_hash: u8) {
    let linker = linker();
    let mut batch = Batch::new(AuditDraft::new(Actor::System, "seed", "tenant", now()))
        .with(Change::CreateTenant(
            Tenant::new(tenant, "t", now()).unwrap(),
        ))
        .with(Change::Insert(Row::new(Kind::User, "u-1", b"{}".to_vec())));
    let mut token = Row::new(Kind::ApiToken, "tok-1", b"{}".to_vec());
    token.lookup = Some(vec![token_hash; 32]);
    batch.push(Change::Insert(token));
    for i in 0..n {
        batch.push(Change::Insert(Row::new(
            Kind::AppSecret,
            format!("web/S{i}"),
            b"{}".to_vec(),
        )));
    }
    store.apply(tenant, batch, &linker).await.unwrap();
}

/// `SELECT count(*)` of `table` on `client`, inside a transaction whose
/// tenant context is `tenant` (none: no context at all).
async fn count(
    client: &mut tokio_postgres::Client,
    schema: &str,
    table: &str,
    tenant: Option<TenantId>,
) -> i64 {
    let tx = client.transaction().await.unwrap();
    if let Some(t) = tenant {
        tx.execute(
            "SELECT set_config('app.tenant', $1, true)",
            &[&t.to_string()],
        )
        .await
        .unwrap();
    }
    let n: i64 = tx
        .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
        .await
        .unwrap()
        .get(0);
    tx.commit().await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_app_client_sees_its_tenant_or_nothing() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(4).await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    seed(&store, a, 3, 0xaa).await;
    seed(&store, b, 5, 0xbb).await;
    // Per table, A's and B's rows: tenants 1/1, users 1/1, records
    // (secrets + token) 4/6, audit 1/1.
    let expected = |table: &str, t: TenantId| -> i64 {
        match (table, t == a) {
            ("records", true) => 4,
            ("records", false) => 6,
            _ => 1,
        }
    };
    let mut client = raw(&s.app_url).await;
    for table in TENANT_TABLES {
        for t in [a, b] {
            assert_eq!(
                count(&mut client, &s.schema, table, Some(t)).await,
                expected(table, t),
                "{table} in {t}"
            );
            // Right after a transaction that set the context, on the same
            // connection: none now, so no row, and no error (NULLIF).
            assert_eq!(
                count(&mut client, &s.schema, table, None).await,
                0,
                "{table}"
            );
        }
        // A tenant with no rows sees none.
        let c = count(&mut client, &s.schema, table, Some(TenantId::generate())).await;
        assert_eq!(c, 0, "{table}");
    }
    // Outside any transaction, too (autocommit statements).
    for table in TENANT_TABLES {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {}.{table}", s.schema), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    // A session-level SET is what the store never does; even then, the
    // policy is what decides, and a wrong value is not a wildcard.
    let err = client
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant', 'not-a-uuid', true); \
             SELECT count(*) FROM {}.records; COMMIT",
            s.schema
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    client.batch_execute("ROLLBACK").await.unwrap();
    // The directories are readable by all (no secret in them): both
    // tenants, both token hashes.
    assert_eq!(
        count(&mut client, &s.schema, "tenant_directory", None).await,
        2
    );
    assert_eq!(
        count(&mut client, &s.schema, "lookup_directory", None).await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_plan_made_in_one_tenant_binds_the_next() {
    // The store's transactions run their prepared statements on generic
    // plans (its context statement sets `plan_cache_mode` with the tenant,
    // transaction-locally): one plan, made once per connection and reused
    // by every tenant's transactions. The policy must be decided when the
    // plan runs, not when it was made: a statement with no tenant predicate
    // at all (its one parameter decides nothing, but makes the server's
    // default a custom plan per run), prepared once and run in A's, B's
    // and no context in turn, counts exactly that tenant's rows, and none
    // without a tenant.
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(4).await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    seed(&store, a, 3, 0xaa).await;
    seed(&store, b, 5, 0xbb).await;
    let mut client = raw(&s.app_url).await;
    let context = "SELECT set_config('app.tenant', $1, true), \
                   set_config('plan_cache_mode', 'force_generic_plan', true)";
    for table in TENANT_TABLES {
        let sql = format!(
            "SELECT count(*) FROM {}.{table} WHERE $1::bigint >= 0",
            s.schema
        );
        let statement = client.prepare(&sql).await.unwrap();
        for _ in 0..3 {
            for (t, want) in [
                (Some(a), if table == "records" { 4 } else { 1 }),
                (Some(b), if table == "records" { 6 } else { 1 }),
                (None, 0),
            ] {
                let tx = client.transaction().await.unwrap();
                let tenant = t.map_or_else(String::new, |t| t.to_string());
                tx.execute(context, &[&tenant]).await.unwrap();
                let n: i64 = tx.query_one(&statement, &[&0_i64]).await.unwrap().get(0);
                assert_eq!(n, want, "{table} in {t:?}");
                tx.commit().await.unwrap();
            }
        }
        // The generic plan is what ran, every time.
        let generic: i64 = client
            .query_one(
                "SELECT generic_plans FROM pg_prepared_statements WHERE statement = $1",
                &[&sql],
            )
            .await
            .unwrap()
            .get(0);
        assert!(generic >= 9, "{table}: {generic} generic plans");
    }
}

/// Creates `tenant` with a user `owner` and an API token of theirs whose
/// lookup key is `hash`.
async fn seed_owned_token(store: &dyn Store, tenant: TenantId, owner: &UserId, hash: &[u8]) {
    let mut token = Row::new(Kind::ApiToken, "tok-owned", b"{}".to_vec());
    token.lookup = Some(hash.to_vec());
    token.owner = Some(*owner);
    let batch = Batch::new(AuditDraft::new(Actor::System, "seed", "tenant", now()))
        .with(Change::CreateTenant(
            Tenant::new(tenant, "t", now()).unwrap(),
        ))
        .with(Change::Insert(Row::new(
            Kind::User,
            owner.to_string(),
            b"{}".to_vec(),
        )))
        .with(Change::Insert(token));
    store.apply(tenant, batch, &linker()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_credential_reads_the_directory_tenant_only_under_its_policies() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let sc = &s.schema;
    // Callable by the app role as the invoker: no definer's rights, and the
    // store that calls it is the app role (`open` refuses anything else).
    let owner_client = raw(&s.owner_url).await;
    let definer: bool = owner_client
        .query_one(
            "SELECT prosecdef FROM pg_proc WHERE oid = ($1 || '.find_credential')::regproc",
            &[sc],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!definer, "find_credential must run as its invoker");
    let store = s.open(1).await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    let (ada, bob) = (UserId::generate(), UserId::generate());
    seed_owned_token(&store, a, &ada, &[0xa1; 32]).await;
    seed_owned_token(&store, b, &bob, &[0xb1; 32]).await;

    // The token, its owner and its tenant, each from the token's tenant.
    let found = store
        .find_credential(Kind::ApiToken, &[0xa1; 32], true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.tenant, a);
    assert_eq!(found.row.id, "tok-owned");
    assert_eq!(found.owner.unwrap().id, ada.to_string());
    assert_eq!(found.tenant_record.unwrap().id, a);
    // Without the tenant's record when not asked for; what find_by_lookup
    // answers is the same row.
    let found = store
        .find_credential(Kind::ApiToken, &[0xb1; 32], false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.tenant, found.owner.unwrap().id),
        (b, bob.to_string())
    );
    assert!(found.tenant_record.is_none());
    let (t, row) = store
        .find_by_lookup(Kind::ApiToken, &[0xb1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t, row), (b, found.row));
    // An unknown hash, and a kind whose lookups are per tenant.
    assert!(
        store
            .find_credential(Kind::ApiToken, &[0xcc; 32], true)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_credential(Kind::User, b"ada", true)
            .await
            .is_err()
    );

    // A directory entry that names the wrong tenant (B's hash moved to
    // A's name, as a writer with the app role's rights could do): the row
    // is read in A's context, where B's row is not, so nothing comes back.
    let client = raw(&s.app_url).await;
    let b1 = "b1".repeat(32);
    client
        .batch_execute(&format!(
            "BEGIN; SELECT set_config('app.tenant', '{b}', true); \
             DELETE FROM {sc}.lookup_directory WHERE lookup = '\\x{b1}'; COMMIT; \
             BEGIN; SELECT set_config('app.tenant', '{a}', true); \
             INSERT INTO {sc}.lookup_directory (kind, lookup, tenant_id) \
             VALUES ('api_token', '\\x{b1}', '{a}'); COMMIT"
        ))
        .await
        .unwrap();
    assert!(
        store
            .find_credential(Kind::ApiToken, &[0xb1; 32], true)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_by_lookup(Kind::ApiToken, &[0xb1; 32])
            .await
            .unwrap()
            .is_none()
    );

    // Called by a raw client: outside a transaction, its context ends with
    // the statement; inside one under another tenant's context, that
    // context is put back after it, and the transaction still sees only
    // its own tenant.
    let call = format!("SELECT id FROM {sc}.find_credential('api_token', $1, true, true)");
    let hash_a: &[u8] = &[0xa1; 32];
    let rows = client.query(&call, &[&hash_a]).await.unwrap();
    assert_eq!(rows.len(), 1);
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {sc}.records"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the context outlived the statement");
    let mut client = client;
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('app.tenant', $1, true)",
        &[&b.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(tx.query(&call, &[&hash_a]).await.unwrap().len(), 1);
    let (context, tenants): (String, Vec<String>) = {
        let r = tx
            .query_one(
                &format!(
                    "SELECT current_setting('app.tenant'), \
                     (SELECT array_agg(DISTINCT tenant_id::text) FROM {sc}.records)"
                ),
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(context, b.to_string());
    assert_eq!(tenants, vec![b.to_string()]);
    tx.commit().await.unwrap();
}

/// The SQLSTATE of running `sql` in a transaction under `tenant`.
async fn write_as(
    client: &mut tokio_postgres::Client,
    tenant: TenantId,
    sql: &str,
) -> Option<SqlState> {
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('app.tenant', $1, true)",
        &[&tenant.to_string()],
    )
    .await
    .unwrap();
    let out = tx.batch_execute(sql).await;
    drop(tx);
    out.err().and_then(|e| e.code().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_into_another_tenant_fails_with_42501() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(4).await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    seed(&store, a, 1, 0xaa).await;
    seed(&store, b, 1, 0xbb).await;
    let sc = &s.schema;
    let mut client = raw(&s.app_url).await;
    let denied = Some(SqlState::INSUFFICIENT_PRIVILEGE);
    let attacks = [
        // A new row of B, written under A's context.
        format!(
            "INSERT INTO {sc}.records (tenant_id, kind, id, version, body) \
             VALUES ('{b}', 'app_secret', 'planted', 1, '\\x7b7d')"
        ),
        format!(
            "INSERT INTO {sc}.audit_events (tenant_id, seq, at, actor, action, target, outcome, \
             details, prev_hash, hash) VALUES ('{b}', 99, 0, 'system', 'x', 'x', 'allowed', '{{}}', \
             decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))"
        ),
        // One of A's rows moved to B.
        format!("UPDATE {sc}.records SET tenant_id = '{b}' WHERE tenant_id = '{a}'"),
        format!("UPDATE {sc}.tenants SET id = '{b}'"),
        // The directories: an entry naming B, B's entry taken over.
        format!(
            "INSERT INTO {sc}.lookup_directory (kind, lookup, tenant_id) \
             VALUES ('api_token', '\\x01', '{b}')"
        ),
        format!("INSERT INTO {sc}.tenant_directory (id) VALUES ('{b}')"),
    ];
    for sql in &attacks {
        assert_eq!(write_as(&mut client, a, sql).await, denied, "{sql}");
    }
    // Updating or deleting B's rows under A's context finds none.
    for sql in [
        format!("UPDATE {sc}.records SET body = '\\x00' WHERE tenant_id = '{b}'"),
        format!("DELETE FROM {sc}.records WHERE tenant_id = '{b}'"),
        format!("DELETE FROM {sc}.lookup_directory WHERE tenant_id = '{b}'"),
        format!("UPDATE {sc}.lookup_directory SET tenant_id = '{a}'"),
    ] {
        assert_eq!(write_as(&mut client, a, &sql).await, None, "{sql}");
    }
    assert_eq!(count(&mut client, sc, "records", Some(b)).await, 2);
    assert_eq!(count(&mut client, sc, "lookup_directory", None).await, 2);
    assert_eq!(
        store
            .directory_lookup(Kind::ApiToken, &[0xbb; 32])
            .await
            .unwrap(),
        Some(b)
    );
    // And the app role cannot change the schema or its policies.
    for sql in [
        format!("ALTER TABLE {sc}.records NO FORCE ROW LEVEL SECURITY"),
        format!("DROP POLICY tenant_isolation ON {sc}.records"),
        format!("TRUNCATE {sc}.records"),
        format!("CREATE TABLE {sc}.x (a int)"),
    ] {
        let code = write_as(&mut client, a, &sql).await;
        assert!(
            code == Some(SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {code:?}"
        );
    }
}

fn refused_role(r: Result<PostgresStore, Error>) -> String {
    match r {
        Err(Error::InvalidInput { field, reason }) => {
            assert!(
                field == "postgres role" || field == "postgres schema",
                "{field}"
            );
            reason
        }
        other => panic!("open was not refused: {other:?}"),
    }
}

/// The URL of `url` with its user replaced.
fn as_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (_, host) = rest.split_once('@').unwrap();
    format!("{scheme}://{user}@{host}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_refuses_roles_and_tables_that_row_level_security_does_not_bind() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // The app role opens it.
    drop(s.open(1).await);

    // The owner: it could turn row-level security off.
    let reason = refused_role(PostgresStore::open(&s.owner_url, s.options()).await);
    assert!(reason.contains("owns"), "{reason}");

    // Any one table without FORCE (or without ENABLE): refused, named.
    let owner = raw(&s.owner_url).await;
    let listed: Vec<String> = owner
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&s.schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut known: Vec<&str> = ALL_TABLES.to_vec();
    known.sort_unstable();
    assert_eq!(listed, known, "a table this test does not attack");
    for table in &listed {
        for off in ["NO FORCE ROW LEVEL SECURITY", "DISABLE ROW LEVEL SECURITY"] {
            owner
                .batch_execute(&format!("ALTER TABLE {}.{table} {off}", s.schema))
                .await
                .unwrap();
            let reason = refused_role(PostgresStore::open(&s.app_url, s.options()).await);
            assert!(reason.contains(&format!(".{table}`")), "{reason}");
            owner
                .batch_execute(&format!(
                    "ALTER TABLE {}.{table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
                    s.schema
                ))
                .await
                .unwrap();
        }
    }
    drop(s.open(1).await);

    // A schema at a newer version: refused, nothing written.
    owner
        .batch_execute(&format!(
            "INSERT INTO {}.schema_version (version, applied_at) VALUES ({}, 0)",
            s.schema,
            POSTGRES_SCHEMA_VERSION + 1
        ))
        .await
        .unwrap();
    assert!(matches!(
        PostgresStore::open(&s.app_url, s.options()).await,
        Err(Error::SchemaTooNew { .. })
    ));
    assert!(matches!(
        PostgresStore::migrate(&s.owner_url, &s.options()).await,
        Err(Error::SchemaTooNew { .. })
    ));
    // Neither touched the schema: its versions and its tables as they were.
    let shape = format!(
        "SELECT (SELECT array_agg(version ORDER BY version) FROM {sc}.schema_version),          (SELECT count(*) FROM pg_tables WHERE schemaname = '{sc}')",
        sc = s.schema
    );
    let row = owner.query_one(&shape, &[]).await.unwrap();
    let (versions, tables): (Vec<i32>, i64) = (row.get(0), row.get(1));
    let expected: Vec<i32> = (1..=i32::try_from(POSTGRES_SCHEMA_VERSION + 1).unwrap()).collect();
    assert_eq!(versions, expected);
    assert_eq!(tables, i64::try_from(ALL_TABLES.len()).unwrap());
    // A schema never migrated: a clear error, no DDL from the app role.
    let fresh_name = scratch::fresh_schema();
    let fresh = s.options().schema(&fresh_name);
    assert!(matches!(
        PostgresStore::open(&s.app_url, fresh).await,
        Err(Error::Storage { .. })
    ));
    let created: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = $1",
            &[&fresh_name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 0, "open created the schema");

    // The superuser, and a role with BYPASSRLS.
    let superuser = as_user(&s.owner_url, "postgres");
    let reason = refused_role(PostgresStore::open(&superuser, s.options()).await);
    assert!(reason.contains("superuser"), "{reason}");
    let su = raw(&superuser).await;
    let bypass = format!("sc_test_bypass_{}", &s.schema[8..16]);
    su.batch_execute(&format!(
        "CREATE ROLE {bypass} LOGIN NOSUPERUSER BYPASSRLS; \
         GRANT USAGE ON SCHEMA {sc} TO {bypass}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA {sc} TO {bypass}",
        sc = s.schema
    ))
    .await
    .unwrap();
    let r = PostgresStore::open(&as_user(&s.owner_url, &bypass), s.options()).await;
    su.batch_execute(&format!("DROP OWNED BY {bypass}; DROP ROLE {bypass}"))
        .await
        .unwrap();
    let reason = refused_role(r);
    assert!(reason.contains("BYPASSRLS"), "{reason}");

    // The app role made a member of the owner, even without inheriting its
    // privileges (it could SET ROLE to it): refused.
    let (owner_role, app_role) = (user_of(&s.owner_url), user_of(&s.app_url));
    su.batch_execute(&format!("GRANT {owner_role} TO {app_role}"))
        .await
        .unwrap();
    let r = PostgresStore::open(&s.app_url, s.options()).await;
    su.batch_execute(&format!("REVOKE {owner_role} FROM {app_role}"))
        .await
        .unwrap();
    let reason = refused_role(r);
    assert!(reason.contains("owns"), "{reason}");
}

/// The user name in `url`.
fn user_of(url: &str) -> String {
    let (_, rest) = url.split_once("://").unwrap();
    rest.split_once('@').unwrap().0.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connections_fail_clearly() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // Nothing listens there.
    let r = PostgresStore::open(
        "postgres://secrets_core_app@127.0.0.1:1/x?sslmode=disable&connect_timeout=2",
        s.options(),
    )
    .await;
    assert!(matches!(r, Err(Error::Storage { .. })), "{r:?}");
    // An unknown role.
    let r = PostgresStore::open(&as_user(&s.app_url, "sc_no_such_role"), s.options()).await;
    assert!(matches!(r, Err(Error::Storage { .. })), "{r:?}");
    // An unknown or weak sslmode, and verify-full without a CA.
    for mode in ["bogus", "prefer", "require"] {
        let url = s
            .app_url
            .replace("sslmode=disable", &format!("sslmode={mode}"));
        let r = PostgresStore::open(&url, s.options()).await;
        assert!(
            matches!(
                r,
                Err(Error::InvalidInput {
                    field: "sslmode",
                    ..
                })
            ),
            "{mode}: {r:?}"
        );
    }
    let url = s.app_url.replace("sslmode=disable", "sslmode=verify-full");
    let r = PostgresStore::open(&url, s.options()).await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidInput {
                field: "sslmode",
                ..
            })
        ),
        "{r:?}"
    );
    // A schema name that would need quoting.
    let r = PostgresStore::open(&s.app_url, s.options().schema("x; DROP")).await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidInput {
                field: "schema",
                ..
            })
        ),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pooled_connection_carries_no_tenant_and_no_transaction_over() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // Named, so that the check at the end looks at this pool's session
    // only, not at those of the tests running beside this one.
    let name = format!("sc_one_pool_{}", TenantId::generate().as_uuid().simple());
    let store = s.open_named(1, &name).await;
    let (a, b) = (TenantId::generate(), TenantId::generate());
    seed(&store, a, 1, 0xaa).await;
    seed(&store, b, 1, 0xbb).await;
    // A, then B, then no tenant, on the one connection.
    for _ in 0..2 {
        assert!(
            store
                .get(a, Kind::AppSecret, "web/S0")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.tenant(b).await.unwrap().map(|t| t.id), Some(b));
        assert_eq!(store.directory_tenants(None, 10).await.unwrap().len(), 2);
    }
    // A tenant sees none of another's rows, even named by id.
    let c = TenantId::generate();
    assert!(
        store
            .get(c, Kind::AppSecret, "web/S0")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.tenant(c).await.unwrap().is_none());

    // An apply cancelled mid-transaction: it waits on A's row lock (held by
    // a raw client) and is dropped there.
    let mut holder = raw(&s.app_url).await;
    let lock = holder.transaction().await.unwrap();
    lock.execute(
        "SELECT set_config('app.tenant', $1, true)",
        &[&a.to_string()],
    )
    .await
    .unwrap();
    let n = lock
        .execute(
            &format!(
                "SELECT 1 FROM {}.tenants WHERE id = $1 FOR UPDATE",
                s.schema
            ),
            &[&uuid(a)],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let linker = linker();
    let batch = Batch::new(AuditDraft::new(Actor::System, "cancelled", "x", now())).with(
        Change::Insert(Row::new(Kind::AppSecret, "web/CANCELLED", b"{}".to_vec())),
    );
    let cancelled =
        tokio::time::timeout(Duration::from_millis(300), store.apply(a, batch, &linker)).await;
    assert!(cancelled.is_err(), "the apply did not wait on the lock");
    lock.rollback().await.unwrap();

    // The next checkout is outside any transaction, with no tenant: the
    // directory read (no context) works, B's reads see only B, A's lock is
    // free, and the cancelled change never happened.
    let next = tokio::time::timeout(Duration::from_secs(10), async {
        assert_eq!(store.directory_tenants(None, 10).await.unwrap().len(), 2);
        assert!(
            store
                .get(b, Kind::AppSecret, "web/S0")
                .await
                .unwrap()
                .is_some()
        );
        let batch = Batch::new(AuditDraft::new(Actor::System, "after", "x", now())).with(
            Change::Insert(Row::new(Kind::AppSecret, "web/AFTER", b"{}".to_vec())),
        );
        store.apply(a, batch, &linker).await.unwrap()
    })
    .await
    .expect("the connection was left inside the cancelled transaction");
    assert_eq!(next.seq, 2, "the cancelled apply left an audit event");
    assert!(
        store
            .get(a, Kind::AppSecret, "web/CANCELLED")
            .await
            .unwrap()
            .is_none()
    );
    // The server agrees: the pool's session is idle, not idle in a
    // transaction.
    let states = flights::session_states(&s, &name).await;
    assert!(
        !states.is_empty() && states.iter().all(|s| s == "idle"),
        "{states:?}"
    );
}

fn uuid(t: TenantId) -> uuid::Uuid {
    *t.as_uuid()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_apply_each_step_once() {
    let Some((_, owner_url)) = scratch::urls() else {
        return;
    };
    let schema = scratch::fresh_schema();
    let options = secrets_core::store::PostgresOptions::default().schema(&schema);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (url, options) = (owner_url.clone(), options.clone());
            tokio::spawn(async move { PostgresStore::migrate(&url, &options).await })
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    let owner = raw(&owner_url).await;
    let versions: Vec<i32> = owner
        .query(
            &format!("SELECT version FROM {schema}.schema_version ORDER BY 1"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    owner
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
    let expected: Vec<i32> = (1..=i32::try_from(POSTGRES_SCHEMA_VERSION).unwrap()).collect();
    assert_eq!(versions, expected);
}

/// The plan of `sql` (a statement as the store sends it, values inlined)
/// as the app role under `tenant`.
async fn plan(client: &mut tokio_postgres::Client, tenant: TenantId, sql: &str) -> String {
    let tx = client.transaction().await.unwrap();
    tx.execute(
        "SELECT set_config('app.tenant', $1, true)",
        &[&tenant.to_string()],
    )
    .await
    .unwrap();
    let lines: Vec<String> = tx
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await.unwrap();
    lines.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_statements_use_an_index_that_leads_with_the_tenant() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    let store = s.open(2).await;
    let tenants: Vec<TenantId> = (0..5).map(|_| TenantId::generate()).collect();
    let sc = &s.schema;
    let mut client = raw(&s.app_url).await;
    for (i, t) in tenants.iter().enumerate() {
        seed(&store, *t, 0, u8::try_from(i).unwrap()).await;
        // 1,200 users, secrets, tokens (each owned by a user) and audit
        // events per tenant, written in bulk as the app role (row-level
        // security checks each).
        let tx = client.transaction().await.unwrap();
        tx.execute(
            "SELECT set_config('app.tenant', $1, true)",
            &[&t.to_string()],
        )
        .await
        .unwrap();
        tx.batch_execute(&format!(
            "INSERT INTO {sc}.records (tenant_id, kind, id, version, body) \
               SELECT '{t}', 'app_secret', 'web/K' || g, 1, '\\x7b7d' FROM generate_series(1, 1200) g; \
             INSERT INTO {sc}.users (tenant_id, kind, id, lookup, version, body) \
               SELECT '{t}', 'user', 'bulk-' || g, ('login-' || g)::bytea, 1, '\\x7b7d' \
               FROM generate_series(1, 1200) g; \
             INSERT INTO {sc}.records (tenant_id, kind, id, owner_id, lookup, version, body) \
               SELECT '{t}', 'api_token', 'bulk-' || g, 'bulk-' || g, sha256(('{t}' || g)::bytea), \
               1, '\\x7b7d' FROM generate_series(1, 1200) g; \
             INSERT INTO {sc}.lookup_directory (kind, lookup, tenant_id) \
               SELECT 'api_token', sha256(('{t}' || g)::bytea), '{t}' FROM generate_series(1, 1200) g; \
             INSERT INTO {sc}.audit_events (tenant_id, seq, at, actor, action, target, outcome, \
               details, prev_hash, hash) \
               SELECT '{t}', g, 0, 'system', 'x', 'x', 'allowed', '{{}}', \
               decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex') \
               FROM generate_series(2, 1201) g"
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let owner = raw(&s.owner_url).await;
    owner.batch_execute(&format!("ANALYZE {sc}.records; ANALYZE {sc}.audit_events; ANALYZE {sc}.users; ANALYZE {sc}.lookup_directory"))
        .await
        .unwrap();
    let t = tenants[2];
    let cols = "kind, id, parent, owner_id, lookup, expires_at, version, body, sealed, tag";
    let hot = [
        (
            "point get",
            format!(
                "SELECT {cols} FROM {sc}.records WHERE tenant_id = '{t}' AND kind = 'app_secret' AND id = 'web/K7'"
            ),
        ),
        (
            "lookup",
            format!(
                "SELECT {cols} FROM {sc}.records WHERE tenant_id = '{t}' AND kind = 'api_token' AND lookup = '\\x00'"
            ),
        ),
        (
            "list page",
            format!(
                "SELECT {cols} FROM {sc}.records WHERE tenant_id = '{t}' AND kind = 'app_secret' AND id > 'web/K5' ORDER BY id LIMIT 100"
            ),
        ),
        (
            "audit page",
            format!(
                "SELECT seq FROM {sc}.audit_events WHERE tenant_id = '{t}' AND seq > 10 ORDER BY seq LIMIT 100"
            ),
        ),
        (
            "audit head",
            format!(
                "SELECT seq, hash FROM {sc}.audit_events WHERE tenant_id = '{t}' ORDER BY seq DESC LIMIT 1"
            ),
        ),
        (
            "user get",
            format!(
                "SELECT {cols} FROM {sc}.users WHERE tenant_id = '{t}' AND kind = 'user' AND id = 'u-1'"
            ),
        ),
    ];
    for (what, sql) in &hot {
        let p = plan(&mut client, t, sql).await;
        assert!(!p.contains("Seq Scan"), "{what}: a sequential scan\n{p}");
        assert!(
            p.lines()
                .any(|l| l.contains("Index Cond") && l.contains("tenant_id")),
            "{what}: no index condition on tenant_id\n{p}"
        );
    }
    // The directory is keyed by (kind, lookup): one probe, no tenant.
    let p = plan(
        &mut client,
        t,
        &format!("SELECT tenant_id FROM {sc}.lookup_directory WHERE kind = 'api_token' AND lookup = '\\x00'"),
    )
    .await;
    assert!(!p.contains("Seq Scan") && p.contains("Index Cond"), "{p}");
    // find_credential (schema 2) runs its statements inside a function,
    // whose inner plans EXPLAIN does not show; its buffer count does: four
    // index probes (directory, token, owner, tenant) touch a few pages
    // each, where a scan of 6,000 users or 12,000 records would touch
    // hundreds. Called once first, so its plans are cached and the count
    // holds no catalog reads.
    let call = format!(
        "SELECT * FROM {sc}.find_credential('api_token', sha256(('{t}' || 7)::bytea), true, true)"
    );
    let found = client.query(&call, &[]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].get::<_, Option<String>>("owner_row_id").as_deref(),
        Some("bulk-7")
    );
    let lines: Vec<String> = client
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {call}"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let p = lines.join("\n");
    let buffers: u64 = p
        .lines()
        .find_map(|l| l.trim().strip_prefix("Buffers: shared hit="))
        .and_then(|n| n.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no buffer count\n{p}"));
    assert!(buffers < 40, "find_credential touched {buffers} pages\n{p}");
}

/// The throwaway clusters of `scripts/postgres-tls.sh` (TLS port, plain
/// port, directory), or `None`, after saying so, when none was started.
fn tls_clusters() -> Option<(u16, u16, String)> {
    let port = std::env::var("SECRETS_CORE_POSTGRES_TLS_PORT").ok();
    let plain = std::env::var("SECRETS_CORE_POSTGRES_PLAIN_PORT").ok();
    let dir = std::env::var("SECRETS_CORE_POSTGRES_TLS_DIR").ok();
    if let (Some(p), Some(q), Some(d)) = (port, plain, dir) {
        return Some((p.parse().unwrap(), q.parse().unwrap(), d));
    }
    // scripts/test.sh starts them whenever it sets PostgreSQL up.
    let required = std::env::var("SECRETS_CORE_INTEROP").as_deref() == Ok("required")
        && std::env::var("SECRETS_CORE_POSTGRES_URL").is_ok();
    assert!(
        !required,
        "PostgreSQL is configured and required, but the TLS clusters are not: \
         run scripts/test.sh (it starts them with scripts/postgres-tls.sh)"
    );
    eprintln!("skipped: no TLS clusters (scripts/postgres-tls.sh start DIR PORT)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_and_never_falls_back_to_plaintext() {
    let Some((port, plain_port, dir)) = tls_clusters() else {
        return;
    };
    let ca = format!("{dir}/certs/ca.pem");
    let other_ca = format!("{dir}/certs/other-ca.pem");
    let url = |user: &str, host: &str, port: u16, tail: &str| {
        format!("postgres://{user}@{host}:{port}/secrets_core_test?{tail}")
    };
    let schema = scratch::fresh_schema();
    let options = secrets_core::store::PostgresOptions::default().schema(&schema);

    // verify-full (the default mode), the CA from `sslrootcert=`: the owner
    // migrates and the app role opens and writes, both over TLS.
    let verified = format!("sslmode=verify-full&sslrootcert={ca}");
    PostgresStore::migrate(
        &url("secrets_core_owner", "localhost", port, &verified),
        &options,
    )
    .await
    .unwrap();
    let store = PostgresStore::open(
        &url("secrets_core_app", "localhost", port, &verified),
        options.clone(),
    )
    .await
    .unwrap();
    seed(&store, TenantId::generate(), 1, 0x01).await;
    // The CA given in the options instead, and the mode left to its default.
    let pem = std::fs::read(&ca).unwrap();
    let by_option = PostgresStore::open(
        &format!("postgres://secrets_core_app@localhost:{port}/secrets_core_test"),
        options.clone().root_certificates_pem(pem),
    )
    .await
    .unwrap();
    assert!(by_option.directory_tenants(None, 10).await.unwrap().len() == 1);
    // The server agrees: every session of the app role is encrypted.
    let su = raw(&format!(
        "host={dir} port={port} user=postgres dbname=secrets_core_test"
    ))
    .await;
    let row = su
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'secrets_core_app'",
            &[],
        )
        .await
        .unwrap();
    let (sessions, all_ssl): (i64, bool) = (row.get(0), row.get(1));
    assert!(
        sessions >= 1 && all_ssl,
        "{sessions} sessions, all ssl: {all_ssl}"
    );
    drop((store, by_option));

    // Plaintext, asked for, is refused by the server (hostnossl reject).
    let r = PostgresStore::open(
        &url("secrets_core_app", "127.0.0.1", port, "sslmode=disable"),
        options.clone(),
    )
    .await;
    match r {
        Err(Error::Storage { message, .. }) => assert!(message.contains("28000"), "{message}"),
        other => panic!("plaintext was not refused: {other:?}"),
    }
    // Another CA: the certificate does not verify.
    let r = PostgresStore::open(
        &url(
            "secrets_core_app",
            "localhost",
            port,
            &format!("sslrootcert={other_ca}"),
        ),
        options.clone(),
    )
    .await;
    assert!(storage_error_says(&r, "UnknownIssuer"), "{r:?}");
    // The right CA, the wrong name (the certificate names localhost only).
    let r = PostgresStore::open(
        &url(
            "secrets_core_app",
            "127.0.0.1",
            port,
            &format!("sslrootcert={ca}"),
        ),
        options.clone(),
    )
    .await;
    assert!(storage_error_says(&r, "not valid for name"), "{r:?}");
    // A server without TLS: the default mode fails instead of falling back.
    let r = PostgresStore::open(
        &url(
            "postgres",
            "localhost",
            plain_port,
            &format!("sslrootcert={ca}"),
        ),
        options.clone(),
    )
    .await;
    assert!(storage_error_says(&r, "does not support TLS"), "{r:?}");

    su.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

/// Whether `r` is a store error whose message contains `what`.
fn storage_error_says(r: &Result<PostgresStore, Error>, what: &str) -> bool {
    matches!(r, Err(Error::Storage { message, .. }) if message.contains(what))
}

/// The password role of the TLS cluster (`scripts/postgres-tls.sh`): its
/// name and password, or `None`, after saying so, when none was set up.
fn password_role() -> Option<(String, String)> {
    let role = std::env::var("SECRETS_CORE_POSTGRES_TLS_PASSWORD_ROLE").ok();
    let password = std::env::var("SECRETS_CORE_POSTGRES_TLS_PASSWORD").ok();
    if let (Some(r), Some(p)) = (role, password) {
        return Some((r, p));
    }
    assert!(
        std::env::var("SECRETS_CORE_INTEROP").as_deref() != Ok("required"),
        "the TLS clusters run, but without the password role: run scripts/test.sh \
         (scripts/postgres-tls.sh sets it up)"
    );
    eprintln!("skipped: no password role (scripts/postgres-tls.sh start DIR PORT)");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_clearly_without_showing_it() {
    let Some((port, _, dir)) = tls_clusters() else {
        return;
    };
    let Some((role, password)) = password_role() else {
        return;
    };
    let at = |user: &str| {
        format!(
            "postgres://{user}@localhost:{port}/secrets_core_test?sslrootcert={dir}/certs/ca.pem"
        )
    };
    let schema = scratch::fresh_schema();
    let options = secrets_core::store::PostgresOptions::default().schema(&schema);
    PostgresStore::migrate(&at("secrets_core_owner"), &options)
        .await
        .unwrap();

    // A wrong password, and none: refused by the server (28P01) or the
    // driver, saying what failed and never what was given.
    let wrong = format!("wrong{}", TenantId::generate().as_uuid().simple());
    for (user, says) in [
        (format!("{role}:{wrong}"), "28P01"),
        (role.clone(), "password"),
    ] {
        let e = PostgresStore::open(&at(&user), options.clone())
            .await
            .expect_err("opened without the right password");
        let shown = format!("{e} {e:?}");
        assert!(matches!(e, Error::Storage { .. }), "{shown}");
        assert!(e.to_string().contains(says), "{e}");
        assert!(
            !shown.contains(&wrong) && !shown.contains(&password),
            "a password in the error: {shown}"
        );
    }
    // The right one opens and writes; the refused attempts wrote nothing.
    let store = PostgresStore::open(&at(&format!("{role}:{password}")), options.clone())
        .await
        .unwrap();
    assert!(!format!("{store:?}").contains(&password));
    assert!(store.directory_tenants(None, 10).await.unwrap().is_empty());
    seed(&store, TenantId::generate(), 1, 0x05).await;
    assert_eq!(store.directory_tenants(None, 10).await.unwrap().len(), 1);
    drop(store);

    let su = raw(&format!(
        "host={dir} port={port} user=postgres dbname=secrets_core_test"
    ))
    .await;
    su.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_is_served_without_tls() {
    let Some(s) = Scratch::new().await else {
        return;
    };
    // Where the server's socket is, if it is on this machine: the
    // directory `SECRETS_CORE_POSTGRES_SOCKET_DIR` names, or a usual one
    // (`unix_socket_directories` is for superusers only). The store opening
    // on the scratch schema below proves it is the same server.
    let app = raw(&s.app_url).await;
    let row = app
        .query_one(
            "SELECT current_setting('port'), current_user::text, current_database()::text",
            &[],
        )
        .await
        .unwrap();
    let (port, user, db): (String, String, String) = (row.get(0), row.get(1), row.get(2));
    let candidates = std::env::var("SECRETS_CORE_POSTGRES_SOCKET_DIR")
        .map(|d| vec![d])
        .unwrap_or_else(|_| {
            vec![
                "/var/run/postgresql".into(),
                "/run/postgresql".into(),
                "/tmp".into(),
            ]
        });
    let Some(dir) = candidates.into_iter().find(|d| {
        std::path::Path::new(d)
            .join(format!(".s.PGSQL.{port}"))
            .exists()
    }) else {
        eprintln!(
            "skipped: no socket of the server on this machine (set \
             SECRETS_CORE_POSTGRES_SOCKET_DIR)"
        );
        return;
    };
    let encoded = dir.replace('/', "%2F");
    // Each store's sessions named apart from the others'.
    let names: Vec<String> = (0..3)
        .map(|i| format!("sc_socket_{i}_{}", TenantId::generate().as_uuid().simple()))
        .collect();
    let [a, b, c] = [&names[0], &names[1], &names[2]];
    for (i, (name, url)) in [
        // No sslmode (verify-full, the default), no CA: plaintext there.
        (
            a,
            format!("host={dir} port={port} user={user} dbname={db} application_name={a}"),
        ),
        (
            b,
            format!("postgres://{user}@{encoded}:{port}/{db}?application_name={b}"),
        ),
        // Named: the same (TLS does not exist on a socket; libpq ignores it).
        (
            c,
            format!(
                "host={dir} port={port} user={user} dbname={db} application_name={c} \
                 sslmode=verify-full"
            ),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let store = PostgresStore::open(&url, s.options().max_connections(1))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let tenant = TenantId::generate();
        seed(&store, tenant, 1, 0x70 + u8::try_from(i).unwrap()).await;
        assert!(
            store
                .get(tenant, Kind::AppSecret, "web/S0")
                .await
                .unwrap()
                .is_some()
        );
        // The server agrees: the session came over the socket (no client
        // address), unencrypted.
        let row = app
            .query_one(
                "SELECT count(*), coalesce(bool_or(a.client_addr IS NOT NULL), false), \
                 coalesce(bool_or(l.ssl), false) FROM pg_stat_activity a \
                 JOIN pg_stat_ssl l USING (pid) WHERE a.application_name = $1",
                &[name],
            )
            .await
            .unwrap();
        let (sessions, tcp, ssl): (i64, bool, bool) = (row.get(0), row.get(1), row.get(2));
        assert!(
            sessions == 1 && !tcp && !ssl,
            "{url}: {sessions} {tcp} {ssl}"
        );
    }
    // A socket and a TCP host in one list, under verify-full: refused.
    let r = PostgresStore::open(
        &format!("host={dir},localhost port={port} user={user} dbname={db}"),
        s.options(),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(Error::InvalidInput {
                field: "postgres url",
                ..
            })
        ),
        "{r:?}"
    );
}
